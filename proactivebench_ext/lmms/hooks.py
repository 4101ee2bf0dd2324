"""lmms-eval hooks of the ProactiveBench tasks: docs, each round's image and prompt, scoring.

The tasks use ``output_type: generate_until_agentic``, so every backend that implements
``generate_until`` plays the episodes unchanged. The hooks keep no state: the only thing carried
between rounds is the list of the model's answers so far (in ``previous_round_info``), and each
round replays the pure engine from the doc and those answers (microseconds per turn). At the end
the hook returns the whole episode as one JSON record, which lmms-eval stores as the sample's
response, so ``--log_samples`` files can be read without this package.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

from PIL import Image

from .. import new_episode
from ..data import DATA_DIR_ENV, DOWNLOAD_ENV, DataError, embedded_data_dir, load_test_set, resolve_data_dir
from ..engine import Episode
from ..images import load_turn_image
from ..scenarios import InvalidEntryError, resolve_scenario
from . import lockstep
from .variants import MAX_AGENTIC_STEPS, get_variant

RECORD_FORMAT = "proactivebench_episode/1"
MAX_STEPS_ERROR = "max_agentic_steps_reached"

Doc = Mapping[str, Any]


class UnsupportedOptionError(RuntimeError):
    """An lmms-eval option that would silently corrupt ProactiveBench results."""


# -- docs --------------------------------------------------------------------------------------
def refuse_unsafe_caching(argv: Sequence[str], *, allow_response_cache: bool = False) -> None:
    """Refuse lmms-eval's caches where they cannot tell the rounds of one episode apart.

    ``--use_cache`` keys a response by (task, doc, prompt text) without the image, and every
    round of lmms-eval's own agentic runner has idx 0: rounds with the same prompt (most ROD/VSOD
    turns) would replay the first round's answer. Our lockstep driver keys each round by its
    images, so ``allow_response_cache`` is set when it is in place. ``--cache_requests`` pickles
    requests and loses the per-round hook. Checked on the command line because the hooks cannot
    see lmms-eval's options.
    """
    for position, arg in enumerate(argv):
        flag, equals, value = arg.partition("=")
        if not equals:
            value = argv[position + 1] if position + 1 < len(argv) else ""
        if flag == "--use_cache" and not allow_response_cache:
            raise UnsupportedOptionError(
                "ProactiveBench tasks cannot run with --use_cache: lmms-eval's response cache keys "
                "agentic rounds by prompt text without the image, so two turns of one episode with the "
                "same question would share one answer. Drop --use_cache, or leave the lockstep driver on "
                "(unset PROACTIVEBENCH_LOCKSTEP), which keys each round by its images.")
        if flag == "--cache_requests" and value != "delete":
            raise UnsupportedOptionError(
                "ProactiveBench tasks cannot run with --cache_requests: the cached requests lose the "
                "per-round hook of multi-turn tasks. Drop --cache_requests.")


def doc_rows(acronym: str, variant: str, data_dir: str | None = None) -> list[dict[str, str]]:
    """One flat row per test entry: the entry as JSON text plus where its images are.

    Entries are kept as JSON strings because their fields differ per scenario, which Arrow
    schemas (lmms-eval passes docs through HF ``datasets``) do not allow. Every entry is played
    to its first turn here, so a malformed dataset fails before the model runs.
    """
    get_variant(variant)
    scenario = resolve_scenario(acronym)
    directory = resolve_data_dir(data_dir, scenarios=[scenario.acronym])
    entries = load_test_set(scenario.acronym, directory)
    if not entries:
        raise DataError(f"no {scenario.acronym} test entries in {directory}; check the data directory "
                        "(`python -m proactivebench_ext check-data DIR`)")
    rows = []
    for entry in entries:
        row = {"scenario": scenario.acronym, "variant": variant, "sample_id": str(entry.get("id")),
               "data_dir": str(directory), "entry": json.dumps(entry, ensure_ascii=False)}
        try:
            episode = episode_from_doc(row)
        except InvalidEntryError as error:
            raise DataError(f"{directory}: {error}; fix or remove that row "
                            "(`python -m proactivebench_ext check-data DIR` lists every problem)") from None
        if episode.sample.max_steps > MAX_AGENTIC_STEPS:
            raise DataError(f"{scenario.acronym} sample {row['sample_id']} allows {episode.sample.max_steps} turns, "
                            f"more than max_agentic_steps={MAX_AGENTIC_STEPS}; raise MAX_AGENTIC_STEPS in "
                            "proactivebench_ext/lmms/variants.py and regenerate the task YAMLs")
        rows.append(row)
    return rows


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


def process_docs(dataset: Any) -> Any:
    """Expand the task's spec rows (scenario + variant) into the test entries of that scenario.

    The data directory is resolved here, per run: ``$PROACTIVEBENCH_DATA_DIR`` or a download when
    asked (``PROACTIVEBENCH_DOWNLOAD=1``), else the embedded synthetic set.
    """
    import datasets

    lockstep_on = lockstep.install() and lockstep.enabled()
    refuse_unsafe_caching(sys.argv, allow_response_cache=lockstep_on)
    if lockstep_on:
        lockstep.pin_cache_run_id(sys.argv)
    rows: list[dict[str, str]] = []
    for spec in dataset:
        spec_rows = doc_rows(spec["scenario"], spec["variant"])
        _log_source(spec["scenario"], len(spec_rows), spec_rows[0]["data_dir"])
        rows.extend(spec_rows)
    return datasets.Dataset.from_list(rows)


# -- episodes ----------------------------------------------------------------------------------
def episode_from_doc(doc: Doc) -> Episode:
    """A fresh episode of the doc's entry, in the doc's variant (e.g. reference mode)."""
    variant = get_variant(doc["variant"])
    return new_episode(doc["scenario"], json.loads(doc["entry"]), doc["data_dir"], **variant.episode_kwargs)


def replay(doc: Doc, answers: Sequence[Any]) -> Episode:
    """The doc's episode after feeding ``answers`` in order; stops early if it ends."""
    episode = episode_from_doc(doc)
    for answer in answers:
        if episode.done:
            break
        episode.answer(answer)
    return episode


def episode_record(doc: Doc, episode: Episode, *, error: str | None = None) -> dict[str, Any]:
    """The whole episode as plain JSON: every turn shown, every answer and how it was judged."""
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
        "turns": turns,
        "stats": stats,
    }


# -- lmms-eval hooks ---------------------------------------------------------------------------
def doc_to_visual(doc: Doc) -> list[Image.Image]:
    """The first turn's image (later rounds pass theirs through ``doc_to_text``)."""
    return [load_turn_image(episode_from_doc(doc).observe())]


def doc_to_target(doc: Doc) -> str:
    return json.loads(doc["entry"])["answer"]


def doc_to_text(doc: Doc, lmms_eval_specific_kwargs: Mapping[str, Any] | None = None,
                previous_output: Sequence[Any] | None = None, round_idx: int | None = None,
                previous_round_info: Mapping[str, Any] | None = None) -> Any:
    """Round 0: the first multiple-choice prompt. Later rounds: judge the last answer, then either
    show the next turn or end with the episode record (lmms-eval's agentic protocol).

    The prompt is always the benchmark's exact ``mcqa_prompt``; no per-model pre/post prompt is
    added, so results stay comparable with the paper.
    """
    if not round_idx:
        return episode_from_doc(doc).observe().mcqa_prompt
    answers = list(previous_round_info["answers"]) if previous_round_info else []
    latest = previous_output[-1] if previous_output else ""
    answers.append(latest if isinstance(latest, str) else ("" if latest is None else str(latest)))
    episode = replay(doc, answers)
    if len(episode.history) != len(answers):
        raise RuntimeError(f"{doc['scenario']} sample {doc['sample_id']}: {len(answers)} answers for an episode that "
                           f"ended after {len(episode.history)} turns; the round state was not carried back")
    if episode.done:
        record = episode_record(doc, episode)
        info = {"answers": answers, "state": {"done": True, "correct": record["correct"]}}
        return None, None, True, [json.dumps(record, ensure_ascii=False)], info
    turn = episode.observe()
    info = {"answers": answers, "state": {"turn": turn.index, "image_path": turn.relative_image_path}}
    return [load_turn_image(turn)], turn.mcqa_prompt, False, None, info


def scored_record(doc: Doc, answers: Sequence[Any]) -> dict[str, Any]:
    """Score ``answers`` by replaying them on the doc's episode (never trusting a stated verdict)."""
    episode = replay(doc, answers)
    if len(episode.history) < len(answers):
        return episode_record(doc, episode, error=f"{len(answers)} answers for an episode that ended after "
                                                  f"{len(episode.history)} turns")
    if not episode.done:
        return episode_record(doc, episode, error=f"{MAX_STEPS_ERROR}: the runner stopped after {len(answers)} "
                                                  "turns, before the episode ended; raise max_agentic_steps")
    return episode_record(doc, episode)


def record_from_response(doc: Doc, response: Any) -> dict[str, Any]:
    """The scored episode behind a run's final response.

    The final response is normally our record, whose answers are replayed; when lmms-eval's runner
    cut the episode (``max_agentic_steps``), it is the runner's fallback JSON, whose ``trace``
    holds the answers. A model's own text can become the final response only when the runner cut
    the episode, so nothing in it is taken as a verdict.
    """
    try:
        payload = json.loads(response) if isinstance(response, str) else None
    except json.JSONDecodeError:
        payload = None
    if isinstance(payload, dict) and payload.get("format") == RECORD_FORMAT and isinstance(payload.get("turns"), list):
        return scored_record(doc, [turn.get("answer", "") if isinstance(turn, dict) else "" for turn in payload["turns"]])
    if isinstance(payload, dict) and payload.get("error") == MAX_STEPS_ERROR and isinstance(payload.get("trace"), list):
        return scored_record(doc, payload["trace"])
    return episode_record(doc, episode_from_doc(doc),
                          error="the final response is not a ProactiveBench episode record; run the task with "
                                "lmms-eval's agentic runner (output_type generate_until_agentic) and enough "
                                "max_agentic_steps")


def process_results(doc: Doc, results: Sequence[Any]) -> dict[str, float]:
    """``acc`` (100 for a correct final category, else 0) and ``psr`` (requests made) per episode."""
    response = results[0] if results else ""
    if isinstance(response, list):
        response = response[0] if response else ""
    record = record_from_response(doc, response)
    values = {"acc": 100.0 if record["correct"] else 0.0, "psr": float(record["num_requests"])}
    return {name: values[name] for name in get_variant(doc["variant"]).metrics}
