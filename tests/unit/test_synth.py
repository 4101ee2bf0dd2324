"""The synthetic mini-benchmark: released layout, deterministic, and every entry plays cleanly."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops

from proactivebench_ext import new_episode
from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.core.engine import reachable_episodes
from proactivebench_ext.core.policies import oracle_answer
from proactivebench_ext.data.layout import embedded_data_dir, is_dropped, load_test_set
from proactivebench_ext.data.synth import (
    COCO_DIRECTIONS,
    EMBEDDED_ARGS,
    check_entry_options,
    generate,
    keywords_in,
    main,
    owned_paths,
)

ACRONYMS = list(load_benchmark().datasets.values())
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


@pytest.fixture(scope="module")
def nine(tmp_path_factory) -> Path:
    """Nine samples per scenario: every COCO direction appears once."""
    out = tmp_path_factory.mktemp("synth9")
    generate(out, per_scenario=len(COCO_DIRECTIONS), seed=3, zip_archives=True)
    return out


def _rows(data_dir: Path, acronym: str) -> list[dict]:
    name = load_benchmark().jsonl_name.format(dataset=_dataset(acronym))
    return [json.loads(line) for line in (data_dir / name).read_text("utf-8").splitlines()]


def _dataset(acronym: str) -> str:
    return next(name for name, short in load_benchmark().datasets.items() if short == acronym)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _letters(count: int) -> list[str]:
    return [chr(ord("A") + i) for i in range(count)]


# -- layout ------------------------------------------------------------------------------------


def test_released_layout_with_ids_from_the_filter_lists(nine):
    bench = load_benchmark()
    for acronym in ACRONYMS:
        dataset = _dataset(acronym)
        assert (nine / bench.jsonl_name.format(dataset=dataset)).is_file()
        assert (nine / dataset).is_dir() and (nine / f"{dataset}.zip").is_file()
        rows = _rows(nine, acronym)
        kept = [row["id"] for row in rows if not is_dropped(row) and row["id"] in set(bench.filter_ids[dataset])]
        assert kept == list(bench.filter_ids[dataset][:9]), acronym
        extra = [row for row in rows if row["id"] not in set(bench.filter_ids[dataset])]
        assert len(extra) == 2, f"{acronym}: extra rows with non-test ids prove the filter"
        for row in rows:
            assert len(row["categories"]) == 4 and row["answer"] in row["categories"]
            assert row["image_template"].startswith(f"{dataset}/")
    vsod = _rows(nine, "VSOD")
    dropped = [row for row in vsod if row["strong_occlusions"] is False]
    assert len(dropped) == 2 and all(row["id"] in load_benchmark().filter_ids["OcclusionDataSet-MM20"] for row in dropped)


def test_options_follow_the_benchmark_layout(nine):
    for acronym in ACRONYMS:
        for row in _rows(nine, acronym):
            abstain = [o for o in row["options"] if "cannot" in o or "do not" in o]
            requests = [o for o in row["options"] if o not in abstain]
            assert len(abstain) == 1 and requests, row["options"]
            assert all(len(keywords_in(option)) == 1 for option in requests)
            assert not any(keywords_in(option) for option in abstain)
            check_entry_options(row)
    coco = {row["direction"]: row for row in _rows(nine, "COCO")}
    assert set(coco) == set(COCO_DIRECTIONS)
    assert [o for o in coco["up_left"]["options"] if "Move" in o] and len(coco["up_left"]["options"]) == 3
    inc = _rows(nine, "IN-C")
    assert all(row["quality_answer"] in row["options"] and row["first_image"] == 5 and row["num_images"] == 5 for row in inc)
    mvpn = _rows(nine, "MVP-N")
    assert all("{informative}" in row["image_template"] and row["valid_images"][0] == row["first_image"] for row in mvpn)


def test_option_check_rejects_requests_without_exactly_one_keyword():
    with pytest.raises(AssertionError, match="exactly one action keyword"):
        check_entry_options({"options": ["Show me the object from a different angle.", "I cannot answer this question."]})
    with pytest.raises(AssertionError, match="exactly one action keyword"):
        check_entry_options({"options": ["Do something.", "I cannot answer this question."]})


def test_generated_images_are_exactly_the_reachable_ones(nine):
    """No image is missing and none is dead weight (except those of the dropped VSOD rows)."""
    on_disk = {p.relative_to(nine).as_posix() for p in nine.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    reachable = set()
    for acronym in ACRONYMS:
        for entry in load_test_set(acronym, nine):
            for reference in (False, True):
                episode = new_episode(acronym, entry, nine, reference=reference)
                reachable |= {ep.observe().relative_image_path for ep in reachable_episodes(episode)}
    dropped_videos = {f"OcclusionDataSet-MM20/video_{row['id']:03d}/" for row in _rows(nine, "VSOD") if is_dropped(row)}
    assert reachable <= on_disk
    assert {path for path in on_disk - reachable if not any(path.startswith(v) for v in dropped_videos)} == set()


# -- every entry plays -------------------------------------------------------------------------


def _assert_plays_cleanly(acronym: str, entry: dict, data_dir: Path) -> int:
    """Every reachable state answered with every shown option, letter and junk: no engine fault."""
    answers_tried = 0
    for hint in (False, True):
        for state in reachable_episodes(new_episode(acronym, entry, data_dir, hint=hint)):
            turn = state.observe()
            answers = list(turn.options) + _letters(len(turn.options)) + ["", "I think it is a dog maybe", "Z"]
            for answer in answers:
                child = state.fork()
                child.answer(answer)
                answers_tried += 1
                assert "error" not in child.stats, (acronym, entry["id"], turn.index, answer, child.stats["error"])
    for answer in entry["categories"] + ["A", "garbage"]:
        episode = new_episode(acronym, entry, data_dir, reference=True)
        episode.answer(answer)
        assert episode.done and "error" not in episode.stats
    return answers_tried


@pytest.mark.parametrize("acronym", ACRONYMS)
def test_every_generated_entry_plays_under_any_answer(nine, acronym):
    entries = load_test_set(acronym, nine)
    assert len(entries) == 9
    assert sum(_assert_plays_cleanly(acronym, entry, nine) for entry in entries) > 9 * 10


@pytest.mark.parametrize("acronym", ACRONYMS)
def test_following_requests_reveals_the_answer(nine, acronym):
    """The intervention helps: the oracle path ends in a correct answer on a different view."""
    for entry in load_test_set(acronym, nine):
        episode = new_episode(acronym, entry, nine)
        first = last = episode.observe()
        while not episode.done:
            last = episode.observe()
            episode.answer(oracle_answer(episode))
        assert episode.stats["correct_prediction"], (acronym, entry["id"], episode.stats)
        assert episode.stats["num_turns"] >= 2
        if acronym == "COCO":
            assert first.crop != last.crop
        else:
            with Image.open(first.image_path) as a, Image.open(last.image_path) as b:
                difference = np.asarray(ImageChops.difference(a.convert("RGB"), b.convert("RGB")), dtype=float)
            assert difference.mean() > 2.0, (acronym, entry["id"])


def test_coco_crops_stay_inside_the_image(nine):
    for entry in load_test_set("COCO", nine):
        with Image.open(nine / entry["image_template"]) as image:
            width, height = image.size
        boxes = [state.observe().crop for state in reachable_episodes(new_episode("COCO", entry, nine))]
        assert len(boxes) > 1
        for left, top, right, bottom in boxes:
            assert 0 <= left < right <= width and 0 <= top < bottom <= height, (entry["direction"], boxes)


# -- determinism and the embedded copy ------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(tmp_path):
    generate(tmp_path / "a", per_scenario=2, seed=11, zip_archives=True)
    generate(tmp_path / "b", per_scenario=2, seed=11, zip_archives=True)
    generate(tmp_path / "c", per_scenario=2, seed=12)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert first == second
    third = _files(tmp_path / "c")
    assert first["coco2014_preprocessed.jsonl"] != third["coco2014_preprocessed.jsonl"]


def test_zip_archives_mirror_the_hub_layout(nine):
    with zipfile.ZipFile(nine / "coco2014.zip") as bundle:
        names = bundle.namelist()
        assert names and all(name.startswith("coco2014/") for name in names)
        assert bundle.testzip() is None
        assert {info.date_time for info in bundle.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert sorted(names) == sorted(p.relative_to(nine).as_posix() for p in (nine / "coco2014").rglob("*") if p.is_file())


def test_generate_refuses_to_overwrite_without_force(tmp_path):
    generate(tmp_path, per_scenario=1, scenarios=["QD"])
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="force"):
        generate(tmp_path, per_scenario=1, scenarios=["QD"])
    generate(tmp_path, per_scenario=1, scenarios=["QD"], force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine", "force removes only what synth writes"
    assert all(path.parent == tmp_path for path in owned_paths(tmp_path))


def test_cli_writes_the_set(tmp_path, capsys):
    assert main([str(tmp_path / "out"), "--per-scenario", "1", "--seed", "5", "--zip"]) == 0
    assert "7 test samples" in capsys.readouterr().out
    assert (tmp_path / "out" / "ChangeIt.zip").is_file()
    assert main([str(tmp_path / "out")]) == 2


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_embedded_set_equals_a_fresh_generation(tmp_path):
    """The shipped copy cannot rot: regenerate it with the documented arguments and compare."""
    generate(tmp_path, **EMBEDDED_ARGS)
    shipped, fresh = _files(embedded_data_dir()), _files(tmp_path)
    assert sorted(shipped) == sorted(fresh), ("regenerate: python -m proactivebench_ext synth proactivebench_ext/resources/embedded "
                                              "--per-scenario 4 --seed 0 --force")
    for name, data in fresh.items():
        if data == shipped[name]:
            continue
        # Only a different libjpeg/zlib may change encoded bytes; the pixels must still agree.
        assert Path(name).suffix.lower() in IMAGE_SUFFIXES, f"{name} differs from a fresh generation"
        assert np.abs(_pixels(data) - _pixels(shipped[name])).mean() < 1.0, name


def test_embedded_set_is_small_and_plays(tmp_path):
    root = embedded_data_dir()
    assert sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) < 2_000_000
    for acronym in ACRONYMS:
        entries = load_test_set(acronym, root)
        assert len(entries) == EMBEDDED_ARGS["per_scenario"]
        for entry in entries:
            _assert_plays_cleanly(acronym, entry, root)
