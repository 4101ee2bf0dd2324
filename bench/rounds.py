"""Sequential vs lockstep (fixed windows and the refilled pool) on a tiny real VLM through lmms-eval.

    python bench/rounds.py [--per-scenario 32] [--scenarios ROD,MVP-N,QD] [--batch-sizes 1,8,16,32]
                           [--pools 256,40] [--repeats 3] [--max-new-tokens 16] [--size bench]

Builds a synthetic ProactiveBench set and a tiny random Gemma 3 (``bench``: ~21M parameters,
answers restricted to option letters so episodes run several rounds, fixed reply length), loads
lmms-eval's own ``gemma3`` backend once, builds the tasks' requests once, then times, side by
side in one process, lmms-eval's agentic runner (one backend call per episode per round) and our
driver at each batch size and pool size W: fixed windows of W episodes (the earlier schedule:
each window runs until its longest episode ends) and the pool (at most W episodes in play, a
finished one replaced at once). The sequential runner's calls hold one request each, so it is
timed once. Every runner runs ``--repeats`` times, interleaved, and its fastest run counts (the
machine may be shared). Timings cover the evaluation loop only (process start-up and
model loading excluded). Prints episodes/s, the ratios, occupancy (requests per model batch /
batch size, where a call of n requests runs ceil(n / batch) batches), the share of loop time
spent outside the backend's ``generate_until`` (harness overhead) and how many episodes came out
identical to the sequential runner's (batch padding changes bf16 numerics slightly). With W at
least the number of episodes, windows and pool are the same schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
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
    """Counts the time spent inside the backend's ``generate_until`` and the size of each call."""

    def __init__(self, lm):
        self.lm, self.seconds, self.sizes = lm, 0.0, []
        self._inner = lm.generate_until
        lm.generate_until = self._timed

    def _timed(self, requests):
        start = time.perf_counter()
        try:
            return self._inner(requests)
        finally:
            self.seconds += time.perf_counter() - start
            self.sizes.append(len(requests))


@dataclass
class Timing:
    wall: float
    backend: float
    sizes: list[int]  # requests per backend call
    responses: list[str]

    def batches(self, batch_size: int) -> int:
        """Model batches run: a call of n requests runs ceil(n / batch) of them."""
        return sum(math.ceil(n / batch_size) for n in self.sizes)

    def occupancy(self, batch_size: int) -> float:
        """Requests per model batch / batch size."""
        return sum(self.sizes) / (batch_size * self.batches(batch_size))

    def overhead(self) -> float:
        return (self.wall - self.backend) / self.wall * 100


def run(runner, lm, requests, timed: TimedBackend) -> Timing:
    timed.seconds, timed.sizes = 0.0, []
    start = time.perf_counter()
    responses = runner(lm, requests)
    wall = time.perf_counter() - start
    return Timing(wall, timed.seconds, timed.sizes, responses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-scenario", type=int, default=32)
    parser.add_argument("--scenarios", default="ROD,MVP-N,QD")
    parser.add_argument("--batch-sizes", default="1,8,16,32")
    parser.add_argument("--pools", default="256,40", help="pool / window sizes W to compare")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--size", default="bench", choices=["small", "bench"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each runner, interleaved; the fastest counts")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from proactivebench_ext.core.naming import task_name
    from proactivebench_ext.data.synth import generate
    from proactivebench_ext.lmms.runtime.lockstep import Schedule, run_lockstep
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
    pools = [int(w) for w in args.pools.split(",")]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    runners = {("sequential", 1, 0): stock}  # one request per call: the batch size plays no part
    for batch_size in batch_sizes:
        for pool in pools:
            runners[("windows", batch_size, pool)] = partial(run_lockstep, schedule=Schedule(pool=pool, refill=False))
            runners[("pool", batch_size, pool)] = partial(run_lockstep, schedule=Schedule(pool=pool))
    best: dict[tuple[str, int, int], Timing] = {}
    for repeat in range(args.repeats):  # interleaved, so a burst of load on the machine hits every runner alike
        for key, runner in runners.items():
            lm.batch_size_per_gpu = key[1]
            timing = run(runner, lm, requests, timed)
            if key not in best or timing.wall < best[key].wall:
                best[key] = timing
        print(f"  repeat {repeat + 1}/{args.repeats}: sequential {len(requests) / best[('sequential', 1, 0)].wall:.2f} ep/s, "
              + ", ".join(f"{name} b{b} W{w} {len(requests) / t.wall:.2f}" for (name, b, w), t in best.items()
                          if name != "sequential"), flush=True)
    seq = best[("sequential", 1, 0)]
    rows = [(b, w, seq, best[("windows", b, w)], best[("pool", b, w)]) for b in batch_sizes for w in pools]

    turns = sum(json.loads(r)["num_turns"] for r in rows[0][4].responses)
    print(f"\n{len(requests)} episodes, {turns} rounds; W = episodes in play at once (windows of W vs a pool of W)\n")
    print("| batch | W | sequential ep/s | windows ep/s | pool ep/s | windows / seq | pool / seq | pool / windows "
          "| model batches windows / pool | occupancy windows / pool | harness overhead seq / windows / pool "
          "| identical (pool vs seq) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for batch_size, pool, seq, windows, refilled in rows:
        same = sum(a == b for a, b in zip(seq.responses, refilled.responses))
        print(f"| {batch_size} | {pool} | {len(requests) / seq.wall:.2f} | {len(requests) / windows.wall:.2f} | "
              f"{len(requests) / refilled.wall:.2f} | {seq.wall / windows.wall:.2f}x | {seq.wall / refilled.wall:.2f}x | "
              f"{windows.wall / refilled.wall:.2f}x | {windows.batches(batch_size)} / {refilled.batches(batch_size)} | "
              f"{windows.occupancy(batch_size):.2f} / {refilled.occupancy(batch_size):.2f} | "
              f"{seq.overhead():.1f}% / {windows.overhead():.1f}% / {refilled.overhead():.1f}% | {same}/{len(requests)} |")


if __name__ == "__main__":
    main()
