"""lmms-eval options our multi-turn tasks cannot run with, refused before the model runs.

The hooks cannot see lmms-eval's parsed options, so they read the command line.
"""

from __future__ import annotations

from collections.abc import Sequence


class UnsupportedOptionError(RuntimeError):
    """An lmms-eval option that would silently corrupt ProactiveBench results."""


def refuse_unsafe_caching(argv: Sequence[str], *, allow_response_cache: bool = False) -> None:
    """Refuse lmms-eval's caches where they cannot tell the rounds of one episode apart.

    ``--use_cache`` keys a response by (task, doc, prompt text) without the image, and every
    round of lmms-eval's own agentic runner has idx 0: rounds with the same prompt (most ROD/VSOD
    turns) would replay the first round's answer. Our lockstep driver keys each round by its
    images, so ``allow_response_cache`` is set when it is in place. ``--cache_requests`` pickles
    requests and loses the per-round hook. Checked on the command line because the hooks cannot
    see lmms-eval's options.
    """
    for position, arg in enumerate(argv):
        flag, equals, value = arg.partition("=")
        if not equals:
            value = argv[position + 1] if position + 1 < len(argv) else ""
        if flag == "--use_cache" and not allow_response_cache:
            raise UnsupportedOptionError(
                "ProactiveBench tasks cannot run with --use_cache: lmms-eval's response cache keys "
                "agentic rounds by prompt text without the image, so two turns of one episode with the "
                "same question would share one answer. Drop --use_cache, or leave the lockstep driver on "
                "(unset PROACTIVEBENCH_LOCKSTEP), which keys each round by its images.")
        if flag == "--cache_requests" and value != "delete":
            raise UnsupportedOptionError(
                "ProactiveBench tasks cannot run with --cache_requests: the cached requests lose the "
                "per-round hook of multi-turn tasks. Drop --cache_requests.")
