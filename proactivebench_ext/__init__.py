"""ProactiveBench (arXiv 2603.19466) as an lmms-eval task extension.

The engine (``new_episode`` and friends) is pure Python and imports neither torch nor lmms-eval.
"""

from .engine import Episode, Outcome, Turn, new_episode
from .scenarios import SCENARIOS, InvalidEntryError, Scenario, resolve_scenario

__all__ = ["Episode", "Outcome", "Turn", "new_episode", "InvalidEntryError", "Scenario", "SCENARIOS", "resolve_scenario"]
__version__ = "0.1.0"
