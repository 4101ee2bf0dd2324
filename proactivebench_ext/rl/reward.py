"""The GRPO reward of ProactiveBench (paper §5): the evaluation's own verdict on one answer.

An answer is scored in the state reached by playing the earlier answers from the start of the
episode, so any frame of an episode can be a training state. The verdict comes from the same
engine and answer matching that score evaluation runs, so training and evaluation can never
disagree on what counts:

- 1.0 when the answer is the correct category (the evaluation's ``correct_prediction``);
- ``proactive_reward`` (the paper's r_p: 0.5, 0.75 or 1.0) when it is a request the benchmark
  accepts in that state (``action_evaluation == "correct"`` and mapped to an action);
- 0.0 otherwise (a wrong category or request, an abstention, text that matches no option).

A request the judge accepted keeps r_p even when the move it asks for then fails on a faulty entry
(the reference implementation records such a turn as a correct action too).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..core.constants import STOP
from ..core.engine import Episode, Outcome, new_episode
from ..core.matching import CORRECT

PAPER_PROACTIVE_REWARDS = (0.5, 0.75, 1.0)  # the r_p values of Table 3


class StateError(ValueError):
    """The earlier answers do not lead to a state where an answer can be scored."""


def check_proactive_reward(value: float) -> float:
    """``value`` as a float in [0, 1]; a request is never worth more than the correct answer."""
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ValueError(f"proactive_reward must be between 0 and 1 (the paper uses {PAPER_PROACTIVE_REWARDS}), got {value!r}")
    return number


def outcome_reward(outcome: Outcome, proactive_reward: float) -> float:
    """The reward of one judged turn: 1 for the correct category, r_p for an accepted request, else 0."""
    if outcome.correct_prediction:
        return 1.0
    if outcome.action_evaluation == CORRECT and outcome.action != STOP:
        return proactive_reward
    return 0.0


def play(scenario: str, entry: Mapping[str, Any], answers: Sequence[Any], *, hint: bool = False,
         reference: bool = False, data_dir: str = "") -> Episode:
    """The episode after ``answers``; raises :class:`StateError` if they end it before the last one."""
    episode = new_episode(scenario, entry, data_dir, hint=hint, reference=reference)
    for position, answer in enumerate(answers):
        if episode.done:
            raise StateError(f"{scenario} sample {entry.get('id')!r}: the episode ended after answer {position} of "
                             f"{len(answers)} ({list(answers[:position])!r}); earlier answers must lead to a state "
                             "where the episode goes on (accepted requests)")
        episode.answer(answer)
    if episode.done:
        raise StateError(f"{scenario} sample {entry.get('id')!r}: the answers {list(answers)!r} end the episode, so "
                         "no state is left to score an answer in")
    return episode


def reward(scenario: str, entry: Mapping[str, Any], answers: Sequence[Any], *, proactive_reward: float = 0.5,
           hint: bool = False, reference: bool = False, data_dir: str = "") -> float:
    """The reward of ``answers[-1]`` in the state reached by playing ``answers[:-1]`` from the start.

    Never raises on the text of ``answers[-1]``. Raises :class:`StateError` when ``answers`` is
    empty or ``answers[:-1]`` ends the episode, ``ValueError`` for an r_p outside [0, 1], and the
    engine's ``InvalidEntryError`` for an entry that cannot be played.
    """
    rp = check_proactive_reward(proactive_reward)
    if isinstance(answers, (str, bytes)):
        raise TypeError("answers must be a list of answer texts (the last one is scored), not one string")
    if not answers:
        raise StateError("answers must hold at least the answer to score (answers[-1])")
    before = play(scenario, entry, list(answers[:-1]), hint=hint, reference=reference, data_dir=data_dir)
    return outcome_reward(before.answer(answers[-1]), rp)


# -- TRL ------------------------------------------------------------------------------------------
def completion_text(completion: Any) -> str:
    """The text of one TRL completion: a string (standard format) or a list of messages
    (conversational format, content a string or a list of typed blocks). Never raises."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion:
        message = completion[-1]
        content = message.get("content") if isinstance(message, Mapping) else message
        if isinstance(content, str):
            return content
        if isinstance(content, Sequence):
            return "".join(block.get("text") or "" for block in content
                           if isinstance(block, Mapping) and block.get("type") == "text")
    return ""


@lru_cache(maxsize=4096)
def _state(scenario: str, entry_json: str, answers: tuple[str, ...], hint: bool, reference: bool,
           data_dir: str) -> Episode:
    """The state before the scored answer; the group of a prompt's completions shares one replay."""
    return play(scenario, json.loads(entry_json), list(answers), hint=hint, reference=reference, data_dir=data_dir)


def _column(values: Sequence[Any] | None, index: int, default: Any) -> Any:
    return default if values is None else values[index]


@dataclass(frozen=True)
class ProactiveReward:
    """A reward function with TRL's ``reward_funcs`` signature (completions and dataset columns in,
    one float per completion out), on the columns ``rl-data`` writes: ``scenario``, ``entry`` (the
    JSONL row as JSON text), ``answers`` (the answers that lead to the state) and, when present,
    ``hint`` and ``reference``. Picklable, so it works with TRL's multi-process set-ups.
    """

    proactive_reward: float = 0.5

    def __post_init__(self) -> None:
        check_proactive_reward(self.proactive_reward)

    def __call__(self, completions: Sequence[Any], scenario: Sequence[str], entry: Sequence[Any],
                 answers: Sequence[Any], hint: Sequence[bool] | None = None, reference: Sequence[bool] | None = None,
                 data_dir: Sequence[str] | None = None, **_: Any) -> list[float]:
        rewards = []
        for index, completion in enumerate(completions):
            row_entry = entry[index] if isinstance(entry[index], str) else json.dumps(entry[index], sort_keys=True)
            row_answers = answers[index]
            if isinstance(row_answers, str):
                row_answers = json.loads(row_answers)
            before = _state(scenario[index], row_entry, tuple(row_answers), bool(_column(hint, index, False)),
                            bool(_column(reference, index, False)), str(_column(data_dir, index, "") or ""))
            outcome = before.fork().answer(completion_text(completion))
            rewards.append(outcome_reward(outcome, self.proactive_reward))
        return rewards
