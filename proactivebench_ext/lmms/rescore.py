"""``python -m proactivebench_ext rescore RUN...``: recompute every logged figure from the logged episodes.

A number in a results file (a leaderboard, a paper) can be checked by anyone holding the run's
folder (results and ``--log_samples`` files) and the data folder's JSONL files (images are not
needed): each logged episode's answers are replayed through the engine with the very scoring
hook lmms-eval called (``process_results``), and the per-task ``acc``, ``psr`` (mean requests per
episode), reference accuracy (the ``reference`` tasks' ``acc``) and ``errors`` (errored
episodes) are recomputed and set beside the logged ones.

Exit status 1 names each task whose logged figure differs from the recomputed one, whose samples
miss episodes (fewer logged than evaluated, or none), or whose data folder no longer holds the
rows the run read (its fingerprint differs). Open-ended tasks are listed as skipped: their
scores come from an LLM judge, not from the engine.

It lives beside the hooks (not in ``report``) because it scores with them: the very
``process_results`` lmms-eval called, never a second copy of the rules.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cli import command_parser
from ..core.naming import parse_task_name
from ..report.read import PROVENANCE_BLOCK, ReportError, find_results_files, iter_samples, metric_values

TOLERANCE = 1e-6
MEAN_METRICS = ("acc", "psr")  # lmms-eval's mean over played episodes
SUM_METRICS = ("errors",)  # summed over all episodes


@dataclass
class TaskCheck:
    """One task of one run: each metric logged and recomputed, and what did not add up."""

    task: str
    results_file: Path
    logged: dict[str, float] = field(default_factory=dict)
    recomputed: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.skipped is not None or not self.problems


# -- pure parts -------------------------------------------------------------------------------------
def aggregate(values: Sequence[Mapping[str, float]], metrics: Sequence[str]) -> dict[str, float | None]:
    """lmms-eval's aggregation of per-episode values: means for acc/psr (episodes that have the
    metric), sums for errors; None for a mean over no episode."""
    out: dict[str, float | None] = {}
    for metric in metrics:
        present = [v[metric] for v in values if metric in v]
        if metric in SUM_METRICS:
            out[metric] = float(math.fsum(present))
        else:
            out[metric] = math.fsum(present) / len(present) if present else None
    return out


def differences(logged: Mapping[str, float], recomputed: Mapping[str, float | None]) -> list[str]:
    """The metrics whose logged figure is not the recomputed one (a logged score without a recomputed one too)."""
    problems = []
    for metric, value in logged.items():
        again = recomputed.get(metric)
        if again is None or not math.isclose(value, again, rel_tol=0, abs_tol=TOLERANCE):
            problems.append(f"{metric} logged {value:g}, recomputed {'none' if again is None else f'{again:g}'}")
    return problems


def missing_episodes(expected: range, logged_ids: Sequence[Any]) -> list[int]:
    return sorted(set(expected) - {i for i in logged_ids if isinstance(i, int)})


# -- replaying one task ------------------------------------------------------------------------------
def _quiet_hooks() -> None:
    """The scoring hook warns about every errored episode; once per run was enough."""
    try:
        from loguru import logger
    except ImportError:
        return
    logger.disable("proactivebench_ext")


def _data_dir(task_provenance: Mapping[str, Any] | None, records: Sequence[Mapping[str, Any]],
              override: Path | None) -> str | None:
    if override is not None:
        return str(override)
    source = (task_provenance or {}).get("source")
    if isinstance(source, Mapping) and source.get("folder"):
        return str(source["folder"])
    for record in records:
        if isinstance(record.get("data_dir"), str):
            return record["data_dir"]
    return None


def _payload(sample: Mapping[str, Any]) -> dict[str, Any]:
    response = sample.get("filtered_resps", sample.get("resps"))
    while isinstance(response, list) and response:
        response = response[0]
    try:
        parsed = json.loads(response) if isinstance(response, str) else response
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def check_task(task: str, entry: Mapping[str, Any], results: Mapping[str, Any], results_file: Path,
               data_override: Path | None) -> TaskCheck:
    """Replay one task's logged episodes and compare the figures."""
    from ..core.variants import get_variant
    from ..data.provenance import fingerprint
    from . import hooks

    parsed = parse_task_name(task)
    assert parsed is not None
    check = TaskCheck(task, results_file)
    try:
        variant = get_variant(parsed.variant)
    except KeyError:
        check.skipped = f"variant {parsed.variant} is scored by an LLM judge or unknown here"
        return check
    metrics = [*variant.metrics, "errors"]
    check.logged = {m: v for m, v in metric_values(entry).items() if m in metrics}
    date = results_file.name.removesuffix("_results.json")
    samples_file = results_file.with_name(f"{date}_samples_{task}.jsonl")
    n_samples = (results.get("n-samples") or {}).get(task) or {}
    evaluated = int(n_samples.get("effective", 0))
    offset = int((results.get("config") or {}).get("offset") or 0)
    if not samples_file.is_file():
        check.problems.append(f"no samples file {samples_file.name}: the run needs --log_samples to be rescored")
        return check
    samples = list(iter_samples(samples_file))
    missing = missing_episodes(range(offset, offset + evaluated), [s.get("doc_id") for s in samples])
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        check.problems.append(f"{len(missing)} of {evaluated} episodes missing from {samples_file.name} "
                              f"(doc_id {shown})")
    records = [_payload(s) for s in samples]
    block = results.get(PROVENANCE_BLOCK) if isinstance(results.get(PROVENANCE_BLOCK), Mapping) else {}
    task_provenance = (block.get("tasks") or {}).get(task) if isinstance(block.get("tasks"), Mapping) else None
    data_dir = _data_dir(task_provenance, records, data_override)
    if data_dir is None or not Path(data_dir).is_dir():
        check.problems.append(f"data folder {data_dir} not found: pass --data-dir (the folder the run read)")
        return check
    recorded = (task_provenance or {}).get("fingerprint") or {}
    if recorded.get("rows_sha256") and fingerprint(parsed.acronym, data_dir).rows_sha256 != recorded["rows_sha256"]:
        check.problems.append(f"the rows of {data_dir} are not the ones the run read (fingerprint "
                              f"{recorded.get('id')}): point --data-dir at the run's data")
        return check
    docs = hooks.doc_rows(parsed.acronym, parsed.variant, data_dir)
    values = []
    for sample, record in zip(samples, records):
        doc_id = sample.get("doc_id")
        if not isinstance(doc_id, int) or not 0 <= doc_id < len(docs):
            check.problems.append(f"doc_id {doc_id!r} is not a doc of the task ({len(docs)} docs)")
            continue
        doc = docs[doc_id]
        if record.get("sample_id") not in (None, doc["sample_id"]):
            check.problems.append(f"doc_id {doc_id}: logged sample {record.get('sample_id')}, the data's is "
                                  f"{doc['sample_id']}")
            continue
        again = hooks.process_results(doc, [sample.get("filtered_resps", sample.get("resps"))])
        values.append(again)
        logged = {m: float(sample[m]) for m in metrics if isinstance(sample.get(m), (int, float))}
        changed = differences(logged, again)
        if changed:
            check.problems.append(f"doc_id {doc_id}: " + "; ".join(changed))
    check.recomputed = aggregate(values, metrics)
    check.problems[:0] = differences(check.logged, check.recomputed)
    return check


def rescore(paths: Sequence[Path], data_dir: Path | None = None) -> list[TaskCheck]:
    _quiet_hooks()
    checks = []
    for path in paths:
        for results_file in find_results_files(path):
            try:
                results = json.loads(results_file.read_text("utf-8"))
            except json.JSONDecodeError as error:
                raise ReportError(f"{results_file}: not valid JSON ({error})") from None
            for task, entry in (results.get("results") or {}).items():
                if parse_task_name(task) is not None:
                    checks.append(check_task(task, entry, results, results_file, data_dir))
    if not checks:
        raise ReportError(f"{', '.join(map(str, paths))}: no ProactiveBench task in these results")
    return checks


def table(checks: Sequence[TaskCheck]) -> str:
    """One Markdown table: task, metric, logged, recomputed, verdict."""
    lines = ["| task | metric | logged | recomputed | |", "| --- | --- | --- | --- | --- |"]
    for check in checks:
        if check.skipped:
            lines.append(f"| {check.task} | – | – | – | skipped: {check.skipped} |")
            continue
        for metric in sorted(set(check.logged) | set(check.recomputed)):
            logged, again = check.logged.get(metric), check.recomputed.get(metric)
            same = logged is not None and again is not None and math.isclose(logged, again, abs_tol=TOLERANCE)
            lines.append(f"| {check.task} | {metric} | {'–' if logged is None else f'{logged:g}'} | "
                         f"{'–' if again is None else f'{again:g}'} | {'ok' if same and check.ok else 'DIFFERS'} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("rescore", __doc__)
    parser.add_argument("paths", nargs="+", type=Path, metavar="RUN",
                        help="folders given to lmms_eval --output_path (run with --log_samples), or results files")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="the data folder the run read (default: the one its results file records)")
    args = parser.parse_args(argv)
    try:
        checks = rescore(args.paths, args.data_dir)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(table(checks))
    failed = [check for check in checks if not check.ok]
    for check in failed:
        print(f"error: {check.task} ({check.results_file}): " + "; ".join(check.problems[:5])
              + (f"; and {len(check.problems) - 5} more" if len(check.problems) > 5 else ""), file=sys.stderr)
    if failed:
        print(f"rescore: {len(failed)} task(s) do not match their logged episodes: "
              f"{', '.join(sorted({c.task for c in failed}))}", file=sys.stderr)
        return 1
    print(f"rescore: {len(checks)} task(s), every logged figure equals the recomputed one")
    return 0
