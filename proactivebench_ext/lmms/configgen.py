"""Keep generated task YAMLs in sync with the tables that define them.

Both task generators (``tasks/proactivebench/_generate_configs.py`` and
``tasks/proactivebench_oeg/_generate_oeg_configs.py``) describe the files they want as a
``{path: text}`` map; this module writes them, removes generated files no longer produced, and
offers a ``--check`` mode that the tests use to catch stale configs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping


def group_yaml(header: str, comment: str, group: str, tasks: list[str], metrics: tuple[str, ...]) -> str:
    """A group config whose scores are the unweighted mean over its tasks, as the paper averages."""
    listed = "".join(f"  - {task}\n" for task in tasks)
    aggregate = "".join(f"  - metric: {metric}\n    aggregation: mean\n    weight_by_size: false\n" for metric in metrics)
    return (f"{header}# {comment}\ngroup: {group}\ntask:\n{listed}aggregate_metric_list:\n{aggregate}"
            "metadata:\n  version: 0.1\n")


def stale_files(folder: Path, files: Mapping[Path, str], header: str) -> list[Path]:
    """Generated files that are missing or differ, plus generated-looking files no longer produced."""
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text() != text]
    for path in [*folder.glob("*.yaml"), *(folder / "specs").glob("*.jsonl")]:
        if path not in files and (path.suffix == ".jsonl" or path.read_text().startswith(header)):
            stale.append(path)
    return stale


def main(argv: list[str] | None, folder: Path, files: Mapping[Path, str], header: str, description: str) -> int:
    """``[--check]``: write (or only verify) the generated files of ``folder``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if any generated file is stale")
    args = parser.parse_args(argv)
    stale = stale_files(folder, files, header)
    if args.check:
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        if path not in files:
            path.unlink()
            print(f"removed {path.relative_to(folder)}")
    (folder / "specs").mkdir(exist_ok=True)
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path.relative_to(folder)}")
    return 0
