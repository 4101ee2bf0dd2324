"""The lockstep driver: same results as lmms-eval's own agentic runner, far fewer backend calls.

Unit tests drive both runners in-process with a backend that, like many real ones, builds the
whole batch from the first request's callables; end-to-end tests compare real lmms-eval runs
with the driver on and off, and resume a killed ``--use_cache`` run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from proactivebench_ext.lmms import hooks
from proactivebench_ext.lmms.runtime import lockstep

from ..lmms_runs import PINNED_CACHE_VERSION, run_lmms_eval


def _responses(run) -> dict[str, list[str]]:
    return {task: [sample["filtered_resps"] for sample in samples] for task, samples in run.samples.items()}


MODELS = [["--model", "proactive_oracle"], ["--model", "proactive_random", "--model_args", "seed=5"]]
SMALL_POOL = {lockstep.POOL_VARIABLE: "5"}  # fewer slots than episodes: slots are refilled across tasks


@pytest.mark.parametrize("model_args", MODELS)
def test_lmms_eval_results_are_identical_with_and_without_lockstep(model_args, offline_env, tmp_path):
    args = [*model_args, "--tasks", "proactivebench"]
    sequential = run_lmms_eval(args, {**offline_env, lockstep.ENABLE_VARIABLE: "0"}, tmp_path / "sequential")
    batched = run_lmms_eval(args, {**offline_env, **SMALL_POOL}, tmp_path / "lockstep", processes=1)
    assert "ProactiveBench runner: lockstep" in batched.log  # the log names the runner in either mode
    assert "ProactiveBench runner: lmms-eval's own agentic runner" in sequential.log
    assert "ProactiveBench runner: lockstep" not in sequential.log
    assert _responses(batched) == _responses(sequential)
    assert batched.results["results"] == sequential.results["results"]


@pytest.mark.parametrize("model_args", MODELS)
def test_two_processes_in_lockstep_match_one_sequential_process(model_args, offline_env, tmp_path):
    args = [*model_args, "--tasks", "proactivebench", "--limit", "3"]
    sequential = run_lmms_eval(args, {**offline_env, lockstep.ENABLE_VARIABLE: "0"}, tmp_path / "one")
    two = run_lmms_eval(args, {**offline_env, **SMALL_POOL}, tmp_path / "two", processes=2)
    assert _responses(two) == _responses(sequential)
    assert all(len(samples) == 3 for samples in two.samples.values())


def test_killed_use_cache_run_resumes_without_calling_the_model_again(offline_env, tmp_path):
    calls, cache = tmp_path / "calls.log", tmp_path / "cache"
    offline_env = {**offline_env, **PINNED_CACHE_VERSION}
    model_args = f"seed=2,delay=0.15,call_log={calls}"
    args = ["--model", "proactive_random", "--model_args", model_args, "--tasks", "proactivebench", "--use_cache", str(cache)]
    out = tmp_path / "killed"
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "lmms_eval", *args, "--log_samples", "--output_path", str(out)],
                            env=offline_env, cwd=out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and (not calls.exists() or len(calls.read_text().splitlines()) < 20):
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before_kill = len(calls.read_text().splitlines())
    assert before_kill >= 20 and not list(out.glob("**/*_results.json"))

    resumed = run_lmms_eval(args, offline_env, tmp_path / "resumed")
    after_resume = len(calls.read_text().splitlines()) - before_kill
    fresh = run_lmms_eval(["--model", "proactive_random", "--model_args", "seed=2", "--tasks", "proactivebench"],
                          offline_env, tmp_path / "fresh")
    total_rounds = sum(json.loads(s["filtered_resps"])["num_turns"] for samples in fresh.samples.values() for s in samples)
    assert _responses(resumed) == _responses(fresh)
    # Rounds answered before the kill came from the cache; at most the in-flight call is redone.
    assert after_resume < total_rounds
    assert after_resume + before_kill <= total_rounds + max_wave(fresh)


def max_wave(run) -> int:
    return max(len(samples) for samples in run.samples.values())


def test_tiny_gemma3_batched_through_the_unmodified_backend(offline_env, tmp_path):
    """A real batched backend (lmms-eval's ``gemma3``, batch 8): lockstep runs every round as one
    call and gives the sequential runner's episodes, up to bf16 batch-padding numerics."""
    from ..tiny_batch_model import build_tiny_gemma3

    model = build_tiny_gemma3(tmp_path / "gemma3", size="small", letters_only=4)
    args = ["--model", "gemma3", "--model_args", f"pretrained={model},device=cpu,device_map=cpu", "--batch_size", "8",
            "--tasks", "proactive_rod,proactive_qd", "--limit", "4", "--gen_kwargs", "max_new_tokens=4"]
    sequential = run_lmms_eval(args, {**offline_env, lockstep.ENABLE_VARIABLE: "0"}, tmp_path / "sequential")
    batched = run_lmms_eval(args, offline_env, tmp_path / "lockstep")
    records = {task: [json.loads(r) for r in responses] for task, responses in _responses(batched).items()}
    assert all(len(episodes) == 4 and all(e["format"] == hooks.RECORD_FORMAT for e in episodes) for episodes in records.values())
    assert max(e["num_turns"] for episodes in records.values() for e in episodes) > 1  # later rounds ran batched
    pairs = [(a, b) for task in records for a, b in zip(_responses(sequential)[task], _responses(batched)[task])]
    identical = sum(a == b for a, b in pairs) / len(pairs)
    print(f"tiny gemma3, batch 8: {identical:.0%} of episodes identical between sequential and lockstep")
    assert identical >= 0.75
