"""Sequential vs lockstep rounds on a tiny real VLM through an unmodified lmms-eval backend.

    python bench/rounds.py [--per-scenario 32] [--scenarios ROD,MVP-N,QD] [--batch-sizes 1,8,16,32]
                           [--max-new-tokens 16] [--size bench]

Builds a synthetic ProactiveBench set and a tiny random Gemma 3 (``bench``: ~21M parameters,
answers restricted to option letters so episodes run several rounds, fixed reply length), loads
lmms-eval's own ``gemma3`` backend once, builds the tasks' requests once, then times, side by
side in one process, lmms-eval's agentic runner (one backend call per episode per round) and our
lockstep driver (one call per round over every live episode) at each batch size. Timings cover
the evaluation loop only (process start-up and model loading excluded). Prints episodes/s, the
ratio, the share of loop time spent outside the backend's ``generate_until`` (harness overhead)
and how many episodes came out identical (batch padding changes bf16 numerics slightly).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_requests(tasks: list[str], max_new_tokens: int):
    from lmms_eval.tasks import TaskManager, get_task_dict

    task_dict = get_task_dict(tasks, TaskManager())
    datasets, requests = {}, []
    for name, task in task_dict.items():
        task.set_config(key="generation_kwargs", value={"max_new_tokens": max_new_tokens}, update=True)
        task.build_all_requests(limit=None, rank=0, world_size=1)
        datasets[name] = task.dataset
        requests.extend(task.instances)
    return datasets, requests


class TimedBackend:
    """Counts the time spent inside the backend's ``generate_until``."""

    def __init__(self, lm):
        self.lm, self.seconds, self.calls = lm, 0.0, 0
        self._inner = lm.generate_until
        lm.generate_until = self._timed

    def _timed(self, requests):
        start = time.perf_counter()
        try:
            return self._inner(requests)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def run(runner, lm, requests, timed: TimedBackend) -> tuple[float, float, int, list[str]]:
    timed.seconds, timed.calls = 0.0, 0
    start = time.perf_counter()
    responses = runner(lm, requests)
    wall = time.perf_counter() - start
    return wall, timed.seconds, timed.calls, responses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-scenario", type=int, default=32)
    parser.add_argument("--scenarios", default="ROD,MVP-N,QD")
    parser.add_argument("--batch-sizes", default="1,8,16,32")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--size", default="bench", choices=["small", "bench"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from proactivebench_ext.lmms.runtime.lockstep import run_lockstep
    from proactivebench_ext.core.naming import task_name
    from proactivebench_ext.data.synth import generate
    from proactivebench_ext.testing.tiny_gemma3 import build_tiny_gemma3, count_parameters

    work = Path(tempfile.mkdtemp(prefix="bench_rounds_"))
    generate(work / "data", per_scenario=args.per_scenario, seed=0)
    os.environ["PROACTIVEBENCH_DATA_DIR"] = str(work / "data")
    model_path = build_tiny_gemma3(work / "model", size=args.size, letters_only=4)

    from lmms_eval.evaluator import _run_generate_until_agentic
    from lmms_eval.models import get_model

    stock = getattr(_run_generate_until_agentic, "__wrapped_stock__", _run_generate_until_agentic)
    tasks = [task_name("main", acronym) for acronym in args.scenarios.split(",")]
    datasets, requests = build_requests(tasks, args.max_new_tokens)
    lm = get_model("gemma3").create_from_arg_string(f"pretrained={model_path},device=cpu,device_map=cpu", {"batch_size": 1})
    lm.task_dict = datasets
    timed = TimedBackend(lm)
    print(f"tiny Gemma 3 ({count_parameters(model_path) / 1e6:.1f}M parameters, {args.max_new_tokens} new tokens per "
          f"reply), tasks {', '.join(tasks)}: {len(requests)} episodes, {args.threads} CPU threads")

    run(stock, lm, requests[:2], timed)  # warm-up: first-call allocations, not in any timing
    rows = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        lm.batch_size_per_gpu = batch_size
        seq = run(stock, lm, requests, timed)
        lock = run(run_lockstep, lm, requests, timed)
        same = sum(a == b for a, b in zip(seq[3], lock[3]))
        turns = sum(json.loads(r)["num_turns"] for r in lock[3])
        rows.append((batch_size, seq, lock, same, turns))
        print(f"  batch {batch_size:>2}: sequential {len(requests) / seq[0]:6.2f} ep/s ({seq[2]} calls), "
              f"lockstep {len(requests) / lock[0]:6.2f} ep/s ({lock[2]} calls), ratio {seq[0] / lock[0]:.2f}x", flush=True)

    print()
    print("| batch | sequential ep/s | lockstep ep/s | lockstep / sequential | harness overhead seq / lockstep | identical episodes | rounds |")
    print("|---|---|---|---|---|---|---|")
    for batch_size, seq, lock, same, turns in rows:
        overhead = lambda r: (r[0] - r[1]) / r[0] * 100  # noqa: E731
        print(f"| {batch_size} | {len(requests) / seq[0]:.2f} | {len(requests) / lock[0]:.2f} | {seq[0] / lock[0]:.2f}x | "
              f"{overhead(seq):.1f}% / {overhead(lock):.1f}% | {same}/{len(requests)} | {turns} |")


if __name__ == "__main__":
    main()
