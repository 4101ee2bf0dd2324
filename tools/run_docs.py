"""Run the shell commands of README.md and docs/*.md as written, in a scratch copy of the repository.

    python tools/run_docs.py                  # every page, quick and normal blocks (~5 min on 2 cores)
    python tools/run_docs.py README.md        # one page
    python tools/run_docs.py --level quick    # only blocks marked quick (seconds; the test suite runs these)
    python tools/run_docs.py --level slow     # also the slow ones (the unit suite, ...)
    python tools/run_docs.py --list           # what would run, and why the rest is skipped

Every ```bash block (and every ```python block marked with a level) runs, page by page, in order,
with ``bash -e -o pipefail`` (``python -c``) in one scratch copy of the repository per page
(tracked files only, with this checkout's ``.venv`` linked in and its ``bin`` first on ``PATH``,
so ``python`` is the installed one, as after ``source .venv/bin/activate``).
A block must exit 0. HTML comments next to a block steer it:

- before it, ``<!-- docs-run: skip REASON -->`` (needs a GPU, the network, placeholders such as
  ``MODEL``...): not run, and the reason is printed; ``<!-- docs-run: quick -->`` or
  ``<!-- docs-run: slow -->`` sets its level (default: normal); ``timeout=SECONDS`` (default 900);
  ``needs=MODULE,...``: skipped, saying so, when the environment lacks an optional extra's module.
- after it, ``<!-- docs-expect: TEXT -->`` (one or more): TEXT must appear in what the block printed.

The environment is the one a newcomer has: no ``PROACTIVEBENCH_*`` variable, Hugging Face offline.
Exit status: 0 when every block that ran passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEVELS = ("quick", "normal", "slow")
DEFAULT_TIMEOUT = 900
FENCE_OPEN = re.compile(r"^```(\w+)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*docs-run:\s*(.*?)\s*-->\s*$")
EXPECT = re.compile(r"^<!--\s*docs-expect:\s*(.*?)\s*-->\s*$")
# Every page's scratch copy links this checkout's .venv: a block that installs would change it for
# every later page (an editable install pointing at a scratch folder deleted minutes later).
INSTALLS = re.compile(r"install\.sh|\bpip\s+install\b|-m\s+venv\b|\bdemo\.sh\b")


@dataclass
class Block:
    """One shell block of a page and what its comments ask of it."""

    page: Path
    line: int  # 1-based line of the opening fence
    code: str
    level: str = "normal"
    skip: str | None = None
    timeout: int = DEFAULT_TIMEOUT
    needs: tuple[str, ...] = ()
    expect: list[str] = field(default_factory=list)
    language: str = "bash"

    @property
    def where(self) -> str:
        shown = self.page.relative_to(REPO).as_posix() if self.page.is_relative_to(REPO) else str(self.page)
        return f"{shown}:{self.line}"


def _directive(block: Block, text: str) -> None:
    words = text.split()
    if words and words[0] == "skip":
        block.skip = " ".join(words[1:]).strip("()— -") or "marked skip"
        return
    for word in words:
        if word in LEVELS:
            block.level = word
        elif word.startswith("timeout="):
            block.timeout = int(word.split("=", 1)[1])
        elif word.startswith("needs="):
            block.needs = tuple(filter(None, word.split("=", 1)[1].split(",")))
        else:
            raise ValueError(f"{block.where}: unknown docs-run directive {word!r} "
                             "(skip, quick, slow, timeout=N, needs=MODULE,...)")


def blocks(page: Path) -> list[Block]:
    """The page's bash blocks with their directives (the comments just before) and expectations (just after)."""
    lines = page.read_text("utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = FENCE_OPEN.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].startswith("```")), len(lines))
        language = opening.group(1)
        if language in ("bash", "sh", "shell", "python"):
            block = Block(page, index + 1, "\n".join(lines[index + 1:end]) + "\n", language=language)
            before = index - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            directives = 0
            while before >= 0 and DIRECTIVE.match(lines[before]):
                _directive(block, DIRECTIVE.match(lines[before]).group(1))
                before -= 1
                directives += 1
            if language == "python" and not directives:  # signatures and sketches, unless marked to run
                block.skip = "a Python sketch (mark it <!-- docs-run: quick --> to run it)"
            after = end + 1
            while after < len(lines) and (not lines[after].strip() or EXPECT.match(lines[after])):
                if EXPECT.match(lines[after]):
                    block.expect.append(EXPECT.match(lines[after]).group(1))
                after += 1
            found.append(block)
        index = end + 1
    return found


def default_pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "tasks").rglob("*.md"))]


def scratch_copy(destination: Path) -> Path:
    """The tracked files of this checkout (as they are on disk), with its .venv linked in."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if (REPO / ".venv").is_dir():
        (destination / ".venv").symlink_to(REPO / ".venv", target_is_directory=True)
    return destination


def newcomer_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROACTIVEBENCH_")}
    venv_bin = REPO / ".venv" / "bin"
    if venv_bin.is_dir():
        env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(REPO / ".venv")
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(home / "hf_home"),
               PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
    return env


@dataclass(frozen=True)
class Outcome:
    block: Block
    status: str  # passed / failed / skipped
    seconds: float = 0.0
    detail: str = ""


def missing_modules(names: tuple[str, ...], env: dict[str, str]) -> list[str]:
    """The modules of ``names`` that the environment's ``python`` cannot find."""
    if not names:
        return []
    probe = "import importlib.util, sys; print(' '.join(n for n in sys.argv[1:] if importlib.util.find_spec(n) is None))"
    found = subprocess.run(["python", "-c", probe, *names], env=env, capture_output=True, text=True, check=True)
    return found.stdout.split()


def run_block(block: Block, cwd: Path, env: dict[str, str]) -> Outcome:
    start = time.monotonic()
    # Its own process group, so a timeout or Ctrl-C also ends what the block started (lmms-eval, ...).
    command = ["python", "-c", block.code] if block.language == "python" else ["bash", "-e", "-o", "pipefail", "-c", block.code]
    proc = subprocess.Popen(command, cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=block.timeout)
    except BaseException as error:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        if not isinstance(error, subprocess.TimeoutExpired):
            raise
        return Outcome(block, "failed", time.monotonic() - start, f"timed out after {block.timeout} s\n{output[-3000:]}")
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        return Outcome(block, "failed", seconds, f"exit status {proc.returncode}\n{output[-3000:]}")
    missing = [text for text in block.expect if text not in output]
    if missing:
        return Outcome(block, "failed", seconds, f"output lacks {missing}\n{output[-3000:]}")
    return Outcome(block, "passed", seconds)


def run_pages(pages: list[Path], level: str, *, keep: bool = False, stream=sys.stdout) -> list[Outcome]:
    allowed = LEVELS[:LEVELS.index(level) + 1]
    outcomes: list[Outcome] = []
    for page in pages:
        scratch: Path | None = None
        try:
            for block in blocks(page):
                if block.skip:
                    outcomes.append(Outcome(block, "skipped", detail=block.skip))
                    continue
                if INSTALLS.search(block.code):
                    outcomes.append(Outcome(block, "failed", detail="installs into the .venv that every page shares: "
                                            "mark it <!-- docs-run: skip (installs ...) -->"))
                    print(f"failed {block.where}: {outcomes[-1].detail}", file=stream, flush=True)
                    continue
                if block.level not in allowed:
                    outcomes.append(Outcome(block, "skipped", detail=f"{block.level} (run with --level {block.level})"))
                    continue
                if scratch is None:  # one scratch copy per page, made when its first block runs
                    scratch = Path(tempfile.mkdtemp(prefix="run_docs_"))
                    work, env = scratch_copy(scratch / "repo"), newcomer_env(scratch)
                if missing := missing_modules(block.needs, env):
                    outcomes.append(Outcome(block, "skipped", detail=f"needs {', '.join(missing)} (an optional extra)"))
                    continue
                print(f"run    {block.where} ({block.level}) ...", file=stream, flush=True)
                outcome = run_block(block, work, env)
                outcomes.append(outcome)
                print(f"{outcome.status:7s}{block.where} {outcome.seconds:.0f} s", file=stream, flush=True)
                if outcome.detail:
                    print("       " + outcome.detail.replace("\n", "\n       "), file=stream, flush=True)
        finally:
            if scratch is not None and keep:
                print(f"kept   {scratch}", file=stream)
            elif scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
    for outcome in outcomes:
        if outcome.status == "skipped":
            print(f"skip   {outcome.block.where}: {outcome.detail}", file=stream)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("pages", nargs="*", type=Path, help="Markdown pages (default: README.md, docs/*.md, tasks/**/*.md)")
    parser.add_argument("--level", choices=LEVELS, default="normal", help="run blocks up to this level")
    parser.add_argument("--list", action="store_true", help="list the blocks and what would happen, run nothing")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    args = parser.parse_args(argv)
    pages = [page.resolve() for page in args.pages] or default_pages()
    if args.list:
        for page in pages:
            for block in blocks(page):
                state = f"skip: {block.skip}" if block.skip else block.level
                print(f"{block.where:34s} {state}  {block.code.splitlines()[0] if block.code.strip() else ''}")
        return 0
    outcomes = run_pages(pages, args.level, keep=args.keep)
    counts = {status: sum(outcome.status == status for outcome in outcomes) for status in ("passed", "failed", "skipped")}
    print(f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
