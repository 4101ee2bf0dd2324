"""The demo (``python -m proactivebench_ext demo``) end to end, reduced so it cannot rot unnoticed.

One real run (two lmms-eval subprocesses, one episode per task) checks what a user sees: the
report, the summary table with the random model's expectation, the oracle at 100. A failed
lmms-eval run (exit 0, no results file) is simulated with a command that writes nothing.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext import demo


@pytest.fixture(scope="module")
def demo_run(offline_env, tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("demo")
    env = {**offline_env, "PROACTIVEBENCH_DATA_DIR": str(out / "nowhere")}  # the demo must ignore it
    proc = subprocess.run([sys.executable, "-m", "proactivebench_ext", "demo", "--out", str(out), "--limit", "1",
                           "--models", "oracle,random", "--bootstrap", "200"],
                          env=env, cwd=out, capture_output=True, text=True, timeout=300)
    return proc, out


def test_demo_writes_the_report_and_a_summary(demo_run):
    proc, out = demo_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = out / "report" / "report.md"
    assert f"report: {report}" in proc.stdout and report.is_file()
    assert (out / "report" / "report.json").is_file()
    assert (out / "viewer" / "index.html").is_file()
    assert "DATA_DIR ignored" in proc.stdout
    for name in ("oracle", "random"):
        log = out / "runs" / name / "lmms_eval.log"
        assert f"{name}: lmms-eval --model proactive_{name} started; log: {log}" in proc.stdout
        assert f"{name}: done in" in proc.stdout
    rows = {line.split()[0]: line.split() for line in (out / "summary.txt").read_text().splitlines()[2:]
            if line.split() and line.split()[0] in ("oracle", "random")}
    assert rows["oracle"][2] == rows["oracle"][4] == "100.0"  # acc avg, reference acc
    assert 0 <= float(rows["random"][2]) <= 100
    assert "expected (exact)" in proc.stdout and "expected (exact)" in (out / "summary.txt").read_text()


def test_random_expectation_is_exact_for_one_episode():
    expected = demo.random_expectation("reference", limit=1, data_dir=demo.embedded_data_dir())
    assert 0 < expected.acc < 100 and expected.sigma > 0
    assert expected.consistent(expected.acc) and not expected.consistent(expected.acc + 5 * expected.sigma)


def test_a_run_without_results_file_fails_naming_its_log(tmp_path, offline_env):
    stream = io.StringIO()
    command = [sys.executable, "-c", "print('lmms-eval pretends to work')"]  # exit 0, writes nothing
    with pytest.raises(demo.DemoError) as error:
        demo.run_model(demo.MODELS["oracle"], command, tmp_path / "oracle", offline_env, stream=stream)
    log = tmp_path / "oracle" / "lmms_eval.log"
    assert str(log) in str(error.value) and "0 results files" in str(error.value)
    assert "lmms-eval pretends to work" in log.read_text()


def test_the_demo_exits_non_zero_when_lmms_eval_fails(tmp_path, offline_env, monkeypatch, capsys):
    monkeypatch.setattr(demo, "lmms_eval_command", lambda *args, **kwargs: [sys.executable, "-c", "pass"])
    assert demo.main(["--out", str(tmp_path), "--models", "random"]) == 1
    assert f"Read {tmp_path / 'runs' / 'random' / 'lmms_eval.log'}" in capsys.readouterr().err


def test_progress_names_the_task_and_counts_episodes():
    stream = io.StringIO()
    progress = demo.Progress("tiny", stream, every=1000)
    for line in ["\x1b[1mINFO\x1b[0m - Building contexts for proactive_rod on rank 0...",
                 "ProactiveBench episodes (lockstep):   0%|          | 0/56 [00:00<?, ?it/s]",
                 "ProactiveBench episodes (lockstep):  52%|#####     | 29/56 [00:01<00:01, 15it/s]",
                 "ProactiveBench episodes (lockstep): 100%|##########| 56/56 [00:02<00:00, 15it/s]",
                 "Postprocessed 4 docs for proactive_rod/none with 4 worker(s) in 0.00s"]:
        progress.feed(line)
    shown = stream.getvalue()
    assert "building requests: proactive_rod" in shown and "episodes 56/56 of 1 tasks" in shown
    assert "29/56" not in shown  # throttled when not a terminal
    assert "scored proactive_rod (1/1 tasks)" in shown


def test_unknown_model_names_the_choices(capsys):
    with pytest.raises(SystemExit):
        demo.main(["--models", "oracle,gpt"])
    assert "unknown model gpt; choose from oracle,random,tiny" in capsys.readouterr().err
