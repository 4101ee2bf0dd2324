"""Data faults (issue 13): one bad row or image is one errored episode, named by file, row and
reason; check-data lists each as one line and never raises.

The hostile inputs live here (``damage``, ``ROW_FAULTS``, ``IMAGE_FAULTS``) and are reused by the
real lmms-eval runs of tests/integration/test_fault_isolation.py.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from PIL import Image, ImageFile

from proactivebench_ext.core.engine import new_episode
from proactivebench_ext.data import layout
from proactivebench_ext.data.checkdata import main as check_data
from proactivebench_ext.data.images import ImageError, MissingImageError, load_turn_image
from proactivebench_ext.data.layout import is_test_row, iter_jsonl, jsonl_path, load_test_set
from proactivebench_ext.data.layout import test_ids as ids_of
from proactivebench_ext.data.synth import generate
from proactivebench_ext.data.validate import PIXELS_ENV, Fault, image_fault_reason, scan_test_set
from proactivebench_ext.lmms import faults, hooks, oeg_hooks


# -- the hostile inputs -----------------------------------------------------------------------------
def png_header(path: Path, width: int, height: int) -> None:
    """A PNG claiming ``width`` x ``height`` pixels in a few hundred bytes: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
                     + chunk(b"IEND", b""))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def link_out(path: Path) -> None:
    """Replace the image by a symlink to a copy outside the data folder."""
    outside = path.parents[1].parent / f"outside-{path.name}"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)


IMAGE_FAULTS: dict[str, Callable[[Path], None]] = {
    "0 bytes": lambda path: path.write_bytes(b""),
    "truncated": truncate,
    "text as image": lambda path: path.write_text("this is not an image\n"),
    "30000x30000 PNG": lambda path: png_header(path, 30000, 30000),
    "symlink out": link_out,
}
ROW_FAULTS: dict[str, Callable[[dict], object]] = {
    "missing field": lambda entry: entry.pop("prompt"),
    "num_images 0": lambda entry: entry.update(num_images=0),
    "num_images 1e9": lambda entry: entry.update(num_images=1_000_000_000),
    "huge format spec": lambda entry: entry.update(image_template="{image:>400000000}"),
    "parent dir": lambda entry: entry.update(image_template="../" + entry["image_template"]),
    "absolute path": lambda entry: entry.update(image_template="/etc/" + entry["image_template"]),
}
CIT_ROW_FAULTS: dict[str, Callable[[dict], object]] = {
    f"max_steps {value}": partial(lambda entry, value: entry.update(max_steps=value), value=value) for value in (0, -1, 1.5)}


def damage(data_dir: Path, acronym: str, row_faults: dict[str, Callable[[dict], object]], *,
           image_faults: dict[str, Callable[[Path], None]] | None = None, non_utf8: bool = False,
           later_turn: bool = False) -> dict[int, str]:
    """Break one test row per fault, in file order; returns {line: fault}.

    Image faults hit the row's first image; ``later_turn`` truncates both frames next to a row's
    first one, so whichever way the episode moves its second turn cannot be shown.
    """
    path = jsonl_path(acronym, data_dir)
    lines = path.read_bytes().splitlines()
    ids = ids_of(acronym)
    rows = iter([i for i, line in enumerate(lines) if is_test_row(json.loads(line), ids)])
    broken: dict[int, str] = {}
    for name, spoil in (image_faults or {}).items():
        index = next(rows)
        spoil(Path(new_episode(acronym, json.loads(lines[index]), data_dir).observe().image_path))
        broken[index + 1] = name
    if later_turn:
        index = next(rows)
        episode = new_episode(acronym, json.loads(lines[index]), data_dir)
        for option in episode.correct_now()[0]:
            twin = episode.fork()
            twin.answer(option)
            if not twin.done:
                truncate(Path(twin.observe().image_path))
        broken[index + 1] = "turn-2 image truncated"
    for name, change in row_faults.items():
        index = next(rows)
        entry = json.loads(lines[index])
        change(entry)
        lines[index] = json.dumps(entry).encode()
        broken[index + 1] = name
    if non_utf8:
        index = next(rows)
        lines[index] = lines[index].replace(b'"prompt": "', b'"prompt": "\xff', 1)
        broken[index + 1] = "non-UTF-8 byte"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return broken


def damaged_set(root: Path) -> tuple[Path, dict[int, str], dict[int, str]]:
    """A generated set whose ROD and CIT files hold every hostile input (QD stays healthy)."""
    data = root / "data"
    generate(data, per_scenario=16, seed=3, scenarios=["ROD", "CIT", "QD", "VSOD"])
    rod = damage(data, "ROD", ROW_FAULTS, image_faults=IMAGE_FAULTS, non_utf8=True, later_turn=True)
    cit = damage(data, "CIT", CIT_ROW_FAULTS)
    return data, rod, cit


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    return damaged_set(tmp_path_factory.mktemp("damaged"))


# -- reading JSONL ----------------------------------------------------------------------------------
def test_undecodable_and_oversized_lines_are_row_errors(tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"id": 1, "prompt": "ok"}\n\n{"id": 2, "prompt": "caf\xe9"}\n' + b'{"id": 3, "x": "' + b"y" * 7000
                     + b'"}\n[1, 2]\n{"id": 4, "n": ' + b"9" * 5000 + b"}\n" + b"[" * 100_000 + b"\n{\"id\": 5}")
    monkeypatch.setattr(layout, "MAX_LINE_BYTES", 6000)
    rows = list(iter_jsonl(path))
    assert [row.line for row in rows] == [1, 3, 4, 5, 6, 7, 8]  # blank line 2 skipped, numbering kept
    assert rows[0].entry == {"id": 1, "prompt": "ok"}
    assert rows[1].error == "not UTF-8 (byte 0xe9 at byte 25)" and rows[1].salvaged == {"id": 2, "prompt": "caf\ufffd"}
    assert rows[2].error == "line longer than 6,000 bytes"
    assert rows[3].error == "expected a JSON object, got list"
    assert rows[4].error.startswith("not valid JSON") and rows[4].salvaged == {"id": 4}
    assert rows[5].error.startswith("line longer")  # the 100,000 brackets, skipped in bounded reads
    assert rows[6].entry == {"id": 5}  # the last line needs no newline


def test_scan_keeps_every_test_row_with_its_fault(damaged):
    data, rod, _ = damaged
    rows = scan_test_set("ROD", data)
    faulty = {row.line: row.fault for row in rows if row.fault}
    # Image faults are not the loader's business: only the unreadable or unplayable rows are here.
    assert set(faulty) == {line for line, name in rod.items() if name in ROW_FAULTS or name == "non-UTF-8 byte"}
    assert all(fault.file == str(jsonl_path("ROD", data)) and fault.line == line for line, fault in faulty.items())
    assert len(rows) == 16


def test_scan_and_load_of_missing_empty_and_damaged_files(tmp_path):
    generate(tmp_path, per_scenario=3, seed=1, scenarios=["QD"])
    (missing,) = scan_test_set("ROD", tmp_path)
    assert missing.fault.reason.startswith("missing: no Realistic-Occlusion-Dataset_preprocessed.jsonl")
    path = jsonl_path("QD", tmp_path)
    text = path.read_text()
    path.write_text("")
    (empty,) = scan_test_set("QD", tmp_path)
    assert "no row belongs to the QD test set" in empty.fault.reason and "re-download" in empty.fault.fix
    # A damaged line whose id is readable and not a test id is not a test row, for the loader too.
    path.write_text(text + '{"id": 999999, "broken\n')
    assert [row.fault for row in scan_test_set("QD", tmp_path)] == [None] * 3
    assert len(load_test_set("QD", tmp_path)) == 3
    path.write_text('{"broken\n' + text)
    assert scan_test_set("QD", tmp_path)[0].fault.reason.startswith("not valid JSON")


# -- images ------------------------------------------------------------------------------------------
class Shown:
    def __init__(self, path: Path, crop=None):
        self.image_path, self.crop = str(path), crop


def test_image_loads_are_bounded_contained_and_strict(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    good = data / "good.png"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(good)
    assert load_turn_image(Shown(good), data_dir=data).size == (40, 30)

    bomb = data / "bomb.png"
    png_header(bomb, 30000, 30000)
    with pytest.raises(ImageError, match="over the pixel cap"):
        load_turn_image(Shown(bomb), data_dir=data)
    png_header(bomb, 9000, 9000)  # 81 MP: under PIL's own limit, over ours
    with pytest.raises(ImageError, match="9000x9000 = 81,000,000 pixels, over the cap of 40,000,000"):
        load_turn_image(Shown(bomb))
    monkeypatch.setenv(PIXELS_ENV, "100")
    with pytest.raises(ImageError, match="over the cap of 100"):
        load_turn_image(Shown(good))
    monkeypatch.delenv(PIXELS_ENV)

    with pytest.raises(ImageError, match="asks for|over the cap"):
        load_turn_image(Shown(good, crop=(0, 0, 100_000, 100_000)))

    outside = tmp_path / "outside.png"
    Image.new("RGB", (4, 4)).save(outside)
    (data / "link.png").symlink_to(outside)
    with pytest.raises(ImageError, match="leads outside the data folder"):
        load_turn_image(Shown(data / "link.png"), data_dir=data)
    assert load_turn_image(Shown(data / "link.png")).size == (4, 4)  # no data_dir: no containment asked
    assert "outside the data folder" in image_fault_reason(data / "link.png", data_dir=data)

    with pytest.raises(MissingImageError, match="not found"):
        load_turn_image(Shown(data / "nope.png"), data_dir=data)

    cut = data / "cut.jpg"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(cut, "JPEG")
    truncate(cut)
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # what importing lmms-eval does
    with pytest.raises(ImageError, match="(?i)truncated"):
        load_turn_image(Shown(cut))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "the process-wide setting is put back"


# -- check-data --------------------------------------------------------------------------------------
def test_check_data_names_each_hostile_input_on_one_line(damaged, capsys):
    data, rod, cit = damaged
    (data / "OcclusionDataSet-MM20_preprocessed.jsonl").write_text("")
    status = check_data([str(data), "--scenarios", "ROD,CIT,QD,VSOD", "--max-problems", "100"])
    out, err = capsys.readouterr()
    assert status == 1 and "Traceback" not in out + err
    problems = [line for line in out.splitlines() if line.startswith("[")]
    lines = {(line.split("]")[0][1:], int(line.split(".jsonl:")[1].split()[0].rstrip(":"))) for line in problems
             if ".jsonl:" in line and line.split(".jsonl:")[1][:1].isdigit()}
    assert lines == {("ROD", line) for line in rod} | {("CIT", line) for line in cit}
    assert len(problems) == len(rod) + 1 + len(cit) + 1  # the turn-2 row has two bad images; VSOD is empty
    expected = {"0 bytes": "cannot be decoded", "truncated": "truncated", "text as image": "cannot be decoded",
                "30000x30000 PNG": "over the pixel cap", "symlink out": "leads outside the data folder",
                "turn-2 image truncated": "truncated", "missing field": "field 'prompt': cannot be played: missing field",
                "num_images 0": "field 'num_images'", "num_images 1e9": "field 'num_images'",
                "huge format spec": "is not allowed", "parent dir": "'..' component", "absolute path": "is absolute",
                "non-UTF-8 byte": "not UTF-8", "max_steps 0": "field 'max_steps'", "max_steps -1": "field 'max_steps'",
                "max_steps 1.5": "expected an integer"}
    for acronym, broken in (("ROD", rod), ("CIT", cit)):
        for line, name in broken.items():
            hits = [p for p in problems if p.startswith(f"[{acronym}]") and re.search(rf"\.jsonl:{line}[ :]", p)]
            assert hits and all(expected[name] in hit and "; fix: " in hit for hit in hits), (name, hits)
    assert any(p.startswith("[VSOD]") and "no row belongs to the VSOD test set" in p for p in problems)


def test_check_data_prints_lone_surrogates_and_newlines_on_one_line(tmp_path, capsys):
    from proactivebench_ext.data.checkdata import Problem

    generate(tmp_path, per_scenario=2, seed=1, scenarios=["QD"])
    path = jsonl_path("QD", tmp_path)
    entry = json.loads(path.read_text().splitlines()[0])
    path.write_text(json.dumps({**entry, "answer": "\udc80 two\nlines"}) + "\n")  # valid JSON, unprintable as is
    assert check_data([str(tmp_path), "--scenarios", "QD"]) == 1
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if line.startswith("[QD]")]) == 1
    assert str(Problem("f.jsonl:1", "bad \udc80\nvalue", "fix it")) == "f.jsonl:1: bad \\udc80 value; fix: fix it"


def test_check_data_refuses_a_bad_pixel_cap_setting(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(PIXELS_ENV, "lots")
    assert check_data([str(tmp_path)]) == 2
    assert "PROACTIVEBENCH_MAX_IMAGE_PIXELS='lots'" in capsys.readouterr().err


# -- lmms-eval hooks ---------------------------------------------------------------------------------
def play(doc: dict, settings=None) -> tuple[dict, dict]:
    """Round 0 and 1 of the agentic protocol with a model that answers the first option."""
    images = hooks.doc_to_visual(doc, settings)
    assert images and all(hasattr(image, "size") for image in images)
    prompt = hooks.doc_to_text(doc, settings)
    answer = prompt.split("A. ", 1)[1].split("\n", 1)[0]
    payload = hooks.doc_to_text(doc, settings, previous_output=[answer], round_idx=1, previous_round_info=None)
    response = payload[3][0] if payload[2] else json.dumps({"format": hooks.RECORD_FORMAT, "turns": [{"answer": answer}]})
    return hooks.process_results(doc, [response]), json.loads(response)


def test_every_hostile_input_is_one_errored_doc(damaged):
    data, rod, _ = damaged
    docs = hooks.doc_rows("ROD", "main", str(data))
    assert len(docs) == 16
    by_line = {int(doc["source"].rsplit(":", 1)[1]): doc for doc in docs}
    errored = {}
    for line, doc in by_line.items():
        if line in rod and rod[line] == "turn-2 image truncated":
            continue  # needs a model that moves: tests/integration/test_fault_isolation.py
        metrics, record = play(doc)
        if metrics == {"errors": 1.0}:
            errored[line] = record
        else:
            assert metrics["errors"] == 0.0 and list(metrics) == ["errors", "acc", "psr"]
    assert set(errored) == {line for line, name in rod.items() if name != "turn-2 image truncated"}
    for line, record in errored.items():
        fault = record["fault"]
        assert record["correct"] is False and record["error"] == f"data fault: {fault['reason']}"
        if rod[line] in IMAGE_FAULTS:
            assert fault["row"] == f"{jsonl_path('ROD', data)}:{line}" and fault["field"] == "image"
            assert record["num_turns"] == 0 and record["stats"]["num_turns"] == 0
        else:
            assert (fault["file"], fault["line"]) == (str(jsonl_path("ROD", data)), line)


def test_the_first_request_fault_is_found_again_in_another_process(damaged, monkeypatch):
    data, rod, _ = damaged
    line = next(line for line, name in rod.items() if name == "0 bytes")
    doc = next(doc for doc in hooks.doc_rows("ROD", "main", str(data)) if doc["source"].endswith(f":{line}"))
    # doc_to_visual never ran here (as when a backend calls it in a worker): round 1 loads the images again.
    payload = hooks.doc_to_text(doc, None, previous_output=["A"], round_idx=1, previous_round_info=None)
    assert payload[2] is True and json.loads(payload[3][0])["fault"]["reason"].startswith("cannot be decoded")


def test_a_stated_fault_is_checked_not_trusted():
    doc = hooks.doc_rows("QD", "main")[0]
    spoofed = {"format": hooks.RECORD_FORMAT, "turns": [], "fault": {"file": "x", "reason": "fake", "fix": "none"}}
    assert hooks.process_results(doc, [json.dumps(spoofed)]) == {"errors": 0.0, "acc": 0.0, "psr": 0.0}


def test_errored_docs_flow_through_the_variants_and_oeg(damaged):
    data, rod, _ = damaged
    row_fault_line = next(line for line, name in rod.items() if name == "missing field")
    for variant in ("reference", "hint", "random", "history"):
        doc = next(d for d in hooks.doc_rows("ROD", variant, str(data)) if d["source"].endswith(f":{row_fault_line}"))
        assert hooks.doc_to_text(doc) == faults.placeholder_prompt()
        assert hooks.doc_to_target(doc) == json.loads(doc["entry"])["answer"]
        assert play(doc)[0] == {"errors": 1.0}
    oeg_doc = {**doc, "variant": "main", "oeg_variant": "oeg"}
    assert oeg_hooks.doc_to_text(oeg_doc) == faults.placeholder_prompt()
    assert json.loads(oeg_hooks.doc_to_target(oeg_doc))["valid_answers"] == ""
    values = oeg_hooks.process_results(oeg_doc, ["whatever"])
    assert values["errors"] == 1.0 and values["oeg_judge"]["fault"]["field"] == "prompt"


def test_a_task_with_nothing_playable_fails_alone(tmp_path, monkeypatch):
    import datasets

    generate(tmp_path, per_scenario=2, seed=1, scenarios=["QD"])
    jsonl_path("QD", tmp_path).write_text("")
    monkeypatch.setenv("PROACTIVEBENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(faults, "_report", faults._RunReport())
    docs = list(hooks.process_docs(datasets.Dataset.from_list([{"scenario": "QD"}]), variant="main"))
    assert len(docs) == 1 and faults.doc_fault(docs[0]).reason.startswith("no row belongs")
    warnings, errors, status = faults._report.lines()
    assert warnings == [] and len(errors) == 1 and status == faults.EXIT_FAULTS
    assert errors[0].startswith("ProactiveBench proactive_qd: nothing playable") and "QuickDraw_preprocessed.jsonl" in errors[0]


def test_an_exception_escaping_a_hook_is_said_again_at_the_end(monkeypatch):
    monkeypatch.setattr(faults, "_report", faults._RunReport())

    @faults.reported
    def process_docs(dataset):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        process_docs(None)
    assert faults._report.lines()[1] == [
        "ProactiveBench: the run stopped on an error in process_docs: RuntimeError: boom (lmms-eval exits 0 on it)"]
    assert not faults.in_lmms_eval_run()  # so the exit handler leaves pytest alone


def test_fault_one_line_and_json_round_trip():
    fault = Fault("img.jpg", "cannot\nbe decoded", "re-extract", field="image", sample_id=3, row="a.jsonl:4")
    assert fault.one_line() == "img.jpg (row a.jsonl:4) (sample 3): field 'image': cannot be decoded; fix: re-extract"
    assert Fault.from_json(json.loads(json.dumps(fault.to_json()))) == fault
