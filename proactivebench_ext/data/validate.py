"""What makes benchmark data unusable, found the same way by the loader, the lmms-eval hooks and
``check-data``.

A :class:`Fault` is one problem with the data, never with a model: a JSONL line that cannot be read
(not UTF-8, not JSON, too long), a row that cannot be played (a field missing, of the wrong type or
out of bounds: the engine's :class:`~proactivebench_ext.core.scenarios.InvalidEntryError`), a file
with no test rows, or an image that is missing, undecodable, larger than the pixel cap or outside
the data folder. Each names its file, its line, the field and the fix.

Field rules (types, bounds, templates) live in the engine, which must refuse such entries on its
own; this module adds what needs the filesystem: where an image path really leads (symlinks), what
its header says, and whether it decodes.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageFile

from ..core.engine import InvalidEntryError, new_episode
from ..core.naming import acronym_of
from ..core.scenarios import unencodable_reason
from .errors import DataError
from .layout import POINT_AT_LOCAL_COPY, JsonlRow, iter_jsonl, jsonl_path, may_be_test_row, test_ids

PIXELS_ENV = "PROACTIVEBENCH_MAX_IMAGE_PIXELS"
# 40 megapixels: 20x the largest released frame, ~120 MB once decoded to RGB. Anything bigger is
# a damaged or hostile file, refused from its header before a single pixel is decoded.
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000
CHECK_DATA = "python -m proactivebench_ext check-data"


@dataclass(frozen=True)
class Fault:
    """One problem with the data: where (file, line), what (field, reason) and the fix."""

    file: str  # the file at fault: the JSONL, or the image a turn needed
    reason: str
    fix: str
    line: int | None = None  # 1-based line of ``file`` (JSONL faults)
    field: str | None = None
    sample_id: Any = None
    row: str | None = None  # for an image: the JSONL row (``path:line``) whose turn needed it

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def one_line(self) -> str:
        row = f" (row {self.row})" if self.row else ""
        sample = f" (sample {self.sample_id!r})" if self.sample_id is not None else ""
        field = f" field {self.field!r}:" if self.field else ""
        return " ".join(f"{self.location}{row}{sample}:{field} {self.reason}; fix: {self.fix}".split())

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "row": self.row, "field": self.field, "sample_id": self.sample_id,
                "reason": self.reason, "fix": self.fix}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        return cls(file=str(data["file"]), reason=str(data["reason"]), fix=str(data["fix"]), line=data.get("line"),
                   field=data.get("field"), sample_id=data.get("sample_id"), row=data.get("row"))


# -- rows ------------------------------------------------------------------------------------------
def row_fault(row: JsonlRow) -> Fault | None:
    """The fault of a JSONL line that could not be read as an object (None when it was)."""
    if row.entry is not None:
        return None
    return Fault(str(row.path), row.error or "unreadable", f"repair line {row.line} or re-download {row.path.name}",
                 line=row.line)


def unencodable_field(value: Any, where: str = "") -> tuple[str, str] | None:
    """The first string in ``value`` (keys included, nested) that is not valid Unicode text, as
    ``(field path, reason)``; None when every string is. Such a string (a lone surrogate, which a
    JSON ``\\ud800`` escape can carry) cannot be written to a UTF-8 file, tokenised or put into
    an Arrow table, so the whole row is refused before it reaches any of them."""
    if isinstance(value, str):
        reason = unencodable_reason(value)
        return (where or "entry", reason) if reason else None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            reason = unencodable_reason(str(key))
            if reason:
                return ascii(path)[1:-1], f"the key {reason}"
            found = unencodable_field(item, path)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = unencodable_field(item, f"{where}[{index}]")
            if found:
                return found
    return None


def text_fault(row: JsonlRow) -> Fault | None:
    """The fault of a row holding a string that is not valid Unicode text (None when it has none)."""
    if row.entry is None:
        return None
    found = unencodable_field(row.entry)
    if found is None:
        return None
    field, reason = found
    sample_id = row.entry.get("id")
    return Fault(str(row.path), reason,
                 f"replace the escape (e.g. \\ud800) on line {row.line} by the intended character, or re-download "
                 f"{row.path.name}", line=row.line, field=field,
                 sample_id=sample_id if isinstance(sample_id, int) else None)


def entry_fault(scenario: str, row: JsonlRow) -> Fault | None:
    """Why the row's entry cannot be played in the default mode (None when it can)."""
    fault = row_fault(row) or text_fault(row)
    if fault is not None:
        return fault
    try:
        new_episode(scenario, row.entry).observe()  # type: ignore[arg-type]
    except InvalidEntryError as error:
        return Fault(str(row.path), f"cannot be played: {error.reason}",
                     f"correct the row's {error.field!r} field (see the released JSONL for its format) or remove the row",
                     line=row.line, field=error.field, sample_id=error.sample_id)
    return None


@dataclass(frozen=True)
class TestRow:
    """One test-set row of a scenario: its entry (None if unreadable) and its fault, if any."""

    path: Path
    line: int | None
    entry: dict[str, Any] | None
    fault: Fault | None

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}" if self.line is not None else str(self.path)


def scan_test_set(scenario: str, data_dir: str | os.PathLike[str]) -> list[TestRow]:
    """Every row of the scenario's test set, healthy or not, in file order.

    Lines that cannot be read (their id unknown) are kept as faults: they may be test rows. A
    missing or empty file, or one without any test row, is one fault naming the file.
    """
    acronym = acronym_of(scenario)
    path = jsonl_path(acronym, data_dir)
    if not Path(data_dir).is_dir():
        return [TestRow(path, None, None, Fault(str(data_dir), "the data directory does not exist", POINT_AT_LOCAL_COPY))]
    unreadable = folder_access_reason(data_dir)
    if unreadable is not None:
        return [TestRow(path, None, None, Fault(str(data_dir), f"the data folder {unreadable}", folder_fix(data_dir)))]
    if not path.is_file():
        return [TestRow(path, None, None, Fault(str(path), f"missing: no {path.name} for {acronym}",
                                                 f"copy {path.name} from the dataset's test/ folder; {POINT_AT_LOCAL_COPY}"))]
    ids, rows = test_ids(acronym), []
    try:
        for row in iter_jsonl(path):
            if not may_be_test_row(row, ids):
                continue
            if row.entry is not None and "id" not in row.entry:
                rows.append(TestRow(path, row.line, None, Fault(
                    str(path), "row has no 'id' field, so the test-set filter cannot apply",
                    f"add the sample id to line {row.line} or re-download {path.name}", line=row.line, field="id")))
                continue
            # A row whose text is not valid Unicode is kept without its entry: nothing downstream
            # (docs, Arrow tables, sample logs) may carry the unencodable string.
            text = text_fault(row)
            rows.append(TestRow(path, row.line, None, text) if text else
                        TestRow(path, row.line, row.entry, entry_fault(acronym, row)))
    except OSError as error:
        rows.append(TestRow(path, None, None, Fault(str(path), f"cannot be read ({error})", f"re-download {path.name}")))
    if not rows:
        rows.append(TestRow(path, None, None, Fault(str(path), f"no row belongs to the {acronym} test set (ids of filter_ids)",
                                                     f"this is not the released {path.name} (empty or another split): "
                                                     "re-download it")))
    return rows


# -- folders ---------------------------------------------------------------------------------------
def folder_access_reason(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` cannot be read (None when it can): listing it needs read permission, reaching
    a file inside it needs search (x) permission; either missing makes every file in it look
    unreadable or missing, so the folder is named instead of its files."""
    try:
        with os.scandir(folder) as entries:
            first = next(entries, None)
        if first is not None:
            os.stat(first.path)
    except PermissionError as error:
        return f"cannot be read: permission denied ({error.strerror or error}); the user running this needs r and x on it"
    except OSError as error:
        return f"cannot be read ({type(error).__name__}: {error.strerror or error})"
    return None


def folder_fix(folder: str | os.PathLike[str]) -> str:
    return f"give the user running this read access: `chmod -R u+rX {folder}` (or run as its owner)"


def blocking_folder(path: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> tuple[Path, str] | None:
    """The first folder from ``data_dir`` down to ``path``'s parent that cannot be read, with why."""
    root, target = Path(data_dir), Path(path)
    try:
        parts = target.parent.relative_to(root).parts
    except ValueError:
        return None
    folder = root
    for part in ("", *parts):
        folder = folder / part if part else folder
        reason = folder_access_reason(folder)
        if reason is not None:
            return folder, reason
    return None


# -- images ----------------------------------------------------------------------------------------
def max_image_pixels() -> int:
    """The pixel cap: ``$PROACTIVEBENCH_MAX_IMAGE_PIXELS`` or 40 million."""
    value = os.environ.get(PIXELS_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        pixels = int(value)
    except ValueError:
        raise DataError(f"{PIXELS_ENV}={value!r} is not an integer number of pixels") from None
    if pixels < 1:
        raise DataError(f"{PIXELS_ENV}={value!r} must be positive")
    return pixels


def outside_reason(path: str | os.PathLike[str], data_dir: str | os.PathLike[str]) -> str | None:
    """Why ``path`` (symlinks resolved) is not inside ``data_dir`` (None when it is)."""
    root = Path(data_dir).resolve()
    try:
        target = Path(path).resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        return f"cannot be resolved ({error})"
    if target != root and root not in target.parents:
        return f"leads outside the data folder {root} (to {target})"
    return None


def image_fault_reason(path: str | os.PathLike[str], *, data_dir: str | os.PathLike[str] | None = None,
                       decode: bool = True) -> str | None:
    """Why the image at ``path`` cannot be shown (None when it can): outside ``data_dir``, missing,
    not an image, over the pixel cap, or (with ``decode``) truncated or corrupt."""
    if data_dir is not None:
        outside = outside_reason(path, data_dir)
        if outside is not None:
            return outside
    try:
        exists = Path(path).is_file()
    except OSError as error:  # Path.is_file raises for a folder on the way that cannot be searched
        blocked = blocking_folder(path, data_dir) if data_dir is not None else None
        if blocked is not None:
            return f"cannot be reached: the folder {blocked[0]} {blocked[1]}"
        return f"cannot be read ({error.strerror or error})"
    if not exists:
        return "is missing"
    try:
        with Image.open(path) as image:
            too_large = over_pixel_cap(image)
            if too_large:
                return too_large
            if decode:
                with strict_decoding():
                    image.load()  # a truncated file fails only when its pixels are read
    except Image.DecompressionBombError as error:  # PIL's own, higher cap, checked when the header is read
        return f"is over the pixel cap ({error})"
    except PermissionError as error:
        return f"cannot be read: permission denied ({error.strerror or error})"
    except Exception as error:  # noqa: BLE001 - any decoder error on untrusted bytes is a damaged file
        return f"cannot be decoded ({type(error).__name__}: {error})"
    return None


_strict_lock = threading.Lock()
_strict_users = 0
_saved_truncated_flag = False


@contextlib.contextmanager
def strict_decoding() -> Iterator[None]:
    """Decode with truncated files refused, whatever the process-wide setting.

    lmms-eval sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` when it is imported, so a cut
    file would silently show a half-grey picture. PIL reads that module flag during ``load()``;
    it is switched off while any of our loads runs (counted, so concurrent loads share one switch)
    and put back afterwards.
    """
    global _strict_users, _saved_truncated_flag
    with _strict_lock:
        if _strict_users == 0:
            _saved_truncated_flag = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        _strict_users += 1
    try:
        yield
    finally:
        with _strict_lock:
            _strict_users -= 1
            if _strict_users == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _saved_truncated_flag


def over_pixel_cap(image: Image.Image) -> str | None:
    """Why an opened (not yet decoded) image is too large to decode, or None: its header gives the size."""
    width, height = image.size
    cap = max_image_pixels()
    if width * height > cap:
        return f"is {width}x{height} = {width * height:,} pixels, over the cap of {cap:,} ({PIXELS_ENV})"
    return None


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """The decoded RGB image at ``path``, its size checked against the cap before decoding.

    Raises :class:`DataError` (with the reason only; callers add where it was needed).
    """
    try:
        with Image.open(path) as opened:
            too_large = over_pixel_cap(opened)
            if too_large:
                raise DataError(too_large)
            with strict_decoding():
                opened.load()
            return opened.convert("RGB")
    except DataError:
        raise
    except Image.DecompressionBombError as error:
        raise DataError(f"is over the pixel cap ({error})") from None
    except FileNotFoundError:
        raise DataError("is missing") from None
    except Exception as error:  # noqa: BLE001 - see image_fault_reason
        raise DataError(f"cannot be decoded ({type(error).__name__}: {error})") from None


def image_fix(reason: str, relative: str, data_dir: str | os.PathLike[str], dataset: str) -> str:
    """How to repair an image problem of ``dataset``, from its reason.

    Archive names are not fixed by the release (the hub lists them, see :mod:`.hub`), so the fix
    names the archives actually lying in the data folder, those named after the dataset first.
    """
    archives = sorted(Path(data_dir).glob("*.zip"), key=lambda a: (dataset.lower() not in a.name.lower(), a.name))
    archive_text = archives[0].name if archives else f"the {dataset} archive"
    if reason == "is missing":
        if archives and not (Path(data_dir) / relative.replace("\\", "/").split("/")[0]).is_dir():
            return f"unzip {archives[0]} in place (`cd {data_dir} && unzip {archives[0].name}`)"
        return f"extract {archive_text} into {data_dir} so that {relative} exists, or re-download the dataset"
    if "permission denied" in reason:
        return folder_fix(data_dir)
    if "outside the data folder" in reason or "resolved" in reason:
        return f"replace the link {relative} by the file itself (images must live inside {data_dir})"
    if "pixels" in reason:
        return f"replace {relative} by the released image, or raise {PIXELS_ENV} if it is really that large"
    return f"the file is damaged: re-extract {archive_text} or re-download it"
