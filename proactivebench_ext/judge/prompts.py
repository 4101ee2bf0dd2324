"""Open-ended generation (OEG): the judge's messages and the parsing of its verdict.

The judge gets the question, the scenario's list of valid answers and the model's free text,
and answers with one 0/1 per valid answer. The first ``prediction_thr`` entries of the list are
proactive suggestions, the rest are categories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.constants import load_benchmark
from ..core.scenarios import resolve_scenario

_VERDICT_LIST = re.compile(r"[01](?:\s*,\s*[01])*")
METRICS = ("proactive_suggestion", "category_prediction", "aggregate")


def strip_reasoning(raw_output: str) -> str:
    """Keep only what follows the judge's last ``</think>`` (the user-visible answer)."""
    return raw_output.rsplit("</think>", 1)[-1]


def judge_messages(prompt: str, valid_answers: str, generated_answer: str) -> list[dict[str, str]]:
    """System + user messages for the judge; the answer list is rendered as a Python list."""
    judge = load_benchmark().judge
    correct_answers = [answer.strip().replace(".", "") for answer in valid_answers.split(",")]
    user = judge.user_prompt.format(user_prompt=prompt, correct_answers=correct_answers, generated_answer=generated_answer)
    return [{"content": judge.system_prompt, "role": "system"}, {"content": user, "role": "user"}]


@dataclass(frozen=True)
class JudgeVerdict:
    proactive_suggestion: int
    category_prediction: int
    aggregate: int
    well_formed: bool  # False when the output had no usable 0/1 list (scored as all zeros)

    def scores(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in METRICS}


def parse_judge_output(valid_answers: str, raw_output: str, scenario: str) -> JudgeVerdict:
    """Score a judge's (reasoning-free) output exactly as the benchmark does.

    The last 0/1 list counts; a list of the wrong length scores all zeros.
    """
    matches = _VERDICT_LIST.findall(raw_output)
    expected = len([answer for answer in valid_answers.split(",") if answer.strip() != ""])
    predictions = [token.strip() for token in matches[-1].split(",") if token.strip() != ""] if matches else []
    if not matches or len(predictions) != expected:
        return JudgeVerdict(0, 0, 0, well_formed=False)
    threshold = load_benchmark().judge.prediction_thr[resolve_scenario(scenario).acronym]
    suggestion = int("1" in predictions[:threshold])
    category = int("1" in predictions[threshold:])
    return JudgeVerdict(suggestion, category, int(suggestion or category), well_formed=True)
