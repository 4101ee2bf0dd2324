"""Issue 13 end to end: every hostile input of the issue, through real ``python -m lmms_eval`` runs.

One damaged data set holds them all (tests/unit/test_faults.py: ``damaged_set``), so two runs
cover them: ROD and CIT damaged beside a healthy QD (and the open-ended ROD task), then an empty
VSOD file beside QD. Each damaged task is scored on its healthy episodes, with ``errors`` equal to
its bad rows and images; the healthy task is scored in full; the log names file, row and reason.
A third run plays an empty and an inverted COCO crop box through a tiny LLaVA (issue 21, item 6).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lmms_runs import Run, read_run
from tests.unit.test_faults import damaged_set


def lmms_eval(tasks: str, data: Path, env: dict[str, str], out: Path, model: str = "proactive_oracle") -> tuple[int, str]:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", model, "--tasks", tasks, "--log_samples",
                           "--output_path", str(out)], env={**env, "PROACTIVEBENCH_DATA_DIR": str(data)}, cwd=out,
                          capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    return damaged_set(tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def damaged_run(damaged, offline_env, tmp_path_factory) -> Run:
    data, _, _ = damaged
    out = tmp_path_factory.mktemp("damaged_run")
    status, log = lmms_eval("proactive_rod,proactive_cit,proactive_qd,proactivebench_oeg_rod", data, offline_env, out,
                            model="proactive_oracle_open")
    return read_run(out, status, log)


def records(run: Run, task: str) -> dict[int, dict]:
    return {sample["doc_id"]: (sample, json.loads(sample["filtered_resps"][0] if isinstance(sample["filtered_resps"], list)
                                                  else sample["filtered_resps"])) for sample in run.samples[task]}


def test_damaged_tasks_are_scored_on_their_healthy_episodes(damaged, damaged_run):
    data, rod, cit = damaged
    for task, broken in (("proactive_rod", rod), ("proactive_cit", cit)):
        samples = records(damaged_run, task)
        assert len(samples) == 16
        assert damaged_run.metric(task, "errors") == len(broken)
        played = [sample for sample, _ in samples.values() if sample["errors"] == 0.0]
        assert len(played) == 16 - len(broken) and all("acc" in sample for sample in played)
        assert damaged_run.metric(task, "acc") == 100.0  # the oracle solves every healthy episode
        for sample, record in samples.values():
            if sample["errors"] == 1.0:
                assert "acc" not in sample and "psr" not in sample and record["fault"]["reason"]
                row = record["fault"]["row"] or f"{record['fault']['file']}:{record['fault']['line']}"
                assert int(row.rsplit(":", 1)[1]) in broken
    healthy = records(damaged_run, "proactive_qd")
    assert len(healthy) == 16 and damaged_run.metric("proactive_qd", "errors") == 0.0
    assert damaged_run.metric("proactive_qd", "acc") == 100.0


def test_an_image_that_fails_mid_episode_keeps_the_turns_played_before(damaged, damaged_run):
    _, rod, _ = damaged
    line = next(line for line, name in rod.items() if name == "turn-2 image truncated")
    (record,) = [record for _, record in records(damaged_run, "proactive_rod").values()
                 if ((record["fault"] or {}).get("row") or "").endswith(f":{line}")]
    assert record["num_turns"] == 1 and "truncated" in record["fault"]["reason"].lower()


def test_the_log_names_file_row_and_reason_once_per_errored_episode(damaged, damaged_run):
    data, rod, cit = damaged
    warnings = [line for line in damaged_run.log.splitlines() if "episode errored on a data fault" in line]
    assert len([w for w in warnings if "proactive_rod:" in w]) == len(rod)
    assert len([w for w in warnings if "proactive_cit:" in w]) == len(cit)
    for line, name in rod.items():
        if name in ("missing field", "num_images 0"):
            assert any(f"Realistic-Occlusion-Dataset_preprocessed.jsonl:{line} " in w for w in warnings), name
    assert any("30000x30000" in w or "over the pixel cap" in w for w in warnings)
    summary = [line for line in damaged_run.log.splitlines() if line.startswith("WARNING ProactiveBench")]
    assert any(f"proactive_rod: {len(rod)} episode(s) errored" in line for line in summary)


def test_the_open_ended_task_counts_the_same_faults(damaged, damaged_run):
    _, rod, _ = damaged
    samples = damaged_run.samples["proactivebench_oeg_rod"]  # single turn: the response is the model's answer
    assert damaged_run.metric("proactivebench_oeg_rod", "errors") == len(rod) - 1  # the turn-2 image is never shown
    errored = [sample for sample in samples if sample["errors"] == 1.0]
    assert all(sample["oeg_judge"]["status"] == "errored" and sample["oeg_judge"]["fault"]["reason"] for sample in errored)


def test_a_task_with_nothing_playable_fails_alone(damaged, offline_env, tmp_path):
    data, _, _ = damaged
    (data / "OcclusionDataSet-MM20_preprocessed.jsonl").write_text("")
    status, log = lmms_eval("proactive_vsod,proactive_qd", data, offline_env, tmp_path)
    assert status == 1, log[-3000:]
    run = read_run(tmp_path, 0, log)  # results are written all the same
    assert run.metric("proactive_qd", "acc") == 100.0 and len(run.samples["proactive_qd"]) == 16
    assert run.metric("proactive_vsod", "errors") == 1.0 and "acc,none" not in run.results["results"]["proactive_vsod"]
    final = [line for line in log.splitlines() if line.startswith("ERROR ProactiveBench")]
    assert len(final) == 1 and "proactive_vsod: nothing playable" in final[0]
    assert "OcclusionDataSet-MM20_preprocessed.jsonl" in final[0] and "fix: " in final[0]


def test_crop_boxes_that_cannot_be_cut_error_their_episodes_with_a_tiny_llava(offline_env, tmp_path):
    """Issue 21, item 6: an empty and an inverted COCO crop box, through lmms-eval's ``llava_hf``
    backend: each is one errored data episode (never a crash, never a silent exit 0); the other
    COCO episode and the other task are scored."""
    from proactivebench_ext.data.layout import jsonl_path
    from proactivebench_ext.data.synth import generate

    from ..tiny_models import build_tiny_llava

    data = tmp_path / "data"
    generate(data, per_scenario=3, seed=1, scenarios=["COCO", "QD"])
    path = jsonl_path("COCO", data)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    # The crop's "width" is its right edge (as the reference reads it): the first test rows get a box
    # that holds no pixel (the model's image processor would divide by zero) and an inverted one.
    assert rows[0]["horizontal_step"] == 0  # so its box starts at "left"
    rows[0]["crop"]["width"] = rows[0]["crop"]["left"]
    rows[1]["crop"]["width"] = 0
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    model = build_tiny_llava(tmp_path / "llava", letters_only=4, init_range=0.5, seed=1)
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", "llava_hf", "--model_args",
                           f"pretrained={model},device_map=cpu,device=cpu", "--batch_size", "1",
                           "--tasks", "proactive_coco,proactive_qd", "--log_samples", "--output_path", str(out)],
                          env={**offline_env, "PROACTIVEBENCH_DATA_DIR": str(data)}, cwd=out,
                          capture_output=True, text=True, timeout=900)
    run = read_run(out, proc.returncode, proc.stdout + proc.stderr)  # exit 0: data faults are warnings
    coco = records(run, "proactive_coco")
    assert len(coco) == 3 and run.metric("proactive_coco", "errors") == 2.0
    errored = {doc_id: record for doc_id, (sample, record) in coco.items() if sample["errors"] == 1.0}
    assert sorted(errored) == [0, 1]
    for doc_id, record in errored.items():
        assert record["errored"] and record["fault"]["kind"] == "data" and record["fault"]["line"] == doc_id + 1
        assert "crop" in json.dumps(record["fault"]) and record["sample_id"] == str(rows[doc_id]["id"])
    assert all("acc" in sample for doc_id, (sample, _) in coco.items() if doc_id not in errored)
    assert len(run.samples["proactive_qd"]) == 3 and run.metric("proactive_qd", "errors") == 0.0
    assert "acc,none" in run.results["results"]["proactive_qd"]
