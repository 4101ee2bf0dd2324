"""The baseline models, answering open questions too (OEG tasks show no options).

``proactive_oracle`` and ``proactive_random`` are these classes (see :mod:`.registration`;
``proactive_oracle_open`` / ``proactive_random_open`` remain as aliases). On multiple-choice
prompts they are the strict MCQA baselines of :mod:`.baselines`; on the open question of an OEG
task (``proactivebench_oeg*``) they say in words what they would have chosen: the oracle its next
request (or the category), the random model a random option of the doc's first turn. A judge then
scores those words like any model's. A prompt that is neither (a broken MCQA template) still
fails loudly, as before.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from lmms_eval.api.instance import Instance

from ..core.engine import Episode
from ..core.naming import parse_task_name
from ..core.policies import oracle_answer
from ..core.variants import OEG_VARIANTS
from .baselines import ProactiveOracle, ProactiveRandom, parse_options
from .hooks import episode_from_doc


def is_multiple_choice(prompt: str) -> bool:
    try:
        parse_options(prompt)
    except ValueError:
        return False
    return True


def is_open_task(task: str) -> bool:
    """Whether ``task`` asks open questions (an OEG variant: ``proactivebench_oeg_rod``, ...)."""
    parsed = parse_task_name(task)
    return parsed is not None and parsed.variant in OEG_VARIANTS


class _OpenAnswers:
    """Routes each request: multiple-choice prompts to the parent model (which also refuses, loudly,
    a non-MCQA prompt of an MCQA task), open questions of OEG tasks to ``open_answer``."""

    def generate_until(self, requests: Sequence[Instance]) -> list[str]:
        replies = []
        for request in requests:
            context, _gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            if is_multiple_choice(context) or not is_open_task(task):
                replies.extend(super().generate_until([request]))  # type: ignore[misc]
                continue
            doc = self.task_dict[task][split][doc_id]  # type: ignore[attr-defined]
            visuals = doc_to_visual(doc)
            if not visuals or any(not hasattr(visual, "size") for visual in visuals):
                raise TypeError(f"{task} doc {doc_id}: expected one image per round, got {visuals!r}")
            replies.append(self.open_answer(task, doc_id, doc, context))
        return replies

    def open_answer(self, task: str, doc_id: int, doc: Any, prompt: str) -> str:
        raise NotImplementedError


class OpenEndedOracle(_OpenAnswers, ProactiveOracle):
    """Says the oracle's choice as free text, following its own shadow episode across turns.

    Open prompts repeat across turns, so the shadow cannot be re-synchronised from the prompt: it
    starts over when it ends or when the question differs, and otherwise assumes the task played
    the option it said (true when the judge maps the words back to that option).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._open_shadows: dict[tuple[str, int], Episode] = {}

    def open_answer(self, task: str, doc_id: int, doc: Any, prompt: str) -> str:
        key = (task, doc_id)
        shadow = self._open_shadows.get(key)
        if shadow is None or shadow.done or not prompt.startswith(shadow.observe().prompt):
            shadow = episode_from_doc(doc)
        choice = oracle_answer(shadow)
        shadow.answer(choice)
        if shadow.done:
            self._open_shadows.pop(key, None)
        else:
            self._open_shadows[key] = shadow
        return choice


class OpenEndedRandom(_OpenAnswers, ProactiveRandom):
    """Says a random option of the doc's first turn (one seeded stream per task and doc)."""

    def open_answer(self, task: str, doc_id: int, doc: Any, prompt: str) -> str:
        stream = self._streams.setdefault((task, doc_id), random.Random(f"{self.seed}|{task}|{doc_id}"))
        return stream.choice(list(episode_from_doc(doc).observe().options))


def model_manifests() -> list[Any]:
    """The ``_open`` aliases (``proactive_oracle``/``proactive_random`` are registered in :mod:`.registration`)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id="proactive_oracle_open", simple_class_path=f"{__name__}.OpenEndedOracle"),
        ModelManifest(model_id="proactive_random_open", simple_class_path=f"{__name__}.OpenEndedRandom"),
    ]
