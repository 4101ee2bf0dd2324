"""The docs hold together: every relative link and image in README.md, docs/ and tasks/ resolves, and
every module path named in backticks (``proactivebench_ext.x.y``) imports, and every repository file
named in backticks (``tests/unit/test_x.py``) exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "tasks").rglob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SRC = re.compile(r"""<(?:img|a)\s[^>]*(?:src|href)=["']([^"']+)["']""")
MODULE = re.compile(r"`(proactivebench_ext(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?:\.[A-Za-z_][A-Za-z0-9_]*\(\))?`")
REPO_PATH = re.compile(r"`((?:proactivebench_ext|tests|tools|tasks|docs|bench)/[\w./-]+\.(?:py|md|yaml|json|sh|txt))`")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def _prose(page: Path) -> str:
    """The page without its code blocks (a URL in a shell example is not a link)."""
    return FENCE.sub("", page.read_text("utf-8"))


def _targets(page: Path) -> list[str]:
    text = _prose(page)
    return [*LINK.findall(text), *HTML_SRC.findall(text)]


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_relative_links_and_images_resolve(page):
    broken = []
    for target in _targets(page):
        if not _relative(target):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if path and not (page.parent / path).exists():
            broken.append(target)
    assert broken == [], f"{page.relative_to(REPO)}: links to missing files {broken}"


def _imports(dotted: str) -> bool:
    """The module, or a module attribute (``proactivebench_ext.lmms.runtime.options.RULES``), exists."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        target = module
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_module_paths_in_backticks_import(page):
    missing = sorted({name for name in MODULE.findall(page.read_text("utf-8")) if not _imports(name)})
    assert missing == [], f"{page.relative_to(REPO)} names module paths that do not import: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(REPO).as_posix())
def test_repository_paths_in_backticks_exist(page):
    missing = sorted({path for path in REPO_PATH.findall(page.read_text("utf-8")) if not (REPO / path).exists()})
    assert missing == [], f"{page.relative_to(REPO)} names files that do not exist: {missing}"


def test_the_link_pattern_sees_links_images_and_anchors():
    sample = "see [a](docs/a.md#x), ![img](img/p.png \"t\") and [web](https://x.org) <img src=\"i.png\">"
    assert LINK.findall(sample) == ["docs/a.md#x", "img/p.png", "https://x.org"]
    assert HTML_SRC.findall(sample) == ["i.png"]
    assert not _imports("proactivebench_ext.no_such_module") and _imports("proactivebench_ext.core.engine.new_episode")
