"""Downloading the released test data from the Hugging Face hub, once, and extracting it safely.

What is fetched: the ``test/`` folder of ``tdemin16/ProactiveBench`` is listed through
``huggingface_hub`` (nobody here has seen the released file names, so none is guessed); per
requested dataset, its JSONL and the zip archives holding the top folders its image paths need.
An archive named after such a folder (``QuickDraw.zip``, ``QuickDraw_part2.zip``) is taken on its
name; when the names say nothing, every archive of ``test/`` is fetched and each one's table of
contents decides. ``hf_hub_download`` keeps the files in the HF cache (resumable; a later run
re-downloads nothing, and offline it lists the cached snapshot instead of the hub).

Extraction goes into a temporary folder beside the target, is moved into place, and a completion
marker is written last, so an interrupted run leaves nothing that looks finished. Before anything
is written the archive's table of contents is checked: safe relative paths, no name clashes, no
encryption, a supported compression method, and limits on total size, compression ratio and
member count (:class:`ArchiveLimits`), so a small archive cannot fill the disk. CRCs are checked
while extracting and sizes after it. A file lock per dataset (``filelock``) makes concurrent ranks
and runs download and extract once while the others wait; stale temporary folders are removed
only while holding it. The hub client's own settings apply: ``HF_ENDPOINT`` (mirrors),
``HF_HUB_CACHE``/``HF_HOME``, ``HF_HUB_OFFLINE`` (use what is cached) and ``HF_TOKEN``.
"""

from __future__ import annotations

import json
import lzma
import math
import os
import re
import shutil
import sys
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..core.constants import load_benchmark
from ..core.naming import dataset_name
from .errors import DataError

REPO_ID = "tdemin16/ProactiveBench"
REPO_TYPE = "dataset"
TEST_FOLDER = "test"
ARCHIVE_SUFFIX = ".zip"
MARKER_NAME = ".{dataset}.complete"
LISTING_NAME = ".hub-listing.json"  # the test/ folder's file names at this commit
LOCAL_SNAPSHOT = "local"
TEMP_PREFIX = ".partial-{dataset}-"
LOCK_FOLDER = ".locks"  # inside the extract root: one lock file per dataset
EXTRACT_FOLDER = "proactivebench_ext"  # beside the hub cache: <HF_HOME>/proactivebench_ext/<commit>/test
IGNORED_MEMBERS = ("__MACOSX/",)

MAX_BYTES_ENV = "PROACTIVEBENCH_ARCHIVE_MAX_BYTES"
MAX_RATIO_ENV = "PROACTIVEBENCH_ARCHIVE_MAX_RATIO"
MAX_MEMBERS_ENV = "PROACTIVEBENCH_ARCHIVE_MAX_MEMBERS"
GiB = 1 << 30
RATIO_FLOOR = 64 << 20  # an archive may expand to this much whatever its compression ratio
SUPPORTED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                     zipfile.ZIP_LZMA: "lzma"}

MANUAL_DOWNLOAD = (
    f"on a machine with internet access run `hf download {REPO_ID} --repo-type dataset --include '{TEST_FOLDER}/*' "
    f"--local-dir DIR`, unzip every DIR/{TEST_FOLDER}/*.zip in place, and point PROACTIVEBENCH_DATA_DIR "
    f"(or the data_dir argument) at DIR/{TEST_FOLDER}"
)


class ArchiveError(DataError):
    """An archive cannot be extracted: unsafe, over a limit, encrypted, or damaged. Names the archive."""

    def __init__(self, message: str, archive: Path | None = None) -> None:
        super().__init__(message)
        self.archive = archive


class ArchiveDamaged(ArchiveError):
    """The archive's bytes are wrong (bad CRC, truncated, not a zip): downloading it again may help."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive may cost when extracted; each limit has an environment variable to raise it."""

    max_bytes: int = 64 * GiB  # total extracted size
    max_ratio: float = 100.0  # extracted size / compressed size, checked above RATIO_FLOOR (images: about 1)
    max_members: int = 1_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ArchiveLimits:
        env = os.environ if env is None else env
        values = {}
        for field_name, name, kind in (("max_bytes", MAX_BYTES_ENV, int), ("max_ratio", MAX_RATIO_ENV, float),
                                       ("max_members", MAX_MEMBERS_ENV, int)):
            raw = env.get(name, "").strip()
            if not raw:
                continue
            try:
                number = float(raw)
                value = kind(number) if math.isfinite(number) else 0
            except ValueError:
                value = 0
            if value <= 0:
                raise DataError(f"{name}={raw!r} is not a positive number; unset it or give e.g. "
                                f"{name}={getattr(cls, field_name):g}")
            values[field_name] = value
        return cls(**values)


@dataclass(frozen=True)
class CachedFiles:
    """One dataset's files as ``hf_hub_download`` left them in the HF cache, and the image folders
    its JSONL needs (the archives' top folders to extract)."""

    dataset: str
    jsonl: Path
    archives: tuple[Path, ...]
    folders: frozenset[str]


@dataclass(frozen=True)
class ArchivePlan:
    """What to extract from one archive: members under ``folders``, or (``into``) all of a flat
    archive named after one folder, placed inside that folder."""

    archive: Path
    folders: frozenset[str]
    into: str | None = None


def default_extract_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where archives are extracted: a sibling of the hub cache, so the HF cache stays pristine."""
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE).expanduser().resolve().parent / EXTRACT_FOLDER


# -- what the hub holds ---------------------------------------------------------------------------
def _fetch(filename: str, *, cache_dir, revision, endpoint, force: bool = False) -> Path:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(REPO_ID, filename, repo_type=REPO_TYPE, revision=revision,
                                    cache_dir=cache_dir, endpoint=endpoint, force_download=force))
    except Exception as error:  # network, auth, missing file, offline mode: all end the same way
        raise DataError(
            f"could not download {filename} of the Hugging Face dataset {REPO_ID} "
            f"({type(error).__name__}: {error}); {MANUAL_DOWNLOAD}"
        ) from error


@dataclass(frozen=True)
class TestFolder:
    """File names of the hub's ``test/`` folder, or of its cached snapshot when the hub could not be
    listed (``unlisted`` then says why)."""

    names: tuple[str, ...]
    unlisted: str | None = None

    @property
    def archives(self) -> list[str]:
        return [name for name in self.names if name.lower().endswith(ARCHIVE_SUFFIX)]

    def missing(self, what: str) -> str:
        """Why ``what`` (a file, or a description of one) cannot be fetched."""
        if self.unlisted:
            return (f"{what} is not in the HF cache and the hub could not be listed ({self.unlisted}); "
                    f"{MANUAL_DOWNLOAD}")
        return (f"{what} is not in the Hugging Face dataset {REPO_ID} ({TEST_FOLDER}/ holds "
                f"{', '.join(self.names) or 'nothing'}); {MANUAL_DOWNLOAD}")


def list_test_folder(commit: str, jsonl: Path, *, saved: Path, endpoint=None) -> TestFolder:
    """The hub's ``test/`` folder at ``commit`` (the snapshot ``jsonl`` was fetched from).

    A commit's listing never changes, so it is kept in ``saved`` and asked once; offline (or when
    the hub cannot be listed) the cached snapshot's folder, which holds what earlier runs fetched,
    stands in for it.
    """
    from huggingface_hub import HfApi, RepoFile

    try:
        return TestFolder(tuple(json.loads(saved.read_text(encoding="utf-8"))["names"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    revision = None if commit == LOCAL_SNAPSHOT else commit
    try:
        entries = HfApi(endpoint=endpoint).list_repo_tree(REPO_ID, TEST_FOLDER, repo_type=REPO_TYPE, revision=revision)
        names = tuple(sorted(PurePosixPath(entry.path).name for entry in entries if isinstance(entry, RepoFile)))
    except Exception as error:  # offline mode, no network, hub error: the cached snapshot may still do
        return TestFolder(tuple(sorted(path.name for path in jsonl.parent.iterdir())), f"{type(error).__name__}: {error}")
    saved.parent.mkdir(parents=True, exist_ok=True)
    tmp = saved.with_name(f"{saved.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"repo": REPO_ID, "commit": commit, "names": list(names)}), encoding="utf-8")
    os.replace(tmp, saved)
    return TestFolder(names)


def needed_folders(jsonl: Path, dataset: str) -> frozenset[str]:
    """Top folders of the JSONL's image paths (``QuickDraw/star/...`` -> ``QuickDraw``).

    Falls back to the dataset's name, the released layout's convention, when no row names one.
    """
    folders = set()
    with open(jsonl, encoding="utf-8") as handle:
        for line in handle:
            try:
                template = json.loads(line).get("image_template") if line.strip() else None
            except (ValueError, AttributeError):
                continue  # check-data reports bad rows; they need no folder
            if isinstance(template, str) and PurePosixPath(template).parts:
                folders.add(PurePosixPath(template).parts[0])
    return frozenset(folders or {dataset})


def _normalized(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def archives_named_for(folders: Iterable[str], names: Iterable[str]) -> dict[str, str]:
    """Archive name -> the folder it is named after (its normalized stem starts with the folder's)."""
    archives = [name for name in names if name.lower().endswith(ARCHIVE_SUFFIX)]
    named = {}
    for name in archives:
        stem = _normalized(name[: -len(ARCHIVE_SUFFIX)])
        matches = [folder for folder in folders if _normalized(folder) and stem.startswith(_normalized(folder))]
        if matches:
            named[name] = max(matches, key=lambda folder: len(_normalized(folder)))  # the most specific
    return named


def choose_archives(folders: frozenset[str], archives: Iterable[str]) -> list[str]:
    """The archives to fetch: those named after the needed folders when every folder has one,
    else all of them (their tables of contents then decide)."""
    archives = sorted(name for name in archives if name.lower().endswith(ARCHIVE_SUFFIX))
    named = archives_named_for(folders, archives)
    return sorted(named) if set(named.values()) == set(folders) else archives


# -- reading and checking an archive ------------------------------------------------------------------
def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        raise ArchiveDamaged(f"{archive} is damaged or not a zip archive ({error})", archive) from error


def _members(bundle: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in bundle.infolist() if not info.filename.startswith(IGNORED_MEMBERS)]


def _member_parts(name: str, archive: Path) -> tuple[str, ...]:
    path = PurePosixPath(name.replace("\\", "/"))
    parts = tuple(part for part in path.parts if part not in ("", "."))
    if not parts or path.is_absolute() or ".." in parts or ":" in parts[0]:
        raise ArchiveError(f"{archive} holds an unsafe path {name!r}; refusing to extract it. Delete the file "
                           "and download it again", archive)
    return parts


def top_folders(archive: Path) -> frozenset[str]:
    """First path components of the archive's members (a file at the top counts as its own name)."""
    with _open_zip(archive) as bundle:
        return frozenset(_member_parts(info.filename, archive)[0] for info in _members(bundle))


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_members(archive: Path, members: list[zipfile.ZipInfo], limits: ArchiveLimits) -> int:
    """Refuse, before writing anything, what would be unsafe or too costly; returns the bytes to write.

    Declared sizes bound the output: zipfile stops reading a member at its declared size (and
    a member whose data says otherwise fails its CRC), so the checks hold for lying headers too.
    """
    if len(members) > limits.max_members:
        raise ArchiveError(f"{archive} holds {len(members):,} members, over the limit of {limits.max_members:,} "
                           f"({MAX_MEMBERS_ENV}); raise it if the archive is trusted", archive)
    total = sum(info.file_size for info in members)
    if total > limits.max_bytes:
        raise ArchiveError(f"{archive} would expand to {_human(total)}, over the limit of {_human(limits.max_bytes)} "
                           f"({MAX_BYTES_ENV}); raise it if the archive is trusted", archive)
    compressed = sum(info.compress_size for info in members)
    if total > RATIO_FLOOR and total > limits.max_ratio * max(compressed, 1):
        raise ArchiveError(f"{archive} would expand {compressed:,} compressed bytes to {_human(total)} "
                           f"(ratio {total / max(compressed, 1):,.0f}), over the ratio limit of {limits.max_ratio:g} "
                           f"({MAX_RATIO_ENV}): a zip bomb or a damaged archive", archive)
    files: dict[tuple[str, ...], str] = {}
    folders: set[tuple[str, ...]] = set()
    for info in members:
        parts = _member_parts(info.filename, archive)
        if info.flag_bits & 0x1:
            raise ArchiveError(f"{archive}: {info.filename} is encrypted; the released archives are not, so this "
                               f"file is not one of them: {MANUAL_DOWNLOAD}", archive)
        if info.compress_type not in SUPPORTED_METHODS:
            raise ArchiveError(f"{archive}: {info.filename} uses compression method {info.compress_type}, which "
                               f"Python's zipfile cannot read (it reads {', '.join(SUPPORTED_METHODS.values())}); "
                               f"extract it with another tool: {MANUAL_DOWNLOAD}", archive)
        folders.update(parts[:end] for end in range(1, len(parts)))
        if info.is_dir():
            folders.add(parts)
        elif parts in files:
            raise ArchiveError(f"{archive} holds {'/'.join(parts)} twice ({files[parts]!r} and {info.filename!r}); "
                               "refusing to pick one", archive)
        else:
            files[parts] = info.filename
    clash = next((parts for parts in files if parts in folders), None)
    if clash is not None:
        raise ArchiveError(f"{archive} holds {'/'.join(clash)} both as a file and as a folder; refusing to extract it",
                           archive)
    return total


def _chunks(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path) -> Iterator[bytes]:
    """The member's bytes; any failure to read them means the archive is damaged."""
    try:
        with bundle.open(info) as source:
            while chunk := source.read(1 << 20):
                yield chunk
    except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError, RuntimeError, NotImplementedError) as error:
        raise ArchiveDamaged(f"{archive} is damaged ({info.filename}: {type(error).__name__}: {error})", archive) from error


def _extract_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    """Extract one member; reading it to the end makes zipfile check its CRC. Returns bytes written.

    Files are created exclusively, so a name another archive already wrote is a clash, never an
    overwrite. Write errors (disk full) stay OSErrors: they are not the archive's fault.
    """
    archive = Path(bundle.filename or "archive")
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        sink = open(target, "xb")
    except FileExistsError:
        raise ArchiveError(f"{archive}: {info.filename} was already extracted from another archive of this dataset; "
                           "refusing to overwrite it", archive) from None
    written = 0
    with sink:
        for chunk in _chunks(bundle, info, archive):
            written += len(chunk)
            if written > info.file_size:  # zipfile stops at the declared size; kept as the bound's proof
                raise ArchiveDamaged(f"{archive}: {info.filename} holds more than its declared {info.file_size} bytes",
                                     archive)
            sink.write(chunk)
    if written != info.file_size:
        raise ArchiveDamaged(f"{target} has {written} bytes after extraction, the archive says {info.file_size}", archive)
    return written


def _check_free_space(dest: Path, needed: int, archive: Path) -> None:
    probe = dest if dest.exists() else dest.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise DataError(f"extracting {archive} needs {_human(needed)} but {probe} has {_human(free)} free; free some "
                        "space or move HF_HOME (or extract_root) to a larger disk")


def extract_archive(archive: Path, dest: Path, *, folders: Iterable[str] | None = None, progress: bool = True,
                    limits: ArchiveLimits | None = None) -> int:
    """Extract ``archive`` (only members under ``folders`` when given) into ``dest``, verifying every
    member; returns the bytes written. Every failure is an :class:`ArchiveError` naming the archive."""
    from huggingface_hub.utils import tqdm

    limits = limits or ArchiveLimits.from_env()
    keep = None if folders is None else frozenset(folders)
    with _open_zip(archive) as bundle:
        members = [info for info in _members(bundle)
                   if keep is None or _member_parts(info.filename, archive)[0] in keep]
        total = check_members(archive, members, limits)
        dest.mkdir(parents=True, exist_ok=True)
        _check_free_space(dest, total, archive)
        done = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"extracting {archive.name}", disable=not progress,
                  file=sys.stderr) as bar:
            for info in members:
                written = _extract_member(bundle, info, dest.joinpath(*_member_parts(info.filename, archive)))
                done += written
                bar.update(written)
    return done


def plan_archives(archives: Iterable[Path], folders: frozenset[str]) -> list[ArchivePlan]:
    """Which archive gives which needed folder, from their tables of contents; raises when a folder
    is in none of them."""
    archives = sorted(archives)
    named = archives_named_for(folders, [archive.name for archive in archives])
    plans, covered = [], set()
    for archive in archives:
        tops = top_folders(archive)
        if tops & folders:
            plans.append(ArchivePlan(archive, tops & folders))
            covered |= tops & folders
        elif archive.name in named:  # a flat archive named after its folder
            plans.append(ArchivePlan(archive, frozenset({named[archive.name]}), into=named[archive.name]))
            covered.add(named[archive.name])
    missing = sorted(folders - covered)
    if missing:
        listed = ", ".join(archive.name for archive in archives) or "none"
        raise DataError(f"the images need the folder(s) {', '.join(missing)}, which no archive of {TEST_FOLDER}/ "
                        f"holds (archives: {listed}); {MANUAL_DOWNLOAD}")
    return plans


# -- installing one dataset -----------------------------------------------------------------------
def _snapshot_name(path: Path) -> str:
    """The commit a cached file belongs to (``.../snapshots/<commit>/test/<file>``)."""
    parts = path.parts
    if len(parts) >= 4 and parts[-4] == "snapshots":
        return parts[-3]
    return LOCAL_SNAPSHOT


def _pinned(jsonl: Path, revision: str | None) -> str | None:
    """The revision to fetch archives at: the commit the JSONL came from, so that all files match."""
    commit = _snapshot_name(jsonl)
    return revision if commit == LOCAL_SNAPSHOT else commit


def _file_identity(path: Path) -> dict[str, object]:
    """Identifies a cached file: its blob name (the hub's etag) and size."""
    return {"blob": Path(os.path.realpath(path)).name, "size": path.stat().st_size}


def _identity(files: CachedFiles) -> dict[str, object]:
    return {"jsonl": _file_identity(files.jsonl), "folders": sorted(files.folders),
            "archives": {archive.name: _file_identity(archive) for archive in files.archives}}


def _is_installed(root: Path, files: CachedFiles, identity: dict) -> bool:
    marker = root / MARKER_NAME.format(dataset=files.dataset)
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (recorded == identity and all((root / folder).is_dir() for folder in files.folders)
            and (root / files.jsonl.name).is_file())


def _remove(path: Path) -> None:
    """Remove a file, link or folder tree without following links out of it."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _clear_partials(root: Path, dataset: str) -> None:
    """Remove what an interrupted run left: only called with the dataset's lock held, so no live
    process owns these."""
    for stale in root.glob(TEMP_PREFIX.format(dataset=dataset) + "*"):
        try:
            _remove(stale)
        except OSError as error:
            raise DataError(f"cannot remove {stale}, left by an interrupted extraction ({error}); delete it by hand "
                            "and run again") from error


def install_dataset(root: Path, files: CachedFiles, *, progress: bool = True,
                    limits: ArchiveLimits | None = None) -> bool:
    """Make ``root`` hold the dataset's JSONL and image folders; returns False when already there.

    Call it with the dataset's lock held (:func:`download_test_data` does).
    """
    identity = _identity(files)
    if _is_installed(root, files, identity):
        return False
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER_NAME.format(dataset=files.dataset)
    marker.unlink(missing_ok=True)
    _clear_partials(root, files.dataset)
    partial = root / (TEMP_PREFIX.format(dataset=files.dataset) + str(os.getpid()))
    partial.mkdir()
    for plan in plan_archives(files.archives, files.folders):
        if plan.into is None:
            extract_archive(plan.archive, partial, folders=plan.folders, progress=progress, limits=limits)
        else:
            extract_archive(plan.archive, partial / plan.into, progress=progress, limits=limits)
    for folder in sorted(files.folders):
        if not (partial / folder).is_dir():
            raise ArchiveError(f"{', '.join(a.name for a in files.archives)} hold {folder} as a file, not as the "
                               "image folder the JSONL needs", files.archives[0] if files.archives else None)
        final = root / folder
        if final.exists() or final.is_symlink():
            _remove(final)
        os.replace(partial / folder, final)
    shutil.rmtree(partial)
    jsonl_tmp = root / (TEMP_PREFIX.format(dataset=files.dataset) + f"{os.getpid()}.jsonl")
    shutil.copyfile(files.jsonl, jsonl_tmp)
    os.replace(jsonl_tmp, root / files.jsonl.name)
    marker_tmp = root / (TEMP_PREFIX.format(dataset=files.dataset) + f"{os.getpid()}.marker")
    marker_tmp.write_text(json.dumps(identity, sort_keys=True), encoding="utf-8")
    os.replace(marker_tmp, marker)  # last: only now does the dataset count as installed
    return True


@contextmanager
def dataset_lock(root_base: Path, dataset: str, *, progress: bool = True) -> Iterator[None]:
    """Hold the dataset's install lock; says so when another process holds it and we wait."""
    from filelock import FileLock, Timeout

    folder = root_base / LOCK_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{dataset}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if progress:
            print(f"waiting for another process installing {dataset} (lock {lock.lock_file})", file=sys.stderr)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _fetch_dataset(dataset: str, root_base: Path, *, cache_dir, revision, endpoint) -> tuple[Path, CachedFiles]:
    """Fetch the dataset's JSONL, list the snapshot it came from, fetch the archives it needs from
    that same snapshot; returns the data folder of that snapshot and the cached files."""
    jsonl_name = load_benchmark().jsonl_name.format(dataset=dataset)
    jsonl = _fetch(f"{TEST_FOLDER}/{jsonl_name}", cache_dir=cache_dir, revision=revision, endpoint=endpoint)
    commit = _snapshot_name(jsonl)
    root = root_base / commit / TEST_FOLDER
    listing = list_test_folder(commit, jsonl, saved=root / LISTING_NAME, endpoint=endpoint)
    folders = needed_folders(jsonl, dataset)
    chosen = choose_archives(folders, listing.archives)
    if not chosen:
        raise DataError(listing.missing(f"a {ARCHIVE_SUFFIX} archive of {TEST_FOLDER}/ (needed for {', '.join(sorted(folders))})"))
    archives = tuple(_fetch(f"{TEST_FOLDER}/{name}", cache_dir=cache_dir, revision=_pinned(jsonl, revision),
                            endpoint=endpoint) for name in chosen)
    return root, CachedFiles(dataset, jsonl, archives, folders)


def download_test_data(
    scenarios: Iterable[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    extract_root: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    progress: bool = True,
    limits: ArchiveLimits | None = None,
) -> Path:
    """Fetch and extract the test data of ``scenarios`` (default: all seven); returns the data dir.

    A damaged archive is downloaded again once before giving up.
    """
    datasets = sorted({dataset_name(name) for name in scenarios}) if scenarios else list(load_benchmark().datasets)
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None  # read now, not at hub-client import
    limits = limits or ArchiveLimits.from_env()
    root_base = Path(extract_root) if extract_root is not None else default_extract_root(cache_dir)
    fetch = dict(cache_dir=cache_dir, revision=revision, endpoint=endpoint)
    data_dir: Path | None = None
    for dataset in datasets:
        with dataset_lock(root_base, dataset, progress=progress):
            root, files = _fetch_dataset(dataset, root_base, **fetch)
            if data_dir is not None and root != data_dir:
                raise DataError(f"the hub's files changed while downloading ({root} vs {data_dir}); run again")
            data_dir = root
            try:
                install_dataset(root, files, progress=progress, limits=limits)
            except ArchiveDamaged as error:
                if progress:
                    print(f"{error}; downloading it again", file=sys.stderr)
                damaged = error.archive or files.archives[0]
                fresh = _fetch(f"{TEST_FOLDER}/{damaged.name}", force=True, cache_dir=cache_dir,
                               revision=_pinned(files.jsonl, revision), endpoint=endpoint)
                archives = tuple(fresh if archive.name == damaged.name else archive for archive in files.archives)
                try:
                    install_dataset(root, CachedFiles(dataset, files.jsonl, archives, files.folders), progress=progress,
                                    limits=limits)
                except ArchiveDamaged as again:
                    raise ArchiveDamaged(f"{again}; it is damaged on the hub or in transit: {MANUAL_DOWNLOAD}",
                                         again.archive) from again
    assert data_dir is not None
    return data_dir
