"""Hub download against a fake Hugging Face hub on a loopback port (no network is touched).

The fake (tests/fake_hub.py) lists the ``test/`` folder and serves its files as the hub does, from
a synthetic set's JSONL files and zip archives, and records every request, so the tests see exactly
what the real client listed and fetched. Archive names are varied: nothing may depend on them.
"""

from __future__ import annotations

import io
import socket
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.data import hub
from proactivebench_ext.data.checkdata import check_data_dir
from proactivebench_ext.data.errors import DataError
from proactivebench_ext.data.layout import DATA_DIR_ENV, DOWNLOAD_ENV, load_test_set, resolve_data_dir
from proactivebench_ext.data.synth import generate

from ..fake_hub import COMMIT, FakeHub, folder_files

MiB, GiB = 1 << 20, 1 << 30


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict[str, bytes]:
    """A synthetic set laid out as the hub's test/ folder: JSONLs and archives only."""
    out = tmp_path_factory.mktemp("released")
    generate(out, per_scenario=3, seed=4, zip_archives=True)
    return folder_files(out, hub.TEST_FOLDER)  # <Dataset>_preprocessed.jsonl and <Dataset>.zip


@pytest.fixture
def fake_hub(released):
    server = FakeHub(released)
    yield server
    server.close()


@pytest.fixture
def dirs(tmp_path, monkeypatch) -> dict[str, Path]:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(DOWNLOAD_ENV, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", _closed_port_endpoint())  # a stray request can never leave the machine
    return {"cache_dir": tmp_path / "hub", "extract_root": tmp_path / "extracted"}


def _download(fake_hub, dirs, scenarios, **kwargs) -> Path:
    return hub.download_test_data(scenarios, endpoint=fake_hub.endpoint, progress=False, **dirs, **kwargs)


def _count_extractions(monkeypatch) -> list[str]:
    extracted: list[str] = []
    original = hub._extract_member

    def counting(bundle, info, target):
        extracted.append(info.filename)
        return original(bundle, info, target)

    monkeypatch.setattr(hub, "_extract_member", counting)
    return extracted


def test_fetches_only_the_requested_scenarios(fake_hub, dirs):
    data_dir = _download(fake_hub, dirs, ["ROD", "QuickDraw"])
    assert sorted(fake_hub.gets()) == sorted([
        "test/Realistic-Occlusion-Dataset_preprocessed.jsonl", "test/Realistic-Occlusion-Dataset.zip",
        "test/QuickDraw_preprocessed.jsonl", "test/QuickDraw.zip",
    ])
    assert data_dir == dirs["extract_root"] / COMMIT / "test"
    assert sorted(p.name for p in data_dir.iterdir() if not p.name.startswith(".")) == sorted([
        "QuickDraw", "QuickDraw_preprocessed.jsonl", "Realistic-Occlusion-Dataset", "Realistic-Occlusion-Dataset_preprocessed.jsonl",
    ])
    assert [e["id"] for e in load_test_set("ROD", data_dir)] == [0, 1, 2]
    assert all(not report.problems for report in check_data_dir(data_dir, ["ROD", "QD"]))


def test_second_run_downloads_and_extracts_nothing(fake_hub, dirs, monkeypatch):
    first = _download(fake_hub, dirs, ["COCO"])
    gets_before = len(fake_hub.gets())
    extracted = _count_extractions(monkeypatch)
    assert _download(fake_hub, dirs, ["COCO"]) == first
    assert len(fake_hub.gets()) == gets_before, "files are served from the HF cache"
    assert extracted == [], "the completion marker says the archive is already extracted"


def test_more_scenarios_later_fetch_only_the_new_ones(fake_hub, dirs):
    _download(fake_hub, dirs, ["ROD"])
    before = len(fake_hub.gets())
    data_dir = _download(fake_hub, dirs, ["ROD", "CIT"])
    assert sorted(fake_hub.gets()[before:]) == ["test/ChangeIt.zip", "test/ChangeIt_preprocessed.jsonl"]
    assert load_test_set("CIT", data_dir) and load_test_set("ROD", data_dir)


def test_resumes_after_a_crash_mid_extraction(fake_hub, dirs, monkeypatch):
    original, calls = hub._extract_member, []

    def crashing(bundle, info, target):
        calls.append(info.filename)
        if len(calls) == 4:
            raise KeyboardInterrupt("simulated crash")
        return original(bundle, info, target)

    monkeypatch.setattr(hub, "_extract_member", crashing)
    with pytest.raises(KeyboardInterrupt):
        _download(fake_hub, dirs, ["VSOD"])
    root = dirs["extract_root"] / COMMIT / "test"
    assert not (root / ".OcclusionDataSet-MM20.complete").exists()
    assert not (root / "OcclusionDataSet-MM20").exists(), "nothing half-extracted looks finished"
    assert list(root.glob(".partial-*")), "the interrupted extraction stays in its temporary folder"
    gets_before = len(fake_hub.gets())

    extracted = _count_extractions(monkeypatch)
    data_dir = _download(fake_hub, dirs, ["VSOD"])
    with zipfile.ZipFile(dirs_archive := next(dirs["cache_dir"].rglob("OcclusionDataSet-MM20.zip"))) as bundle:
        assert sorted(extracted) == sorted(bundle.namelist())
    assert dirs_archive.is_file() and len(fake_hub.gets()) == gets_before, "the archive is not downloaded again"
    assert not list(root.glob(".partial-*"))
    assert (root / ".OcclusionDataSet-MM20.complete").is_file()
    assert all(not report.problems for report in check_data_dir(data_dir, ["VSOD"]))


def test_damaged_archive_is_downloaded_again_then_reported(released, dirs):
    good = released["test/QuickDraw.zip"]
    offset = good.index(b"\x89PNG") + 200  # inside the first member's data: its CRC no longer matches
    damaged = good[:offset] + bytes([good[offset] ^ 0xFF]) + good[offset + 1:]
    server = FakeHub({**released, "test/QuickDraw.zip": damaged})
    try:
        with pytest.raises(hub.ArchiveError, match="QuickDraw.zip is damaged.*hf download"):
            hub.download_test_data(["QD"], endpoint=server.endpoint, progress=False, **dirs)
        assert server.gets().count("test/QuickDraw.zip") == 2, "one fresh download before giving up"
        root = dirs["extract_root"] / COMMIT / "test"
        assert not (root / ".QuickDraw.complete").exists()
    finally:
        server.close()


def test_works_offline_once_downloaded(fake_hub, dirs, monkeypatch):
    first = _download(fake_hub, dirs, ["MVP-N"])
    fake_hub.close()
    extracted = _count_extractions(monkeypatch)
    assert _download(fake_hub, dirs, ["MVP-N"]) == first
    assert extracted == []


def _closed_port_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_no_network_and_no_copy_is_one_clear_error(dirs, monkeypatch):
    monkeypatch.setattr("huggingface_hub.utils._http.time.sleep", lambda seconds: None)  # skip the client's backoff
    with pytest.raises(DataError, match="could not download test/.*PROACTIVEBENCH_DATA_DIR") as caught:
        hub.download_test_data(["ROD"], endpoint=_closed_port_endpoint(), progress=False, **dirs)
    assert "hf download tdemin16/ProactiveBench" in str(caught.value)


def test_offline_mode_uses_the_cache_or_says_what_to_do(fake_hub, dirs, monkeypatch):
    from huggingface_hub import constants

    first = _download(fake_hub, dirs, ["CIT"])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    before = len(fake_hub.requests)
    assert _download(fake_hub, dirs, ["CIT"]) == first
    with pytest.raises(DataError, match="could not download test/coco2014.*PROACTIVEBENCH_DATA_DIR"):
        _download(fake_hub, dirs, ["COCO"])
    assert len(fake_hub.requests) == before, "offline mode sends no request at all"


def test_resolve_data_dir_downloads_when_asked(fake_hub, tmp_path, monkeypatch, dirs):
    """The default cache location and endpoint are the hub client's own settings."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "home" / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    data_dir = resolve_data_dir(scenarios=["IN-C"], download=True)
    assert data_dir == (tmp_path / "home" / "proactivebench_ext" / COMMIT / "test").resolve()
    assert load_test_set("IN-C", data_dir)
    monkeypatch.setenv(DOWNLOAD_ENV, "1")
    assert resolve_data_dir(scenarios=["IN-C"]) == data_dir
    assert fake_hub.gets().count("test/ImageNet-C.zip") == 1


def test_unsafe_archive_paths_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../outside.txt", "x")
    with pytest.raises(hub.ArchiveError, match="unsafe path"):
        hub.extract_archive(archive, tmp_path / "dest", progress=False)
    assert not (tmp_path / "outside.txt").exists()
