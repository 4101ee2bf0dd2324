"""The benchmark's constants, loaded from the byte-exact copy of ``benchmark.json``.

Prompts, hints and templates are data, not code: keeping them in one JSON file shipped with the
package (and identical to ``shared/reference/benchmark.json``) is what keeps scores comparable
with the paper.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

ACTION_NAMES = (
    "STOP", "LEFT", "RIGHT", "REWIND", "FORWARD", "ROTATE", "BRIGHTNESS", "CONTRAST", "SATURATE",
    "BLUR", "NOISE", "JPEG_COMPRESSION", "PIXELATE", "ARTIFACTS", "DETAILS", "UP", "DOWN", "ZOOM",
)
(STOP, LEFT, RIGHT, REWIND, FORWARD, ROTATE, BRIGHTNESS, CONTRAST, SATURATE, BLUR, NOISE,
 JPEG_COMPRESSION, PIXELATE, ARTIFACTS, DETAILS, UP, DOWN, ZOOM) = range(len(ACTION_NAMES))


@dataclass(frozen=True)
class ScenarioTexts:
    """Per-scenario prompt pieces; ``hint`` is keyed by "move"/"zoom" for COCO."""

    dataset: str
    hint: str | Mapping[str, str]
    pre_prompt: str
    reference_prompt: str | None
    cot_prompt: str | None


@dataclass(frozen=True)
class McqaTemplate:
    after_question: str
    option_line: str
    short_answer_suffix: str


@dataclass(frozen=True)
class JudgeSpec:
    """Open-ended generation: generic hint, sampling, judge prompts and per-scenario thresholds."""

    hint: str
    hint_joiner: str
    samples_per_scenario: int
    system_prompt: str
    user_prompt: str
    prediction_thr: Mapping[str, int]


@dataclass(frozen=True)
class Benchmark:
    datasets: Mapping[str, str]  # full dataset name -> acronym
    jsonl_name: str
    drop_rows: Mapping[str, object]
    scenarios: Mapping[str, ScenarioTexts]  # acronym -> texts
    action_ids: Mapping[str, int]
    action_keywords: Mapping[str, int]  # ordered: the first keyword found wins
    mcqa_template: McqaTemplate
    mcqa_generation: Mapping[str, object]
    judge: JudgeSpec
    resize_short_edge: Mapping[str, object]
    test_set_sizes: Mapping[str, int]
    filter_ids: Mapping[str, tuple[int, ...]]


def _frozen(mapping: dict) -> Mapping:
    return MappingProxyType(dict(mapping))


@cache
def load_benchmark() -> Benchmark:
    """Parse the shipped ``benchmark.json`` once; the result is immutable."""
    raw = json.loads(resources.files("proactivebench_ext").joinpath("resources/benchmark.json").read_text("utf-8"))
    oeg = raw["oeg"]
    return Benchmark(
        datasets=_frozen(raw["datasets"]),
        jsonl_name=raw["jsonl_name"],
        drop_rows=_frozen(raw["drop_rows"]),
        scenarios=_frozen({
            acronym: ScenarioTexts(
                dataset=texts["dataset"],
                hint=_frozen(texts["hint_prompt"]) if isinstance(texts["hint_prompt"], dict) else texts["hint_prompt"],
                pre_prompt=texts["pre_prompt"],
                reference_prompt=texts["reference_prompt"],
                cot_prompt=texts["cot_prompt"],
            )
            for acronym, texts in raw["scenarios"].items()
        }),
        action_ids=_frozen(raw["action_ids"]),
        action_keywords=_frozen(raw["action_keywords"]),
        mcqa_template=McqaTemplate(**raw["mcqa_template"]),
        mcqa_generation=_frozen(raw["mcqa_generation"]),
        judge=JudgeSpec(
            hint=oeg["hint"],
            hint_joiner=oeg["hint_joiner"],
            samples_per_scenario=oeg["samples_per_scenario"],
            system_prompt=oeg["judge_system_prompt"],
            user_prompt=oeg["judge_user_prompt"],
            prediction_thr=_frozen(oeg["prediction_thr"]),
        ),
        resize_short_edge=_frozen(raw["resize_short_edge"]),
        test_set_sizes=_frozen(raw["test_set_sizes"]),
        filter_ids=_frozen({name: tuple(ids) for name, ids in raw["filter_ids"].items()}),
    )
