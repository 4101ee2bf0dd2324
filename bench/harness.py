"""Harness cost at benchmark scale: the oracle over the full synthetic test set through lmms-eval.

    python bench/harness.py [--data DIR] [--fraction 0.1]

Generates the synthetic set at the benchmark's per-scenario counts (``--data`` reuses one) and a
``--fraction`` of it (the first rows of every scenario), then runs
``python -m lmms_eval --model proactive_oracle --tasks proactivebench --log_samples`` on each.
The oracle answers instantly, so what is left is the harness: lmms-eval plus our tasks, hooks,
image loading and lockstep driver. Each run is measured from inside (the command runs as
``runpy.run_module("lmms_eval")`` with timers around the agentic loop and the backend's
``generate_until``): wall time, peak RSS, task building (start to first episode), the agentic
loop, and the harness time per episode outside the backend. It must scale linearly: per-episode
times and peak RSS should barely move between the two sizes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD_REPORT = "PROACTIVEBENCH_HARNESS_REPORT"


def child(report: Path, argv: list[str]) -> None:
    """Run ``python -m lmms_eval argv`` in this process, timing the loop and the backend."""
    start = time.perf_counter()
    from proactivebench_ext.lmms import baselines
    from proactivebench_ext.lmms.runtime import lockstep

    spent = {"loop": 0.0, "backend": 0.0, "loop_start": None, "episodes": 0, "turns": 0}
    run_lockstep, generate_until = lockstep.run_lockstep, baselines._ScriptedModel.generate_until

    def timed_run_lockstep(lm, requests, *args, **kwargs):
        spent["loop_start"] = spent["loop_start"] or time.perf_counter() - start
        began = time.perf_counter()
        try:
            return run_lockstep(lm, requests, *args, **kwargs)
        finally:
            spent["loop"] += time.perf_counter() - began
            spent["episodes"] += len(requests)

    def timed_generate_until(self, requests):
        began = time.perf_counter()
        try:
            return generate_until(self, requests)
        finally:
            spent["backend"] += time.perf_counter() - began
            spent["turns"] += len(requests)

    lockstep.run_lockstep = timed_run_lockstep
    baselines._ScriptedModel.generate_until = timed_generate_until
    sys.argv = ["lmms_eval", *argv]
    try:
        runpy.run_module("lmms_eval", run_name="__main__", alter_sys=True)
    except SystemExit as done:
        if done.code not in (None, 0):
            raise
    finally:
        spent["wall"] = time.perf_counter() - start
        spent["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        report.write_text(json.dumps(spent))


def subset(full: Path, out: Path, fraction: float) -> None:
    """The first ``fraction`` of every scenario's rows (by id), its images hard links to the full set's
    (the data checks refuse symbolic links that lead outside the data folder)."""
    out.mkdir(parents=True)
    for item in full.iterdir():
        if item.suffix == ".jsonl":
            rows = sorted((json.loads(line) for line in item.read_text("utf-8").splitlines() if line.strip()),
                          key=lambda row: row["id"])
            kept = rows[:math.ceil(len(rows) * fraction)]
            (out / item.name).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in kept), "utf-8")
        elif item.is_dir():
            shutil.copytree(item, out / item.name, copy_function=os.link)


def measure(data: Path, work: Path, label: str) -> dict:
    out = work / label
    out.mkdir()
    report = work / f"{label}.json"
    env = {**os.environ, "PROACTIVEBENCH_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(report), "--",
               "--model", "proactive_oracle", "--tasks", "proactivebench", "--log_samples", "--output_path", str(out)]
    began = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True)
    wall = time.perf_counter() - began
    (out / "run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not report.exists() or not list(out.glob("**/*_results.json")):
        raise SystemExit(f"{label} run failed; see {out / 'run.log'}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    measured = json.loads(report.read_text())
    measured["process_wall"] = wall
    return measured


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a full-size synthetic set generated before")
    parser.add_argument("--fraction", type=float, default=0.1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_harness_"))
    try:
        full = args.data
        if full is None:
            full = work / "full"
            subprocess.run([sys.executable, "-m", "proactivebench_ext", "synth", str(full), "--per-scenario", "100000"],
                           check=True)
        part = work / "part"
        subset(full, part, args.fraction)
        rows = []
        for label, data in ((f"1/{round(1 / args.fraction)} size", part), ("full size", full)):
            measured = measure(data, work, label.replace("/", "_").replace(" ", "_"))
            rows.append((label, measured))
            print(f"  {label}: {measured['episodes']} episodes, wall {measured['process_wall']:.1f} s, "
                  f"peak RSS {measured['peak_rss_mb']:.0f} MB", flush=True)
        print()
        print("| set | episodes | turns | wall (s) | peak RSS (MB) | start-up + task building (s) | agentic loop (s) "
              "| backend (s) | loop outside the backend per episode (ms) | whole run per episode (ms) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for label, m in rows:
            outside = (m["loop"] - m["backend"]) / m["episodes"] * 1000
            print(f"| {label} | {m['episodes']} | {m['turns']} | {m['process_wall']:.1f} | {m['peak_rss_mb']:.0f} | "
                  f"{m['loop_start']:.1f} | {m['loop']:.1f} | {m['backend']:.1f} | {outside:.2f} | "
                  f"{m['process_wall'] / m['episodes'] * 1000:.1f} |")
        (small_label, small), (_, big) = rows
        print(f"\nfull / {small_label}: episodes x{big['episodes'] / small['episodes']:.1f}, "
              f"wall x{big['process_wall'] / small['process_wall']:.2f}, "
              f"peak RSS x{big['peak_rss_mb'] / small['peak_rss_mb']:.2f}, loop outside the backend per episode "
              f"x{(big['loop'] - big['backend']) / big['episodes'] / ((small['loop'] - small['backend']) / small['episodes']):.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
