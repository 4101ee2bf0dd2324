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


class _Loader:
    """Wraps the real loader of ``lmms_eval.tasks`` to register right after it executes."""

    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _register(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _Finder:
    """One-shot meta-path finder: defers to the other finders, then wraps the loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        try:
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(fullname, path, target) if find_spec else None
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader)
                    return spec
        except Exception:
            return None
        return None


def install():
    try:
        if os.environ.get(_NO_AUTOREGISTER, "").strip().lower() in ("1", "true", "yes", "on"):
            return
        if _TARGET in sys.modules:
            _register(sys.modules[_TARGET])
        elif not any(isinstance(finder, _Finder) for finder in sys.meta_path):
            sys.meta_path.insert(0, _Finder())
    except Exception:
        pass


install()
