"""Every module of the package imports alone, in a fresh interpreter (no hidden import-order dependency)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ..unit.test_layout import modules


@pytest.mark.parametrize("module", sorted(modules()))
def test_every_module_imports_alone(module):
    if module.endswith("__main__"):
        module = module.removesuffix(".__main__")
    result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
