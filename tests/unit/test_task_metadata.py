"""What lmms-eval's table shows for our tasks: versions follow the package, readable aliases, and
``psr`` presented as descriptive (no arrow), as tasks/README.md explains."""

from __future__ import annotations

from pathlib import Path

import yaml

from proactivebench_ext import __version__
from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, task_alias

TASKS = Path(__file__).resolve().parents[2] / "tasks"


class _Loader(yaml.SafeLoader):
    """Reads lmms-eval YAML without resolving ``!function`` tags."""


_Loader.add_constructor("!function", lambda loader, node: f"!function {loader.construct_scalar(node)}")


def load(path: Path) -> dict:
    """The YAML with its includes merged, as lmms-eval merges them (the including file wins)."""
    config = yaml.load(path.read_text("utf-8"), Loader=_Loader) or {}
    include = config.pop("include", None)
    return {**load(path.parent / include), **config} if include else config


def configs() -> dict[Path, dict]:
    return {path: load(path) for path in sorted(TASKS.rglob("*.yaml"))}


def test_every_task_and_group_has_the_package_version():
    versions = {path.relative_to(TASKS).as_posix(): config.get("metadata", {}).get("version")
                for path, config in configs().items()}
    assert versions and set(versions.values()) == {__version__}, versions


def test_aliases_name_the_scenario_topic():
    aliases = {config["task"]: config["task_alias"] for config in configs().values() if "task_alias" in config}
    assert aliases["proactive_rod"] == "ROD (occlusion)" and aliases["proactivebench_hint_coco"] == "COCO (camera crops; hint)"
    assert all(alias.split(" (")[0] in SCENARIO_ACRONYMS and alias.endswith(")") for alias in aliases.values())
    assert len({task_alias("main", acronym) for acronym in SCENARIO_ACRONYMS}) == len(SCENARIO_ACRONYMS)


def test_psr_is_not_higher_is_better_and_acc_is():
    seen = 0
    for config in configs().values():
        for metric in config.get("metric_list", []):
            if metric["metric"] == "psr":
                assert metric["higher_is_better"] is None  # lmms-eval then prints no arrow
                seen += 1
            elif metric["metric"] == "acc":
                assert metric["higher_is_better"] is True
    assert seen > 0
