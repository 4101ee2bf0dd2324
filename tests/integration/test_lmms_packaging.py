"""Installing the package is all lmms-eval needs: both wheels carry the start-up hook, the regular
wheel carries every task config, and a fresh venv with that wheel lists our tasks and models.

The wheels are built from a copy of the working tree (so the repository gets no build/ folder)
without build isolation, with the setuptools of the running interpreter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from proactivebench_ext.core.variants import all_groups, all_tasks

REPO = Path(__file__).resolve().parents[2]
_IGNORED_ANYWHERE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                          ".whl", ".device")
_IGNORED_AT_ROOT = {"out", "report"}  # run outputs; proactivebench_ext/report is a package and must be copied


def ignored_in_copy(directory: str, names: list[str]) -> set[str]:
    ignored = set(_IGNORED_ANYWHERE(directory, names))
    return ignored | (_IGNORED_AT_ROOT & set(names)) if Path(directory) == REPO else ignored
BUILD = ("import sys, setuptools.build_meta as backend; "
         "print(getattr(backend, sys.argv[1])(sys.argv[2]))")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    source = tmp_path_factory.mktemp("source") / "proactivebench_ext"
    shutil.copytree(REPO, source, ignore=ignored_in_copy)
    out = tmp_path_factory.mktemp("wheels")
    built = {}
    for kind, hook in (("regular", "build_wheel"), ("editable", "build_editable")):
        proc = subprocess.run([sys.executable, "-c", BUILD, hook, str(out / kind)], cwd=source, capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        built[kind] = out / kind / proc.stdout.strip().splitlines()[-1]
    return built


def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.mark.parametrize("kind", ["regular", "editable"])
def test_both_wheels_put_the_startup_hook_in_site_packages(wheels, kind):
    listed = names(wheels[kind])
    assert "proactivebench_ext_hook.pth" in listed
    with zipfile.ZipFile(wheels[kind]) as archive:
        record = archive.read(next(name for name in listed if name.endswith(".dist-info/RECORD"))).decode()
        entry_points = archive.read(next(name for name in listed if name.endswith(".dist-info/entry_points.txt")))
        assert archive.read("proactivebench_ext_hook.pth") == (REPO / "proactivebench_ext_hook.pth").read_bytes()
    assert "proactivebench_ext_hook.pth,sha256=" in record
    assert b"[lmms_eval.models]" in entry_points
    if kind == "regular":
        assert "proactivebench_ext/lmms/runtime/startup.py" in listed
        modules = {path.relative_to(REPO).as_posix() for path in (REPO / "proactivebench_ext").rglob("*.py")
                   if "__pycache__" not in path.parts}
        assert modules <= listed, sorted(modules - listed)  # every module, report/ included


def test_a_wheel_built_from_the_sdist_still_has_the_startup_hook(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=ignored_in_copy)
    sdist = subprocess.run([sys.executable, "-c", BUILD, "build_sdist", str(tmp_path / "sdist")], cwd=source,
                           capture_output=True, text=True, timeout=300)
    assert sdist.returncode == 0, sdist.stderr[-3000:]
    shutil.unpack_archive(tmp_path / "sdist" / sdist.stdout.strip().splitlines()[-1], tmp_path / "unpacked")
    [unpacked] = (tmp_path / "unpacked").iterdir()
    wheel = subprocess.run([sys.executable, "-c", BUILD, "build_wheel", str(tmp_path / "wheel")], cwd=unpacked,
                           capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stderr[-3000:]
    listed = names(tmp_path / "wheel" / wheel.stdout.strip().splitlines()[-1])
    assert {"proactivebench_ext_hook.pth", "proactivebench_ext/lmms/runtime/startup.py",
            "proactivebench_ext/tasks/proactivebench/_default_template_yaml"} <= listed


def test_regular_wheel_ships_every_task_config(wheels):
    listed = names(wheels["regular"])
    tasks = REPO / "tasks"
    configs = [path for path in tasks.rglob("*") if path.is_file() and "__pycache__" not in path.parts
               and (path.suffix in {".yaml", ".jsonl"} or path.name.endswith("_yaml"))]
    assert configs
    for path in configs:
        assert f"proactivebench_ext/tasks/{path.relative_to(tasks).as_posix()}" in listed, path


def test_fresh_venv_with_the_wheel_sees_tasks_and_models(wheels, tmp_path, offline_env):
    """A new venv holding only our wheel, borrowing lmms-eval from the test interpreter's site-packages."""
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", "--quiet", str(wheels["regular"])], capture_output=True, text=True,
                             timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # A plain path line: lmms-eval and its dependencies become importable, but the parent's .pth
    # files (its editable proactivebench_ext) are not run, so ours is the one that counts.
    (site / "zz_parent_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    startup = subprocess.run([python, "-c", "import sys; print(sorted(m for m in sys.modules "
                              "if m.startswith(('lmms_eval', 'proactivebench_ext', 'torch'))))"],
                             capture_output=True, text=True, timeout=60, env=offline_env)
    # Only the start-up hook, its import hook and the package folders above them: no engine, no
    # lmms-eval, no torch.
    assert startup.stdout.strip() == str(["proactivebench_ext", "proactivebench_ext.lmms", "proactivebench_ext.lmms.runtime",
                                          "proactivebench_ext.lmms.runtime.import_hook",
                                          "proactivebench_ext.lmms.runtime.startup"]), "start-up must stay lazy"

    script = (
        "import proactivebench_ext, lmms_eval.models as models\n"
        "from lmms_eval.tasks import TaskManager\n"
        "print(proactivebench_ext.__file__)\n"
        "print(sorted(t for t in TaskManager().all_tasks if t.startswith('proactive')))\n"
        "print(models.get_model('proactive_oracle').__name__, models.get_model('proactive_random').__name__)\n"
    )
    proc = subprocess.run([python, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=offline_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    location, tasks, models = proc.stdout.strip().splitlines()[-3:]
    assert location.startswith(str(site))
    assert set(all_tasks()) | set(all_groups()) <= set(eval(tasks))
    assert models == "OpenEndedOracle OpenEndedRandom"  # the MCQA baselines that also answer OEG tasks


def test_tasks_path_command_prints_the_folder_lmms_eval_includes():
    import subprocess
    import sys

    from proactivebench_ext.lmms.registration import tasks_path

    out = subprocess.run([sys.executable, "-m", "proactivebench_ext", "tasks-path"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tasks_path())
    assert (tasks_path() / "proactivebench" / "_default_template_yaml").is_file()
