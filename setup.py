"""What setup.cfg cannot say; everything else lives there.

1. Packages: ``proactivebench_ext`` and its subpackages (as ``find:`` would) plus every folder of
   the repository's ``tasks/`` mapped to ``proactivebench_ext.tasks.*``. ``find:`` cannot map a
   folder outside the package, and a hand-kept list silently drops new task folders from wheels.
2. ``proactivebench_ext_hook.pth`` in site-packages: setuptools puts ``data_files`` under
   ``sys.prefix``, where Python never reads ``.pth`` files, so the file goes to the wheel root, for
   both ``pip install .`` (build_py) and ``pip install -e .`` (editable_wheel, PEP 660).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = "proactivebench_ext_hook.pth"
HERE = Path(__file__).resolve().parent
TASKS = "tasks"


def packages() -> list[str]:
    found = find_packages(where=str(HERE), include=["proactivebench_ext", "proactivebench_ext.*"])
    root = HERE / TASKS
    folders = [root, *(path for path in sorted(root.rglob("*")) if path.is_dir() and path.name != "__pycache__")]
    return [*found, *(".".join(("proactivebench_ext.tasks", *folder.relative_to(root).parts)) for folder in folders)]


class BuildPyWithPth(build_py):
    """Regular wheels: a file at the root of build_lib ends up at the root of site-packages."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.copy_file(str(HERE / PTH), os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else [*outputs, os.path.join(self.build_lib, PTH)]


class EditableWheelWithPth(editable_wheel):
    """Editable wheels are assembled from the project tree, not build_lib: add the file afterwards."""

    def run(self) -> None:
        super().run()
        wheels = sorted(Path(self.dist_dir).glob("*.editable-*.whl"), key=lambda path: path.stat().st_mtime)
        if not wheels:
            raise RuntimeError(f"no editable wheel found in {self.dist_dir} to add {PTH} to")
        add_to_wheel(wheels[-1], PTH, (HERE / PTH).read_bytes())


def add_to_wheel(wheel: Path, name: str, data: bytes) -> None:
    """Rewrite ``wheel`` with ``name`` added at its root and listed in its RECORD."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    rewritten = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                content += f"{name},sha256={digest},{len(data)}\n".encode()
            target.writestr(item, content)
        target.writestr(name, data)
    rewritten.replace(wheel)


setup(packages=packages(), package_dir={"proactivebench_ext.tasks": TASKS},
      cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
