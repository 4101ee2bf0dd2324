"""constraints.txt and install.sh agree.

The lock pins every package that install.sh, this package's requirements and its locked extras
(test, report, rl) bring in, exactly once per tested Python (3.10, 3.11, 3.12), with no local version
label (``+cpu``: install.sh picks the torch build), at versions the requirements accept. Then pip
resolves it all on the running interpreter (a dry run that ignores what is installed): every package
it picks is pinned (torch's CUDA stack aside) at the pinned version, every pin that applies here is
picked, and nothing is built from source. The same check for the other Pythons, by hand:
docs/install.md ("Checking another Python").
"""

from __future__ import annotations

import configparser
import json
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
INSTALL_SH = (REPO / "install.sh").read_text("utf-8")
CONSTRAINTS = REPO / "constraints.txt"
TESTED_PYTHONS = ("3.10", "3.11", "3.12")
# Extras the lock covers, with the oldest Python each installs on (trl >= 1.16 needs 3.11). rl-gpu
# (DeepSpeed) is not locked: it builds against a CUDA toolkit.
LOCKED_EXTRAS = {"test": "3.10", "report": "3.10", "rl": "3.11"}
# Dependencies of a torch build, which follow the build (CPU or CUDA) and are not pinned.
TORCH_BUILD_STACK = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")


def environment(python: str) -> dict[str, str]:
    """Marker environment of this machine with another Python version."""
    return {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}


def lock_lines() -> list[Requirement]:
    lines = CONSTRAINTS.read_text("utf-8").splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pins(python: str) -> dict[str, str]:
    """{canonical name: pinned version} of the lines that apply on ``python``."""
    return {canonicalize_name(req.name): next(iter(req.specifier)).version for req in lock_lines()
            if req.marker is None or req.marker.evaluate(environment(python))}


def install_sh_value(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)", INSTALL_SH, flags=re.M)
    assert match, f"install.sh sets no {name}"
    return match.group(1)


def install_sh_deps() -> list[Requirement]:
    """LMMS_EVAL_DEPS of install.sh (torch is added there as the chosen build)."""
    match = re.search(r"^LMMS_EVAL_DEPS=\((.*?)^\)", INSTALL_SH, flags=re.M | re.S)
    assert match, "install.sh has no LMMS_EVAL_DEPS=( ... ) list"
    return [Requirement(word) for word in shlex.split(match.group(1), comments=True)]


def install_sh_no_deps() -> list[str]:
    """NO_DEPS_PACKAGES of install.sh: installed with --no-deps beside lmms-eval, pinned by the lock."""
    match = re.search(r"^NO_DEPS_PACKAGES=\((.*?)\)", INSTALL_SH, flags=re.M)
    assert match, "install.sh has no NO_DEPS_PACKAGES=( ... ) list"
    return shlex.split(match.group(1))


def package_requirements(python: str) -> list[Requirement]:
    """install_requires and the locked extras that install on ``python``."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    lines = config["options"]["install_requires"].split()
    extras = config["options.extras_require"]
    for extra, oldest in LOCKED_EXTRAS.items():
        assert extra in extras, f"setup.cfg has no [{extra}] extra; update LOCKED_EXTRAS"
        if Version(python) >= Version(oldest):
            lines += [line.strip() for line in extras[extra].splitlines() if line.strip()]
    return [Requirement(line) for line in lines]


def requirements(python: str) -> list[Requirement]:
    return [Requirement(f"torch=={install_sh_value('TORCH_VERSION')}"),
            Requirement(f"torchvision=={install_sh_value('TORCHVISION_VERSION')}"), *install_sh_deps(),
            *package_requirements(python)]


def test_the_lock_pins_exact_public_versions():
    for req in lock_lines():
        (spec,) = req.specifier
        assert spec.operator == "==", f"{req}: the lock pins with == only"
        assert "+" not in spec.version, f"{req}: no local version label (install.sh picks the build)"
        assert not req.extras and not req.url, req


@pytest.mark.parametrize("python", TESTED_PYTHONS)
def test_each_package_is_pinned_once_per_python(python):
    names = [canonicalize_name(req.name) for req in lock_lines()
             if req.marker is None or req.marker.evaluate(environment(python))]
    assert sorted({name for name in names if names.count(name) > 1}) == []


@pytest.mark.parametrize("python", TESTED_PYTHONS)
def test_install_sh_and_the_package_ask_only_for_pinned_versions(python):
    pinned = pins(python)
    assert pinned["torch"] == install_sh_value("TORCH_VERSION")
    assert pinned["torchvision"] == install_sh_value("TORCHVISION_VERSION")
    torch_minor = int(install_sh_value("TORCH_VERSION").split(".")[1])
    assert install_sh_value("TORCHVISION_VERSION").startswith(f"0.{torch_minor + 15}."), \
        "torchvision 0.(N+15) is the release made for torch 2.N"
    assert pinned["lmms-eval"] == install_sh_value("LMMS_EVAL_VERSION")
    for name in install_sh_no_deps():
        assert canonicalize_name(name) in pinned, f"install.sh installs {name} with --no-deps; the lock must pin it"
    for req in requirements(python):
        if req.marker is not None and not req.marker.evaluate(environment(python)):
            continue
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req} (install.sh or setup.cfg) is not pinned for Python {python}"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"Python {python}: the lock pins {name}=={pinned[name]}, which {req} refuses"


def test_install_sh_parses_and_refuses_unknown_settings():
    assert subprocess.run(["bash", "-n", "install.sh"], cwd=REPO).returncode == 0
    help_ = subprocess.run(["bash", "install.sh", "--help"], cwd=REPO, capture_output=True, text=True)
    assert help_.returncode == 0 and "TORCH=auto" in help_.stdout and "EXTRAS" in help_.stdout
    assert subprocess.run(["bash", "install.sh", "--bogus"], cwd=REPO, capture_output=True).returncode == 2
    bad = subprocess.run(["bash", "install.sh", "--current"], cwd=REPO, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "TORCH": "gpu"})
    assert bad.returncode == 1 and "TORCH=gpu" in bad.stderr


def pip_filter(stderr: str) -> str:
    """Run install.sh's filter of pip's stderr (the Python inside its pip_run function) on ``stderr``."""
    match = re.search(r"^pip_run\(\) \{.*?<<'EOF' >&2\n(.*?)^EOF$", INSTALL_SH, flags=re.M | re.S)
    assert match, "install.sh has no pip_run() with its stderr filter"
    proc = subprocess.run([sys.executable, "-c", match.group(1), "/dev/stdin", "lmms-eval", *install_sh_no_deps()],
                          input=stderr,
                          capture_output=True, text=True, check=True)
    return proc.stdout


RESOLVER_HEADER = ("ERROR: pip's dependency resolver does not currently take into account all the packages that are "
                   "installed. This behaviour is the source of the following dependency conflicts.")


def test_pip_resolver_complaints_about_lmms_eval_become_one_explained_line():
    out = pip_filter("\n".join([RESOLVER_HEADER, "lmms-eval 0.7.3 requires timm, which is not installed.",
                                "lmms-eval 0.7.3 requires wandb==0.25.0, which is not installed.",
                                "lmms-eval 0.7.3 requires yt-dlp, which is not installed."]) + "\n")
    lines = out.splitlines()
    assert not [line for line in lines if line.startswith("ERROR:")], out
    assert len(lines) == 1 and "3 declared requirements of lmms-eval" in lines[0]
    assert "timm, wandb, yt-dlp" in lines[0] and "--no-deps" in lines[0]
    docopt = pip_filter(f"{RESOLVER_HEADER}\nnum2words 0.5.14 requires docopt>=0.6.2, which is not installed.\n")
    assert not docopt.startswith("ERROR:") and "(docopt)" in docopt


def test_real_pip_errors_are_shown_as_pip_wrote_them():
    conflict = "transformers 5.24.0 requires tokenizers<0.24, but you have tokenizers 0.30.0 which is incompatible."
    out = pip_filter("\n".join([RESOLVER_HEADER, "lmms-eval 0.7.3 requires timm, which is not installed.", conflict]))
    assert RESOLVER_HEADER in out and conflict in out and "1 declared requirements of lmms-eval" in out
    failure = ("ERROR: Could not find a version that satisfies the requirement torch==9.9 (from versions: 2.14.1)\n"
               "ERROR: No matching distribution found for torch==9.9\n")
    assert pip_filter(failure) == failure


def pip(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)


resolvable_here = pytest.mark.skipif(
    f"{sys.version_info[0]}.{sys.version_info[1]}" not in TESTED_PYTHONS
    or (platform.system(), platform.machine()) != ("Linux", "x86_64"),
    reason="the lock is resolved for CPython 3.10-3.12 on Linux x86_64")


@resolvable_here
def test_pip_resolves_the_lock_on_this_python(tmp_path):
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    report = tmp_path / "report.json"
    proc = pip("install", "--dry-run", "--ignore-installed", "--only-binary=:all:", "--quiet", "--report", str(report),
               "-c", str(CONSTRAINTS), *map(str, requirements(python)))
    assert proc.returncode == 0, proc.stderr[-4000:]
    picked = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
              for item in json.loads(report.read_text("utf-8"))["install"]}
    pinned = pins(python)
    for name, version in picked.items():
        if TORCH_BUILD_STACK.match(name):
            continue
        assert name in pinned, f"pip picks {name}=={version}, which the lock does not pin for Python {python}"
        assert Version(version).public == pinned[name], f"pip picks {name}=={version}, the lock pins {pinned[name]}"
    no_deps = {"lmms-eval", *map(canonicalize_name, install_sh_no_deps())}
    stale = sorted(set(pinned) - set(picked) - no_deps)
    assert stale == [], f"pinned for Python {python} but not needed: {stale}"


@resolvable_here
def test_pip_finds_the_pinned_lmms_eval():
    proc = pip("install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet", "-c", str(CONSTRAINTS),
               f"lmms-eval=={install_sh_value('LMMS_EVAL_VERSION')}", *install_sh_no_deps(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
