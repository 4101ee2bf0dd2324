"""Version-gated run-time fixes of lmms-eval backends that the paper's model families need.

1. lmms-eval 0.7.3's generic ``huggingface`` chat backend (the one that plays Idefics3 and
   SmolVLM2, docs/models.md) calls the model's processor with ``images=..., videos=...,
   audios=...`` whatever the request holds. transformers 5 processors refuse ``audios`` (``You
   passed keyword argument audios which is deprecated``), so every request fails. The fix hands
   the processor only the media a request has: empty ``images``/``videos``/``audios`` lists are
   left out. Nothing else changes.
2. Its ``instructblip`` backend decodes everything ``model.generate`` returns as the answer. On
   transformers 5 InstructBLIP's ``generate`` returns the prompt's tokens followed by the new ones,
   so every answer began with the whole multiple-choice prompt. The fix returns only the tokens
   after the prompt, as transformers 4 did.

Installed from our tasks' ``process_docs`` (only runs with our tasks are touched), before any
request is played; the backend's model may already be loaded (lmms-eval builds it first), so the
fix wraps the processor when ``generate_until`` is called. Gate: :data:`TESTED_LMMS_EVAL` and
transformers 5; anywhere else lmms-eval stays as it is.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from . import lmms_eval_version

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


def _patch(module: str, name: str, fix: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Replace ``generate_until`` of backend class ``module.name`` by ``fix(stock)``, once."""
    from importlib import import_module

    try:
        backend = getattr(import_module(module), name)
    except Exception:  # the backend does not import here (e.g. no torch): nothing to fix
        return False
    if not hasattr(backend.generate_until, "__wrapped_stock__"):
        backend.generate_until = fix(backend.generate_until)
    return True


def install() -> bool:
    """Apply every fix; True when they are in place (or already were)."""
    if lmms_eval_version() not in TESTED_LMMS_EVAL or transformers_major() < 5:
        return False
    media = _patch("lmms_eval.models.chat.huggingface", "Huggingface", filter_media)
    prompt = _patch("lmms_eval.models.simple.instructblip", "InstructBLIP", trim_prompt)
    return media and prompt
