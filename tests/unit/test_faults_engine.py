"""Engine edge cases of issue 13, from the reproducers of a differential run against the reference.

Each one either plays as the reference does or is refused when the episode is made
(InvalidEntryError); ``Episode.answer`` never raises.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

from proactivebench_ext.core.engine import InvalidEntryError, new_episode, reachable_images
from proactivebench_ext.core.scenarios import MAX_TURNS, unsafe_path_reason

GOLDEN = Path(__file__).parents[1] / "golden"


def entry_of(acronym: str) -> dict:
    for line in (GOLDEN / "mcqa.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        if record["acronym"] == acronym and record["case"] == "regular":
            return dict(record["entry"])
    raise AssertionError(acronym)


def refused(acronym: str, entry: dict, field: str, match: str, **kwargs) -> None:
    with pytest.raises(InvalidEntryError, match=match) as caught:
        new_episode(acronym, entry, **kwargs)
    assert caught.value.field == field


@pytest.mark.parametrize("acronym", ["ROD", "VSOD"])
def test_no_frames_is_refused_not_a_division_by_zero(acronym):
    # Reproducer: num_images 0, answer "A" raised ZeroDivisionError (frames wrap around modulo num_images).
    refused(acronym, {**entry_of(acronym), "num_images": 0}, "num_images", "0 is outside")


def test_coco_random_mode_without_a_move_is_refused_not_an_index_error():
    # Reproducer: direction "", options ["Move the camera up.", <abstain>], seed 0, answer "A" raised IndexError.
    entry = {**entry_of("COCO"), "direction": "", "options": ["Move the camera up.", "I cannot answer this question."]}
    refused("COCO", entry, "direction", "names no move", random_actions=random.Random(0))
    refused("COCO", entry, "direction", "names no move")


def test_cit_formats_the_frame_id_as_text_like_the_reference():
    entry = {**entry_of("CIT"), "image_template": "f{image:03}.jpg", "first_image": 2}
    assert new_episode("CIT", entry).observe().relative_image_path == "f200.jpg"  # str(2) padded on the right
    refused("CIT", {**entry, "image_template": "f{image:04d}.jpg"}, "image_template", "Unknown format code 'd'")
    # Other scenarios keep formatting the id as before (ROD: the raw int).
    rod = {**entry_of("ROD"), "image_template": "f{image:03}.jpg", "first_image": 2}
    assert new_episode("ROD", rod).observe().relative_image_path == "f002.jpg"


@pytest.mark.parametrize("value, match", [(0, "0 is outside"), (-3, "-3 is outside"), (1.5, "expected an integer"),
                                          (True, "expected an integer"), ("4", "expected an integer"),
                                          (MAX_TURNS + 1, "is outside")])
def test_cit_max_steps_must_be_a_positive_integer(value, match):
    # Reproducer: 0, negative or 1.5 never ended an episode (lmms-eval's 1000-round cap stopped it).
    refused("CIT", {**entry_of("CIT"), "max_steps": value}, "max_steps", match)


@pytest.mark.parametrize("field, value", [("step_size", 0), ("step_size", 2.5), ("first_image", -1),
                                          ("reference_image", "3"), ("num_images", None)])
def test_integer_fields_have_types_and_ranges(field, value):
    refused("CIT", {**entry_of("CIT"), field: value}, field, "outside|expected an integer")


def test_a_billion_frames_is_refused_before_anything_is_built():
    # Reproducer: num_images 1e9 built tuple(range(n)) (about 36 GB) before any check.
    tracemalloc.start()
    try:
        refused("ROD", {**entry_of("ROD"), "num_images": 1_000_000_000}, "num_images", "outside")
        refused("CIT", {**entry_of("CIT"), "num_images": 1_000_000_000}, "num_images", "outside")
        # The largest allowed count costs no memory either: the frames are a range, not a tuple.
        episode = new_episode("CIT", {**entry_of("CIT"), "num_images": 10_000_000})
        episode.answer("no such option")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_more_frames_than_an_episode_may_have_turns_is_refused():
    refused("ROD", {**entry_of("ROD"), "num_images": MAX_TURNS + 1}, "num_images", f"allows {MAX_TURNS + 1} turns")


@pytest.mark.parametrize("template, match", [
    ("{image:>400000000}", "is not allowed"),  # reproducer: a 400 MB path
    ("a/{image.__class__}.jpg", "is not allowed"),
    ("a/{image[0]}.jpg", "is not allowed"),
    ("a/{image!r}.jpg", "is not allowed"),
    ("a/{other}.jpg", "is not allowed"),
    ("a/{image:{image}}.jpg", "is not allowed"),
    ("a/{image", "not a valid template"),
    ("../x/{image}.jpg", "'..' component"),
    ("x/../../{image}.jpg", "'..' component"),
    ("/etc/{image}.jpg", "is absolute"),
    ("C:/x/{image}.jpg", "is absolute"),
    ("", "is empty"),
])
def test_templates_stay_short_and_inside_the_data_folder(template, match):
    refused("ROD", {**entry_of("ROD"), "image_template": template}, "image_template", match)


def test_short_format_specs_and_scenario_fields_are_accepted():
    assert new_episode("ROD", {**entry_of("ROD"), "image_template": "a/{image:0>3}.jpg", "first_image": 2}
                       ).observe().relative_image_path == "a/002.jpg"
    refused("ROD", {**entry_of("ROD"), "image_template": "a/{level}.jpg"}, "image_template", "is not allowed")
    new_episode("IN-C", entry_of("IN-C"))  # {level}
    new_episode("MVP-N", entry_of("MVP-N"))  # {informative} and {image}
    coco = entry_of("COCO")  # never formatted: braces are part of the file name, only the path rules apply
    assert new_episode("COCO", {**coco, "image_template": "coco/{x}.jpg"}).observe().relative_image_path == "coco/{x}.jpg"
    refused("COCO", {**coco, "image_template": "../coco.jpg"}, "image_template", "'..' component")


def test_unsafe_path_reason_is_pure_text():
    assert unsafe_path_reason("a/b.jpg") is None and unsafe_path_reason("a/..b/c.jpg") is None
    assert "NUL" in unsafe_path_reason("a\0b")
    assert "absolute" in unsafe_path_reason("\\\\server\\share")


@pytest.mark.parametrize("field, value, match", [
    ("horizontal_step", float("nan"), "finite number"), ("vertical_step", -1, "outside"), ("granularity", 0, "outside"),
    ("granularity", 10**6, "outside"), ("crop", [1, 2], "expected an object"),
    ("crop", {"top": "0", "left": 0, "height": 1, "width": 1}, "finite number"), ("crop", {"top": 0}, "missing 'left'"),
])
def test_coco_numbers_are_finite_and_bounded(field, value, match):
    refused("COCO", {**entry_of("COCO"), field: value}, field, match)


def test_lists_of_the_wrong_shape_are_refused():
    refused("ROD", {**entry_of("ROD"), "options": "Move"}, "options", "expected a list")
    refused("ROD", {**entry_of("ROD"), "categories": ["a", 3]}, "categories", "every item")
    refused("MVP-N", {**entry_of("MVP-N"), "valid_images": [1, -2]}, "valid_images", "every item")


def test_a_huge_reachable_state_space_is_refused_not_explored():
    entry = {**entry_of("ROD"), "num_images": MAX_TURNS}
    with pytest.raises(InvalidEntryError, match="distinct turns are reachable") as caught:
        reachable_images("ROD", entry, max_states=500)
    assert caught.value.field == "num_images"
    assert len(reachable_images("ROD", entry_of("ROD"), max_states=500)) == entry_of("ROD")["num_images"]


def test_a_fault_mid_episode_counts_the_turn_it_happened_on():
    # MVP-N with fewer views than turns: the move after the last listed view is a fault (the reference
    # raised IndexError); the answer is recorded, the episode fails, num_turns includes that turn.
    entry = {**entry_of("MVP-N"), "num_images": 4, "valid_images": [7, 8]}
    episode = new_episode("MVP-N", entry)
    request = episode.correct_now()[0][0]
    episode.answer(request)
    outcome = episode.answer(request)
    assert outcome.done and outcome.error and episode.stats["error"] == outcome.error
    assert episode.stats["num_turns"] == 2 == len(episode.stats["generated_answers"])
    assert not episode.stats["correct_prediction"]
