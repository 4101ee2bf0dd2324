"""check-data: passes on generated sets, and names file, line/sample and fix for each bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext.data.checkdata import main
from proactivebench_ext.data.layout import embedded_data_dir


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



def test_module_command_line(data):
    result = subprocess.run([sys.executable, "-m", "proactivebench_ext", "check-data", str(data), "--scenarios", "ROD"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ROD" in result.stdout
