"""The GRPO reward (proactivebench_ext.rl.reward) against the reference implementation's verdicts.

Every turn of the golden MCQA traces that the reference played to an evaluation is scored for
each r_p of the paper; the expected reward comes from the trace's own per-turn evaluations
(category correct -> 1, action correct -> r_p, else 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proactivebench_ext.core.engine import new_episode, reachable_episodes
from proactivebench_ext.rl import PAPER_PROACTIVE_REWARDS, ProactiveReward, StateError, reward
from proactivebench_ext.rl.reward import completion_text

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "mcqa.jsonl"


def golden_turns() -> list[dict]:
    """(scenario, entry, flags, answers up to the turn, the reference's verdicts) per evaluated turn."""
    cases = []
    for line in GOLDEN.read_text("utf-8").splitlines():
        record = json.loads(line)
        if record["stats"] is None:  # the reference could not even build the environment
            continue
        stats, answers = record["stats"], []
        for index, turn in enumerate(record["turns"]):
            if "error" in turn:  # the reference raised before (or while) judging this answer
                break
            answers.append(turn["answer"])
            cases.append({"scenario": record["acronym"], "case": record["case"], "entry": record["entry"], "flags": record["flags"],
                          "answers": list(answers), "category": stats["category_evaluations"][index],
                          "action": stats["action_evaluations"][index]})
    return cases


CASES = golden_turns()


def expected(case: dict, rp: float) -> float:
    return 1.0 if case["category"] == "correct" else rp if case["action"] == "correct" else 0.0


def test_golden_set_covers_every_verdict():
    assert len(CASES) > 1800
    kinds = {(c["category"] == "correct", c["action"] == "correct") for c in CASES}
    assert kinds >= {(True, False), (False, True), (False, False)}
    assert any(c["flags"]["reference"] for c in CASES) and any(c["flags"]["hint"] for c in CASES)


@pytest.mark.parametrize("rp", PAPER_PROACTIVE_REWARDS)
def test_reward_matches_the_reference_on_every_evaluated_golden_turn(rp):
    wrong = []
    for case in CASES:
        got = reward(case["scenario"], case["entry"], case["answers"], proactive_reward=rp, **case["flags"])
        if got != expected(case, rp):
            wrong.append((case["scenario"], case["entry"].get("id"), len(case["answers"]), got, expected(case, rp)))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("rp", PAPER_PROACTIVE_REWARDS)
def test_trl_reward_function_matches_the_reference(rp):
    """The TRL signature, in batches as the trainer calls it (conversational completions, dataset columns)."""
    func = ProactiveReward(rp)
    for start in range(0, len(CASES), 64):
        batch = CASES[start:start + 64]
        got = func(
            prompts=[[{"role": "user", "content": "unused"}]] * len(batch),
            completions=[[{"role": "assistant", "content": c["answers"][-1]}] for c in batch],
            scenario=[c["scenario"] for c in batch],
            entry=[json.dumps(c["entry"]) for c in batch],
            answers=[c["answers"][:-1] for c in batch],
            hint=[c["flags"]["hint"] for c in batch],
            reference=[c["flags"]["reference"] for c in batch],
            trainer_state=None,
        )
        assert got == [expected(c, rp) for c in batch]


def test_every_state_of_an_episode_is_a_training_state():
    """Any reachable state can be scored: the correct category is worth 1 there, an accepted request r_p."""
    entry = next(c["entry"] for c in CASES if c["scenario"] == "QD" and c["case"] == "regular")
    states = list(reachable_episodes(new_episode("QD", entry)))
    assert len(states) > 2
    for state in states:
        prefix = [outcome.answer for _, outcome in state.history]
        accepted, categories = state.correct_now()
        assert reward("QD", entry, [*prefix, categories[0]], proactive_reward=0.75) == 1.0
        for request in accepted:
            assert reward("QD", entry, [*prefix, request], proactive_reward=0.75) == 0.75


ROD_MOVE = "Move the red cardboard to the right."
ROD_ENTRY = next(c["entry"] for c in CASES if c["scenario"] == "ROD" and c["case"] == "regular" and ROD_MOVE in c["entry"]["options"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(), rp=st.sampled_from(PAPER_PROACTIVE_REWARDS))
def test_reward_never_raises_on_any_answer_text(text, rp):
    value = reward("ROD", ROD_ENTRY, [ROD_MOVE, text], proactive_reward=rp)
    assert value in (0.0, rp, 1.0)
    func_value = ProactiveReward(rp)(completions=[text], scenario=["ROD"], entry=[json.dumps(ROD_ENTRY)],
                                     answers=[[ROD_MOVE]])
    assert func_value == [value]


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.dictionaries(st.text(), st.text())),
                 st.lists(st.dictionaries(st.just("content"), st.lists(st.dictionaries(st.text(), st.text()))))))
def test_completion_text_never_raises(completion):
    assert isinstance(completion_text(completion), str)


def test_completion_formats():
    assert completion_text("B.") == "B."
    assert completion_text([{"role": "assistant", "content": "B."}]) == "B."
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "B"}, {"type": "text", "text": "."}]}]) == "B."


def test_states_that_cannot_be_scored_are_refused():
    entry = ROD_ENTRY
    with pytest.raises(StateError, match="at least the answer"):
        reward("ROD", entry, [])
    with pytest.raises(StateError, match="ended after answer 1"):  # a wrong first answer ends the episode
        reward("ROD", entry, ["I give up", "Move the red cardboard to the right.", "B"])
    with pytest.raises(TypeError, match="not one string"):
        reward("ROD", entry, "A")
    for rp in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 1"):
            reward("ROD", entry, ["A"], proactive_reward=rp)
        with pytest.raises(ValueError, match="between 0 and 1"):
            ProactiveReward(rp)


def test_scoring_does_not_disturb_the_shared_state():
    """The TRL function replays each prompt's state once and forks it per completion."""
    func = ProactiveReward(0.5)
    columns = {"scenario": ["ROD"] * 3, "entry": [json.dumps(ROD_ENTRY)] * 3, "answers": [[]] * 3}
    first = func(completions=["Move the red cardboard to the right.", "nonsense", "Move the red cardboard to the left."],
                 **columns)
    assert first == [0.5, 0.0, 0.5]
    assert func(completions=["Move the red cardboard to the left.", "nonsense", "Move the red cardboard to the right."],
                **columns) == [0.5, 0.0, 0.5]
