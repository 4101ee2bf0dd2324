"""check-data: passes on generated sets, and names file, line/sample and fix for each bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from proactivebench_ext.data.checkdata import check_data_dir, check_image, main
from proactivebench_ext.data.layout import embedded_data_dir, jsonl_path, load_test_set


@pytest.fixture
def data(tmp_path) -> Path:
    """A private copy of the embedded set to break."""
    return Path(shutil.copytree(embedded_data_dir(), tmp_path / "data"))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _table_row(out: str, acronym: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [acronym])


def _rewrite_row(path: Path, sample_id: int, change) -> int:
    """Apply ``change`` to the row with ``sample_id``; returns its 1-based line number."""
    lines = path.read_text("utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        row = json.loads(line)
        if row["id"] == sample_id:
            change(row)
            lines[number - 1] = json.dumps(row)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return number
    raise AssertionError(f"no row {sample_id}")



def test_passes_on_the_embedded_set(data, capsys):
    status, out, _ = _run(capsys, str(data))
    assert status == 0, out
    assert _table_row(out, "ROD") == ["ROD", "4", "32", "0"]
    assert _table_row(out, "total")[1:] == ["28", str(sum(r.images_checked for r in check_data_dir(data))), "0"]
    assert "complete and playable" in out


def test_passes_on_a_larger_generated_set_with_archives(tmp_path, capsys):
    from proactivebench_ext.data.synth import generate

    generate(tmp_path, per_scenario=12, seed=7, zip_archives=True)
    status, out, err = _run(capsys, str(tmp_path))
    assert status == 0, out
    assert _table_row(out, "total")[1] == str(12 * 5 + 12 + 12)  # ROD/VSOD sizes allow all twelve too
    assert "samples" in err or err == ""


def test_scenario_filter(data, capsys):
    status, out, _ = _run(capsys, str(data), "--scenarios", "ROD,QuickDraw", "--scenarios", "COCO")
    assert status == 0
    rows = [line.split()[0] for line in out.splitlines()[2:-1]]
    assert rows == ["ROD", "QD", "COCO", "total"]
    with pytest.raises(SystemExit):
        main([str(data), "--scenarios", "Nope"])


def test_missing_jsonl(data, capsys):
    jsonl_path("ROD", data).unlink()
    status, out, _ = _run(capsys, str(data))
    assert status == 1
    assert "Realistic-Occlusion-Dataset_preprocessed.jsonl: missing" in out
    assert "PROACTIVEBENCH_DATA_DIR" in out
    assert _table_row(out, "ROD") == ["ROD", "0", "0", "1"]


def test_malformed_json_line(data, capsys):
    path = jsonl_path("QD", data)
    lines = path.read_text("utf-8").splitlines()
    lines.insert(1, '{"id": 999, "prompt": ')
    path.write_text("\n".join(lines) + "\n")
    status, out, _ = _run(capsys, str(data))
    assert status == 1
    assert f"{path}:2: not valid JSON" in out and "fix: repair line 2" in out
    assert _table_row(out, "QD")[1] == "4", "the other rows are still checked"


def test_row_missing_a_field(data, capsys):
    sample_id = load_test_set("MVP-N", data)[1]["id"]
    line = _rewrite_row(jsonl_path("MVP-N", data), sample_id, lambda row: row.pop("prompt"))
    status, out, _ = _run(capsys, str(data))
    assert status == 1
    assert f"MVP-N_preprocessed.jsonl:{line} (sample {sample_id})" in out
    assert "'prompt'" in out and "fix: correct the row's 'prompt' field" in out


def test_answer_not_among_categories(data, capsys):
    sample_id = load_test_set("IN-C", data)[0]["id"]
    line = _rewrite_row(jsonl_path("IN-C", data), sample_id, lambda row: row.update(answer="platypus"))
    status, out, _ = _run(capsys, str(data))
    assert status == 1
    assert f"ImageNet-C_preprocessed.jsonl:{line} (sample {sample_id})" in out
    assert "'platypus' is not one of the categories" in out and "'answer'" in out


def test_missing_image_reached_only_in_reference_mode(data, capsys):
    entry = load_test_set("CIT", data)[0]
    relative = entry["image_template"].format(image=entry["reference_image"])
    (data / relative).unlink()
    status, out, _ = _run(capsys, str(data))
    assert status == 1
    assert f"image {relative} is missing" in out and f"(sample {entry['id']})" in out
    assert "extract the ChangeIt archive into" in out  # no archive lies in the folder to name


@pytest.mark.parametrize("archive", ["QuickDraw.zip", "quickdraw-images_part1.zip"])
def test_missing_extracted_folder_suggests_unzipping_the_archive(data, capsys, archive):
    from proactivebench_ext.data.synth import write_zip

    write_zip(data / "QuickDraw", data / archive)
    shutil.rmtree(data / "QuickDraw")
    status, out, _ = _run(capsys, str(data), "--scenarios", "QD", "--max-problems", "1")
    assert status == 1
    assert "unzip" in out and archive in out  # archive names are whatever the release lists
    assert "more problems" in out


@pytest.mark.parametrize("acronym, suffix", [("ROD", ".jpg"), ("VSOD", ".png")])
def test_truncated_image(data, capsys, acronym, suffix):
    entry = load_test_set(acronym, data)[2]
    relative = entry["image_template"].format(image=str(entry["first_image"]).zfill(4 if acronym == "VSOD" else 0))
    image = data / relative
    assert image.suffix == suffix
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    status, out, _ = _run(capsys, str(data))
    assert status == 1
    assert f"image {relative} cannot be decoded" in out and "re-extract" in out
    assert check_image(image, decode=False) is None, "--quick reads headers only"


def test_a_file_without_test_rows_is_flagged(data, capsys):
    path = jsonl_path("CIT", data)
    path.write_text('{"id": 100000, "prompt": "not a test sample"}\n')
    status, out, _ = _run(capsys, str(data), "--scenarios", "CIT")
    assert status == 1 and "no row belongs to the CIT test set" in out and "re-download" in out


def test_not_a_directory(tmp_path, capsys):
    status, _, err = _run(capsys, str(tmp_path / "nope"))
    assert status == 2 and "not a directory" in err


def test_progress_goes_to_stderr(tmp_path, capsys):
    from proactivebench_ext.data.synth import generate

    generate(tmp_path, per_scenario=100, seed=2, scenarios=["QD"])
    status, out, err = _run(capsys, str(tmp_path), "--scenarios", "QD", "--quick")
    assert status == 0 and "QD: 100 samples" in err


# -- text that is not valid Unicode, engine bounds, unreadable folders ------------------------------

@pytest.mark.parametrize("acronym, change, field", [
    ("QD", lambda row: row.update(prompt="What is drawn here?\ud800"), "prompt"),
    ("ROD", lambda row: row.update(image_template=row["image_template"] + "\udc80"), "image_template"),
    ("COCO", lambda row: row.update(options=[*row["options"], "a\udfff"]), "options[%d]"),
    ("CIT", lambda row: row.update(notes={"k\ud801": 1}), "notes.k\\ud801"),
])
def test_a_lone_surrogate_is_refused_with_file_line_and_field(data, capsys, acronym, change, field):
    sample_id = load_test_set(acronym, data)[0]["id"]
    path = jsonl_path(acronym, data)
    line = _rewrite_row(path, sample_id, change)  # json.dumps writes the surrogate as a \ud800 escape
    if "%d" in field:
        field %= len(load_test_set(acronym, shutil.copytree(embedded_data_dir(), data.parent / "orig"))[0]["options"])
    status, out, err = _run(capsys, str(data), "--scenarios", acronym)
    assert status == 1 and "Traceback" not in out + err
    problem = next(text for text in out.splitlines() if f"{path}:{line}" in text)
    assert f"field {field!r}" in problem and "lone surrogate" in problem and "not valid Unicode" in problem, problem
    assert f"(sample {sample_id})" in problem and "fix: replace the escape" in problem
    problem.encode("utf-8")
    assert _table_row(out, acronym)[3] == "1"  # the other rows are playable


def test_the_run_scans_a_surrogate_row_as_one_fault_without_its_entry(data):
    from proactivebench_ext.data.validate import scan_test_set

    sample_id = load_test_set("QD", data)[1]["id"]
    line = _rewrite_row(jsonl_path("QD", data), sample_id, lambda row: row.update(answer="\ud800"))
    rows = scan_test_set("QD", data)
    bad = [row for row in rows if row.fault is not None]
    assert [(row.line, row.entry, row.fault.field, row.fault.sample_id) for row in bad] == [(line, None, "answer", sample_id)]
    assert all(row.entry is not None for row in rows if row.fault is None) and len(rows) == 4
    json.dumps(bad[0].fault.to_json(), ensure_ascii=False).encode("utf-8")  # the fault itself is valid text


@pytest.mark.parametrize("acronym, change, field, bound", [
    ("CIT", lambda row: row.update(first_image=row["num_images"]), "first_image", "is outside [0, "),
    ("IN-C", lambda row: row.pop("quality_answer"), "quality_answer", "missing field"),
    ("COCO", lambda row: row["crop"].update(width=row["crop"]["left"]), "crop", "pixels wide, and a crop needs at least 1"),
])
def test_engine_bounds_are_reported(data, capsys, acronym, change, field, bound):
    sample_id = load_test_set(acronym, data)[0]["id"]
    line = _rewrite_row(jsonl_path(acronym, data), sample_id, change)
    status, out, _ = _run(capsys, str(data), "--scenarios", acronym)
    assert status == 1
    problem = next(text for text in out.splitlines() if f"_preprocessed.jsonl:{line} (sample {sample_id})" in text)
    assert f"field {field!r}" in problem and bound in problem, problem


def _deny(monkeypatch, folder: Path) -> None:
    """What a folder without r/x permission does to a non-root user (root reads through chmod 000)."""
    import errno
    import os

    real_scandir, real_stat = os.scandir, os.stat

    def scandir(path="."):
        if Path(path) == folder:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    def stat(path, *args, **kwargs):
        if folder in Path(os.fspath(path)).parents:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)


def test_an_unreadable_data_folder_is_named_with_the_permission(data, capsys, monkeypatch):
    _deny(monkeypatch, data)
    status, out, err = _run(capsys, str(data))
    assert status == 2 and "Traceback" not in err
    assert f"the data folder {data} cannot be read: permission denied" in err and f"chmod -R u+rX {data}" in err
    assert "_preprocessed.jsonl" not in out + err  # the folder is blamed, not a JSONL inside it


def test_an_unreadable_image_folder_is_named(data, capsys, monkeypatch):
    entry = load_test_set("QD", data)[0]
    folder = (data / entry["image_template"].format(image="0000")).parent
    _deny(monkeypatch, folder)
    status, out, _ = _run(capsys, str(data), "--scenarios", "QD", "--max-problems", "1")
    assert status == 1
    assert f"cannot be reached: the folder {folder} cannot be read: permission denied" in out
    assert "chmod -R u+rX" in out


def test_the_run_names_an_unreadable_data_folder(data, monkeypatch):
    from proactivebench_ext.data.validate import scan_test_set

    _deny(monkeypatch, data)
    [row] = scan_test_set("ROD", data)
    assert row.fault.file == str(data) and "permission denied" in row.fault.reason and "chmod" in row.fault.fix
