"""check-data: passes on generated sets, and names file, line/sample and fix for each bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext.data.layout import embedded_data_dir


@pytest.fixture
def data(tmp_path) -> Path:
    """A private copy of the embedded set to break."""
    return Path(shutil.copytree(embedded_data_dir(), tmp_path / "data"))









def test_module_command_line(data):
    result = subprocess.run([sys.executable, "-m", "proactivebench_ext", "check-data", str(data), "--scenarios", "ROD"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ROD" in result.stdout
