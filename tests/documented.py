"""The lmms-eval commands a docs page shows, as a user would copy them: for tests that check the
docs' commands against what was measured (docs/models.md's parity settings)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path


def documented_commands(page: Path) -> list[list[str]]:
    """Every ``python -m lmms_eval`` / ``accelerate launch`` command in the page's code blocks, as words."""
    commands = []
    for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", page.read_text("utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "lmms_eval" in line and "--model " in line:
                commands.append(shlex.split(line, comments=True))
    return commands


def option(command: list[str], name: str) -> str | None:
    """The value after ``name`` in a command, or None."""
    return command[command.index(name) + 1] if name in command else None


def model_args(command: list[str]) -> dict[str, str]:
    """A command's ``--model_args`` as a dict."""
    pairs = (option(command, "--model_args") or "").split(",")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)
