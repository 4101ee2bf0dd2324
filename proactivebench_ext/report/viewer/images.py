"""Thumbnails and full-size images for the viewer, written once and reused.

A thumbnail is the image exactly as the model saw it (COCO's crop applied, then scaled down to fit
``edge`` pixels, never up), stored under ``img/t/`` by a key of its source file, crop and size. A
thumbnail newer than its source is reused (its size kept in ``img/sizes.json``, so it is not even
opened), so regenerating a site (or adding a run over the same data) writes only what is new. The
full-size link goes to the source file itself, or, for a cropped image, to the crop written once
under ``img/f/``; ``copy_full`` copies every full-size image into the
site so it can be moved without the data folder. A missing or undecodable image becomes a
:class:`Rendered` with a reason, never an exception.

Only files inside the data folder are read: a logged image path that is absolute, has a ``..``
component, or leads outside the folder once symlinks are resolved is refused (``refused``: the
page shows the reason, never the path); only regular files are opened (checked with ``stat``
before opening, and again on the open descriptor, opened non-blocking), so a FIFO or a device
never hangs the viewer. Nothing outside the data folder is read, copied or linked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image

from ...core.scenarios import unsafe_path_reason
from ...data.validate import over_pixel_cap
from .episodes import Picture

THUMB_EDGE = 256
JPEG_QUALITY = 80
PARALLEL_FROM = 64  # fewer new images than this are not worth starting worker processes


@dataclass(frozen=True)
class Rendered:
    """Where a picture's files are, relative to the site root (``full`` may be a ``file://`` URI)."""

    thumb: str | None
    full: str | None
    width: int = 0
    height: int = 0
    missing: str | None = None  # why there is no image
    refused: bool = False  # the logged path leaves the data folder: pages must not show it


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def locate(picture: Picture) -> tuple[str | None, str | None]:
    """The picture's file inside its data folder (symlinks resolved), or None and why it is refused."""
    if picture.data_dir is None:
        return None, None
    reason = unsafe_path_reason(picture.path)
    if reason is not None:
        return None, f"image path refused: it {reason}"
    try:
        root = Path(picture.data_dir).resolve()
        target = (root / picture.path).resolve()
    except (OSError, RuntimeError, ValueError) as error:  # a symlink loop, an unencodable name
        return None, f"image path refused: it cannot be resolved ({type(error).__name__})"
    if not target.is_relative_to(root):
        return None, "image path refused: a link leads outside the data folder"
    return str(target), None


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def _open_regular(path: Path) -> IO[bytes]:
    """Open ``path`` for reading only if it is a regular file; never blocks (a FIFO is refused
    before opening, and the open is non-blocking and checked again in case the file changed)."""
    kind = _not_regular(os.stat(path).st_mode)
    if kind is None:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        kind = _not_regular(os.fstat(fd).st_mode)
        if kind is None:
            return os.fdopen(fd, "rb")
        os.close(fd)
    raise _NotRegular(kind)


class _NotRegular(Exception):
    pass


def picture_key(picture: Picture, edge: int = THUMB_EDGE) -> str:
    """The file name of a picture's thumbnail: its source file, crop and thumbnail size."""
    source = os.path.abspath(picture.source) if picture.source else picture.path
    crop = ",".join(f"{value:g}" for value in picture.crop) if picture.crop else ""
    return hashlib.sha1(f"{source}|{crop}|{edge}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class _Job:
    source: str | None
    crop: tuple[float, ...] | None
    thumb: str  # relative to the site root
    full: str | None  # relative to the site root, when the full-size image is written into the site
    root: str
    edge: int
    known_size: tuple[int, int] | None = None  # the thumbnail's size, from the last site written here
    refused: str | None = None  # why the picture's path is not read at all


def _fresh(target: Path, source: Path) -> bool:
    try:
        return target.stat().st_mtime >= source.stat().st_mtime
    except OSError:
        return False


def _write_atomic(image: Image.Image, target: Path, **save: object) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    image.save(temporary, **save)  # type: ignore[arg-type]
    os.replace(temporary, target)


def _render(job: _Job) -> Rendered:
    root = Path(job.root)
    if job.refused is not None:
        return Rendered(None, None, missing=job.refused, refused=True)
    if job.source is None:
        return Rendered(None, None, missing="no data folder recorded; pass --data-dir")
    source = Path(job.source)
    thumb, full = root / job.thumb, root / job.full if job.full else None
    full_href = job.full or Path(os.path.abspath(source)).as_uri()
    try:
        if _fresh(thumb, source) and (full is None or _fresh(full, source)):
            if job.known_size is not None:
                return Rendered(job.thumb, full_href, *job.known_size)
            with Image.open(thumb) as done:
                return Rendered(job.thumb, full_href, *done.size)
        with _open_regular(source) as handle:
            with Image.open(handle) as opened:
                too_large = over_pixel_cap(opened)
                if too_large is not None:
                    return Rendered(None, None, missing=f"image {too_large}: {source}")
                image = opened.convert("RGB")
            if full is not None and job.crop is None:
                full.parent.mkdir(parents=True, exist_ok=True)
                handle.seek(0)
                with open(full, "wb") as copy:  # the bytes just read: the file itself, never a path that may change
                    shutil.copyfileobj(handle, copy)
        if job.crop is not None:
            image = image.crop(tuple(job.crop))  # type: ignore[arg-type]
            if full is not None:
                _write_atomic(image, full, format="PNG")
        image.thumbnail((job.edge, job.edge))
        _write_atomic(image, thumb, format="JPEG", quality=JPEG_QUALITY)
        return Rendered(job.thumb, full_href, *image.size)
    except FileNotFoundError:
        return Rendered(None, None, missing=f"image not found: {source}")
    except _NotRegular as error:
        return Rendered(None, None, missing=f"image is {error}, not a regular file: {source}")
    except (OSError, ValueError, Image.DecompressionBombError) as error:  # unidentified, truncated, bad crops, bombs
        return Rendered(None, None, missing=f"image cannot be decoded: {source} ({error})")


def render_pictures(pictures: Iterable[Picture], root: Path, *, edge: int = THUMB_EDGE, copy_full: bool = False,
                    jobs: int | None = None) -> dict[Picture, Rendered]:
    """Write the thumbnails (and full-size crops or copies) of ``pictures`` under ``root``."""
    unique = list(dict.fromkeys(pictures))
    sizes = _read_sizes(root)
    work = []
    for picture in unique:
        key = picture_key(picture, edge)
        suffix = Path(picture.path).suffix.lower() or ".img"
        full = None
        if picture.crop is not None:
            full = f"img/f/{key[:2]}/{key}.png"
        elif copy_full:
            full = f"img/f/{key[:2]}/{key}{suffix}"
        thumb = f"img/t/{key[:2]}/{key}.jpg"
        source, refused = locate(picture)
        work.append(_Job(source, picture.crop, thumb, full, str(root), edge, sizes.get(thumb), refused))
    jobs = jobs or os.cpu_count() or 1
    if jobs > 1 and sum(job.known_size is None for job in work) >= PARALLEL_FROM:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_render, work, chunksize=64))
    else:
        results = [_render(job) for job in work]
    sizes.update({result.thumb: (result.width, result.height) for result in results if result.thumb})
    _write_sizes(root, sizes)
    return dict(zip(unique, results))


SIZES = "img/sizes.json"  # thumbnail -> [width, height], so a reused thumbnail is never opened


def _read_sizes(root: Path) -> dict[str, tuple[int, int]]:
    try:
        data = json.loads((root / SIZES).read_text("utf-8"))
        return {str(name): (int(size[0]), int(size[1])) for name, size in data.items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return {}


def _write_sizes(root: Path, sizes: dict[str, tuple[int, int]]) -> None:
    path = root / SIZES
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(sizes, separators=(",", ":")), "utf-8")
    os.replace(temporary, path)
