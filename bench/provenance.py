"""The data fingerprint at the release's size: how long the provenance block adds to a run.

    python bench/provenance.py [--images-per-sample 10]

Builds a folder in the released layout with the benchmark's 7,557 test rows (the embedded rows,
renumbered to every id of ``filter_ids``) and ``--images-per-sample`` small image files per row,
then times :func:`proactivebench_ext.data.provenance.fingerprint` for the seven scenarios (the
results patch computes it once per scenario and data folder of a run). The fingerprint hashes the
rows and the image listing (names and sizes), never the image bytes, so the time grows with the
number of files, not their size. Printed: rows, files, seconds, and seconds per 10,000 files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.data.layout import embedded_data_dir, jsonl_path
from proactivebench_ext.data.provenance import fingerprint


def build(root: Path, images_per_sample: int) -> tuple[int, int]:
    """Write the release-sized folder; returns (rows, image files)."""
    benchmark, rows_written, files = load_benchmark(), 0, 0
    for dataset, acronym in benchmark.datasets.items():
        source = [json.loads(line) for line in jsonl_path(acronym, embedded_data_dir()).read_text("utf-8").splitlines()
                  if line.strip()]
        rows = [{**source[index % len(source)], "id": sample_id}
                for index, sample_id in enumerate(benchmark.filter_ids[dataset])]
        jsonl_path(acronym, root).write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
        template = rows[0].get("image_template")
        top = PurePosixPath(template).parts[0] if isinstance(template, str) else dataset
        for index in range(len(rows) * images_per_sample):
            folder = root / top / f"s{index // images_per_sample}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{index % images_per_sample}.png").write_bytes(b"x" * (index % 97))
            files += 1
        rows_written += len(rows)
    return rows_written, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images-per-sample", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="provenance-bench-"))
    try:
        rows, files = build(root, args.images_per_sample)
        start = time.perf_counter()
        for acronym in load_benchmark().datasets.values():
            fingerprint(acronym, root)
        seconds = time.perf_counter() - start
        print(f"{rows} rows, {files} image files: all seven fingerprints in {seconds:.2f} s "
              f"({seconds / files * 10_000:.2f} s per 10,000 files)")
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
