"""Pure parts of the ablations: random options, in-context shots, history transcripts."""

from __future__ import annotations

import random

import pytest

from proactivebench_ext import SCENARIOS, new_episode
from proactivebench_ext.core.ablations import (
    draw_shots,
    history_prompt,
    icl_prompt,
    proactive_option_pool,
    randomize_proactive_options,
)
from proactivebench_ext.core.icl import icl_example
from proactivebench_ext.core.scenarios import is_abstain
from tests.unit.test_engine import first_entry


@pytest.mark.parametrize("acronym", list(SCENARIOS))
def test_random_options_come_from_other_scenarios_and_play(acronym):
    entry = first_entry(acronym)
    randomized = randomize_proactive_options(acronym, entry, random.Random(0))
    own = set(proactive_option_pool()[acronym])
    for before, after in zip(entry["options"], randomized["options"]):
        if is_abstain(before):
            assert after == before
        else:
            assert after not in own and not is_abstain(after)
    assert randomize_proactive_options(acronym, entry, random.Random(0)) == randomized
    episode = new_episode(acronym, randomized, random_actions=random.Random(1))
    while not episode.done:
        requests = [o for o in episode.observe().options if o in randomized["options"] and not is_abstain(o)]
        episode.answer(requests[0] if requests and episode.state.num_turns < 2 else entry["answer"])
    assert "error" not in episode.stats


def test_random_options_depend_on_the_seed():
    entry = first_entry("IN-C")
    draws = {tuple(randomize_proactive_options("IN-C", entry, random.Random(seed))["options"]) for seed in range(5)}
    assert len(draws) > 1


def test_shots_are_seeded_and_never_the_evaluated_sample():
    ids = list(range(10))
    for evaluated in ids:
        shots = draw_shots(ids, evaluated, 3, seed=0)
        assert evaluated not in shots and len(set(shots)) == 3
        assert shots == draw_shots(ids, evaluated, 3, seed=0)
    assert any(draw_shots(ids, e, 3, seed=0) != draw_shots(ids, e, 3, seed=1) for e in ids)
    with pytest.raises(ValueError, match="need 4 samples"):
        draw_shots([1, 2], 1, 3, seed=0)


def test_icl_prompt_lists_examples_then_the_current_turn():
    steps, _ = icl_example("MVP-N", first_entry("MVP-N"), resize=True, reduce_steps=True)
    current = new_episode("MVP-N", first_entry("MVP-N")).observe()
    prompt = icl_prompt([steps], current)
    assert [image.short_edge for image in prompt.images] == [112, 112, None]
    assert prompt.text.endswith("Now the current turn (image 3):\n" + current.mcqa_prompt)
    assert f"Example 1, step 2 (image 2):\n{steps[1].turn.mcqa_prompt}\nAnswer: {steps[1].generated_answer}" in prompt.text


def test_history_prompt_is_plain_at_turn_one_then_a_transcript():
    entry = first_entry("QD")
    episode = new_episode("QD", entry)
    first = history_prompt(episode, 224)
    assert first.text == episode.observe().mcqa_prompt and first.images[0].short_edge is None
    request = next(o for o in entry["options"] if not is_abstain(o))
    episode.answer(request)
    second = history_prompt(episode, 224)
    assert len(second.images) == 2 and {i.short_edge for i in second.images} == {224}
    assert f"Answer: {request}\n" in second.text
    assert second.text.endswith("(image 2):\n" + episode.observe().mcqa_prompt)
