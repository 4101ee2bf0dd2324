"""Where the benchmark's data lives and which rows of it form the test set.

One loader serves the released data (the ``test/`` folder of the Hugging Face dataset repo) and the
synthetic sets of :mod:`proactivebench_ext.data.synth`, because both share one layout: a
``<Dataset>_preprocessed.jsonl`` per dataset next to the extracted image folders, each row holding
image path templates relative to that folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


MAX_LINE_BYTES = 4 * 1024 * 1024  # a released row is a few KB; a longer line is damage, not data
_ID_PREFIX = re.compile(rb'^\s*\{\s*"id"\s*:\s*(-?\d{1,18})\s*[,}]')


@dataclass(frozen=True)
class JsonlRow:
    """One line of a dataset JSONL: the parsed entry, or why it could not be parsed."""

    path: Path
    line: int  # 1-based, as editors show it
    entry: dict[str, Any] | None
    error: str | None = None
    salvaged: dict[str, Any] | None = None  # a damaged line's object as far as it could be read (its id)


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
    try:
        return not is_dropped(entry) and entry.get("id") in ids
    except TypeError:  # an id of an unhashable JSON type (a list or object) is no test id
        return False


def iter_jsonl(path: Path) -> Iterator[JsonlRow]:
    """Rows of a JSONL file one at a time, keeping bad lines as rows with an ``error``.

    Blank lines are skipped. Reading lazily, one bounded line at a time, keeps memory flat on the
    larger datasets and on a damaged file (a line over ``MAX_LINE_BYTES`` is an error, not a read
    of the whole file). A damaged line keeps what can still be read of it in ``salvaged`` (at least
    its id where the line starts like a row), so the test-set filter can tell whether it mattered.
    """
    with open(path, "rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line in bounded reads
                    raw = handle.readline(MAX_LINE_BYTES)
                yield JsonlRow(path, number, None, f"line longer than {MAX_LINE_BYTES:,} bytes")
                continue
            if not raw.strip():
                continue
            yield _parse_line(path, number, raw)


def _parse_line(path: Path, number: int, raw: bytes) -> JsonlRow:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        salvaged = _loads(raw.decode("utf-8", errors="replace"))[0]
        return JsonlRow(path, number, None, f"not UTF-8 (byte 0x{raw[error.start]:02x} at byte {error.start + 1})",
                        salvaged if isinstance(salvaged, dict) else _salvage_id(raw))
    entry, error = _loads(text)
    if error is not None:
        return JsonlRow(path, number, None, error, _salvage_id(raw))
    if not isinstance(entry, dict):
        return JsonlRow(path, number, None, f"expected a JSON object, got {type(entry).__name__}")
    return JsonlRow(path, number, entry)


def _loads(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg} at column {error.colno})"
    except (ValueError, RecursionError) as error:  # e.g. an integer of thousands of digits, deep nesting
        return None, f"not valid JSON ({type(error).__name__}: {str(error)[:200]})"


def _salvage_id(raw: bytes) -> dict[str, Any] | None:
    match = _ID_PREFIX.match(raw)
    return {"id": int(match.group(1))} if match else None


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
        if not may_be_test_row(row, ids):
            continue
        if row.entry is None:
            raise DataError(f"{path}:{row.line}: {row.error}; re-download or re-extract the file "
                            f"(`python -m proactivebench_ext check-data {path.parent}` lists every problem)")
        if "id" not in row.entry:
            raise DataError(f"{path}:{row.line}: row has no 'id' field, so the test-set filter cannot apply; "
                            "the file is not a ProactiveBench JSONL or is damaged")
        entries.append(row.entry)
    return entries


def may_be_test_row(row: JsonlRow, ids: frozenset[int]) -> bool:
    """Whether a row is (or, damaged beyond knowing its id, may be) a test-set row."""
    known = row.entry if row.entry is not None else row.salvaged
    if known is None or "id" not in known:
        return True
    return is_test_row(known, ids)


def embedded_data_dir() -> Path:
    """The synthetic mini-benchmark shipped inside the package (demo, tests, offline default)."""
    return Path(__file__).resolve().parents[1] / "resources" / "embedded"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def holds_jsonl(directory: Path) -> bool:
    """Whether ``directory`` directly holds at least one ``<Dataset>_preprocessed.jsonl``."""
    try:
        return any(directory.glob(load_benchmark().jsonl_name.format(dataset="*")))
    except OSError:
        return False


def data_folder(path: str | os.PathLike[str], source: str = "the data folder") -> Path:
    """The one data-folder rule of the loader, ``check-data``, ``view`` and ``rl-data``.

    A data folder is the directory that holds the ``*_preprocessed.jsonl`` files next to the image
    folders (the released ``test/`` or ``train/`` folder, a ``synth`` set). Pointing at a folder
    above it (the dataset root that holds ``test/``) or inside it (an image folder) is refused with
    the path to use, because a guess could pick the wrong split. A directory holding no JSONL at all
    and with no such neighbour is accepted: each missing dataset is then reported by file name.
    """
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise DataNotFoundError(f"{source} points at {directory}, which is not a directory; {POINT_AT_LOCAL_COPY}")
    if holds_jsonl(directory):
        return directory
    try:
        below = sorted(child for child in directory.iterdir() if child.is_dir() and holds_jsonl(child))
    except OSError:
        below = []
    if below:
        names = " or ".join(str(child) for child in below[:3])
        raise DataNotFoundError(f"{source} {directory} holds no *_preprocessed.jsonl file but a folder inside it "
                                f"does: use {names}")
    for parent in list(directory.resolve().parents)[:3]:
        if holds_jsonl(parent):
            raise DataNotFoundError(f"{source} {directory} is inside the data folder {parent} (which holds the "
                                    f"*_preprocessed.jsonl files): use {parent}")
    return directory


def resolve_data_dir(
    explicit: str | os.PathLike[str] | None = None,
    scenarios: Iterable[str] | None = None,
    download: bool = False,
) -> Path:
    """Pick the data directory: explicit > $PROACTIVEBENCH_DATA_DIR > hub download > embedded set.

    A given directory must follow :func:`data_folder`'s rule.

    The hub is used only when asked (``download=True`` or ``PROACTIVEBENCH_DOWNLOAD=1``), and then
    only for the archives of ``scenarios`` (all seven when None).
    """
    for source, value in (("data_dir argument", explicit), (DATA_DIR_ENV, os.environ.get(DATA_DIR_ENV) or None)):
        if value is None:
            continue
        return data_folder(value, source=source)
    if download or _env_flag(DOWNLOAD_ENV):
        return download_test_data(scenarios)
    return embedded_data_dir()
