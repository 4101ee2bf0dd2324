"""Property-based tests (hypothesis): random entries and answers never make the engine raise, and
random corruptions of a valid data set never make check-data raise.

Two profiles, chosen by ``PROACTIVEBENCH_HYPOTHESIS_PROFILE``: ``default`` (small and
derandomized, part of the unit suite) and ``long`` (105,000 generated episodes and 2,000
corrupted data sets; about 8 minutes on 2 cores)::

    PROACTIVEBENCH_HYPOTHESIS_PROFILE=long python -m pytest tests/unit/test_properties.py -q
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import string
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proactivebench_ext.core.engine import InvalidEntryError, new_episode
from proactivebench_ext.core.naming import SCENARIO_ACRONYMS
from proactivebench_ext.core.scenarios import MAX_TURNS
from proactivebench_ext.data.checkdata import main as check_data
from proactivebench_ext.data.layout import jsonl_path
from proactivebench_ext.data.synth import generate

PROFILE_ENV = "PROACTIVEBENCH_HYPOTHESIS_PROFILE"
PROFILES = {"default": {"episodes": 60, "data_sets": 12}, "long": {"episodes": 15_000, "data_sets": 2_000}}
PROFILE = os.environ.get(PROFILE_ENV, "default")
if PROFILE not in PROFILES:
    raise ValueError(f"{PROFILE_ENV}={PROFILE!r}: known profiles are {', '.join(PROFILES)}")
for _name in PROFILES:
    settings.register_profile(_name, deadline=None, database=None, derandomize=_name == "default",
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                     HealthCheck.data_too_large])
settings.load_profile(PROFILE)

GOLDEN = Path(__file__).parents[1] / "golden"


def _golden_entries() -> dict[str, list[dict]]:
    entries: dict[str, list[dict]] = {acronym: [] for acronym in SCENARIO_ACRONYMS}
    for line in (GOLDEN / "mcqa.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        entries[record["acronym"]].append(record["entry"])
    return entries


ENTRIES = _golden_entries()  # regular and edge-case entries of the reference's traces

# -- random entries ---------------------------------------------------------------------------------
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["Move the camera up.", "Rewind the video.", "Wait for the person to move.", "Rotate the object.",
     "I cannot answer this question.", "Add more details to the drawing.", "Move farther from the object.",
     "Move the camera to the left.", "Increase the brightness.", "{image}", "{image:03}", "{image:>9}", "../x",
     "/abs", "{level}", "{informative}", "a/{image}.jpg", "zoom", "up_left", "down", "", "\ud800", "a{image}\udfff"])
NUMBER = (st.integers(min_value=-3, max_value=40) | st.integers() | st.sampled_from([0, 1, MAX_TURNS, MAX_TURNS + 1, 10**9])
          | st.floats(allow_nan=True, allow_infinity=True) | st.booleans())
JSON_VALUE = st.recursive(st.none() | NUMBER | TEXT, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(TEXT, inner, max_size=4), max_leaves=8)


@st.composite
def entries(draw: st.DrawFn, acronym: str) -> dict[str, Any]:
    """A reference entry with a few fields replaced, removed or added."""
    entry = dict(draw(st.sampled_from(ENTRIES[acronym])))
    for _ in range(draw(st.integers(0, 4))):
        field = draw(st.sampled_from(sorted(entry) + ["extra"]))
        action = draw(st.sampled_from(["number", "text", "any", "delete", "list", "pick"]))
        if action == "delete":
            entry.pop(field, None)
        elif action == "number":
            entry[field] = draw(NUMBER)
        elif action == "text":
            entry[field] = draw(TEXT)
        elif action == "list":
            entry[field] = draw(st.lists(TEXT | NUMBER, max_size=6))
        elif action == "pick" and isinstance(entry.get("categories"), list) and entry["categories"]:
            entry["answer"] = draw(st.sampled_from(entry["categories"]))
        else:
            entry[field] = draw(JSON_VALUE)
    return entry


@st.composite
def answers(draw: st.DrawFn, options: tuple[str, ...]) -> Any:
    """What a model might say to a turn: an option in some form, a letter, or anything at all."""
    kind = draw(st.sampled_from(["option", "letter", "dotted", "noisy", "text", "weird"]))
    if options and kind in ("option", "letter", "dotted", "noisy"):
        index = draw(st.integers(0, len(options) - 1))
        letter = string.ascii_uppercase[index % 26]
        return {"option": options[index], "letter": letter, "dotted": f"{letter}. {options[index]}",
                "noisy": f"  {options[index].lower()} \n"}[kind]
    if kind == "weird":
        return draw(st.sampled_from([None, 3, "", "\x00", "A" * 100_000, ["A"], "Z", "AA"]))
    return draw(TEXT)


@pytest.mark.parametrize("acronym", SCENARIO_ACRONYMS)
def test_random_entries_and_answers_never_make_the_engine_raise(acronym):
    @settings(max_examples=PROFILES[PROFILE]["episodes"])
    @given(entry=entries(acronym), hint=st.booleans(), reference=st.booleans(),
           seed=st.none() | st.integers(0, 2**16), data=st.data())
    def play(entry, hint, reference, seed, data):
        try:
            episode = new_episode(acronym, entry, "DATA", hint=hint, reference=reference,
                                  random_actions=None if seed is None else random.Random(seed))
        except InvalidEntryError:
            return
        turns = 0
        while not episode.done:
            turn = episode.observe()
            assert turn.relative_image_path and not turn.relative_image_path.startswith("/")
            # every text the model or a file gets is valid Unicode; every crop holds a pixel once PIL rounds it
            "".join((turn.mcqa_prompt, turn.relative_image_path, *turn.options)).encode("utf-8")
            if turn.crop is not None:
                left, top, right, bottom = turn.crop
                assert round(right) - round(left) >= 1 and round(bottom) - round(top) >= 1, turn.crop
            episode.answer(data.draw(answers(turn.options)))
            turns += 1
            assert turns <= MAX_TURNS
        stats = episode.stats
        assert stats["num_turns"] == turns == len(stats["generated_answers"]) == len(episode.history)
        assert not (stats.get("error") and stats["correct_prediction"])
        with pytest.raises(RuntimeError):
            episode.observe()

    play()


COORDINATE = st.integers(-50, 600) | st.floats(-50, 600, allow_nan=False)


@given(first=st.integers(0, 300), count=st.integers(1, 300), seed=st.none() | st.integers(0, 99))
def test_cit_is_refused_exactly_when_it_starts_past_the_video(first, count, seed):
    entry = dict(ENTRIES["CIT"][0], first_image=first, num_images=count, reference_image=min(first, count - 1))
    rng = None if seed is None else random.Random(seed)
    try:
        new_episode("CIT", entry, random_actions=rng)
    except InvalidEntryError as error:
        assert (error.field == "first_image") == (first >= count), error
        assert first >= count or error.field != "first_image"
    else:
        assert first < count


@given(entry=entries("IN-C"), seed=st.none() | st.integers(0, 99))
def test_in_c_without_quality_answer_is_refused_in_every_mode(entry, seed):
    entry.pop("quality_answer", None)
    with pytest.raises(InvalidEntryError):
        new_episode("IN-C", entry, random_actions=None if seed is None else random.Random(seed))


@given(top=COORDINATE, left=COORDINATE, height=COORDINATE, width=COORDINATE, hstep=st.sampled_from([0, 0.4, 7, 25.5]),
       vstep=st.sampled_from([0, 0.4, 7, 25.5]),
       direction=st.sampled_from(["up", "down", "left", "right", "zoom", "up_left", "down_right"]), data=st.data())
def test_coco_crops_are_refused_in_every_mode_or_hold_a_pixel_at_every_turn(top, left, height, width, hstep, vstep,
                                                                             direction, data):
    base = next(e for e in ENTRIES["COCO"] if e["direction"] == "zoom") if direction == "zoom" else ENTRIES["COCO"][0]
    entry = dict(base, crop={"top": top, "left": left, "height": height, "width": width}, horizontal_step=hstep,
                 vertical_step=vstep, direction=direction)
    refusals = []
    for reference in (False, True):
        try:
            new_episode("COCO", entry, reference=reference)
        except InvalidEntryError as error:
            refusals.append(error.field)
            assert error.field != "crop" or ("pixels" in error.reason and "at least 1" in error.reason), error
    # a box that cannot be cut is refused in reference mode too (other refusals may depend on the mode)
    assert refusals.count("crop") in (0, 2), refusals
    if refusals:
        return
    episode = new_episode("COCO", entry)
    while not episode.done:
        turn = episode.observe()
        crop_left, crop_top, crop_right, crop_bottom = turn.crop
        assert round(crop_right) - round(crop_left) >= 1 and round(crop_bottom) - round(crop_top) >= 1, turn.crop
        episode.answer(data.draw(answers(turn.options)))


# -- random corruptions of a valid data set ---------------------------------------------------------
@pytest.fixture(scope="module")
def data_set(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("valid") / "data"
    generate(root, per_scenario=3, seed=11)
    (root.parent / "outside.png").write_bytes(_png(8, 8))  # a target for links that leave the data folder
    return root


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@st.composite
def corruptions(draw: st.DrawFn, root: Path) -> list[tuple[Path, str]]:
    """One to three damages: (file, kind); the details are drawn while damaging."""
    images = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in (".jpg", ".png", ".jpeg"))
    jsonls = sorted(root.glob("*.jsonl"))
    damages = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            damages.append((draw(st.sampled_from(jsonls)), draw(st.sampled_from(
                ["field", "bytes", "truncate", "empty", "delete", "line"]))))
        else:
            damages.append((draw(st.sampled_from(images)), draw(st.sampled_from(
                ["truncate", "bytes", "empty", "delete", "text", "png", "link"]))))
    return damages


def _damage(path: Path, kind: str, data: st.DataObject, root: Path) -> None:
    """Damage ``path`` inside ``root``; never writes through a link (an earlier damage may have made one)."""
    if path.is_symlink():
        path.unlink()
    raw = path.read_bytes() if path.is_file() else b""
    if kind == "delete":
        path.unlink(missing_ok=True)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncate":
        path.write_bytes(raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))])
    elif kind == "bytes":
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        path.write_bytes(raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at + 1:])
    elif kind == "text":
        path.write_text(data.draw(TEXT))
    elif kind == "png":
        path.write_bytes(_png(data.draw(st.integers(1, 100_000)), data.draw(st.integers(1, 100_000))))
    elif kind == "link":
        path.unlink(missing_ok=True)
        path.symlink_to(data.draw(st.sampled_from([root.parent, root.parent / "outside.png", path, root / "missing.jpg"])))
    elif kind == "line":
        lines = raw.splitlines()
        lines.insert(data.draw(st.integers(0, len(lines))), json.dumps(data.draw(JSON_VALUE)).encode())
        path.write_bytes(b"\n".join(lines) + b"\n")
    else:  # field: one field of one row replaced by any JSON value
        lines = raw.splitlines()
        if not lines:
            return
        index = data.draw(st.integers(0, len(lines) - 1))
        try:
            row = json.loads(lines[index])
        except ValueError:
            return
        if isinstance(row, dict) and row:
            row[data.draw(st.sampled_from(sorted(row)))] = data.draw(JSON_VALUE)
            lines[index] = json.dumps(row).encode()
            path.write_bytes(b"\n".join(lines) + b"\n")


def test_check_data_never_raises_on_a_corrupted_set(data_set):
    originals = {p: p.read_bytes() for p in data_set.rglob("*") if p.is_file() and not p.is_symlink()}

    @settings(max_examples=PROFILES[PROFILE]["data_sets"])
    @given(damages=corruptions(data_set), data=st.data())
    def check(damages, data):
        try:
            for path, kind in damages:
                _damage(path, kind, data, data_set)
            scenario = next((a for a in SCENARIO_ACRONYMS if str(damages[0][0]).startswith(
                str(jsonl_path(a, data_set))[:-len("_preprocessed.jsonl")])), None)
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                status = check_data([str(data_set), "--max-problems", "1000"]
                                    + (["--scenarios", scenario] if scenario else []))
            lines = out.getvalue().splitlines()
            problems = [line for line in lines if line.startswith("[") and "more problems" not in line]
            assert status in (0, 1) and (status == 1) == bool(problems)
            assert all("; fix: " in line for line in problems), problems
        finally:
            for path in data_set.rglob("*"):
                if path.is_symlink() or (path.is_file() and path not in originals):
                    path.unlink()
            for path, content in originals.items():
                if not path.exists() or path.read_bytes() != content:
                    path.write_bytes(content)

    check()
