"""``max_retries`` of lmms-eval's OpenAI backends means what the user wrote: attempts per request.

lmms-eval 0.7.3 builds its ``openai.OpenAI`` client without ``max_retries``, so the SDK's own
retries (2 by default, with their own back-off) run inside each of the backend's attempts: with
``max_retries=2`` a failing request was sent 6 times, and a dead server took three times as long
to give up. Before the backend sends its first request the SDK's retries are switched off on that
client (``client.with_options(max_retries=0)``), so the backend's loop is the only one: a request
is sent at most ``max_retries`` times. :func:`install` (called by our tasks' ``process_docs``)
wraps the ``generate_until`` of those backend classes already loaded to do so, which covers
single-turn tasks too; our agentic runner also does it directly. Gate: the lmms-eval versions
below and a backend class of lmms-eval's ``openai`` modules whose client is an ``openai`` SDK
client; anything else is left as is.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from . import lmms_eval_version

TESTED_LMMS_EVAL = ("0.7.3",)
PATCHED_BACKEND_MODULES = ("lmms_eval.models.simple.openai", "lmms_eval.models.chat.openai")
_PINNED = "_proactivebench_retries_pinned"


def _is_lmms_eval_openai_backend(lm: Any) -> bool:
    return any(cls.__module__ in PATCHED_BACKEND_MODULES and cls.__name__ == "OpenAICompatible"
               for cls in type(lm).__mro__)


def pin_client_retries(lm: Any) -> bool:
    """Turn the SDK's retries off on ``lm``'s client (once); True when the client was changed."""
    if getattr(lm, _PINNED, False) or not _is_lmms_eval_openai_backend(lm):
        return False
    if lmms_eval_version() not in TESTED_LMMS_EVAL:
        return False
    client = getattr(lm, "client", None)
    if client is None or not type(client).__module__.startswith("openai") or not hasattr(client, "with_options"):
        return False
    lm.client = client.with_options(max_retries=0)
    setattr(lm, _PINNED, True)
    return True


def install() -> bool:
    """Pin the retries in ``generate_until`` of lmms-eval's loaded ``openai`` backend classes; True
    when at least one is (already) wrapped. Names are kept, so the lockstep runner still knows them."""
    if lmms_eval_version() not in TESTED_LMMS_EVAL:
        return False
    wrapped = False
    for name in PATCHED_BACKEND_MODULES:
        backend = getattr(sys.modules.get(name), "OpenAICompatible", None)
        stock = getattr(backend, "__dict__", {}).get("generate_until")
        if stock is None:
            continue
        if not getattr(stock, _PINNED, False):
            backend.generate_until = _pinning(stock)
        wrapped = True
    return wrapped


def _pinning(stock: Any) -> Any:
    @functools.wraps(stock)
    def generate_until(self: Any, requests: Any) -> Any:
        pin_client_retries(self)
        return stock(self, requests)

    setattr(generate_until, _PINNED, True)
    return generate_until
