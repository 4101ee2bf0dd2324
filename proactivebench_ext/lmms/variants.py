"""Which lmms-eval tasks exist: scenarios x variants, their names and what each variant changes.

One table drives the task YAMLs (``tasks/proactivebench/_generate_configs.py``), the hooks and the
tests, so a new variant (hint, ICL, history, random, OEG) is one more row here plus a regenerate.

Naming: the main tasks are ``proactive_<scenario>`` (what ``--tasks 'proactive_*'`` selects); every
other variant is ``proactivebench_<variant>_<scenario>``, and groups are ``proactivebench`` /
``proactivebench_<variant>``, so no group, tag or variant ever matches ``proactive_*``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

# Paper order; acronyms as in benchmark.json.
SCENARIO_ACRONYMS = ("ROD", "VSOD", "MVP-N", "IN-C", "QD", "CIT", "COCO")

# Upper bound on rounds per episode given to lmms-eval's agentic runner. The runner stops as soon as
# our hook reports the episode over, so a generous bound costs nothing; process_docs checks that
# every entry's own step budget (``max_steps``) fits, so the terminal round is always reached.
MAX_AGENTIC_STEPS = 1000


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    episode_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    metrics: tuple[str, ...] = ("acc", "psr")


VARIANTS: Mapping[str, Variant] = MappingProxyType({
    "main": Variant("main", "multi-turn MCQA: the model may ask for a better view before answering"),
    "reference": Variant("reference", "clean reference frame, categories only, one turn",
                         MappingProxyType({"reference": True}), ("acc",)),
})


def scenario_slug(acronym: str) -> str:
    """``MVP-N`` -> ``mvpn``: the scenario part of task names."""
    return acronym.lower().replace("-", "")


def task_name(variant: str, acronym: str) -> str:
    if variant == "main":
        return f"proactive_{scenario_slug(acronym)}"
    return f"proactivebench_{variant}_{scenario_slug(acronym)}"


def group_name(variant: str) -> str:
    return "proactivebench" if variant == "main" else f"proactivebench_{variant}"


def get_variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown ProactiveBench task variant {name!r}; known: {', '.join(VARIANTS)} "
                       "(proactivebench_ext/lmms/variants.py)") from None
