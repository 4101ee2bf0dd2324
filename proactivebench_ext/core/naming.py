"""Every name the project shows the world, and how to read one back.

Scenario order (the paper's), the slugs in task names, dataset names, the task and group names
lmms-eval sees and their parsing all live here, so the task generators, the hooks, the judge and
the report can never disagree about what ``proactivebench_oeg_hint_mvpn`` means.

Naming scheme: the main tasks are ``proactive_<slug>`` (what ``--tasks 'proactive_*'`` selects);
every other variant is ``proactivebench_<variant>_<slug>``; groups are ``proactivebench`` and
``proactivebench_<variant>`` (plus ``proactivebench_<ablation>`` over several variants), so no group
or tag ever matches ``proactive_*``.
"""

from __future__ import annotations

from typing import NamedTuple

from .constants import load_benchmark

# The paper's order; acronyms as in benchmark.json.
SCENARIO_ACRONYMS = ("ROD", "VSOD", "MVP-N", "IN-C", "QD", "CIT", "COCO")

# What each scenario is about, in a word or two: task aliases read "ROD (occlusion)" in lmms-eval's table.
SCENARIO_TOPICS = {"ROD": "occlusion", "VSOD": "video occlusion", "MVP-N": "object views", "IN-C": "corruptions",
                   "QD": "sketches", "CIT": "how-to videos", "COCO": "camera crops"}

MAIN_VARIANT = "main"
MAIN_TASK_PREFIX = "proactive_"
FAMILY = "proactivebench"


def scenario_slug(acronym: str) -> str:
    """``MVP-N`` -> ``mvpn``: the scenario part of task names."""
    return acronym.lower().replace("-", "")


_BY_SLUG = {scenario_slug(acronym): acronym for acronym in SCENARIO_ACRONYMS}


def acronym_from_slug(slug: str) -> str | None:
    return _BY_SLUG.get(slug)


def dataset_name(scenario: str) -> str:
    """Full dataset name for an acronym ("ROD") or a full name ("Realistic-Occlusion-Dataset")."""
    datasets = load_benchmark().datasets
    if scenario in datasets:
        return scenario
    for name, acronym in datasets.items():
        if acronym == scenario:
            return name
    known = ", ".join(f"{acronym} ({name})" for name, acronym in datasets.items())
    raise KeyError(f"unknown ProactiveBench scenario {scenario!r}; known: {known}")


def acronym_of(scenario: str) -> str:
    """The acronym of a scenario given by acronym or full dataset name."""
    return load_benchmark().datasets[dataset_name(scenario)]


def task_name(variant: str, acronym: str) -> str:
    if variant == MAIN_VARIANT:
        return f"{MAIN_TASK_PREFIX}{scenario_slug(acronym)}"
    return f"{FAMILY}_{variant}_{scenario_slug(acronym)}"


def task_alias(variant: str, acronym: str) -> str:
    """The name lmms-eval's table shows: ``ROD (occlusion)``, ``ROD (occlusion; hint)``."""
    topic = SCENARIO_TOPICS[acronym]
    return f"{acronym} ({topic})" if variant == MAIN_VARIANT else f"{acronym} ({topic}; {variant})"


def group_name(variant: str) -> str:
    return FAMILY if variant == MAIN_VARIANT else f"{FAMILY}_{variant}"


class TaskName(NamedTuple):
    """A parsed task name: which variant of which scenario (compares equal to the plain tuple)."""

    variant: str
    acronym: str

    @property
    def group(self) -> str:
        return group_name(self.variant)


def parse_task_name(task: str) -> TaskName | None:
    """``proactive_rod`` -> (main, ROD); ``proactivebench_oeg_hint_vsod`` -> (oeg_hint, VSOD).

    None for anything else, groups included (``proactivebench_hint``). Variants never end in a
    scenario slug, so the last ``_``-separated part is the scenario.
    """
    if task.startswith(MAIN_TASK_PREFIX):
        acronym = acronym_from_slug(task[len(MAIN_TASK_PREFIX):])
        return TaskName(MAIN_VARIANT, acronym) if acronym else None
    prefix = f"{FAMILY}_"
    if not task.startswith(prefix):
        return None
    variant, _, slug = task[len(prefix):].rpartition("_")
    acronym = acronym_from_slug(slug)
    return TaskName(variant, acronym) if variant and acronym else None
