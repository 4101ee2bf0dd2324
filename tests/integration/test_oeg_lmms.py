"""OEG tasks end to end through ``python -m lmms_eval``: generation, the judge phase, multi-turn.

The baselines answer open questions in words (``proactive_oracle_open``: the oracle's next request
or the category). Runs are module fixtures (each costs ~10 s of lmms-eval start-up). The judge is
a scripted OpenAI-compatible server on loopback (tests/fake_judge_server.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from proactivebench_ext import new_episode
from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, scenario_slug
from proactivebench_ext.core.policies import oracle_answer
from proactivebench_ext.data.jsonio import loads_strict
from proactivebench_ext.data.layout import embedded_data_dir, load_test_set
from proactivebench_ext.judge.phase import (
    MAPPING_SYSTEM_PROMPT,
    OegInput,
    mapped_answer,
    mapping_messages,
    parse_mapping,
)
from proactivebench_ext.judge.phase import main as judge_main
from proactivebench_ext.judge.prompts import METRICS, parse_judge_output, strip_reasoning
from proactivebench_ext.lmms.oeg_hooks import sample_oeg

from ..fake_judge_server import FakeJudge, Reply, user_text
from ..unit.test_oeg_lmms import JUDGE_VARS

MODEL = "proactive_oracle_open"  # the oracle baseline, answering open questions in words
SLUGS = {scenario_slug(a): a for a in SCENARIO_ACRONYMS}
OEG_OUTPUTS = (  # scripted single-turn verdicts: reasoning blocks, wrong lengths, garbage
    "<think>\nThe answer mentions 1 idea, so 1,0,1 is wrong.\n</think>\n\n1,0",
    "0,1",
    "<think>x</think>1,1,1",
    "I am not sure.",
    "<think>\n0,0\n</think>\nFinal: 1, 1",
)


@dataclass
class Run:
    out: Path
    results: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]]  # task -> samples by doc_id


def lmms_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Offline, embedded data, no judge unless given; the open-answer baselines registered through
    a throw-away entry point when the package does not register them itself."""
    env = {k: v for k, v in os.environ.items() if k not in JUDGE_VARS and not k.startswith("PROACTIVEBENCH_")}
    env.update(HF_HOME=str(tmp / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    registered = {ep.value for ep in entry_points(group="lmms_eval.models")}
    if "proactivebench_ext.lmms.oeg_baselines:model_manifests" not in registered:
        dist = tmp / "plugin" / "proactivebench_oeg_test-0.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: proactivebench-oeg-test\nVersion: 0\n")
        (dist / "entry_points.txt").write_text(
            "[lmms_eval.models]\noeg_open = proactivebench_ext.lmms.oeg_baselines:model_manifests\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dist.parent), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_lmms_eval(out: Path, tasks: str, env: dict[str, str], *flags: str) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", MODEL, "--tasks", tasks,
                           "--output_path", str(out), *flags], env=env, cwd=out, capture_output=True, text=True,
                          timeout=600)
    results = list(out.glob("**/*_results.json"))
    assert proc.returncode == 0 and len(results) == 1, (proc.stdout + proc.stderr)[-4000:]
    samples = {}
    for path in out.glob("**/*_samples_*.jsonl"):
        rows = [loads_strict(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        samples[path.stem.split("_samples_", 1)[1]] = sorted(rows, key=lambda row: row["doc_id"])
    # strict JSON: no NaN/Infinity, whatever the tasks scored (loads_strict refuses the constants)
    return Run(out, loads_strict(results[0].read_text("utf-8")), samples)


def entries(acronym: str) -> dict[str, dict]:
    return {str(entry["id"]): entry for entry in load_test_set(acronym, embedded_data_dir())}


def oeg_script(messages, attempt):
    """Single-turn verdicts picked by the answer; the first try of some answers is a 500."""
    answer = user_text(messages).split("### System Output:\n", 1)[1]
    if sum(map(ord, answer)) % 3 == 0 and attempt == 0:
        return Reply(status=500)
    return Reply(content=OEG_OUTPUTS[sum(map(ord, answer)) % len(OEG_OUTPUTS)])


def mapping_script():
    """Multi-turn option mapping: the option the words name, except ROD requests -> OTHER (a random
    valid request), CIT categories -> garbage, and one MVP-N episode whose judge always fails."""
    failing: list[str] = []

    def script(messages, attempt):
        if messages[0]["content"] != MAPPING_SYSTEM_PROMPT:
            return oeg_script(messages, attempt)
        text = user_text(messages)
        prompt = text.split("\n", 2)[1]
        options = re.search(r"### Options:\n(.*)\n### System Output:\n", text, re.S).group(1).split("\n")
        answer = text.split("### System Output:\n", 1)[1]
        chosen = next((line.split(". ", 1)[0] for line in options if line.split(". ", 1)[1] == answer), None)
        if prompt.startswith("Identify the object in this image") and (not failing or failing[0] == text):
            failing[:1] = [text]
            return Reply(status=500)
        if chosen is None:
            return Reply(content="<think>nothing fits</think>\nNONE")
        if prompt.startswith("Identify the object behind") and answer.startswith("Move"):
            return Reply(content="<think>it asks to move the camera, which no option says... maybe 2</think>\nOTHER")
        if "shown in the video" in prompt and not any(w in answer for w in ("Wait", "Rewind", "not")):
            return Reply(content="It is probably option " + chosen)
        return Reply(content=f"<think>The output says {answer!r}; options 1 and {chosen} compared.</think>\n\n{chosen}")
    return script


@pytest.fixture(scope="module")
def generation(tmp_path_factory) -> Run:
    """Phase 1, as lmms-eval users run it: single-turn OEG with --log_samples, no judge configured."""
    tmp = tmp_path_factory.mktemp("oeg_gen")
    return run_lmms_eval(tmp / "out", "proactivebench_oeg", lmms_env(tmp), "--log_samples")


@pytest.fixture(scope="module")
def prediction(tmp_path_factory) -> Run:
    """Phase 1 with --predict_only: process_results never runs; the target alone carries the judge input."""
    tmp = tmp_path_factory.mktemp("oeg_pred")
    return run_lmms_eval(tmp / "out", "proactivebench_oeg_hint", lmms_env(tmp), "--predict_only")


@pytest.fixture(scope="module")
def with_judge(tmp_path_factory):
    """Multi-turn OEG (judge during generation) and one single-turn task judged inline."""
    tmp = tmp_path_factory.mktemp("oeg_judged")
    with FakeJudge(mapping_script()) as judge:
        env = lmms_env(tmp, OPENAI_API_URL=judge.url, OPENAI_API_KEY="EMPTY", PROACTIVEBENCH_JUDGE_BACKOFF="0.01",
                       PROACTIVEBENCH_JUDGE_RETRIES="2")
        run = run_lmms_eval(tmp / "out", "proactivebench_oeg_multiturn,proactivebench_oeg_qd", env, "--log_samples")
        yield run, judge



def test_generation_logs_answers_and_judge_inputs_without_a_judge(generation, prediction):
    hint = load_benchmark().judge
    assert len(generation.samples) == len(prediction.samples) == 7
    for task, samples in [*generation.samples.items(), *prediction.samples.items()]:
        acronym = SLUGS[task.rsplit("_", 1)[1]]
        by_id = entries(acronym)
        inputs = [OegInput.from_target(s["target"]) for s in samples]
        # the benchmark's draw: all 4 embedded entries (<= 100), in random.seed(0) shuffle order
        assert [i.sample_id for i in inputs] == sample_oeg(list(by_id), 100)
        for sample, judge_input in zip(samples, inputs):
            episode = new_episode(acronym, by_id[judge_input.sample_id], embedded_data_dir())
            question = episode.observe().prompt
            expected = f"{question}{hint.hint_joiner}{hint.hint}" if "_hint_" in task else question
            assert sample["input"] == judge_input.prompt == expected  # no options shown
            assert judge_input.valid_answers == episode.open_ended_answers()
            assert sample["filtered_resps"] == oracle_answer(episode)  # the oracle says its choice in words
    for task, samples in generation.samples.items():  # process_results ran (no judge): logged unjudged
        for sample in samples:
            assert sample["unjudged"] == 1.0 and sample["proactive_suggestion"] is None
            assert sample["oeg_judge"]["status"] == "unjudged" and "judge LOGDIR" in sample["oeg_judge"]["error"]
            answer = sample["filtered_resps"]
            assert sample["oeg_judge"]["judge_messages"] == OegInput.from_target(sample["target"]).messages(answer)
        entry = generation.results["results"][task]
        # nothing judged: no value (null, N/A in lmms-eval's table), never NaN and never 0
        assert entry["unjudged,none"] == 4 and all(entry[f"{m},none"] is None for m in METRICS)
    assert all(generation.results["groups"]["proactivebench_oeg"][f"{m},none"] is None for m in METRICS)


def test_judge_phase_scores_the_generation_logs(generation, prediction, tmp_path, monkeypatch, capsys):
    import shutil

    logdir = tmp_path / "logs"
    shutil.copytree(generation.out, logdir / "log_samples")
    shutil.copytree(prediction.out, logdir / "predict_only")
    for name in JUDGE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_BACKOFF", "0.01")
    with FakeJudge(oeg_script) as judge:
        monkeypatch.setenv("OPENAI_API_URL", judge.url)
        assert judge_main([str(logdir), "--workers", "4"]) == 0
        replies = {json.dumps(m): r for m, r in judge.replies if r.status == 200}
        assert judge.count > 56  # some first tries were 500s
    assert "judged 56/56" in capsys.readouterr().err
    results = {}
    for path in logdir.glob("*/*_results_judged.json"):  # one per run, next to its logs
        run_results = loads_strict(path.read_text())
        assert run_results["config"]["model"] == MODEL  # the run's own results carried over
        results.setdefault("results", {}).update(run_results["results"])
        results.setdefault("groups", {}).update(run_results["groups"])
    task_means: dict[str, dict[str, float]] = {}
    for task, samples in [*generation.samples.items(), *prediction.samples.items()]:
        values = {m: [] for m in METRICS}
        for sample in samples:
            judge_input = OegInput.from_target(sample["target"])
            reply = replies[json.dumps(judge_input.messages(sample["filtered_resps"]))]
            verdict = parse_judge_output(judge_input.valid_answers, strip_reasoning(reply.content), judge_input.scenario)
            for m in METRICS:
                values[m].append(100.0 * getattr(verdict, m))
        task_means[task] = {m: sum(v) / len(v) for m, v in values.items()}
        for m in METRICS:
            assert results["results"][task][f"{m},none"] == pytest.approx(task_means[task][m])
        assert results["results"][task]["unjudged,none"] == 0
    for group in ("proactivebench_oeg", "proactivebench_oeg_hint"):
        tasks = [t for t in task_means if t.rsplit("_", 1)[0] == group]
        assert len(tasks) == 7
        for m in METRICS:
            assert results["groups"][group][f"{m},none"] == pytest.approx(sum(task_means[t][m] for t in tasks) / 7)


def test_inline_judging_during_generation(with_judge):
    run, judge = with_judge
    replies = {json.dumps(m): r for m, r in judge.replies}
    samples = run.samples["proactivebench_oeg_qd"]
    for sample in samples:
        record = sample["oeg_judge"]
        assert record["status"] == "judged" and record["raw_output"] == replies[json.dumps(record["judge_messages"])].content
        judge_input = OegInput.from_target(sample["target"])
        verdict = parse_judge_output(judge_input.valid_answers, strip_reasoning(record["raw_output"]), "QD")
        assert [sample[m] for m in METRICS] == [100.0 * getattr(verdict, m) for m in METRICS]
        assert sample["malformed"] == float(not verdict.well_formed)
    for m in METRICS:
        assert run.results["results"]["proactivebench_oeg_qd"][f"{m},none"] == pytest.approx(
            sum(s[m] for s in samples) / len(samples))


def test_judge_phase_does_not_resend_answers_judged_inline(with_judge, monkeypatch, capsys):
    run, _ = with_judge
    for name in JUDGE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    with FakeJudge(lambda messages, attempt: Reply(status=500)) as judge:
        monkeypatch.setenv("OPENAI_API_URL", judge.url)
        assert judge_main([str(run.out)]) == 0
        assert judge.count == 0
    assert "4 answers already judged, 0 to judge" in capsys.readouterr().err  # multi-turn logs are not its business
    results = loads_strict(next(run.out.glob("**/*_results_judged.json")).read_text())
    for m in METRICS:
        assert results["results"]["proactivebench_oeg_qd"][f"{m},none"] == run.results["results"]["proactivebench_oeg_qd"][f"{m},none"]


def test_multiturn_episodes_follow_the_judges_mapping(with_judge):
    run, judge = with_judge
    replies = {json.dumps(m): r for m, r in judge.replies}  # the last reply to each request
    hows, unjudged = set(), {}
    for acronym in SCENARIO_ACRONYMS:
        task = f"proactivebench_oeg_multiturn_{scenario_slug(acronym)}"
        by_id, judged_acc, judged_psr = entries(acronym), [], []
        for sample in run.samples[task]:
            record = json.loads(sample["filtered_resps"])
            episode = new_episode(acronym, by_id[record["sample_id"]], embedded_data_dir())
            assert record["oeg_turns"][0]["model_output"] == oracle_answer(episode)
            for step in record["oeg_turns"]:
                turn = episode.observe()
                said = strip_reasoning(step["model_output"])
                reply = replies[json.dumps(mapping_messages(turn.prompt, turn.options, said))]
                if reply.status != 200:
                    assert step["status"] == "unjudged" and "500" in step["error"]
                    break
                mapping = parse_mapping(reply.content, len(turn.options))
                seed = f"proactivebench_oeg_multiturn|{acronym}|{record['sample_id']}|{turn.index}"
                fed, how = mapped_answer(turn.options, episode.correct_now()[0], mapping, seed)
                assert (step["raw_output"], step["mapping"], step["fed_answer"], step["how"]) == \
                       (reply.content, mapping.kind, fed, how)
                hows.add(how)
                episode.answer(fed)
            assert episode.done != record["unjudged"]
            if record["unjudged"]:
                unjudged[task] = unjudged.get(task, 0) + 1
                assert sample["acc"] is None and sample["psr"] is None
                continue
            assert record["correct"] == episode.correct_prediction
            assert record["num_requests"] == len(episode.history) - 1
            judged_acc.append(100.0 if episode.correct_prediction else 0.0)
            judged_psr.append(len(episode.history) - 1.0)
            assert (sample["acc"], sample["psr"]) == (judged_acc[-1], judged_psr[-1])
        entry = run.results["results"][task]
        assert entry["acc,none"] == pytest.approx(sum(judged_acc) / len(judged_acc))
        assert entry["psr,none"] == pytest.approx(sum(judged_psr) / len(judged_psr))
        assert entry["unjudged,none"] == unjudged.get(task, 0)
    assert unjudged == {"proactivebench_oeg_multiturn_mvpn": 1}
    assert {"option", "random_valid_request", "malformed"} <= hows
    assert run.results["results"]["proactivebench_oeg_multiturn_cit"]["malformed,none"] >= 1
    group = run.results["groups"]["proactivebench_oeg_multiturn"]
    tasks = [f"proactivebench_oeg_multiturn_{scenario_slug(a)}" for a in SCENARIO_ACRONYMS]
    assert group["acc,none"] == pytest.approx(sum(run.results["results"][t]["acc,none"] for t in tasks) / 7)
