"""The docs' quick shell blocks run as written (tools/run_docs.py --level quick): a fast slice of
the full docs run, which takes minutes and is run by hand (docs/contributing.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_runner():
    spec = importlib.util.spec_from_file_location("run_docs", REPO / "tools" / "run_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_page(tmp_path: Path, text: str) -> list:
    """Run one page of markdown ``text`` at the quick level; its outcomes."""
    runner = load_runner()
    page = tmp_path / "page.md"
    page.write_text(text, "utf-8")
    with open(tmp_path / "log.txt", "w") as log:
        return runner.run_pages([page], "quick", stream=log)


def test_quick_blocks_of_every_page_pass(capsys):
    runner = load_runner()
    outcomes = runner.run_pages(runner.default_pages(), "quick")
    printed = capsys.readouterr().out
    ran = [outcome for outcome in outcomes if outcome.status != "skipped"]
    assert ran, "no quick block found: the README's --version block should be one"
    assert [outcome.block.where for outcome in ran if outcome.status != "passed"] == [], printed


def test_every_block_runs_or_says_why_not():
    runner = load_runner()
    for page in runner.default_pages():
        for block in runner.blocks(page):
            assert block.skip is None or block.skip.strip(), block.where
            assert block.level in runner.LEVELS, block.where


def test_a_failing_block_and_a_missing_expectation_fail(tmp_path):
    outcomes = run_page(tmp_path, "<!-- docs-run: quick -->\n```bash\necho hello\n```\n\n<!-- docs-expect: goodbye -->\n\n"
                        "<!-- docs-run: quick -->\n```bash\nfalse\necho never\n```\n\n"
                        "<!-- docs-run: skip needs a GPU -->\n```bash\nnvidia-smi\n```\n")
    assert [outcome.status for outcome in outcomes] == ["failed", "failed", "skipped"]
    assert "lacks ['goodbye']" in outcomes[0].detail and "exit status 1" in outcomes[1].detail
    assert outcomes[2].detail == "needs a GPU"


def test_a_block_that_installs_is_refused_unless_skipped(tmp_path):
    """Pages share this checkout's .venv: an install block run as written would repoint it."""
    outcomes = run_page(tmp_path, "<!-- docs-run: quick -->\n```bash\nTORCH=keep bash install.sh\n```\n\n"
                        "<!-- docs-run: skip installs into ./.venv -->\n```bash\npip install -e .\n```\n")
    assert [outcome.status for outcome in outcomes] == ["failed", "skipped"]
    assert "installs into the .venv" in outcomes[0].detail
    assert not any((tmp_path / name).exists() for name in (".venv", "repo"))


def test_a_block_that_needs_a_missing_extra_is_skipped_saying_which(tmp_path):
    outcomes = run_page(tmp_path, "<!-- docs-run: quick needs=json,surely_no_such_module -->\n```bash\nfalse\n```\n\n"
                        "<!-- docs-run: quick needs=json -->\n```bash\necho ran\n```\n\n<!-- docs-expect: ran -->\n")
    assert [outcome.status for outcome in outcomes] == ["skipped", "passed"]
    assert outcomes[0].detail == "needs surely_no_such_module (an optional extra)"
