"""Downloading the released test data from the Hugging Face hub, once, and extracting it safely.

Only the files the requested scenarios need are fetched (each dataset's JSONL and zip archive from
the ``test/`` folder of ``tdemin16/ProactiveBench``). ``hf_hub_download`` keeps them in the HF cache
(resumable, and a later run re-downloads nothing); each archive is then extracted once into a
folder beside the hub cache. Extraction goes to a temporary folder that is renamed into place and
a completion marker is written last, so an interrupted run leaves nothing that looks finished and
the next run simply redoes that dataset. CRCs are checked while extracting and sizes after it.
The hub client's own settings apply: ``HF_ENDPOINT`` (mirrors), ``HF_HUB_CACHE``/``HF_HOME``,
``HF_HUB_OFFLINE`` (use what is cached) and ``HF_TOKEN``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable

from ..core.constants import load_benchmark
from ..core.naming import dataset_name
from .errors import DataError

REPO_ID = "tdemin16/ProactiveBench"
REPO_TYPE = "dataset"
TEST_FOLDER = "test"
ARCHIVE_NAME = "{dataset}.zip"  # one archive per dataset inside TEST_FOLDER
MARKER_NAME = ".{dataset}.complete"
TEMP_PREFIX = ".partial-{dataset}-"
EXTRACT_FOLDER = "proactivebench_ext"  # beside the hub cache: <HF_HOME>/proactivebench_ext/<commit>/test

MANUAL_DOWNLOAD = (
    f"on a machine with internet access run `hf download {REPO_ID} --repo-type dataset --include '{TEST_FOLDER}/*' "
    f"--local-dir DIR`, unzip every DIR/{TEST_FOLDER}/*.zip in place, and point PROACTIVEBENCH_DATA_DIR "
    f"(or the data_dir argument) at DIR/{TEST_FOLDER}"
)


class ArchiveError(DataError):
    """A downloaded archive is damaged or unsafe to extract."""


@dataclass(frozen=True)
class CachedFiles:
    """One dataset's files as ``hf_hub_download`` left them in the HF cache."""

    dataset: str
    jsonl: Path
    archive: Path


def default_extract_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where archives are extracted: a sibling of the hub cache, so the HF cache stays pristine."""
    from huggingface_hub import constants

    return Path(cache_dir or constants.HF_HUB_CACHE).expanduser().resolve().parent / EXTRACT_FOLDER


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


def _fetch_dataset(dataset: str, *, cache_dir, revision, endpoint) -> CachedFiles:
    bench = load_benchmark()
    jsonl = _fetch(f"{TEST_FOLDER}/{bench.jsonl_name.format(dataset=dataset)}", cache_dir=cache_dir, revision=revision, endpoint=endpoint)
    archive = _fetch(f"{TEST_FOLDER}/{ARCHIVE_NAME.format(dataset=dataset)}", cache_dir=cache_dir, revision=revision, endpoint=endpoint)
    return CachedFiles(dataset, jsonl, archive)


def _snapshot_name(path: Path) -> str:
    """The commit a cached file belongs to (``.../snapshots/<commit>/test/<file>``)."""
    parts = path.parts
    if len(parts) >= 4 and parts[-4] == "snapshots":
        return parts[-3]
    return "local"


def _file_identity(path: Path) -> dict[str, object]:
    """Identifies a cached file: its blob name (the hub's etag) and size."""
    return {"blob": Path(os.path.realpath(path)).name, "size": path.stat().st_size}


def _member_target(dest: Path, name: str, archive: Path) -> Path:
    parts = PurePosixPath(name).parts
    if not parts or PurePosixPath(name).is_absolute() or ".." in parts or ":" in parts[0]:
        raise ArchiveError(f"{archive} holds an unsafe path {name!r}; refusing to extract it. Delete the file and download it again")
    return dest.joinpath(*parts)


def _extract_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
    """Extract one member; reading it to the end makes zipfile check its CRC. Returns bytes written."""
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with bundle.open(info) as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    written = target.stat().st_size
    if written != info.file_size:
        raise ArchiveError(f"{target} has {written} bytes after extraction, the archive says {info.file_size}")
    return written


def _members(bundle: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in bundle.infolist() if not info.filename.startswith("__MACOSX/")]


def extract_archive(archive: Path, dest: Path, *, progress: bool = True) -> None:
    """Extract ``archive`` into ``dest`` (which must not exist yet), verifying every member."""
    from huggingface_hub.utils import tqdm

    try:
        with zipfile.ZipFile(archive) as bundle:
            members = _members(bundle)
            dest.mkdir(parents=True)
            with tqdm(total=sum(info.file_size for info in members), unit="B", unit_scale=True,
                      desc=f"extracting {archive.name}", disable=not progress, file=sys.stderr) as bar:
                for info in members:
                    bar.update(_extract_member(bundle, info, _member_target(dest, info.filename, archive)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise ArchiveError(f"{archive} is damaged ({error})") from error


def _clear_partials(root: Path, dataset: str) -> None:
    for stale in root.glob(TEMP_PREFIX.format(dataset=dataset) + "*"):
        shutil.rmtree(stale, ignore_errors=True)


def _is_installed(root: Path, files: CachedFiles, identity: dict) -> bool:
    marker = root / MARKER_NAME.format(dataset=files.dataset)
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == identity and (root / files.dataset).is_dir() and (root / files.jsonl.name).is_file()


def install_dataset(root: Path, files: CachedFiles, *, progress: bool = True) -> bool:
    """Make ``root`` hold the dataset's JSONL and extracted folder; returns False when already there."""
    identity = {"jsonl": _file_identity(files.jsonl), "archive": _file_identity(files.archive)}
    if _is_installed(root, files, identity):
        return False
    root.mkdir(parents=True, exist_ok=True)
    marker = root / MARKER_NAME.format(dataset=files.dataset)
    marker.unlink(missing_ok=True)
    _clear_partials(root, files.dataset)  # what an interrupted run left behind
    partial = root / (TEMP_PREFIX.format(dataset=files.dataset) + str(os.getpid()))
    extract_archive(files.archive, partial, progress=progress)
    # The archive holds "<Dataset>/..." (the templates' first folder); accept one without it too.
    top_level = {entry.name for entry in partial.iterdir()}
    source = partial / files.dataset if top_level == {files.dataset} else partial
    final = root / files.dataset
    if final.exists():
        shutil.rmtree(final)
    os.replace(source, final)
    shutil.rmtree(partial, ignore_errors=True)
    jsonl_tmp = root / (files.jsonl.name + f".partial-{os.getpid()}")
    shutil.copyfile(files.jsonl, jsonl_tmp)
    os.replace(jsonl_tmp, root / files.jsonl.name)
    marker_tmp = marker.with_name(marker.name + f".partial-{os.getpid()}")
    marker_tmp.write_text(json.dumps(identity, sort_keys=True), encoding="utf-8")
    os.replace(marker_tmp, marker)  # last: only now does the dataset count as installed
    return True


def download_test_data(
    scenarios: Iterable[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    extract_root: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch and extract the test data of ``scenarios`` (default: all seven); returns the data dir.

    A damaged archive is downloaded again once before giving up.
    """
    datasets = sorted({dataset_name(name) for name in scenarios}) if scenarios else list(load_benchmark().datasets)
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None  # read now, not at hub-client import
    root_base = Path(extract_root) if extract_root is not None else default_extract_root(cache_dir)
    data_dir: Path | None = None
    for dataset in datasets:
        files = _fetch_dataset(dataset, cache_dir=cache_dir, revision=revision, endpoint=endpoint)
        root = root_base / _snapshot_name(files.archive) / TEST_FOLDER
        if data_dir is not None and root != data_dir:
            raise DataError(f"the hub's files changed while downloading ({root} vs {data_dir}); run again")
        data_dir = root
        try:
            install_dataset(root, files, progress=progress)
        except ArchiveError as error:
            if progress:
                print(f"{error}; downloading it again", file=sys.stderr)
            archive = _fetch(f"{TEST_FOLDER}/{files.archive.name}", cache_dir=cache_dir, revision=revision,
                             endpoint=endpoint, force=True)
            try:
                install_dataset(root, CachedFiles(dataset, files.jsonl, archive), progress=progress)
            except ArchiveError as again:
                raise ArchiveError(f"{again}; it is damaged on the hub or in transit: {MANUAL_DOWNLOAD}") from again
    assert data_dir is not None
    return data_dir
