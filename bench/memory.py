"""Peak memory while showing every turn's image of a 1,000-sample synthetic set.

Images are loaded lazily, one turn at a time, so peak RSS after 1,000 samples should be the same
as after 100. The set is generated in a subprocess so this process's peak reflects loading only.

    python bench/memory.py [--per-scenario 200] [--short-edge 224]
"""

from __future__ import annotations

import argparse
import itertools
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from proactivebench_ext import new_episode
from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.data.images import load_turn_image
from proactivebench_ext.data.layout import load_test_set

CHECKPOINTS = (100, 1000)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def play_and_show(acronym: str, entry: dict, data_dir: Path, short_edge: int | None) -> int:
    """Play one episode (accept every request, then answer) plus its reference turn; load each image."""
    shown = 0
    for reference in (False, True):
        episode = new_episode(acronym, entry, data_dir, reference=reference)
        while not episode.done:
            image = load_turn_image(episode.observe(), short_edge=short_edge)
            shown += 1
            image.close()
            requests, _ = episode.correct_now()
            episode.answer(requests[0] if requests else entry["answer"])
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-scenario", type=int, default=200, help="capped by ROD (88) and VSOD (40) test sizes")
    parser.add_argument("--short-edge", type=int, default=224, help="resize as in the history ablation (0: no resize)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "proactivebench_ext.synth", tmp, "--per-scenario", str(args.per_scenario)],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"generated in {time.perf_counter() - started:.1f}s; baseline peak RSS {peak_rss_mb():.1f} MB")
        acronyms = list(load_benchmark().datasets.values())
        per_scenario = [[(acronym, entry) for entry in load_test_set(acronym, data_dir)] for acronym in acronyms]
        samples = [pair for group in itertools.zip_longest(*per_scenario) for pair in group if pair is not None]
        tracemalloc.start()
        started, images = time.perf_counter(), 0
        for count, (acronym, entry) in enumerate(samples, start=1):
            images += play_and_show(acronym, entry, data_dir, args.short_edge or None)
            if count in CHECKPOINTS:
                _, traced_peak = tracemalloc.get_traced_memory()
                print(f"after {count:5d} samples ({images:5d} images, {time.perf_counter() - started:5.1f}s): "
                      f"peak RSS {peak_rss_mb():6.1f} MB, current RSS {current_rss_mb():6.1f} MB, "
                      f"Python heap peak {traced_peak / 2**20:5.1f} MB")
        if len(samples) < max(CHECKPOINTS):
            print(f"only {len(samples)} samples: raise --per-scenario")
    return 0


if __name__ == "__main__":
    sys.exit(main())
