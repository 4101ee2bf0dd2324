"""Where a run's episodes came from: the data source, a content fingerprint, the test-set filter.

Every ProactiveBench figure must say whether it was measured on the benchmark or on synthetic
pictures, and on which rows. This module answers that for one scenario and one data folder,
without lmms-eval (the runtime patch in :mod:`..lmms.runtime.provenance` writes it into the
results file; ``report`` and ``rescore`` read it back).

Kinds of source:

- ``embedded-synthetic``: the mini set shipped inside the package (no data folder given);
- ``synthetic``: a folder written by ``python -m proactivebench_ext synth`` (it leaves
  :data:`SYNTH_MARKER` in the folder);
- ``hub``: a folder installed by the hub download (``<root>/<commit>/test`` with its
  ``.<Dataset>.complete`` marker), with the repo and the commit;
- ``folder``: any other folder, e.g. the released ``test/`` folder extracted by hand.

The fingerprint hashes the JSONL rows the test set uses (canonical JSON of each, in file order:
the rows the id filter keeps, as the loader sees them) and the listing of the image folders
(relative path and size of every file, never the image bytes), so a release-sized folder (7,557
rows, 75,570 files) takes about 1.4 s for all seven scenarios (``bench/provenance.py``), and it
changes when any test row or any image file's name or size does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..core.constants import load_benchmark
from ..core.naming import dataset_name
from .hub import MARKER_NAME, REPO_ID
from .layout import embedded_data_dir, iter_jsonl, jsonl_path, may_be_test_row, test_ids

SYNTH_MARKER = ".proactivebench-synthetic.json"
EMBEDDED = "embedded-synthetic"
SYNTHETIC = "synthetic"
HUB = "hub"
FOLDER = "folder"
SYNTHETIC_KINDS = (EMBEDDED, SYNTHETIC)
FILTER_NAME = "filter_ids"  # benchmark.json's test-set id list (7,557 ids over the seven scenarios)
SHORT = 16  # hex digits shown for a fingerprint in tables


@dataclass(frozen=True)
class DataSource:
    """What kind of data a folder holds (see the module docstring)."""

    kind: str
    folder: str
    repo: str | None = None
    revision: str | None = None

    @property
    def synthetic(self) -> bool:
        return self.kind in SYNTHETIC_KINDS

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def data_source(data_dir: str | os.PathLike[str]) -> DataSource:
    """The kind of data in ``data_dir`` (an existing folder in the released layout)."""
    folder = Path(data_dir).resolve()
    if folder == embedded_data_dir().resolve():
        return DataSource(EMBEDDED, str(folder))
    if (folder / SYNTH_MARKER).is_file():
        return DataSource(SYNTHETIC, str(folder))
    if any((folder / MARKER_NAME.format(dataset=name)).is_file() for name in load_benchmark().datasets):
        return DataSource(HUB, str(folder), repo=REPO_ID, revision=folder.parent.name)
    return DataSource(FOLDER, str(folder))


def synth_marker(per_scenario: int, seed: int, split: str) -> dict[str, Any]:
    """What ``synth`` writes into :data:`SYNTH_MARKER`: how to make the same set again."""
    return {"generator": "python -m proactivebench_ext synth", "synthetic": True,
            "per_scenario": per_scenario, "seed": seed, "split": split}


@dataclass(frozen=True)
class Fingerprint:
    """Content identity of one scenario's test rows and image files in one folder."""

    rows: int  # JSONL rows hashed (test rows, damaged ones included)
    rows_sha256: str
    images: int  # files listed under the image folders
    images_sha256: str

    @property
    def short(self) -> str:
        """One short hex id of both hashes, as tables show it."""
        return hashlib.sha256(f"{self.rows_sha256}:{self.images_sha256}".encode()).hexdigest()[:SHORT]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.short, **asdict(self)}


def _row_bytes(entry: dict[str, Any] | None, line: int, error: str | None) -> bytes:
    if entry is None:
        return f"damaged line {line}: {error}\n".encode()
    return json.dumps(entry, sort_keys=True, ensure_ascii=True).encode() + b"\n"


def image_folders(entries: Iterable[dict[str, Any]], scenario: str) -> list[str]:
    """Top folders of the rows' image paths (``QuickDraw/star/...`` -> ``QuickDraw``), else the dataset's name."""
    folders = set()
    for entry in entries:
        template = entry.get("image_template")
        if isinstance(template, str) and PurePosixPath(template).parts:
            folders.add(PurePosixPath(template).parts[0])
    return sorted(folders or {dataset_name(scenario)})


def listing_lines(root: Path, folders: Iterable[str]) -> Iterable[str]:
    """``relative/path<TAB>size`` of every file under ``folders`` (sorted; links are not followed)."""
    for top in folders:
        start = root / top
        if not start.is_dir():
            yield f"{top}\tmissing"
            continue
        found = []
        for current, dirs, files in os.walk(start):
            dirs.sort()
            base = Path(current).relative_to(root).as_posix()
            for name in files:
                try:
                    size = os.lstat(os.path.join(current, name)).st_size
                except OSError:
                    size = -1
                found.append(f"{base}/{name}\t{size}")
        yield from sorted(found)


def fingerprint(scenario: str, data_dir: str | os.PathLike[str]) -> Fingerprint:
    """Hashes of the scenario's test rows and of its image-folder listing in ``data_dir``."""
    root = Path(data_dir)
    rows_hash, count, entries = hashlib.sha256(), 0, []
    path = jsonl_path(scenario, root)
    if path.is_file():
        ids = test_ids(scenario)
        for row in iter_jsonl(path):
            if may_be_test_row(row, ids):
                rows_hash.update(_row_bytes(row.entry, row.line, row.error))
                count += 1
                if row.entry is not None:
                    entries.append(row.entry)
    else:
        rows_hash.update(f"missing {path.name}\n".encode())
    images_hash, files = hashlib.sha256(), 0
    for line in listing_lines(root, image_folders(entries, scenario)):
        images_hash.update(line.encode("utf-8", "surrogateescape") + b"\n")
        files += 1
    return Fingerprint(count, rows_hash.hexdigest(), files, images_hash.hexdigest())


def test_filter(scenario: str) -> dict[str, Any]:
    """The test-set filter the loader applies: benchmark.json's id list (and its row-drop rule)."""
    benchmark = load_benchmark()
    ids = benchmark.filter_ids[dataset_name(scenario)]
    all_ids = sum(len(v) for v in benchmark.filter_ids.values())
    digest = hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:SHORT]
    return {"name": FILTER_NAME, "scenario_ids": len(ids), "benchmark_ids": all_ids, "ids_sha256": digest,
            "drop_rows": dict(benchmark.drop_rows)}


def engine_version() -> str:
    """The package version plus a hash of the engine's source and benchmark constants.

    A figure is reproducible only with the same scoring rules; this changes whenever they do,
    without anyone having to remember to bump a number.
    """
    from .. import __version__

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted((package / "core").glob("*.py")) + [package / "resources" / "benchmark.json"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def describe(scenario: str, data_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Source, fingerprint and filter of one scenario's data, as the results file records them."""
    source = data_source(data_dir)
    return {"source": source.to_json(), "synthetic": source.synthetic,
            "fingerprint": fingerprint(scenario, data_dir).to_json(), "test_filter": test_filter(scenario)}
