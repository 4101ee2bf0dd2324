"""The generic episode engine: one ProactiveBench episode, turn by turn.

At each turn the model sees one image and a multiple-choice list (valid requests, abstain
options, then the categories). A correct category ends the episode with success, an accepted
request moves the scenario to its next image, anything else ends it with failure. This module
holds what all scenarios share; their own rules are in :mod:`.scenarios`.

The engine never raises on a model answer: where the reference implementation crashed, the
episode ends as a failure and ``stats["error"]`` says why. Such a turn is recorded like any other
(its answer, evaluations and action), so ``num_turns`` counts the turn the episode failed on.
Entries the reference could never play (a field of the wrong type or out of bounds, a template
that leaves the data folder) raise :class:`InvalidEntryError` when the episode is made.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .constants import ROTATE, STOP, load_benchmark
from .matching import CORRECT, MISMATCH, Match, match_answer, mcqa_prompt
from .scenarios import (
    Box,
    EpisodeFault,
    InvalidEntryError,
    Sample,
    Scenario,
    State,
    resolve_scenario,
    unsafe_path_reason,
)

__all__ = ["Turn", "Outcome", "Episode", "new_episode", "reachable_episodes", "reachable_images", "InvalidEntryError"]

@dataclass(frozen=True)
class Turn:
    """What the model is shown at one turn."""

    index: int
    image_path: str  # data_dir joined with relative_image_path
    relative_image_path: str
    prompt: str  # the question, with pre-prompt and hint
    options: tuple[str, ...]  # shown requests and abstain options, then the categories
    mcqa_prompt: str  # the exact multiple-choice prompt given to the model
    crop: Box | None  # (left, top, right, bottom) for COCO outside reference mode


@dataclass(frozen=True)
class Outcome:
    """How one answer was judged and what it did."""

    answer: str
    action_evaluation: str  # correct / wrong / mismatch
    category_evaluation: str
    action: int  # action id recorded for this turn (STOP = 0)
    done: bool
    correct_prediction: bool
    error: str | None = None


class Episode:
    """A playable episode. Use :func:`new_episode` to make one."""

    def __init__(self, scenario: Scenario, sample: Sample, data_dir: str, *, hint: bool, reference: bool,
                 random_actions: random.Random | None):
        self.scenario, self.sample, self.data_dir = scenario, sample, data_dir
        self.hint, self.reference, self.random_actions = hint, reference, random_actions
        self.state: State = scenario.initial_state(sample)
        self.done = False
        self.correct_prediction = False
        self.error: str | None = None
        self.history: list[tuple[Turn, Outcome]] = []
        self._answers: list[str] = []
        self._action_evaluations: list[str] = []
        self._category_evaluations: list[str] = []
        self._image_ids: list[int] = []
        self._actions: list[int] = []
        self._turn: Turn = self._build_turn()  # raises EpisodeFault; new_episode reports it

    def fork(self) -> Episode:
        """An independent copy to explore answers on (states are immutable, histories are copied)."""
        twin = copy.copy(self)
        for name in ("history", "_answers", "_action_evaluations", "_category_evaluations", "_image_ids", "_actions"):
            setattr(twin, name, list(getattr(self, name)))
        if self.random_actions is not None:  # exploring a twin must not consume this episode's draws
            twin.random_actions = random.Random()
            twin.random_actions.setstate(self.random_actions.getstate())
        return twin

    # -- observing ----------------------------------------------------------------------------
    def observe(self) -> Turn:
        """The current turn. Raises ``RuntimeError`` once the episode is over."""
        if self.done:
            raise RuntimeError("the episode is over; read episode.stats")
        return self._turn

    def correct_now(self) -> tuple[list[str], list[str]]:
        """Options and categories accepted as correct at the current turn."""
        return self.scenario.correct_now(self.sample, self.state, reference=self.reference,
                                         random_actions=self.random_actions is not None)

    def open_ended_answers(self) -> str:
        """The valid open-ended answers at the current turn (the OEG judge's reference list)."""
        return self.scenario.open_ended_answers(self.sample, self.state)

    @property
    def stats(self) -> dict[str, Any]:
        """The reference implementation's statistics (same keys and values), plus ``error``."""
        stats: dict[str, Any] = {
            "num_turns": self.state.num_turns,
            "generated_answers": list(self._answers),
            "action_evaluations": list(self._action_evaluations),
            "category_evaluations": list(self._category_evaluations),
            "correct_prediction": self.correct_prediction,
            "image_id_history": list(self._image_ids),
            "action_history": list(self._actions),
            "max_steps": self.state.num_turns == self.sample.max_steps,
        }
        if self.error is not None:
            stats["error"] = self.error
        return stats

    # -- answering ----------------------------------------------------------------------------
    def answer(self, text: str) -> Outcome:
        """Judge the model's answer to the current turn and move on. Never raises on ``text``."""
        turn = self.observe()
        text = text if isinstance(text, str) else ("" if text is None else str(text))
        action_match = category_match = Match(MISMATCH, "")
        try:
            correct_options, correct_categories = self.correct_now()
            if not self.reference:
                shown = turn.options[: len(turn.options) - len(self.sample.categories)]
                action_match = _match(text, correct_options, shown, 0)
            category_match = _match(text, correct_categories, self.sample.categories,
                                    0 if self.reference else len(turn.options) - len(self.sample.categories))
            action, correct = self._decide(action_match, category_match)
        except EpisodeFault as fault:
            return self._record(turn, text, action_match.verdict, category_match.verdict, STOP, False, str(fault))

        outcome = self._record(turn, text, action_match.verdict, category_match.verdict, action, correct, None)
        if self.done:
            return outcome
        try:
            self._move_on(action)
        except EpisodeFault as fault:
            self._end(error=str(fault))
        if self.done:  # the move itself ended the episode: the turn's record must say so
            outcome = dataclasses.replace(outcome, done=True, error=self.error)
            self.history[-1] = (turn, outcome)
        return outcome

    def _decide(self, action_match: Match, category_match: Match) -> tuple[int, bool]:
        """STOP on a wrong or unmatched answer or a correct category; else the requested action."""
        if category_match.verdict == CORRECT:
            if category_match.chosen != self.sample.answer:
                raise EpisodeFault(f"the answer matched category {category_match.chosen!r}, which standardises like "
                                   f"the correct {self.sample.answer!r}; the episode cannot be scored")
            return STOP, True
        if action_match.verdict == CORRECT:
            return self._parse_action(action_match.chosen), False
        return STOP, False

    def _parse_action(self, chosen_option: str) -> int:
        """The action whose keyword the option contains (first keyword in the benchmark's order)."""
        keywords = load_benchmark().action_keywords
        space = self.sample.action_space
        chosen = chosen_option.lower()
        if self.random_actions is not None:  # random mode: any admissible request of this scenario
            admissible = [key for key, action in keywords.items() if action in space and action != STOP]
            if not admissible:
                raise EpisodeFault(f"random mode: {self.scenario.acronym} sample {self.sample.id!r} admits no move "
                                   f"(action ids {list(space)})")
            chosen = self.random_actions.choice(admissible)
        found: int | None = None
        for key, action in keywords.items():
            if action not in space or key not in chosen:
                continue
            if found is None:
                found = action
            elif not (found == action == ROTATE):  # rotate has several synonyms
                raise EpisodeFault(f"option {chosen_option!r} names two actions ({found} and {action}, keyword {key!r})")
        if found is None:
            raise EpisodeFault(f"option {chosen_option!r} names no action of {self.scenario.acronym} "
                               f"(action ids {list(space)}; keywords in benchmark.json action_keywords)")
        return found

    def _record(self, turn: Turn, text: str, action_evaluation: str, category_evaluation: str, action: int,
                correct: bool, error: str | None) -> Outcome:
        self._answers.append(text)
        self._action_evaluations.append(action_evaluation)
        self._category_evaluations.append(category_evaluation)
        self._image_ids.append(self.state.image_id)
        self._actions.append(action)
        self.state = dataclasses.replace(self.state, num_turns=self.state.num_turns + 1, action=action)
        self.correct_prediction = correct
        if action == STOP or error is not None or self.state.num_turns == self.sample.max_steps:
            self._end(error)
        outcome = Outcome(text, action_evaluation, category_evaluation, action, self.done, correct, error)
        self.history.append((turn, outcome))
        return outcome

    def _end(self, error: str | None) -> None:
        self.done = True
        if error is not None:
            self.error = error
            self.correct_prediction = False

    def _move_on(self, action: int) -> None:
        state = self.scenario.advance(self.sample, self.state, action)
        if state.image_id not in self.sample.valid_images:
            if self.random_actions is not None and self.scenario.random_stops_at_edges:
                self.state = dataclasses.replace(self.state, action=STOP)
                self.done = True
                return
            raise EpisodeFault(f"the request leads to image {state.image_id}, outside the valid images "
                               f"{_short(self.sample.valid_images)}", "num_images")
        self.state = state
        self._turn = self._build_turn()

    def _build_turn(self) -> Turn:
        scenario, sample, state = self.scenario, self.sample, self.state
        texts = scenario.texts
        try:
            relative = scenario.image_path(sample, state, reference=self.reference)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise EpisodeFault(f"cannot format {sample.image_template!r}: {exc!r}", "image_template") from None
        unsafe = unsafe_path_reason(relative)
        if unsafe is not None:
            raise EpisodeFault(f"the image path {relative!r} of turn {state.num_turns + 1} {unsafe}", "image_template")
        if self.reference:
            prompt = texts.reference_prompt if texts.reference_prompt is not None else sample.prompt
            options = sample.categories
        else:
            prompt = sample.prompt
            options = tuple(scenario.shown_options(sample, state, random_actions=self.random_actions is not None)) + sample.categories
        if texts.pre_prompt:
            prompt = f"{texts.pre_prompt} {prompt}"
        if self.hint:
            prompt = f"{prompt} {scenario.hint(sample)}"
        return Turn(
            index=state.num_turns,
            image_path=os.path.join(self.data_dir, relative),
            relative_image_path=relative,
            prompt=prompt,
            options=tuple(options),
            mcqa_prompt=mcqa_prompt(prompt, options, load_benchmark().mcqa_template),
            crop=scenario.crop(sample, state, reference=self.reference),
        )


def _match(text: str, correct: list[str], options: tuple[str, ...] | list[str], shift: int) -> Match:
    try:
        return match_answer(text, correct, options, shift)
    except ValueError:  # an accepted answer that is not shown: the reference's letter lookup raised
        raise EpisodeFault(f"accepted answers {correct} are not all among the shown options {list(options)}") from None


def _short(values: Any) -> str:
    """A list for a message: ranges stay ranges, long lists are cut."""
    if isinstance(values, range):
        return f"0..{len(values) - 1}" if len(values) else "none"
    items = list(values[:20])
    return f"{items}{' ...' if len(values) > 20 else ''}"


def new_episode(scenario: str | Scenario, entry: Mapping[str, Any], data_dir: str | os.PathLike = "", *,
                hint: bool = False, reference: bool = False, random_actions: random.Random | None = None) -> Episode:
    """Start an episode of ``entry`` (one JSONL row of the released data).

    ``scenario`` is an acronym ("ROD") or a dataset name ("Realistic-Occlusion-Dataset");
    ``reference`` shows the clean frame with the categories only; ``random_actions`` (a seeded
    ``random.Random``) turns on the reference's random mode, where an accepted request moves the
    episode by a random admissible action. Raises :class:`InvalidEntryError` if the entry
    cannot be played.
    """
    rules = scenario if isinstance(scenario, Scenario) else resolve_scenario(scenario)
    if not isinstance(entry, Mapping):
        raise InvalidEntryError(rules.dataset, None, "entry", f"expected a JSON object, got {type(entry).__name__}")
    sample = rules.parse(entry, random_actions=random_actions is not None)
    try:
        return Episode(rules, sample, os.fspath(data_dir), hint=hint, reference=reference, random_actions=random_actions)
    except EpisodeFault as fault:
        raise InvalidEntryError(rules.dataset, sample.id, fault.field, str(fault)) from None


def reachable_episodes(episode: Episode) -> Iterator[Episode]:
    """``episode`` and every distinct unfinished state reachable from it by accepted requests."""
    seen, stack = {episode.state}, [episode]
    while stack:
        current = stack.pop()
        yield current
        for option in current.correct_now()[0]:
            child = current.fork()
            child.answer(option)
            if not child.done and child.state not in seen:
                seen.add(child.state)
                stack.append(child)


def reachable_images(scenario: str | Scenario, entry: Mapping[str, Any], *, reference: bool = False,
                     max_states: int | None = None) -> list[str]:
    """Every relative image path a turn of ``entry`` may show, in discovery order.

    Explores every accepted request from the first turn on (states are deduplicated), so it is
    exact by construction rather than a second copy of each scenario's image rules. The number of
    states grows with frames x turns; past ``max_states`` the entry raises
    :class:`InvalidEntryError` instead of exhausting memory and time.
    """
    start = new_episode(scenario, entry, reference=reference)
    paths: dict[str, None] = {}
    for count, episode in enumerate(reachable_episodes(start), start=1):
        if max_states is not None and count > max_states:
            field = "max_steps" if "max_steps" in entry else "num_images"
            raise InvalidEntryError(start.scenario.dataset, start.sample.id, field,
                                    f"more than {max_states:,} distinct turns are reachable (num_images "
                                    f"{start.sample.num_images}, max_steps {start.sample.max_steps})")
        paths.setdefault(episode.observe().relative_image_path)
    return list(paths)
