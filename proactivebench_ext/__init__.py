"""ProactiveBench (arXiv 2603.19466) as an lmms-eval task extension.

Layers, each importing only those before it:

- ``core``: the pure scenario engine (rules, episodes, matching, names, variants); no I/O beyond
  the packaged benchmark constants, no torch, no lmms-eval.
- ``data``: the released layout, validation, images, the hub download, ``check-data``, ``synth``.
- ``judge`` and ``report``: the LLM judge of open-ended answers; tables, plots and the viewer.
- ``lmms``: the lmms-eval adapter (task hooks, baseline models, registration) and ``lmms.runtime``,
  the two version-gated runtime patches of lmms-eval.
- ``rl``, ``testing``, ``demo``: training rewards and data, tiny models and conformance, the demo.

The engine's entry points are re-exported here, imported on first use so that the start-up hook
(which imports ``proactivebench_ext.lmms.runtime.startup`` in every Python process) costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "Episode": "core.engine", "Outcome": "core.engine", "Turn": "core.engine", "new_episode": "core.engine",
    "InvalidEntryError": "core.scenarios", "Scenario": "core.scenarios", "SCENARIOS": "core.scenarios",
    "resolve_scenario": "core.scenarios",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'proactivebench_ext' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
