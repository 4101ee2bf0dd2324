"""API-served models: lmms-eval's unmodified ``openai`` backend against a loopback server.

    python bench/api.py small [--per-scenario 20] [--latency 0.5] [--concurrency 16]
    python bench/api.py full  [--latency 0.5] [--concurrency 32] [--data DIR]

The server (:class:`proactivebench_ext.testing.openai_server.LatencyServer`) answers every chat
completion after a fixed latency L with an option letter picked by a hash of the request, and
counts requests and the peak number in flight. Each run is a real ``python -m lmms_eval --model
openai --model_args ...,num_concurrent=C --tasks proactivebench`` on a synthetic set, the same
way API models (o4-mini, GPT-4.1) or a vLLM/SGLang server are evaluated.

Printed per runner: loop time (first request to last reply, as the server sees it: no process
start-up or task building), wall time of the whole command, requests, peak in flight, the lower
bound max(requests x L / C, longest episode x L) and efficiency = bound / loop time.
``small`` (20 per scenario, L = 0.5 s, C = 16) runs lmms-eval's own sequential runner, our
driver with calls one at a time (``PROACTIVEBENCH_LOCKSTEP_CONCURRENCY=0``) and our driver with
overlapping calls (the default for this backend), and checks the logged samples are identical.
``full`` runs the whole synthetic test set (the benchmark's per-scenario counts) once, with
overlapping calls; generating it takes a few minutes (``--data DIR`` reuses one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proactivebench_ext.lmms.runtime import lockstep  # noqa: E402
from proactivebench_ext.testing.openai_server import LatencyServer  # noqa: E402
from tests.lmms_runs import read_run  # noqa: E402

RUNNERS = {
    "sequential (lmms-eval)": {lockstep.ENABLE_VARIABLE: "0"},
    "lockstep, calls one at a time": {lockstep.CONCURRENCY_VARIABLE: "0"},
    "lockstep, overlapping calls": {},
}
SETTINGS = {"small": {"per_scenario": 20, "latency": 0.5, "concurrency": 16, "runners": list(RUNNERS)},
            "full": {"per_scenario": 100_000, "latency": 0.5, "concurrency": 32, "runners": ["lockstep, overlapping calls"]}}


@dataclass
class Measured:
    runner: str
    loop: float
    wall: float
    requests: int
    peak_in_flight: int
    episodes: int
    longest: int  # turns of the longest episode
    samples: dict[str, list[str]]

    def bound(self, latency: float, concurrency: int) -> float:
        return max(self.requests * latency / concurrency, self.longest * latency)


def run_once(server: LatencyServer, runner: str, data: Path, concurrency: int, out: Path) -> Measured:
    env = {**os.environ, **RUNNERS[runner], "PROACTIVEBENCH_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "lmms_eval", "--model", "openai", "--model_args",
               f"model_version=latency-server,base_url={server.url},api_key=EMPTY,num_concurrent={concurrency}",
               "--tasks", "proactivebench", "--log_samples", "--output_path", str(out)]
    server.reset()
    start = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=out, capture_output=True, text=True)
    wall = time.perf_counter() - start
    run = read_run(out, proc.returncode, proc.stdout + proc.stderr)
    stats = server.stats()
    records = [json.loads(sample["filtered_resps"]) for samples in run.samples.values() for sample in samples]
    return Measured(runner, stats.loop_seconds, wall, stats.requests, stats.peak_in_flight, len(records),
                    max(record["num_turns"] for record in records),
                    {task: [sample["filtered_resps"] for sample in samples] for task, samples in run.samples.items()})


def generate(data: Path, per_scenario: int) -> None:
    subprocess.run([sys.executable, "-m", "proactivebench_ext", "synth", str(data), "--per-scenario", str(per_scenario)],
                   check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("setting", choices=list(SETTINGS))
    parser.add_argument("--per-scenario", type=int)
    parser.add_argument("--latency", type=float)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--data", type=Path, help="a synthetic set generated before (else one is generated)")
    args = parser.parse_args()
    setting = SETTINGS[args.setting]
    per_scenario = args.per_scenario or setting["per_scenario"]
    latency = args.latency if args.latency is not None else setting["latency"]
    concurrency = args.concurrency or setting["concurrency"]

    work = Path(tempfile.mkdtemp(prefix="bench_api_"))
    try:
        data = args.data
        if data is None:
            data = work / "data"
            generate(data, per_scenario)
        print(f"{args.setting}: L = {latency} s, C = num_concurrent = {concurrency}, data {data}", flush=True)
        rows: list[Measured] = []
        with LatencyServer(latency) as server:
            for runner in setting["runners"]:
                rows.append(run_once(server, runner, data, concurrency, work / f"run{len(rows)}"))
                m = rows[-1]
                print(f"  {runner}: {m.episodes} episodes, {m.requests} requests, loop {m.loop:.1f} s "
                      f"(wall {m.wall:.1f} s), peak {m.peak_in_flight} in flight", flush=True)
        reference, compared = rows[0], len(rows) > 1
        print()
        print("| runner | loop time (s) | wall (s) | requests | peak in flight | bound (s) | efficiency |"
              + (f" vs {reference.runner.split(' ')[0]} | identical samples |" if compared else ""))
        print("|---|---|---|---|---|---|---|" + ("---|---|" if compared else ""))
        for m in rows:
            bound = m.bound(latency, concurrency)
            row = (f"| {m.runner} | {m.loop:.1f} | {m.wall:.1f} | {m.requests} | {m.peak_in_flight} | {bound:.1f} | "
                   f"{bound / m.loop:.2f} |")
            if compared:
                same = sum(a == b for task in reference.samples
                           for a, b in zip(reference.samples[task], m.samples.get(task, [])))
                row += f" {reference.loop / m.loop:.2f}x | {same}/{reference.episodes} |"
            print(row)
        print(f"\nbound = max(requests x {latency} / {concurrency}, longest episode x {latency}); "
              f"longest episode {max(m.longest for m in rows)} turns; efficiency = bound / loop time")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
