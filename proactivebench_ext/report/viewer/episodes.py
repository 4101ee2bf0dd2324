"""What each logged episode looked like to the model, turn by turn: the viewer's model of a sample.

A samples file holds each episode as one record (``proactivebench_episode/1``: every turn's image,
crop, prompt, options, answer and verdicts). What it does not hold is which options the benchmark
accepted at each turn, which part of the prompt a hint added, and the in-context examples shown.
Those are recovered by replaying the logged answers on the engine, which is deterministic given
the entry, the variant and its settings. The replay is checked against the log turn by turn
(image, crop, options, verdicts); where they differ the log is shown as logged and the episode
says why nothing more is marked. Nothing here raises on a sample: a bad one becomes an errored
episode with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...core.ablations import icl_candidates
from ...core.constants import ACTION_NAMES, STOP, load_benchmark
from ...core.engine import Episode
from ...core.matching import CORRECT, MISMATCH, WRONG, Match, match_answer, option_letter
from ...core.scenarios import is_abstain
from ...core.variants import HISTORY, OEG_VARIANTS, VARIANTS, get_variant
from ...data.layout import embedded_data_dir
from ...data.validate import Fault, TestRow, scan_test_set

EPISODE_FORMAT = "proactivebench_episode/1"
MULTITURN_FORMAT = "proactivebench_oeg_multiturn/1"
OEG_INPUT_FORMAT = "proactivebench_oeg_input/1"

# Outcomes, for an episode and for one turn ("asked": an accepted request, the episode went on).
CORRECT_OUTCOME, WRONG_OUTCOME, ABSTAINED, ASKED, ERRORED, UNJUDGED = (
    "correct", "wrong", "abstained", "asked", "errored", "unjudged")
OUTCOMES = (CORRECT_OUTCOME, WRONG_OUTCOME, ABSTAINED, ASKED, ERRORED, UNJUDGED)

REQUEST, ABSTAIN, CATEGORY = "request", "abstain", "category"


# -- the view model --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Picture:
    """An image a turn showed: ``path`` relative to ``data_dir``, cropped to ``crop`` (COCO)."""

    path: str
    data_dir: str | None
    crop: tuple[float, ...] | None = None

    @property
    def source(self) -> str | None:
        return os.path.join(self.data_dir, self.path) if self.data_dir is not None else None


@dataclass(frozen=True)
class OptionView:
    letter: str
    text: str
    kind: str  # REQUEST, ABSTAIN or CATEGORY
    chosen: bool  # the model's answer matched this option
    accepted: bool | None  # the benchmark accepted it at this turn; None when unknown (no replay)


@dataclass(frozen=True)
class TurnView:
    index: int
    picture: Picture | None
    prompt: str
    hint: str | None  # the part of ``prompt`` the hint ablation appended
    options: tuple[OptionView, ...]
    answer: str
    outcome: str
    reason: str
    model_output: str | None = None  # OEG: the free answer the judge read
    judge: Mapping[str, Any] | None = None  # OEG: the judge's mapping of that answer / its verdict
    earlier: tuple[int, ...] = ()  # history ablation: indices of earlier turns shown with this one
    open_question: bool = False  # OEG: the model saw the question without the options


@dataclass(frozen=True)
class ExampleStep:
    picture: Picture
    prompt: str
    answer: str


@dataclass(frozen=True)
class ExampleView:
    """One solved in-context example shown before every turn (ICL ablation)."""

    sample_id: Any
    steps: tuple[ExampleStep, ...]


@dataclass(frozen=True)
class EpisodeView:
    doc_id: Any
    sample_id: str
    scenario: str
    variant: str
    target: str
    outcome: str
    reason: str
    requests: int
    turns: tuple[TurnView, ...]
    entry_index: int | None = None  # position in the scenario's test set: aligns runs for comparison
    examples: tuple[ExampleView, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    valid_answers: str | None = None  # OEG: the judge's reference answers
    notes: tuple[str, ...] = ()  # what could not be recovered, and why
    data_note: str | None = None  # which data folder was used when not the recorded one (shown once per site)

    @property
    def key(self) -> str:
        """Which test entry this is, the same in every run and variant of the scenario."""
        return f"e{self.entry_index}" if self.entry_index is not None else f"s{self.sample_id}"


# -- where the entries are -----------------------------------------------------------------------
def usable_data_dir(recorded: str | None, override: str | os.PathLike[str] | None = None) -> tuple[str | None, str | None]:
    """The data folder to read an episode's entry and images from, and a note when it is not the recorded one.

    ``--data-dir`` wins; then the folder the log recorded. A recorded embedded set that moved (the
    package installed elsewhere) is found again; any other missing folder is kept, so images show
    as missing with their path and the note says to pass ``--data-dir``.
    """
    if override is not None:
        return os.fspath(override), None
    if not recorded:
        return None, "the log does not record its data folder; pass --data-dir"
    if Path(recorded).is_dir():
        return recorded, None
    parts = Path(recorded).parts
    if parts[-2:] == ("resources", "embedded"):
        return str(embedded_data_dir()), f"recorded data folder {recorded} not found; using the embedded set"
    return recorded, f"recorded data folder {recorded} not found; pass --data-dir"


@dataclass(frozen=True)
class _TestSet:
    """A scenario's test rows in file order, as the task docs are (a damaged row keeps its place)."""

    rows: tuple[TestRow, ...]
    positions: Mapping[str, tuple[int, ...]]  # sample id -> positions of its rows

    @property
    def playable(self) -> list[Mapping[str, Any]]:
        return [row.entry for row in self.rows if row.fault is None and row.entry is not None]


@lru_cache(maxsize=64)
def _test_set(scenario: str, data_dir: str) -> _TestSet:
    rows = tuple(scan_test_set(scenario, data_dir))
    positions: dict[str, list[int]] = {}
    for position, row in enumerate(rows):
        if row.entry is not None:
            positions.setdefault(str(row.entry.get("id")), []).append(position)
    return _TestSet(rows, {key: tuple(value) for key, value in positions.items()})


@lru_cache(maxsize=16)
def _icl_candidates(scenario: str, data_dir: str) -> tuple[Mapping[str, Any], ...]:
    """The solved-example candidates exactly as the task hooks draw them (playable rows only)."""
    return tuple(icl_candidates(scenario, _test_set(scenario, data_dir).playable, data_dir))


def find_entry(scenario: str, data_dir: str, sample_id: Any, doc_id: Any,
               first_image: str | None) -> tuple[int, Mapping[str, Any]]:
    """The entry a sample played and its position in the test set.

    MCQA docs are the test rows in file order (damaged ones included, as ``data.validate`` scans
    them), so ``doc_id`` is the position; OEG docs are a shuffled
    draw, so the entry is found by id (the first with that id whose first turn showed the logged
    image, when ids repeat). Raises ``LookupError`` naming what was searched.
    """
    test_set = _test_set(scenario, data_dir)
    matches = test_set.positions.get(str(sample_id), ())
    if isinstance(doc_id, int) and doc_id in matches:
        return doc_id, test_set.rows[doc_id].entry  # type: ignore[return-value]
    if not matches:
        faults = [row.fault.one_line() for row in test_set.rows if row.fault is not None and row.entry is None]
        raise LookupError(f"sample {sample_id} is not in the {scenario} test set of {data_dir}"
                          + (f" ({faults[0]})" if faults else ""))
    if len(matches) > 1 and first_image is not None:
        for index in matches:
            try:
                if _first_turn(scenario, test_set.rows[index].entry, data_dir).relative_image_path == first_image:
                    return index, test_set.rows[index].entry  # type: ignore[return-value]
            except Exception:  # noqa: BLE001 - an unplayable duplicate is simply not the one
                continue
    return matches[0], test_set.rows[matches[0]].entry  # type: ignore[return-value]


def _first_turn(scenario: str, entry: Mapping[str, Any], data_dir: str) -> Any:
    return get_variant("main").episode(scenario, entry, data_dir, {}).observe()


# -- turn verdicts (pure) ----------------------------------------------------------------------------
def option_kind(option: str, index: int, num_requests: int) -> str:
    if index >= num_requests:
        return CATEGORY
    return ABSTAIN if is_abstain(option) else REQUEST


def turn_outcome(action_evaluation: str, category_evaluation: str, error: str | None, done: bool,
                 chosen_request: str, chosen_category: str, *, random_edge: bool = False) -> tuple[str, str]:
    """A turn's outcome and why, from the engine's verdicts on it (in the engine's own order:
    a correct category wins, then an accepted request, else the episode stops)."""
    if error:
        return ERRORED, error
    if category_evaluation == CORRECT:
        return CORRECT_OUTCOME, f"right category: {chosen_category}" if chosen_category else "right category"
    if action_evaluation == CORRECT:
        if not done:
            return ASKED, f"accepted request: {chosen_request}" if chosen_request else "accepted request"
        why = "the random move left the frames" if random_edge else "no turns left (max_steps)"
        return ASKED, f"accepted request, but the episode ended: {why}"
    if category_evaluation == WRONG:
        return WRONG_OUTCOME, f"wrong category: {chosen_category}" if chosen_category else "wrong category"
    if action_evaluation == WRONG:
        if chosen_request and is_abstain(chosen_request):
            return ABSTAINED, f"abstained: {chosen_request}"
        return WRONG_OUTCOME, (f"request not accepted at this turn: {chosen_request}" if chosen_request
                               else "request not accepted at this turn")
    return WRONG_OUTCOME, "the answer matches no option"


def _safe_match(answer: str, correct: Sequence[str], options: Sequence[str], shift: int) -> Match:
    try:
        return match_answer(answer, correct, options, shift)
    except ValueError:  # an accepted option that is not shown: the engine ended the episode on it
        return match_answer(answer, [], options, shift)


def episode_outcome(correct: bool, error: str | None, turns: Sequence[TurnView]) -> tuple[str, str]:
    """The episode's outcome: errored, correct, or how its last turn failed."""
    if error:
        return ERRORED, error
    if correct:
        return CORRECT_OUTCOME, turns[-1].reason if turns else "correct"
    if not turns:
        return ERRORED, "the record has no turns"
    last = turns[-1]
    if last.outcome in (ASKED, CORRECT_OUTCOME):  # ended on a request (out of turns), or a log/replay mismatch
        return WRONG_OUTCOME, last.reason
    return last.outcome, last.reason


# -- replay ----------------------------------------------------------------------------------------
@dataclass
class _Replayed:
    """What the replay adds to one logged turn."""

    accepted_requests: list[str]
    accepted_categories: list[str]
    num_requests: int  # options before the categories
    random_edge: bool = False


def _replay(variant_name: str, scenario: str, entry: Mapping[str, Any], data_dir: str, settings: Mapping[str, Any],
            logged_turns: Sequence[Mapping[str, Any]]) -> tuple[list[_Replayed], Episode, list[str]]:
    """Feed the logged answers to a fresh episode, checking each shown turn against the log."""
    variant = get_variant(variant_name)
    episode = variant.episode(scenario, entry, data_dir, settings)
    replayed: list[_Replayed] = []
    notes: list[str] = []
    for number, logged in enumerate(logged_turns, 1):
        if episode.done:
            notes.append(f"the replay ended after {number - 1} turns, the log has {len(logged_turns)}")
            break
        turn = episode.observe()
        crop = list(turn.crop) if turn.crop is not None else None
        logged_crop = list(logged["crop"]) if logged.get("crop") is not None else None
        shown = (turn.relative_image_path, list(turn.options), crop)
        if shown != (logged.get("image_path"), list(logged.get("options") or []), logged_crop):
            notes.append(f"turn {number}: the replay shows {turn.relative_image_path} with other options or crop "
                         "than the log; accepted options are not marked from here on (was the log written with "
                         "other data?)")
            break
        requests, categories = episode.correct_now()
        num_requests = len(turn.options) - len(episode.sample.categories)
        outcome = episode.answer(str(logged.get("answer", "")))
        if (outcome.action_evaluation, outcome.category_evaluation) != (logged.get("action_evaluation"), logged.get("category_evaluation")):
            notes.append(f"turn {number}: the replay judged the answer {outcome.action_evaluation}/"
                         f"{outcome.category_evaluation}, the log {logged.get('action_evaluation')}/"
                         f"{logged.get('category_evaluation')}")
            break
        # a request that ended the episode short of max_steps: random mode stepped off the frames
        edge = (outcome.done and outcome.error is None and outcome.action != STOP
                and episode.state.num_turns < episode.sample.max_steps)
        replayed.append(_Replayed(list(requests), list(categories), num_requests, edge))
    return replayed, episode, notes


def _hint_of(variant_name: str, episode: Episode | None, oeg_variant: str | None) -> str | None:
    if oeg_variant is not None:
        spec = load_benchmark().judge
        return f"{spec.hint_joiner}{spec.hint}" if OEG_VARIANTS[oeg_variant].hint else None
    if episode is None or not get_variant(variant_name).episode_kwargs.get("hint"):
        return None
    return " " + episode.scenario.hint(episode.sample)


def _split_hint(prompt: str, hint: str | None) -> tuple[str, str | None]:
    if hint and prompt.endswith(hint):
        return prompt[: len(prompt) - len(hint)], hint
    return prompt, None


def _turn_view(logged: Mapping[str, Any], replay: _Replayed | None, picture: Picture | None, hint: str | None,
               *, earlier: tuple[int, ...] = (), model_output: str | None = None,
               judge: Mapping[str, Any] | None = None) -> TurnView:
    options = [str(option) for option in logged.get("options") or []]
    answer = str(logged.get("answer", ""))
    if replay is not None:
        shown = options[: replay.num_requests]
        categories = options[replay.num_requests:]
        request = _safe_match(answer, replay.accepted_requests, shown, 0) if shown else Match(MISMATCH, "")
        category = _safe_match(answer, replay.accepted_categories, categories, replay.num_requests)
        num_requests = replay.num_requests
        accepted = set(replay.accepted_requests) | set(replay.accepted_categories)
    else:  # no replay: letters run over the whole list either way, so one match finds the option
        any_match = match_answer(answer, [], options, 0) if options else Match(MISMATCH, "")
        request = category = any_match
        num_requests = len(options)  # unknown: no option is called a category
        accepted = None
    outcome, reason = turn_outcome(str(logged.get("action_evaluation")), str(logged.get("category_evaluation")),
                                   None, bool(logged.get("done")), request.chosen, category.chosen,
                                   random_edge=bool(replay and replay.random_edge))
    action = logged.get("action")
    if outcome == ASKED and isinstance(action, int) and 0 < action < len(ACTION_NAMES):
        reason += f" (action {ACTION_NAMES[action]})"  # in random-options mode, the random move it made
    chosen = {request.chosen, category.chosen} - {""}
    views = tuple(OptionView(option_letter(i), option, option_kind(option, i, num_requests), option in chosen,
                             None if accepted is None else option in accepted) for i, option in enumerate(options))
    prompt, hint_part = _split_hint(str(logged.get("prompt", "")), hint)
    return TurnView(int(logged.get("index", 0)), picture, prompt, hint_part, views, answer, outcome, reason,
                    model_output=model_output, judge=judge, earlier=earlier)


def _picture(logged: Mapping[str, Any], data_dir: str | None) -> Picture | None:
    path = logged.get("image_path")
    if not isinstance(path, str):
        return None
    crop = logged.get("crop")
    return Picture(path, data_dir, tuple(float(c) for c in crop) if isinstance(crop, list) else None)


def _examples(variant_name: str, scenario: str, entry: Mapping[str, Any], data_dir: str,
              settings: Mapping[str, Any], logged_ids: Any) -> tuple[tuple[ExampleView, ...], list[str]]:
    variant = get_variant(variant_name)
    if not variant.icl_shots:
        return (), []
    drawn = variant.examples(scenario, _icl_candidates(scenario, data_dir), entry.get("id"), data_dir, settings)
    notes = []
    if isinstance(logged_ids, list) and [str(i) for i in logged_ids] != [str(i) for i, _ in drawn]:
        notes.append(f"the log names examples {logged_ids}, the replay draws {[i for i, _ in drawn]}")
    views = tuple(ExampleView(example_id, tuple(
        ExampleStep(Picture(step.turn.relative_image_path, data_dir, step.turn.crop), step.turn.mcqa_prompt,
                    step.generated_answer) for step in steps)) for example_id, steps in drawn)
    return views, notes


# -- from a logged sample to an episode view ---------------------------------------------------------
def episode_view(sample: Mapping[str, Any], payload: Mapping[str, Any] | None, *, variant: str, scenario: str,
                 data_dir: str | None = None, fallback_data_dir: str | None = None,
                 judgement: Mapping[str, Any] | None = None) -> EpisodeView:
    """The view of one logged sample (``payload``: its parsed final response, if it is JSON).

    ``data_dir`` (``--data-dir``) overrides the folder the record names; ``fallback_data_dir`` is
    used for OEG single-turn samples, whose log records none. ``judgement``: the judge phase's
    latest verdict on this sample's answer, if any.
    """
    try:
        if variant in OEG_VARIANTS and not OEG_VARIANTS[variant].multiturn:
            return _single_turn_oeg(sample, variant, scenario, data_dir or fallback_data_dir, judgement)
        if payload is None or payload.get("format") not in (EPISODE_FORMAT, MULTITURN_FORMAT):
            return _not_a_record(sample, payload, variant, scenario)
        return _mcqa(sample, payload, variant, scenario, data_dir)
    except Exception as error:  # noqa: BLE001 - a sample the viewer cannot read must not stop the site
        return EpisodeView(sample.get("doc_id"), str(_sample_id(sample, payload)), scenario, variant,
                           str(sample.get("target", "")), ERRORED,
                           f"the viewer could not read this sample: {type(error).__name__}: {error}", 0, ())


def _sample_id(sample: Mapping[str, Any], payload: Mapping[str, Any] | None) -> Any:
    if payload and "sample_id" in payload:
        return payload["sample_id"]
    return f"doc {sample.get('doc_id')}"


def _not_a_record(sample: Mapping[str, Any], payload: Mapping[str, Any] | None, variant: str,
                  scenario: str) -> EpisodeView:
    if payload and payload.get("error"):
        reason = f"lmms-eval ended the episode: {payload['error']}"
        trace = payload.get("trace")
        if isinstance(trace, list):
            reason += f" after {len(trace)} answers: " + " | ".join(str(a)[:80] for a in trace[-5:])
    else:
        response = sample.get("filtered_resps", sample.get("resps"))
        while isinstance(response, list) and response:
            response = response[-1]
        reason = f"the final response is not an episode record: {str(response)[:300]!r}"
    return EpisodeView(sample.get("doc_id"), str(_sample_id(sample, payload)), scenario, variant,
                       str(sample.get("target", "")), ERRORED, reason, 0, ())


def _mcqa(sample: Mapping[str, Any], record: Mapping[str, Any], variant: str, scenario: str,
          override: str | None) -> EpisodeView:
    notes: list[str] = []
    data_dir, data_note = usable_data_dir(record.get("data_dir"), override)
    logged_turns = [turn for turn in record.get("turns") or [] if isinstance(turn, Mapping)]
    engine_variant = str(record.get("variant") or "main")
    oeg_steps = [step for step in record.get("oeg_turns") or [] if isinstance(step, Mapping)]
    settings: Mapping[str, Any] = {}
    replayed: list[_Replayed] = []
    episode: Episode | None = None
    entry_index: int | None = None
    examples: tuple[ExampleView, ...] = ()
    if data_dir is not None and logged_turns:  # no turn (a row that could not be played): nothing to replay
        try:
            settings = get_variant(engine_variant).resolve_settings(record.get("settings"))
            first = logged_turns[0].get("image_path") if logged_turns else None
            entry_index, entry = find_entry(scenario, data_dir, record.get("sample_id"), sample.get("doc_id"), first)
            replayed, episode, replay_notes = _replay(engine_variant, scenario, entry, data_dir, settings, logged_turns)
            notes += replay_notes
            examples, example_notes = _examples(engine_variant, scenario, entry, data_dir, settings,
                                                record.get("icl_examples"))
            notes += example_notes
        except Exception as error:  # noqa: BLE001 - the log is still shown, without what the replay adds
            notes.append(f"not replayed ({type(error).__name__}: {error}); accepted options are not marked")
    history = engine_variant in VARIANTS and VARIANTS[engine_variant].prompt_mode == HISTORY
    hint = _hint_of(engine_variant, episode, None)
    turns = []
    for position, logged in enumerate(logged_turns):
        step = oeg_steps[position] if position < len(oeg_steps) else None
        turns.append(_turn_view(
            logged, replayed[position] if position < len(replayed) else None, _picture(logged, data_dir), hint,
            earlier=tuple(range(position)) if history else (),
            model_output=str(step.get("model_output")) if step else None, judge=_mapping_of(step)))
    turns += _unfed_steps(oeg_steps[len(logged_turns):], logged_turns)
    error = record.get("error") or (record.get("stats") or {}).get("error")
    if error and isinstance(record.get("fault"), Mapping):  # a data fault: name the file, line and fix
        try:
            error = f"data fault: {Fault.from_json(dict(record['fault'])).one_line()}"
        except (KeyError, TypeError, ValueError):
            pass
    outcome, reason = episode_outcome(bool(record.get("correct")), error, turns)
    if record.get("unjudged"):
        outcome, reason = UNJUDGED, str(error or "the judge failed on a turn")
    if turns and outcome == ERRORED and turns[-1].outcome != ERRORED:
        turns[-1] = dataclasses.replace(turns[-1], outcome=ERRORED, reason=str(error))
    requests = record.get("num_requests")
    return EpisodeView(
        sample.get("doc_id"), str(record.get("sample_id")), scenario, variant, str(record.get("target") or ""),
        outcome, reason, int(requests) if isinstance(requests, int) else max(len(turns) - 1, 0), tuple(turns),
        entry_index, examples, dict(record.get("settings") or {}), notes=tuple(notes), data_note=data_note)


def _mapping_of(step: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if step is None:
        return None
    keys = ("status", "mapping", "option_index", "fed_answer", "how", "raw_output", "error")
    return {key: step.get(key) for key in keys}


def _unfed_steps(steps: Sequence[Mapping[str, Any]], logged_turns: Sequence[Mapping[str, Any]]) -> list[TurnView]:
    """Multi-turn OEG steps the judge could not map: the model answered, nothing was played."""
    return [TurnView(int(step.get("index", len(logged_turns))), None, "", None, (), "", UNJUDGED,
                     f"the judge did not map this answer: {step.get('error')}",
                     model_output=str(step.get("model_output")), judge=_mapping_of(step)) for step in steps]


def _single_turn_oeg(sample: Mapping[str, Any], variant: str, scenario: str, data_dir: str | None,
                     judgement: Mapping[str, Any] | None) -> EpisodeView:
    """Single-turn OEG: the first turn's image, the open question, the free answer and the judge's verdict."""
    try:
        target = json.loads(sample.get("target", ""))
    except (TypeError, json.JSONDecodeError):
        target = None
    if not isinstance(target, dict) or target.get("format") != OEG_INPUT_FORMAT:
        raise ValueError("the sample's target is not an OEG judge input (proactivebench_oeg_input/1)")
    answer = sample.get("filtered_resps", sample.get("resps", ""))
    while isinstance(answer, list):
        answer = answer[0] if answer else ""
    verdict = judgement if judgement is not None else sample.get("oeg_judge")
    verdict = verdict if isinstance(verdict, Mapping) else {}
    notes: list[str] = []
    picture, entry_index, target_category = None, None, ""
    if data_dir is not None:
        try:
            entry_index, entry = find_entry(scenario, data_dir, target.get("sample_id"), None, None)
            turn = get_variant("main").episode(scenario, entry, data_dir, {}).observe()
            picture = Picture(turn.relative_image_path, data_dir, turn.crop)
            target_category = str(entry.get("answer", ""))
        except Exception as error:  # noqa: BLE001
            notes.append(f"image not found ({type(error).__name__}: {error})")
    outcome, reason, requests = _oeg_verdict(verdict)
    prompt, hint = _split_hint(str(target.get("prompt", "")), _hint_of("main", None, variant))
    turn_view = TurnView(0, picture, prompt, hint, (), str(answer), outcome, reason, judge=dict(verdict) or None,
                         open_question=True)
    return EpisodeView(sample.get("doc_id"), str(target.get("sample_id")), scenario, variant, target_category,
                       outcome, reason, requests, (turn_view,), entry_index,
                       valid_answers=str(target.get("valid_answers", "")), notes=tuple(notes))


def _oeg_verdict(verdict: Mapping[str, Any]) -> tuple[str, str, int]:
    if verdict.get("status") != "judged":
        return UNJUDGED, str(verdict.get("error") or "not judged yet"), 0
    scores = verdict.get("scores") or {}
    parts = ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in scores.items())
    if not verdict.get("well_formed", True):
        return WRONG_OUTCOME, f"malformed judge output, scored 0 ({parts})", 0
    asked = int(bool(scores.get("proactive_suggestion")))
    if scores.get("category_prediction"):
        return CORRECT_OUTCOME, f"judge: {parts}", asked
    if asked:
        return ASKED, f"judge: {parts}", asked
    return WRONG_OUTCOME, f"judge: {parts}", 0


def latest_judgements(path: Path) -> dict[tuple[int, str], Mapping[str, Any]]:
    """The judge phase's latest verdict per (doc id, answer) from a ``*_judgements_<task>.jsonl`` file
    (append-only; a later line supersedes an earlier one; unreadable lines are skipped)."""
    latest: dict[tuple[int, str], Mapping[str, Any]] = {}
    if not path.is_file():
        return latest
    for line in path.read_text("utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
            key = (int(record["doc_id"]), str(record.get("answer", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if record.get("status") == "judged" or key not in latest:
            latest[key] = record
    return latest


def pictures_of(episodes: Iterable[EpisodeView]) -> Iterable[Picture]:
    """Every picture the episodes show (turns, then in-context examples)."""
    for episode in episodes:
        for turn in episode.turns:
            if turn.picture is not None:
                yield turn.picture
        for example in episode.examples:
            for step in example.steps:
                yield step.picture
