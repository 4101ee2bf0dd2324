"""In-context examples: solved ROD and MVP-N episodes shown before the evaluated one.

An example is played on the engine itself, so its images, prompts and letters are exactly what
an evaluated episode would show. ROD examples take two steps (one move, then the answer);
MVP-N examples rotate through every view (or show only the first and last when reduced).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .constants import load_benchmark
from .engine import Episode, Turn, new_episode
from .matching import option_letter
from .scenarios import InvalidEntryError, resolve_scenario

ICL_SCENARIOS = ("ROD", "MVP-N")


@dataclass(frozen=True)
class IclStep:
    """One solved turn of an example: what was shown and the example answer."""

    turn: Turn
    generated_answer: str
    short_edge: int | None  # resize the example image to this short edge (None: as is)


def _request(episode: Episode, index: int, cot: bool) -> str:
    option = episode.sample.options[index]
    cot_prompt = episode.scenario.texts.cot_prompt
    return f"{cot_prompt} {option_letter(index)}. {option}" if cot else option


def _play(episode: Episode, answer: str) -> None:
    episode.answer(answer)
    if episode.error is not None:
        raise InvalidEntryError(episode.scenario.dataset, episode.sample.id, "options", f"cannot build an example: {episode.error}")


def icl_example(scenario: str, entry: Mapping[str, Any], data_dir: str = "", *, hint: bool = False, cot: bool = False,
                resize: bool = False, reduce_steps: bool = False, reference: bool = False, rng: random.Random | None = None,
                option_index: int | None = None) -> tuple[list[IclStep], Episode]:
    """Play ``entry`` as a solved example; returns its steps and the played episode.

    ROD draws the request to show with ``rng.choice`` over the accepted option indices, as the
    reference does with the global ``random`` module (``option_index`` fixes it instead).
    """
    rules = resolve_scenario(scenario)
    if rules.acronym not in ICL_SCENARIOS:
        raise ValueError(f"in-context examples exist for {', '.join(ICL_SCENARIOS)} only, not {rules.acronym}")
    if reference:
        raise ValueError("in-context examples are not defined in reference mode (nor in the reference implementation)")
    episode = new_episode(rules, entry, data_dir, hint=hint)
    short_edge = load_benchmark().resize_short_edge["icl"][rules.acronym] if resize else None  # type: ignore[index]
    # Iterating a set of indices, exactly as the reference does, fixes which request is "first".
    indices = list(set(episode.sample.correct_indices))
    steps: list[IclStep] = []
    if rules.acronym == "ROD":
        first = episode.observe()
        if option_index is None:
            option_index = (rng or random.Random()).choice(indices)
        answer = _request(episode, option_index, cot)
        _play(episode, answer)
        if episode.done:
            raise InvalidEntryError(rules.dataset, episode.sample.id, "num_images", "the example ends after one step")
        steps = [IclStep(first, answer, short_edge), IclStep(episode.observe(), episode.sample.answer, short_edge)]
        return steps, episode
    while not episode.done:
        turn = episode.observe()
        last_view = episode.state.num_turns + 1 >= episode.sample.num_images
        answer = episode.sample.answer if last_view else _request(episode, indices[0], cot)
        _play(episode, answer)
        steps.append(IclStep(turn, answer, short_edge))
    if reduce_steps and len(steps) > 2:
        steps = [steps[0], steps[-1]]
    return steps, episode

