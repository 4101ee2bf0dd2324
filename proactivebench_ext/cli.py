"""The argument parser every ``python -m proactivebench_ext`` command builds: one look for all.

Plain-text help (module docstrings lose their reStructuredText markup), every option's default
shown, and a "did you mean" for a misspelt option (argparse itself suggests misspelt choices from
Python 3.14 on, with ``suggest_on_error``). Kept free of heavy imports.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import Any, NoReturn

PROG = "python -m proactivebench_ext"
_ROLES = re.compile(r":(?:func|mod|class|meth|attr|data|exc|obj):`~?\.?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_LINK = re.compile(r"`([^`<]+?)\s*<[^>]+>`_")


def plain(text: str | None) -> str:
    """``text`` without reStructuredText markup: ``literal`` -> literal, :func:`x` -> x, `t <url>`_ -> t."""
    if not text:
        return ""
    return _LITERAL.sub(r"\1", _LINK.sub(r"\1", _ROLES.sub(r"\1", text)))


def summary(doc: str | None) -> str:
    """The first paragraph of a module docstring, as plain text on one line."""
    first = (doc or "").strip().split("\n\n")[0]
    return plain(" ".join(first.split()))


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default in (None, False, argparse.SUPPRESS) or default == []
                or not action.option_strings or isinstance(action, argparse._HelpAction)):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` with plain help, defaults, and suggestions for misspelt options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        if sys.version_info >= (3, 14):
            kwargs.setdefault("suggest_on_error", True)
        for key in ("description", "epilog"):
            if kwargs.get(key):
                kwargs[key] = plain(kwargs[key])
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if isinstance(kwargs.get("help"), str):
            kwargs["help"] = plain(kwargs["help"])
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):
            known = [option for option in self._option_string_actions if option.startswith("--")]
            hints = []
            for word in message[len(prefix):].split():
                flag = word.split("=", 1)[0]
                close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6) if flag.startswith("-") else []
                if close:
                    hints.append(f"{flag}: did you mean {close[0]}?")
            if hints:
                message = f"{message} ({'; '.join(hints)})"
        super().error(message)


def command_parser(command: str, doc: str | None, **kwargs: Any) -> Parser:
    """The parser of ``python -m proactivebench_ext <command>``, described by its module's first paragraph."""
    return Parser(prog=f"{PROG} {command}", description=summary(doc), **kwargs)
