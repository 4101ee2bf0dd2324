"""Every ``PROACTIVEBENCH_*`` environment variable in one table, checked when a run starts.

A misspelt value used to surface late (after a model had loaded) or not at all (``PROACTIVEBENCH_LOCKSTEP=2``
silently meant "on"). The table below names each variable, what it accepts and its default; lmms-eval
runs of our tasks (:mod:`.task_index`) and every ``python -m proactivebench_ext`` command check it
at start and stop with one line per bad value. The modules that use a variable keep reading it
themselves (their own error messages stay as a second line of defence); a new variable gets a row here.

Kept free of heavy imports: it runs at the start of every command.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

PREFIX = "PROACTIVEBENCH_"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class BadSetting(ValueError):
    """A ``PROACTIVEBENCH_*`` variable holds a value its reader cannot use."""

    def __init__(self, name: str, value: str, allowed: str) -> None:
        super().__init__(f"{name}={value!r} is not allowed: {allowed} (unset it for the default)")
        self.name, self.value, self.allowed = name, value, allowed


def flag(raw: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(raw)


def _number(kind: Callable[[str], float], minimum: float, *, above: bool = False,
            maximum: float | None = None) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = kind(raw.strip())
        if not math.isfinite(value) or value < minimum or (above and value == minimum):
            raise ValueError(raw)
        if maximum is not None and value > maximum:
            raise ValueError(raw)
        return value
    return parse


def _directory(raw: str) -> Path:
    from ...data.errors import DataError
    from ...data.layout import data_folder  # the one data-folder rule, with its suggestions

    try:
        return data_folder(raw)
    except DataError as error:
        raise BadSetting(f"{PREFIX}DATA_DIR", raw, str(error)) from None


def _concurrency(raw: str) -> int | str:
    word = raw.strip().lower()
    return "auto" if word == "auto" else int(_number(int, 0)(word))


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.strip() not in choices:
            raise ValueError(raw)
        return raw.strip()
    return parse


@dataclass(frozen=True)
class Variable:
    """One environment variable: what it does, what it accepts, its default and where it is documented."""

    name: str
    allowed: str  # in words, for the error line
    parse: Callable[[str], Any]  # raises ValueError (or a message-bearing error) on a bad value
    default: str
    does: str
    docs: str

    def read(self, env: Mapping[str, str] | None = None) -> Any:
        """The parsed value, or None when unset or empty; :class:`BadSetting` when it cannot be used."""
        raw = (os.environ if env is None else env).get(self.name, "")
        if not raw.strip():
            return None
        try:
            return self.parse(raw)
        except BadSetting:
            raise
        except ValueError:
            raise BadSetting(self.name, raw, self.allowed) from None


_FLAG = "1/true/yes/on or 0/false/no/off"
VARIABLES: tuple[Variable, ...] = (
    Variable(f"{PREFIX}DATA_DIR", "a data folder: the released test/ folder (or a synth set) holding the "
             "*_preprocessed.jsonl files", _directory, "the embedded synthetic set",
             "where the episodes come from", "docs/data.md"),
    Variable(f"{PREFIX}DOWNLOAD", _FLAG, flag, "off", "download the released test set from the hub when no "
             "data folder is given", "docs/data.md"),
    Variable(f"{PREFIX}NO_AUTOREGISTER", _FLAG, flag, "off", "stop showing our tasks to every lmms-eval run "
             "(then pass --include_path)", "docs/CONTRACTS.md"),
    Variable(f"{PREFIX}LOCKSTEP", _FLAG, flag, "on", "play our episodes through the lockstep pool "
             "(off: lmms-eval's own runner, one episode at a time)", "docs/throughput.md"),
    Variable(f"{PREFIX}LOCKSTEP_POOL", "an integer >= 1 (episodes in play at once)", _number(int, 1), "256",
             "how many episodes hold images at once", "docs/throughput.md"),
    Variable(f"{PREFIX}LOCKSTEP_CONCURRENCY", "'auto', 0 (one call at a time) or the number of requests to keep "
             "in flight", _concurrency, "auto", "overlapping backend calls", "docs/throughput.md"),
    Variable(f"{PREFIX}MAX_MODEL_ERRORS", "a number from 0 to 1 (share of a task's episodes)",
             _number(float, 0, maximum=1.0), "0", "share of a task's episodes that may error on model faults "
             "(failed requests) before the run exits non-zero; 1 accepts all", "docs/faults.md"),
    Variable(f"{PREFIX}MAX_IMAGE_PIXELS", "an integer >= 1 (pixels)", _number(int, 1), "40000000",
             "largest image decoded; a bigger one is an errored episode", "docs/faults.md"),
    Variable(f"{PREFIX}ARCHIVE_MAX_BYTES", "an integer > 0 (bytes)", _number(int, 0, above=True), "64 GiB",
             "largest extracted size of one downloaded archive", "docs/data.md"),
    Variable(f"{PREFIX}ARCHIVE_MAX_RATIO", "a number > 0", _number(float, 0, above=True), "100",
             "largest extracted/compressed ratio of one archive", "docs/data.md"),
    Variable(f"{PREFIX}ARCHIVE_MAX_MEMBERS", "an integer > 0", _number(int, 0, above=True), "1000000",
             "most files in one archive", "docs/data.md"),
    Variable(f"{PREFIX}JUDGE_INLINE", _FLAG, flag, "on when a judge endpoint is set",
             "judge open-ended answers during generation", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_TIMEOUT", "a number > 0 (seconds)", _number(float, 0, above=True), "300",
             "seconds per judge request", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_RETRIES", "an integer >= 0", _number(int, 0), "4",
             "extra attempts of a judge request", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_BACKOFF", "a number >= 0 (seconds)", _number(float, 0), "1",
             "first wait before a retry (doubles)", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_BACKOFF_MAX", "a number >= 0 (seconds)", _number(float, 0), "30",
             "longest wait between retries", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_MAX_TOKENS", "an integer >= 1", _number(int, 1), "8192",
             "judge answer budget (Qwen3 thinks first)", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_TEMPERATURE", "a number >= 0", _number(float, 0), "0.6",
             "judge sampling temperature", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_TOP_P", "a number from 0 to 1 (0: not sent)", _number(float, 0, maximum=1.0), "0.95",
             "judge nucleus sampling", "docs/oeg.md"),
    Variable(f"{PREFIX}JUDGE_WORKERS", "an integer >= 1", _number(int, 1), "4",
             "judge requests in flight (`judge` command)", "docs/oeg.md"),
    Variable(f"{PREFIX}HYPOTHESIS_PROFILE", "default or long", _choice("default", "long"), "default",
             "size of the property-based tests (tests only)", "docs/contributing.md"),
)
BY_NAME: dict[str, Variable] = {variable.name: variable for variable in VARIABLES}


def read(name: str, env: Mapping[str, str] | None = None) -> Any:
    """The parsed value of a table variable (None when unset); :class:`BadSetting` when unusable."""
    return BY_NAME[name].read(env)


def problems(env: Mapping[str, str] | None = None) -> list[str]:
    """One line per unusable value of a table variable."""
    env = os.environ if env is None else env
    lines: list[str] = []
    for variable in VARIABLES:
        try:
            variable.read(env)
        except BadSetting as error:
            lines.append(str(error))
    return lines


def unknown(env: Mapping[str, str] | None = None) -> list[str]:
    """One line per ``PROACTIVEBENCH_*`` name outside the table (a typo, usually), with a suggestion.

    Warned about, not refused: a variable read by a newer module must not stop an older check.
    """
    env = os.environ if env is None else env
    lines = []
    for name in sorted(key for key in env if key.startswith(PREFIX) and key not in BY_NAME):
        close = difflib.get_close_matches(name, BY_NAME, n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}?" if close else "it is ignored"
        lines.append(f"{name} is not a ProactiveBench variable ({hint})")
    return lines


def refuse_bad_settings(env: Mapping[str, str] | None = None, stream: TextIO | None = None, *,
                        program: str = "proactivebench_ext") -> int:
    """Print one line per bad setting and return 2 (0 when all are usable); unknown names are warned about."""
    stream = stream or sys.stderr
    for line in unknown(env):
        print(f"{program}: warning: {line}", file=stream)
    lines = problems(env)
    for line in lines:
        print(f"{program}: {line}", file=stream)
    return 2 if lines else 0


def markdown_table() -> str:
    """The table as Markdown, for docs (docs/contributing.md embeds it; a test keeps them equal)."""
    rows = ["| variable | accepts | default | what it does |", "|---|---|---|---|"]
    rows += [f"| `{v.name}` | {v.allowed} | {v.default} | {v.does} ([docs]({Path(v.docs).name})) |" for v in VARIABLES]
    return "\n".join(rows)
