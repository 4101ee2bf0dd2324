"""``python -m proactivebench_ext report OUTPUT_DIR... [--out report/]``: the paper's tables from lmms-eval output.

Reads the ``*_results.json`` files lmms-eval writes under ``--output_path`` (and the
``*_samples_<task>.jsonl`` files when the run used ``--log_samples``) of one or more runs, and
writes ``report.md`` (the paper's layout, its published rows beside ours), ``report.json`` (every
number in the tables) and PNG plots; the main table is printed too. Runs on synthetic data are
their own rows, marked and never set against the paper's.

Every score shown is the one in lmms-eval's results file; samples add what results files lack:
a 95% bootstrap interval per accuracy cell (ROD has 88 episodes and VSOD 42, so intervals are
wide), counts of errored episodes and the distribution of episode lengths. Absent scenarios or
ablations stay absent ("–"), never 0.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..cli import command_parser
from ..data.jsonio import write_json_atomic, write_text_atomic
from .aggregate import DEFAULT_ITERATIONS, Report, build_report
from .grpo import GrpoLabel, parse_label
from .read import ReportError, find_results_files, read_run
from .render import main_table, report_json, report_markdown


# -- command line ---------------------------------------------------------------------------------
def write_report(paths: Sequence[Path], out: Path, *, iterations: int = DEFAULT_ITERATIONS, seed: int = 0,
                 paper_names: Mapping[str, str] | None = None, plots: bool = True,
                 grpo_labels: Mapping[str, GrpoLabel] | None = None) -> Report:
    runs = [read_run(f) for path in paths for f in find_results_files(path)]
    report = build_report(runs, iterations=iterations, seed=seed, paper_names=paper_names)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if plots:
        from .plots import write_plots

        written = write_plots(report, out)
    write_json_atomic(out / "report.json", report_json(report, grpo_labels), indent=2, nan="null")
    write_text_atomic(out / "report.md", report_markdown(report, written, grpo_labels))
    return report


def _paper_names(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ReportError(f"--paper-name {pair!r}: expected MODEL_ID=PAPER_ROW, e.g. /ckpt/qwen7b=Qwen2.5-VL-7B")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("report", __doc__)
    parser.add_argument("paths", nargs="+", type=Path, metavar="OUTPUT_DIR",
                        help="folders given to lmms_eval --output_path (searched recursively), or results files")
    parser.add_argument("--out", type=Path, default=Path("report"), help="where report.md, report.json and PNGs go")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_ITERATIONS, help="bootstrap resamples per cell")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--paper-name", action="append", default=[], metavar="MODEL_ID=PAPER_ROW",
                        help="compare a model the mapping does not know (e.g. a local path) with a paper row")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    parser.add_argument("--grpo-run", action="append", default=[], metavar="MODEL_ID=BASE_MODEL@R_P",
                        help="label a GRPO-trained run for Table 3 (rl-train's checkpoints label themselves)")
    args = parser.parse_args(argv)
    if args.bootstrap < 1:
        parser.error("--bootstrap must be at least 1")
    try:
        report = write_report(args.paths, args.out, iterations=args.bootstrap, seed=args.seed,
                              paper_names=_paper_names(args.paper_name), plots=not args.no_plots,
                              grpo_labels=dict(parse_label(text) for text in args.grpo_run))
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(main_table(report))
    print(f"wrote {args.out / 'report.md'} and report.json ({len(report.models)} models, "
          f"{len(report.variants)} variants, {len(report.runs)} runs)")
    return 0
