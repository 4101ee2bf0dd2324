"""The report's Table 3 layout (report/grpo.py) on hand-written lmms-eval results files.

Runs are GRPO runs only when labelled: by the ``proactivebench_grpo.json`` rl-train leaves next to a
checkpoint, or by ``--grpo-run``. Paper rows are compared with paper_results.json read here with
plain json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, task_name
from proactivebench_ext.report import cli
from proactivebench_ext.report.grpo import METADATA_FILE, config_label, parse_label
from proactivebench_ext.report.read import ReportError

PAPER = json.loads((Path(cli.__file__).parents[1] / "resources" / "paper_results.json").read_text("utf-8"))
QWEN = "Qwen/Qwen2.5-VL-3B-Instruct"


def write_run(folder: Path, model_id: str, scores: dict[str, tuple[float, float]], *, reference: dict[str, float] | None = None,
              date: str = "20260101_000000") -> None:
    """An lmms-eval results file: main tasks with (acc, psr), reference tasks with acc."""
    results = {task_name("main", s): {"acc,none": acc, "psr,none": psr} for s, (acc, psr) in scores.items()}
    results.update({task_name("reference", s): {"acc,none": acc} for s, acc in (reference or {}).items()})
    data = {"results": results, "config": {"model": "llava_hf", "model_args": f"pretrained={model_id}"},
            "n-samples": {task: {"effective": 10} for task in results}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{date}_results.json").write_text(json.dumps(data), "utf-8")


def scores(offset: float) -> dict[str, tuple[float, float]]:
    return {s: (10.0 * i + offset, 0.5 + i / 10) for i, s in enumerate(SCENARIO_ACRONYMS)}


def checkpoint(folder: Path, base: str, rp: float) -> Path:
    folder.mkdir(parents=True)
    (folder / METADATA_FILE).write_text(json.dumps({"format": "proactivebench_grpo/1", "base_model": base,
                                                    "proactive_reward": rp}), "utf-8")
    return folder


def test_labelled_checkpoints_form_table_3(tmp_path):
    base = str(tmp_path / "base_model")
    rp05, rp1 = checkpoint(tmp_path / "ckpt_05", base, 0.5), checkpoint(tmp_path / "ckpt_1", base, 1)
    write_run(tmp_path / "runs" / "base", base, scores(0), reference={s: 90.0 for s in SCENARIO_ACRONYMS})
    write_run(tmp_path / "runs" / "rp1", str(rp1), scores(2))
    write_run(tmp_path / "runs" / "rp05", str(rp05), scores(1))
    write_run(tmp_path / "runs" / "other", "some/other-model", scores(5))  # not labelled: not in Table 3
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no-plots"]) == 0
    table = json.loads((tmp_path / "report" / "report.json").read_text("utf-8"))["grpo"]
    (group,) = table["groups"]
    assert [r["config"] for r in group["rows"]] == ["original", "r_p=0.5", "r_p=1.0", "reference"]
    assert [r["model_id"] for r in group["rows"]] == [base, str(rp05), str(rp1), base]
    assert table["in_domain"] == ["QD", "COCO"] and table["out_of_domain"] == ["ROD", "VSOD", "MVP-N", "IN-C", "CIT"]
    original, first, second, reference = group["rows"]
    for row, offset in ((original, 0), (first, 1), (second, 2)):
        for i, s in enumerate(SCENARIO_ACRONYMS):
            assert row["ours"][s] == {"acc": 10.0 * i + offset, "psr": 0.5 + i / 10, "n": 10}
        assert row["ours"]["avg"]["acc"] == pytest.approx(30.0 + offset)
    assert reference["ours"]["QD"] == {"acc": 90.0, "n": 10} and group["paper_name"] is None
    markdown = (tmp_path / "report" / "report.md").read_text("utf-8")
    section = markdown.split("## GRPO post-training (Table 3)", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | config | QD (in) | COCO (in) | ROD (out) | VSOD (out) | MVP-N (out) | IN-C (out) | CIT (out) | avg |"
    assert rows[2].startswith(f"| **base_model** (base `{base}`) | original | 40.0 / 0.90 | 60.0 / 1.10 | 0.0 / 0.50 |")
    assert rows[3].startswith(f"|  | r_p=0.5 (`{rp05}`) | 41.0 / 0.90 |")
    assert rows[5] == "|  | reference | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 | 90.0 |"
    assert "No paper row for base_model" in section and "some/other-model" not in section


def test_paper_rows_follow_ours_for_a_paper_model(tmp_path):
    write_run(tmp_path / "runs" / "base", QWEN, scores(0))
    write_run(tmp_path / "runs" / "trained", "/ckpt/qwen3b-rp075", scores(3))
    out = tmp_path / "report"
    assert cli.main([str(tmp_path / "runs"), "--out", str(out), "--no-plots",
                     "--grpo-run", f"/ckpt/qwen3b-rp075={QWEN}@0.75"]) == 0
    (group,) = json.loads((out / "report.json").read_text("utf-8"))["grpo"]["groups"]
    assert group["paper_name"] == "Qwen2.5-VL-3B"
    published = {(r["model"], r["config"]): r for r in PAPER["tables"]["grpo"]["rows"]}
    for row in group["rows"]:
        paper = published[("Qwen2.5-VL-3B", row["config"])]
        assert row["paper"] == {c: paper[c] for c in ("QD", "COCO", "ROD", "VSOD", "MVP-N", "IN-C", "CIT", "avg")}
    assert group["rows"][0]["paper"]["avg"] == {"acc": 11.0, "psr": 0.4}
    assert group["rows"][1]["paper"]["avg"] == {"acc": 38.6, "psr": 1.2}
    section = (out / "report.md").read_text("utf-8").split("## GRPO post-training", 1)[1]
    assert "|  | paper r_p=0.75 (Qwen2.5-VL-3B) | 46.2 / 2.00 | 49.4 / 0.80 | 13.6 / 0.20 |" in section
    assert "|  | reference | – | – |" in section  # the base model's reference run is not among the inputs
    assert "|  | paper reference (Qwen2.5-VL-3B) |" in section


def test_no_table_3_without_labelled_runs(tmp_path):
    write_run(tmp_path / "runs" / "base", QWEN, scores(0))
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no-plots"]) == 0
    assert "grpo" not in json.loads((tmp_path / "report" / "report.json").read_text("utf-8"))
    assert "GRPO" not in (tmp_path / "report" / "report.md").read_text("utf-8")


def test_labels():
    assert [config_label(v) for v in (0.5, 0.75, 1, 1.0)] == ["r_p=0.5", "r_p=0.75", "r_p=1.0", "r_p=1.0"]
    model, label = parse_label("/ckpt/a=b=c@x=Qwen/Qwen2.5-VL-3B-Instruct@1")
    assert model == "/ckpt/a" and label.base_model == "b=c@x=Qwen/Qwen2.5-VL-3B-Instruct" and label.config == "r_p=1.0"
    for bad in ("/ckpt", "/ckpt=base", "/ckpt=base@high", "=base@0.5"):
        with pytest.raises(ReportError, match="MODEL_ID=BASE_MODEL@R_P"):
            parse_label(bad)


def test_unreadable_label_names_the_file(tmp_path):
    broken = tmp_path / "ckpt"
    broken.mkdir()
    (broken / METADATA_FILE).write_text("{}", "utf-8")
    write_run(tmp_path / "runs" / "x", str(broken), scores(0))
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no-plots"]) == 2


def fake_checkpoint(folder: Path, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llava"}', "utf-8")
    (folder / "model.safetensors").write_bytes(weights)
    return folder


def test_a_copied_checkpoint_and_a_copied_base_are_linked_without_grpo_run(tmp_path, monkeypatch):
    """The trained checkpoint is evaluated from a copy, recorded relative to where lmms-eval ran; the
    base model from a copy of its folder. The labels and the base fingerprint link them, no --grpo-run."""
    import shutil

    from proactivebench_ext.report.grpo import checkpoint_fingerprint

    base = fake_checkpoint(tmp_path / "train" / "base", b"base weights" * 100)
    trained = checkpoint(tmp_path / "train" / "run" / "merged", str(base), 0.75)
    label = json.loads((trained / METADATA_FILE).read_text("utf-8"))
    (trained / METADATA_FILE).write_text(json.dumps({**label, "base_fingerprint": checkpoint_fingerprint(base)}), "utf-8")
    evaluation = tmp_path / "elsewhere"
    shutil.copytree(trained, evaluation / "copied")
    shutil.copytree(base, evaluation / "base_copy")
    shutil.rmtree(tmp_path / "train")  # neither original folder exists any more
    fake_checkpoint(evaluation / "other", b"other weights" * 100)
    write_run(evaluation / "runs" / "trained" / "copied", "copied", scores(2))  # lmms-eval names its folder after it
    write_run(evaluation / "runs" / "other", str(evaluation / "other"), scores(5))
    write_run(evaluation / "runs" / "base", str(evaluation / "base_copy"), scores(0),
              reference={s: 90.0 for s in SCENARIO_ACRONYMS})
    monkeypatch.chdir(tmp_path)  # the report runs elsewhere: "copied" is found beside the results files
    assert cli.main([str(evaluation / "runs"), "--out", str(tmp_path / "report"), "--no-plots"]) == 0
    (group,) = json.loads((tmp_path / "report" / "report.json").read_text("utf-8"))["grpo"]["groups"]
    assert group["base_model"] == str(base)
    assert [(r["config"], r["model_id"]) for r in group["rows"]] == [
        ("original", str(evaluation / "base_copy")), ("r_p=0.75", "copied"), ("reference", str(evaluation / "base_copy"))]
    assert group["rows"][1]["ours"]["QD"]["acc"] == scores(2)["QD"][0]
    assert group["rows"][2]["ours"]["QD"] == {"acc": 90.0, "n": 10}


def test_a_base_model_with_other_weights_is_not_the_original(tmp_path):
    from proactivebench_ext.report.grpo import checkpoint_fingerprint

    base = fake_checkpoint(tmp_path / "base", b"base weights" * 100)
    impostor = fake_checkpoint(tmp_path / "impostor", b"other weights" * 100)
    assert checkpoint_fingerprint(base) != checkpoint_fingerprint(impostor)
    assert checkpoint_fingerprint(tmp_path / "nowhere") is None
    trained = checkpoint(tmp_path / "trained", "/gone/base", 0.5)
    label = json.loads((trained / METADATA_FILE).read_text("utf-8"))
    (trained / METADATA_FILE).write_text(json.dumps({**label, "base_fingerprint": checkpoint_fingerprint(base)}), "utf-8")
    write_run(tmp_path / "runs" / "trained", str(trained), scores(1))
    write_run(tmp_path / "runs" / "impostor", str(impostor), scores(0))
    assert cli.main([str(tmp_path / "runs"), "--out", str(tmp_path / "report"), "--no-plots"]) == 0
    (group,) = json.loads((tmp_path / "report" / "report.json").read_text("utf-8"))["grpo"]["groups"]
    assert [r["model_id"] for r in group["rows"]] == [None, str(trained), None]
