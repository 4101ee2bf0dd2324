"""The scenario engine: golden traces of the reference implementation, and the rules a reader would want pinned."""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path

import pytest

from proactivebench_ext import SCENARIOS, InvalidEntryError, new_episode, resolve_scenario
from proactivebench_ext.core.constants import LEFT, RIGHT, STOP, load_benchmark
from proactivebench_ext.core.matching import CORRECT, MISMATCH, WRONG, match_answer, standardize_letter, standardize_text
from proactivebench_ext.core.policies import oracle_answer, oracle_requests, random_success_probability
from proactivebench_ext.core.scenarios import is_abstain
from proactivebench_ext.judge.prompts import parse_judge_output, strip_reasoning
from proactivebench_ext.testing.conformance import run as run_conformance

GOLDEN = Path(__file__).parents[1] / "golden"
BENCHMARK_SHA256 = "7f5c3a34b1b4c9566b8722bffdebcac8a76eebc7bc08418d5316c2c39a6c493e"  # shared/reference/benchmark.json


def golden_records(name: str) -> list[dict]:
    return [json.loads(line) for line in (GOLDEN / name).read_text("utf-8").splitlines() if line.strip()]


def first_entry(acronym: str, case: str = "regular") -> dict:
    return next(r["entry"] for r in golden_records("mcqa.jsonl") if r["acronym"] == acronym and r["case"] == case)


# -- golden traces -----------------------------------------------------------------------------

def test_every_golden_trace_matches():
    out = io.StringIO()
    assert run_conformance(GOLDEN, out=out), out.getvalue()
    report = out.getvalue()
    assert "mcqa.jsonl: 581/581 matched" in report
    assert "oeg.jsonl: 57/57 matched" in report
    assert "icl.jsonl: 54/54 matched" in report


def test_conformance_runner_reports_first_difference(tmp_path):
    records = golden_records("mcqa.jsonl")
    records[0]["turns"][0]["prompt"] += " (edited)"
    (tmp_path / "mcqa.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = io.StringIO()
    assert not run_conformance(tmp_path, out=out)
    assert "mcqa.jsonl: 580/581 matched" in out.getvalue()
    assert "turns[0].prompt: expected" in out.getvalue()


def test_conformance_cli_exit_status(tmp_path):
    from proactivebench_ext.testing.conformance import main

    assert main([str(GOLDEN)]) == 0
    assert main([str(tmp_path)]) == 1  # no golden files at all is a failure, not a pass


def test_benchmark_constants_are_byte_identical_to_the_reference():
    shipped = Path(__file__).parents[2] / "proactivebench_ext" / "resources" / "benchmark.json"
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == BENCHMARK_SHA256
    assert sum(len(ids) for ids in load_benchmark().filter_ids.values()) == 7557


# -- answer matching ---------------------------------------------------------------------------

def test_standardisation_strips_letter_prefix_case_and_spaces():
    assert standardize_text("B. Move the Red cardboard  to the left.") == "movetheredcardboardtotheleft."
    assert standardize_text("The answer is B. toy car") == "toycar"
    assert standardize_text("John F. Moretti") == "moretti"  # the reference's greedy prefix strip
    assert standardize_text("toy\tcar") == "toy\tcar"  # only spaces are removed inside
    assert standardize_letter("  b \n") == "b"
    assert standardize_letter("B) Move") == "#"


def test_text_beats_a_conflicting_letter_and_letters_shift_after_options():
    options = ["Rotate the object.", "I cannot answer."]
    assert match_answer("B. Rotate the object.", ["Rotate the object."], options, 0).verdict == CORRECT
    assert match_answer("B", ["Rotate the object."], options, 0).verdict == WRONG
    categories = ["mug", "shoe"]
    assert match_answer("D", ["shoe"], categories, len(options)).verdict == CORRECT
    assert match_answer("B", ["shoe"], categories, len(options)).verdict == MISMATCH
    assert match_answer("I think it is a dog", ["shoe"], categories, 2).verdict == MISMATCH


def test_mcqa_prompt_is_the_reference_template():
    episode = new_episode("ROD", first_entry("ROD"))
    turn = episode.observe()
    assert turn.mcqa_prompt.startswith(turn.prompt + " Choose from the following options. Options:\nA. ")
    assert turn.mcqa_prompt.endswith("\nPlease only return one of the options without any other words.")


# -- scenario rules ----------------------------------------------------------------------------

def test_scenarios_resolve_by_acronym_or_dataset_name():
    assert [s.acronym for s in SCENARIOS.values()] == ["ROD", "VSOD", "MVP-N", "IN-C", "QD", "CIT", "COCO"]
    assert resolve_scenario("Realistic-Occlusion-Dataset") is SCENARIOS["ROD"]
    with pytest.raises(KeyError, match="unknown ProactiveBench scenario"):
        resolve_scenario("ImageNet")


def test_rod_wraps_around_and_first_turn_refuses_categories():
    entry = dict(first_entry("ROD"), first_image=0)
    episode = new_episode("ROD", entry)
    left = next(o for o in entry["options"] if "left" in o)
    assert episode.correct_now()[1] == []  # nothing to see yet: a category cannot be right
    episode.answer(left)
    assert episode.stats["action_history"] == [LEFT]
    assert episode.state.image_id == entry["num_images"] - 1
    assert episode.observe().relative_image_path.endswith(f"s{entry['num_images'] - 1}.jpg")


def test_cit_hides_rewind_at_the_start_and_wait_at_the_end():
    entry = dict(first_entry("CIT"), first_image=0, step_size=10, num_images=30, max_steps=5)
    episode = new_episode("CIT", entry)
    assert "Rewind the video." not in episode.observe().options
    wait = next(o for o in entry["options"] if o.startswith("Wait for the"))
    episode.answer(wait)
    assert "Rewind the video." in episode.observe().options
    episode.answer(wait)
    assert episode.state.image_id == 20
    assert wait not in episode.observe().options  # 20 + 10 >= 30: the video ends here


def test_coco_crop_widens_by_one_initial_step_per_request():
    entry = first_entry("COCO")  # direction "up", vertical_step 20, crop top 67 left 155 height 256 width 315
    assert (entry["direction"], entry["vertical_step"]) == ("up", 20)
    episode = new_episode("COCO", entry)
    assert episode.observe().crop == (155, 67 - 20, 315, 256)
    episode.answer("Move the camera up.")
    assert episode.observe().crop == (155, 67 - 40.0, 315, 256)
    zoom = dict(entry, direction="zoom", options=["Move farther from the object.", "I cannot answer this question."],
                horizontal_step=10, vertical_step=5, granularity=2)
    turn = new_episode("COCO", zoom).observe()
    crop = entry["crop"]
    assert turn.crop == (crop["left"] - 10, crop["top"] - 5, crop["width"] + 10 + crop["left"], crop["height"] + 5 + crop["top"])
    assert new_episode("COCO", zoom, reference=True).observe().crop is None


def test_hints_and_pre_prompts():
    texts = load_benchmark().scenarios
    turn = new_episode("VSOD", first_entry("VSOD"), hint=True).observe()
    assert turn.prompt.startswith(texts["VSOD"].pre_prompt + " ")
    assert turn.prompt.endswith(" " + texts["VSOD"].hint)
    coco = first_entry("COCO")
    assert new_episode("COCO", coco, hint=True).observe().prompt.endswith(texts["COCO"].hint["move"])


def test_reference_mode_is_one_turn_on_the_clean_frame_with_categories_only():
    entry = first_entry("ROD")
    episode = new_episode("ROD", entry, reference=True)
    turn = episode.observe()
    assert turn.options == tuple(entry["categories"])
    assert turn.prompt == load_benchmark().scenarios["ROD"].reference_prompt
    assert turn.relative_image_path.endswith(f"s{entry['reference_image']}.jpg")
    episode.answer(entry["answer"])
    assert episode.done and episode.stats["correct_prediction"] and episode.stats["num_turns"] == 1


# -- invalid entries and hostile answers -----------------------------------------------------------

@pytest.mark.parametrize("acronym, change, field", [
    ("ROD", {"answer": "unicorn"}, "answer"),
    ("QD", {"prompt": None}, "prompt"),
    ("IN-C", {"quality_answer": "Sharpen the image."}, "quality_answer"),
    ("CIT", {"options": ["Wait for the object to appear.", "I cannot tell."], "first_image": 0}, "options"),
    ("CIT", {"first_image": 120, "num_images": 120}, "first_image"),  # the reference refuses a start past the end
    ("COCO", {"crop": {"top": 67, "left": 315, "height": 256, "width": 155}}, "crop"),  # inverted: right < left
    ("COCO", {"crop": {"top": 67, "left": 155, "height": 256, "width": 155}}, "crop"),  # empty: 0 pixels wide
    ("COCO", {"crop": {"top": 67, "left": 155, "height": 47.4, "width": 315}}, "crop"),  # empty once the steps apply
    ("QD", {"prompt": "What is drawn? \ud800"}, "prompt"),  # a lone surrogate is not text
    ("ROD", {"options": ["Move the camera to the left.", "x\udfff"]}, "options"),
])
def test_invalid_entries_name_dataset_sample_and_field(acronym, change, field):
    entry = dict(first_entry(acronym), **change)
    with pytest.raises(InvalidEntryError) as caught:
        new_episode(acronym, entry)
    assert caught.value.field == field
    assert resolve_scenario(acronym).dataset in str(caught.value) and str(entry["id"]) in str(caught.value)


@pytest.mark.parametrize("random_actions", [None, 7])
def test_an_in_c_entry_without_quality_answer_is_refused_in_every_mode(random_actions):
    entry = dict(first_entry("IN-C"))
    del entry["quality_answer"]
    seed = None if random_actions is None else random.Random(random_actions)
    with pytest.raises(InvalidEntryError, match="missing field") as caught:
        new_episode("IN-C", entry, random_actions=seed)
    assert caught.value.field == "quality_answer"


def test_crop_box_errors_name_the_bound():
    entry = dict(first_entry("COCO"), crop={"top": 67, "left": 315, "height": 256, "width": 155})
    with pytest.raises(InvalidEntryError, match=r"\(315, 47, 155, 256\) is -160 pixels wide.*at least 1"):
        new_episode("COCO", entry)


def test_cit_first_image_bound_names_num_images():
    entry = dict(first_entry("CIT"), first_image=130)
    with pytest.raises(InvalidEntryError, match=r"130 is outside \[0, 119\]"):
        new_episode("CIT", entry)


def test_missing_field_is_named():
    entry = dict(first_entry("VSOD"))
    del entry["strong_occlusions"]
    with pytest.raises(InvalidEntryError, match="strong_occlusions"):
        new_episode("VSOD", entry)


@pytest.mark.parametrize("answer", ["", "I think it is a dog maybe", "A" * 200_000, None, "\n\t  ", "ZZZ. ...."])
def test_hostile_answers_end_the_episode_without_raising(answer):
    for acronym in SCENARIOS:
        episode = new_episode(acronym, first_entry(acronym))
        episode.answer(answer)
        assert episode.done and not episode.stats["correct_prediction"]


def test_an_answer_the_reference_crashed_on_ends_as_an_error():
    entry = first_entry("ROD", "edge:rod_option_without_action_key")
    option = next(o for o in entry["options"] if not is_abstain(o) and "to the" not in o.lower())
    assert option == "Remove the white paper sheet."
    episode = new_episode("ROD", entry)
    episode.answer(option)
    assert episode.done and not episode.correct_prediction
    assert "names no action" in episode.stats["error"]


# -- OEG and policies --------------------------------------------------------------------------

def test_judge_output_parsing():
    valid = "Move the blocks, Move the camera, cup."
    assert strip_reasoning("<think>1, 1, 1</think>\n0,0,1") == "\n0,0,1"
    assert parse_judge_output(valid, "0, 0, 1", "ROD").scores() == {"proactive_suggestion": 0, "category_prediction": 1, "aggregate": 1}
    assert parse_judge_output(valid, "1,0", "ROD").well_formed is False
    assert parse_judge_output(valid, "garbage", "Realistic-Occlusion-Dataset").scores()["aggregate"] == 0


def test_oracle_succeeds_and_moves_toward_the_reference_frame():
    for acronym in SCENARIOS:
        episode = new_episode(acronym, first_entry(acronym))
        requests = oracle_requests(episode)
        while not episode.done:
            episode.answer(oracle_answer(episode))
        assert episode.stats["correct_prediction"], acronym
        assert episode.stats["num_turns"] - 1 == requests
    rod = new_episode("ROD", first_entry("ROD"))  # first_image 2, reference 6
    while not rod.done:
        rod.answer(oracle_answer(rod))
    assert rod.stats["image_id_history"] == [2, 3, 4, 5, 6]


def test_random_success_probability_matches_simulation():
    entry = first_entry("COCO")
    episode = new_episode("COCO", entry)
    expected = random_success_probability(episode)
    rng, wins, trials = random.Random(0), 0, 20_000
    for _ in range(trials):
        play = episode.fork()
        while not play.done:
            play.answer(rng.choice(play.observe().options))
        wins += play.correct_prediction
    assert abs(wins / trials - expected) < 4 * (expected * (1 - expected) / trials) ** 0.5


def test_random_action_mode_is_seeded():
    entry = first_entry("ROD")
    request = entry["options"][0]

    def actions(seed: int) -> list[int]:
        episode = new_episode("ROD", entry, random_actions=random.Random(seed))
        for _ in range(5):
            episode.answer(request)
        return episode.stats["action_history"]

    assert actions(1) == actions(1)
    assert {a for seed in range(10) for a in actions(seed)} == {LEFT, RIGHT}
    assert STOP not in actions(3)


def test_forks_do_not_consume_the_random_mode_draws():
    entry = first_entry("ROD")
    request = entry["options"][0]
    plain = new_episode("ROD", entry, random_actions=random.Random(4))
    explored = new_episode("ROD", entry, random_actions=random.Random(4))
    for _ in range(3):
        for _ in range(5):
            explored.fork().answer(request)
        plain.answer(request)
        explored.answer(request)
    assert plain.stats == explored.stats


def test_a_move_into_an_unplayable_state_ends_the_episode_and_its_last_turn_says_so():
    entry = dict(first_entry("QD"), first_image=3)  # only frames 0..num_images-1 exist
    episode = new_episode("QD", entry)
    request = next(o for o in entry["options"] if not is_abstain(o))
    while not episode.done:
        outcome = episode.answer(request)
    assert "outside the valid images" in episode.stats["error"] and not episode.correct_prediction
    assert outcome.done and outcome.error == episode.error and episode.history[-1][1] == outcome
