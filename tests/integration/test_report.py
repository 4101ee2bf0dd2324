"""The results report on real lmms-eval output: oracle, random and a tiny real model, run once per session.

Numbers in report.md / report.json are checked against lmms-eval's own results files and the
paper's rows against the shipped paper_results.json (read here with plain json, not through the
code under test).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext.report import aggregate, cli, read, render
from proactivebench_ext.report.paper import SCENARIOS

from ..unit.test_report import PAPER_JSON, SLUG, md_block

MCQA_ABLATIONS = ("hint", "history", "random")  # run by the oracle when helper tasks exist; no judge needed


def _available_ablations() -> list[str]:
    try:
        from proactivebench_ext.core.variants import VARIANTS
    except ImportError:
        return []
    return [v for v in VARIANTS if v in MCQA_ABLATIONS or v.startswith("icl")]


def _lmms(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lmms_eval", *args, "--output_path", str(out)]


@pytest.fixture(scope="session")
def lmms_runs(tmp_path_factory: pytest.TempPathFactory, offline_env: dict[str, str]) -> dict[str, Path]:
    """Four real lmms-eval runs (two at a time): their --output_path folders by name."""
    pytest.importorskip("lmms_eval")
    root = tmp_path_factory.mktemp("lmms_runs")
    groups = ",".join(["proactivebench", "proactivebench_reference", *(f"proactivebench_{v}" for v in _available_ablations())])
    commands = {
        "oracle": _lmms(root / "oracle", "--model", "proactive_oracle", "--tasks", groups, "--log_samples"),
        "random": _lmms(root / "random", "--model", "proactive_random", "--tasks",
                        "proactivebench,proactivebench_reference", "--limit", "3", "--log_samples"),
        # the runner stops every episode after 2 rounds: the oracle needs more, so all of them error
        "cut": _lmms(root / "cut", "--model", "proactive_oracle", "--tasks", "proactive_rod", "--limit", "2",
                     "--gen_kwargs", "max_agentic_steps=2", "--log_samples"),
    }
    try:
        from ..tiny_models import build_tiny_llava

        tiny = build_tiny_llava(root / "tiny_llava", letters_only=4)
        commands["tiny"] = _lmms(root / "tiny", "--model", "llava_hf", "--model_args",
                                 f"pretrained={tiny},device_map=cpu", "--device", "cpu", "--tasks",
                                 "proactive_rod,proactive_vsod,proactivebench_reference_rod", "--limit", "2",
                                 "--log_samples")
    except ImportError:  # no torch/transformers: the three scripted runs still cover the report
        pass
    names = list(commands)
    for pair in (names[:2], names[2:]):
        procs = {n: subprocess.Popen(commands[n], cwd=root, env=offline_env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True) for n in pair}
        for name, proc in procs.items():
            log = proc.communicate(timeout=600)[0]
            # lmms-eval exits 0 on failure: the results file is the proof the run worked
            assert list((root / name).rglob("*_results.json")), f"lmms-eval run {name} failed:\n{log[-3000:]}"
    return {name: root / name for name in names}


def _results(folder: Path) -> dict:
    return json.loads(next(folder.rglob("*_results.json")).read_text())


@pytest.fixture(scope="session")
def full_report(lmms_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    paths = [str(lmms_runs[n]) for n in ("oracle", "random", "tiny") if n in lmms_runs]
    # the random baseline compared with a paper row, through the override for unknown ids
    assert cli.main([*paths, "--out", str(out), "--bootstrap", "500",
                    "--paper-name", "proactive_random=Qwen2.5-VL-7B"]) == 0
    return out




TABLE1 = "ProactiveBench, multi-turn MCQA (Table 1)"
TABLE6 = "Reference, clean frame (Table 6)"


# -- numbers equal lmms-eval's own --------------------------------------------------------------

def test_markdown_and_json_numbers_equal_lmms_eval_results(lmms_runs, full_report):
    md = (full_report / "report.md").read_text()
    data = json.loads((full_report / "report.json").read_text())
    display = {"oracle": "proactive_oracle", "random": "Qwen2.5-VL-7B", "tiny": "tiny_llava"}
    checked = 0
    for name in ("oracle", "random", "tiny"):
        if name not in lmms_runs:
            continue
        results = _results(lmms_runs[name])
        for section, prefix, key in ((TABLE1, "proactive_", "main"), (TABLE6, "proactivebench_reference_", "reference")):
            block = md_block(md, section, display[name])
            row = next(r for r in data["tables"][key]["rows"] if r["model"] == display[name])
            for i, scenario in enumerate(SCENARIOS):
                entry = results["results"].get(prefix + SLUG[scenario])
                if entry is None:
                    assert row["ours"][scenario] is None
                    continue
                metrics = ("acc", "psr") if key == "main" else ("acc",)
                expected = " / ".join(render.fmt(m, entry[f"{m},none"]) for m in metrics)
                assert block[" / ".join(metrics)][i] == expected, (name, section, scenario)
                for m in metrics:
                    assert row["ours"][scenario][m] == pytest.approx(entry[f"{m},none"], abs=1e-9)
                assert row["ours"][scenario]["n"] == results["n-samples"][prefix + SLUG[scenario]]["effective"]
                checked += 1
    assert checked >= 2 * 14 + 3


def test_average_is_the_unweighted_mean_and_matches_lmms_eval_group(lmms_runs, full_report):
    data = json.loads((full_report / "report.json").read_text())
    for name, model in (("oracle", "proactive_oracle"), ("random", "Qwen2.5-VL-7B")):
        results = _results(lmms_runs[name])["results"]
        row = next(r for r in data["tables"]["main"]["rows"] if r["model"] == model)
        for metric in ("acc", "psr"):
            mean = math.fsum(results[f"proactive_{SLUG[s]}"][f"{metric},none"] for s in SCENARIOS) / 7
            assert row["ours"]["avg"][metric] == pytest.approx(mean, abs=1e-6)
            # the group is declared weight_by_size: false, so lmms-eval's own group score must agree
            assert row["ours"]["avg"][metric] == pytest.approx(results["proactivebench"][f"{metric},none"], abs=1e-6)


def test_partial_results_are_absent_never_zero(lmms_runs, full_report):
    if "tiny" not in lmms_runs:
        pytest.skip("no torch/transformers for the tiny model")
    md = (full_report / "report.md").read_text()
    block = md_block(md, TABLE1, "tiny_llava")
    assert block["acc / psr"][2:] == [render.ABSENT] * 6  # MVP-N .. COCO and the average
    assert block["n episodes"][:2] == ["2", "2"]
    data = json.loads((full_report / "report.json").read_text())
    row = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "tiny_llava")
    assert row["ours"]["MVP-N"] is None and row["ours"]["avg"] is None
    ref = md_block(md, TABLE6, "tiny_llava")["acc"]
    assert ref[0] != render.ABSENT and ref[1:] == [render.ABSENT] * 7


def test_paper_rows_and_differences_equal_the_papers_tables(lmms_runs, full_report):
    paper = json.loads(PAPER_JSON.read_text())["tables"]
    published = {r["model"]: r for r in paper["mcqa"]["rows"]}["Qwen2.5-VL-7B"]
    reference = {r["model"]: r for r in paper["reference"]["rows"]}["Qwen2.5-VL-7B"]
    md = (full_report / "report.md").read_text()
    assert "arXiv 2603.19466 v2" in md
    block = md_block(md, TABLE1, "Qwen2.5-VL-7B")
    ours = _results(lmms_runs["random"])["results"]
    for i, column in enumerate((*SCENARIOS, "avg")):
        p = published[column]
        assert block["paper (Table 1)"][i] == f"{render.fmt('acc', p['acc'])} / {render.fmt('psr', p['psr'])}"
        if column != "avg":
            acc = ours[f"proactive_{SLUG[column]}"]["acc,none"]
            assert block["Δ vs paper"][i].split(" / ")[0] == render.fmt("acc", acc - p["acc"], signed=True)
    assert md_block(md, TABLE6, "Qwen2.5-VL-7B")["paper (Table 6)"] == [
        render.fmt("acc", reference[c]["acc"]) for c in (*SCENARIOS, "avg")]
    # models without a paper row get none
    assert "paper (Table 1)" not in md_block(md, TABLE1, "proactive_oracle")
    data = json.loads((full_report / "report.json").read_text())
    row = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "Qwen2.5-VL-7B")
    assert row["paper"]["ROD"] == {"acc": published["ROD"]["acc"], "psr": published["ROD"]["psr"]}


def test_intervals_come_from_the_logged_episodes(lmms_runs, full_report):
    data = json.loads((full_report / "report.json").read_text())
    row = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "Qwen2.5-VL-7B")
    for scenario in SCENARIOS:
        cell = row["ours"][scenario]
        low, high = cell["ci95"]["acc"]
        assert 0 <= low <= cell["acc"] <= high <= 100
        samples = next(lmms_runs["random"].rglob(f"*_samples_proactive_{SLUG[scenario]}.jsonl"))
        accs = [json.loads(line)["acc"] for line in samples.read_text().splitlines()]
        assert (low == high) == (len(set(accs)) == 1)  # degenerate only when every episode agreed
    oracle = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "proactive_oracle")
    assert oracle["ours"]["avg"]["ci95"]["acc"] == [100.0, 100.0]
    md = (full_report / "report.md").read_text()
    assert md_block(md, TABLE1, "proactive_oracle")["95% CI acc"][0] == "100.0–100.0"


def test_episode_lengths_and_error_counts_come_from_samples(lmms_runs, tmp_path):
    assert cli.main([str(lmms_runs["cut"]), str(lmms_runs["random"]), "--out", str(tmp_path), "--no-plots"]) == 0
    data = json.loads((tmp_path / "report.json").read_text())
    cut = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "proactive_oracle")["ours"]["ROD"]
    assert cut["n"] == 2 and cut["errored"] == 2  # every episode cut short by max_agentic_steps
    assert cut["acc"] == 0.0
    assert "2, 2 err" in md_block((tmp_path / "report.md").read_text(), TABLE1, "proactive_oracle")["n episodes"][0]
    rand = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "proactive_random")["ours"]
    for scenario in SCENARIOS:
        samples = next(lmms_runs["random"].rglob(f"*_samples_proactive_{SLUG[scenario]}.jsonl"))
        records = [json.loads(json.loads(line)["filtered_resps"]) for line in samples.read_text().splitlines()]
        expected: dict[str, int] = {}
        for record in records:
            expected[str(record["num_turns"])] = expected.get(str(record["num_turns"]), 0) + 1
        assert rand[scenario]["episode_lengths"] == expected
        assert rand[scenario]["errored"] == sum(r["error"] is not None for r in records)


def test_runs_without_samples_and_superseded_runs(lmms_runs, tmp_path):
    """A later results file of the same model wins; without its samples there is no interval."""
    original = next(lmms_runs["random"].rglob("*_results.json"))
    later = tmp_path / "later" / "29991231_000000_results.json"
    later.parent.mkdir()
    shutil.copy(original, later)
    report = cli.write_report([lmms_runs["random"], later.parent], tmp_path / "out", iterations=200, plots=False)
    cell = report.cell("proactive_random:proactive_random", "main", "ROD")
    assert cell.results_file == str(later) and cell.ci == {} and cell.errored is None
    assert cell.n == 3
    md = (tmp_path / "out" / "report.md").read_text()
    assert "superseded by the later run" in md and "--log_samples" in md
    assert md_block(md, TABLE1, "proactive_random")["95% CI acc"][0] == render.ABSENT


def test_samples_that_disagree_with_the_results_file_are_flagged(lmms_runs, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(lmms_runs["random"], copy)
    results_file = next(copy.rglob("*_results.json"))
    data = json.loads(results_file.read_text())
    data["results"]["proactive_rod"]["acc,none"] = 12.3
    results_file.write_text(json.dumps(data))
    report = aggregate.build_report([read.read_run(results_file)], iterations=100)
    cell = report.cell("proactive_random:proactive_random", "main", "ROD")
    assert cell.metrics["acc"] == 12.3 and "acc" not in cell.ci and "psr" in cell.ci
    assert any("proactive_rod" in note and "12.3" in note for note in report.notes)


def test_ablation_rows_show_deltas_against_zero_shot(lmms_runs, tmp_path):
    """The random baseline's episodes relabelled as the oracle's hint run: deltas = hint − zero-shot.

    The oracle's own run holds hint tasks too, and per cell the later run wins: the relabelled run
    gets a date after every real run. With the random run's own date it depended on which of the
    two runs, started together, read the clock first (the random one's date is often a second
    earlier, and the oracle's real hint cells then won: delta 0 instead of hint − main).
    """
    copy = tmp_path / "hint"
    shutil.copytree(lmms_runs["random"], copy)
    original = next(copy.rglob("*_results.json"))
    date, later = original.name.removesuffix("_results.json"), "29991231_000000"
    data = json.loads(original.read_text())
    data["results"] = {k.replace("proactive_", "proactivebench_hint_"): v for k, v in data["results"].items()
                       if k.startswith("proactive_")}
    data["n-samples"] = {k.replace("proactive_", "proactivebench_hint_"): v for k, v in data["n-samples"].items()}
    data["config"]["model"] = "proactive_oracle"
    original.with_name(f"{later}_results.json").write_text(json.dumps(data))
    original.unlink()
    for samples in copy.rglob(f"{date}_samples_*.jsonl"):
        relabelled = samples.name.replace(date, later, 1).replace("_samples_proactive_", "_samples_proactivebench_hint_")
        samples.rename(samples.with_name(relabelled))
    assert cli.main([str(lmms_runs["oracle"]), str(copy), "--out", str(tmp_path / "out"), "--no-plots"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    row = next(r for r in report["tables"]["hint"]["rows"] if r["model"] == "proactive_oracle")
    main = _results(lmms_runs["oracle"])["results"]
    hint = data["results"]
    for scenario in SCENARIOS:
        for metric in ("acc", "psr"):
            expected = hint[f"proactivebench_hint_{SLUG[scenario]}"][f"{metric},none"] - \
                main[f"proactive_{SLUG[scenario]}"][f"{metric},none"]
            assert row["delta_vs_main"][scenario][metric] == pytest.approx(expected, abs=1e-6)
    block = md_block((tmp_path / "out" / "report.md").read_text(), "With hints (Table 7)", "proactive_oracle")
    assert block["Δ vs main"][0] == " / ".join(
        render.fmt(m, row["delta_vs_main"]["ROD"][m], signed=True) for m in ("acc", "psr"))


def test_real_ablation_runs_when_their_tasks_exist(lmms_runs, full_report):
    ablations = _available_ablations()
    if not ablations:
        pytest.skip("no MCQA ablation tasks registered yet")
    data = json.loads((full_report / "report.json").read_text())
    main = _results(lmms_runs["oracle"])["results"]
    for variant in ablations:
        row = next(r for r in data["tables"][variant]["rows"] if r["model"] == "proactive_oracle")
        for scenario in SCENARIOS:
            ours = row["ours"][scenario]
            if ours is None:  # a variant without this scenario (in-context examples: ROD and MVP-N only)
                assert not variant.startswith(("hint", "history", "random")), (variant, scenario)
                continue
            delta = ours["acc"] - main[f"proactive_{SLUG[scenario]}"]["acc,none"]
            assert row["delta_vs_main"][scenario]["acc"] == pytest.approx(delta, abs=1e-6)


def test_plots_are_written_and_linked(full_report):
    from PIL import Image

    md = (full_report / "report.md").read_text()
    for name in ("reference_vs_proactive.png", "psr_per_scenario.png", "acc_vs_psr.png", "episode_lengths.png"):
        path = full_report / name
        assert f"]({name})" in md
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 600
            low, high = image.convert("L").getextrema()
            assert high - low > 100  # not blank
        assert path.stat().st_size < 150_000


def test_cli_is_wired_into_the_dispatcher(lmms_runs, tmp_path):
    out = tmp_path / "rep"
    proc = subprocess.run([sys.executable, "-m", "proactivebench_ext", "report", str(lmms_runs["cut"]), "--out", str(out),
                           "--no-plots"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.md").is_file() and (out / "report.json").is_file()
    assert not list(out.glob("*.png"))
