"""check-data: passes on generated sets, and names file, line/sample and fix for each bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext.data.layout import embedded_data_dir


@pytest.fixture
def data(tmp_path) -> Path:
    """A private copy of the embedded set to break."""
    return Path(shutil.copytree(embedded_data_dir(), tmp_path / "data"))









def test_module_command_line(data):
    result = subprocess.run([sys.executable, "-m", "proactivebench_ext", "check-data", str(data), "--scenarios", "ROD"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ROD" in result.stdout


def test_a_lone_surrogate_in_the_data_is_refused_by_check_data_and_errors_one_episode_of_the_run(
        data, offline_env, tmp_path):
    """Issue 21, item 3: a prompt and an image_template carrying a ``\\ud800`` JSON escape."""
    import json

    from proactivebench_ext.data.jsonio import loads_strict
    from proactivebench_ext.data.layout import jsonl_path, load_test_set

    from ..lmms_runs import read_run

    path = jsonl_path("QD", data)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    test_ids = [entry["id"] for entry in load_test_set("QD", data)]
    lines = [next(number for number, row in enumerate(rows, 1) if row["id"] == test_ids[k]) for k in (1, 2)]
    rows[lines[0] - 1]["prompt"] += "\ud800"
    rows[lines[1] - 1]["image_template"] += "\udc80"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")  # written as \ud800 escapes
    check = subprocess.run([sys.executable, "-m", "proactivebench_ext", "check-data", str(data), "--scenarios", "QD"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 1 and "Traceback" not in check.stdout + check.stderr
    for line, field in zip(lines, ("prompt", "image_template")):
        assert any(f"{path}:{line} (sample {rows[line - 1]['id']}): field '{field}': holds a lone surrogate" in text
                   for text in check.stdout.splitlines()), check.stdout

    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", "proactive_oracle", "--tasks",
                           "proactive_qd,proactive_rod", "--log_samples", "--output_path", str(out)],
                          env={**offline_env, "PROACTIVEBENCH_DATA_DIR": str(data)}, cwd=out, capture_output=True,
                          text=True, timeout=900)
    run = read_run(out, proc.returncode, proc.stdout + proc.stderr)
    assert run.metric("proactive_qd", "errors") == 2.0 and run.metric("proactive_qd", "acc") == 100.0
    assert run.metric("proactive_rod", "errors") == 0.0 and run.metric("proactive_rod", "acc") == 100.0
    errored = [json.loads(s["filtered_resps"]) for s in run.samples["proactive_qd"] if s["errors"] == 1.0]
    assert sorted(record["fault"]["field"] for record in errored) == ["image_template", "prompt"]
    for file in out.rglob("*.json*"):  # every file the run wrote is strict, valid UTF-8 JSON
        for text in file.read_bytes().decode("utf-8").splitlines() if file.suffix == ".jsonl" else [file.read_text()]:
            loads_strict(text)
