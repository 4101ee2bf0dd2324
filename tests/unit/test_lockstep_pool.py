"""The lockstep pool: refilled slots, overlapping calls, and the rule for when calls may overlap.

Every schedule must give the stock runner's per-sample results; these tests drive
:func:`run_lockstep` in-process with backends that record what each call held.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from proactivebench_ext.lmms.runtime import lockstep
from proactivebench_ext.lmms.runtime.lockstep import Schedule, overlap_concurrency, run_lockstep

from .test_lockstep import TASKS, FirstCallableBackend, agentic_requests


def stock_runner():
    from lmms_eval.evaluator import _run_generate_until_agentic as current

    return getattr(current, "__wrapped_stock__", current)


class RecordingBackend(FirstCallableBackend):
    """Records, per call, which episodes (task, doc id) it held."""

    def __init__(self, task_dict: dict[str, Any]):
        super().__init__(task_dict)
        self.held: list[list[tuple[str, int]]] = []

    def generate_until(self, requests):
        self.held.append([(request.args[4], request.args[3]) for request in requests])
        return super().generate_until(requests)


class ConcurrentBackend(RecordingBackend):
    """Thread-safe, like an API client: counts requests in flight across calls; the first two
    calls wait for each other, so a schedule that never overlaps calls fails here."""

    def __init__(self, task_dict: dict[str, Any], latency: float = 0.005):
        super().__init__(task_dict)
        self.latency, self.in_flight, self.peak = latency, 0, 0
        self.lock = threading.Lock()
        self.first_two = threading.Barrier(2, timeout=10)

    def generate_until(self, requests):
        with self.lock:
            call = len(self.held)
            self.held.append([(request.args[4], request.args[3]) for request in requests])
            self.in_flight += len(requests)
            self.peak = max(self.peak, self.in_flight)
        if call < 2:
            self.first_two.wait()
        time.sleep(self.latency)
        replies = FirstCallableBackend.generate_until(self, requests)
        with self.lock:
            self.in_flight -= len(requests)
        return replies


def in_play(held: list[list[tuple[str, int]]]) -> list[int]:
    """Episodes started and not yet done at each call (from each episode's first and last call)."""
    first, last = {}, {}
    for position, call in enumerate(held):
        for episode in call:
            first.setdefault(episode, position)
            last[episode] = position
    return [sum(first[e] <= position <= last[e] for e in first) for position in range(len(held))]


@pytest.mark.parametrize("pool", [1, 3, 5, 256])
@pytest.mark.parametrize("refill", [True, False])
def test_every_pool_size_gives_the_stock_runners_results(pool, refill):
    task_dict, requests = agentic_requests()
    expected = stock_runner()(FirstCallableBackend(task_dict), requests)
    backend = RecordingBackend(task_dict)
    assert run_lockstep(backend, requests, schedule=Schedule(pool=pool, refill=refill)) == expected
    for call in backend.held:
        assert len({task for task, _ in call}) == 1 and len(set(call)) == len(call) <= pool
    assert max(in_play(backend.held)) <= pool
    assert sum(map(len, backend.held)) == sum(backend.calls)


def admitted_in_play(monkeypatch, schedule: Schedule) -> list[int]:
    """Episodes admitted and not yet ended just before each call, with every admission logged."""
    task_dict, requests = agentic_requests()
    events: list[tuple[str, Any]] = []
    admit = lockstep._Play.of

    def logged_admit(request, lm, index=-1):
        events.append(("admit", (request.args[5], request.args[4])))
        return admit(request, lm, index=index)

    class Logged(FirstCallableBackend):
        def generate_until(self, requests):
            events.append(("call", [(request.args[4], request.args[3]) for request in requests]))
            return super().generate_until(requests)

    monkeypatch.setattr(lockstep._Play, "of", staticmethod(logged_admit))
    run_lockstep(Logged(task_dict), requests, schedule=schedule)
    last_call = {episode: position for position, (kind, what) in enumerate(events) if kind == "call" for episode in what}
    counts = []
    for position, (kind, _) in enumerate(events):
        if kind == "call":
            admitted = {what for kind_, what in events[:position] if kind_ == "admit"}
            counts.append(sum(last_call[episode] >= position for episode in admitted))
    assert sum(kind == "admit" for kind, _ in events) == len(requests)
    return counts


def test_a_finished_episodes_slot_is_refilled_at_once_across_tasks(monkeypatch):
    total = len(agentic_requests()[1])
    pool = admitted_in_play(monkeypatch, Schedule(pool=5))
    windows = admitted_in_play(monkeypatch, Schedule(pool=5, refill=False))
    # The pool stays full until its queue is empty (then it only drains); a window drains first.
    full_until = next(position for position, count in enumerate(pool) if count < 5)
    assert max(pool) == 5 and all(count < 5 for count in pool[full_until:])
    assert sorted(pool[full_until:], reverse=True) == pool[full_until:]
    assert full_until >= (total - 5) // 5
    assert max(windows) == 5 and sorted(windows, reverse=True) != windows  # drained to few, then refilled


def test_overlapping_calls_keep_at_most_the_concurrency_in_flight():
    task_dict, requests = agentic_requests()
    expected = stock_runner()(FirstCallableBackend(task_dict), requests)
    backend = ConcurrentBackend(task_dict)
    assert run_lockstep(backend, requests, schedule=Schedule(pool=256, concurrency=6)) == expected
    assert 1 < backend.peak <= 6  # the first two calls ran at once (the barrier), never above 6 requests
    for call in backend.held:
        assert len({task for task, _ in call}) == 1 and len(set(call)) == len(call)
    assert {task for call in backend.held[:2] for task, _ in call} == set(list(TASKS)[:2])  # oldest first


def test_calls_overlap_only_for_backends_known_to_be_thread_safe(monkeypatch):
    from lmms_eval.models.chat.openai import OpenAICompatible as Chat
    from lmms_eval.models.simple.openai import OpenAICompatible as Simple

    monkeypatch.delenv(lockstep.CONCURRENCY_VARIABLE, raising=False)
    chat = Chat(base_url="http://127.0.0.1:9/v1", api_key="unused", num_concurrent=12)
    simple = Simple(base_url="http://127.0.0.1:9/v1", api_key="unused", num_concurrent=3)
    assert overlap_concurrency(chat)[0] == 12 and overlap_concurrency(simple)[0] == 3
    assert overlap_concurrency(chat, response_cache=object())[0] == 0  # the cache is bound to one thread
    adaptive = Chat(base_url="http://127.0.0.1:9/v1", api_key="unused", num_concurrent=12, adaptive_concurrency=True)
    assert overlap_concurrency(adaptive)[0] == 0
    assert overlap_concurrency(Chat(base_url="http://127.0.0.1:9/v1", api_key="unused", num_concurrent=1))[0] == 0

    class Wrapped(Chat):  # a subclass with its own generate_until is not vouched for
        def generate_until(self, requests):
            return super().generate_until(requests)

    count, reason = overlap_concurrency(Wrapped(base_url="http://127.0.0.1:9/v1", api_key="unused"))
    assert count == 0 and lockstep.CONCURRENCY_VARIABLE in reason
    assert overlap_concurrency(FirstCallableBackend({}))[0] == 0
    monkeypatch.setenv(lockstep.CONCURRENCY_VARIABLE, "5")
    assert overlap_concurrency(FirstCallableBackend({}))[0] == 5
    monkeypatch.setenv(lockstep.CONCURRENCY_VARIABLE, "0")
    assert overlap_concurrency(chat)[0] == 0
    monkeypatch.setenv(lockstep.CONCURRENCY_VARIABLE, "many")
    with pytest.raises(ValueError, match=lockstep.CONCURRENCY_VARIABLE):
        overlap_concurrency(chat)


def test_pool_size_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(lockstep.POOL_VARIABLE, "7")
    assert lockstep.schedule_for(FirstCallableBackend({})).pool == 7
    monkeypatch.setenv(lockstep.POOL_VARIABLE, "0")
    with pytest.raises(ValueError, match=lockstep.POOL_VARIABLE):
        lockstep.schedule_for(FirstCallableBackend({}))
