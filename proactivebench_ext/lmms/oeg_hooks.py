"""lmms-eval hooks of the open-ended (OEG) tasks: single-turn, hinted, and multi-turn.

Docs are the MCQA tasks' rows (:func:`.hooks.doc_rows`), sampled as the benchmark does: 100 per
scenario after ``random.seed(0); random.shuffle``. The model sees the first turn's image and the
bare question (no options; hinted tasks append the benchmark's generic OEG hint).

Single-turn: the sample's ``target`` is the judge's input (question + valid answers) as JSON, so
a ``--predict_only`` log holds all the judge phase needs. ``process_results`` judges inline only
when a judge endpoint is configured (:func:`.judge_client.judge_configured`); otherwise it logs
the answer as unjudged, to be scored later by ``python -m proactivebench_ext judge LOGDIR``.

Multi-turn (paper Table 10): each round the judge maps the free answer onto the shown options
(:func:`..judge.mapping_messages`), the episode engine plays the mapped option, and the next
turn's image and question follow, as in lmms-eval's agentic protocol. Round state lives only in
``previous_round_info`` (fresh dicts each round).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from loguru import logger

from ..core.constants import load_benchmark
from ..core.engine import Episode, Turn
from ..core.naming import task_name
from ..core.variants import OEG_VARIANTS
from ..data.jsonio import dumps_strict
from ..data.validate import Fault
from ..judge.client import JudgeClient, JudgeError, JudgeSettings, how_to_configure, judge_configured
from ..judge.phase import (
    ERRORED,
    JUDGED,
    MALFORMED,
    UNJUDGED,
    OegInput,
    group_mean,
    judge_answer,
    judged_text,
    mapped_answer,
    mapping_messages,
    mean_of_judged,
    new_record,
    parse_mapping,
    record_values,
)
from ..judge.prompts import strip_reasoning
from . import faults, hooks
from .runtime import api_retries, output, provenance
from .runtime.options import refuse_unsafe_caching

Doc = Mapping[str, Any]
MULTITURN_FORMAT = "proactivebench_oeg_multiturn/1"
NOT_JUDGED_YET = "no judge configured during generation; score with `python -m proactivebench_ext judge LOGDIR`"

__all__ = ["process_docs", "doc_to_visual", "doc_to_text", "doc_to_target", "process_results", "mean_of_judged",
           "group_mean", "count", "doc_to_text_multiturn", "process_results_multiturn"]


# -- docs --------------------------------------------------------------------------------------
def sample_oeg(rows: Sequence[dict[str, str]], size: int) -> list[dict[str, str]]:
    """The benchmark's draw: ``random.seed(0); random.shuffle(rows); rows[:size]``, on a copy."""
    shuffled = list(rows)
    random.Random(0).shuffle(shuffled)
    return shuffled[:size]


def oeg_rows(acronym: str, oeg_variant: str, data_dir: str | None = None) -> list[dict[str, str]]:
    if oeg_variant not in OEG_VARIANTS:
        raise KeyError(f"unknown OEG variant {oeg_variant!r}; known: {', '.join(OEG_VARIANTS)} "
                       "(proactivebench_ext/core/variants.py)")
    rows = sample_oeg(hooks.doc_rows(acronym, "main", data_dir), load_benchmark().judge.samples_per_scenario)
    return [{**row, "oeg_variant": oeg_variant} for row in rows]


def require_judge(needed: bool) -> None:
    """Fail before generation if the judge is needed (multi-turn) or configured, and unusable."""
    if needed and not judge_configured():
        raise JudgeError(f"proactivebench_oeg_multiturn tasks consult the judge at every turn: {how_to_configure()}")
    if judge_configured():
        JudgeClient(JudgeSettings.from_env()).check_reachable()


@faults.reported
def process_docs(dataset: Any, oeg_variant: str | None = None) -> Any:
    """Expand the spec rows (a scenario each) into the sampled test entries of ``oeg_variant``
    (from the leaf's partial below; spec rows naming their own ``oeg_variant`` still work)."""
    import datasets

    provenance.install()  # the results file records where the data came from
    output.install()  # whole, strict result files; a failed write fails the run
    api_retries.install()  # max_retries of the openai backends counts every attempt
    specs = [{**spec, "oeg_variant": oeg_variant or spec["oeg_variant"]} for spec in dataset]
    multiturn = any(OEG_VARIANTS[spec["oeg_variant"]].multiturn for spec in specs if spec["oeg_variant"] in OEG_VARIANTS)
    if multiturn:
        refuse_unsafe_caching(sys.argv)
    require_judge(multiturn)
    rows = []
    for spec in specs:
        spec_rows = oeg_rows(spec["scenario"], spec["oeg_variant"])
        if all(faults.doc_fault(row) for row in spec_rows):
            faults.note_task_failure(task_name(spec["oeg_variant"], spec["scenario"]), faults.doc_fault(spec_rows[0]))
        rows.extend(spec_rows)
    return datasets.Dataset.from_list(rows)


process_oeg_docs = partial(process_docs, oeg_variant="oeg")
process_oeg_hint_docs = partial(process_docs, oeg_variant="oeg_hint")
process_oeg_multiturn_docs = partial(process_docs, oeg_variant="oeg_multiturn")


# -- single turn -------------------------------------------------------------------------------
def open_prompt(doc: Doc, turn: Turn) -> str:
    """The question as the model sees it in OEG: no options; the generic hint in hinted tasks."""
    if not OEG_VARIANTS[doc["oeg_variant"]].hint:
        return turn.prompt
    spec = load_benchmark().judge
    return f"{turn.prompt}{spec.hint_joiner}{spec.hint}"


def oeg_input(doc: Doc) -> OegInput:
    episode = hooks.episode_from_doc(doc)
    return OegInput(doc["scenario"], doc["sample_id"], open_prompt(doc, episode.observe()), episode.open_ended_answers())


doc_to_visual = hooks.doc_to_visual


@faults.reported
def doc_to_text(doc: Doc, lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    return faults.placeholder_prompt() if faults.doc_fault(doc) else oeg_input(doc).prompt


def doc_to_target(doc: Doc) -> str:
    if faults.doc_fault(doc):  # still a judge input, so a --predict_only log stays readable
        return OegInput(doc["scenario"], doc["sample_id"], faults.placeholder_prompt(), "").to_target()
    return oeg_input(doc).to_target()


def _data_fault(doc: Doc) -> Fault | None:
    """The doc's data fault: its row's, or that of the first turn's image (see :mod:`.faults`)."""
    return faults.doc_fault(doc) or faults.first_request_fault(doc, {}, partial(hooks.load_first_request, doc, {}))


def _errored(doc: Doc, fault: Fault | faults.RequestFault, answered: bool = False) -> dict[str, Any]:
    kind = getattr(fault, "kind", "data")
    return {**faults.errored_values(doc, fault, answered),
            "oeg_judge": {"status": ERRORED, "error": f"{kind} fault: {fault.reason}", "fault": faults.fault_json(fault)}}


def _text(response: Any) -> str:
    while isinstance(response, list):
        response = response[0] if response else ""
    return "" if response is None else str(response)


@faults.reported
def process_results(doc: Doc, results: Sequence[Any]) -> dict[str, Any]:
    """Per-metric values (100/0, None when unjudged), the counts, and the whole judge record; for an
    episode errored on a data fault, ``errors`` and the fault only."""
    fault = _data_fault(doc)
    if fault is not None:
        return _errored(doc, fault)
    answer, judge_in = _text(results), oeg_input(doc)
    failure = faults.request_failure(answer)  # the request got no answer: a model fault, never judged
    if failure is not None:
        return _errored(doc, faults.request_fault(failure, answer, 0, judge_in.prompt, None))
    if judge_configured():
        settings = JudgeSettings.from_env()
        try:
            record = judge_answer(JudgeClient(settings), judge_in, answer)
        except JudgeError as error:  # never lose the generation: log it unjudged
            logger.error(f"OEG judge failed on {doc['scenario']} sample {doc['sample_id']}: {error}")
            record = {**new_record(judge_in, answer, settings.model), "error": str(error)}
    else:
        record = {**new_record(judge_in, answer, None), "error": NOT_JUDGED_YET}
    judged = record["status"] == JUDGED
    return {**faults.played_values({}, doc), **record_values(record), "unjudged": float(not judged),
            "malformed": float(judged and not record["well_formed"]), "oeg_judge": record}


def count(items: Sequence[float]) -> float:
    """Aggregation of the unjudged/malformed indicators: how many."""
    return float(sum(items))


# -- multi turn --------------------------------------------------------------------------------
def map_turn(doc: Doc, episode: Episode, model_output: str) -> dict[str, Any]:
    """Ask the judge which shown option the free answer is, and decide what the episode is fed."""
    turn = episode.observe()
    # cut and cleaned as single-turn answers are (judged_text): no HTTP client sends a lone surrogate
    messages = mapping_messages(turn.prompt, turn.options, judged_text(strip_reasoning(model_output))[0])
    step: dict[str, Any] = {"index": turn.index, "model_output": model_output, "status": UNJUDGED, "raw_output": None,
                            "mapping": None, "option_index": None, "fed_answer": None, "how": None, "error": None}
    try:
        raw_output = JudgeClient(JudgeSettings.from_env()).complete(messages)
    except JudgeError as error:
        logger.error(f"OEG multi-turn judge failed on {doc['scenario']} sample {doc['sample_id']}: {error}")
        return {**step, "error": str(error)}
    mapping = parse_mapping(raw_output, len(turn.options))
    seed = f"proactivebench_oeg_multiturn|{doc['scenario']}|{doc['sample_id']}|{turn.index}"
    fed, how = mapped_answer(turn.options, episode.correct_now()[0], mapping, seed)
    return {**step, "status": JUDGED, "raw_output": raw_output, "mapping": mapping.kind, "option_index": mapping.index,
            "fed_answer": fed, "how": how}


def multiturn_record(doc: Doc, episode: Episode, steps: list[dict[str, Any]],
                     fault: Fault | faults.RequestFault | None = None) -> dict[str, Any]:
    unjudged = any(step["status"] != JUDGED for step in steps)
    error = next((step["error"] for step in steps if step["error"]), None)
    record = hooks.episode_record(doc, episode, error=f"unjudged: {error}" if unjudged else None, fault=fault)
    return {**record, "format": MULTITURN_FORMAT, "oeg_turns": steps, "unjudged": unjudged,
            "malformed": sum(1 for step in steps if step["mapping"] == MALFORMED)}


def dump_record(record: Mapping[str, Any]) -> str:
    """The record as the episode's final response, with ``<`` escaped (``\\u003c``, still plain JSON):
    lmms-eval strips ``<think>...</think>`` spans from responses, which would cut the judge's
    logged reasoning out of the record."""
    return dumps_strict(record, nan="null", default=str).replace("<", "\\u003c")  # any string: surrogates escaped


@faults.reported
def doc_to_text_multiturn(doc: Doc, lmms_eval_specific_kwargs: Mapping[str, Any] | None = None,
                          previous_output: Sequence[Any] | None = None, round_idx: int | None = None,
                          previous_round_info: Mapping[str, Any] | None = None) -> Any:
    """Round 0: the first turn's open question. Later: map the last answer, play it, then show the
    next turn or end with the episode record (agentic protocol)."""
    if not round_idx:
        return faults.placeholder_prompt() if faults.doc_fault(doc) else hooks.episode_from_doc(doc).observe().prompt
    if not previous_round_info:  # round 1: could the first turn be shown?
        fault = _data_fault(doc)
        if fault is not None:
            record = (hooks.fault_record(doc, fault) if faults.doc_fault(doc)
                      else multiturn_record(doc, hooks.episode_from_doc(doc), [], fault))
            info = {"answers": [], "steps": [], "state": {"done": True, "correct": False, "errored": True}}
            return None, None, True, [dump_record({**record, "format": MULTITURN_FORMAT})], info
    answers = list(previous_round_info["answers"]) if previous_round_info else []
    steps = [dict(step) for step in previous_round_info["steps"]] if previous_round_info else []
    episode = hooks.replay(doc, answers)
    latest = _text(previous_output[-1] if previous_output else "")
    failure = faults.request_failure(latest)
    if failure is not None:  # the request got no answer: a model fault, never sent to the judge
        record = multiturn_record(doc, episode, steps, _request_fault(episode, failure, latest))
        info = {"answers": answers, "steps": steps, "state": {"done": True, "correct": False, "errored": True}}
        return None, None, True, [dump_record(record)], info
    step = map_turn(doc, episode, latest)
    steps.append(step)
    if step["status"] == JUDGED:
        answers.append(step["fed_answer"])
        episode.answer(step["fed_answer"])
    if episode.done or step["status"] != JUDGED:
        record = multiturn_record(doc, episode, steps)
        info = {"answers": answers, "steps": steps, "state": {"done": True, "correct": record["correct"]}}
        return None, None, True, [dump_record(record)], info
    turn = episode.observe()
    images = faults.load_images(doc, [turn])
    if isinstance(images, Fault):
        record = multiturn_record(doc, episode, steps, images)
        info = {"answers": answers, "steps": steps, "state": {"done": True, "correct": False, "errored": True}}
        return None, None, True, [dump_record(record)], info
    info = {"answers": answers, "steps": steps, "state": {"turn": turn.index, "image_path": turn.relative_image_path}}
    return images, turn.prompt, False, None, info


@faults.reported
def process_results_multiturn(doc: Doc, results: Sequence[Any]) -> dict[str, Any]:
    """``acc`` (100/0) and ``psr`` (requests) per judged episode, None if the judge failed mid-episode."""
    try:
        record = json.loads(_text(results))
    except json.JSONDecodeError:
        record = None
    if faults.doc_fault(doc):
        return _errored(doc, faults.doc_fault(doc))  # type: ignore[arg-type]
    if isinstance(record, dict) and record.get("format") == MULTITURN_FORMAT and faults.is_request_fault(record.get("fault")):
        stated = _confirmed_request_fault(doc, record)
        if stated is not None:
            return _errored(doc, stated, answered=bool(record.get("turns")))
    elif isinstance(record, dict) and record.get("format") == MULTITURN_FORMAT and record.get("fault"):
        confirmed = _confirmed_fault(doc, record)
        if confirmed is not None:
            return _errored(doc, confirmed)
    if not isinstance(record, dict) or record.get("format") != MULTITURN_FORMAT:
        logger.error(f"{doc['scenario']} sample {doc['sample_id']}: the final response is not a multi-turn OEG record "
                     "(run with lmms-eval's agentic runner and enough max_agentic_steps); counted unjudged")
        return {**faults.played_values({}, doc), "acc": None, "psr": None, "unjudged": 1.0, "malformed": 0.0}
    unjudged = bool(record["unjudged"])
    return {**faults.played_values({}, doc), "acc": None if unjudged else (100.0 if record["correct"] else 0.0),
            "psr": None if unjudged else float(record["num_requests"]),
            "unjudged": float(unjudged), "malformed": float(record["malformed"])}


def _request_fault(episode: Episode, failure: faults.RequestFailure, answer: str) -> faults.RequestFault:
    turn = episode.observe()
    return faults.request_fault(failure, answer, turn.index, turn.prompt, turn.relative_image_path)


def _confirmed_request_fault(doc: Doc, record: Mapping[str, Any]) -> faults.RequestFault | None:
    """The request fault a multi-turn record names, if its failure text is one and the episode was
    still waiting for that request (turn and request rebuilt from the doc)."""
    answer = record["fault"].get("answer")
    failure = faults.request_failure(answer)
    answers = [turn.get("answer", "") for turn in record.get("turns", []) if isinstance(turn, dict)]
    episode = hooks.replay(doc, answers)
    if failure is None or episode.done or len(episode.history) != len(answers):
        return None
    return _request_fault(episode, failure, str(answer))


def _confirmed_fault(doc: Doc, record: Mapping[str, Any]) -> Fault | None:
    """The fault a multi-turn record names, if the turn it stopped at still cannot be shown."""
    answers = [turn.get("answer", "") for turn in record.get("turns", []) if isinstance(turn, dict)]
    episode = hooks.replay(doc, answers)
    if episode.done or len(episode.history) != len(answers):
        return None
    images = faults.load_images(doc, [episode.observe()])
    return images if isinstance(images, Fault) else None
