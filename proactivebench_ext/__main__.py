"""Command line: ``python -m proactivebench_ext <command> ...``.

Each command lives in its own module with a ``main(argv) -> int``; they are imported only when
used, so ``check-data`` never pays for lmms-eval's start-up.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "demo": ("proactivebench_ext.demo", "run the benchmark end to end on the embedded set and write the report"),
    "check-data": ("proactivebench_ext.data.checkdata", "validate a data directory in the released layout"),
    "synth": ("proactivebench_ext.data.synth", "write a synthetic data set in the released layout"),
    "conformance": ("proactivebench_ext.testing.conformance", "replay golden traces of the reference implementation"),
    "tasks-path": ("proactivebench_ext.lmms.registration", "print the folder of our lmms-eval task configs"),
    "judge": ("proactivebench_ext.judge.phase", "score logged open-ended answers with an LLM judge (resumable)"),
    "report": ("proactivebench_ext.report.cli", "tables and plots from lmms-eval output folders"),
    "view": ("proactivebench_ext.report.viewer.cli", "static HTML episode viewer of lmms-eval runs (turn by turn)"),
    "rl-data": ("proactivebench_ext.rl.dataset", "single-turn GRPO training states from a train split (TRL format)"),
    "rl-train": ("proactivebench_ext.rl.train", "GRPO post-training with TRL + PEFT LoRA (needs the [rl] extra)"),
}


def usage() -> str:
    lines = ["usage: python -m proactivebench_ext <command> [args]", "", "commands:"]
    lines += [f"  {name:12s} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
