"""Runtime patch 1: every lmms-eval TaskManager also indexes our task folder.

lmms-eval 0.7 reads ``LMMS_EVAL_PLUGINS`` only after the TaskManager is built, so it has no working
plugin hook for tasks. :func:`register_tasks` wraps ``TaskManager.initialize_tasks`` to append
our folder after the built-in tasks and the user's ``--include_path`` (which therefore win on
name clashes). Gate: lmms-eval versions in ``SUPPORTED_LMMS_EVAL``; switch:
``PROACTIVEBENCH_NO_AUTOREGISTER=1`` (read by :mod:`.startup`).

lmms-eval's command line builds its TaskManager before it creates the model, so the wrapper is also
where a run of our tasks with options they cannot honour, or with a bad ``PROACTIVEBENCH_*`` value,
stops: one line each and exit status 2 (:func:`.options.refuse_at_start`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from ..registration import tasks_path
from . import lmms_eval_version
from .options import refuse_at_start

SUPPORTED_LMMS_EVAL = ("0.7.",)  # versions whose TaskManager.initialize_tasks we wrap, tested on 0.7.3
_MARK = "_proactivebench_ext_wrapped"


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
        index = original(self, include_path=paths or None, include_defaults=include_defaults)
        # lmms-eval's command line builds the TaskManager before the model: refuse bad options here.
        refuse_at_start(index, folder, response_cache_ok=_lockstep_on)
        return index

    setattr(initialize_tasks, _MARK, True)
    task_manager_cls.initialize_tasks = initialize_tasks
    return True


def _same_dir(a: Any, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (TypeError, OSError):
        return False


def _lockstep_on() -> bool:
    """Whether our rounds will go through the lockstep driver (which makes ``--use_cache`` safe)."""
    from . import lockstep

    return lockstep.install() and lockstep.enabled()
