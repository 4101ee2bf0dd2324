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

from proactivebench_ext.data.layout import DATA_DIR_ENV, embedded_data_dir, jsonl_path
from proactivebench_ext.data.provenance import SYNTH_MARKER
from proactivebench_ext.data.synth import generate
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


def _folder_copy(target: Path) -> Path:
    """A released-layout folder (kind ``folder``): the embedded set without its synthetic marker."""
    shutil.copytree(embedded_data_dir(), target, ignore=shutil.ignore_patterns(SYNTH_MARKER))
    return target


def _changed_copy(target: Path) -> Path:
    """One ROD row changed (still playable) and QuickDraw's images gone (every QD episode errors)."""
    _folder_copy(target)
    path = jsonl_path("ROD", target)
    lines = path.read_text("utf-8").splitlines(keepends=True)
    entry = json.loads(lines[0])
    entry["note"] = "edited"
    lines[0] = json.dumps(entry, ensure_ascii=False) + "\n"
    path.write_text("".join(lines), "utf-8")
    shutil.rmtree(target / "QuickDraw")
    return target


@pytest.fixture(scope="session")
def lmms_runs(tmp_path_factory: pytest.TempPathFactory, offline_env: dict[str, str]) -> dict[str, Path]:
    """Real lmms-eval runs (two at a time): their --output_path folders by name; run.log beside each.

    oracle and tiny read the embedded (synthetic) set; random and cut the same released-layout folder
    (``folder``); synth a folder written by ``synth``; changed a folder with one ROD row edited and
    no QuickDraw images.
    """
    pytest.importorskip("lmms_eval")
    root = tmp_path_factory.mktemp("lmms_runs")
    folder = {**offline_env, DATA_DIR_ENV: str(_folder_copy(root / "data"))}
    changed = {**offline_env, DATA_DIR_ENV: str(_changed_copy(root / "changed_data"))}
    generate(root / "synth_data", per_scenario=2, seed=1)
    synthetic = {**offline_env, DATA_DIR_ENV: str(root / "synth_data")}
    groups = ",".join(["proactivebench", "proactivebench_reference", *(f"proactivebench_{v}" for v in _available_ablations())])
    commands = {
        "oracle": (_lmms(root / "oracle", "--model", "proactive_oracle", "--tasks", groups, "--log_samples"), offline_env),
        "random": (_lmms(root / "random", "--model", "proactive_random", "--tasks",
                         "proactivebench,proactivebench_reference", "--limit", "3", "--log_samples"), folder),
        # the runner stops every episode after 2 rounds: the oracle needs more, so all of them error
        "cut": (_lmms(root / "cut", "--model", "proactive_oracle", "--tasks", "proactive_rod", "--limit", "2",
                      "--gen_kwargs", "max_agentic_steps=2", "--log_samples"), folder),
        "synth": (_lmms(root / "synth", "--model", "proactive_oracle", "--tasks", "proactivebench", "--log_samples"),
                  synthetic),
        "changed": (_lmms(root / "changed", "--model", "proactive_oracle", "--tasks", "proactivebench",
                          "--log_samples"), changed),
    }
    try:
        from ..tiny_models import build_tiny_llava

        tiny = build_tiny_llava(root / "tiny_llava", letters_only=4)
        commands["tiny"] = (_lmms(root / "tiny", "--model", "llava_hf", "--model_args",
                                  f"pretrained={tiny},device_map=cpu", "--device", "cpu", "--tasks",
                                  "proactive_rod,proactive_vsod,proactivebench_reference_rod", "--limit", "2",
                                  "--log_samples"), offline_env)
    except ImportError:  # no torch/transformers: the scripted runs still cover the report
        pass
    names = list(commands)
    for pair in (names[i:i + 2] for i in range(0, len(names), 2)):
        procs = {n: subprocess.Popen(commands[n][0], cwd=root, env=commands[n][1], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True) for n in pair}
        for name, proc in procs.items():
            log = proc.communicate(timeout=600)[0]
            # lmms-eval exits 0 on failure: the results file is the proof the run worked
            assert list((root / name).rglob("*_results.json")), f"lmms-eval run {name} failed:\n{log[-3000:]}"
            (root / name / "run.log").write_text(log)
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
    assert block["acc / psr"][2:7] == [render.ABSENT] * 5  # MVP-N .. COCO
    assert block["acc / psr"][7].endswith("(2/7 scenarios)")  # the mean of the two it has, marked
    assert block["n episodes"][:2] == ["2, subset", "2, subset"]  # --limit 2 of 4
    data = json.loads((full_report / "report.json").read_text())
    row = next(r for r in data["tables"]["main"]["rows"] if r["model"] == "tiny_llava")
    assert row["ours"]["MVP-N"] is None and row["ours"]["avg"]["scenarios"] == "2/7"
    ref = md_block(md, TABLE6, "tiny_llava")["acc"]
    assert ref[0] != render.ABSENT and ref[1:7] == [render.ABSENT] * 6 and ref[7].endswith("(1/7 scenarios)")


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
    # the random run read a folder, the oracle the embedded set: relabel its data as the oracle's too, or
    # the two would be rows of their own (real vs synthetic data) and no delta would be shown
    recorded = _results(lmms_runs["oracle"])["proactivebench"]["tasks"]
    data["proactivebench"]["tasks"] = {task: recorded[task.replace("proactivebench_hint_", "proactive_")]
                                       for task in data["results"]}
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


# -- provenance: every figure says where it came from ------------------------------------------------------
MAIN_TASKS = [f"proactive_{SLUG[s]}" for s in SCENARIOS]


def _block(folder: Path) -> dict:
    return _results(folder)["proactivebench"]


def test_results_record_synthetic_data_and_where_it_came_from(lmms_runs):
    from proactivebench_ext import __version__

    for name, kind in (("oracle", "embedded-synthetic"), ("synth", "synthetic")):
        results = _results(lmms_runs[name])
        block = results["proactivebench"]
        assert block["format"] == "proactivebench_provenance/1"
        for task in MAIN_TASKS:
            entry = block["tasks"][task]
            assert entry["source"]["kind"] == kind and entry["synthetic"] is True
            assert Path(entry["source"]["folder"]).is_dir()
            assert len(entry["fingerprint"]["id"]) == 16 and entry["fingerprint"]["rows"] >= 1
            assert entry["test_filter"]["name"] == "filter_ids" and entry["test_filter"]["benchmark_ids"] == 7557
            episodes = entry["episodes"]
            assert episodes["loaded"] == results["n-samples"][task]["original"]
            assert episodes["evaluated"] == episodes["played"] + episodes["errored"] == results["n-samples"][task]["effective"]
            assert episodes["subset"] is False and episodes["errored"] == 0
            assert entry["package_version"] == __version__ and entry["engine_version"].startswith(__version__)
            assert results["results"][task]["alias"].endswith("[synthetic]")
        assert block["groups"]["proactivebench"]["coverage"] == "7/7"
        settings = block["settings"]
        assert settings["model"] == "proactive_oracle" and settings["paper_parity"] is False
        assert settings["generation_kwargs"]["proactive_rod"]["do_sample"] is False
        log = (lmms_runs[name] / "run.log").read_text()
        table_end = log.rindex("|proactivebench [synthetic]")  # lmms-eval's own table carries the mark
        assert "ran on SYNTHETIC data" in log[table_end:]  # and a last warning after it
    assert _block(lmms_runs["synth"])["tasks"]["proactive_rod"]["episodes"]["loaded"] == 2
    if "tiny" in lmms_runs:  # a real backend: the weights' dtype, read before lmms-eval frees them
        settings = _block(lmms_runs["tiny"])["settings"]
        assert settings["dtype"] == "float32" and settings["batch_size"] == 1 and not settings["paper_parity"]
        assert settings["differences"] == ["dtype float32, the paper used bfloat16"]


def test_a_folder_without_the_marker_is_a_folder_with_a_stable_fingerprint(lmms_runs):
    random, cut, changed = (_block(lmms_runs[n])["tasks"] for n in ("random", "cut", "changed"))
    assert random["proactive_rod"]["source"]["kind"] == "folder" and random["proactive_rod"]["synthetic"] is False
    assert "ran on SYNTHETIC data" not in (lmms_runs["random"] / "run.log").read_text()
    assert random["proactive_rod"]["fingerprint"] == cut["proactive_rod"]["fingerprint"]  # same folder, two runs
    edited, original = changed["proactive_rod"]["fingerprint"], random["proactive_rod"]["fingerprint"]
    assert edited["id"] != original["id"] and edited["rows_sha256"] != original["rows_sha256"]
    assert edited["images_sha256"] == original["images_sha256"]  # one row changed, no image
    assert changed["proactive_vsod"]["fingerprint"] == random["proactive_vsod"]["fingerprint"]
    assert random["proactive_rod"]["episodes"]["subset"] is True  # --limit 3


def test_a_scenario_with_nothing_scored_makes_the_group_partial(lmms_runs, tmp_path):
    results = _results(lmms_runs["changed"])
    group = results["proactivebench"]["groups"]["proactivebench"]
    assert group["coverage"] == "6/7" and group["unscored"] == ["proactive_qd"] and not group["complete"]
    assert "[6/7 scenarios]" in results["results"]["proactivebench"]["alias"]
    qd = results["proactivebench"]["tasks"]["proactive_qd"]["episodes"]
    assert qd["errored"] == qd["evaluated"] == 4 and qd["played"] == 0
    assert cli.main([str(lmms_runs["changed"]), "--out", str(tmp_path), "--no-plots",
                     "--paper-name", "proactive_oracle=Qwen2.5-VL-7B"]) == 0
    md = (tmp_path / "report.md").read_text()
    block = md_block(md, TABLE1, "Qwen2.5-VL-7B")
    assert block["acc / psr"][7].endswith("(6/7 scenarios)")
    assert block["Δ vs paper"][7] == render.ABSENT and block["Δ vs paper"][0] != render.ABSENT
    assert "not the paper's seven-scenario average" in md


def test_report_on_synthetic_runs_shows_no_paper_row(lmms_runs, tmp_path, capsys):
    assert cli.main([str(lmms_runs["oracle"]), str(lmms_runs["synth"]), "--out", str(tmp_path), "--no-plots",
                     "--paper-name", "proactive_oracle=Qwen2.5-VL-7B"]) == 0
    printed = capsys.readouterr().out
    md = (tmp_path / "report.md").read_text()
    for text in (md, printed):
        assert "synthetic — not comparable to the paper" in text
        assert "Δ vs paper" not in text and "paper (Table" not in text and "mean of 21 models" not in text
    assert printed.index("| **Qwen2.5-VL-7B**") > printed.index(TABLE1)  # the main table, on stdout
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["synthetic"] and all("paper" not in row for row in data["tables"]["main"]["rows"])
    # the two runs read different data for every main task: a footnote names both fingerprints
    embedded = _block(lmms_runs["oracle"])["tasks"]["proactive_rod"]["fingerprint"]["id"]
    synthetic = _block(lmms_runs["synth"])["tasks"]["proactive_rod"]["fingerprint"]["id"]
    assert embedded != synthetic
    footnote = next(line for line in md.splitlines() if line.startswith("[^data") and "main/ROD" in line)
    assert f"`{embedded}`" in footnote and f"`{synthetic}`" in footnote
    assert "main/ROD" in printed and f"`{synthetic}`" in printed


def test_viewer_pages_say_synthetic(lmms_runs, tmp_path):
    from proactivebench_ext.report.viewer.site import write_site

    write_site([lmms_runs["synth"], lmms_runs["cut"]], tmp_path, jobs=1)
    index = (tmp_path / "index.html").read_text()
    assert "Synthetic data (synthetic)" in index and "not comparable to the paper" in index
    pages = sorted((tmp_path / "runs").rglob("*.html"))
    synth_pages = [p for p in pages if "proactive_oracle" in p.parent.name and "proactive_coco" in p.name]
    assert synth_pages and all("not comparable to the paper" in p.read_text() for p in synth_pages)
    cut_dir = next(p.parent for p in pages if "proactive_rod" in p.name and "not comparable" not in p.read_text())
    assert not any("not comparable" in p.read_text() for p in cut_dir.glob("proactive_rod*.html"))  # a folder run


# -- rescore: anyone can recompute a figure from the logged episodes ---------------------------------------
def _rescore(capsys, *paths: Path) -> tuple[int, str, str]:
    from proactivebench_ext.lmms import rescore

    code = rescore.main([str(p) for p in paths])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rescore_recomputes_the_logged_figures(lmms_runs, capsys):
    for name in ("oracle", "random", "changed"):
        code, out, err = _rescore(capsys, lmms_runs[name])
        assert code == 0, err
        results = _results(lmms_runs[name])["results"]
        for task in MAIN_TASKS:
            for metric, value in results[task].items():
                if metric in ("acc,none", "psr,none", "errors,none"):
                    assert f"| {task} | {metric.split(',')[0]} | {value:g} | {value:g} | ok |" in out, (name, task)
    code, out, _ = _rescore(capsys, lmms_runs["oracle"])
    assert "| proactivebench_reference_rod | acc |" in out  # reference accuracy too


def _edited_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_rescore_names_a_task_whose_figures_do_not_match(lmms_runs, tmp_path, capsys):
    # 1. a figure edited in the results file
    run = _edited_copy(lmms_runs["random"], tmp_path / "acc")
    results_file = next(run.rglob("*_results.json"))
    data = json.loads(results_file.read_text())
    data["results"]["proactive_vsod"]["acc,none"] += 10
    results_file.write_text(json.dumps(data))
    code, _, err = _rescore(capsys, run)
    assert code == 1 and "proactive_vsod" in err.splitlines()[-1] and "proactive_rod" not in err
    # 2. one logged answer changed in a samples file (the first answer: the episode ends on it)
    run = _edited_copy(lmms_runs["oracle"], tmp_path / "answer")
    samples = next(run.rglob("*_samples_proactive_mvpn.jsonl"))
    lines = samples.read_text().splitlines()
    sample = json.loads(lines[0])
    record = json.loads(sample["filtered_resps"])
    record["turns"][0]["answer"] = "I do not know."
    sample["filtered_resps"] = json.dumps(record)
    lines[0] = json.dumps(sample)
    samples.write_text("\n".join(lines) + "\n")
    code, out, err = _rescore(capsys, run)
    assert code == 1 and "proactive_mvpn" in err.splitlines()[-1] and "DIFFERS" in out
    assert "error: proactive_mvpn" in err and "doc_id 0" in err
    # 3. one sample line removed
    run = _edited_copy(lmms_runs["oracle"], tmp_path / "removed")
    samples = next(run.rglob("*_samples_proactive_cit.jsonl"))
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[1:]))
    code, _, err = _rescore(capsys, run)
    assert code == 1 and "proactive_cit" in err.splitlines()[-1] and "1 of 4 episodes missing" in err
    # 4. the data folder changed since the run
    code, _, err = _rescore(capsys, lmms_runs["changed"])
    assert code == 0
    from proactivebench_ext.lmms import rescore

    assert rescore.main([str(lmms_runs["random"]), "--data-dir",
                         _block(lmms_runs["changed"])["tasks"]["proactive_rod"]["source"]["folder"]]) == 1
    assert "are not the ones the run read" in capsys.readouterr().err
