"""Start-up hook of proactivebench_ext: shows its tasks to lmms-eval with no extra flag.

Runtime patch 1 of :mod:`proactivebench_ext.lmms.runtime` (the patch itself is :mod:`.task_index`).

``proactivebench_ext_hook.pth`` (installed into site-packages with the package) imports this module
when Python starts. It only puts a small finder on ``sys.meta_path``; when ``lmms_eval.tasks`` is
later imported, the finder calls :func:`.task_index.register_tasks` on its
TaskManager. Nothing heavy is imported at start-up, nothing here ever raises, and
``PROACTIVEBENCH_NO_AUTOREGISTER=1`` turns it off (``--include_path`` still works then).
"""

import os
import sys

from .import_hook import after_import

_TARGET = "lmms_eval.tasks"
_NO_AUTOREGISTER = "PROACTIVEBENCH_NO_AUTOREGISTER"


def _warn(message):
    try:
        sys.stderr.write(f"proactivebench_ext: {message}; ProactiveBench tasks need "
                         "--include_path \"$(python -m proactivebench_ext tasks-path)\"\n")
    except Exception:
        pass


def _register(module):
    try:
        from .task_index import register_tasks

        if not register_tasks(module.TaskManager):
            _warn("this lmms-eval version is not one the task hook was tested with, so it stays off")
    except Exception as exc:  # never break an lmms-eval run because of us
        _warn(f"could not register tasks with lmms-eval ({type(exc).__name__}: {exc})")


def install():
    try:
        if os.environ.get(_NO_AUTOREGISTER, "").strip().lower() in ("1", "true", "yes", "on"):
            return
        after_import(_TARGET, _register)
    except Exception:
        pass


install()
