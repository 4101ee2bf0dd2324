"""Learning proactiveness (paper §5, Table 3): the GRPO reward, training data and recipe.

``reward`` scores one answer in any state of an episode with the evaluation's own engine and
matching; ``ProactiveReward`` wraps it in TRL's ``reward_funcs`` signature. ``dataset``
(``python -m proactivebench_ext rl-data``) writes single-turn training states from a train split;
``train`` (``python -m proactivebench_ext rl-train``) runs TRL's GRPO trainer with a PEFT LoRA
adapter (needs the ``[rl]`` extra: trl, peft). Importing this package needs neither.
"""

from __future__ import annotations

from .reward import PAPER_PROACTIVE_REWARDS, ProactiveReward, StateError, reward

__all__ = ["PAPER_PROACTIVE_REWARDS", "ProactiveReward", "StateError", "reward"]
