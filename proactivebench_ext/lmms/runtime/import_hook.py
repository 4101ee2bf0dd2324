"""Run a function right after a module is imported: the package's one import hook.

The start-up hook (:mod:`.startup`) registers our tasks when ``lmms_eval.tasks`` is imported;
:mod:`.backends` fixes backend modules when lmms-eval imports them. Imports nothing, never
raises on its own (a hook's ``then`` handles its own errors): it runs in every interpreter.
"""

import sys


class _Loader:
    """Wraps a module's real loader to call ``then(module)`` right after the module executes."""

    def __init__(self, inner, then):
        self._inner, self._then = inner, then

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        self._then(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _Finder:
    """Meta-path finder of the modules a hook waits for (one shot each): defers to the other
    finders, then wraps the loader they return."""

    def __init__(self):
        self.pending = {}

    def find_spec(self, fullname, path=None, target=None):
        then = self.pending.pop(fullname, None)
        if then is None:
            return None
        if not self.pending:
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
        try:
            for finder in list(sys.meta_path):
                find_spec = getattr(finder, "find_spec", None) if finder is not self else None
                spec = find_spec(fullname, path, target) if find_spec else None
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader, then)
                    return spec
        except Exception:
            return None
        return None


def after_import(name, then):
    """Call ``then(module)`` once module ``name`` has been imported (now, if it already is).

    ``then`` handles its own errors: an exception from it fails that import.
    """
    if name in sys.modules:
        then(sys.modules[name])
        return
    finder = next((finder for finder in sys.meta_path if isinstance(finder, _Finder)), None)
    if finder is None:
        finder = _Finder()
        sys.meta_path.insert(0, finder)
    finder.pending[name] = then
