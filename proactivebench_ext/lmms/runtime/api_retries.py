"""``max_retries`` of lmms-eval's OpenAI backends means what the user wrote: attempts per request.

lmms-eval 0.7.3 builds its ``openai.OpenAI`` client without ``max_retries``, so the SDK's own
retries (2 by default, with their own back-off) run inside each of the backend's attempts: with
``max_retries=2`` a failing request was sent 6 times, and a dead server took three times as long
to give up. Before our runner sends the first request it switches the SDK's retries off on that
client (``client.with_options(max_retries=0)``), so the backend's loop is the only one: a request
is sent at most ``max_retries`` times. Gate: the lmms-eval versions below and a backend class of
lmms-eval's ``openai`` modules whose client is an ``openai`` SDK client; anything else is left as is.
"""

from __future__ import annotations

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
