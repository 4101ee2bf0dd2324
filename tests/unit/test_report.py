"""The results report on real lmms-eval output: oracle, random and a tiny real model, run once per session.

Numbers in report.md / report.json are checked against lmms-eval's own results files and the
paper's rows against the shipped paper_results.json (read here with plain json, not through the
code under test).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from proactivebench_ext.core import naming
from proactivebench_ext.report import aggregate, cli, read, render
from proactivebench_ext.report.paper import PAPER_MODEL_IDS, SCENARIOS, paper_name, paper_table

PAPER_JSON = Path(read.__file__).parents[1] / "resources" / "paper_results.json"
SLUG = {s: s.lower().replace("-", "") for s in SCENARIOS}












def md_block(md: str, section: str, model: str) -> dict[str, list[str]]:
    """The sub-rows of one model in one table of report.md: row label -> cells."""
    lines = md.split(f"## {section}", 1)[1].split("\n## ", 1)[0].splitlines()
    rows: dict[str, list[str]] = {}
    inside = False
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| **"):
            inside = cells[0].startswith(f"**{model}**")
        elif not line.startswith("|  |"):
            inside = False
        if inside:
            rows[cells[1]] = cells[2:]
    assert rows, f"no rows for {model} in section {section}"
    return rows




# -- numbers equal lmms-eval's own --------------------------------------------------------------

@pytest.mark.parametrize("key", ["mcqa", "reference", "mcqa_hint", "oeg", "oeg_multiturn"])
def test_shipped_paper_tables_are_read_verbatim(key):
    raw = json.loads(PAPER_JSON.read_text())["tables"][key]
    table = paper_table(key)
    assert table.label == raw["paper_table"]
    assert len(table.rows) == len(raw["rows"])
    for row in raw["rows"]:
        for column in (*SCENARIOS, "avg"):
            for metric, value in row[column].items():
                assert table.cell(row["model"], column, metric) == value


def test_paper_means_are_the_papers_headline_averages():
    assert round(aggregate.paper_mean(paper_table("mcqa"), "avg", "acc"), 1) == 17.5
    assert round(aggregate.paper_mean(paper_table("reference"), "avg", "acc"), 1) == 79.8
    assert round(aggregate.paper_mean(paper_table("mcqa_hint"), "avg", "acc"), 1) == 25.8


@pytest.mark.parametrize("model_id, expected", [
    ("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2.5-VL-7B"),
    ("qwen/qwen2.5-vl-72b-instruct", "Qwen2.5-VL-72B"),
    ("/checkpoints/Qwen2.5-VL-3B-Instruct/", "Qwen2.5-VL-3B"),
    ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "LLaVA-OV-0.5B"),
    ("lmms-lab/llava-onevision-qwen2-7b-ov", "LLaVA-OV-7B"),
    ("llava-hf/llava-1.5-7b-hf", "LLaVA-1.5-7B"),
    ("OpenGVLab/InternVL3-8B", "InternVL3-8B"),
    ("gpt-4.1-2025-04-14", "GPT-4.1"),
    ("InternVL3-2B", "InternVL3-2B"),
    ("proactive_oracle", None),
    ("Qwen/Qwen2-VL-7B-Instruct", None),
])
def test_model_ids_map_to_paper_rows(model_id, expected):
    assert paper_name(model_id) == expected


def test_mapping_covers_exactly_the_papers_22_models():
    assert tuple(PAPER_MODEL_IDS) == tuple(paper_table("mcqa").rows)
    assert len(PAPER_MODEL_IDS) == 22


def test_bootstrap_width_matches_the_binomial_for_rod_sized_cells():
    values = [100.0] * 44 + [0.0] * 44  # ROD has 88 episodes
    low, high = aggregate.bootstrap_interval([values], iterations=4000, seed=0, key="rod")
    half = 1.96 * math.sqrt(0.25 / 88) * 100  # ≈ 10.4 points
    assert low == pytest.approx(50 - half, abs=1.5) and high == pytest.approx(50 + half, abs=1.5)
    assert aggregate.bootstrap_interval([values], iterations=4000, seed=0, key="rod") == (low, high)
    vsod = aggregate.bootstrap_interval([[100.0] * 21 + [0.0] * 21], iterations=4000, seed=0, key="vsod")
    assert vsod[1] - vsod[0] > high - low  # 42 episodes: wider still
    seven = aggregate.bootstrap_interval([values] * 7, iterations=4000, seed=0, key="avg")
    assert seven[1] - seven[0] < (high - low) / 2  # the average pools seven independent scenarios
    assert aggregate.bootstrap_interval([[]], iterations=10, seed=0, key="x") is None


def test_sample_scale_detects_percent_and_fraction():
    assert aggregate.sample_scale(50.0, [100.0, 0.0]) == 1.0
    assert aggregate.sample_scale(50.0, [1.0, 0.0]) == 100.0
    assert aggregate.sample_scale(40.0, [1.0, 0.0]) is None


@pytest.mark.parametrize("task, expected", [
    ("proactive_rod", ("main", "ROD")),
    ("proactive_mvpn", ("main", "MVP-N")),
    ("proactivebench_reference_inc", ("reference", "IN-C")),
    ("proactivebench_oeg_hint_coco", ("oeg_hint", "COCO")),
    ("proactivebench_oeg_multiturn_qd", ("oeg_multiturn", "QD")),
    ("proactivebench_icl_cot_cit", ("icl_cot", "CIT")),
    ("proactivebench", None),
    ("proactivebench_hint", None),
    ("mmmu_val", None),
])
def test_task_names(task, expected):
    assert naming.parse_task_name(task) == expected


def test_oeg_table_shows_ps_cc_agg_unjudged_and_the_papers_cc_ps(tmp_path):
    results = tmp_path / "20260101_000000_results.json"
    entries = {f"proactivebench_oeg_{SLUG[s]}": {"proactive_suggestion,none": 10.0, "category_prediction,none": 2.0,
                                                 "aggregate,none": 12.0, "unjudged,none": 1.0} for s in SCENARIOS}
    results.write_text(json.dumps({"results": entries, "config": {"model": "qwen2_5_vl",
                                                                  "model_args": "pretrained=Qwen/Qwen2.5-VL-3B-Instruct"}}))
    report = aggregate.build_report([read.read_run(results)], iterations=10)
    table = render.table_json(report, report.spec("oeg"))
    row = table["rows"][0]
    assert table["paper_table"] == "Table 2" and row["paper_name"] == "Qwen2.5-VL-3B"
    assert row["ours"]["ROD"]["unjudged"] == 1 and row["ours"]["avg"]["unjudged"] == 7
    paper = {r["model"]: r for r in json.loads(PAPER_JSON.read_text())["tables"]["oeg"]["rows"]}["Qwen2.5-VL-3B"]
    assert row["paper"]["VSOD"] == {"proactive_suggestion": paper["VSOD"]["ps"], "category_prediction": paper["VSOD"]["cc"]}
    md = render.report_markdown(report)
    block = md_block(md, "Open-ended generation, single turn (Table 2)", "Qwen2.5-VL-3B")
    assert block["ps / cc / agg"][0] == "10.0 / 2.0 / 12.0"
    assert block["n episodes"][0] == "–, 1 unjudged"


def test_errors_name_the_file_and_the_fix(tmp_path, capsys):
    assert cli.main([str(tmp_path / "missing")]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main([str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "empty") in err and "--output_path" in err
    broken = tmp_path / "broken" / "20260101_000000_results.json"
    broken.parent.mkdir()
    broken.write_text('{"results": {')
    assert cli.main([str(broken.parent), "--out", str(tmp_path / "o")]) == 2
    assert str(broken) in capsys.readouterr().err
    other = tmp_path / "other" / "20260101_000000_results.json"
    other.parent.mkdir()
    other.write_text(json.dumps({"results": {"mme": {"acc,none": 1.0}}, "config": {"model": "x"}}))
    assert cli.main([str(other.parent), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no ProactiveBench task" in err and "mme" in err
    assert not (tmp_path / "o" / "report.md").exists()


def test_two_runs_mixed_in_one_samples_file_are_refused(tmp_path, capsys):
    """Two runs started in the same second with one --output_path share the date prefix; lmms-eval
    appends both runs' samples to one file. The report refuses it, naming both files."""
    folder = tmp_path / "out" / "proactive_random"
    folder.mkdir(parents=True)
    results = folder / "20260101_000000_results.json"
    results.write_text(json.dumps({"results": {"proactive_rod": {"acc,none": 50.0, "psr,none": 1.0}},
                                   "n-samples": {"proactive_rod": {"original": 3, "effective": 3}},
                                   "config": {"model": "proactive_random"}}))
    samples = folder / "20260101_000000_samples_proactive_rod.jsonl"
    run = [{"doc_id": doc_id, "acc": 50.0, "psr": 1.0} for doc_id in range(3)]
    samples.write_text("".join(json.dumps(record) + "\n" for record in run + run))
    assert cli.main([str(tmp_path / "out"), "--out", str(tmp_path / "report"), "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert f"{samples}: doc_id 0 is on lines 1 and 4" in err
    assert "same second with one --output_path" in err and str(results) in err
    assert not (tmp_path / "report" / "report.md").exists()
    with pytest.raises(read.ReportError, match="doc_id 0 is on lines 1 and 4"):
        list(read.iter_samples(samples))  # the episode viewer reads through it too
    samples.write_text("".join(json.dumps(record) + "\n" for record in run))
    assert cli.main([str(tmp_path / "out"), "--out", str(tmp_path / "report"), "--no-plots"]) == 0


def test_logs_written_before_the_layout_change_still_render(tmp_path):
    """lmms-eval output of version 0.1 (flat package, specs naming their variant) reads as today's."""
    old = Path(__file__).parents[1] / "data" / "logs_v0.1"
    report = cli.write_report([old], tmp_path, iterations=50, plots=False)
    results = json.loads(next(old.glob("*_results.json")).read_text("utf-8"))["results"]
    assert sorted(report.variants) == ["hint", "main", "reference"]
    [run] = report.runs
    key = f"{run.backend}:{run.model_id}"
    for task, variant, scenario in (("proactive_rod", "main", "ROD"), ("proactive_coco", "main", "COCO"),
                                    ("proactivebench_reference_rod", "reference", "ROD"),
                                    ("proactivebench_hint_qd", "hint", "QD")):
        cell = report.cell(key, variant, scenario)
        assert cell.metrics["acc"] == results[task]["acc,none"] and cell.n == 4


def test_data_errors_are_counts_beside_n_never_a_score(tmp_path):
    """The hooks' summed ``errors`` metric (unplayable data) is shown as a count, not as a table column."""
    old = Path(__file__).parents[1] / "data" / "logs_v0.1"
    run_dir = tmp_path / "run"
    shutil.copytree(old, run_dir)
    results_file = next(run_dir.glob("*_results.json"))
    results = json.loads(results_file.read_text("utf-8"))
    results["results"]["proactive_rod"]["errors,none"] = 2.0
    results_file.write_text(json.dumps(results), "utf-8")
    report = cli.write_report([run_dir], tmp_path / "out", iterations=20, plots=False)
    [run] = report.runs
    cell = report.cell(f"{run.backend}:{run.model_id}", "main", "ROD")
    assert cell.data_errors == 2 and "errors" not in cell.metrics
    assert "2 data err" in (tmp_path / "out" / "report.md").read_text("utf-8")


# -- provenance in the report: synthetic rows, partial averages, mixed data (pure) ------------------------
def _run(path: Path, model: str, tasks: dict[str, dict], provenance: dict[str, dict] | None = None,
         date: str = "20260101_000000") -> read.Run:
    results = path / f"{date}_results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    block = {"format": "proactivebench_provenance/1", "tasks": provenance or {}, "groups": {},
             "settings": {"paper_parity": False, "differences": ["dtype unknown (a scripted or API model)"]}}
    results.write_text(json.dumps({"results": tasks, "config": {"model": model}, "proactivebench": block,
                                   "n-samples": {t: {"original": 4, "effective": 4} for t in tasks}}))
    return read.read_run(results)


def _recorded(kind: str, fingerprint: str, subset: bool = False) -> dict:
    return {"source": {"kind": kind, "folder": "/data"}, "synthetic": kind in ("synthetic", "embedded-synthetic"),
            "fingerprint": {"id": fingerprint}, "episodes": {"subset": subset}}


MAIN = {f"proactive_{SLUG[s]}": {"acc,none": 10.0 * (i + 1), "psr,none": 1.0} for i, s in enumerate(SCENARIOS)}


def test_synthetic_rows_show_no_paper_row_and_say_so(tmp_path):
    run = _run(tmp_path / "a", "proactive_oracle", MAIN, {t: _recorded("embedded-synthetic", "f1") for t in MAIN})
    report = aggregate.build_report([run], iterations=10, paper_names={"proactive_oracle": "Qwen2.5-VL-7B"})
    [model] = report.models
    assert model.synthetic and model.paper_name is None and report.synthetic
    md = render.report_markdown(report)
    block = md_block(md, "ProactiveBench, multi-turn MCQA (Table 1)", "Qwen2.5-VL-7B")
    assert "paper (Table 1)" not in block and "Δ vs paper" not in block
    assert "synthetic — not comparable to the paper" in md and "mean of 21 models" not in md
    row = render.table_json(report, report.spec("main"))["rows"][0]
    assert row["synthetic"] and "paper" not in row and "diff_vs_paper" not in row
    assert row["ours"]["ROD"]["synthetic"] and row["ours"]["ROD"]["fingerprint"] == "f1"
    assert "synthetic" in render.main_table(report) and "embedded-synthetic" in md


def test_real_and_synthetic_runs_of_one_model_are_two_rows(tmp_path):
    real = _run(tmp_path / "a", "proactive_oracle", MAIN, {t: _recorded("folder", "f1") for t in MAIN})
    synthetic = _run(tmp_path / "b", "proactive_oracle", MAIN, {t: _recorded("synthetic", "f2") for t in MAIN},
                     date="20260102_000000")
    report = aggregate.build_report([real, synthetic], iterations=10)
    labels = sorted(m.display for m in report.models)
    assert labels == ["proactive_oracle", "proactive_oracle [synthetic]"]
    assert not any("superseded" in note for note in report.notes)  # different data: never one row


def test_different_data_for_one_task_gets_a_footnote_with_both_fingerprints(tmp_path):
    first = _run(tmp_path / "a", "proactive_random", MAIN, {t: _recorded("folder", "aaaa") for t in MAIN})
    second = _run(tmp_path / "b", "proactive_oracle", {"proactive_rod": MAIN["proactive_rod"]},
                  {"proactive_rod": _recorded("folder", "bbbb", subset=True)})
    report = aggregate.build_report([first, second], iterations=10)
    assert list(report.mixed_data) == ["main/ROD"]
    md = render.report_markdown(report)
    footnote = next(line for line in md.splitlines() if line.startswith("[^data1]:"))
    assert "`aaaa`" in footnote and "`bbbb`" in footnote and "main/ROD" in footnote
    assert md_block(md, "ProactiveBench, multi-turn MCQA (Table 1)", "proactive_oracle")["acc / psr"][0].endswith("[^data1]")
    assert md_block(md, "ProactiveBench, multi-turn MCQA (Table 1)", "proactive_oracle")["n episodes"][0] == "4, subset"
    assert "[^data1]" in render.main_table(report)
    assert render.report_json(report)["mixed_data"]["main/ROD"][1]["fingerprint"] == "bbbb"


def test_average_over_fewer_scenarios_says_how_many_and_is_never_compared(tmp_path):
    tasks = dict(MAIN)
    tasks["proactive_qd"] = {"errors,none": 4.0}  # every QD episode errored: no acc, no psr
    run = _run(tmp_path / "a", "Qwen/Qwen2.5-VL-7B-Instruct", tasks, {t: _recorded("folder", "f") for t in tasks})
    report = aggregate.build_report([run], iterations=10)
    avg = report.cell(report.models[0].key, "main", "avg")
    assert avg.covers == (6, 7) and avg.partial
    scored = [v["acc,none"] for t, v in tasks.items() if "acc,none" in v]
    assert avg.metrics["acc"] == pytest.approx(sum(scored) / 6)
    md = render.report_markdown(report)
    block = md_block(md, "ProactiveBench, multi-turn MCQA (Table 1)", "Qwen2.5-VL-7B")
    assert block["acc / psr"][7].endswith("(6/7 scenarios)")
    assert block["Δ vs paper"][7] == render.ABSENT and block["paper (Table 1)"][7] != render.ABSENT
    assert "is not the paper's seven-scenario average" in md
    row = render.table_json(report, report.spec("main"))["rows"][0]
    assert row["ours"]["avg"]["scenarios"] == "6/7" and row["diff_vs_paper"]["avg"]["acc"] is None
    full = aggregate.build_report([_run(tmp_path / "b", "m", MAIN)], iterations=10)
    assert full.cell(full.models[0].key, "main", "avg").covers == (7, 7)
    assert not full.cell(full.models[0].key, "main", "avg").partial


def test_runs_table_says_data_and_settings(tmp_path):
    run = _run(tmp_path / "a", "proactive_oracle", MAIN, {t: _recorded("hub", "f") for t in MAIN})
    md = render.report_markdown(aggregate.build_report([run], iterations=10))
    runs = md.split("## Runs", 1)[1].split("\n## ", 1)[0]
    assert "| hub |" in runs and "not paper-parity: dtype unknown" in runs


def test_plot_titles_say_synthetic(tmp_path):
    from proactivebench_ext.report import plots

    run = _run(tmp_path / "a", "proactive_oracle", MAIN, {t: _recorded("synthetic", "f") for t in MAIN})
    report = aggregate.build_report([run], iterations=10)
    assert "synthetic — not comparable to the paper" in plots.synthetic_caption(report)
    assert report.models[0].label == "proactive_oracle [synthetic]"
    real = aggregate.build_report([_run(tmp_path / "b", "m", MAIN)], iterations=10)
    assert plots.synthetic_caption(real) == ""


# -- rescore (pure parts) ---------------------------------------------------------------------------------
def test_rescore_aggregates_as_lmms_eval_does():
    from proactivebench_ext.lmms import rescore

    values = [{"errors": 0.0, "acc": 100.0, "psr": 2.0}, {"errors": 1.0}, {"errors": 0.0, "acc": 0.0, "psr": 1.0}]
    assert rescore.aggregate(values, ["acc", "psr", "errors"]) == {"acc": 50.0, "psr": 1.5, "errors": 1.0}
    assert rescore.aggregate([{"errors": 1.0}], ["acc", "errors"]) == {"acc": None, "errors": 1.0}


def test_rescore_differences_and_missing_episodes():
    from proactivebench_ext.lmms import rescore

    assert rescore.differences({"acc": 50.0}, {"acc": 50.0 + 1e-9}) == []
    assert rescore.differences({"acc": 50.0}, {"acc": 25.0}) == ["acc logged 50, recomputed 25"]
    assert rescore.differences({"acc": 50.0}, {"acc": None}) == ["acc logged 50, recomputed none"]
    assert rescore.missing_episodes(range(4), [0, 1, 3]) == [2]
    assert rescore.missing_episodes(range(2), [0, 1, "x"]) == []
    check = rescore.TaskCheck("proactive_rod", Path("r.json"), {"acc": 50.0}, {"acc": 25.0}, ["acc differs"])
    assert not check.ok and "DIFFERS" in rescore.table([check])
