"""Hub download against a fake Hugging Face hub on a loopback port (no network is touched).

The fake (tests/fake_hub.py) lists the ``test/`` folder and serves its files as the hub does, from
a synthetic set's JSONL files and zip archives, and records every request, so the tests see exactly
what the real client listed and fetched. Archive names are varied: nothing may depend on them.
"""

from __future__ import annotations

import io
import socket
import struct
import warnings
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


@pytest.fixture(autouse=True)
def online(monkeypatch):
    """The fake hub is reachable whatever the shell says (HF_HUB_OFFLINE=1 is common on offline boxes)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


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


# -- archive names are discovered, never guessed ---------------------------------------------------
def _members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        return {info.filename: bundle.read(info) for info in bundle.infolist()}


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _jsonls(released: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in released.items() if name.endswith(".jsonl")}


def _members_of(released: dict[str, bytes], *datasets: str) -> dict[str, bytes]:
    return {name: data for dataset in datasets for name, data in _members(released[f"test/{dataset}.zip"]).items()}


@pytest.mark.parametrize("pattern", ["{dataset}-images.zip", "{dataset}_test_v2.zip", "{lower}.ZIP"])
def test_archives_named_after_their_folder_are_found_by_listing(released, dirs, pattern):
    renamed = {f"test/{pattern.format(dataset=d, lower=d.lower())}": released[f"test/{d}.zip"]
               for d in load_benchmark().datasets}
    server = FakeHub({**_jsonls(released), **renamed})
    try:
        data_dir = hub.download_test_data(["ROD", "QD"], endpoint=server.endpoint, progress=False, **dirs)
        wanted = {f"test/{pattern.format(dataset=d, lower=d.lower())}" for d in ("Realistic-Occlusion-Dataset", "QuickDraw")}
        assert {name for name in server.gets() if not name.endswith(".jsonl")} == wanted, "only the two archives"
        assert server.lists() == ["test"]
        assert all(not report.problems for report in check_data_dir(data_dir, ["ROD", "QD"]))
    finally:
        server.close()


def test_opaque_archive_names_fetch_every_archive_and_extract_what_the_jsonl_needs(released, dirs):
    """`images_1.zip` holds three datasets' folders, `images_2.zip` the rest: nothing in a name helps."""
    first = ("Realistic-Occlusion-Dataset", "QuickDraw", "coco2014")
    rest = [d for d in load_benchmark().datasets if d not in first]
    server = FakeHub({**_jsonls(released), "test/images_1.zip": _zip(_members_of(released, *first)),
                     "test/images_2.zip": _zip(_members_of(released, *rest))})
    try:
        data_dir = hub.download_test_data(["QD", "CIT"], endpoint=server.endpoint, progress=False, **dirs)
        assert sorted(n for n in server.gets() if n.endswith(".zip")) == ["test/images_1.zip", "test/images_2.zip"]
        assert sorted(p.name for p in data_dir.iterdir() if p.is_dir()) == ["ChangeIt", "QuickDraw"], "only needed folders"
        assert all(not report.problems for report in check_data_dir(data_dir, ["QD", "CIT"]))
        before = len(server.gets())
        assert hub.download_test_data(["ROD"], endpoint=server.endpoint, progress=False, **dirs) == data_dir
        assert len(server.gets()) == before + 1, "the ROD JSONL only: both archives are in the HF cache"
        assert server.lists() == ["test"], "a commit's listing is asked once"
        assert load_test_set("ROD", data_dir)
    finally:
        server.close()


def test_a_dataset_split_over_two_archives_and_a_flat_archive(released, dirs):
    coco = _members(released["test/coco2014.zip"])
    names = sorted(coco)
    half = len(names) // 2
    quickdraw_flat = {name.split("/", 1)[1]: data for name, data in _members(released["test/QuickDraw.zip"]).items()}
    server = FakeHub({**_jsonls(released),
                     "test/coco2014_part1.zip": _zip({n: coco[n] for n in names[:half]}),
                     "test/coco2014_part2.zip": _zip({n: coco[n] for n in names[half:]}),
                     "test/QuickDraw.zip": _zip(quickdraw_flat)})
    try:
        data_dir = hub.download_test_data(["COCO", "QD"], endpoint=server.endpoint, progress=False, **dirs)
        assert all(not report.problems for report in check_data_dir(data_dir, ["COCO", "QD"]))
    finally:
        server.close()


def test_a_file_in_two_archives_of_one_dataset_is_a_clash(released, dirs):
    coco = _members(released["test/coco2014.zip"])
    server = FakeHub({**_jsonls(released), "test/coco2014_a.zip": _zip(coco),
                     "test/coco2014_b.zip": _zip(coco, zipfile.ZIP_STORED)})
    try:
        with pytest.raises(hub.ArchiveError, match="coco2014_b.zip: coco2014/.* already extracted from another archive"):
            hub.download_test_data(["COCO"], endpoint=server.endpoint, progress=False, **dirs)
        assert server.gets().count("test/coco2014_b.zip") == 1, "a clash is not damage: no second download"
    finally:
        server.close()


def test_missing_folder_and_missing_archives_say_what_the_hub_holds(released, tmp_path):
    cases = [({"test/other.zip": _zip({"Something/a.txt": b"x"})}, "need the folder.*QuickDraw.*archives: other.zip.*hf download"),
             ({}, r"a \.zip archive of test/ \(needed for QuickDraw\) is not in .*QuickDraw_preprocessed.jsonl")]
    for number, (archives, problem) in enumerate(cases):
        server = FakeHub({**_jsonls(released), **archives})
        try:
            with pytest.raises(DataError, match=problem):
                hub.download_test_data(["QD"], endpoint=server.endpoint, progress=False, cache_dir=tmp_path / f"{number}/hub",
                                       extract_root=tmp_path / f"{number}/extracted")
        finally:
            server.close()


def test_choosing_archives_by_name():
    folders = frozenset({"coco2014"})
    assert hub.choose_archives(folders, ["coco2014.zip", "QuickDraw.zip"]) == ["coco2014.zip"]
    assert hub.choose_archives(folders, ["COCO-2014_part2.zip", "coco2014_part1.zip", "x.zip"]) == \
        ["COCO-2014_part2.zip", "coco2014_part1.zip"]
    assert hub.choose_archives(folders, ["b.zip", "a.zip", "notes.txt"]) == ["a.zip", "b.zip"], "no name helps: all"
    # the most specific folder wins a name both could claim
    assert hub.archives_named_for({"MVP", "MVP-N"}, ["MVP-N.zip", "MVP.zip"]) == {"MVP-N.zip": "MVP-N", "MVP.zip": "MVP"}


# -- bounded resources: limits are checked before anything is written ----------------------------------
def zip_bomb(path: Path, name: str, expanded: int) -> Path:
    """A zip whose one member is ``expanded`` zero bytes, deflated about 1000:1, written without
    ever holding or compressing the expanded data (identical deflate blocks are repeated)."""
    chunk = bytes(MiB)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = block.compress(chunk) + block.flush(zlib.Z_FULL_FLUSH)
    assert expanded % MiB == 0
    data = block * (expanded // MiB) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(expanded // MiB):
        crc = zlib.crc32(chunk, crc)
    encoded = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), expanded, len(encoded), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(data), expanded,
                          len(encoded), 0, 0, 0, 0, 0o644 << 16, 0)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(encoded), len(local) + len(encoded) + len(data), 0)
    path.write_bytes(local + encoded + data + central + encoded + end)
    return path


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_a_2_mb_archive_expanding_to_2_gib_is_refused_before_writing(released, dirs, tmp_path):
    bomb = zip_bomb(tmp_path / "bomb.zip", "QuickDraw/star/0000000000/stroke_0.png", 2 * GiB)
    assert bomb.stat().st_size < 3 * MiB
    with zipfile.ZipFile(bomb) as bundle:  # a valid archive: its first megabytes read back as zeros
        with bundle.open(bundle.infolist()[0]) as member:
            assert member.read(3 * MiB) == bytes(3 * MiB)
    server = FakeHub({**released, "test/QuickDraw.zip": bomb.read_bytes()})
    try:
        with pytest.raises(hub.ArchiveError) as caught:
            hub.download_test_data(["QD"], endpoint=server.endpoint, progress=False, **dirs)
        message = str(caught.value)
        assert "QuickDraw.zip" in message and "2.0 GiB" in message and "ratio limit of 100" in message
        assert hub.MAX_RATIO_ENV in message
        assert not isinstance(caught.value, hub.ArchiveDamaged)
        assert server.gets().count("test/QuickDraw.zip") == 1, "a refused archive is not downloaded again"
        assert _tree_bytes(dirs["extract_root"]) < MiB, "nothing of it was extracted"
        assert not list((dirs["extract_root"] / COMMIT / "test").glob(".QuickDraw.complete"))
    finally:
        server.close()


def test_each_limit_names_itself_and_its_variable(tmp_path):
    archive = tmp_path / "small.zip"
    archive.write_bytes(_zip({f"Folder/{i}.txt": b"0" * 1000 for i in range(5)}))
    cases = [(hub.ArchiveLimits(max_members=4), "5 members, over the limit of 4", hub.MAX_MEMBERS_ENV),
             (hub.ArchiveLimits(max_bytes=4000), "would expand to 4.9 KiB, over the limit of 3.9 KiB", hub.MAX_BYTES_ENV)]
    for limits, text, variable in cases:
        with pytest.raises(hub.ArchiveError, match=f"small.zip.*{text}.*{variable}"):
            hub.extract_archive(archive, tmp_path / "dest", progress=False, limits=limits)
        assert not (tmp_path / "dest").exists()
    assert hub.extract_archive(archive, tmp_path / "dest", progress=False, limits=hub.ArchiveLimits()) == 5000
    env = {hub.MAX_BYTES_ENV: "1e9", hub.MAX_RATIO_ENV: "20", hub.MAX_MEMBERS_ENV: "10"}
    assert hub.ArchiveLimits.from_env(env) == hub.ArchiveLimits(max_bytes=10**9, max_ratio=20.0, max_members=10)
    for bad in ("lots", "0", "-5", "inf", "nan"):
        with pytest.raises(DataError, match=f"{hub.MAX_RATIO_ENV}='{bad}' is not a positive number"):
            hub.ArchiveLimits.from_env({hub.MAX_RATIO_ENV: bad})


def test_a_header_that_understates_a_member_bounds_what_is_written(tmp_path):
    """Declared sizes bound the output: a member declaring 1 MiB of its 64 MiB stream yields 1 MiB."""
    bomb = zip_bomb(tmp_path / "liar.zip", "Folder/x.bin", 64 * MiB)
    data = bytearray(bomb.read_bytes())
    crc = zlib.crc32(bytes(MiB))
    for offset in (14, data.rindex(b"PK\x01\x02") + 16):  # local and central headers: CRC, then the sizes
        struct.pack_into("<I", data, offset, crc)
        struct.pack_into("<I", data, offset + 8, MiB)
    bomb.write_bytes(bytes(data))
    assert hub.extract_archive(bomb, tmp_path / "dest", progress=False) == MiB
    assert (tmp_path / "dest" / "Folder" / "x.bin").stat().st_size == MiB


def _patched(data: bytes, field_offset: int, fmt: str, value: int) -> bytes:
    """Set one field in the local and the central header of a one-member zip."""
    out = bytearray(data)
    struct.pack_into(fmt, out, field_offset, value)
    struct.pack_into(fmt, out, out.rindex(b"PK\x01\x02") + field_offset + 2, value)
    return bytes(out)


@pytest.mark.parametrize("members, problem", [
    ([("A/x.txt", b"1"), ("A/x.txt", b"2")], "holds A/x.txt twice"),
    ([("A/x", b"1"), ("A/x/y.txt", b"2")], "holds A/x both as a file and as a folder"),
    ([("/etc/passwd", b"1")], "unsafe path"),
    ([("A/../../x", b"1")], "unsafe path"),
])
def test_name_clashes_and_unsafe_paths_are_refused(tmp_path, members, problem):
    archive = tmp_path / "bad.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(archive, "w") as bundle:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is asked to write
        for name, data in members:
            bundle.writestr(name, data)
    with pytest.raises(hub.ArchiveError, match=f"bad.zip.*{problem}"):
        hub.extract_archive(archive, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest").exists()


def test_encrypted_unsupported_and_damaged_archives_are_archive_errors(tmp_path):
    plain = _zip({"A/x.txt": b"hello " * 100})
    cases = {
        "encrypted": (_patched(plain, 6, "<H", 0x1), "is encrypted", hub.ArchiveError),
        "method": (_patched(plain, 8, "<H", 99), "compression method 99", hub.ArchiveError),
        "deflate": (plain[:40] + b"\xff" * 8 + plain[48:], "is damaged", hub.ArchiveDamaged),
        "truncated": (plain[: len(plain) // 2], "is damaged or not a zip", hub.ArchiveDamaged),
        "html": (b"<html>rate limited</html>", "is damaged or not a zip", hub.ArchiveDamaged),
    }
    for label, (data, problem, kind) in cases.items():
        archive = tmp_path / f"{label}.zip"
        archive.write_bytes(data)
        with pytest.raises(kind, match=f"{label}.zip.*{problem}"):
            hub.extract_archive(archive, tmp_path / label, progress=False)


def test_stale_partial_folders_go_only_with_the_lock_held(fake_hub, dirs):
    """A leftover partial folder (a killed run's) is removed by the next install, which holds the lock."""
    root = dirs["extract_root"] / COMMIT / "test"
    stale = root / ".partial-QuickDraw-999999"
    (stale / "QuickDraw").mkdir(parents=True)
    (stale / "QuickDraw" / "half.png").write_bytes(b"x")
    (root / ".partial-QuickDraw-link").symlink_to(dirs["extract_root"], target_is_directory=True)
    data_dir = _download(fake_hub, dirs, ["QD"])
    assert not stale.exists() and not (root / ".partial-QuickDraw-link").exists()
    assert dirs["extract_root"].is_dir(), "a link is removed, never followed"
    assert not list(data_dir.glob(".partial-*"))
    assert (dirs["extract_root"] / hub.LOCK_FOLDER / "QuickDraw.lock").exists()
