"""``python -m proactivebench_ext check-data DIR``: is this data directory usable, and if not, why?

Checks what an evaluation would hit, before a long model run hits it: every test-set row parses
and starts an episode, and every image any turn may show (in default and in reference mode)
exists, stays inside the data folder, is under the pixel cap and decodes. Each problem is one line
naming the file, the line or sample id, the field and the fix; the exit status is non-zero when
there is any. Nothing in the data can make it raise: the rules are those of
:mod:`.validate` and of the engine, and anything else a row triggers becomes a problem line too.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..cli import command_parser
from ..core.constants import load_benchmark
from ..core.engine import InvalidEntryError, new_episode, reachable_images
from ..core.naming import acronym_of, dataset_name
from .errors import DataError
from .jsonio import encode_text
from .layout import POINT_AT_LOCAL_COPY, data_folder, iter_jsonl, jsonl_path, may_be_test_row, test_ids
from .validate import (
    Fault,
    folder_access_reason,
    folder_fix,
    image_fault_reason,
    image_fix,
    max_image_pixels,
    row_fault,
    text_fault,
)

# Distinct turns explored per row and mode to list its images: the released rows need at most a
# few hundred; a row past this is implausible (frames x turns) and is reported, not explored.
MAX_STATES = 100_000


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the data: where, what, and how to fix it."""

    location: str  # file, or file:line
    message: str
    fix: str
    sample_id: Any = None
    field: str | None = None

    def __str__(self) -> str:
        sample = f" (sample {_cut(repr(self.sample_id), 60)})" if self.sample_id is not None else ""
        where = f" field {self.field!r}:" if self.field else ""
        return printable(f"{self.location}{sample}:{where} {_cut(self.message, 600)}; fix: {self.fix}")

    @classmethod
    def of(cls, fault: Fault) -> Problem:
        return cls(fault.location, fault.reason, fault.fix, fault.sample_id, fault.field)


def printable(text: str) -> str:
    """One line that any terminal can print: line breaks folded, unencodable characters escaped
    (a JSONL may hold lone surrogates such as ``"\\udc80"``, which are valid JSON)."""
    if "\n" in text or "\r" in text:
        text = " ".join(text.split())
    return encode_text(text).decode("utf-8")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


@dataclass
class ScenarioReport:
    acronym: str
    samples: int = 0
    images_checked: int = 0
    problems: list[Problem] = field(default_factory=list)


def check_image(path: Path, *, decode: bool = True, data_dir: Path | None = None) -> str | None:
    """Why the image at ``path`` cannot be shown, or None when it can (see :func:`.validate.image_fault_reason`)."""
    return image_fault_reason(path, data_dir=data_dir, decode=decode)


def check_scenario(scenario: str, data_dir: Path, *, decode: bool = True,
                   progress: Callable[[str], None] | None = None) -> ScenarioReport:
    """Check one scenario's JSONL and the images its test-set rows can show."""
    acronym, dataset = acronym_of(scenario), dataset_name(scenario)
    report = ScenarioReport(acronym)
    path = jsonl_path(dataset, data_dir)
    unreadable = folder_access_reason(data_dir)
    if unreadable is not None:
        report.problems.append(Problem(str(data_dir), f"the data folder {unreadable}", folder_fix(data_dir)))
        return report
    if not path.is_file():
        report.problems.append(Problem(str(path), f"missing: no {path.name} for {acronym}",
                                       f"copy {path.name} from the dataset's test/ folder into {data_dir}; {POINT_AT_LOCAL_COPY}"))
        return report
    try:
        _check_rows(acronym, dataset, path, data_dir, report, decode=decode, progress=progress)
    except OSError as error:
        report.problems.append(Problem(str(path), f"cannot be read ({error})", f"re-download {path.name}"))
    if not report.samples and not report.problems:
        report.problems.append(Problem(str(path), f"no row belongs to the {acronym} test set (ids of filter_ids)",
                                       f"this is not the released {path.name} (empty or another split): re-download it"))
    return report


def _check_rows(acronym: str, dataset: str, path: Path, data_dir: Path, report: ScenarioReport, *, decode: bool,
                progress: Callable[[str], None] | None) -> None:
    ids, first_line, checked = test_ids(dataset), {}, set()
    for row in iter_jsonl(path):
        if not may_be_test_row(row, ids):
            continue
        where = f"{path}:{row.line}"
        fault = row_fault(row)
        if fault is not None:
            report.problems.append(Problem.of(fault))
            continue
        entry = row.entry
        assert entry is not None
        if "id" not in entry:
            report.problems.append(Problem(where, "row has no 'id' field", "add the sample id or re-download the file",
                                           field="id"))
            continue
        sample_id = entry["id"]
        key = _id_key(sample_id)
        if key in first_line:
            report.problems.append(Problem(where, f"id {sample_id!r} repeats line {first_line[key]}",
                                           "remove the duplicate row", sample_id, "id"))
            continue
        first_line[key] = row.line
        report.samples += 1
        fault = text_fault(row)
        if fault is not None:
            report.problems.append(Problem.of(fault))
            continue
        try:
            new_episode(acronym, entry, data_dir).observe()
            relatives = [rel for reference in (False, True)
                         for rel in reachable_images(acronym, entry, reference=reference, max_states=MAX_STATES)]
        except InvalidEntryError as error:
            report.problems.append(Problem(where, f"cannot be played: {error.reason}",
                                           f"correct the row's {error.field!r} field (see the released JSONL for its format)",
                                           sample_id, error.field))
            continue
        except Exception as error:  # noqa: BLE001 - a malformed row must not stop the check of the others
            report.problems.append(Problem(where, f"cannot be played ({type(error).__name__}: {error})",
                                           "compare the row with the released JSONL and correct it", sample_id))
            continue
        for relative in relatives:
            if relative in checked:
                continue
            checked.add(relative)
            report.images_checked += 1
            try:
                reason = check_image(data_dir / relative, decode=decode, data_dir=data_dir)
            except (OSError, ValueError) as error:  # a path the filesystem refuses (a NUL, a name too long)
                reason = f"cannot be checked ({type(error).__name__}: {error})"
            if reason is not None:
                report.problems.append(Problem(where, f"image {relative} {reason}",
                                               image_fix(reason, relative, data_dir, dataset), sample_id, "image"))
        if progress is not None and report.samples % 100 == 0:
            progress(f"{acronym}: {report.samples} samples, {report.images_checked} images")


def _id_key(sample_id: Any) -> Any:
    """A hashable key for an id of any JSON type (a list or object id is a problem of its own)."""
    try:
        hash(sample_id)
    except TypeError:
        return repr(sample_id)
    return sample_id


def check_data_dir(data_dir: str | os.PathLike[str], scenarios: Iterable[str] | None = None, *,
                   decode: bool = True, progress: Callable[[str], None] | None = None) -> list[ScenarioReport]:
    """Check every scenario (or those named) of ``data_dir``; one report each, in paper order."""
    names = list(scenarios) if scenarios else list(load_benchmark().datasets.values())
    return [check_scenario(name, Path(data_dir), decode=decode, progress=progress) for name in names]


def format_table(reports: Sequence[ScenarioReport]) -> str:
    header = ("scenario", "samples", "images checked", "problems")
    rows = [(r.acronym, str(r.samples), str(r.images_checked), str(len(r.problems))) for r in reports]
    rows.append(("total", str(sum(r.samples for r in reports)), str(sum(r.images_checked for r in reports)),
                 str(sum(len(r.problems) for r in reports))))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    line = lambda row: "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def _stderr_progress(stream: TextIO) -> Callable[[str], None]:
    return lambda message: print(message, file=stream, flush=True)


def _parse_scenarios(values: Sequence[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    for name in names:
        dataset_name(name)  # KeyError naming the known scenarios
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: prints problems and a per-scenario table; returns 1 on any problem."""
    parser = command_parser("check-data", "Validate a ProactiveBench data directory (the released test/ folder or a synthetic set).")
    parser.add_argument("data_dir", type=Path, help="folder holding the <Dataset>_preprocessed.jsonl files and extracted images")
    parser.add_argument("--scenarios", action="append", metavar="NAMES",
                        help="comma-separated acronyms or dataset names to check (default: all seven)")
    parser.add_argument("--quick", action="store_true", help="check that images exist and have a valid header, without decoding them")
    parser.add_argument("--max-problems", type=int, default=20, metavar="N", help="problems listed per scenario (default 20)")
    args = parser.parse_args(argv)
    try:
        scenarios = _parse_scenarios(args.scenarios)
    except KeyError as error:
        parser.error(str(error.args[0]))
    unreadable = folder_access_reason(args.data_dir) if args.data_dir.is_dir() else None
    if unreadable is not None:  # named before the folder rule, which would see an unreadable folder as empty
        print(printable(f"error: the data folder {args.data_dir} {unreadable}; fix: {folder_fix(args.data_dir)}"),
              file=sys.stderr)
        return 2
    try:
        data_folder(args.data_dir)  # the loader's rule: the folder holding the JSONLs, not its parent or a child
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        max_image_pixels()
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    reports = check_data_dir(args.data_dir, scenarios, decode=not args.quick, progress=_stderr_progress(sys.stderr))
    for report in reports:
        for problem in report.problems[: args.max_problems]:
            print(f"[{report.acronym}] {problem}")
        if len(report.problems) > args.max_problems:
            print(f"[{report.acronym}] ... and {len(report.problems) - args.max_problems} more problems")
    print(format_table(reports))
    failed = sum(len(report.problems) for report in reports)
    print(f"{failed} problem(s) found in {args.data_dir}" if failed else f"{args.data_dir} is complete and playable")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
