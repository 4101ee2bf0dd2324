"""Loading the image a turn shows, one turn at a time.

Images are opened only when a turn needs them, so evaluating the whole benchmark never holds more
than the current image in memory. Every load is bounded: the header's size is checked against the
pixel cap (:func:`.validate.max_image_pixels`) before decoding, a COCO crop box may not ask for more
pixels than that either, and with ``data_dir`` the path must stay inside the data folder once
symlinks are resolved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image

from ..core.ablations import Prompt
from ..core.scenarios import crop_size
from .errors import DataError, DataNotFoundError
from .validate import max_image_pixels, open_image, outside_reason

Box = Sequence[float]


class ShownTurn(Protocol):
    """The two fields of an engine ``Turn`` that say what the model sees."""

    image_path: str
    crop: Box | None


class ImageError(DataError):
    """An image a turn needs cannot be shown: ``path``, ``reason`` and ``fix`` say which, why and what to do."""

    def __init__(self, path: str, reason: str, fix: str):
        super().__init__(f"image {path} {reason}; {fix}")
        self.path, self.reason, self.fix = path, reason, fix


class MissingImageError(ImageError, DataNotFoundError):
    """The image file does not exist."""


def resize_short_edge(image: Image.Image, short_edge: int) -> Image.Image:
    """Scale so the shorter side is ``short_edge``, exactly as the reference does (history/ICL runs).

    Kept bit-for-bit, including ``int()`` truncation that can leave the short side one pixel short
    (97 px -> 223 for 224): resized inputs must match the paper's runs.
    """
    if short_edge <= 0:
        raise ValueError(f"short_edge must be positive, got {short_edge}")
    width, height = image.size
    scale = short_edge / min(width, height)
    return image.resize((int(width * scale), int(height * scale)))


def load_turn_image(turn: ShownTurn, *, short_edge: int | None = None,
                    data_dir: str | os.PathLike[str] | None = None) -> Image.Image:
    """The RGB image of ``turn``: opened from disk, cropped to ``turn.crop`` (COCO), optionally resized.

    Raises :class:`MissingImageError` (a :class:`DataNotFoundError`) for a missing file and
    :class:`ImageError` (a :class:`DataError`) for one that is outside ``data_dir``, over the pixel
    cap, undecodable, or cropped to an oversized box.
    """
    path = os.fspath(turn.image_path)
    if data_dir is not None:
        outside = outside_reason(path, data_dir)
        if outside is not None:
            raise ImageError(path, outside, "images must be files inside the data folder: replace the link by the file")
    if not os.path.isfile(path):
        raise MissingImageError(path, "not found", "the dataset archive is probably not extracted next to its JSONL "
                                "(`python -m proactivebench_ext check-data DIR` lists every missing file)")
    try:
        image = open_image(path)
    except DataError as error:
        raise ImageError(path, str(error), "re-extract its dataset archive, or run `python -m proactivebench_ext "
                                           "check-data DIR`") from None
    if turn.crop is not None:
        left, top, right, bottom = turn.crop
        if min(crop_size(turn.crop)) < 1:  # PIL would raise or cut 0x0
            raise ImageError(path, f"is cropped to {tuple(turn.crop)}, which holds no pixel",
                             "check the row's crop and step fields (`python -m proactivebench_ext check-data DIR`)")
        area = max(right - left, 0) * max(bottom - top, 0)
        if area > max_image_pixels():
            raise ImageError(path, f"is cropped to {tuple(turn.crop)}, {area:,.0f} pixels, over the cap of "
                                   f"{max_image_pixels():,}", "check the row's crop and step fields")
        image = image.crop(tuple(turn.crop))
    if short_edge is not None:
        image = resize_short_edge(image, short_edge)
    return image


def load_prompt_images(prompt: Prompt) -> list[Any]:
    """The request's images as RGB PIL images, in order (cropped, then resized where asked)."""
    return [load_turn_image(ref, short_edge=ref.short_edge) for ref in prompt.images]
