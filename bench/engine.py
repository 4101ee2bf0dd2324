"""Engine cost per turn (no image I/O): median over many episodes.

    python bench/engine.py [--repeats N]

Each golden MCQA episode is replayed with its recorded answers (so no policy cost is timed):
``new_episode`` + every ``observe()`` + every ``answer()``, divided by the number of turns.
Target: under 50 µs per turn on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from proactivebench_ext import InvalidEntryError, new_episode

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden" / "mcqa.jsonl"


def play(record: dict) -> int:
    flags = record["flags"]
    episode = new_episode(record["dataset"], record["entry"], hint=flags["hint"], reference=flags["reference"])
    turns = 0
    for golden in record["turns"]:
        if episode.done or "answer" not in golden:
            break
        episode.observe()
        episode.answer(golden["answer"])
        turns += 1
    return turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    records = [json.loads(line) for line in GOLDEN.read_text("utf-8").splitlines()]
    playable = []
    for record in records:
        try:
            if play(record):
                playable.append(record)
        except InvalidEntryError:
            pass
    per_turn: dict[str, list[float]] = {}
    for record in playable:
        start = time.perf_counter()
        for _ in range(args.repeats):
            turns = play(record)
        elapsed = (time.perf_counter() - start) / args.repeats
        per_turn.setdefault(record["acronym"], []).append(elapsed / turns * 1e6)
    every = [value for values in per_turn.values() for value in values]
    print(f"{len(playable)} episodes x {args.repeats} repeats; engine cost per turn (µs, median):")
    for acronym, values in per_turn.items():
        print(f"  {acronym:6s} {statistics.median(values):6.1f}")
    median = statistics.median(every)
    print(f"  {'all':6s} {median:6.1f}   target < 50 µs: {'OK' if median < 50 else 'MISSED'} ({50 / median:.1f}x headroom)")


if __name__ == "__main__":
    main()
