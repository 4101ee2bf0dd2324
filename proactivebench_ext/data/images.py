"""Loading the image a turn shows, one turn at a time.

Images are opened only when a turn needs them, so evaluating the whole benchmark never holds more
than the current image in memory.
"""

from __future__ import annotations

import os
from typing import Any, Protocol, Sequence

from PIL import Image

from ..core.ablations import Prompt
from .errors import DataError, DataNotFoundError

Box = Sequence[float]


class ShownTurn(Protocol):
    """The two fields of an engine ``Turn`` that say what the model sees."""

    image_path: str
    crop: Box | None


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


def load_turn_image(turn: ShownTurn, *, short_edge: int | None = None) -> Image.Image:
    """The RGB image of ``turn``: opened from disk, cropped to ``turn.crop`` (COCO), optionally resized."""
    path = os.fspath(turn.image_path)
    try:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
    except FileNotFoundError:
        raise DataNotFoundError(
            f"image {path} not found; the dataset archive is probably not extracted next to its JSONL "
            "(`python -m proactivebench_ext check-data DIR` lists every missing file)"
        ) from None
    except OSError as error:  # PIL's UnidentifiedImageError and truncated files are OSErrors
        raise DataError(f"image {path} cannot be decoded ({error}); re-extract its dataset archive") from error
    if turn.crop is not None:
        image = image.crop(tuple(turn.crop))
    if short_edge is not None:
        image = resize_short_edge(image, short_edge)
    return image


def load_prompt_images(prompt: Prompt) -> list[Any]:
    """The request's images as RGB PIL images, in order (cropped, then resized where asked)."""
    return [load_turn_image(ref, short_edge=ref.short_edge) for ref in prompt.images]
