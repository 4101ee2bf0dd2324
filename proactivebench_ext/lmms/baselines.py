"""Two reference models for ProactiveBench tasks: ``proactive_oracle`` and ``proactive_random``.

They answer through the same path as any backend: read the options from the prompt they are
given, reply with text, and let the task's hooks score it. They also fetch each round's image
through the request's ``doc_to_visual``, so a run exercises the whole image pipeline (one image
per round, or several for the conversation-history and in-context variants). Both are
``simple`` lmms-eval models (the chat path is exercised by real backends such as ``llava_hf``) and
run under ``accelerate launch`` with several processes.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Sequence
from typing import Any

from accelerate import Accelerator
from lmms_eval.api.instance import Instance
from lmms_eval.api.model import lmms

from ..core.constants import load_benchmark
from ..core.engine import Episode
from ..core.matching import option_letter
from ..core.policies import oracle_answer
from ..core.variants import get_variant
from .faults import doc_fault
from .hooks import doc_to_target, episode_from_doc

ANSWER_FORMATS = ("text", "letter")


def parse_options(prompt: str) -> list[str]:
    """The options of a ProactiveBench multiple-choice prompt, in order ("A. ..." lines).

    History and in-context requests hold earlier multiple-choice prompts before the current one,
    which always ends the text: the options are read from the last block.
    """
    template = load_benchmark().mcqa_template
    start = prompt.rfind(template.after_question)
    end = prompt.rfind(template.short_answer_suffix)
    if start < 0 or end < start:
        raise ValueError(f"not a ProactiveBench multiple-choice prompt: {prompt[:200]!r}")
    lines = prompt[start + len(template.after_question):end].split("\n")
    options = []
    for line in lines[:-1] if lines and lines[-1] == "" else lines:
        prefix = f"{option_letter(len(options))}. "
        if not line.startswith(prefix):
            raise ValueError(f"option line {line!r} does not start with {prefix!r}")
        options.append(line[len(prefix):])
    if not options:
        raise ValueError("the prompt lists no options")
    return options


class _ScriptedModel(lmms):
    """What both baselines share: device/process bookkeeping and the per-request loop."""

    def __init__(self, answer_format: str = "text", device: str | None = None, batch_size: int | str = 1,
                 max_batch_size: Any = None, delay: float | str = 0.0, call_log: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unknown model_args {sorted(kwargs)}")
        if answer_format not in ANSWER_FORMATS:
            raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}")
        self.answer_format = answer_format
        # For resume tests and benchmarks: seconds spent per request (a stand-in for a real model's
        # latency) and a file that gets one line per answered request.
        self.delay = float(delay)
        self.call_log = call_log
        # The evaluator gathers per-rank counts with tensors on lm.device through lm.accelerator;
        # the accelerator's own device is the one its process group can reduce on.
        self.accelerator = Accelerator()
        self._device = self.accelerator.device
        self._rank = self.accelerator.process_index
        self._world_size = self.accelerator.num_processes
        self.batch_size_per_gpu = int(batch_size) if str(batch_size).isdigit() else 1

    @property
    def device(self) -> Any:
        return self._device

    def generate_until(self, requests: Sequence[Instance]) -> list[str]:
        replies = []
        for request in requests:
            context, _gen_kwargs, doc_to_visual, doc_id, task, split = request.args
            doc = self.task_dict[task][split][doc_id]
            visuals = doc_to_visual(doc)
            if not visuals or any(not hasattr(visual, "size") for visual in visuals):
                raise TypeError(f"{task} doc {doc_id}: expected the round's images, got {visuals!r}")
            options = parse_options(context)
            choice = self.choose(task, doc_id, doc, context, options, visuals)
            replies.append(self.say(choice, options))
        if self.delay:
            time.sleep(self.delay * len(requests))
        if self.call_log:
            with open(self.call_log, "a", encoding="utf-8") as log:
                log.writelines(f"{request.args[4]}\t{request.args[3]}\n" for request in requests)
        return replies

    def say(self, option: str, options: Sequence[str]) -> str:
        if self.answer_format == "letter":
            return option_letter(options.index(option))
        return option

    def choose(self, task: str, doc_id: int, doc: Any, prompt: str, options: list[str], visuals: Sequence[Any] = ()) -> str:
        raise NotImplementedError

    def generate_until_multi_round(self, requests: Sequence[Instance]) -> list[str]:
        return self.generate_until(requests)

    def loglikelihood(self, requests: Sequence[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError(f"{type(self).__name__} only answers generation tasks (ProactiveBench)")


class ProactiveOracle(_ScriptedModel):
    """Requests the view toward the sample's reference frame while it can, then names the category.

    It knows the ground truth (the request's doc, as lmms-eval's agentic runner looks it up) and
    follows its episode with a shadow copy played on its own replies, so it knows the state
    without being told; the shadow's current prompt must end the text the task sent (the whole
    text for plain turns; the end of a history or in-context transcript), else it starts over
    (a new episode of that doc, e.g. rank padding) or fails loudly.

    The one exception: a random-options task whose ``seed`` was changed in its YAML. The oracle
    cannot see task settings and rebuilds the episode with the default seed; when that does not
    show the prompt received, it answers blind (the target category where shown) instead of
    failing, and warns once per task.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shadows: dict[tuple[str, int], Episode] = {}
        self._blind_tasks: set[str] = set()

    def choose(self, task: str, doc_id: int, doc: Any, prompt: str, options: list[str], visuals: Sequence[Any] = ()) -> str:
        if doc_fault(doc) is not None:  # a row with a data fault: the task ignores this answer
            return options[0]
        key = (task, doc_id)
        shadow = self._shadows.get(key)
        if shadow is None or shadow.done or not _shows(shadow, prompt):
            shadow = episode_from_doc(doc)
            if not _shows(shadow, prompt):
                if get_variant(doc["variant"]).random_options:
                    return self._blind(task, doc, options)
                raise RuntimeError(f"{task} doc {doc_id}: the prompt received is not the one the episode shows; "
                                   "the oracle only plays ProactiveBench tasks run by lmms-eval's agentic runner")
        choice = oracle_answer(shadow)
        if choice not in options:
            raise RuntimeError(f"{task} doc {doc_id}: oracle answer {choice!r} is not among the shown options")
        shadow.answer(self.say(choice, options))
        if shadow.done:
            self._shadows.pop(key, None)
        else:
            self._shadows[key] = shadow
        return choice

    def _blind(self, task: str, doc: Any, options: list[str]) -> str:
        if task not in self._blind_tasks:
            self._blind_tasks.add(task)
            from loguru import logger

            logger.warning(f"proactive_oracle: {task} does not show the episode of its default seed (seed changed in "
                           "the task YAML?); answering the target category blindly on its unmatched turns")
        target = doc_to_target(doc)
        return target if target in options else options[-1]


def _shows(episode: Episode, prompt: str) -> bool:
    """Whether ``prompt`` is the request for the episode's current turn (its MCQA prompt ends it)."""
    return prompt.endswith(episode.observe().mcqa_prompt)


class ProactiveRandom(_ScriptedModel):
    """Picks a shown option uniformly at random.

    The draw is seeded by (seed, task, doc, prompt, image pixels): a deterministic function of
    the request, like a greedy model, so results do not depend on how docs are split across
    processes or ordered, and a run resumed from lmms-eval's response cache matches a fresh one.
    """

    def __init__(self, seed: int | str = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = int(seed)
        self._streams: dict[tuple[str, int], random.Random] = {}

    def choose(self, task: str, doc_id: int, doc: Any, prompt: str, options: list[str], visuals: Sequence[Any] = ()) -> str:
        digest = hashlib.sha1(prompt.encode("utf-8"))
        for visual in visuals:
            digest.update(visual.tobytes())
        return random.Random(f"{self.seed}|{task}|{doc_id}|{digest.hexdigest()}").choice(options)
