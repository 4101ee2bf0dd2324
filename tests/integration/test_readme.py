"""The README's commands work as written.

The GPU command of "Evaluating a model" is run line by line, with only what cannot run here swapped:
the 7B checkpoint becomes a tiny random LLaVA built locally (same ``llava_hf`` backend, same parity
arguments), ``--limit 1`` keeps it short, and output folders live in a temporary directory. The CPU
command before it runs as written in ``tools/run_docs.py`` (its quick blocks are in
``test_docs_commands.py``). Every ``python -m proactivebench_ext`` command the README names must be
a real subcommand.
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


def code_block_after(heading: str, index: int = 0) -> list[str]:
    """The ``index``-th bash block under ``heading``, one command per entry (continuations joined)."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, flags=re.S)[index]
    commands = block.replace("\\\n", " ").splitlines()
    return [line.split("  #", 1)[0].strip() for line in commands if line.strip()]


def test_every_named_subcommand_exists():
    named = set(re.findall(r"python -m proactivebench_ext ([a-z][a-z-]*)", README))
    assert named and named <= set(COMMANDS)
    assert "python -m proactivebench_ext --version" in README


def test_evaluating_a_model_runs_as_written(offline_env, tmp_path):
    model = build_tiny_llava(tmp_path / "tiny_llava", letters_only=4)
    env = {**offline_env, "ACCELERATE_USE_CPU": "1"}
    commands = code_block_after("## Evaluating a model", index=1)
    assert [c.split()[:4] for c in commands] == [["accelerate", "launch", "-m", "lmms_eval"],
                                               ["python", "-m", "proactivebench_ext", "rescore"],
                                               ["python", "-m", "proactivebench_ext", "report"],
                                               ["python", "-m", "proactivebench_ext", "view"]]
    assert "dtype=bfloat16" in commands[0] and "--batch_size 1" in commands[0]  # the parity settings (docs/models.md)
    for command in commands:
        argv = shlex.split(command.replace("llava-hf/llava-1.5-7b-hf", str(model)).replace("device_map=auto", "device_map=cpu"))
        if argv[0] == "accelerate":
            argv = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", *argv[2:],
                    "--limit", "1", "--device", "cpu"]
        else:
            argv = [sys.executable, *argv[1:]]
        result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert list((tmp_path / "out" / "llava7b").rglob("*_results.json"))
    assert (tmp_path / "report" / "report.md").is_file()
    assert (tmp_path / "viewer" / "index.html").is_file()
