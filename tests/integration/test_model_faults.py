"""Issue 21 end to end: a failed request is never a wrong answer, through real ``python -m lmms_eval`` runs.

lmms-eval's unmodified ``openai`` backend plays three tasks against the loopback server
(:mod:`proactivebench_ext.testing.openai_server`), which fails chosen requests. Six runs:

1. healthy: the baseline every other run is compared with, episode by episode;
2. one request answers HTTP 500 at every retry (``max_retries=2``, ``--use_cache``): that episode
   errors (kind ``model``), every other episode is scored as in 1, exit 1 with one ERROR line, and
   the request was sent exactly twice (the SDK's own retries are off);
3. the same command against the healed server: only the failed requests are sent, exit 0, results as in 1;
4. lmms-eval's own runner (``PROACTIVEBENCH_LOCKSTEP=0``) with ``PROACTIVEBENCH_MAX_MODEL_ERRORS=1``:
   the same episode errors, exit 0, the log names the runner; another request is answered with a
   lone surrogate (``"\\ud800"``) and every samples file still holds every episode as strict JSON;
5. nothing listens at the server's address and the output folder cannot be written: exit 3, one
   ERROR line for the dead server (the connection error and the fix) and one naming the path;
6. every request answers HTTP 400 (a wrong model name): exit 3, the status in the ERROR line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from proactivebench_ext.data.jsonio import loads_strict
from proactivebench_ext.lmms import faults
from proactivebench_ext.lmms.runtime import lockstep
from proactivebench_ext.testing.openai_server import LatencyServer, answer_for, message_key, refused_url

from ..lmms_runs import PINNED_CACHE_VERSION

TASKS = ("proactive_rod", "proactive_qd", "proactive_cit")
LIMIT = 3
SURROGATE = "\ud800"


@dataclass
class Outcome:
    status: int
    log: str
    results: dict[str, Any] | None
    samples: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # task -> doc_id -> sample

    def record(self, task: str, doc_id: int) -> dict[str, Any]:
        return json.loads(self.samples[task][doc_id]["filtered_resps"])

    def errors(self) -> list[str]:
        return [line for line in self.log.splitlines() if line.startswith("ERROR ProactiveBench")]


def lmms_eval(url: str, env: dict[str, str], out: Path, *extra: str, model: str = "loopback",
              tasks: tuple[str, ...] = TASKS, limit: int = LIMIT) -> Outcome:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "lmms_eval", "--model", "openai", "--model_args",
               f"model_version={model},base_url={url},api_key=EMPTY,num_concurrent=4,max_retries=2,retry_backoff_s=0",
               "--tasks", ",".join(tasks), "--limit", str(limit), "--log_samples", "--output_path", str(out), *extra]
    proc = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    (out / "run.log").write_text(log, errors="backslashreplace")
    results = [loads_strict(path.read_bytes()) for path in out.glob("**/*_results.json")]
    outcome = Outcome(proc.returncode, log, results[0] if len(results) == 1 else None)
    for path in out.glob("**/*_samples_*.jsonl"):
        task = path.name.split("_samples_", 1)[1].removesuffix(".jsonl")
        rows = [loads_strict(line) for line in path.read_bytes().splitlines() if line.strip()]
        outcome.samples[task] = {row["doc_id"]: row for row in rows}
    return outcome


def scored(outcome: Outcome, skip: set[tuple[str, int]] = frozenset()) -> dict[tuple[str, int], Any]:
    """Each episode's metrics and answers, except ``skip``."""
    return {(task, doc_id): (sample.get("acc"), sample.get("psr"), sample["errors"],
                             [turn["answer"] for turn in outcome.record(task, doc_id)["turns"]])
            for task, samples in outcome.samples.items() for doc_id, sample in samples.items()
            if (task, doc_id) not in skip}


def model_errored(outcome: Outcome) -> list[tuple[str, int]]:
    return [(task, doc_id) for task, samples in outcome.samples.items() for doc_id in samples
            if (outcome.record(task, doc_id).get("fault") or {}).get("kind") == "model"]


@pytest.fixture(scope="module")
def server():
    with LatencyServer(latency=0.0) as server:
        yield server


@pytest.fixture(scope="module")
def healthy(server, offline_env, tmp_path_factory) -> tuple[Outcome, dict[str, tuple[str, int, int]], list[str]]:
    """Run 1, and where each request of it belongs: key -> (task, doc_id, turn) for prompts only one turn shows."""
    server.reset()
    outcome = lmms_eval(server.url, offline_env, tmp_path_factory.mktemp("healthy"))
    assert outcome.status == 0 and outcome.results is not None, outcome.log[-3000:]
    assert all(len(outcome.samples[task]) == LIMIT for task in TASKS)
    by_prompt: dict[str, list[tuple[str, int, int]]] = {}
    for task, samples in outcome.samples.items():
        for doc_id in samples:
            for turn, played in enumerate(outcome.record(task, doc_id)["turns"]):
                by_prompt.setdefault(played["mcqa_prompt"], []).append((task, doc_id, turn))
    where = {key: by_prompt[text][0] for key, text in zip(server.seen_keys, server.seen) if len(by_prompt.get(text, [])) == 1}
    return outcome, where, list(server.seen_keys)


@pytest.fixture(scope="module")
def chosen(healthy) -> tuple[str, tuple[str, int, int], str, tuple[str, int, int]]:
    """The request that fails (a later turn, so the episode has turns played before it) and, in
    another task, the first request of an episode that gets a surrogate answer."""
    _, where, _ = healthy
    target, place = max(where.items(), key=lambda item: item[1][2])
    assert place[2] >= 1, "no multi-turn episode with a prompt of its own"
    other, other_place = next((key, spot) for key, spot in where.items() if spot[0] != place[0] and spot[2] == 0)
    return target, place, other, other_place


@pytest.fixture(scope="module")
def failing(server, healthy, chosen, offline_env, tmp_path_factory) -> tuple[Outcome, list[str], Path]:
    target = chosen[0]
    cache = tmp_path_factory.mktemp("cache")
    server.reset()
    server.status_for = lambda messages: 500 if message_key(messages) == target else None
    outcome = lmms_eval(server.url, {**offline_env, **PINNED_CACHE_VERSION}, tmp_path_factory.mktemp("failing"),
                        "--use_cache", str(cache))
    sent = list(server.seen_keys)
    server.heal()
    return outcome, sent, cache


def test_one_failing_request_errors_its_episode_only_and_fails_the_run(healthy, chosen, failing):
    baseline = healthy[0]
    outcome, sent, _ = failing
    target, (task, doc_id, turn), _, _ = chosen
    assert outcome.status == faults.EXIT_FAULTS and outcome.results is not None
    assert sent.count(target) == 2  # max_retries=2 means two attempts: the SDK's retries are off
    assert model_errored(outcome) == [(task, doc_id)]
    record, sample = outcome.record(task, doc_id), outcome.samples[task][doc_id]
    assert record["errored"] and sample["errors"] == 1.0 and "acc" not in sample and "psr" not in sample
    fault = record["fault"]
    assert fault["turn"] == record["num_turns"] == turn and "500" in fault["reason"] and fault["request"]
    assert fault["request"] == baseline.record(task, doc_id)["turns"][turn]["mcqa_prompt"]
    assert outcome.results["results"][task]["errors,none"] == 1.0
    assert scored(outcome, {(task, doc_id)}) == scored(baseline, {(task, doc_id)})
    (line,) = outcome.errors()
    assert line.startswith(f"ERROR ProactiveBench {task}: 1 of {LIMIT} episode(s) errored on model faults")
    assert "500" in line and faults.MAX_MODEL_ERRORS_VARIABLE in line


def test_a_rerun_with_use_cache_sends_only_the_failed_requests(server, healthy, chosen, failing, offline_env, tmp_path):
    baseline = healthy[0]
    outcome, _, cache = failing
    target, (task, doc_id, turn), _, _ = chosen
    server.reset()
    rerun = lmms_eval(server.url, {**offline_env, **PINNED_CACHE_VERSION}, tmp_path, "--use_cache", str(cache))
    assert rerun.status == 0 and rerun.errors() == [], rerun.log[-3000:]
    # the failed request and the turns after it in that episode; everything else came from the cache
    assert server.seen_keys[0] == target
    assert len(server.seen_keys) == baseline.record(task, doc_id)["num_turns"] - turn
    assert scored(rerun) == scored(baseline)


def test_lmms_evals_own_runner_with_an_allowance_and_a_surrogate_answer(server, healthy, chosen, offline_env, tmp_path):
    baseline = healthy[0]
    target, (task, doc_id, _), other, (other_task, other_doc, _) = chosen
    server.reset()
    server.status_for = lambda messages: 500 if message_key(messages) == target else None
    server.answer = lambda messages: SURROGATE if message_key(messages) == other else answer_for(messages)
    try:
        outcome = lmms_eval(server.url, {**offline_env, lockstep.ENABLE_VARIABLE: "0",
                                         faults.MAX_MODEL_ERRORS_VARIABLE: "1"}, tmp_path)
    finally:
        server.heal()
        server.answer = answer_for
    assert outcome.status == 0 and outcome.errors() == [], outcome.log[-3000:]
    assert "ProactiveBench runner: lmms-eval's own agentic runner" in outcome.log
    assert model_errored(outcome) == [(task, doc_id)]
    assert all(len(outcome.samples[name]) == LIMIT for name in TASKS)  # strict JSON, every episode
    assert outcome.record(other_task, other_doc)["turns"][0]["answer"] == SURROGATE
    assert scored(outcome, {(task, doc_id), (other_task, other_doc)}) == scored(baseline, {(task, doc_id), (other_task, other_doc)})
    assert any(line.startswith(f"WARNING ProactiveBench {task}: 1 of {LIMIT}") and "within" in line
               for line in outcome.log.splitlines())


def test_a_dead_server_and_an_unwritable_output_folder(offline_env, tmp_path):
    (tmp_path / "loopback").write_text("a file where lmms-eval puts the model's folder")
    outcome = lmms_eval(refused_url(), offline_env, tmp_path, tasks=("proactive_rod", "proactive_qd"), limit=2)
    assert outcome.status == faults.EXIT_SERVER, outcome.log[-3000:]
    dead, unwritable = outcome.errors()[0], outcome.errors()[1:]
    assert dead.startswith("ERROR ProactiveBench: every request to the model failed (4 episode(s) in 2 task(s))")
    assert "Connection error" in dead and "base_url" in dead
    assert unwritable and all(str(tmp_path / "loopback") in line for line in unwritable)
    assert any("_results.json: File exists; fix: " in line for line in unwritable)
    assert len(unwritable) == 3 and not list(tmp_path.glob("**/*.json*"))  # results and two samples files


def test_a_wrong_model_name_is_reported_once_with_the_status(offline_env, tmp_path):
    with LatencyServer(latency=0.0, status_for=lambda messages: 400) as server:
        outcome = lmms_eval(server.url, offline_env, tmp_path, tasks=("proactive_qd",), limit=2)
    assert outcome.status == faults.EXIT_SERVER
    (line,) = outcome.errors()
    assert "every request to the model failed" in line and "400" in line and "model_version" in line
    assert outcome.results["results"]["proactive_qd"]["errors,none"] == 2.0
