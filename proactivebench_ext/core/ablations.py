"""The paper's ablations as pure functions: random proactive options (and the episode that plays
them), in-context shots and examples, and conversation-history prompts. The task variants of
:mod:`proactivebench_ext.lmms.variants` are built from these.

Backends receive one user message per request (a list of images and one text), so earlier
turns and solved examples are given as a numbered transcript whose ``(image k)`` markers refer
to the k-th image of the request. Turn 1 of the history ablation is the plain MCQA prompt.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from .engine import Episode, Turn, new_episode
from .icl import IclStep, icl_example
from .scenarios import Box, InvalidEntryError, is_abstain, resolve_scenario

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

    @property
    def image_path(self) -> str:  # what images.load_turn_image reads
        return self.path


@dataclass(frozen=True)
class Prompt:
    """One request: its images, in order, and its text."""

    images: tuple[ImageRef, ...]
    text: str


def turn_image(turn: Turn, short_edge: int | None = None) -> ImageRef:
    return ImageRef(turn.image_path, turn.crop, short_edge)


def plain_prompt(turn: Turn) -> Prompt:
    """The main tasks' request: the turn's image and its multiple-choice prompt."""
    return Prompt((turn_image(turn),), turn.mcqa_prompt)


def sample_rng(seed: int, purpose: str, sample_id: Any) -> random.Random:
    """A generator private to one sample and one use (``purpose``), seeded from text.

    String seeds hash the same in every process and Python run, so a replay, another rank or a
    rerun re-creates exactly the same draws.
    """
    return random.Random(f"{seed}:{purpose}:{sample_id}")


# -- random proactive options ------------------------------------------------------------------

@cache
def proactive_option_pool() -> Mapping[str, tuple[str, ...]]:
    """Each scenario's request wordings (see ``resources/proactive_options.json``)."""
    raw = json.loads(resources.files("proactivebench_ext").joinpath("resources/proactive_options.json").read_text("utf-8"))
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


def random_options_episode(scenario: str, entry: Mapping[str, Any], data_dir: str = "", *, seed: int,
                           hint: bool = False, reference: bool = False) -> Episode:
    """The random-proactive-options episode of ``entry``: requests replaced by other scenarios'
    wordings, and an accepted request moving the episode by a random admissible action.

    Both draws are private to the sample (:func:`sample_rng`), so building the episode again (the
    hooks replay it every round) gives the same options and the same moves.
    """
    sample_id = entry.get("id") if isinstance(entry, Mapping) else None
    if isinstance(entry, Mapping) and isinstance(entry.get("options"), list):
        entry = randomize_proactive_options(scenario, entry, sample_rng(seed, "options", sample_id))
    # (a malformed entry goes to new_episode unchanged, which names what is wrong with it)
    return new_episode(scenario, entry, data_dir, hint=hint, reference=reference,
                       random_actions=sample_rng(seed, "actions", sample_id))


# -- in-context examples -----------------------------------------------------------------------

def draw_shots(candidate_ids: Sequence[Any], evaluated_id: Any, shots: int, seed: int) -> list[Any]:
    """``shots`` example ids for one evaluated sample: seeded per sample, never the sample itself."""
    others = [sample_id for sample_id in candidate_ids if sample_id != evaluated_id]
    if len(others) < shots:
        raise ValueError(f"{shots} in-context examples need {shots + 1} samples, only {len(candidate_ids)} available")
    return random.Random(f"{seed}:{evaluated_id}").sample(others, shots)


def icl_candidates(scenario: str, entries: Sequence[Mapping[str, Any]], data_dir: str = "") -> list[Mapping[str, Any]]:
    """The entries that can be shown as solved examples: the first entry of each id that plays as
    one (an entry whose example would end after one step, say, is never drawn)."""
    candidates: dict[Any, Mapping[str, Any]] = {}
    for entry in entries:
        sample_id = entry.get("id")
        if sample_id in candidates:
            continue
        try:
            icl_example(scenario, entry, data_dir, rng=random.Random(0))
        except (InvalidEntryError, ValueError, KeyError, TypeError):
            continue
        candidates[sample_id] = entry
    return list(candidates.values())


def icl_examples(scenario: str, candidates: Sequence[Mapping[str, Any]], evaluated_id: Any, data_dir: str = "", *,
                 shots: int, cot: bool, reduce_steps: bool, seed: int) -> list[tuple[Any, list[IclStep]]]:
    """``shots`` solved examples for the evaluated sample: (example id, its steps), in order.

    Ids are drawn with :func:`draw_shots` (seeded per sample, never the evaluated sample); images
    are resized as in the paper (``resize=True``); ROD's example request is drawn with a
    generator private to (seed, evaluated sample, example).
    """
    by_id = {entry.get("id"): entry for entry in candidates}
    chosen = draw_shots(list(by_id), evaluated_id, shots, seed)
    return [(example_id, icl_example(scenario, by_id[example_id], data_dir, cot=cot, resize=True,
                                     reduce_steps=reduce_steps,
                                     rng=sample_rng(seed, f"icl:{evaluated_id}", example_id))[0])
            for example_id in chosen]


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
