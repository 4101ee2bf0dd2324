"""Command line: ``python -m proactivebench_ext <command> ...``.

Each command lives in its own module with a ``main(argv) -> int``; they are imported only when
used, so ``check-data`` never pays for lmms-eval's start-up. Every command first checks the
``PROACTIVEBENCH_*`` variables (:mod:`.lmms.runtime.environment`) and stops on a bad value.
"""

from __future__ import annotations

import difflib
import importlib
import sys

from . import __version__

COMMANDS = {
    "demo": ("proactivebench_ext.demo", "run the benchmark end to end on the embedded set and write the report"),
    "check-data": ("proactivebench_ext.data.checkdata", "validate a data directory in the released layout"),
    "synth": ("proactivebench_ext.data.synth", "write a synthetic data set in the released layout"),
    "tiny-model": ("proactivebench_ext.testing.tiny_models", "build the demo's tiny random LLaVA (CPU runs, no download)"),
    "conformance": ("proactivebench_ext.testing.conformance", "replay golden traces of the reference implementation"),
    "tasks-path": ("proactivebench_ext.lmms.registration", "print the folder of our lmms-eval task configs"),
    "judge": ("proactivebench_ext.judge.phase", "score logged open-ended answers with an LLM judge (resumable)"),
    "report": ("proactivebench_ext.report.cli", "tables and plots from lmms-eval output folders"),
    "rescore": ("proactivebench_ext.lmms.rescore", "recompute each run's figures from its logged episodes"),
    "view": ("proactivebench_ext.report.viewer.cli", "static HTML episode viewer of lmms-eval runs (turn by turn)"),
    "rl-data": ("proactivebench_ext.rl.dataset", "single-turn GRPO training states from a train split (TRL format)"),
    "rl-train": ("proactivebench_ext.rl.train", "GRPO post-training with TRL + PEFT LoRA (needs the [rl] extra)"),
}


# Variables a command deliberately ignores are not checked for it: the demo always plays the embedded set.
IGNORES = {"demo": ("PROACTIVEBENCH_DATA_DIR", "PROACTIVEBENCH_DOWNLOAD")}


def usage() -> str:
    lines = ["usage: python -m proactivebench_ext [--version] <command> [args]", "", "commands:"]
    lines += [f"  {name:12s} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "python -m proactivebench_ext <command> --help shows a command's options and defaults."]
    return "\n".join(lines)


def unknown_command(name: str) -> str:
    close = difflib.get_close_matches(name, COMMANDS, n=1, cutoff=0.5)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown command {name!r}{hint}\n\n{usage()}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(f"proactivebench_ext {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(unknown_command(name), file=sys.stderr)
        return 2
    if not {"-h", "--help"} & set(rest):
        import os

        from .lmms.runtime.environment import refuse_bad_settings

        checked = {key: value for key, value in os.environ.items() if key not in IGNORES.get(name, ())}
        if refuse_bad_settings(checked, program=f"proactivebench_ext {name}"):
            return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
