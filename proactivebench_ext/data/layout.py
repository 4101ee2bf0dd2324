"""Where the benchmark's data lives and which rows of it form the test set.

One loader serves the released data (the ``test/`` folder of the Hugging Face dataset repo) and the
synthetic sets of :mod:`proactivebench_ext.data.synth`, because both share one layout: a
``<Dataset>_preprocessed.jsonl`` per dataset next to the extracted image folders, each row holding
image path templates relative to that folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..core.constants import load_benchmark
from ..core.naming import acronym_of, dataset_name
from .errors import DataError, DataNotFoundError
from .hub import download_test_data

DATA_DIR_ENV = "PROACTIVEBENCH_DATA_DIR"
DOWNLOAD_ENV = "PROACTIVEBENCH_DOWNLOAD"

POINT_AT_LOCAL_COPY = (
    f"point {DATA_DIR_ENV} (or the data_dir argument) at a local copy of the `test/` folder of the "
    "Hugging Face dataset tdemin16/ProactiveBench with its zip archives extracted in place, "
    f"or set {DOWNLOAD_ENV}=1 to download it"
)


@dataclass(frozen=True)
class JsonlRow:
    """One line of a dataset JSONL: the parsed entry, or why it could not be parsed."""

    path: Path
    line: int  # 1-based, as editors show it
    entry: dict[str, Any] | None
    error: str | None = None


def jsonl_path(scenario: str, data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / load_benchmark().jsonl_name.format(dataset=dataset_name(scenario))


def test_ids(scenario: str) -> frozenset[int]:
    """Sample ids of the benchmark's test set for one scenario (``filter_ids``)."""
    return frozenset(load_benchmark().filter_ids[dataset_name(scenario)])


def is_dropped(entry: Mapping[str, Any]) -> bool:
    """Rows the benchmark drops before the id filter (VSOD rows without strong occlusions)."""
    rule = load_benchmark().drop_rows
    field = str(rule["field"])
    return field in entry and entry[field] == rule["value"]


def is_test_row(entry: Mapping[str, Any], ids: frozenset[int]) -> bool:
    return not is_dropped(entry) and entry.get("id") in ids


def iter_jsonl(path: Path) -> Iterator[JsonlRow]:
    """Rows of a JSONL file one at a time, keeping bad lines as rows with an ``error``.

    Blank lines are skipped. Reading lazily keeps memory flat on the larger datasets.
    """
    with open(path, "r", encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                entry = json.loads(text)
            except json.JSONDecodeError as error:
                yield JsonlRow(path, number, None, f"not valid JSON ({error.msg} at column {error.colno})")
                continue
            if not isinstance(entry, dict):
                yield JsonlRow(path, number, None, f"expected a JSON object, got {type(entry).__name__}")
                continue
            yield JsonlRow(path, number, entry)


def require_jsonl(scenario: str, data_dir: str | os.PathLike[str]) -> Path:
    """The dataset's JSONL in ``data_dir``, or a :class:`DataNotFoundError` that says how to get it."""
    directory = Path(data_dir)
    if not directory.is_dir():
        raise DataNotFoundError(f"data directory {directory} does not exist; {POINT_AT_LOCAL_COPY}")
    path = jsonl_path(scenario, directory)
    if not path.is_file():
        raise DataNotFoundError(
            f"{path} not found: the data directory has no {path.name} for {acronym_of(scenario)}; "
            f"{POINT_AT_LOCAL_COPY}"
        )
    return path


def load_test_set(scenario: str, data_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The test-set entries of one scenario, in file order.

    Rows matching ``drop_rows`` go first, then only ids of ``filter_ids`` stay, exactly as the
    reference does; on the released data this yields the published sizes (88 ROD ... 1,240 COCO).
    """
    path = require_jsonl(scenario, data_dir)
    ids = test_ids(scenario)
    entries = []
    for row in iter_jsonl(path):
        if row.entry is None:
            raise DataError(f"{path}:{row.line}: {row.error}; re-download or re-extract the file "
                            f"(`python -m proactivebench_ext check-data {path.parent}` lists every problem)")
        if "id" not in row.entry:
            raise DataError(f"{path}:{row.line}: row has no 'id' field, so the test-set filter cannot apply; "
                            "the file is not a ProactiveBench JSONL or is damaged")
        if is_test_row(row.entry, ids):
            entries.append(row.entry)
    return entries


def embedded_data_dir() -> Path:
    """The synthetic mini-benchmark shipped inside the package (demo, tests, offline default)."""
    return Path(__file__).resolve().parents[1] / "resources" / "embedded"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _test_folder(directory: Path) -> Path:
    """Accept the ``test/`` folder itself or the dataset root that contains it."""
    nested = directory / "test"
    jsonl_glob = load_benchmark().jsonl_name.format(dataset="*")
    if not any(directory.glob(jsonl_glob)) and nested.is_dir() and any(nested.glob(jsonl_glob)):
        return nested
    return directory


def resolve_data_dir(
    explicit: str | os.PathLike[str] | None = None,
    scenarios: Iterable[str] | None = None,
    download: bool = False,
) -> Path:
    """Pick the data directory: explicit > $PROACTIVEBENCH_DATA_DIR > hub download > embedded set.

    The hub is used only when asked (``download=True`` or ``PROACTIVEBENCH_DOWNLOAD=1``), and then
    only for the archives of ``scenarios`` (all seven when None).
    """
    for source, value in (("data_dir argument", explicit), (DATA_DIR_ENV, os.environ.get(DATA_DIR_ENV) or None)):
        if value is None:
            continue
        directory = Path(value).expanduser()
        if not directory.is_dir():
            raise DataNotFoundError(f"{source} points at {directory}, which is not a directory; {POINT_AT_LOCAL_COPY}")
        return _test_folder(directory)
    if download or _env_flag(DOWNLOAD_ENV):
        return download_test_data(scenarios)
    return embedded_data_dir()
