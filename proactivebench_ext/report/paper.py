"""The paper's published numbers and which of its 22 models an lmms-eval run is.

The tables are data (``resources/paper_results.json``, transcribed from arXiv 2603.19466 v2), so
a report can print the paper's row beside ours without anyone copying numbers by hand. The model
mapping is data too: one row per paper model listing the checkpoint ids it is published under.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from ..core.naming import SCENARIO_ACRONYMS as SCENARIOS  # the paper's column order

SOURCE = "ProactiveBench, arXiv 2603.19466 v2"
AVG = "avg"

# Paper row name -> ids the model is loaded under (Hugging Face repos, API model names).
# Matching is case-insensitive on the whole id or its last path component, so a local checkout
# at /models/Qwen2.5-VL-7B-Instruct matches too. Add aliases here, never in code.
PAPER_MODEL_IDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "LLaVA-1.5-7B": ("llava-hf/llava-1.5-7b-hf", "liuhaotian/llava-v1.5-7b"),
    "LLaVA-NeXT-Mistral-7B": ("llava-hf/llava-v1.6-mistral-7b-hf", "liuhaotian/llava-v1.6-mistral-7b"),
    "LLaVA-NeXT-Vicuna-7B": ("llava-hf/llava-v1.6-vicuna-7b-hf", "liuhaotian/llava-v1.6-vicuna-7b"),
    "LLaVA-OV-0.5B": ("llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "lmms-lab/llava-onevision-qwen2-0.5b-ov"),
    "LLaVA-OV-7B": ("llava-hf/llava-onevision-qwen2-7b-ov-hf", "lmms-lab/llava-onevision-qwen2-7b-ov"),
    "LLaVA-OV-72B": ("llava-hf/llava-onevision-qwen2-72b-ov-hf", "lmms-lab/llava-onevision-qwen2-72b-ov",
                     "lmms-lab/llava-onevision-qwen2-72b-ov-sft"),
    "SmolVLM2-2.2B": ("HuggingFaceTB/SmolVLM2-2.2B-Instruct",),
    "Idefics3-8B": ("HuggingFaceM4/Idefics3-8B-Llama3",),
    "InstructBLIP-7B": ("Salesforce/instructblip-vicuna-7b",),
    "Qwen2.5-VL-3B": ("Qwen/Qwen2.5-VL-3B-Instruct",),
    "Qwen2.5-VL-7B": ("Qwen/Qwen2.5-VL-7B-Instruct",),
    "Qwen2.5-VL-32B": ("Qwen/Qwen2.5-VL-32B-Instruct",),
    "Qwen2.5-VL-72B": ("Qwen/Qwen2.5-VL-72B-Instruct",),
    "InternVL3-1B": ("OpenGVLab/InternVL3-1B", "OpenGVLab/InternVL3-1B-hf"),
    "InternVL3-2B": ("OpenGVLab/InternVL3-2B", "OpenGVLab/InternVL3-2B-hf"),
    "InternVL3-8B": ("OpenGVLab/InternVL3-8B", "OpenGVLab/InternVL3-8B-hf"),
    "InternVL3-38B": ("OpenGVLab/InternVL3-38B", "OpenGVLab/InternVL3-38B-hf"),
    "InternVL3-78B": ("OpenGVLab/InternVL3-78B", "OpenGVLab/InternVL3-78B-hf"),
    "Phi-4-Multimodal": ("microsoft/Phi-4-multimodal-instruct",),
    "o4-mini": ("o4-mini", "o4-mini-2025-04-16"),
    "GPT-4.1": ("gpt-4.1", "gpt-4.1-2025-04-14"),
    "GPT-5.2": ("gpt-5.2",),
})


@dataclass(frozen=True)
class PaperTable:
    """One published table: ``rows[model][scenario or "avg"][metric] -> value``."""

    key: str  # key in paper_results.json, e.g. "mcqa"
    label: str  # "Table 1"
    what: str
    rows: Mapping[str, Mapping[str, Mapping[str, float]]]

    def cell(self, model: str, column: str, metric: str) -> float | None:
        return self.rows.get(model, {}).get(column, {}).get(metric)


@cache
def _raw() -> dict[str, Any]:
    text = resources.files("proactivebench_ext").joinpath("resources/paper_results.json").read_text("utf-8")
    return json.loads(text)


def paper_table(key: str) -> PaperTable:
    """A table of ``paper_results.json`` by key (``mcqa``, ``reference``, ``mcqa_hint``, ``oeg``, ...)."""
    tables = _raw()["tables"]
    if key not in tables:
        raise KeyError(f"no paper table {key!r} in resources/paper_results.json; known: {', '.join(tables)}")
    table = tables[key]
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for row in table["rows"]:
        if "config" in row:  # GRPO rows are per training configuration, not per model
            continue
        rows[row["model"]] = {col: dict(row[col]) for col in (*SCENARIOS, AVG) if col in row}
    return PaperTable(key, table["paper_table"], table["what"], MappingProxyType(rows))


def paper_models() -> tuple[str, ...]:
    """The paper's 22 models in Table 1 order."""
    return tuple(paper_table("mcqa").rows)


def _aliases() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, ids in PAPER_MODEL_IDS.items():
        for alias in (name, *ids):
            out[alias.lower()] = name
            out[alias.rsplit("/", 1)[-1].lower()] = name
    return out


def paper_name(model_id: str) -> str | None:
    """The paper's row name for an lmms-eval ``pretrained=``/``model_version=`` id, or None."""
    key = model_id.strip().rstrip("/").lower()
    if not key:
        return None
    aliases = _aliases()
    return aliases.get(key) or aliases.get(key.rsplit("/", 1)[-1])
