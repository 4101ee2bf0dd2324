"""Model faults, processor faults and output faults, in-process (issue 21).

The lockstep runner is driven with backends that fail the way real ones do (a call that raises
for one request, lmms-eval's failure text, no response, transformers' image processor raising on
an empty crop); scoring, the end-of-run report and the output writer are checked directly.
tests/integration/test_model_faults.py runs the same cases through ``python -m lmms_eval``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from proactivebench_ext.data.jsonio import loads_strict
from proactivebench_ext.lmms import faults, hooks
from proactivebench_ext.lmms.runtime import api_retries, lockstep, output
from proactivebench_ext.lmms.runtime.lockstep import run_lockstep

from .test_lockstep import FirstCallableBackend, agentic_requests

SENTINEL = "[LMMS_EVAL_REQUEST_FAILED after 2 retries] Error code: 500 - {'error': 'boom'}"


def episodes(responses: list[str]) -> list[dict[str, Any]]:
    return [json.loads(response) for response in responses]


class FailingBackend(FirstCallableBackend):
    """Fails every request of one episode (task, doc id) the way ``mode`` says; answers the rest."""

    def __init__(self, task_dict: dict[str, Any], victim: tuple[str, int], mode: str, *, from_round: int = 0):
        super().__init__(task_dict)
        self.victim, self.mode, self.from_round = victim, mode, from_round
        self.answered: dict[tuple[str, int], int] = {}  # rounds each episode got an answer for

    def generate_until(self, requests):
        replies = super().generate_until(requests)
        held = [(request.args[4], request.args[3]) for request in requests]
        if self.victim in held and self.answered.get(self.victim, 0) >= self.from_round:
            if self.mode == "raise":
                raise RuntimeError("Error code: 503 - backend overloaded")
            if self.mode == "processor":
                from PIL import Image
                from transformers import CLIPImageProcessor

                CLIPImageProcessor()(images=[Image.new("RGB", (8, 8)).crop((2, 2, 2, 6))])  # raises inside transformers
            replies[held.index(self.victim)] = {"sentinel": SENTINEL, "none": None}[self.mode]
        for episode in held:
            self.answered[episode] = self.answered.get(episode, 0) + 1
        return replies


@pytest.fixture(scope="module")
def setup():
    task_dict, requests = agentic_requests()
    healthy = episodes(run_lockstep(FirstCallableBackend(task_dict), requests))
    multi_turn = next(i for i, record in enumerate(healthy) if record["num_turns"] > 1)
    victim = (requests[multi_turn].args[5], requests[multi_turn].args[4])
    return task_dict, requests, healthy, multi_turn, victim


@pytest.mark.parametrize("mode", ["sentinel", "none", "raise", "processor"])
def test_a_failing_request_errors_its_episode_only(setup, mode):
    task_dict, requests, healthy, index, victim = setup
    backend = FailingBackend(task_dict, victim, mode, from_round=1)
    got = episodes(run_lockstep(backend, requests))
    for position, (before, after) in enumerate(zip(healthy, got)):
        if position != index:
            assert after == before
    record = got[index]
    kind = "data" if mode == "processor" else "model"
    assert record["errored"] and record["fault"]["kind"] == kind and record["num_turns"] == 1
    assert record["turns"] == healthy[index]["turns"][:1] and record["fault"]["turn"] == healthy[index]["turns"][1]["index"]
    assert record["fault"]["request"] == healthy[index]["turns"][1]["mcqa_prompt"]
    reason = record["fault"]["reason"]
    assert {"sentinel": "Error code: 500", "none": "no response", "raise": "RuntimeError: Error code: 503",
            "processor": "processor rejected the image (ZeroDivisionError"}[mode] in reason
    doc = task_dict[victim[0]]["test"][victim[1]]
    values = hooks.process_results(doc, [json.dumps(record)])
    assert values == {faults.ERRORS: 1.0}  # no acc, no psr


def test_scoring_checks_a_stated_request_fault():
    task_dict, requests = agentic_requests()
    doc = task_dict["proactive_rod"]["test"][0]
    record = json.loads(run_lockstep(FirstCallableBackend(task_dict), requests[:1])[0])
    episode = hooks.replay(doc, [])
    stated = hooks.failed_request_fault(doc, episode, faults.RequestFailure("model", "x"), "A", None).to_json()
    spoofed = {**record, "turns": [], "fault": stated}  # "A" is an answer, not a failure text
    assert "acc" in hooks.process_results(doc, [json.dumps(spoofed)])
    stated["answer"] = SENTINEL
    assert hooks.process_results(doc, [json.dumps({**spoofed, "fault": stated})]) == {faults.ERRORS: 1.0}


def test_failure_texts_and_fixes():
    assert faults.request_failure(SENTINEL) == faults.RequestFailure("model", SENTINEL)
    assert faults.request_failure("[LMMS_EVAL_BUDGET_EXCEEDED]").kind == "model"
    assert faults.request_failure(faults.failure_answer("data", "bad\nimage")) == faults.RequestFailure("data", "bad image")
    for answer in ("A", "", None, "I think [LMMS_EVAL_REQUEST_FAILED", 3):
        assert faults.request_failure(answer) is None
    assert "api_key" in faults.server_fix("Error code: 401 - unauthorized")
    assert "model_version" in faults.server_fix("Error code: 404 - no such model")
    assert "model_version" in faults.server_fix("[LMMS_EVAL_REQUEST_FAILED after 1 retries] Error code: 400 - {}")
    assert "num_concurrent" in faults.server_fix("Error code: 429 - slow down")
    assert "base_url" in faults.server_fix("[LMMS_EVAL_REQUEST_FAILED after 1 retries] Connection error.")
    assert "see its log" in faults.server_fix("Error code: 502 - bad gateway")


def test_exceptions_from_image_preprocessing_are_data_faults():
    from PIL import Image
    from transformers import CLIPImageProcessor

    try:
        CLIPImageProcessor()(images=[Image.new("RGB", (8, 8)).crop((2, 2, 2, 6))])
    except ZeroDivisionError as error:
        assert faults.raised_by_image_processing(error)
        assert faults.request_failure(faults.exception_answer(error)).kind == "data"
    from qwen_vl_utils import process_vision_info  # the qwen2_5_vl backend's first step: a 1x250 crop fails there

    with pytest.raises(ValueError, match="aspect ratio") as raised:
        process_vision_info([{"role": "user", "content": [{"type": "image", "image": Image.new("RGB", (1, 250))}]}])
    assert faults.request_failure(faults.exception_answer(raised.value)).kind == "data"
    try:
        raise RuntimeError("CUDA out of memory") from ValueError("inner")
    except RuntimeError as error:
        assert not faults.raised_by_image_processing(error)
        assert faults.request_failure(faults.exception_answer(error)) == faults.RequestFailure(
            "model", "RuntimeError: CUDA out of memory")


def request_fault(turn: int = 0, reason: str = "Error code: 500") -> faults.RequestFault:
    return faults.request_fault(faults.RequestFailure("model", reason), "x", turn, "prompt", None)


def test_the_report_fails_a_task_above_the_allowance():
    report = faults._RunReport()
    for _ in range(3):
        report.played("proactive_rod")
    report.errored("proactive_rod", request_fault(1), answered=True)
    report.played("proactive_qd")
    warnings, errors, status = report.lines({})
    assert status == faults.EXIT_FAULTS and warnings == []
    assert errors == ["ProactiveBench proactive_rod: 1 of 4 episode(s) errored on model faults (the request failed), "
                      "excluded from acc/psr and counted in `errors`; above PROACTIVEBENCH_MAX_MODEL_ERRORS=0; last: "
                      "turn 1: Error code: 500; fix: the server failed: see its log; rerun with --use_cache to retry "
                      "only the failed requests"]
    assert report.lines({faults.MAX_MODEL_ERRORS_VARIABLE: "0.25"})[2] == faults.EXIT_OK
    assert report.lines({faults.MAX_MODEL_ERRORS_VARIABLE: "0.2"})[2] == faults.EXIT_FAULTS
    warnings, errors, status = report.lines({faults.MAX_MODEL_ERRORS_VARIABLE: "1"})
    assert status == faults.EXIT_OK and errors == [] and "within PROACTIVEBENCH_MAX_MODEL_ERRORS=1" in warnings[0]
    warnings, errors, status = report.lines({faults.MAX_MODEL_ERRORS_VARIABLE: "abc"})
    assert status == faults.EXIT_FAULTS and "PROACTIVEBENCH_MAX_MODEL_ERRORS='abc'" in errors[0]


def test_a_server_that_fails_every_request_is_reported_once():
    report = faults._RunReport()
    for task in ("proactive_rod", "proactive_qd"):
        for _ in range(2):
            report.errored(task, request_fault(0, "Connection error."))
    warnings, errors, status = report.lines({faults.MAX_MODEL_ERRORS_VARIABLE: "1"})
    assert status == faults.EXIT_SERVER and warnings == [] and len(errors) == 1
    assert errors[0].startswith("ProactiveBench: every request to the model failed (4 episode(s) in 2 task(s))")
    assert "base_url" in errors[0]
    report.output_error("/out/x_results.json", "No space left on device")
    assert report.lines({})[1][-1].startswith("ProactiveBench: could not write /out/x_results.json: No space left")


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan", "half"])
def test_a_bad_allowance_is_refused(value):
    with pytest.raises(ValueError, match=f"{faults.MAX_MODEL_ERRORS_VARIABLE}='{value}'"):
        faults.max_model_errors({faults.MAX_MODEL_ERRORS_VARIABLE: value})
    assert faults.max_model_errors({}) == 0.0


# -- output ----------------------------------------------------------------------------------------
@dataclass
class Config:
    model_name_sanitized: str = "model"
    ended: bool = False

    def log_end_time(self) -> None:
        self.ended = True


def tracker(path: Path) -> SimpleNamespace:
    return SimpleNamespace(output_path=str(path), general_config_tracker=Config(), api=None)


def sample(doc_id: int, answer: str) -> dict[str, Any]:
    return {"doc_id": doc_id, "doc": {"x": 1}, "target": "t", "arguments": [["prompt"]], "resps": [[answer]],
            "filtered_resps": [answer], "doc_hash": "h", "acc": float("nan")}


def test_results_and_samples_are_strict_whole_files(tmp_path):
    assert output.install()
    saver = tracker(tmp_path)
    results = {"results": {"proactive_rod": {"acc,none": float("nan"), "acc_stderr,none": float("inf")}}}
    output.save_results_aggregated(saver, results, {"proactive_rod": [sample(0, "a")]}, "2026-01-01T00:00:00")
    output.save_results_samples(saver, "proactive_rod", [sample(0, "\ud800 lone"), sample(1, "B")])
    folder = tmp_path / "model"
    written = loads_strict((folder / "2026-01-01T00-00-00_results.json").read_bytes())
    assert written["results"]["proactive_rod"] == {"acc,none": None, "acc_stderr,none": None}
    rows = [loads_strict(line) for line in (folder / "2026-01-01T00-00-00_samples_proactive_rod.jsonl").read_bytes().splitlines()]
    assert [row["filtered_resps"] for row in rows] == ["\ud800 lone", "B"] and rows[0]["acc"] is None
    assert "doc" not in rows[0] and rows[0]["input"] == ["prompt"]
    assert sorted(path.name for path in folder.iterdir()) == ["2026-01-01T00-00-00_results.json",
                                                              "2026-01-01T00-00-00_samples_proactive_rod.jsonl"]


def test_an_unwritable_output_is_an_error_not_a_log_line(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "_report", faults._RunReport())
    (tmp_path / "model").write_text("in the way")
    saver = tracker(tmp_path)
    output.save_results_aggregated(saver, {"results": {}}, None, "d")
    output.save_results_samples(saver, "proactive_rod", [sample(0, "A")])
    _, errors, status = faults._report.lines({})
    assert status == faults.EXIT_FAULTS and len(errors) == 2
    assert errors[0].startswith(f"ProactiveBench: could not write {tmp_path / 'model' / 'd_results.json'}: ")


def test_the_sdk_retries_are_switched_off_on_lmms_evals_openai_client():
    import openai
    from lmms_eval.models.chat.openai import OpenAICompatible

    backend = object.__new__(OpenAICompatible)
    backend.client = openai.OpenAI(api_key="EMPTY", base_url="http://127.0.0.1:9/v1")
    assert backend.client.max_retries == 2
    assert api_retries.pin_client_retries(backend) and backend.client.max_retries == 0
    assert not api_retries.pin_client_retries(backend)  # once
    other = SimpleNamespace(client=openai.OpenAI(api_key="EMPTY", base_url="http://127.0.0.1:9/v1"))
    assert not api_retries.pin_client_retries(other) and other.client.max_retries == 2


def test_the_stock_runner_notes_a_backend_exception(monkeypatch):
    monkeypatch.setattr(faults, "_report", faults._RunReport())
    monkeypatch.setenv(lockstep.ENABLE_VARIABLE, "0")
    task_dict, requests = agentic_requests()

    def stock(lm, reqs, **_):
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        lockstep.make_runner(stock)(FirstCallableBackend(task_dict), requests[:1])
    assert "ZeroDivisionError" in faults._report.lines({})[1][0]


def test_failures_and_unencodable_answers_never_enter_the_response_cache(setup, tmp_path):
    from lmms_eval.caching.response_cache import ResponseCache

    task_dict, requests, healthy, index, victim = setup
    surrogate_episode = next(i for i, request in enumerate(requests) if request.args[5] != victim[0])

    answered_oddly = (requests[surrogate_episode].args[5], requests[surrogate_episode].args[4])

    class Backend(FailingBackend):
        def generate_until(self, batch):
            replies = super().generate_until(batch)
            return ["\ud800" if (request.args[4], request.args[3]) == answered_oddly else reply
                    for request, reply in zip(batch, replies)]

    def cache() -> ResponseCache:
        return ResponseCache(str(tmp_path / "cache.db"), str(tmp_path / "audit.jsonl"))

    first = Backend(task_dict, victim, "sentinel", from_round=1)
    got = episodes(run_lockstep(first, requests, response_cache=cache()))
    assert got[index]["fault"]["kind"] == "model"
    assert got[surrogate_episode]["turns"][0]["answer"] == "\ud800" and not got[surrogate_episode]["errored"]
    healed = FirstCallableBackend(task_dict)
    again = episodes(run_lockstep(healed, requests, response_cache=cache()))
    assert again == healthy
    # asked again: the failed request and the turns after it, and the episode whose answer was not stored
    assert sum(healed.calls) == healthy[index]["num_turns"] - 1 + healthy[surrogate_episode]["num_turns"]


def test_a_failed_request_in_an_open_ended_task_is_errored_not_judged(monkeypatch):
    from proactivebench_ext.lmms import oeg_hooks

    monkeypatch.setattr(faults, "_report", faults._RunReport())
    doc = oeg_hooks.oeg_rows("ROD", "oeg")[0]
    values = oeg_hooks.process_results(doc, [SENTINEL])
    assert values[faults.ERRORS] == 1.0 and "unjudged" not in values
    assert values["oeg_judge"]["status"] == oeg_hooks.ERRORED and values["oeg_judge"]["fault"]["kind"] == "model"
    assert faults._report.lines({})[2] == faults.EXIT_SERVER  # the only episode's only request failed


def test_open_ended_episodes_that_were_answered_count_as_played(monkeypatch):
    from proactivebench_ext.lmms import oeg_hooks

    monkeypatch.setattr(faults, "_report", faults._RunReport())
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_INLINE", "0")  # generation only: the answer is logged unjudged
    docs = oeg_hooks.oeg_rows("ROD", "oeg")[:2]
    oeg_hooks.process_results(docs[0], [SENTINEL])
    oeg_hooks.process_results(docs[1], ["A banana."])
    _, errors, status = faults._report.lines({})
    assert status == faults.EXIT_FAULTS and errors[0].startswith("ProactiveBench proactivebench_oeg_rod: 1 of 2 episode(s)")


def test_the_pin_also_covers_single_turn_calls_and_keeps_the_backend_vetted(monkeypatch):
    import openai
    from lmms_eval.models.chat.openai import OpenAICompatible

    stock = OpenAICompatible.__dict__["generate_until"]
    monkeypatch.setattr(OpenAICompatible, "generate_until", stock)
    assert api_retries.install() and api_retries.install()  # once, then already in place
    wrapped = OpenAICompatible.__dict__["generate_until"]
    assert wrapped is not stock and wrapped.__wrapped__ is stock
    backend = object.__new__(OpenAICompatible)
    backend.client = openai.OpenAI(api_key="EMPTY", base_url="http://127.0.0.1:9/v1")
    backend.num_concurrent, backend.adaptive_concurrency = 4, False
    assert backend.generate_until([]) == [] and backend.client.max_retries == 0
    assert lockstep.overlap_concurrency(backend)[0] == 4  # still known as lmms-eval's thread-safe openai backend


def test_a_bad_pool_setting_that_reaches_the_runner_fails_the_run(monkeypatch):
    monkeypatch.setattr(faults, "_report", faults._RunReport())
    monkeypatch.setenv(lockstep.POOL_VARIABLE, "abc")  # refused at start too (runtime.environment)
    task_dict, requests = agentic_requests()
    with pytest.raises(ValueError, match=lockstep.POOL_VARIABLE):
        lockstep.make_runner(lambda *a, **k: [])(FirstCallableBackend(task_dict), requests[:1])
    _, errors, status = faults._report.lines({})
    assert status == faults.EXIT_FAULTS and "the lockstep runner: ValueError" in errors[0]


def test_a_failed_request_in_a_multi_turn_open_ended_episode_is_errored_not_mapped(monkeypatch):
    from proactivebench_ext.lmms import oeg_hooks

    monkeypatch.setattr(faults, "_report", faults._RunReport())
    doc = oeg_hooks.oeg_rows("ROD", "oeg_multiturn")[0]
    _, _, terminal, outputs, info = oeg_hooks.doc_to_text_multiturn(doc, previous_output=[SENTINEL], round_idx=1)
    record = json.loads(outputs[0])
    assert terminal and info["state"]["errored"] and record["fault"]["kind"] == "model" and record["oeg_turns"] == []
    assert record["fault"]["request"] == hooks.episode_from_doc(doc).observe().prompt  # the open question sent
    values = oeg_hooks.process_results_multiturn(doc, [outputs[0]])
    assert values[faults.ERRORS] == 1.0 and "acc" not in values and values["oeg_judge"]["fault"]["kind"] == "model"
    record["fault"]["answer"] = "A banana."  # not a failure text: not taken as a model fault
    assert oeg_hooks.process_results_multiturn(doc, [json.dumps(record)])[faults.ERRORS] == 0.0


def test_any_exception_cutting_or_loading_an_image_is_a_data_fault(monkeypatch):
    task_dict, _ = agentic_requests()
    doc = task_dict["proactive_coco"]["test"][0]

    def cut(ref, short_edge=None, data_dir=None):
        raise ValueError("Coordinate 'right' is less than 'left'")  # what PIL says about an inverted box

    monkeypatch.setattr(faults, "load_turn_image", cut)
    ref = SimpleNamespace(image_path="coco2014/val2014/x.jpg", crop=(5, 0, 1, 4), short_edge=None)
    fault = faults.load_images(doc, [ref])
    assert isinstance(fault, faults.Fault) and fault.field == "image" and fault.file == "coco2014/val2014/x.jpg"
    assert "ValueError: Coordinate 'right' is less than 'left'" in fault.reason and "check-data" in fault.fix
