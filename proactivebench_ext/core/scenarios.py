"""The seven ProactiveBench scenarios: each one's rules in one place.

A scenario says how an entry is read, which image a state shows, which options are shown and
which are accepted as correct now, and how an accepted request moves the state. Everything the
scenarios share (answer matching, stop rules, statistics) lives in :mod:`.engine`.

States are immutable: a transition returns a new :class:`State`, which keeps the rules pure and
lets policies explore episodes without copying anything else.

Where the reference implementation raised (asserts, ``list.remove`` of a missing option, an index
past the end of a list), the rules raise :class:`EpisodeFault`; the engine turns it into an
:class:`InvalidEntryError` before the first turn and into a failed episode afterwards.

Every field is read through :class:`FieldReader`, which checks its type and bounds before anything
is built from it: one hostile number (``num_images: 1000000000``, ``max_steps: 0``) or template
(``{image:>400000000}``, ``../``) must make an :class:`InvalidEntryError`, never a huge allocation,
an endless episode or a path outside the data folder.
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .constants import (
    ARTIFACTS,
    BLUR,
    BRIGHTNESS,
    CONTRAST,
    DETAILS,
    DOWN,
    FORWARD,
    JPEG_COMPRESSION,
    LEFT,
    NOISE,
    PIXELATE,
    REWIND,
    RIGHT,
    ROTATE,
    SATURATE,
    STOP,
    UP,
    ZOOM,
    ScenarioTexts,
    load_benchmark,
)

Box = tuple[float, float, float, float]

REWIND_OPTION = "Rewind the video."
WAIT_MARKER = "Wait for the"
ZOOM_OPTION = "Move farther from the object."
HORIZONTAL_OPTIONS = ("Move the camera to the left.", "Move the camera to the right.")
VERTICAL_OPTIONS = ("Move the camera up.", "Move the camera down.")
ROD_CORRUPTED_FRAME = "natural_bluebl_greenr-banana-s6"
COCO_DIRECTIONS = ("up", "down", "left", "right", "zoom")


class EpisodeFault(Exception):
    """The entry cannot be played on from this state (the reference raised here)."""

    def __init__(self, message: str, field: str = "entry"):
        super().__init__(message)
        self.field = field


class InvalidEntryError(ValueError):
    """An entry that cannot be played: names the dataset, sample id and offending field."""

    def __init__(self, dataset: str, sample_id: Any, field: str, message: str):
        super().__init__(f"{dataset} sample {sample_id!r}: field {field!r}: {message}")
        self.dataset, self.sample_id, self.field, self.reason = dataset, sample_id, field, message


def is_abstain(option: str) -> bool:
    """Abstain options ("I cannot answer", "I do not know") are never accepted as requests."""
    lowered = option.lower()
    return "cannot" in lowered or "do not" in lowered


@dataclass(frozen=True)
class Camera:
    """COCO: the crop and how far it has been widened along each axis."""

    direction: str
    granularity: int
    crop: Mapping[str, float]  # top, left, height, width as in the entry (box coordinates)
    horizontal_step: float  # initial steps: the first crop is already one step wide
    vertical_step: float
    max_horizontal: float
    max_vertical: float


@dataclass(frozen=True)
class Sample:
    """The fields of one entry that the rules read, checked once."""

    id: Any
    image_template: str
    first_image: int
    num_images: int
    reference_image: int
    prompt: str
    options: tuple[str, ...]
    categories: tuple[str, ...]
    answer: str
    correct_options: tuple[str, ...]  # options accepted as requests, in entry order
    correct_indices: tuple[int, ...]  # their indices in ``options``
    action_space: tuple[int, ...]
    max_steps: int
    valid_images: Sequence[int]  # a range unless the entry lists them (MVP-N)
    step_size: int = 1  # CIT
    quality_answer: str | None = None  # IN-C
    camera: Camera | None = None  # COCO


@dataclass(frozen=True)
class State:
    """What changes during an episode. ``action`` is the last action taken (None before any)."""

    image_id: int
    num_turns: int = 0
    action: int | None = None
    horizontal_step: float = 0
    vertical_step: float = 0
    horizontal_turns: int = 0
    vertical_turns: int = 0


# -- bounds on entry fields -----------------------------------------------------------------------
# Far above the released data (at most 120 frames, 8 CIT steps, granularity 5) and low enough that
# no single field can make an episode unbounded or a turn expensive.
MAX_TURNS = 1000  # turns of one episode; lmms-eval runs allow as many agentic rounds
MAX_IMAGE_ID = 10_000_000  # frame / view ids and counts
MAX_ITEMS = 10_000  # options, categories, MVP-N views
MAX_TEXT = 100_000  # characters of one text field
MAX_COORDINATE = 1_000_000  # COCO crop coordinates and steps, in pixels
# ``{image}``-style fields may carry a short format spec: optional fill (a letter, digit, ``_``,
# ``-`` or space) and alignment, sign, zero padding, a width below 100, and an int/str type.
_FORMAT_SPEC = re.compile(r"(?:[0-9A-Za-z_ -]?[<>=^])?[+ -]?0?\d{0,2}[bdoxXs]?")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")  # what a JSON \\ud800 escape can carry and UTF-8 cannot


def unencodable_reason(text: str) -> str | None:
    """Why ``text`` is not valid Unicode text (None when it is): a lone surrogate, which a JSON
    ``\\ud800`` escape can carry but no UTF-8 file, tokenizer or Arrow table can hold."""
    found = LONE_SURROGATE.search(text)
    if found is None:
        return None
    return (f"holds a lone surrogate U+{ord(found.group()):04X} at character {found.start() + 1}, which is not "
            "valid Unicode text (it cannot be encoded as UTF-8)")


def unsafe_path_reason(path: str) -> str | None:
    """Why ``path`` cannot be an image path relative to the data folder (None when it can).

    Pure text rules (absolute paths, ``..`` components, NUL bytes); symlinks leaving the folder are
    a filesystem matter, checked where images are opened.
    """
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL byte"
    if path.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(path):
        return "is absolute; image paths are relative to the data folder"
    if ".." in re.split(r"[\\/]", path):
        return "has a '..' component, which leaves the data folder"
    return None


class FieldReader:
    """Reads one entry's fields with their types and bounds; any violation is an InvalidEntryError."""

    def __init__(self, entry: Mapping[str, Any], dataset: str):
        self.entry, self.dataset = entry, dataset

    def fail(self, name: str, message: str) -> InvalidEntryError:
        return InvalidEntryError(self.dataset, self.entry.get("id"), name, message)

    def __call__(self, name: str) -> Any:
        """The raw value (any type): only its presence is checked."""
        try:
            return self.entry[name]
        except KeyError:
            raise self.fail(name, "missing field") from None

    def integer(self, name: str, low: int, high: int) -> int:
        value = self(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(name, f"expected an integer, got {_describe(value)}")
        if not low <= value <= high:
            raise self.fail(name, f"{value} is outside [{low}, {high}]")
        return value

    def number(self, name: str, low: float, high: float) -> float:
        return self.check_number(name, self(name), low, high)

    def check_number(self, name: str, value: Any, low: float, high: float) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise self.fail(name, f"expected a finite number, got {_describe(value)}")
        if not low <= value <= high:
            raise self.fail(name, f"{value} is outside [{low}, {high}]")
        return value

    def text(self, name: str) -> str:
        value = self(name)
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {_describe(value)}")
        if len(value) > MAX_TEXT:
            raise self.fail(name, f"{len(value)} characters, more than {MAX_TEXT}")
        reason = unencodable_reason(value)
        if reason is not None:
            raise self.fail(name, reason)
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        items = self._items(name)
        if any(not isinstance(item, str) or len(item) > MAX_TEXT for item in items):
            raise self.fail(name, f"every item must be a string of at most {MAX_TEXT} characters")
        for index, item in enumerate(items):
            reason = unencodable_reason(item)
            if reason is not None:
                raise self.fail(name, f"item {index} {reason}")
        return items

    def integers(self, name: str, low: int, high: int) -> tuple[int, ...]:
        items = self._items(name)
        if any(not isinstance(item, int) or isinstance(item, bool) or not low <= item <= high for item in items):
            raise self.fail(name, f"every item must be an integer in [{low}, {high}]")
        return items

    def _items(self, name: str) -> tuple[Any, ...]:
        value = self(name)
        if not isinstance(value, (list, tuple)):
            raise self.fail(name, f"expected a list, got {_describe(value)}")
        if len(value) > MAX_ITEMS:
            raise self.fail(name, f"{len(value)} items, more than {MAX_ITEMS}")
        return tuple(value)

    def template(self, name: str, fields: frozenset[str] | None) -> str:
        """A path template: relative, inside the data folder, formatting only ``fields`` (None: used as is)."""
        value = self.text(name)
        literal = value
        if fields is not None:
            try:
                parts = list(string.Formatter().parse(value))
            except ValueError as error:
                raise self.fail(name, f"{value!r} is not a valid template ({error})") from None
            for _, field, spec, conversion in parts:
                if field is None:
                    continue
                if field not in fields or conversion or not _FORMAT_SPEC.fullmatch(spec or ""):
                    allowed = ", ".join("{" + f + "}" for f in sorted(fields))
                    raise self.fail(name, f"{value!r}: placeholder {{{field}{'!' + conversion if conversion else ''}"
                                          f"{':' + spec if spec else ''}}} is not allowed; use {allowed} with at most "
                                          "a short format spec (e.g. {image:03})")
            literal = "".join(text for text, *_ in parts)
        reason = unsafe_path_reason(literal)
        if reason is not None:
            raise self.fail(name, f"{value!r} {reason}")
        return value


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


class Scenario:
    """Rules shared by most scenarios; subclasses override what differs."""

    acronym: ClassVar[str]
    action_space: ClassVar[tuple[int, ...]]
    image_id_digits: ClassVar[int] = 0  # zero padding of ``{image}``; 0 = raw id
    last_turn_categories_only: ClassVar[bool] = False  # MVP-N, IN-C, QD: no request left to make
    random_stops_at_edges: ClassVar[bool] = False  # CIT: in random mode a move off the video stops
    # What an oracle aims for: the reference frame (videos, ROD) or the last request accepted.
    oracle_goal: ClassVar[str] = "exhaust"
    frames_wrap_around: ClassVar[bool] = False  # ROD, VSOD: moving past the last frame shows the first
    template_fields: ClassVar[frozenset[str] | None] = frozenset({"image"})  # None: the template is the path

    @property
    def texts(self) -> ScenarioTexts:
        return load_benchmark().scenarios[self.acronym]

    @property
    def dataset(self) -> str:
        return self.texts.dataset

    def __repr__(self) -> str:
        return f"<Scenario {self.acronym} ({self.dataset})>"

    # -- reading an entry ---------------------------------------------------------------------
    def parse(self, entry: Mapping[str, Any], *, random_actions: bool = False) -> Sample:
        read = FieldReader(entry, self.dataset)
        sample_id = read("id")
        options, categories = read.texts("options"), read.texts("categories")
        answer = read.text("answer")
        image_template = read.template("image_template", self.template_fields)
        first_image = read.integer("first_image", 0, MAX_IMAGE_ID)
        num_images = read.integer("num_images", 1, MAX_IMAGE_ID)
        reference_image = read.integer("reference_image", 0, MAX_IMAGE_ID)
        prompt = read.text("prompt")
        if answer not in categories:
            raise InvalidEntryError(self.dataset, sample_id, "answer", f"{answer!r} is not one of the categories {list(categories)}")
        indices = self.correct_option_indices(entry, options, random_actions)
        base = dict(
            id=sample_id,
            image_template=image_template,
            first_image=first_image,
            num_images=num_images,
            reference_image=reference_image,
            prompt=prompt,
            options=options,
            categories=categories,
            answer=answer,
            correct_indices=indices,
            correct_options=tuple(options[i] for i in indices),
            action_space=self.action_space,
            max_steps=num_images,
            valid_images=range(num_images),
        )
        base.update(self.parse_extra(entry, read))
        if not 1 <= base["max_steps"] <= MAX_TURNS:
            field = "max_steps" if "max_steps" in entry else "num_images"
            raise InvalidEntryError(self.dataset, sample_id, field, f"allows {base['max_steps']} turns; an episode has "
                                                                    f"between 1 and {MAX_TURNS}")
        return Sample(**base)

    def correct_option_indices(self, entry: Mapping[str, Any], options: Sequence[str], random_actions: bool) -> tuple[int, ...]:
        return tuple(i for i, option in enumerate(options) if not is_abstain(option))

    def parse_extra(self, entry: Mapping[str, Any], read: FieldReader) -> dict[str, Any]:
        """Scenario-specific fields of :class:`Sample` (and overrides of the defaults)."""
        return {}

    def initial_state(self, sample: Sample) -> State:
        return State(image_id=sample.first_image)

    # -- what a state shows -------------------------------------------------------------------
    def hint(self, sample: Sample) -> str:
        return self.texts.hint  # type: ignore[return-value]

    def image_path(self, sample: Sample, state: State, *, reference: bool) -> str:
        """Relative image path shown in ``state`` (the reference frame in reference mode)."""
        image_id = sample.reference_image if reference else state.image_id
        return self.format_template(sample, state, image_id, reference=reference)

    def format_template(self, sample: Sample, state: State, image_id: int, *, reference: bool) -> str:
        image = str(image_id).zfill(self.image_id_digits) if self.image_id_digits else image_id
        return sample.image_template.format(image=image)

    def shown_options(self, sample: Sample, state: State, *, random_actions: bool) -> list[str]:
        """Requests and abstain options shown now (categories follow them)."""
        return list(sample.options)

    def crop(self, sample: Sample, state: State, *, reference: bool) -> Box | None:
        return None

    # -- what is correct now ------------------------------------------------------------------
    def correct_now(self, sample: Sample, state: State, *, reference: bool, random_actions: bool) -> tuple[list[str], list[str]]:
        """Options and categories accepted as correct in ``state``."""
        categories = [sample.answer]
        if reference:
            return [], categories
        if self.last_turn_categories_only:
            if state.num_turns + 1 < sample.num_images:
                return list(sample.correct_options), categories
            if state.num_turns + 1 == sample.num_images:
                return [], categories
            raise EpisodeFault(f"turn {state.num_turns + 1} is past the last image ({sample.num_images})", "num_images")
        return list(sample.correct_options), categories

    # -- moving on ----------------------------------------------------------------------------
    def advance(self, sample: Sample, state: State, action: int) -> State:
        """The state after accepting request ``action`` (``state.num_turns`` already counts it)."""
        raise NotImplementedError

    def open_ended_answers(self, sample: Sample, state: State) -> str:
        """The benchmark's list of valid open-ended answers, as one comma-separated string."""
        raise NotImplementedError


def _step_around(sample: Sample, state: State, step: int) -> State:
    """One frame back or forward on a sequence whose frames wrap around."""
    return dataclasses.replace(state, image_id=(state.image_id + step) % sample.num_images)


def _categories_text(categories: Sequence[str]) -> str:
    return ", ".join(category.replace(".", "") for category in categories)


class RealisticOcclusion(Scenario):
    """ROD: an occluder in front of an object; move it left or right (frames wrap around)."""

    acronym = "ROD"
    oracle_goal = "reference_frame"
    frames_wrap_around = True
    action_space = (STOP, LEFT, RIGHT)

    def image_path(self, sample: Sample, state: State, *, reference: bool) -> str:
        path = super().image_path(sample, state, reference=reference)
        if not reference and ROD_CORRUPTED_FRAME in path:  # one released frame is corrupted
            return path.replace("s6", "s5" if state.action == LEFT else "s7")
        return path

    def correct_now(self, sample, state, *, reference, random_actions):
        if not reference and state.action is None:  # the first frame never shows enough to answer
            return list(sample.correct_options), []
        return super().correct_now(sample, state, reference=reference, random_actions=random_actions)

    def advance(self, sample, state, action):
        return _step_around(sample, state, -1 if action == LEFT else 1)

    def open_ended_answers(self, sample, state):
        return "Move the blocks, Move the camera."


class VideoOcclusion(Scenario):
    """VSOD: a passer-by hides the subject of a video; wait or rewind (frames wrap around)."""

    acronym = "VSOD"
    oracle_goal = "reference_frame"
    frames_wrap_around = True
    action_space = (STOP, REWIND, FORWARD)
    image_id_digits = 4

    def parse_extra(self, entry, read):
        read("strong_occlusions")  # read (and required) by the reference, though unused
        return {}

    def advance(self, sample, state, action):
        return _step_around(sample, state, -1 if action == REWIND else 1)

    def open_ended_answers(self, sample, state):
        _, categories = self.correct_now(sample, state, reference=False, random_actions=False)
        return "Wait for the occlusion to disappear, Rewind the video, Move the camera, " + _categories_text(categories) + "."


class MultiViewPerception(Scenario):
    """MVP-N: an uninformative view; rotate through ``valid_images`` to the informative one."""

    acronym = "MVP-N"
    action_space = (STOP, ROTATE)
    image_id_digits = 4
    last_turn_categories_only = True

    template_fields = frozenset({"image", "informative"})

    def parse_extra(self, entry, read):
        valid = read.integers("valid_images", 0, MAX_IMAGE_ID)
        return {"valid_images": valid} if valid else {}

    def format_template(self, sample, state, image_id, *, reference):
        informative = int(state.num_turns + 1 == sample.num_images) or int(reference)
        return sample.image_template.format(informative=informative, image=str(image_id).zfill(4))

    def advance(self, sample, state, action):
        if state.num_turns >= len(sample.valid_images):
            raise EpisodeFault(f"valid_images has {len(sample.valid_images)} views, turn {state.num_turns + 1} needs more", "valid_images")
        return dataclasses.replace(state, image_id=sample.valid_images[state.num_turns])

    def open_ended_answers(self, sample, state):
        return "Rotate the object, Move the camera."


class CorruptedImage(Scenario):
    """IN-C: a corrupted image; only the sample's one matching quality fix lowers the level."""

    acronym = "IN-C"
    action_space = (STOP, BRIGHTNESS, CONTRAST, SATURATE, BLUR, NOISE, JPEG_COMPRESSION, PIXELATE, ARTIFACTS)
    last_turn_categories_only = True

    def correct_option_indices(self, entry, options, random_actions):
        # Required in every mode: the reference reads it to pick the one accepted fix.
        quality = FieldReader(entry, self.dataset).text("quality_answer")
        if quality in options:
            return (options.index(quality),)
        if random_actions:  # options were replaced: any request is as good as another
            return super().correct_option_indices(entry, options, random_actions)
        raise InvalidEntryError(self.dataset, entry.get("id"), "quality_answer", f"{quality!r} is not one of the options {list(options)}")

    template_fields = frozenset({"level"})

    def parse_extra(self, entry, read):
        return {"valid_images": (1, 2, 3, 4, 5), "quality_answer": entry.get("quality_answer")}

    def format_template(self, sample, state, image_id, *, reference):
        return sample.image_template.format(level=image_id)

    def advance(self, sample, state, action):
        return dataclasses.replace(state, image_id=state.image_id - 1)

    def open_ended_answers(self, sample, state):
        options, categories = self.correct_now(sample, state, reference=False, random_actions=False)
        return ", ".join(item.replace(".", "") for item in options + categories) + "."


class QuickDraw(Scenario):
    """QD: the first stroke of a sketch; each request adds the next stroke."""

    acronym = "QD"
    action_space = (STOP, DETAILS)
    image_id_digits = 4
    last_turn_categories_only = True

    def advance(self, sample, state, action):
        return dataclasses.replace(state, image_id=state.image_id + 1)

    def open_ended_answers(self, sample, state):
        _, categories = self.correct_now(sample, state, reference=False, random_actions=False)
        return "Add more details to the drawing, " + _categories_text(categories) + "."


def _without_first_wait(options: list[str]) -> list[str]:
    """Drop the first "Wait for the ..." option; with none, the reference drops the last option."""
    if not options:
        raise EpisodeFault("no option left to remove at the end of the video", "options")
    index = next((i for i, option in enumerate(options) if WAIT_MARKER in option), len(options) - 1)
    options.remove(options[index])
    return options


def _without(options: list[str], option: str) -> list[str]:
    if option not in options:
        raise EpisodeFault(f"{option!r} must be among the options", "options")
    options.remove(option)
    return options


class HowToVideo(Scenario):
    """CIT: a how-to video frame; wait or rewind by ``step_size`` frames, no wrap-around."""

    acronym = "CIT"
    oracle_goal = "reference_frame"
    action_space = (STOP, REWIND, FORWARD)
    random_stops_at_edges = True

    def parse_extra(self, entry, read):
        num_images = read.integer("num_images", 1, MAX_IMAGE_ID)
        read.integer("first_image", 0, num_images - 1)  # the reference refuses a start past the video's end
        return {"step_size": read.integer("step_size", 1, MAX_IMAGE_ID), "max_steps": read.integer("max_steps", 1, MAX_TURNS)}

    def format_template(self, sample, state, image_id, *, reference):
        return sample.image_template.format(image=str(image_id))  # the reference formats the id as text

    def _trim_at_ends(self, sample: Sample, state: State, options: list[str]) -> list[str]:
        if state.image_id - sample.step_size < 0:
            return _without(options, REWIND_OPTION)
        if state.image_id + sample.step_size >= sample.num_images:
            return _without_first_wait(options)
        return options

    def shown_options(self, sample, state, *, random_actions):
        options = list(sample.options)
        return options if random_actions else self._trim_at_ends(sample, state, options)

    def correct_now(self, sample, state, *, reference, random_actions):
        if reference or random_actions:
            return super().correct_now(sample, state, reference=reference, random_actions=random_actions)
        return self._trim_at_ends(sample, state, list(sample.correct_options)), [sample.answer]

    def advance(self, sample, state, action):
        step = -sample.step_size if action == REWIND else sample.step_size
        return dataclasses.replace(state, image_id=state.image_id + step)

    def open_ended_answers(self, sample, state):
        options, categories = self.correct_now(sample, state, reference=False, random_actions=False)
        return ",".join(item.replace(".", "") for item in options + [REWIND_OPTION] + categories) + "."


class CocoCrop(Scenario):
    """COCO: a bad crop of a photo; move the camera along its direction(s) or zoom out.

    Each request widens the crop by one more step on that axis; the step grows as
    ``step / n * (n + 1)`` so that after ``n`` moves the crop is ``n + 1`` initial steps wider.
    """

    acronym = "COCO"
    action_space = (STOP, UP, DOWN, LEFT, RIGHT, ZOOM)  # per sample: see parse_extra

    template_fields = None  # a single photo: the template is the path

    def parse_extra(self, entry, read):
        direction = read.text("direction")
        if not any(key in direction for key in COCO_DIRECTIONS):
            raise read.fail("direction", f"{direction!r} names no move ({', '.join(COCO_DIRECTIONS)})")
        granularity = read.integer("granularity", 1, MAX_TURNS // 2)
        horizontal = read.number("horizontal_step", 0, MAX_COORDINATE)
        vertical = read.number("vertical_step", 0, MAX_COORDINATE)
        crop = read("crop")
        if not isinstance(crop, Mapping):
            raise read.fail("crop", f"expected an object with top, left, height and width, got {_describe(crop)}")
        for key in ("top", "left", "height", "width"):
            if key not in crop:
                raise InvalidEntryError(self.dataset, entry.get("id"), "crop", f"missing {key!r}")
            read.check_number("crop", crop[key], -MAX_COORDINATE, MAX_COORDINATE)
        max_horizontal = max_vertical = 0
        if "zoom" in direction:
            actions = (STOP, ZOOM)
            max_steps = granularity + 1
            max_horizontal, max_vertical = horizontal * max_steps, vertical * max_steps
        else:
            max_steps = granularity if "_" not in direction else granularity * 2
            actions = (STOP,) + tuple(a for key, a in (("up", UP), ("down", DOWN), ("left", LEFT), ("right", RIGHT)) if key in direction)
            if "up" in direction or "down" in direction:
                max_vertical = vertical * granularity
            if "left" in direction or "right" in direction:
                max_horizontal = horizontal * granularity
        camera = Camera(direction, granularity, dict(crop), horizontal, vertical, max_horizontal, max_vertical)
        _check_first_box(read, _crop_box(camera, horizontal, vertical))
        return {"action_space": actions, "max_steps": max_steps, "camera": camera}

    def initial_state(self, sample):
        camera = sample.camera
        return State(image_id=sample.first_image, horizontal_step=camera.horizontal_step, vertical_step=camera.vertical_step)

    def hint(self, sample):
        return self.texts.hint["zoom" if "zoom" in sample.camera.direction else "move"]  # type: ignore[index]

    def format_template(self, sample, state, image_id, *, reference):
        return sample.image_template  # a single photo: the template is the path

    def _trim_exhausted(self, sample: Sample, state: State, options: list[str]) -> list[str]:
        camera = sample.camera
        if camera.direction == "zoom":
            if state.horizontal_step == camera.max_horizontal:
                if state.vertical_step != camera.max_vertical:
                    raise EpisodeFault(
                        f"zoom reached its horizontal limit {camera.max_horizontal} but not its vertical one "
                        f"({state.vertical_step} != {camera.max_vertical})", "horizontal_step")
                _without(options, ZOOM_OPTION)
            return options
        if state.horizontal_step >= camera.max_horizontal:
            for option in HORIZONTAL_OPTIONS:
                if option in options:
                    options.remove(option)
        if state.vertical_step >= camera.max_vertical:
            for option in VERTICAL_OPTIONS:
                if option in options:
                    options.remove(option)
        return options

    def shown_options(self, sample, state, *, random_actions):
        options = list(sample.options)
        return options if random_actions else self._trim_exhausted(sample, state, options)

    def correct_now(self, sample, state, *, reference, random_actions):
        # The reference computes the options even in reference mode, so its zoom check applies there too.
        options = list(sample.correct_options)
        if not random_actions:
            options = self._trim_exhausted(sample, state, options)
        return options, [sample.answer]

    def crop(self, sample, state, *, reference):
        return None if reference else _crop_box(sample.camera, state.horizontal_step, state.vertical_step)

    def advance(self, sample, state, action):
        h, v, nh, nv = state.horizontal_step, state.vertical_step, state.horizontal_turns, state.vertical_turns
        if action in (LEFT, RIGHT, ZOOM):
            nh += 1
            h = h / nh * (nh + 1)
        if action in (UP, DOWN, ZOOM):
            nv += 1
            v = v / nv * (nv + 1)
        return dataclasses.replace(state, horizontal_step=h, vertical_step=v, horizontal_turns=nh, vertical_turns=nv)

    def open_ended_answers(self, sample, state):
        _, categories = self.correct_now(sample, state, reference=False, random_actions=False)
        return "Move the camera, Move farther from the object, " + _categories_text(categories) + "."


def _crop_box(camera: Camera, h: float, v: float) -> Box:
    """COCO's crop box (left, top, right, bottom) once the steps are ``h`` and ``v``."""
    crop, direction = camera.crop, camera.direction
    zoom = "zoom" in direction
    top = crop["top"] - v if ("up" in direction or zoom) else crop["top"]
    left = crop["left"] - h if ("left" in direction or zoom) else crop["left"]
    bottom = crop["height"] + v if ("down" in direction or zoom) else crop["height"]
    right = crop["width"] + h if ("right" in direction or zoom) else crop["width"]
    if direction == "zoom":
        bottom += crop["top"]
        right += crop["left"]
    return (left, top, right, bottom)


def crop_size(box: Box) -> tuple[int, int]:
    """(width, height) in pixels of what PIL cuts for ``box``: it rounds each edge first, so a
    box under one pixel, or inverted, cuts nothing (or raises)."""
    left, top, right, bottom = box
    return round(right) - round(left), round(bottom) - round(top)


def _check_first_box(read: FieldReader, box: Box) -> None:
    """The first crop must hold a pixel: an inverted box raises in PIL while an empty one reaches
    the model's processor. Steps only widen it, so later crops hold more."""
    width, height = crop_size(box)
    for size, axis, edges in ((width, "wide", "right edge (from 'width') must lie right of its left edge (from 'left')"),
                              (height, "high", "bottom edge (from 'height') must lie below its top edge (from 'top')")):
        if size < 1:
            raise read.fail("crop", f"the first crop box (left, top, right, bottom) = {tuple(box)} is {size} pixels "
                                    f"{axis}, and a crop needs at least 1: its {edges}")


SCENARIOS: dict[str, Scenario] = {
    scenario.acronym: scenario
    for scenario in (RealisticOcclusion(), VideoOcclusion(), MultiViewPerception(), CorruptedImage(), QuickDraw(), HowToVideo(), CocoCrop())
}


def resolve_scenario(name: str) -> Scenario:
    """Accept an acronym ("ROD") or the dataset's full name ("Realistic-Occlusion-Dataset")."""
    if name in SCENARIOS:
        return SCENARIOS[name]
    acronym = load_benchmark().datasets.get(name)
    if acronym is None:
        known = ", ".join(f"{s.acronym} ({s.dataset})" for s in SCENARIOS.values())
        raise KeyError(f"unknown ProactiveBench scenario {name!r}; known: {known}")
    return SCENARIOS[acronym]
