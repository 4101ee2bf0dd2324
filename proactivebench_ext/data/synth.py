"""A synthetic mini-ProactiveBench in the released layout, for tests, demos and offline runs.

Every image is drawn procedurally and the intervention really helps: the first turn hides what the
question asks about, and following the proactive option reveals it (an occluder slides off, a
passer-by walks on, the object turns its labelled side, the corruption fades, strokes are added,
the object enters the video, the crop widens). Sample ids are the first ids of each dataset's
``filter_ids``, so the loader's drop/filter path runs unchanged; a few extra rows with non-test ids
and VSOD rows without strong occlusions are added to prove the filter. ``--split train`` writes a
training split instead (``rl-data`` reads it): ids outside ``filter_ids``, other draws, no extra rows.

Output is deterministic: the same seed gives byte-identical files (fixed PNG/JPEG settings, no
metadata, zip entries with a fixed timestamp). Run ``python -m proactivebench_ext synth OUT``.
"""

from __future__ import annotations

import io
import json
import math
import random
import shutil
import sys
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from ..cli import command_parser
from ..core.constants import load_benchmark
from ..core.naming import dataset_name
from .jsonio import write_json_atomic
from .layout import is_dropped
from .provenance import SYNTH_MARKER, synth_marker

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
JPEG_QUALITY = 85
DEFAULT_PER_SCENARIO = 4
EXTRA_ROWS = 2  # rows with non-test ids per scenario
DROPPED_VSOD_ROWS = 2  # VSOD rows with strong_occlusions == false
EMBEDDED_ARGS = {"per_scenario": DEFAULT_PER_SCENARIO, "seed": 0}  # args of the shipped embedded set
SPLITS = ("test", "train")  # train: ids disjoint from the test set's filter_ids

Point = tuple[float, float]
Box = tuple[int, int, int, int]  # left, top, right, bottom
RGB = tuple[int, int, int]

# -- option wordings (as in the benchmark); each request holds exactly one action keyword --------
ABSTAIN = ("I cannot answer this question.", "I cannot tell from this image.", "I do not know the answer.")
ROD_OCCLUDERS: dict[str, RGB] = {
    "red cardboard": (200, 40, 40),
    "black book": (30, 30, 30),
    "white paper sheet": (245, 245, 240),
    "green folder": (40, 150, 60),
}
ROD_PROMPTS = (
    "Identify the object behind the {occluder}.",
    "What object is hidden behind the {occluder}?",
    "Could you tell me what is behind the {occluder}?",
)
VIDEO_REWIND = "Rewind the video."
VSOD_WAIT = "Wait for the occlusion to disappear."
VSOD_PROMPT = "How many persons can be seen in this frame?"
PEOPLE = ("One person", "Two people", "Three people", "Four people")
MVPN_ROTATE = ("Rotate the object to show another side.", "Could you change the viewpoint?")
MVPN_PROMPTS = ("Which object is this?", "Identify the object in this image.")
INC_FIXES: dict[str, str] = {  # corruption folder -> the option that undoes it
    "gaussian_blur": "Deblur the image.",
    "gaussian_noise": "Denoise the image.",
    "pixelate": "Increase the image resolution.",
    "contrast": "Increase the contrast of the image.",
    "brightness": "Reduce the brightness of the image.",
    "saturate": "Adjust the color saturation of the image.",
    "jpeg_compression": "Reduce the JPEG compression.",
}
INC_PROMPTS = ("What is the main object in this image?", "What type of object do you see here?")
QD_DETAILS = ("Please refine the drawing.", "Could you improve the quickdraw?", "Add more details.")
QD_PROMPT = "What does this sketch represent?"
CIT_WAIT = "Wait for the object to appear."
CIT_PROMPT = "What object is shown in the video?"
COCO_MOVES = {
    "up": "Move the camera up.",
    "down": "Move the camera down.",
    "left": "Move the camera to the left.",
    "right": "Move the camera to the right.",
    "zoom": "Move farther from the object.",
}
COCO_DIRECTIONS = ("up", "left", "zoom", "down_right", "right", "down", "up_left", "up_right", "down_left")
COCO_PROMPTS = (
    "Which category does the object in the image belong to?",
    "What is the main object in this picture?",
    "Classify the visual content of this image.",
)

# -- drawable objects: outlines in the unit square ----------------------------------------------


def _regular(n: int, radius: float = 0.5, phase: float = -math.pi / 2) -> tuple[Point, ...]:
    return tuple((0.5 + radius * math.cos(phase + 2 * math.pi * k / n), 0.5 + radius * math.sin(phase + 2 * math.pi * k / n))
                 for k in range(n))


def _star() -> tuple[Point, ...]:
    return tuple((0.5 + r * math.cos(-math.pi / 2 + math.pi * k / 5), 0.5 + r * math.sin(-math.pi / 2 + math.pi * k / 5))
                 for k, r in ((k, 0.5 if k % 2 == 0 else 0.2) for k in range(10)))


SHAPES: dict[str, tuple[Point, ...]] = {
    "circle": _regular(24),
    "square": ((0.08, 0.08), (0.92, 0.08), (0.92, 0.92), (0.08, 0.92)),
    "triangle": ((0.5, 0.04), (0.96, 0.92), (0.04, 0.92)),
    "star": _star(),
    "diamond": ((0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)),
    "cross": ((0.35, 0.0), (0.65, 0.0), (0.65, 0.35), (1.0, 0.35), (1.0, 0.65), (0.65, 0.65), (0.65, 1.0),
              (0.35, 1.0), (0.35, 0.65), (0.0, 0.65), (0.0, 0.35), (0.35, 0.35)),
    "hexagon": _regular(6),
    "arrow": ((0.0, 0.35), (0.55, 0.35), (0.55, 0.1), (1.0, 0.5), (0.55, 0.9), (0.55, 0.65), (0.0, 0.65)),
}


def _outline(shape: str, box: Sequence[float]) -> list[Point]:
    left, top, right, bottom = box
    return [(left + x * (right - left), top + y * (bottom - top)) for x, y in SHAPES[shape]]


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: Sequence[float], color: RGB) -> None:
    draw.polygon(_outline(shape, box), fill=color, outline=tuple(c // 2 for c in color))


def _color(rng: random.Random) -> RGB:
    """A saturated colour that stands out on the light backgrounds."""
    hue = rng.random()
    r, g, b = (max(0.0, min(1.0, abs((hue * 6 + shift) % 6 - 3) - 1)) for shift in (0, 4, 2))
    return int(40 + 180 * r), int(40 + 180 * g), int(40 + 180 * b)


def _background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A light wall above a darker floor, so frames look like a scene rather than a blank page."""
    tone = rng.randint(200, 235)
    image = Image.new("RGB", size, (tone, tone - 5, tone - 15))
    draw = ImageDraw.Draw(image)
    floor = int(size[1] * 0.78)
    draw.rectangle((0, floor, size[0], size[1]), fill=(tone - 70, tone - 80, tone - 95))
    return image


def _categories(rng: random.Random, answer: str, pool: Sequence[str]) -> list[str]:
    """Exactly four categories, one of them the answer, in random order."""
    others = rng.sample([name for name in pool if name != answer], 3)
    categories = others + [answer]
    rng.shuffle(categories)
    return categories


def _options(rng: random.Random, requests: Sequence[str]) -> list[str]:
    """The requests plus one abstain option, shuffled as in the released data."""
    options = list(requests) + [rng.choice(ABSTAIN)]
    rng.shuffle(options)
    return options


@dataclass
class SynthSample:
    """One generated entry and the images it references (relative path -> image)."""

    entry: dict
    images: dict[str, Image.Image] = field(default_factory=dict)


Maker = Callable[[random.Random, int], SynthSample]

# -- ROD ----------------------------------------------------------------------------------------


def _circular_offset(frame: int, first: int, count: int) -> int:
    """Signed distance from ``first`` on a circle of ``count`` frames (frames wrap around)."""
    j = (frame - first) % count
    return j if j <= count // 2 else j - count


def make_rod(rng: random.Random, sample_id: int) -> SynthSample:
    """An object behind an occluder that slides one step per frame, frames wrapping around."""
    count, size = 8, (128, 96)
    first = rng.randrange(count)
    occluder = rng.choice(sorted(ROD_OCCLUDERS))
    shape, color = rng.choice(sorted(SHAPES)), _color(rng)
    template = f"Realistic-Occlusion-Dataset/synth_{occluder.replace(' ', '')}-{shape}-{sample_id}-s{{image}}.jpg"
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": first,
        "num_images": count,
        "reference_image": (first + count // 2) % count,
        "prompt": rng.choice(ROD_PROMPTS).format(occluder=occluder),
        "options": _options(rng, [f"Move the {occluder} to the left.", f"Move the {occluder} to the right."]),
        "categories": _categories(rng, shape, sorted(SHAPES)),
        "answer": shape,
    }
    background = _background(size, rng)
    center, half = 64, 18
    images = {}
    for frame in range(count):
        image = background.copy()
        draw = ImageDraw.Draw(image)
        _draw_shape(draw, shape, (center - half, 38 - half, center + half, 38 + half + 4), color)
        x = center + 15 * _circular_offset(frame, first, count)
        draw.rectangle((x - 26, 10, x + 26, 80), fill=ROD_OCCLUDERS[occluder], outline=(90, 90, 90))
        images[template.format(image=frame)] = image
    return SynthSample(entry, images)


# -- VSOD ---------------------------------------------------------------------------------------


def _draw_person(draw: ImageDraw.ImageDraw, x: float, feet: float, height: float, color: RGB) -> None:
    head = height * 0.22
    draw.ellipse((x - head / 2, feet - height, x + head / 2, feet - height + head), fill=(230, 190, 160))
    draw.rectangle((x - head * 0.55, feet - height + head, x + head * 0.55, feet - height * 0.35), fill=color)
    draw.rectangle((x - head * 0.45, feet - height * 0.35, x + head * 0.45, feet), fill=(50, 50, 90))


def _vsod_video(rng: random.Random, template: str, count: int, first: int, strong: bool, people: int) -> dict[str, Image.Image]:
    size = (128, 96)
    background = _background(size, rng)
    spacing, feet = 15, 76
    xs = [64 + spacing * (k - (people - 1) / 2) for k in range(people)]
    colors = [_color(rng) for _ in xs]
    images = {}
    for frame in range(count):
        image = background.copy()
        draw = ImageDraw.Draw(image)
        for x, color in zip(xs, colors):
            _draw_person(draw, x, feet, 40, color)
        offset = 16 * _circular_offset(frame, first, count)
        if strong:  # a passer-by close to the camera hides the whole group
            x = 64 + offset
            draw.ellipse((x - 14, 2, x + 14, 30), fill=(70, 60, 55))
            draw.rounded_rectangle((x - 34, 26, x + 34, 96), radius=12, fill=(60, 60, 70))
        else:  # a distant passer-by that hides nothing
            x = 4 + (frame * 11) % 120
            _draw_person(draw, x, feet - 30, 14, (90, 90, 90))
        images[template.format(image=str(frame).zfill(4))] = image
    return images


def _vsod(rng: random.Random, sample_id: int, strong: bool) -> SynthSample:
    count = 10
    first = rng.randrange(count)
    people = rng.randint(1, len(PEOPLE))
    template = f"OcclusionDataSet-MM20/video_{sample_id:03d}/frame_{{image}}.png"
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": first,
        "num_images": count,
        "reference_image": (first + count // 2) % count,
        "prompt": VSOD_PROMPT,
        "options": _options(rng, [VIDEO_REWIND, VSOD_WAIT]),
        "categories": _categories(rng, PEOPLE[people - 1], PEOPLE),
        "answer": PEOPLE[people - 1],
        "strong_occlusions": strong,
    }
    return SynthSample(entry, _vsod_video(rng, template, count, first, strong, people))


def make_vsod(rng: random.Random, sample_id: int) -> SynthSample:
    """A group of people that a passer-by hides at the first frame; waiting or rewinding reveals them."""
    return _vsod(rng, sample_id, strong=True)


def make_vsod_weak(rng: random.Random, sample_id: int) -> SynthSample:
    """A VSOD row without a strong occlusion: the benchmark drops these before the id filter."""
    return _vsod(rng, sample_id, strong=False)


# -- MVP-N --------------------------------------------------------------------------------------


def make_mvpn(rng: random.Random, sample_id: int) -> SynthSample:
    """A product box seen from its blank sides; only the last view shows the identifying label."""
    views = sorted(rng.sample(range(60), 5))
    shape = rng.choice(sorted(SHAPES))
    box_color, logo_color = _color(rng), _color(rng)
    template = f"MVP-N/object_{sample_id}/{{informative}}/view_{{image}}.jpg"
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": views[0],
        "num_images": len(views),
        "reference_image": views[-1],
        "prompt": rng.choice(MVPN_PROMPTS),
        "options": _options(rng, [rng.choice(MVPN_ROTATE)]),
        "categories": _categories(rng, shape, sorted(SHAPES)),
        "answer": shape,
        "valid_images": views,
    }
    background = _background((112, 112), rng)
    images = {}
    for index, view in enumerate(views):
        informative = index == len(views) - 1
        image = background.copy()
        draw = ImageDraw.Draw(image)
        angle = view / 60 * math.pi  # how far the box has turned: changes the visible side widths
        front = 50 if informative else int(12 + 20 * abs(math.sin(angle)))
        side = 14 if informative else 56 - front // 2
        left = 56 - (front + side) // 2
        shade = tuple(int(c * 0.7) for c in box_color)
        draw.rectangle((left, 30, left + front, 96), fill=box_color, outline=(40, 40, 40))
        draw.polygon([(left + front, 30), (left + front + side, 22), (left + front + side, 88), (left + front, 96)],
                     fill=shade, outline=(40, 40, 40))
        if informative:
            _draw_shape(draw, shape, (left + 8, 44, left + front - 8, 82), logo_color)
        else:  # a barcode: the same on every product, so it tells nothing
            for k in range(4):
                draw.line((left + 4 + 3 * k, 80, left + 4 + 3 * k, 92), fill=(20, 20, 20), width=1)
        images[template.format(informative=int(informative), image=str(view).zfill(4))] = image
    return SynthSample(entry, images)


# -- IN-C ---------------------------------------------------------------------------------------


def _corrupt(image: Image.Image, corruption: str, level: int, rng: random.Random) -> Image.Image:
    """ImageNet-C style corruption; ``level`` 0 is the clean image, 5 the strongest."""
    if level == 0:
        return image
    k = level - 1
    if corruption == "gaussian_blur":
        return image.filter(ImageFilter.GaussianBlur((2.0, 3.5, 5.0, 7.0, 10.0)[k]))
    if corruption == "gaussian_noise":
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, (40, 70, 100, 140, 190)[k], (image.height, image.width, 3))
        return Image.fromarray(np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255).astype(np.uint8))
    if corruption == "pixelate":
        factor = (3, 5, 7, 10, 14)[k]
        small = image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BOX)
        return small.resize(image.size, Image.Resampling.NEAREST)
    if corruption == "contrast":
        return ImageEnhance.Contrast(image).enhance((0.5, 0.35, 0.22, 0.12, 0.06)[k])
    if corruption == "brightness":
        return ImageEnhance.Brightness(image).enhance((1.8, 2.6, 3.5, 4.6, 6.0)[k])
    if corruption == "saturate":
        return ImageEnhance.Color(image).enhance((4.0, 8.0, 14.0, 22.0, 32.0)[k]).filter(ImageFilter.GaussianBlur(level * 1.3))
    if corruption == "jpeg_compression":
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=(12, 8, 5, 3, 1)[k])
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    raise ValueError(f"unknown corruption {corruption!r}")


def make_inc(rng: random.Random, sample_id: int) -> SynthSample:
    """A clean image (level 0) and the same image corrupted at levels 1..5; the episode starts at 5."""
    corruption = rng.choice(sorted(INC_FIXES))
    shape = rng.choice(sorted(SHAPES))
    fixes = [INC_FIXES[corruption]] + rng.sample([fix for name, fix in sorted(INC_FIXES.items()) if name != corruption], 3)
    template = f"ImageNet-C/{corruption}/{{level}}/{shape}/SYNTH_val_{sample_id:08d}.JPEG"
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": 5,
        "num_images": 5,
        "reference_image": 0,
        "prompt": rng.choice(INC_PROMPTS),
        "options": _options(rng, fixes),
        "categories": _categories(rng, shape, sorted(SHAPES)),
        "answer": shape,
        "quality_answer": INC_FIXES[corruption],
    }
    clean = _background((112, 112), rng)
    _draw_shape(ImageDraw.Draw(clean), shape, (36, 28, 76, 68), _color(rng))
    images = {template.format(level=level): _corrupt(clean, corruption, level, rng) for level in range(6)}
    return SynthSample(entry, images)


# -- QD -----------------------------------------------------------------------------------------


def make_qd(rng: random.Random, sample_id: int) -> SynthSample:
    """A sketch drawn stroke by stroke: the first frame holds one stroke, the last the whole drawing."""
    count = 5
    shape = rng.choice(sorted(SHAPES))
    template = f"QuickDraw/{shape}/{sample_id:010d}/stroke_{{image}}.png"
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": 0,
        "num_images": count,
        "reference_image": count - 1,
        "prompt": QD_PROMPT,
        "options": _options(rng, [rng.choice(QD_DETAILS)]),
        "categories": _categories(rng, shape, sorted(SHAPES)),
        "answer": shape,
    }
    corners = [(x + rng.uniform(-2, 2), y + rng.uniform(-2, 2)) for x, y in _outline(shape, (16, 16, 96, 96))]
    start = rng.randrange(len(corners))
    corners = corners[start:] + corners[:start]  # the pen starts at a random corner
    path = []  # the closed outline, each edge split in two so every frame adds at least one stroke
    for (xa, ya), (xb, yb) in zip(corners, corners[1:] + corners[:1]):
        path += [(xa, ya), ((xa + xb) / 2, (ya + yb) / 2)]
    path.append(corners[0])
    segments = len(path) - 1
    images = {}
    for frame in range(count):
        drawn = math.ceil(segments * (frame + 1) / count)
        image = Image.new("RGB", (112, 112), (255, 255, 255))
        ImageDraw.Draw(image).line(path[: drawn + 1], fill=(0, 0, 0), width=3, joint="curve")
        images[template.format(image=str(frame).zfill(4))] = image
    return SynthSample(entry, images)


# -- CIT ----------------------------------------------------------------------------------------


def make_cit(rng: random.Random, sample_id: int) -> SynthSample:
    """A video in which the object slides into view only after a few steps."""
    step, max_steps = rng.choice((5, 10)), rng.randint(4, 6)
    count = step * max_steps  # the last reachable frame is (max_steps - 1) * step
    appear = step * rng.randint(2, max_steps - 1)
    shape = rng.choice(sorted(SHAPES))
    template = f"ChangeIt/{shape}/video_{sample_id}/frame_{{image}}.jpg"
    reference = rng.randint(appear, count - 1)
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": 0,
        "num_images": count,
        "reference_image": reference,
        "prompt": CIT_PROMPT,
        "options": _options(rng, [VIDEO_REWIND, CIT_WAIT]),
        "categories": _categories(rng, shape, sorted(SHAPES)),
        "answer": shape,
        "step_size": step,
        "max_steps": max_steps,
    }
    background, color = _background((128, 96), rng), _color(rng)
    images = {}
    for frame in sorted(set(range(0, count, step)) | {reference}):
        image = background.copy()
        draw = ImageDraw.Draw(image)
        progress = min(1.0, frame / appear)
        x = 64 + (1 - progress) * 110  # enters from the right, centred once it has appeared
        _draw_shape(draw, shape, (x - 22, 26, x + 22, 70), color)
        draw.rectangle((2, 2, 2 + int(124 * frame / count), 5), fill=(200, 40, 40))  # a playback bar
        images[template.format(image=frame)] = image
    return SynthSample(entry, images)


# -- COCO ---------------------------------------------------------------------------------------


def _axis_step(extent: int, steps: int, margin: int) -> int:
    """Step that takes a crop edge from about the object's middle (first turn) to ``margin``
    pixels past the object after the last of ``steps`` widenings."""
    return max(2, math.ceil((margin + extent // 2) / max(1, steps - 1)))


def make_coco(rng: random.Random, sample_id: int, direction: str) -> SynthSample:
    """A photo cropped so the object is cut off; widening the crop along ``direction`` reveals it.

    Crop fields follow the released data: for camera moves ``(left, top, width, height)`` are the
    box ``(left, top, right, bottom)``; for zoom ``width``/``height`` are sizes. Every crop an
    episode can reach stays inside the image.
    """
    width, height, margin = 176, 132, 4
    granularity = rng.randint(2, 4)
    shape = rng.choice(sorted(SHAPES))
    size = rng.randint(44, 56)
    # room for the widest crop on every side
    x0 = rng.randint(40, width - 40 - size)
    y0 = rng.randint(36, height - 36 - size)
    obj = (x0, y0, x0 + size, y0 + size)
    h_step = v_step = 0
    if direction == "zoom":
        steps = granularity + 1  # zoom widens once more than camera moves
        h_step = math.ceil((size // 4 + margin) / granularity)
        v_step = math.ceil((size // 4 + margin) / granularity)
        inner = (x0 + size // 4, y0 + size // 4, x0 + size - size // 4, y0 + size - size // 4)  # first turn's crop
        left, top = inner[0] + h_step, inner[1] + v_step
        crop = {"top": top, "left": left, "height": inner[3] - inner[1] - 2 * v_step, "width": inner[2] - inner[0] - 2 * h_step}
        widest = (left - h_step * steps, top - v_step * steps, left + crop["width"] + h_step * steps, top + crop["height"] + v_step * steps)
    else:
        box = [obj[0] - margin, obj[1] - margin, obj[2] + margin, obj[3] + margin]  # the widest crop
        if "left" in direction or "right" in direction:
            h_step = _axis_step(size, granularity, margin)
            if "left" in direction:  # stored edge: the widest edge moved back in by all the steps
                box[0] += h_step * granularity
            else:
                box[2] -= h_step * granularity
        if "up" in direction or "down" in direction:
            v_step = _axis_step(size, granularity, margin)
            if "up" in direction:
                box[1] += v_step * granularity
            else:
                box[3] -= v_step * granularity
        crop = {"top": box[1], "left": box[0], "height": box[3], "width": box[2]}
        widest = (box[0] - (h_step * granularity if "left" in direction else 0),
                  box[1] - (v_step * granularity if "up" in direction else 0),
                  box[2] + (h_step * granularity if "right" in direction else 0),
                  box[3] + (v_step * granularity if "down" in direction else 0))
    if not (0 <= widest[0] < widest[2] <= width and 0 <= widest[1] < widest[3] <= height):
        raise AssertionError(f"COCO sample {sample_id}: widest crop {widest} leaves the {width}x{height} image")
    moves = ["zoom"] if direction == "zoom" else direction.split("_")
    template = f"coco2014/val2014/SYNTH_val2014_{sample_id:012d}.jpg"
    entry = {
        "id": sample_id,
        "image_template": template,
        "first_image": 0,
        "num_images": 1,
        "reference_image": 0,
        "prompt": rng.choice(COCO_PROMPTS),
        "options": _options(rng, [COCO_MOVES[move] for move in moves]),
        "categories": _categories(rng, shape, sorted(SHAPES)),
        "answer": shape,
        "direction": direction,
        "granularity": granularity,
        "horizontal_step": h_step,
        "vertical_step": v_step,
        "crop": crop,
    }
    image = _background((width, height), rng)
    draw = ImageDraw.Draw(image)
    for _ in range(3):  # clutter away from the object
        cx, cy = rng.choice((10, width - 14)), rng.randint(8, height - 16)
        draw.rectangle((cx, cy, cx + 6, cy + 8), fill=_color(rng))
    _draw_shape(draw, shape, obj, _color(rng))
    return SynthSample(entry, {template: image})


def _coco_maker(index: int) -> Maker:
    direction = COCO_DIRECTIONS[index % len(COCO_DIRECTIONS)]
    return lambda rng, sample_id: make_coco(rng, sample_id, direction)


MAKERS: dict[str, Maker] = {
    "ROD": make_rod,
    "VSOD": make_vsod,
    "MVP-N": make_mvpn,
    "IN-C": make_inc,
    "QD": make_qd,
    "CIT": make_cit,
}

# -- option checks ------------------------------------------------------------------------------


def keywords_in(option: str) -> list[str]:
    """The benchmark's action keywords that ``option`` contains (the engine needs exactly one)."""
    lowered = option.lower()
    return [keyword for keyword in load_benchmark().action_keywords if keyword in lowered]


def check_entry_options(entry: dict) -> None:
    """Fail generation early on an option the engine would reject or map to the wrong action."""
    for option in entry["options"]:
        found = keywords_in(option)
        abstain = "cannot" in option.lower() or "do not" in option.lower()
        if abstain and found:
            raise AssertionError(f"abstain option {option!r} contains action keywords {found}")
        if not abstain and len(found) != 1:
            raise AssertionError(f"request {option!r} must contain exactly one action keyword, has {found}")


# -- writing ------------------------------------------------------------------------------------


def save_image(image: Image.Image, path: Path) -> None:
    """PNG or JPEG by extension, with fixed settings and no metadata, so output is reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        image.save(path, "PNG", optimize=False)
    elif path.suffix.lower() in {".jpg", ".jpeg"}:
        image.save(path, "JPEG", quality=JPEG_QUALITY, optimize=False, progressive=False, subsampling=2)
    else:
        raise ValueError(f"no image format for {path.suffix!r}")


def write_zip(source: Path, archive: Path) -> None:
    """Zip ``source`` as the hub's archives are laid out: members ``<Dataset>/...``; reproducible bytes."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as bundle:
        for file in files:
            info = zipfile.ZipInfo(file.relative_to(source.parent).as_posix(), date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16
            bundle.writestr(info, file.read_bytes())


def _non_test_ids(dataset: str, count: int) -> list[int]:
    taken = set(load_benchmark().filter_ids[dataset])
    ids, candidate = [], 0
    while len(ids) < count:
        if candidate not in taken:
            ids.append(candidate)
        candidate += 1
    return ids


@dataclass(frozen=True)
class ScenarioPlan:
    """Which ids one scenario's JSONL gets."""

    acronym: str
    dataset: str
    test_ids: tuple[int, ...]  # first ids of filter_ids: the rows the loader must return
    dropped_ids: tuple[int, ...]  # VSOD rows without strong occlusions (filter ids: only drop_rows removes them)
    extra_ids: tuple[int, ...]  # rows outside the test set, as copies of test rows


def plan(acronym: str, per_scenario: int, split: str = "test") -> ScenarioPlan:
    dataset = dataset_name(acronym)
    if split == "train":  # the rows to return are ids the test filter never keeps
        return ScenarioPlan(acronym, dataset, tuple(_non_test_ids(dataset, per_scenario)), (), ())
    ids = load_benchmark().filter_ids[dataset]
    dropped = DROPPED_VSOD_ROWS if acronym == "VSOD" else 0
    kept = min(per_scenario, len(ids) - dropped)
    return ScenarioPlan(acronym, dataset, tuple(ids[:kept]), tuple(ids[kept:kept + dropped]),
                        tuple(_non_test_ids(dataset, EXTRA_ROWS if kept else 0)))


def _rng(seed: int, acronym: str, sample_id: int, kind: str = "test") -> random.Random:
    """One generator per sample, so a sample does not change when ``per_scenario`` does."""
    return random.Random(f"{seed}:{acronym}:{kind}:{sample_id}")


def _write_samples(out: Path, samples: Iterable[SynthSample]) -> list[dict]:
    entries = []
    for sample in samples:
        check_entry_options(sample.entry)
        for relative, image in sample.images.items():
            save_image(image, out / relative)
        entries.append(sample.entry)
    return entries


def generate_scenario(out: Path, acronym: str, *, per_scenario: int, seed: int, split: str = "test") -> ScenarioPlan:
    """Write one dataset's JSONL and images; returns the ids written."""
    layout = plan(acronym, per_scenario, split)
    makers = [(_coco_maker(index) if acronym == "COCO" else MAKERS[acronym], sample_id)
              for index, sample_id in enumerate(layout.test_ids)]
    tests = _write_samples(out, (maker(_rng(seed, acronym, sample_id, split), sample_id) for maker, sample_id in makers))
    dropped = _write_samples(out, (make_vsod_weak(_rng(seed, acronym, sample_id, "dropped"), sample_id)
                                   for sample_id in layout.dropped_ids))
    extra = [{**tests[index % len(tests)], "id": extra_id}  # they share the images of a test row
             for index, extra_id in enumerate(layout.extra_ids)]
    rows = sorted(tests + dropped + extra, key=lambda entry: entry["id"])
    assert sum(1 for row in rows if is_dropped(row)) == len(layout.dropped_ids)
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (out / load_benchmark().jsonl_name.format(dataset=layout.dataset)).write_text(text, encoding="utf-8")
    return layout


def _readme(per_scenario: int, seed: int, zipped: bool, split: str = "test") -> str:
    zip_flag = (" --zip" if zipped else "") + (f" --split {split}" if split != "test" else "")
    return (
        "# Synthetic mini-ProactiveBench\n\n"
        "Generated by `python -m proactivebench_ext synth`; every image is drawn procedurally (no real data).\n"
        "Same layout as the `test/` folder of the released dataset: one `<Dataset>_preprocessed.jsonl`\n"
        "per dataset next to its extracted image folder.\n\n"
        f"Regenerate: `python -m proactivebench_ext synth OUT --per-scenario {per_scenario} --seed {seed}{zip_flag} --force`\n"
    )


def owned_paths(out: Path) -> list[Path]:
    """Everything :func:`generate` writes into ``out`` (and so may remove with ``force``)."""
    names = ["README.md", SYNTH_MARKER]
    for dataset in load_benchmark().datasets:
        names += [load_benchmark().jsonl_name.format(dataset=dataset), dataset, f"{dataset}.zip"]
    return [out / name for name in names]


def generate(out: str | Path, *, per_scenario: int = DEFAULT_PER_SCENARIO, seed: int = 0,
             zip_archives: bool = False, force: bool = False,
             scenarios: Sequence[str] | None = None, split: str = "test") -> list[ScenarioPlan]:
    """Write a synthetic set for ``scenarios`` (all seven by default) into ``out``."""
    if per_scenario < 1:
        raise ValueError(f"per_scenario must be at least 1, got {per_scenario}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    out = Path(out)
    existing = [path for path in owned_paths(out) if path.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} already exists; pass force=True (--force) to replace the generated set in {out}")
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    acronyms = list(scenarios) if scenarios else list(load_benchmark().datasets.values())
    plans = []
    for acronym in acronyms:
        layout = generate_scenario(out, acronym, per_scenario=per_scenario, seed=seed, split=split)
        if zip_archives:
            write_zip(out / layout.dataset, out / f"{layout.dataset}.zip")
        plans.append(layout)
    (out / "README.md").write_text(_readme(per_scenario, seed, zip_archives, split), encoding="utf-8")
    # Runs over this folder are marked synthetic in their results (data.provenance reads the marker).
    write_json_atomic(out / SYNTH_MARKER, synth_marker(per_scenario, seed, split))
    return plans


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("synth", __doc__)
    parser.add_argument("out", type=Path, help="output directory (laid out like the released test/ folder)")
    parser.add_argument("--per-scenario", type=int, default=DEFAULT_PER_SCENARIO,
                        help="test samples per scenario (capped by the scenario's test-set size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--zip", action="store_true", help="also write the per-dataset zip archives, as on the hub")
    parser.add_argument("--force", action="store_true", help="replace a set generated earlier in OUT")
    parser.add_argument("--split", choices=SPLITS, default="test",
                        help="train: a training split for rl-data (ids outside the test set, other draws)")
    args = parser.parse_args(argv)
    try:
        plans = generate(args.out, per_scenario=args.per_scenario, seed=args.seed, zip_archives=args.zip, force=args.force,
                         split=args.split)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    total = sum(len(p.test_ids) for p in plans)
    print(f"wrote {total} {args.split} samples ({', '.join(f'{p.acronym} {len(p.test_ids)}' for p in plans)}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
