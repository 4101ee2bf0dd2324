"""The episode viewer on a full-size synthetic run: generation time, site size, page load in a browser.

Writes a full-size synthetic test set (``synth --per-scenario 3000``: every scenario at its released
size, VSOD 40 instead of 42), the oracle's and a seeded random answerer's sample logs in lmms-eval's
layout (:mod:`proactivebench_ext.testing.logs`, checked against real lmms-eval runs by the
integration tests), then the viewer of the oracle run (fresh, then again with every thumbnail
reused) and of both runs. Prints times, sizes and, when Chromium is installed, the load time of the largest page
beside a blank page's, measured by the same headless browser in the same run.

    python bench/viewer.py [--out DIR] [--per-scenario 3000] [--keep]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, task_name
from proactivebench_ext.data.synth import generate
from proactivebench_ext.report.viewer.site import write_site
from proactivebench_ext.testing.logs import oracle, random_policy, write_run

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def size_mb(path: Path, pattern: str = "*") -> float:
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file()) / 2**20


def timed(label: str, action):  # noqa: ANN001, ANN202 - a tiny local helper
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    print(f"{label:46s} {seconds:7.1f} s")
    return result, seconds


def load_ms(browser: str, page: Path, profile: Path) -> tuple[float, int, int]:
    """(process wall seconds, ms until the page's script ran, ms until its load event), fresh profile."""
    started = time.perf_counter()
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    ready = re.search(r'data-ready="(\d+)"', proc.stdout)
    loaded = re.search(r'data-loaded="(\d+)"', proc.stdout)
    return wall, int(ready.group(1)) if ready else -1, int(loaded.group(1)) if loaded else -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--per-scenario", type=int, default=3000, help="capped by each scenario's test-set size")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = args.out or Path(tempfile.mkdtemp(prefix="viewer-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = work / "data"
        if not any(data.glob("*.jsonl")):
            timed("synthetic data set", lambda: generate(data, per_scenario=args.per_scenario, force=True))
        tasks = [task_name("main", acronym) for acronym in SCENARIO_ACRONYMS]
        timed("oracle sample logs", lambda: write_run(work / "oracle", tasks, oracle, data_dir=str(data)))
        timed("random sample logs", lambda: write_run(work / "random", tasks, random_policy(1), model="proactive_random",
                                                      model_args="seed=1", data_dir=str(data), date="20260101_000001"))
        one, two = work / "site_one_run", work / "site_two_runs"
        for folder in (one, two):
            shutil.rmtree(folder, ignore_errors=True)
        summary, fresh = timed("viewer, oracle run, fresh (thumbnails written)", lambda: write_site([work / "oracle"], one))
        _, again = timed("viewer, oracle run, again (thumbnails reused)", lambda: write_site([work / "oracle"], one))
        both, _ = timed("viewer, oracle + random runs, fresh", lambda: write_site([work / "oracle", work / "random"], two))
        for label, site, result in (("one run", one, summary), ("two runs", two, both)):
            pages = list(site.rglob("*.html"))
            print(f"\n{label}: {result.episodes:,} episodes, {result.images:,} images, {len(pages)} pages; site "
                  f"{size_mb(site):.1f} MiB: pages {size_mb(site, '*.html'):.1f} MiB, thumbnails "
                  f"{size_mb(site / 'img' / 't'):.1f} MiB, full-size crops {size_mb(site / 'img' / 'f'):.1f} MiB")
        site = two
        largest = max(site.rglob("*.html"), key=lambda p: p.stat().st_size)
        print(f"largest page {largest.relative_to(site)}: {largest.stat().st_size / 2**20:.2f} MiB")
        print(f"reusing thumbnails: {fresh / again:.1f}x faster than writing them")
        browser = next((path for path in map(shutil.which, BROWSERS) if path), None)
        if browser is None:
            print("no chromium on PATH: page load not measured (apt-get install -y chromium)")
            return 0
        blank = work / "blank.html"
        blank.write_text("<!doctype html><body><script>document.body.setAttribute('data-ready', "
                         "String(Math.round(performance.now())))</script></body>")
        rows = []
        for number, page in enumerate([blank, largest, site / "index.html", site / "compare.html"]):
            wall, ready, loaded = load_ms(browser, page, work / f"profile-{number}")
            rows.append((page.name, wall, ready, loaded))
        print(f"\n{'headless chromium, fresh profile':34s} {'process s':>10s} {'script ran ms':>14s} {'load event ms':>14s}")
        for name, wall, ready, loaded in rows:
            print(f"{name:34s} {wall:10.2f} {ready:14d} {loaded:14d}")
        print(f"largest page vs blank page, process time: {rows[1][1] / rows[0][1]:.1f}x")
        return 0
    finally:
        if not args.keep and args.out is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
