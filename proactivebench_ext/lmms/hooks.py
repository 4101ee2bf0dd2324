"""lmms-eval hooks of the ProactiveBench tasks: docs, each round's image and prompt, scoring.

The tasks use ``output_type: generate_until_agentic``, so every backend that implements
``generate_until`` plays the episodes unchanged. The hooks keep no state: the only thing carried
between rounds is the list of the model's answers so far (in ``previous_round_info``), and each
round replays the pure engine from the doc and those answers (microseconds per turn). At the end
the hook returns the whole episode as one JSON record, which lmms-eval stores as the sample's
response, so ``--log_samples`` files can be read without this package.

What a variant changes (its episodes, what each request holds) lives in
:class:`~.variants.Variant`; the hooks only pass it the doc, the answers and the task's settings
(``lmms_eval_specific_kwargs``: e.g. ``seed``). A request may hold several images (conversation
history, in-context examples): ``doc_to_visual`` and later rounds return them all, in order.

A bad row or image is one errored episode, never a dead run: what counts as a data fault and how
an errored episode is scored lives in :mod:`.faults`; the hooks only route to it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from PIL import Image

from ..core.ablations import Prompt, icl_candidates
from ..core.engine import Episode
from ..core.naming import task_name
from ..core.scenarios import InvalidEntryError, resolve_scenario
from ..core.variants import MAX_AGENTIC_STEPS, get_variant
from ..data.layout import DATA_DIR_ENV, DOWNLOAD_ENV, embedded_data_dir, jsonl_path, resolve_data_dir
from ..data.validate import Fault, TestRow, scan_test_set
from . import faults
from .runtime import api_retries, backends, lmms_eval_version, lockstep, output, provenance
from .runtime.options import refuse_unsafe_caching

Settings = Mapping[str, Any]

RECORD_FORMAT = "proactivebench_episode/1"
MAX_STEPS_ERROR = "max_agentic_steps_reached"

Doc = Mapping[str, Any]


# -- docs --------------------------------------------------------------------------------------
def doc_rows(acronym: str, variant: str, data_dir: str | None = None) -> list[dict[str, str]]:
    """One flat row per test entry: the entry as JSON text plus where it and its images are.

    Entries are kept as JSON strings because their fields differ per scenario, which Arrow
    schemas (lmms-eval passes docs through HF ``datasets``) do not allow. Every entry is played
    to its first turn here; a row that cannot be played stays as a doc carrying its fault
    (:mod:`.faults`), one errored episode, so the rest of the run goes on.
    """
    scenario = resolve_scenario(acronym)
    if scenario.acronym not in get_variant(variant).scenarios:
        raise ValueError(f"variant {variant!r} has no {scenario.acronym} task (scenarios: "
                         f"{', '.join(get_variant(variant).scenarios)})")
    directory = str(resolve_data_dir(data_dir, scenarios=[scenario.acronym]))
    rows = []
    for test_row in scan_test_set(scenario.acronym, directory):
        doc = faults.doc_for(scenario.acronym, variant, directory, test_row)
        fault = None if test_row.fault else _unplayable(doc, test_row)
        rows.append(faults.doc_for(scenario.acronym, variant, directory, test_row, fault) if fault else doc)
    shots = get_variant(variant).icl_shots
    found = len(scenario_candidates(scenario.acronym, directory)) if shots else 0
    if shots and found < shots + 1:
        path = jsonl_path(scenario.acronym, directory)
        fault = Fault(str(path), f"{shots} in-context examples per {scenario.acronym} sample need {shots + 1} rows that "
                                 f"play as solved examples, found {found}",
                      f"use the released {path.name}, or a data folder with more playable rows")
        rows = [faults.doc_for(scenario.acronym, variant, directory, TestRow(path, None, None, None), fault)]
    return rows


def _unplayable(doc: Doc, row: TestRow) -> Fault | None:
    """Why a row that passed the data checks cannot be played in the doc's variant (None if it can)."""
    try:
        episode = episode_from_doc(doc)
    except InvalidEntryError as error:
        return Fault(str(row.path), f"cannot be played in the {doc['variant']} variant: {error.reason}",
                     f"correct the row's {error.field!r} field or remove the row", line=row.line, field=error.field,
                     sample_id=error.sample_id)
    if episode.sample.max_steps > MAX_AGENTIC_STEPS:
        return Fault(str(row.path), f"allows {episode.sample.max_steps} turns, more than max_agentic_steps={MAX_AGENTIC_STEPS}",
                     "raise MAX_AGENTIC_STEPS in proactivebench_ext/core/variants.py and regenerate the task YAMLs",
                     line=row.line, field="max_steps", sample_id=episode.sample.id)
    return None


@lru_cache(maxsize=32)
def scenario_candidates(acronym: str, data_dir: str) -> tuple[Mapping[str, Any], ...]:
    """The scenario's playable test entries that can be solved examples (read once per process)."""
    entries = [row.entry for row in scan_test_set(acronym, data_dir) if row.fault is None and row.entry is not None]
    return tuple(icl_candidates(acronym, entries, data_dir))


def _log_source(acronym: str, count: int, directory: Any) -> None:
    """Say where the episodes come from: the embedded set is synthetic, not the benchmark."""
    try:
        from loguru import logger
    except ImportError:  # only lmms-eval runs log; it ships loguru
        return
    if Path(directory).resolve() == embedded_data_dir().resolve():
        logger.warning(f"ProactiveBench {acronym}: {count} episodes from the embedded SYNTHETIC set, not the "
                       f"benchmark; set {DATA_DIR_ENV} to the released test/ folder or {DOWNLOAD_ENV}=1")
    else:
        logger.info(f"ProactiveBench {acronym}: {count} test episodes from {directory}")


@faults.reported
def process_docs(dataset: Any, variant: str | None = None) -> Any:
    """Expand the task's spec rows (a scenario each) into the test entries of that scenario.

    ``variant`` comes from the leaf's ``process_*_docs`` partial below; spec rows that name their
    own variant (the layout before 0.2) still work. The data directory is resolved here, per run:
    ``$PROACTIVEBENCH_DATA_DIR`` or a download when
    asked (``PROACTIVEBENCH_DOWNLOAD=1``), else the embedded synthetic set.
    """
    import datasets

    provenance.install()  # the results file records where the data came from
    backends.install()  # version-gated fixes of backends the paper's families need (docs/models.md)
    installed = lockstep.install()
    lockstep_on = installed and lockstep.enabled()
    if not installed:
        lockstep.announce_stock_runner(f"the lockstep driver stays off on lmms-eval {lmms_eval_version()}, which it "
                                       "was not tested with")
    output.install()  # whole, strict result files; a failed write fails the run
    api_retries.install()  # max_retries of the openai backends counts every attempt
    refuse_unsafe_caching(sys.argv, allow_response_cache=lockstep_on)
    if lockstep_on:
        lockstep.pin_cache_run_id(sys.argv)
    rows: list[dict[str, str]] = []
    for spec in dataset:
        spec_variant = variant or spec["variant"]
        spec_rows = doc_rows(spec["scenario"], spec_variant)
        _log_source(spec["scenario"], len(spec_rows), spec_rows[0]["data_dir"])
        if all(faults.doc_fault(row) for row in spec_rows):
            faults.note_task_failure(task_name(spec_variant, spec["scenario"]), faults.doc_fault(spec_rows[0]))
        rows.extend(spec_rows)
    return datasets.Dataset.from_list(rows)


# One process_docs per variant, named in the task leaves so a leaf shows which variant it plays
# (lm-evaluation-harness's mmlu_pro idiom); tests/unit/test_lmms_hooks.py checks every leaf names one that exists.
process_main_docs = partial(process_docs, variant="main")
process_reference_docs = partial(process_docs, variant="reference")
process_hint_docs = partial(process_docs, variant="hint")
process_history_docs = partial(process_docs, variant="history")
process_random_docs = partial(process_docs, variant="random")
process_icl1_docs = partial(process_docs, variant="icl1")
process_icl3_docs = partial(process_docs, variant="icl3")
process_icl1cot_docs = partial(process_docs, variant="icl1cot")
process_icl3cot_docs = partial(process_docs, variant="icl3cot")


# -- episodes ----------------------------------------------------------------------------------
def settings_of(doc: Doc, given: Settings | None = None) -> dict[str, Any]:
    """The doc's variant settings: defaults, updated by the task's ``lmms_eval_specific_kwargs``."""
    return get_variant(doc["variant"]).resolve_settings(given)


def episode_from_doc(doc: Doc, settings: Settings | None = None) -> Episode:
    """A fresh episode of the doc's entry, in the doc's variant (reference mode, hint, random options)."""
    variant = get_variant(doc["variant"])
    return variant.episode(doc["scenario"], json.loads(doc["entry"]), doc["data_dir"], variant.resolve_settings(settings))


def examples_for(doc: Doc, settings: Settings | None = None) -> list[tuple[Any, list[Any]]]:
    """The solved examples shown with the doc (ICL variants): (example id, steps)."""
    variant = get_variant(doc["variant"])
    if not variant.icl_shots:
        return []
    return variant.examples(doc["scenario"], scenario_candidates(doc["scenario"], doc["data_dir"]),
                            json.loads(doc["entry"]).get("id"), doc["data_dir"], variant.resolve_settings(settings))


def request_for(doc: Doc, episode: Episode, settings: Settings | None = None) -> Prompt:
    """What the model is sent at the episode's current turn (images in order, one text)."""
    examples = [steps for _, steps in examples_for(doc, settings)]
    return get_variant(doc["variant"]).prompt(episode, examples)


def replay(doc: Doc, answers: Sequence[Any], settings: Settings | None = None) -> Episode:
    """The doc's episode after feeding ``answers`` in order; stops early if it ends."""
    episode = episode_from_doc(doc, settings)
    for answer in answers:
        if episode.done:
            break
        episode.answer(answer)
    return episode


def episode_record(doc: Doc, episode: Episode, *, error: str | None = None,
                   settings: Settings | None = None, fault: Fault | faults.RequestFault | None = None) -> dict[str, Any]:
    """The whole episode as plain JSON: every turn shown, every answer and how it was judged.

    Variants with settings also record them (``settings``: the seed the episode was played
    with), and ICL variants the ids of the solved examples shown (``icl_examples``). An episode
    stopped by a fault (the next request's image could not be shown, or its request got no
    answer) names it in ``fault`` with its ``kind`` (``data`` or ``model``): it is ``errored``, not
    failed, and its turns are the ones played before.
    """
    if fault is not None:
        error = f"{getattr(fault, 'kind', 'data')} fault: {fault.reason}"
    turns = []
    for turn, outcome in episode.history:
        turns.append({
            "index": turn.index,
            "image_path": turn.relative_image_path,
            "crop": list(turn.crop) if turn.crop is not None else None,
            "prompt": turn.prompt,
            "options": list(turn.options),
            "mcqa_prompt": turn.mcqa_prompt,
            "answer": outcome.answer,
            "action_evaluation": outcome.action_evaluation,
            "category_evaluation": outcome.category_evaluation,
            "action": outcome.action,
            "done": outcome.done,
        })
    stats = episode.stats
    error = error or stats.get("error")
    correct = bool(episode.done and episode.correct_prediction and error is None)
    num_turns = len(turns)
    variant = get_variant(doc["variant"])
    extra: dict[str, Any] = {}
    if variant.settings:
        extra["settings"] = variant.resolve_settings(settings)
    if variant.icl_shots:
        extra["icl_examples"] = [example_id for example_id, _ in examples_for(doc, settings)]
    return {
        "format": RECORD_FORMAT,
        "scenario": doc["scenario"],
        "variant": doc["variant"],
        "sample_id": doc["sample_id"],
        "data_dir": doc["data_dir"],
        "target": episode.sample.answer,
        "correct": correct,
        "num_turns": num_turns,
        "num_requests": max(num_turns - 1, 0),
        "error": error,
        "errored": fault is not None,
        "fault": faults.fault_json(fault) if fault is not None else None,
        "turns": turns,
        "stats": stats,
        **extra,
    }


def fault_record(doc: Doc, fault: Fault) -> dict[str, Any]:
    """The record of a doc whose row cannot be played at all: no turn, only its fault."""
    entry = json.loads(doc["entry"])
    target = entry.get("answer") if isinstance(entry, dict) else None
    return {"format": RECORD_FORMAT, "scenario": doc["scenario"], "variant": doc["variant"],
            "sample_id": doc["sample_id"], "data_dir": doc["data_dir"],
            "target": target if isinstance(target, str) else None, "correct": False, "num_turns": 0,
            "num_requests": 0, "error": f"data fault: {fault.reason}", "errored": True, "fault": faults.fault_json(fault),
            "turns": [], "stats": None}


# -- lmms-eval hooks ---------------------------------------------------------------------------
@faults.reported
def doc_to_visual(doc: Doc, lmms_eval_specific_kwargs: Settings | None = None) -> list[Image.Image]:
    """The first request's images: the first turn's image, after any solved examples (later rounds
    pass theirs through ``doc_to_text``); a placeholder for a doc with a data fault."""
    if faults.doc_fault(doc) is not None:
        return faults.placeholder_images()
    settings = settings_of(doc, lmms_eval_specific_kwargs)
    return faults.first_request_images(doc, settings, partial(load_first_request, doc, settings))


def load_first_request(doc: Doc, settings: Settings) -> list[Image.Image] | Fault:
    """The first request's images, or the data fault that keeps one of them from being shown."""
    return faults.load_images(doc, request_for(doc, episode_from_doc(doc, settings), settings).images)


def doc_to_target(doc: Doc) -> str:
    entry = json.loads(doc["entry"])
    answer = entry.get("answer") if isinstance(entry, dict) else None
    return answer if isinstance(answer, str) else ""


@faults.reported
def doc_to_text(doc: Doc, lmms_eval_specific_kwargs: Mapping[str, Any] | None = None,
                previous_output: Sequence[Any] | None = None, round_idx: int | None = None,
                previous_round_info: Mapping[str, Any] | None = None) -> Any:
    """Round 0: the first multiple-choice prompt. Later rounds: judge the last answer, then either
    show the next turn or end with the episode record (lmms-eval's agentic protocol).

    The text is the benchmark's exact ``mcqa_prompt`` (for history and ICL variants, at the end of
    the transcript the variant builds); no per-model pre/post prompt is added, so results stay
    comparable with the paper.
    """
    settings = settings_of(doc, lmms_eval_specific_kwargs)
    fault = faults.doc_fault(doc)
    if not round_idx:
        return faults.placeholder_prompt() if fault else request_for(doc, episode_from_doc(doc, settings), settings).text
    if fault is None and not previous_round_info:  # round 1: could the first request be shown?
        fault = faults.first_request_fault(doc, settings, partial(load_first_request, doc, settings))
    if fault is not None:  # the answer to the placeholder is not played
        return _errored_round(doc, fault, [], settings)
    answers = list(previous_round_info["answers"]) if previous_round_info else []
    latest = previous_output[-1] if previous_output else ""
    failure = faults.request_failure(latest)
    if failure is not None:  # the request got no answer: the episode errors, it is not scored
        return _request_failed_round(doc, answers, failure, latest, settings)
    answers.append(latest if isinstance(latest, str) else ("" if latest is None else str(latest)))
    episode = replay(doc, answers, settings)
    if len(episode.history) != len(answers):
        raise RuntimeError(f"{doc['scenario']} sample {doc['sample_id']}: {len(answers)} answers for an episode that "
                           f"ended after {len(episode.history)} turns; the round state was not carried back")
    # Settings ride along in the state, so a runner's fallback record can be replayed with them.
    carried = {"settings": settings} if settings else {}
    if episode.done:
        record = episode_record(doc, episode, settings=settings)
        info = {"answers": answers, "state": {"done": True, "correct": record["correct"], **carried}}
        return None, None, True, [json.dumps(record, ensure_ascii=False)], info
    turn = episode.observe()
    request = request_for(doc, episode, settings)
    images = faults.load_images(doc, request.images)
    if isinstance(images, Fault):
        return _errored_round(doc, images, answers, settings, episode)
    info = {"answers": answers, "state": {"turn": turn.index, "image_path": turn.relative_image_path, **carried}}
    return images, request.text, False, None, info


def _errored_round(doc: Doc, fault: Fault | faults.RequestFault, answers: list[Any], settings: Settings,
                   episode: Episode | None = None) -> tuple[Any, ...]:
    """The terminal round of an episode stopped by a fault (its data, or a request that got no
    answer): its record, which names the fault."""
    if faults.doc_fault(doc) is not None:
        record = fault_record(doc, fault)
    else:
        record = episode_record(doc, episode or episode_from_doc(doc, settings), settings=settings, fault=fault)
    carried = {"settings": settings} if settings else {}
    info = {"answers": answers, "state": {"done": True, "correct": False, "errored": True, **carried}}
    return None, None, True, [json.dumps(record, ensure_ascii=False)], info


def failed_request_fault(doc: Doc, episode: Episode, failure: faults.RequestFailure, answer: str,
                         settings: Settings | None = None) -> faults.RequestFault:
    """The fault of the episode's next request, which got ``failure`` instead of an answer."""
    turn = episode.observe() if not episode.done else None
    request = request_for(doc, episode, settings).text if turn is not None else ""
    return faults.request_fault(failure, answer, turn.index if turn is not None else None, request,
                                turn.relative_image_path if turn is not None else None)


def _request_failed_round(doc: Doc, answers: list[Any], failure: faults.RequestFailure, answer: str,
                          settings: Settings) -> tuple[Any, ...]:
    """The terminal round of an episode whose request failed: its record, which names the failure."""
    episode = replay(doc, answers, settings)
    return _errored_round(doc, failed_request_fault(doc, episode, failure, answer, settings), answers, settings, episode)


def scored_record(doc: Doc, answers: Sequence[Any], settings: Settings | None = None) -> dict[str, Any]:
    """Score ``answers`` by replaying them on the doc's episode (never trusting a stated verdict)."""
    episode = replay(doc, answers, settings)
    if len(episode.history) < len(answers):
        return episode_record(doc, episode, settings=settings,
                              error=f"{len(answers)} answers for an episode that ended after {len(episode.history)} turns")
    if not episode.done:
        return episode_record(doc, episode, settings=settings,
                              error=f"{MAX_STEPS_ERROR}: the runner stopped after {len(answers)} turns, before the "
                                    "episode ended; raise max_agentic_steps")
    return episode_record(doc, episode, settings=settings)


def _carried_settings(doc: Doc, carried: Any) -> dict[str, Any] | None:
    """The settings a response says the episode was played with; None if they are not valid.

    process_results cannot see the task's settings, so the hook writes them into its record (and
    round state). They only choose which episode the answers are replayed on; nothing else in the
    response is taken as a verdict.
    """
    try:
        return settings_of(doc, carried if isinstance(carried, Mapping) else None)
    except ValueError:
        return None


def record_from_response(doc: Doc, response: Any) -> dict[str, Any]:
    """The scored episode behind a run's final response.

    The final response is normally our record, whose answers are replayed; when lmms-eval's runner
    cut the episode (``max_agentic_steps``), it is the runner's fallback JSON, whose ``trace``
    holds the answers. A model's own text can become the final response only when the runner cut
    the episode, so nothing in it is taken as a verdict: a data fault it names counts only if the
    request it was met on still cannot be loaded.
    """
    fault = faults.doc_fault(doc)
    if fault is not None:
        return fault_record(doc, fault)
    try:
        payload = json.loads(response) if isinstance(response, str) else None
    except json.JSONDecodeError:
        payload = None
    answers, carried = None, None
    if isinstance(payload, dict) and payload.get("format") == RECORD_FORMAT and isinstance(payload.get("turns"), list):
        answers = [turn.get("answer", "") if isinstance(turn, dict) else "" for turn in payload["turns"]]
        carried = payload.get("settings")
    elif isinstance(payload, dict) and payload.get("error") == MAX_STEPS_ERROR and isinstance(payload.get("trace"), list):
        answers, state = payload["trace"], payload.get("state")
        carried = state.get("settings") if isinstance(state, dict) else None
    if answers is not None:
        settings = _carried_settings(doc, carried)
        if settings is not None and faults.is_request_fault(payload.get("fault")):
            errored = _confirmed_request_fault(doc, answers, settings, payload["fault"])
            if errored is not None:
                return errored
        elif settings is not None and payload.get("fault"):
            errored = _confirmed_fault(doc, answers, settings)
            if errored is not None:
                return errored
        if settings is not None:
            return scored_record(doc, answers, settings)
        return episode_record(doc, episode_from_doc(doc), error=f"the record's settings {carried!r} are not valid "
                                                                f"for the {doc['variant']} variant; it cannot be replayed")
    return episode_record(doc, episode_from_doc(doc),
                          error="the final response is not a ProactiveBench episode record; run the task with "
                                "lmms-eval's agentic runner (output_type generate_until_agentic) and enough "
                                "max_agentic_steps")


def _confirmed_fault(doc: Doc, answers: Sequence[Any], settings: Settings) -> dict[str, Any] | None:
    """The errored record of ``answers`` if the request they lead to still cannot be loaded."""
    episode = replay(doc, answers, settings)
    if episode.done or len(episode.history) != len(answers):
        return None
    images = faults.load_images(doc, request_for(doc, episode, settings).images)
    return episode_record(doc, episode, settings=settings, fault=images) if isinstance(images, Fault) else None


def _confirmed_request_fault(doc: Doc, answers: Sequence[Any], settings: Settings,
                             stated: Mapping[str, Any]) -> dict[str, Any] | None:
    """The errored record of ``answers`` if the stated failure text is one and the episode was
    still waiting for that request (turn, request and fix are rebuilt, not read)."""
    failure = faults.request_failure(stated.get("answer"))
    episode = replay(doc, answers, settings)
    if failure is None or episode.done or len(episode.history) != len(answers):
        return None
    fault = failed_request_fault(doc, episode, failure, str(stated["answer"]), settings)
    return episode_record(doc, episode, settings=settings, fault=fault)


@faults.reported
def process_results(doc: Doc, results: Sequence[Any]) -> dict[str, float]:
    """``acc`` (100 for a correct final category, else 0) and ``psr`` (requests made) per episode,
    and ``errors`` (1 for an episode errored on a data or model fault, which has no acc/psr)."""
    response = results[0] if results else ""
    if isinstance(response, list):
        response = response[0] if response else ""
    record = record_from_response(doc, response)
    if record.get("fault"):
        return faults.errored_values(doc, faults.fault_from_json(record["fault"]), answered=record["num_turns"] > 0)
    values = {"acc": 100.0 if record["correct"] else 0.0, "psr": float(record["num_requests"])}
    return faults.played_values({name: values[name] for name in get_variant(doc["variant"]).metrics}, doc)
