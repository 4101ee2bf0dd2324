"""Loader, data-directory resolution and per-turn image loading."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from proactivebench_ext import new_episode
from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.data.images import load_turn_image, resize_short_edge
from proactivebench_ext.data.layout import (
    DATA_DIR_ENV,
    DOWNLOAD_ENV,
    DataError,
    DataNotFoundError,
    embedded_data_dir,
    jsonl_path,
    load_test_set,
    resolve_data_dir,
)
from proactivebench_ext.data.synth import generate, plan

ACRONYMS = list(load_benchmark().datasets.values())


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate(out, per_scenario=5, seed=1)
    return out


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(DOWNLOAD_ENV, raising=False)


# -- load_test_set -------------------------------------------------------------------------------


@pytest.mark.parametrize("acronym", ACRONYMS)
def test_loader_returns_exactly_the_filtered_ids_in_file_order(generated, acronym):
    layout = plan(acronym, 5)
    rows = [json.loads(line) for line in jsonl_path(acronym, generated).read_text("utf-8").splitlines()]
    assert len(rows) > len(layout.test_ids), "the file holds non-test (and, for VSOD, dropped) rows too"
    entries = load_test_set(acronym, generated)
    assert [entry["id"] for entry in entries] == list(layout.test_ids)
    assert [entry["id"] for entry in load_test_set(layout.dataset, generated)] == list(layout.test_ids)


def test_vsod_rows_without_strong_occlusions_are_dropped_even_with_test_ids(generated):
    layout = plan("VSOD", 5)
    assert layout.dropped_ids and set(layout.dropped_ids) <= set(load_benchmark().filter_ids[layout.dataset])
    ids = [entry["id"] for entry in load_test_set("VSOD", generated)]
    assert not set(ids) & set(layout.dropped_ids)
    assert all(entry["strong_occlusions"] is True for entry in load_test_set("VSOD", generated))


def test_full_files_give_the_published_test_set_sizes(tmp_path):
    """Rows for every filter id, plus extra ids and dropped rows, yield the 7,557 samples."""
    bench = load_benchmark()
    for dataset, ids in bench.filter_ids.items():
        rows = [{"id": i} for i in range(max(ids) + 50)]
        if dataset == "OcclusionDataSet-MM20":
            rows = [{**row, "strong_occlusions": row["id"] % 3 != 0 or row["id"] in ids} for row in rows]
            rows += [{"id": ids[0], "strong_occlusions": False}]  # a test id on a row that must go
        (tmp_path / bench.jsonl_name.format(dataset=dataset)).write_text("".join(json.dumps(r) + "\n" for r in rows))
    sizes = {dataset: len(load_test_set(dataset, tmp_path)) for dataset in bench.datasets}
    assert sizes == dict(bench.test_set_sizes)
    assert sum(sizes.values()) == 7557
    assert [e["id"] for e in load_test_set("ROD", tmp_path)] == list(bench.filter_ids["Realistic-Occlusion-Dataset"])


def test_missing_directory_and_file_errors_say_how_to_fix(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist.*PROACTIVEBENCH_DATA_DIR"):
        load_test_set("ROD", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"Realistic-Occlusion-Dataset_preprocessed\.jsonl not found.*PROACTIVEBENCH_DATA_DIR"):
        load_test_set("ROD", tmp_path)
    with pytest.raises(ValueError):  # DataError is a ValueError too
        load_test_set("ROD", tmp_path)


def test_malformed_rows_name_file_and_line(tmp_path):
    path = jsonl_path("QD", tmp_path)
    path.write_text('{"id": 0}\n\n{"id": 2\n')
    with pytest.raises(DataError, match=r"QuickDraw_preprocessed\.jsonl:3: not valid JSON.*check-data"):
        load_test_set("QD", tmp_path)
    path.write_text('{"id": 0}\n{"prompt": "no id"}\n')
    with pytest.raises(DataError, match=r":2: row has no 'id'"):
        load_test_set("QD", tmp_path)
    path.write_text('[1, 2]\n')
    with pytest.raises(DataError, match="expected a JSON object"):
        load_test_set("QD", tmp_path)


def test_unknown_scenario_lists_the_known_ones(generated):
    with pytest.raises(KeyError, match="ROD.*Realistic-Occlusion-Dataset"):
        load_test_set("ImageNet", generated)


# -- resolve_data_dir ----------------------------------------------------------------------------


def test_resolution_order(tmp_path, monkeypatch):
    explicit, from_env = tmp_path / "explicit", tmp_path / "env"
    explicit.mkdir(), from_env.mkdir()
    assert resolve_data_dir() == embedded_data_dir()
    monkeypatch.setenv(DATA_DIR_ENV, str(from_env))
    assert resolve_data_dir() == from_env
    assert resolve_data_dir(explicit) == explicit
    assert resolve_data_dir(explicit, download=True) == explicit, "a local copy beats downloading"


def test_download_is_used_only_when_asked(tmp_path, monkeypatch):
    calls = []

    def fake_download(scenarios=None):
        calls.append(list(scenarios) if scenarios else None)
        return tmp_path

    monkeypatch.setattr("proactivebench_ext.data.layout.download_test_data", fake_download)
    assert resolve_data_dir(scenarios=["ROD"]) == embedded_data_dir() and calls == []
    assert resolve_data_dir(scenarios=["ROD"], download=True) == tmp_path and calls == [["ROD"]]
    monkeypatch.setenv(DOWNLOAD_ENV, "1")
    assert resolve_data_dir() == tmp_path and calls[-1] is None


def test_bad_locations_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="data_dir argument points at .*missing"):
        resolve_data_dir(tmp_path / "missing")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "gone"))
    with pytest.raises(DataNotFoundError, match=f"{DATA_DIR_ENV} points at .*gone.*not a directory"):
        resolve_data_dir()


def test_dataset_root_with_a_test_folder_is_refused_with_the_folder_to_use(tmp_path, generated):
    (tmp_path / "test").symlink_to(generated, target_is_directory=True)  # one data-folder rule: data_folder()
    with pytest.raises(DataNotFoundError, match=f"use {tmp_path / 'test'}"):
        resolve_data_dir(tmp_path)
    assert load_test_set("ROD", resolve_data_dir(tmp_path / "test"))


def test_embedded_set_is_the_default_and_loads():
    root = resolve_data_dir()
    assert root == embedded_data_dir() and root.is_dir()
    assert all(load_test_set(acronym, root) for acronym in ACRONYMS)


# -- images --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeTurn:
    image_path: str
    crop: tuple[float, float, float, float] | None = None


def _reference_resize(image: Image.Image, short_edge: int) -> Image.Image:
    width, height = image.size
    scale = short_edge / min(image.size)
    return image.resize((int(width * scale), int(height * scale)))


def test_resize_short_edge_matches_the_reference(tmp_path):
    image = Image.effect_mandelbrot((173, 97), (-2, -1.2, 1, 1.2), 40).convert("RGB")
    for short_edge in (224, 64, 97):
        resized = resize_short_edge(image, short_edge)
        assert short_edge - 1 <= min(resized.size) <= short_edge  # int() truncates, as in the reference
        assert np.array_equal(np.asarray(resized), np.asarray(_reference_resize(image, short_edge)))
    with pytest.raises(ValueError):
        resize_short_edge(image, 0)


def test_load_turn_image_crops_then_resizes(tmp_path):
    path = tmp_path / "photo.png"
    Image.effect_mandelbrot((160, 120), (-2, -1.2, 1, 1.2), 40).convert("L").save(path)
    plain = load_turn_image(FakeTurn(str(path)))
    assert plain.mode == "RGB" and plain.size == (160, 120)
    box = (10.0, 20.5, 90, 70.25)
    cropped = load_turn_image(FakeTurn(str(path), box))
    with Image.open(path) as original:
        expected = original.convert("RGB").crop(box)
    assert np.array_equal(np.asarray(cropped), np.asarray(expected))
    small = load_turn_image(FakeTurn(str(path), box), short_edge=32)
    assert np.array_equal(np.asarray(small), np.asarray(_reference_resize(expected, 32)))


def test_load_turn_image_on_engine_turns():
    root = embedded_data_dir()
    entry = load_test_set("COCO", root)[0]
    turn = new_episode("COCO", entry, root).observe()
    left, top, right, bottom = turn.crop
    assert load_turn_image(turn).size == (round(right) - round(left), round(bottom) - round(top))
    reference = new_episode("COCO", entry, root, reference=True).observe()
    with Image.open(reference.image_path) as full:
        assert load_turn_image(reference).size == full.size


def test_load_turn_image_errors(tmp_path):
    with pytest.raises(DataNotFoundError, match="missing.png not found.*check-data"):
        load_turn_image(FakeTurn(str(tmp_path / "missing.png")))
    broken = tmp_path / "broken.jpg"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(broken, "JPEG")
    broken.write_bytes(broken.read_bytes()[:300])
    with pytest.raises(DataError, match="broken.jpg cannot be decoded"):
        load_turn_image(FakeTurn(str(broken)))


@pytest.mark.parametrize("box", [(40, 10, 20, 50), (40, 10, 40, 50), (40.6, 10, 41.4, 50), (0, 30, 50, 30)])
def test_a_crop_box_without_a_pixel_is_an_image_error(tmp_path, box):
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 64)).save(path)
    with pytest.raises(DataError, match=r"holds no pixel.*crop"):
        load_turn_image(FakeTurn(str(path), box))
