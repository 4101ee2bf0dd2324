"""Making lmms-eval see our tasks and models without extra flags.

Models: the entry-point group ``lmms_eval.models`` (see :func:`model_manifests`).
Tasks: lmms-eval 0.7 has no working plugin hook for tasks (``LMMS_EVAL_PLUGINS`` is read after the
TaskManager is built), so the start-up hook ``_proactivebench_ext_hook`` (run by the
``proactivebench_ext_hook.pth`` file installed with the package) calls :func:`register_tasks` right
after ``lmms_eval.tasks`` is imported; it adds our task folder to every TaskManager, after the
built-in tasks and the user's ``--include_path``, which therefore win on name clashes.
``--include_path "$(python -m proactivebench_ext tasks-path)"`` works without any of this.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any

NO_AUTOREGISTER_ENV = "PROACTIVEBENCH_NO_AUTOREGISTER"
SUPPORTED_LMMS_EVAL = ("0.7.",)  # versions whose TaskManager.initialize_tasks we wrap, tested on 0.7.3
_TEMPLATE = Path("proactivebench") / "_default_template_yaml"
_MARK = "_proactivebench_ext_wrapped"


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


def lmms_eval_version() -> str:
    from importlib.metadata import version

    return version("lmms_eval")


def register_tasks(task_manager_cls: type) -> bool:
    """Wrap ``TaskManager.initialize_tasks`` so every TaskManager also indexes our tasks.

    Returns False (and changes nothing) on lmms-eval versions outside ``SUPPORTED_LMMS_EVAL``.
    Idempotent.
    """
    if not lmms_eval_version().startswith(SUPPORTED_LMMS_EVAL):
        return False
    original = task_manager_cls.initialize_tasks
    if getattr(original, _MARK, False):
        return True
    folder = str(tasks_path())

    @functools.wraps(original)
    def initialize_tasks(self: Any, include_path: Any = None, include_defaults: bool = True) -> Any:
        paths = [] if include_path is None else [include_path] if isinstance(include_path, str) else list(include_path)
        # Only alongside the built-in tasks: include_defaults=False asks for the given paths alone.
        if include_defaults and not any(_same_dir(path, folder) for path in paths):
            paths.append(folder)
        return original(self, include_path=paths or None, include_defaults=include_defaults)

    setattr(initialize_tasks, _MARK, True)
    task_manager_cls.initialize_tasks = initialize_tasks
    return True


def _same_dir(a: Any, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (TypeError, OSError):
        return False


def model_manifests() -> list[Any]:
    """Entry point ``lmms_eval.models``: our baseline models, imported only when selected."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id="proactive_oracle", simple_class_path="proactivebench_ext.lmms.baselines.ProactiveOracle"),
        ModelManifest(model_id="proactive_random", simple_class_path="proactivebench_ext.lmms.baselines.ProactiveRandom"),
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m proactivebench_ext tasks-path``: the folder to give lmms-eval's ``--include_path``."""
    if argv:
        print("usage: python -m proactivebench_ext tasks-path", file=sys.stderr)
        return 2
    print(tasks_path())
    return 0
