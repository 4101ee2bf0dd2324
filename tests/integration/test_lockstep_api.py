"""API-served models through the lockstep pool: lmms-eval's unmodified ``openai`` backend.

A loopback OpenAI-compatible server (fixed latency, a deterministic option letter per request)
stands in for o4-mini / GPT-4.1 or a vLLM/SGLang server. Overlapping calls must give the stock
runner's samples, keep at most ``num_concurrent`` requests in flight, and ``--use_cache`` must
still replay every round (calls then go one at a time).
"""

from __future__ import annotations

from proactivebench_ext.lmms.runtime import lockstep
from proactivebench_ext.testing.openai_server import LatencyServer

from ..lmms_runs import PINNED_CACHE_VERSION, run_lmms_eval
from .test_lockstep import _responses

CONCURRENCY = 4


def openai_args(server: LatencyServer, *extra: str) -> list[str]:
    return ["--model", "openai", "--model_args",
            f"model_version=latency-server,base_url={server.url},api_key=EMPTY,num_concurrent={CONCURRENCY}",
            "--tasks", "proactivebench", "--limit", "3", *extra]


def test_overlapping_openai_calls_match_the_sequential_runner(offline_env, tmp_path):
    with LatencyServer(latency=0.5) as server:
        sequential = run_lmms_eval(openai_args(server), {**offline_env, lockstep.ENABLE_VARIABLE: "0"}, tmp_path / "seq")
        alone = server.stats()
        server.reset()
        overlapped = run_lmms_eval(openai_args(server), offline_env, tmp_path / "lockstep")
        together = server.stats()
    assert _responses(overlapped) == _responses(sequential)
    assert all(len(samples) == 3 for samples in overlapped.samples.values()) and len(overlapped.samples) == 7
    assert together.requests == alone.requests and alone.peak_in_flight == 1
    assert 1 < together.peak_in_flight <= CONCURRENCY
    assert f"overlapping calls, up to {CONCURRENCY} requests in flight" in overlapped.log


def test_openai_run_with_use_cache_replays_every_round(offline_env, tmp_path):
    cache = str(tmp_path / "cache")
    offline_env = {**offline_env, **PINNED_CACHE_VERSION}
    with LatencyServer(latency=0.0) as server:
        fresh = run_lmms_eval(openai_args(server), offline_env, tmp_path / "fresh")
        asked = server.stats().requests
        server.reset()
        first = run_lmms_eval(openai_args(server, "--use_cache", cache), offline_env, tmp_path / "first")
        assert server.stats().requests == asked
        server.reset()
        again = run_lmms_eval(openai_args(server, "--use_cache", cache), offline_env, tmp_path / "again")
        assert server.stats().requests == 0  # every round came from the cache
    assert _responses(first) == _responses(again) == _responses(fresh)
    assert "one call at a time: --use_cache" in first.log
