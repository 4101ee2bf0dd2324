"""Running ``python -m lmms_eval`` from tests and reading back what it wrote.

lmms-eval exits 0 even when a run fails, so a run is judged by the result and sample files it
must write.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# lmms-eval keys its response cache by ``git describe`` of the folder it is installed in; with the
# venv inside this repository, a commit between two runs (a shared tree, a bisect) would turn every
# cached answer into a miss. Runs that test --use_cache pin that version instead.
PINNED_CACHE_VERSION = {"GIT_DIR": os.devnull, "LMMS_EVAL_GIT_COMMIT": "proactivebench-tests"}

TURN_KEYS = {"index", "image_path", "crop", "prompt", "options", "mcqa_prompt", "answer", "action_evaluation",
             "category_evaluation", "action", "done"}


@dataclass
class Run:
    results: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]]  # task -> logged samples, by doc_id
    log: str

    def metric(self, task: str, name: str) -> float:
        return self.results["results"][task][f"{name},none"]

    def records(self, task: str) -> list[dict[str, Any]]:
        return [json.loads(sample["filtered_resps"]) for sample in self.samples[task]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_lmms_eval(args: list[str], env: dict[str, str], out: Path, *, processes: int = 1) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    lmms = ["-m", "lmms_eval", *args, "--log_samples", "--output_path", str(out)]
    if processes == 1:
        command = [sys.executable, *lmms]
    else:
        env = {**env, "ACCELERATE_USE_CPU": "1"}
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                   str(processes), "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                   "--main_process_port", str(free_port()), *lmms]
    proc = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True, timeout=900)
    return read_run(out, proc.returncode, proc.stdout + proc.stderr)


def read_run(out: Path, returncode: int, log: str) -> Run:
    """The results and samples an lmms-eval run wrote to ``out`` (its exit code alone proves nothing)."""
    (out / "run.log").write_text(log)
    results = list(out.glob("**/*_results.json"))
    assert returncode == 0 and len(results) == 1, f"lmms-eval run failed ({out / 'run.log'}):\n{log[-4000:]}"
    samples: dict[str, list[dict[str, Any]]] = {}
    for path in out.glob("**/*_samples_*.jsonl"):
        task = path.name.split("_samples_", 1)[1].removesuffix(".jsonl")
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        samples[task] = sorted(rows, key=lambda row: row["doc_id"])
    return Run(json.loads(results[0].read_text("utf-8")), samples, log)
