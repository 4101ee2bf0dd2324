"""Making lmms-eval see our tasks and models without extra flags.

Models: the entry-point group ``lmms_eval.models`` (see :func:`model_manifests`).
Tasks: :func:`tasks_path` is the folder of our YAML; lmms-eval 0.7 has no working plugin hook for
tasks, so :mod:`.runtime.startup` adds that folder to every TaskManager (a runtime patch, with
its version gate, in :mod:`.runtime.task_index`). ``--include_path "$(python -m proactivebench_ext
tasks-path)"`` works without any of this.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

_TEMPLATE = Path("proactivebench") / "_default_template_yaml"


def tasks_path() -> Path:
    """The folder holding our lmms-eval task YAMLs (for ``--include_path``).

    Installed, it is the ``proactivebench_ext.tasks`` package (``tasks/`` of the repository, mapped
    there by setup.cfg); in a plain source checkout, the repository's ``tasks/`` folder.
    """
    candidates = []
    try:
        spec = importlib.util.find_spec("proactivebench_ext.tasks")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(Path(location) for location in spec.submodule_search_locations)
    candidates.append(Path(__file__).resolve().parents[2] / "tasks")
    for candidate in candidates:
        if (candidate / _TEMPLATE).is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"ProactiveBench task configs not found (looked for {_TEMPLATE} in "
                            f"{', '.join(map(str, candidates))}); reinstall the package: pip install proactivebench_ext")


def model_manifests() -> list[Any]:
    """Entry point ``lmms_eval.models``: our baseline models, imported only when selected.

    lmms-eval runs it while building its model registry, before any backend is imported: the
    version-gated backend fixes (runtime.backends, docs/models.md) are hooked in here."""
    from lmms_eval.models.registry_v2 import ModelManifest

    from .runtime import backends

    backends.install_on_import()

    return [
        # The MCQA baselines that also answer the open questions of OEG tasks (lmms.oeg_baselines).
        ModelManifest(model_id="proactive_oracle", simple_class_path="proactivebench_ext.lmms.oeg_baselines.OpenEndedOracle"),
        ModelManifest(model_id="proactive_random", simple_class_path="proactivebench_ext.lmms.oeg_baselines.OpenEndedRandom"),
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m proactivebench_ext tasks-path``: the folder to give lmms-eval's ``--include_path``."""
    if argv:
        print("usage: python -m proactivebench_ext tasks-path", file=sys.stderr)
        return 2
    print(tasks_path())
    return 0
