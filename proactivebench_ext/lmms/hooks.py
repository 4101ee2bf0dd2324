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
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Mapping, Sequence

from PIL import Image

from ..core.ablations import Prompt, icl_candidates, load_prompt_images
from ..data.errors import DataError
from ..data.layout import DATA_DIR_ENV, DOWNLOAD_ENV, embedded_data_dir, load_test_set, resolve_data_dir
from ..core.engine import Episode
from ..core.scenarios import InvalidEntryError, resolve_scenario
from .runtime import lockstep
from .runtime.options import refuse_unsafe_caching
from ..core.variants import MAX_AGENTIC_STEPS, get_variant

Settings = Mapping[str, Any]

RECORD_FORMAT = "proactivebench_episode/1"
MAX_STEPS_ERROR = "max_agentic_steps_reached"

Doc = Mapping[str, Any]


# -- docs --------------------------------------------------------------------------------------
def doc_rows(acronym: str, variant: str, data_dir: str | None = None) -> list[dict[str, str]]:
    """One flat row per test entry: the entry as JSON text plus where its images are.

    Entries are kept as JSON strings because their fields differ per scenario, which Arrow
    schemas (lmms-eval passes docs through HF ``datasets``) do not allow. Every entry is played
    to its first turn here, so a malformed dataset fails before the model runs.
    """
    scenario = resolve_scenario(acronym)
    if scenario.acronym not in get_variant(variant).scenarios:
        raise ValueError(f"variant {variant!r} has no {scenario.acronym} task (scenarios: "
                         f"{', '.join(get_variant(variant).scenarios)})")
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
    shots = get_variant(variant).icl_shots
    if shots and len(scenario_candidates(scenario.acronym, str(directory))) < shots + 1:
        raise DataError(f"{directory}: {shots} in-context examples per {scenario.acronym} sample need {shots + 1} entries "
                        f"that play as solved examples, found {len(scenario_candidates(scenario.acronym, str(directory)))}")
    return rows


@lru_cache(maxsize=32)
def scenario_candidates(acronym: str, data_dir: str) -> tuple[Mapping[str, Any], ...]:
    """The scenario's test entries that can be solved examples (read once per process)."""
    return tuple(icl_candidates(acronym, load_test_set(acronym, data_dir), data_dir))


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


def process_docs(dataset: Any, variant: str | None = None) -> Any:
    """Expand the task's spec rows (a scenario each) into the test entries of that scenario.

    ``variant`` comes from the leaf's ``process_*_docs`` partial below; spec rows that name their
    own variant (the layout before 0.2) still work. The data directory is resolved here, per run:
    ``$PROACTIVEBENCH_DATA_DIR`` or a download when
    asked (``PROACTIVEBENCH_DOWNLOAD=1``), else the embedded synthetic set.
    """
    import datasets

    lockstep_on = lockstep.install() and lockstep.enabled()
    refuse_unsafe_caching(sys.argv, allow_response_cache=lockstep_on)
    if lockstep_on:
        lockstep.pin_cache_run_id(sys.argv)
    rows: list[dict[str, str]] = []
    for spec in dataset:
        spec_rows = doc_rows(spec["scenario"], variant or spec["variant"])
        _log_source(spec["scenario"], len(spec_rows), spec_rows[0]["data_dir"])
        rows.extend(spec_rows)
    return datasets.Dataset.from_list(rows)


# One process_docs per variant, named in the task leaves so a leaf shows which variant it plays
# (lm-evaluation-harness's mmlu_pro idiom); tools/generate_tasks.py checks each variant has one.
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
                   settings: Settings | None = None) -> dict[str, Any]:
    """The whole episode as plain JSON: every turn shown, every answer and how it was judged.

    Variants with settings also record them (``settings``: the seed the episode was played
    with), and ICL variants the ids of the solved examples shown (``icl_examples``).
    """
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
        "turns": turns,
        "stats": stats,
        **extra,
    }


# -- lmms-eval hooks ---------------------------------------------------------------------------
def doc_to_visual(doc: Doc, lmms_eval_specific_kwargs: Settings | None = None) -> list[Image.Image]:
    """The first request's images: the first turn's image, after any solved examples (later rounds
    pass theirs through ``doc_to_text``)."""
    settings = settings_of(doc, lmms_eval_specific_kwargs)
    return load_prompt_images(request_for(doc, episode_from_doc(doc, settings), settings))


def doc_to_target(doc: Doc) -> str:
    return json.loads(doc["entry"])["answer"]


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
    if not round_idx:
        return request_for(doc, episode_from_doc(doc, settings), settings).text
    answers = list(previous_round_info["answers"]) if previous_round_info else []
    latest = previous_output[-1] if previous_output else ""
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
    info = {"answers": answers, "state": {"turn": turn.index, "image_path": turn.relative_image_path, **carried}}
    return load_prompt_images(request), request.text, False, None, info


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
    the episode, so nothing in it is taken as a verdict.
    """
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
        if settings is not None:
            return scored_record(doc, answers, settings)
        return episode_record(doc, episode_from_doc(doc), error=f"the record's settings {carried!r} are not valid "
                                                                f"for the {doc['variant']} variant; it cannot be replayed")
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
