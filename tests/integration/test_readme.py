"""The README's commands work as written.

"Evaluating a model" is run line by line, with only what cannot run here swapped: the 7B
checkpoint becomes a tiny random LLaVA built locally (same ``llava_hf`` backend), ``--limit 1`` keeps
it short, and output folders live in a temporary directory. Every ``python -m proactivebench_ext``
command the README names must be a real subcommand.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from proactivebench_ext.__main__ import COMMANDS

from ..tiny_models import build_tiny_llava

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text("utf-8")


def code_block_after(heading: str) -> list[str]:
    """The first bash block under ``heading``, one command per entry (continuations joined)."""
    section = README.split(heading, 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    commands = block.replace("\\\n", " ").splitlines()
    return [line.split("  #", 1)[0].strip() for line in commands if line.strip()]


def test_every_named_subcommand_exists():
    named = set(re.findall(r"python -m proactivebench_ext ([a-z-]+)", README))
    assert named and named <= set(COMMANDS)


def test_evaluating_a_model_runs_as_written(offline_env, tmp_path):
    model = build_tiny_llava(tmp_path / "tiny_llava", letters_only=4)
    env = {**offline_env, "ACCELERATE_USE_CPU": "1"}
    commands = code_block_after("## Evaluating a model")
    assert [c.split()[:3] for c in commands] == [["accelerate", "launch", "-m"], ["python", "-m", "proactivebench_ext"],
                                               ["python", "-m", "proactivebench_ext"]]
    for command in commands:
        argv = shlex.split(command.replace("llava-hf/llava-1.5-7b-hf", f"{model},device_map=cpu"))
        if argv[0] == "accelerate":
            argv = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", *argv[2:],
                    "--limit", "1", "--device", "cpu"]
        else:
            argv = [sys.executable, *argv[1:]]
        result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert list((tmp_path / "out").rglob("*_results.json"))
    assert (tmp_path / "report" / "report.md").is_file()
    assert (tmp_path / "viewer" / "index.html").is_file()
