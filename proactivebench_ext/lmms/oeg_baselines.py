"""The baseline models, able to answer open questions too (OEG tasks show no options).

``proactive_oracle`` and ``proactive_random`` read the options from a multiple-choice prompt and
refuse any other prompt. These subclasses keep that behaviour for MCQA prompts and, for an open
question, say in words what they would have chosen: the oracle its next request (or the category),
the random model a random option of the doc's first turn. A judge then scores those words like
any model's. Registered as ``proactive_oracle_open`` / ``proactive_random_open`` by
:func:`model_manifests` (entry point ``lmms_eval.models``).
"""

from __future__ import annotations

import random
from typing import Any, Sequence

from lmms_eval.api.instance import Instance

from ..core.engine import Episode
from ..core.policies import oracle_answer
from .baselines import ProactiveOracle, ProactiveRandom, parse_options
from .hooks import episode_from_doc


def is_multiple_choice(prompt: str) -> bool:
    try:
        parse_options(prompt)
    except ValueError:
        return False
    return True


class _OpenAnswers:
    """Routes each request: multiple-choice prompts to the parent model, open ones to ``open_answer``."""

    def generate_until(self, requests: Sequence[Instance]) -> list[str]:
        replies = []
        for request in requests:
            context, _gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            if is_multiple_choice(context):
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
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id="proactive_oracle_open", simple_class_path=f"{__name__}.OpenEndedOracle"),
        ModelManifest(model_id="proactive_random_open", simple_class_path=f"{__name__}.OpenEndedRandom"),
    ]
