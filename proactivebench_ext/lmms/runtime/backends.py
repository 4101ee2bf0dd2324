"""Version-gated run-time fixes of lmms-eval backends that the paper's model families need.

1. lmms-eval 0.7.3's generic ``huggingface`` chat backend (the one that plays Idefics3 and
   SmolVLM2, docs/models.md) calls the model's processor with ``images=..., videos=...,
   audios=...`` whatever the request holds. transformers 5 processors refuse ``audios`` (``You
   passed keyword argument audios which is deprecated``), so every request fails. The fix hands
   the processor only the media a request has: empty ``images``/``videos``/``audios`` lists are
   left out. Nothing else changes.
2. The same backend picks the model class by looking the config's ``model_type`` up among the
   keys of the auto classes' mappings, which are config classes: the lookup never matches, so it
   loads ``AutoModel``, the base model without a language-model head (``'SmolVLMModel' object has
   no attribute 'generate'``). The fix makes that fallback load the class the config maps to in
   ``AutoModelForImageTextToText`` (else ``AutoModelForCausalLM``, else ``AutoModel`` as before).
3. Its ``instructblip`` backend decodes everything ``model.generate`` returns as the answer. On
   transformers 5 InstructBLIP's ``generate`` returns the prompt's tokens followed by the new ones,
   so every answer began with the whole multiple-choice prompt. The fix returns only the tokens
   after the prompt, as transformers 4 did.

The model is loaded before our tasks' ``process_docs`` runs, so fix 2 must be in place when the
backend's module is imported: :func:`install_on_import` (called from our ``lmms_eval.models``
entry point, which lmms-eval runs while building its model registry) applies the fixes to each
backend module as it is imported (:func:`.import_hook.after_import`); :func:`install` (from ``process_docs``) applies them to
modules already imported. Fixes 1 and 3 act when ``generate_until`` is called. Gate:
:data:`TESTED_LMMS_EVAL` and transformers 5; anywhere else lmms-eval stays as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from . import lmms_eval_version
from .import_hook import after_import

TESTED_LMMS_EVAL = ("0.7.3",)
MEDIA_KEYWORDS = ("images", "videos", "audios")


class MediaFilteringProcessor:
    """A processor proxy that drops empty media keyword arguments; everything else is delegated."""

    def __init__(self, processor: Any) -> None:
        self.wrapped = processor

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        for key in MEDIA_KEYWORDS:
            if key in kwargs and _empty(kwargs[key]):
                del kwargs[key]
        return self.wrapped(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (list, tuple)) and len(value) == 0)


def transformers_major() -> int:
    from importlib.metadata import version

    return int(version("transformers").split(".")[0])


def filter_media(generate_until: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a backend's ``generate_until`` so that its ``self.processor`` drops empty media lists."""

    @functools.wraps(generate_until)
    def patched(self: Any, requests: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(self.processor, MediaFilteringProcessor):
            self.processor = MediaFilteringProcessor(self.processor)
        return generate_until(self, requests, *args, **kwargs)

    patched.__wrapped_stock__ = generate_until  # type: ignore[attr-defined]
    return patched


def new_tokens_only(generate: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a model's ``generate`` so that it returns only the tokens after ``input_ids``."""

    @functools.wraps(generate)
    def call(*args: Any, **kwargs: Any) -> Any:
        import torch

        output = generate(*args, **kwargs)
        prompt = kwargs.get("input_ids")
        if (prompt is not None and isinstance(output, torch.Tensor) and output.shape[0] == prompt.shape[0]
                and output.shape[1] >= prompt.shape[1] and torch.equal(output[:, :prompt.shape[1]], prompt)):
            return output[:, prompt.shape[1]:]
        return output

    call.__wrapped_stock__ = generate  # type: ignore[attr-defined]
    return call


def trim_prompt(generate_until: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a backend's ``generate_until`` so that its model's ``generate`` returns new tokens only."""

    @functools.wraps(generate_until)
    def patched(self: Any, requests: Any, *args: Any, **kwargs: Any) -> Any:
        model = self.model
        if not hasattr(model.generate, "__wrapped_stock__"):
            model.generate = new_tokens_only(model.generate)
        return generate_until(self, requests, *args, **kwargs)

    patched.__wrapped_stock__ = generate_until  # type: ignore[attr-defined]
    return patched


class GenerativeAutoModel:
    """Stands in for ``AutoModel`` in the ``huggingface`` backend: loads the generation class."""

    @staticmethod
    def from_pretrained(pretrained: Any, *args: Any, **kwargs: Any) -> Any:
        import transformers

        config = transformers.AutoConfig.from_pretrained(pretrained, trust_remote_code=kwargs.get("trust_remote_code", False))
        for auto in (transformers.AutoModelForImageTextToText, transformers.AutoModelForCausalLM):
            if type(config) in auto._model_mapping:
                return auto.from_pretrained(pretrained, *args, **kwargs)
        return transformers.AutoModel.from_pretrained(pretrained, *args, **kwargs)


def _fix_huggingface(module: ModuleType) -> None:
    backend = module.Huggingface
    if not hasattr(backend.generate_until, "__wrapped_stock__"):
        backend.generate_until = filter_media(backend.generate_until)
    module.AutoModel = GenerativeAutoModel


def _fix_instructblip(module: ModuleType) -> None:
    backend = module.InstructBLIP
    if not hasattr(backend.generate_until, "__wrapped_stock__"):
        backend.generate_until = trim_prompt(backend.generate_until)


FIXES: dict[str, Callable[[ModuleType], None]] = {
    "lmms_eval.models.chat.huggingface": _fix_huggingface,
    "lmms_eval.models.simple.instructblip": _fix_instructblip,
}


def gate_open() -> bool:
    return lmms_eval_version() in TESTED_LMMS_EVAL and transformers_major() >= 5


def install_on_import() -> bool:
    """Fix each backend module when it is imported (or now, if it already was); cheap: imports nothing."""
    if not gate_open():
        return False
    for name, fix in FIXES.items():
        after_import(name, fix)
    return True


def install() -> bool:
    """Apply every fix to the backend modules now (importing them); True when they are in place."""
    if not gate_open():
        return False
    from importlib import import_module

    for name, fix in FIXES.items():
        try:
            fix(import_module(name))
        except ImportError:  # the backend does not import here (e.g. no decord): nothing to fix
            return False
    return True
