"""The lockstep driver: same results as lmms-eval's own agentic runner, far fewer backend calls.

Unit tests drive both runners in-process with a backend that, like many real ones, builds the
whole batch from the first request's callables; end-to-end tests compare real lmms-eval runs
with the driver on and off, and resume a killed ``--use_cache`` run.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from typing import Any

import pytest
from lmms_eval.api.instance import Instance

from proactivebench_ext.lmms import hooks
from proactivebench_ext.lmms.baselines import parse_options
from proactivebench_ext.lmms.runtime import lockstep
from proactivebench_ext.lmms.runtime.lockstep import _waves, round_idx_key, run_lockstep
from proactivebench_ext.lmms.runtime.options import UnsupportedOptionError

TASKS = {"proactive_rod": "ROD", "proactive_cit": "CIT", "proactive_coco": "COCO"}
GEN_KWARGS = {"max_new_tokens": 50, "temperature": 0, "do_sample": False, "until": [], "max_agentic_steps": 1000}


class FirstCallableBackend:
    """A backend with a common flaw: every request of a batch is resolved with the first one's
    ``doc_to_visual`` and task. Its answer depends on the image it sees and on the prompt."""

    is_simple = True
    rank = 0

    def __init__(self, task_dict: dict[str, Any]):
        self.task_dict = task_dict
        self.calls: list[int] = []

    def generate_until(self, requests: list[Instance]) -> list[str]:
        self.calls.append(len(requests))
        contexts, _, doc_to_visual, doc_ids, tasks, splits = zip(*(request.args for request in requests))
        task, split = tasks[0], splits[0]
        visuals = [doc_to_visual[0](self.task_dict[task][split][doc_id]) for doc_id in doc_ids]
        replies = []
        for context, images in zip(contexts, visuals):
            options = parse_options(context)
            digest = hashlib.sha1(images[0].tobytes() + context.encode()).digest()
            replies.append(options[digest[0] % len(options)])
        return replies


def agentic_requests() -> tuple[dict[str, Any], list[Instance]]:
    task_dict, requests = {}, []
    for task, acronym in TASKS.items():
        docs = hooks.doc_rows(acronym, "main")
        task_dict[task] = {"test": docs}
        for doc_id, doc in enumerate(docs):
            arguments = (hooks.doc_to_text(doc), dict(GEN_KWARGS), hooks.doc_to_visual,
                         partial(hooks.doc_to_text, lmms_eval_specific_kwargs=None), doc_id, task, "test")
            requests.append(Instance("generate_until_agentic", arguments, idx=0,
                                     metadata={"task": task, "doc_id": doc_id, "repeats": 1}))
    return task_dict, requests



def test_lockstep_matches_the_stock_runner_with_a_first_callable_backend():
    from lmms_eval.evaluator import _run_generate_until_agentic as current

    stock = getattr(current, "__wrapped_stock__", current)
    task_dict, requests = agentic_requests()
    sequential, batched = FirstCallableBackend(task_dict), FirstCallableBackend(task_dict)
    expected = stock(sequential, requests)
    got = run_lockstep(batched, requests)
    assert got == expected  # so every request of a batch saw its own episode's image and prompt
    records = [json.loads(response) for response in got]
    assert all(record["format"] == hooks.RECORD_FORMAT for record in records)
    turns = sum(record["num_turns"] for record in records)
    assert sum(sequential.calls) == turns == sum(batched.calls)
    assert set(sequential.calls) == {1}
    assert len(batched.calls) == sum(max(r["num_turns"] for r, q in zip(records, requests) if q.task_name == task)
                                     for task in TASKS)
    assert max(r["num_turns"] for r in records) > 1  # later rounds were exercised


def test_waves_never_mix_tasks_or_repeat_a_doc():
    task_dict, requests = agentic_requests()
    lm = FirstCallableBackend(task_dict)
    plays = [lockstep._Play.of(request, lm) for request in requests]
    plays.append(lockstep._Play.of(requests[0], lm))  # rank padding repeats a request
    waves = _waves(plays)
    for wave in waves:
        assert len({play.task_name for play in wave}) == 1
        assert len({play.doc_key for play in wave}) == len(wave)
    assert sum(len(wave) for wave in waves) == len(plays) and len(waves) == len(TASKS) + 1


def test_round_keys_depend_on_round_and_image():
    from PIL import Image

    red, blue = Image.new("RGB", (4, 4), "red"), Image.new("RGB", (4, 4), "blue")
    assert round_idx_key(1, [red]) == round_idx_key(1, [red.copy()])
    assert len({round_idx_key(0, [red]), round_idx_key(1, [red]), round_idx_key(1, [blue])}) == 3
    assert 0 <= round_idx_key(7, [red]) < 2**31


def test_only_our_requests_are_routed(monkeypatch):
    task_dict, requests = agentic_requests()
    foreign = Instance("generate_until_agentic", (*requests[0].args[:3], partial(json.dumps), *requests[0].args[4:]),
                       idx=0, metadata={"task": "proactive_rod", "doc_id": 0, "repeats": 1})
    seen: list[list[Any]] = []
    runner = lockstep.make_runner(lambda lm, reqs, **_: seen.append(reqs) or ["stock"] * len(reqs))
    responses = runner(FirstCallableBackend(task_dict), [foreign, requests[1]])
    assert seen == [[foreign]] and responses[0] == "stock"
    assert json.loads(responses[1])["format"] == hooks.RECORD_FORMAT
    monkeypatch.setenv(lockstep.ENABLE_VARIABLE, "0")
    assert runner(FirstCallableBackend(task_dict), [requests[1]]) == ["stock"]
    with pytest.raises(UnsupportedOptionError, match="--use_cache"):
        runner(FirstCallableBackend(task_dict), [requests[1]], response_cache=object())
