"""lmms-eval options our multi-turn tasks cannot honour, refused before any model loads.

lmms-eval offers options built for single-turn tasks. On ours they either crash late
(``--num_fewshot 1``: an ``AttributeError`` after the model loaded, exit 0), corrupt results
silently (``--system_instruction``, ``--apply_chat_template``: they reach the first turn of an
episode only) or break the per-round hook (``--cache_requests``). :data:`RULES` is the one table;
:func:`refusals` applies it to lmms-eval's parsed options.

Where it is checked: :mod:`.task_index` runs :func:`refuse_at_start` when lmms-eval's command line
builds its TaskManager, which happens before the model is created; it reads the options lmms-eval
parsed (``--config`` files included) and acts only when one of our tasks is requested, printing
one line per refusal and exiting with status 2 (no traceback). The task hooks still call
:func:`refuse_unsafe_caching` on ``sys.argv`` for runs that do not come through that command line.
Options not listed here were tried on our tasks and work (``--batch_size``, ``--repeats``,
``--max_tokens``, ``--predict_only``, ``--gen_kwargs``, ``--limit``/``--offset``,
``--agentic_trace_mode``, ``--use_cache`` with the lockstep driver on).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from . import environment


class UnsupportedOptionError(RuntimeError):
    """An lmms-eval option that would silently corrupt ProactiveBench results."""


@dataclass(frozen=True)
class Rule:
    """One option our tasks refuse: when (a predicate on its parsed value), why, and what to do instead."""

    option: str  # as typed on the command line
    dest: str  # lmms-eval's argparse dest
    refused: Callable[[Any], bool]
    why: str
    instead: str

    def line(self, value: Any) -> str:
        shown = self.option if value is True else f"{self.option} {value}"
        return f"ProactiveBench tasks cannot run with {shown}: {self.why}. {self.instead}"


def _set(value: Any) -> bool:
    return value not in (None, False, "", 0, "0")


RULES: tuple[Rule, ...] = (
    Rule("--num_fewshot", "num_fewshot", lambda value: value is not None and int(value) > 0,
         "the tasks have no few-shot split (lmms-eval fails after loading the model)",
         "Drop --num_fewshot; for solved example episodes before each turn run proactivebench_icl (docs/ablations.md)"),
    Rule("--fewshot_as_multiturn", "fewshot_as_multiturn", _set,
         "the tasks have no few-shot examples to turn into a conversation",
         "Drop --fewshot_as_multiturn; proactivebench_icl shows solved episodes (docs/ablations.md)"),
    Rule("--cache_requests", "cache_requests", lambda value: value in ("true", "refresh"),
         "cached requests lose the per-round hook of multi-turn tasks",
         "Drop --cache_requests (building our requests takes seconds); --use_cache resumes a run"),
    Rule("--apply_chat_template", "apply_chat_template", _set,
         "it templates the first turn of an episode only, so turns would differ in format",
         "Drop --apply_chat_template; chat backends apply their own template to every turn"),
    Rule("--system_instruction", "system_instruction", _set,
         "it reaches the first turn of an episode only, and the benchmark's prompts are fixed data",
         "Drop --system_instruction"),
)
USE_CACHE = Rule("--use_cache", "use_cache", _set,
                 "with PROACTIVEBENCH_LOCKSTEP=0 lmms-eval's own runner keys every round of an episode alike, "
                 "so turns with the same question would share one answer",
                 "Drop --use_cache, or unset PROACTIVEBENCH_LOCKSTEP (the lockstep driver keys each round by its images)")

USE_CACHE_OEG = Rule("--use_cache", "use_cache", _set,
                     "the multi-turn OEG tasks map each answer through the judge, whose replies are not cached, so a "
                     "resumed episode could take another path", "Drop --use_cache for proactivebench_oeg_multiturn tasks")


def refusals(options: Mapping[str, Any], *, response_cache_ok: bool) -> list[str]:
    """One line per option in ``options`` (lmms-eval's parsed values by dest) that our tasks refuse."""
    rules = RULES if response_cache_ok else (*RULES, USE_CACHE)
    lines = []
    for rule in rules:
        value = options.get(rule.dest)
        try:
            refused = rule.refused(value)
        except (TypeError, ValueError):
            refused = True
        if refused:
            lines.append(rule.line(value))
    return lines


def options_from_argv(argv: Sequence[str]) -> dict[str, Any]:
    """The refused options' values as written on a command line (exact option names only)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--num_fewshot")
    parser.add_argument("--cache_requests")
    parser.add_argument("--use_cache")  # not its short -c: this argv may be another program's (pytest)
    parser.add_argument("--system_instruction")
    parser.add_argument("--fewshot_as_multiturn", action="store_true", default=None)
    parser.add_argument("--apply_chat_template", action="store_true", default=None)
    known, _ = parser.parse_known_args(list(argv[1:]))
    return vars(known)


def refuse_unsafe_caching(argv: Sequence[str], *, allow_response_cache: bool = False) -> None:
    """Raise :class:`UnsupportedOptionError` for the first refused option on ``argv``.

    The hooks' check, for runs that bypass lmms-eval's command line check (see the module doc).
    """
    lines = refusals(options_from_argv(argv), response_cache_ok=allow_response_cache)
    if lines:
        raise UnsupportedOptionError(lines[0])


# -- the start-up check ------------------------------------------------------------------------------
def cli_args() -> argparse.Namespace | None:
    """lmms-eval's parsed options when its command line is building a TaskManager, else None.

    Read from the calling frame of ``lmms_eval.__main__.cli_evaluate_single`` (its ``args``), so
    they are exactly what lmms-eval will run with, ``--config`` files and abbreviations included.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "cli_evaluate_single" and frame.f_globals.get("__name__") == "lmms_eval.__main__":
            args = frame.f_locals.get("args")
            return args if isinstance(args, argparse.Namespace) else None
        frame = frame.f_back
    return None


def requested_ours(tasks: Any, task_index: Mapping[str, Any], folder: str) -> list[str]:
    """The names in ``--tasks`` (globs and paths included) that resolve to our task folder."""
    from fnmatch import fnmatch

    root = Path(folder).resolve()

    def inside(path: Any) -> bool:
        try:
            return isinstance(path, str) and root in Path(path).resolve().parents
        except (OSError, ValueError):
            return False

    def ours(name: str, seen: frozenset[str] = frozenset()) -> bool:
        entry = task_index.get(name) or {}
        if inside(entry.get("yaml_path")):
            return True
        members = entry.get("task") if entry.get("yaml_path") == -1 else None
        members = [members] if isinstance(members, str) else members or []
        return any(isinstance(member, str) and member not in seen and ours(member, seen | {name}) for member in members)

    patterns = [part.strip() for part in str(tasks or "").split(",") if part.strip()]
    found = []
    for pattern in patterns:
        if inside(pattern) or (Path(pattern).is_dir() and Path(pattern).resolve() == root):
            found.append(pattern)
        found += [name for name in task_index if fnmatch(name, pattern) and ours(name)]
    return sorted(set(found))


def refuse_at_start(task_index: Mapping[str, Any], folder: str, *, response_cache_ok: Callable[[], bool],
                    stream: TextIO | None = None) -> None:
    """On lmms-eval's command line with our tasks: exit 2 with one line per refused option or setting.

    ``response_cache_ok`` says whether the lockstep driver will key ``--use_cache`` rounds by image.
    """
    args = cli_args()
    ours = requested_ours(getattr(args, "tasks", None), task_index, folder) if args is not None else []
    if not ours:
        return
    lines = environment.problems()
    if not lines:  # the lockstep switch is read only once its value is known to be good
        lines = refusals(vars(args), response_cache_ok=response_cache_ok())
        use_cache = getattr(args, "use_cache", None)
        if _set(use_cache) and any("oeg_multiturn" in name for name in ours) and \
                not any(line.startswith(USE_CACHE.line(use_cache)) for line in lines):
            lines.append(USE_CACHE_OEG.line(use_cache))  # as the OEG hooks refuse it
    if not lines:
        return
    if os.environ.get("RANK", "0") in ("", "0"):  # one copy of the message in a multi-process run
        for line in lines:
            print(f"proactivebench_ext: {line}", file=stream or sys.stderr, flush=True)
    raise SystemExit(2)
