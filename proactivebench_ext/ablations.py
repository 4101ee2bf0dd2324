"""The paper's ablations as pure functions: random proactive options, in-context shots and
conversation-history prompts.

Backends receive one user message per request (a list of images and one text), so earlier
turns and solved examples are given as a numbered transcript whose ``(image k)`` markers refer
to the k-th image of the request. Turn 1 of the history ablation is the plain MCQA prompt.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Mapping, Sequence

from .engine import Episode, Turn
from .icl import IclStep
from .scenarios import Box, is_abstain, resolve_scenario

HISTORY_HEADER = "Earlier turns of this conversation (one image per turn, in order):\n"
ICL_HEADER = "Here are solved examples of this task.\n"
TURN_BLOCK = "Turn {number} (image {image}):\n{prompt}\nAnswer: {answer}\n\n"
EXAMPLE_BLOCK = "Example {example}, step {step} (image {image}):\n{prompt}\nAnswer: {answer}\n\n"
CURRENT_BLOCK = "Now the current turn (image {image}):\n{prompt}"


@dataclass(frozen=True)
class ImageRef:
    """An image to load for a request: file, optional crop box, optional short-edge resize."""

    path: str
    crop: Box | None = None
    short_edge: int | None = None


@dataclass(frozen=True)
class Prompt:
    """One request: its images, in order, and its text."""

    images: tuple[ImageRef, ...]
    text: str


def turn_image(turn: Turn, short_edge: int | None = None) -> ImageRef:
    return ImageRef(turn.image_path, turn.crop, short_edge)


# -- random proactive options ------------------------------------------------------------------

@cache
def proactive_option_pool() -> Mapping[str, tuple[str, ...]]:
    """Each scenario's request wordings (see ``resources/proactive_options.json``)."""
    raw = json.loads(resources.files(__package__).joinpath("resources/proactive_options.json").read_text("utf-8"))
    return {acronym: tuple(options) for acronym, options in raw["options"].items()}


def randomize_proactive_options(scenario: str, entry: Mapping[str, Any], rng: random.Random) -> dict[str, Any]:
    """A copy of ``entry`` whose requests are replaced by other scenarios' wordings.

    Abstain options stay in place; each request is replaced by a distinct wording drawn from
    the other scenarios (never one this scenario also uses). Play the result with
    ``new_episode(..., random_actions=rng)``, so that picking a replaced request moves the
    episode by a random admissible action, as in the reference's random mode.
    """
    acronym = resolve_scenario(scenario).acronym
    pool = proactive_option_pool()
    own = set(pool[acronym])
    foreign = sorted({o for other, options in pool.items() if other != acronym for o in options} - own)
    requests = [i for i, option in enumerate(entry["options"]) if not is_abstain(option)]
    drawn = rng.sample(foreign, len(requests))
    options = list(entry["options"])
    for index, replacement in zip(requests, drawn):
        options[index] = replacement
    return {**entry, "options": options}


# -- in-context examples -----------------------------------------------------------------------

def draw_shots(candidate_ids: Sequence[Any], evaluated_id: Any, shots: int, seed: int) -> list[Any]:
    """``shots`` example ids for one evaluated sample: seeded per sample, never the sample itself."""
    others = [sample_id for sample_id in candidate_ids if sample_id != evaluated_id]
    if len(others) < shots:
        raise ValueError(f"{shots} in-context examples need {shots + 1} samples, only {len(candidate_ids)} available")
    return random.Random(f"{seed}:{evaluated_id}").sample(others, shots)


def icl_prompt(examples: Sequence[Sequence[IclStep]], current: Turn) -> Prompt:
    """Solved examples (their images resized as the paper does), then the current turn."""
    images: list[ImageRef] = []
    text = ICL_HEADER + "\n"
    for example_number, steps in enumerate(examples, 1):
        for step_number, step in enumerate(steps, 1):
            images.append(turn_image(step.turn, step.short_edge))
            text += EXAMPLE_BLOCK.format(example=example_number, step=step_number, image=len(images),
                                         prompt=step.turn.mcqa_prompt, answer=step.generated_answer)
    images.append(turn_image(current))
    return Prompt(tuple(images), text + CURRENT_BLOCK.format(image=len(images), prompt=current.mcqa_prompt))


# -- conversation history ----------------------------------------------------------------------

def history_prompt(episode: Episode, short_edge: int) -> Prompt:
    """Every earlier turn's image (resized) and its prompt and answer, then the current turn."""
    current = episode.observe()
    if not episode.history:
        return Prompt((turn_image(current),), current.mcqa_prompt)
    images = [turn_image(turn, short_edge) for turn, _ in episode.history]
    text = HISTORY_HEADER + "\n" + "".join(
        TURN_BLOCK.format(number=i, image=i, prompt=turn.mcqa_prompt, answer=outcome.answer)
        for i, (turn, outcome) in enumerate(episode.history, 1))
    images.append(turn_image(current, short_edge))
    return Prompt(tuple(images), text + CURRENT_BLOCK.format(image=len(images), prompt=current.mcqa_prompt))
