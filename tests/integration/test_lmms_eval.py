"""End to end through lmms-eval's own CLI: our tasks, our baselines, a tiny real VLM, two processes.

Every run is a real ``python -m lmms_eval`` (or ``accelerate launch``) subprocess with no extra
flag, relying on the installed registration. lmms-eval exits 0 even when a run fails, so each run
is judged by the result and sample files it must write. Runs are module fixtures shared by several
tests, because each one costs ~10 s of lmms-eval start-up.
"""

from __future__ import annotations

import math
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from proactivebench_ext.core.naming import group_name
from proactivebench_ext.core.policies import oracle_requests, random_success_probability
from proactivebench_ext.core.variants import VARIANTS, all_groups, all_tasks
from proactivebench_ext.lmms.hooks import doc_rows, episode_from_doc

from ..lmms_runs import TURN_KEYS, Run, run_lmms_eval
from ..tiny_models import build_tiny_llava

TASKS = all_tasks()  # task -> (variant, scenario), every variant of the table (ablations: test_ablation_tasks.py)
MAIN = [task for task, (variant, _) in TASKS.items() if variant == "main"]
REFERENCE = [task for task, (variant, _) in TASKS.items() if variant == "reference"]
@cache
def docs(task: str) -> tuple[dict[str, str], ...]:
    variant, acronym = TASKS[task]
    return tuple(doc_rows(acronym, variant))


@pytest.fixture(scope="module")
def oracle_run(offline_env, tmp_path_factory) -> Run:
    return run_lmms_eval(["--model", "proactive_oracle", "--tasks", "proactive_*,proactivebench_reference"],
                         offline_env, tmp_path_factory.mktemp("oracle"))


@pytest.fixture(scope="module")
def random_run(offline_env, tmp_path_factory) -> Run:
    return run_lmms_eval(["--model", "proactive_random", "--model_args", "seed=3",
                          "--tasks", "proactivebench,proactivebench_reference"],
                         offline_env, tmp_path_factory.mktemp("random"))


@pytest.fixture(scope="module")
def random_two_processes(offline_env, tmp_path_factory) -> Run:
    # --limit 3 leaves one rank a doc short, so lmms-eval pads it with a duplicate request.
    return run_lmms_eval(["--model", "proactive_random", "--model_args", "seed=3",
                          "--tasks", "proactivebench,proactivebench_reference", "--limit", "3"],
                         offline_env, tmp_path_factory.mktemp("random2"), processes=2)


@pytest.fixture(scope="module")
def llava_run(offline_env, tmp_path_factory) -> Run:
    # Answers start with an option letter (see build_tiny_llava), so some requests get accepted
    # and episodes go on through the chat backend's later rounds.
    model = build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"), letters_only=4, init_range=0.5, seed=1)
    return run_lmms_eval(["--model", "llava_hf", "--model_args", f"pretrained={model},device_map=cpu,device=cpu",
                          "--batch_size", "1", "--tasks", "proactive_*,proactivebench_reference", "--limit", "2"],
                         offline_env, tmp_path_factory.mktemp("llava"))


def assert_well_formed(run: Run, task: str, expected_docs: int) -> None:
    """Each doc scored once; each sample holds the whole episode, readable as plain JSON."""
    assert [sample["doc_id"] for sample in run.samples[task]] == list(range(expected_docs))
    for sample, record, doc in zip(run.samples[task], run.records(task), docs(task)):
        assert record["sample_id"] == doc["sample_id"] and record["scenario"] == TASKS[task][1]
        assert record["num_turns"] == len(record["turns"]) >= 1
        assert sample["input"] == record["turns"][0]["mcqa_prompt"]
        for turn in record["turns"]:
            assert set(turn) == TURN_KEYS and isinstance(turn["answer"], str)
            assert (Path(record["data_dir"]) / turn["image_path"]).is_file()
        assert sample["acc"] == (100.0 if record["correct"] else 0.0)
        if "psr" in sample:
            assert sample["psr"] == record["num_requests"] == record["num_turns"] - 1


def test_glob_selects_only_the_main_tasks(oracle_run):
    assert set(oracle_run.samples) == set(MAIN) | set(REFERENCE)
    assert set(oracle_run.results["results"]) == set(MAIN) | set(REFERENCE) | {group_name("reference")}


def test_oracle_is_always_right_with_the_requests_its_policy_makes(oracle_run):
    for task in MAIN + REFERENCE:
        assert_well_formed(oracle_run, task, len(docs(task)))
        assert oracle_run.metric(task, "acc") == 100.0, task
        for sample, doc in zip(oracle_run.samples[task], docs(task)):
            expected = oracle_requests(episode_from_doc(doc))
            assert sample.get("psr", 0) == expected, (task, doc["sample_id"])
    assert oracle_run.metric(group_name("reference"), "acc") == 100.0
    # At least one scenario needs requests, else psr would test nothing.
    assert any(oracle_run.metric(task, "psr") > 0 for task in MAIN)


def test_random_accuracy_matches_its_analytic_expectation(random_run):
    successes = expected = variance = 0.0
    for task in MAIN + REFERENCE:
        assert_well_formed(random_run, task, len(docs(task)))
        probabilities = [random_success_probability(episode_from_doc(doc)) for doc in docs(task)]
        successes += sum(sample["acc"] / 100 for sample in random_run.samples[task])
        expected += sum(probabilities)
        variance += sum(p * (1 - p) for p in probabilities)
    assert abs(successes - expected) <= 4 * math.sqrt(variance), (successes, expected, variance)


def test_group_scores_are_the_unweighted_mean_over_scenarios(random_run):
    for variant, tasks in (("main", MAIN), ("reference", REFERENCE)):
        for metric in VARIANTS[variant].metrics:
            mean = sum(random_run.metric(task, metric) for task in tasks) / len(tasks)
            assert random_run.metric(group_name(variant), metric) == pytest.approx(mean)


def test_two_processes_score_each_doc_once_and_like_one_process(random_run, random_two_processes):
    assert set(random_two_processes.samples) == set(MAIN) | set(REFERENCE)
    for task in MAIN + REFERENCE:
        assert_well_formed(random_two_processes, task, 3)
        for sample in random_two_processes.samples[task]:
            single = random_run.samples[task][sample["doc_id"]]
            assert sample["filtered_resps"] == single["filtered_resps"]
            assert sample["acc"] == single["acc"] and sample.get("psr") == single.get("psr")


def test_two_processes_record_the_whole_runs_counts(random_run, random_two_processes):
    """Rank 0 writes the provenance block from lmms-eval's gathered figures: every episode of both ranks."""
    for task in MAIN + REFERENCE:
        two = random_two_processes.results["proactivebench"]["tasks"][task]
        one = random_run.results["proactivebench"]["tasks"][task]
        assert two["episodes"] == {"loaded": 4, "unplayable_rows": 0, "evaluated": 3, "played": 3, "errored": 0,
                                   "subset": True}
        assert two["fingerprint"] == one["fingerprint"] and one["episodes"]["subset"] is False


def test_tiny_llava_plays_every_task_through_the_unmodified_backend(llava_run):
    assert set(llava_run.samples) == set(MAIN) | set(REFERENCE)
    for task in MAIN + REFERENCE:
        assert_well_formed(llava_run, task, 2)
    records = [record for task in MAIN for record in llava_run.records(task)]
    # Later rounds reach the backend with their own image: some episodes go past the first turn.
    assert any(record["num_turns"] > 1 for record in records)
    answers = {turn["answer"] for record in records for turn in record["turns"]}
    assert len(answers) > 3, answers  # the random model's output depends on its input


def test_tasks_are_listed_without_flags(offline_env, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", "--tasks", "list"], env=offline_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    listed = proc.stdout + proc.stderr
    for name in [*TASKS, *all_groups()]:
        assert f" - {name}\n" in listed, name


def test_opting_out_and_include_path(offline_env, tmp_path):
    script = (
        "from lmms_eval.tasks import TaskManager\n"
        "from proactivebench_ext.lmms.registration import tasks_path\n"
        "print(getattr(TaskManager.initialize_tasks, '_proactivebench_ext_wrapped', False))\n"
        "print(sorted(TaskManager(include_path=str(tasks_path()), include_defaults=False).all_tasks))\n"
    )
    env = {**offline_env, "PROACTIVEBENCH_NO_AUTOREGISTER": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wrapped, listed = proc.stdout.strip().splitlines()[-2:]
    assert wrapped == "False"
    assert {*TASKS, *all_groups()} <= set(eval(listed))
