"""Version-gated run-time fixes of lmms-eval backends that the paper's model families need.

lmms-eval 0.7.3's generic ``huggingface`` chat backend (the one that plays Idefics3 and SmolVLM2,
docs/models.md) calls the model's processor with ``images=..., videos=..., audios=...`` whatever
the request holds. transformers 5 processors refuse keyword arguments they do not know, so every
call fails (``unexpected keyword argument 'audios'``) and the run ends with no samples. The fix
hands the processor only the media a request has: empty ``images``/``videos``/``audios`` lists are
left out, exactly what the backend does when it has them. Nothing else changes.

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


def install() -> bool:
    """Fix the ``huggingface`` chat backend; True when the fix is in place (or already was)."""
    if lmms_eval_version() not in TESTED_LMMS_EVAL or transformers_major() < 5:
        return False
    try:
        from lmms_eval.models.chat.huggingface import Huggingface
    except Exception:  # the backend does not import here (e.g. no torch): nothing to fix
        return False
    stock = Huggingface.generate_until
    if hasattr(stock, "__wrapped_stock__"):
        return True
    Huggingface.generate_until = filter_media(stock)
    return True
