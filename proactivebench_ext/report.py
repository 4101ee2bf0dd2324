"""``python -m proactivebench_ext report OUTPUT_DIR... [--out report/]``: the paper's tables from lmms-eval output.

Reads the ``*_results.json`` files lmms-eval writes under ``--output_path`` (and the
``*_samples_<task>.jsonl`` files when the run used ``--log_samples``) of one or more runs, and
writes ``report.md`` (the paper's layout, its published rows beside ours), ``report.json`` (every
number in the tables) and PNG plots.

Every score shown is the one in lmms-eval's results file; samples add what results files lack:
a 95% bootstrap interval per accuracy cell (ROD has 88 episodes and VSOD 42, so intervals are
wide), counts of errored episodes and the distribution of episode lengths. Absent scenarios or
ablations stay absent ("–"), never 0.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .paper import AVG, SCENARIOS, SOURCE, PaperTable, paper_name, paper_table

CONFIDENCE = 0.95
DEFAULT_ITERATIONS = 2000
PAPER_AVG_EXCLUDED = ("GPT-5.2",)  # the paper's headline averages are over 21 models
COLUMNS = (*SCENARIOS, AVG)
PERCENT_METRICS = ("acc", "proactive_suggestion", "category_prediction", "aggregate")
METRIC_LABELS = {"acc": "acc", "psr": "psr", "proactive_suggestion": "ps", "category_prediction": "cc",
                 "aggregate": "agg"}
PAPER_METRIC = {"acc": "acc", "psr": "psr", "proactive_suggestion": "ps", "category_prediction": "cc"}
COUNT_METRICS = ("unjudged",)  # shown as counts beside n, never as a score

_RESULTS_FILE = re.compile(r"^(?P<date>.+)_results\.json$")
_SLUGS = {s.lower().replace("-", ""): s for s in SCENARIOS}


class ReportError(ValueError):
    """The inputs cannot be reported on; the message names the file and the fix."""


# -- what the tables are ------------------------------------------------------------------------
@dataclass(frozen=True)
class TableSpec:
    """One table of the report: a task variant, its metrics, its paper table and its baseline."""

    variant: str
    title: str
    metrics: tuple[str, ...]
    paper_key: str | None = None
    baseline: str | None = None  # deltas are shown against this variant's row


KNOWN_TABLES: tuple[TableSpec, ...] = (
    TableSpec("main", "ProactiveBench, multi-turn MCQA (Table 1): accuracy % / psr", ("acc", "psr"), "mcqa"),
    TableSpec("reference", "Reference, clean frame (Table 6): accuracy %", ("acc",), "reference"),
    TableSpec("hint", "With hints (Table 7): accuracy % / psr", ("acc", "psr"), "mcqa_hint", "main"),
    TableSpec("history", "Conversation history: accuracy % / psr", ("acc", "psr"), None, "main"),
    TableSpec("random", "Random proactive options: accuracy % / psr", ("acc", "psr"), None, "main"),
    TableSpec("oeg", "Open-ended generation, single turn (Table 2): ps % / cc % / agg %",
              ("proactive_suggestion", "category_prediction", "aggregate"), "oeg"),
    TableSpec("oeg_hint", "Open-ended generation with hint: ps % / cc % / agg %",
              ("proactive_suggestion", "category_prediction", "aggregate"), None, "oeg"),
    TableSpec("oeg_multiturn", "Open-ended generation, multi-turn (Table 10): accuracy % / psr", ("acc", "psr"),
              "oeg_multiturn"),
)
_ORDER = [spec.variant for spec in KNOWN_TABLES]


def table_spec(variant: str, metrics: Iterable[str] = ()) -> TableSpec:
    """The spec of a variant; unknown ones (e.g. new ICL flavours) get a generic table."""
    for spec in KNOWN_TABLES:
        if spec.variant == variant:
            return spec
    shown = tuple(m for m in metrics if m not in COUNT_METRICS)
    if variant.startswith("icl"):
        return TableSpec(variant, f"In-context examples ({variant}): accuracy % / psr", ("acc", "psr"), None, "main")
    return TableSpec(variant, f"Variant {variant}", shown or ("acc",), None, "main" if "acc" in shown else None)


def parse_task_name(task: str) -> tuple[str, str] | None:
    """``proactive_rod`` -> ("main", "ROD"); ``proactivebench_oeg_hint_vsod`` -> ("oeg_hint", "VSOD")."""
    if task.startswith("proactive_") and task[len("proactive_"):] in _SLUGS:
        return "main", _SLUGS[task[len("proactive_"):]]
    if not task.startswith("proactivebench_"):
        return None
    parts = task[len("proactivebench_"):].split("_")
    at = [i for i, part in enumerate(parts) if part in _SLUGS]
    if not at or len(parts) < 2:
        return None  # a group such as proactivebench_hint
    scenario = _SLUGS[parts[at[-1]]]
    return "_".join(parts[: at[-1]] + parts[at[-1] + 1:]), scenario


# -- what was read --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeRecord:
    """One logged episode: its per-sample metric values and what its stats say."""

    doc_id: Any
    values: Mapping[str, float]
    num_turns: int | None
    errored: bool
    unjudged: bool


@dataclass(frozen=True)
class TaskResult:
    task: str
    variant: str
    scenario: str
    metrics: Mapping[str, float]  # from the results file (filter "none" preferred)
    n: int | None  # n-samples effective
    episodes: tuple[EpisodeRecord, ...] | None  # None without --log_samples
    results_file: Path
    samples_file: Path | None


@dataclass(frozen=True)
class Run:
    """One lmms-eval results file."""

    results_file: Path
    date: str
    backend: str  # lmms-eval --model
    model_id: str  # pretrained= / model_version= ..., else the backend
    model_args: str
    limit: Any
    tasks: Mapping[str, TaskResult]
    ignored_tasks: tuple[str, ...]


def find_results_files(path: Path) -> list[Path]:
    """Every lmms-eval results file at or below ``path``; raises naming the path and the fix."""
    if not path.exists():
        raise ReportError(f"{path}: no such file or folder; pass the folder given to lmms_eval --output_path")
    if path.is_file():
        if not _RESULTS_FILE.match(path.name):
            raise ReportError(f"{path}: not an lmms-eval results file (expected <date>_results.json); "
                              "pass the folder given to lmms_eval --output_path")
        return [path]
    found = sorted(p for p in path.rglob("*_results.json") if p.is_file())
    if not found:
        raise ReportError(
            f"{path}: no lmms-eval results file (*_results.json) in this folder or below it; pass the folder "
            "given to `python -m lmms_eval --output_path` once the run has finished (a failed lmms-eval run "
            "exits 0 without writing one: rerun it with --verbosity DEBUG to see why)")
    return found


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise ReportError(f"{path}: not valid JSON ({error}); the run was probably interrupted while "
                          "writing it: rerun it, or delete the file") from None


def model_id_from_args(model_args: Any) -> str:
    """The checkpoint or API model named in ``--model_args`` (string ``k=v,...`` or dict), or ''."""
    if isinstance(model_args, str):
        pairs = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
    elif isinstance(model_args, Mapping):
        pairs = {str(k): str(v) for k, v in model_args.items()}
    else:
        pairs = {}
    for key in ("pretrained", "model", "model_version", "model_name", "model_id", "path", "engine"):
        if pairs.get(key, "").strip():
            return pairs[key].strip()
    return ""


def metric_values(entry: Mapping[str, Any]) -> dict[str, float]:
    """``{"acc,none": 50.0, "acc_stderr,none": ...}`` -> ``{"acc": 50.0}``; filter "none" wins."""
    by_filter: dict[str, dict[str, float]] = {}
    for key, value in entry.items():
        if "," not in key or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        metric, filter_name = key.split(",", 1)
        if "_stderr" in metric:
            continue
        by_filter.setdefault(filter_name, {})[metric] = float(value)
    if not by_filter:
        return {}
    return by_filter.get("none") or next(iter(by_filter.values()))


def _final_payload(record: Mapping[str, Any]) -> dict | None:
    """The episode JSON the task returned as its final response (``filtered_resps``)."""
    for key in ("filtered_resps", "resps"):
        value = record.get(key)
        while isinstance(value, list) and value:
            value = value[-1]
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                return parsed
    return None


def _find_stats(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The reference statistics dict (has ``num_turns``) wherever the task nested it."""
    queue: list[tuple[Any, int]] = [(payload, 0)]
    while queue:
        node, depth = queue.pop(0)
        if isinstance(node, Mapping):
            if "num_turns" in node or "correct_prediction" in node:
                return node
            if depth < 3:
                queue += [(value, depth + 1) for value in node.values() if isinstance(value, Mapping)]
    return None


def _errored(payload: Mapping[str, Any], stats: Mapping[str, Any]) -> bool:
    """An episode that ended on a fault: an ``error`` in its stats, in the episode record around them,
    or in lmms-eval's own fallback payload (``max_agentic_steps_reached``). A null ``error`` is none."""
    nested = payload.get("stats") if isinstance(payload.get("stats"), Mapping) else {}
    return any(node.get("error") is not None for node in (payload, stats, nested))


def parse_episode(record: Mapping[str, Any], metrics: Iterable[str]) -> EpisodeRecord:
    payload = _final_payload(record) or {}
    stats = _find_stats(payload) or {}
    values = {m: float(record[m]) for m in metrics
              if isinstance(record.get(m), (int, float)) and not isinstance(record.get(m), bool)}
    turns = stats.get("num_turns")
    return EpisodeRecord(
        doc_id=record.get("doc_id"),
        values=values,
        num_turns=int(turns) if isinstance(turns, (int, float)) and not isinstance(turns, bool) else None,
        errored=_errored(payload, stats),
        unjudged=bool(record.get("unjudged") or payload.get("unjudged") or stats.get("unjudged")),
    )


def read_samples(path: Path, metrics: Iterable[str]) -> tuple[EpisodeRecord, ...]:
    metrics = tuple(metrics)
    episodes = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ReportError(f"{path}:{number}: not valid JSON ({error}); the run was probably interrupted: "
                                  "rerun it, or delete this samples file (the report then has no intervals)") from None
            episodes.append(parse_episode(record, metrics))
    return tuple(episodes)


def read_run(results_file: Path) -> Run:
    """Parse one results file and its samples files (same folder, same date prefix)."""
    data = _read_json(results_file)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise ReportError(f"{results_file}: not an lmms-eval results file (no 'results' object); "
                          "pass the folder given to lmms_eval --output_path")
    date = _RESULTS_FILE.match(results_file.name).group("date")  # type: ignore[union-attr]
    config = data.get("config") or {}
    backend = str(config.get("model") or data.get("model_source") or "unknown")
    model_args = config.get("model_args") or ""
    model_id = str(data.get("model_name") or "") or model_id_from_args(model_args) or backend
    n_samples = data.get("n-samples") or {}
    tasks: dict[str, TaskResult] = {}
    ignored = []
    for task, entry in data["results"].items():
        parsed = parse_task_name(task)
        if parsed is None:
            if not task.startswith("proactive"):
                ignored.append(task)
            continue
        metrics = metric_values(entry)
        samples_file = results_file.with_name(f"{date}_samples_{task}.jsonl")
        has_samples = samples_file.is_file()
        count = (n_samples.get(task) or {}).get("effective")
        tasks[task] = TaskResult(
            task=task, variant=parsed[0], scenario=parsed[1], metrics=metrics,
            n=int(count) if isinstance(count, (int, float)) else None,
            episodes=read_samples(samples_file, metrics) if has_samples else None,
            results_file=results_file, samples_file=samples_file if has_samples else None,
        )
    return Run(results_file, date, backend, model_id,
               model_args if isinstance(model_args, str) else json.dumps(model_args, sort_keys=True),
               config.get("limit"), tasks, tuple(ignored))


# -- aggregation (pure) ---------------------------------------------------------------------------
def bootstrap_interval(groups: Sequence[Sequence[float]], *, iterations: int, seed: int, key: str,
                       confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of group means (one group: a cell; seven: the average).

    Each group is resampled on its own (stratified), so the average's interval respects the
    per-scenario sample sizes. Drawing value counts from a multinomial is the same as resampling
    episodes, and costs O(distinct values) instead of O(episodes) per iteration. Seeded per cell
    (``key``) so intervals do not change when other runs are added.
    """
    import numpy as np

    if not groups or any(len(g) == 0 for g in groups):
        return None
    rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
    total = np.zeros(iterations)
    for values in groups:
        distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
        draws = rng.multinomial(len(values), counts / len(values), size=iterations)
        total += draws @ distinct / len(values)
    total /= len(groups)
    tail = (1 - confidence) / 2
    low, high = np.quantile(total, [tail, 1 - tail])
    return float(low), float(high)


def sample_scale(reported: float, values: Sequence[float]) -> float | None:
    """Factor from per-sample values to the reported score: 1, or 100 when samples are fractions.

    None when the samples do not average to the reported number (then no interval is shown).
    """
    if not values:
        return None
    mean = math.fsum(values) / len(values)
    for scale in (1.0, 100.0):
        if math.isclose(mean * scale, reported, rel_tol=1e-6, abs_tol=1e-6):
            return scale
    return None


@dataclass(frozen=True)
class Cell:
    """One table cell: a (model, variant, scenario or avg) with every number the report shows."""

    metrics: Mapping[str, float]
    n: int | None
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    errored: int | None = None
    unjudged: int | None = None
    turns: tuple[int, ...] = ()
    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # scaled per-sample values
    task: str | None = None
    results_file: str | None = None


def scenario_cell(result: TaskResult, *, iterations: int, seed: int, key: str) -> tuple[Cell, list[str]]:
    """A cell from one task's results and samples, and notes on what did not add up."""
    notes: list[str] = []
    episodes = result.episodes
    samples: dict[str, tuple[float, ...]] = {}
    ci: dict[str, tuple[float, float]] = {}
    if episodes is not None:
        for metric, reported in result.metrics.items():
            if metric in COUNT_METRICS:
                continue
            values = [e.values[metric] for e in episodes if metric in e.values]
            scale = sample_scale(reported, values)
            if scale is None:
                if values:
                    notes.append(f"{result.samples_file}: per-sample {metric} values average to "
                                 f"{math.fsum(values) / len(values):g}, the results file says {reported:g}; "
                                 "no interval shown for this cell")
                continue
            samples[metric] = tuple(v * scale for v in values)
            interval = bootstrap_interval([samples[metric]], iterations=iterations, seed=seed, key=f"{key}/{metric}")
            if interval is not None:
                ci[metric] = interval
    if "unjudged" in result.metrics:
        unjudged: int | None = int(round(result.metrics["unjudged"]))
    else:
        unjudged = None if episodes is None else sum(e.unjudged for e in episodes)
    cell = Cell(
        metrics={m: v for m, v in result.metrics.items() if m not in COUNT_METRICS},
        n=result.n if result.n is not None else (len(episodes) if episodes is not None else None),
        ci=ci,
        errored=None if episodes is None else sum(e.errored for e in episodes),
        unjudged=unjudged,
        turns=() if episodes is None else tuple(e.num_turns for e in episodes if e.num_turns is not None),
        samples=samples, task=result.task, results_file=str(result.results_file),
    )
    return cell, notes


def average_cell(cells: Sequence[Cell | None], *, iterations: int, seed: int, key: str) -> Cell | None:
    """The paper's average column: unweighted mean over the seven scenarios, only when all seven exist."""
    if len(cells) != len(SCENARIOS) or any(c is None for c in cells):
        return None
    present: list[Cell] = [c for c in cells if c is not None]
    metrics = {m: math.fsum(c.metrics[m] for c in present) / len(present)
               for m in present[0].metrics if all(m in c.metrics for c in present)}
    ci = {}
    for metric in metrics:
        if all(metric in c.samples for c in present):
            interval = bootstrap_interval([c.samples[metric] for c in present], iterations=iterations, seed=seed,
                                          key=f"{key}/{metric}")
            if interval is not None:
                ci[metric] = interval

    def total(values: list[int | None]) -> int | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    return Cell(metrics, total([c.n for c in present]), ci, total([c.errored for c in present]),
                total([c.unjudged for c in present]))


@dataclass(frozen=True)
class ModelRow:
    key: str  # "<backend>:<model id>"
    model_id: str
    backend: str
    display: str
    paper_name: str | None


@dataclass(frozen=True)
class Report:
    models: tuple[ModelRow, ...]
    variants: tuple[str, ...]
    cells: Mapping[tuple[str, str, str], Cell]  # (model key, variant, scenario or "avg")
    runs: tuple[Run, ...]
    notes: tuple[str, ...]
    iterations: int
    seed: int

    def cell(self, model: str, variant: str, column: str) -> Cell | None:
        return self.cells.get((model, variant, column))

    def spec(self, variant: str) -> TableSpec:
        metrics: dict[str, None] = {}
        for (_, v, _), cell in self.cells.items():
            if v == variant:
                metrics.update(dict.fromkeys(cell.metrics))
        return table_spec(variant, metrics)


def _model_rows(runs: Sequence[Run], overrides: Mapping[str, str]) -> dict[str, ModelRow]:
    rows: dict[str, ModelRow] = {}
    for run in runs:
        key = f"{run.backend}:{run.model_id}"
        if key in rows:
            continue
        name = overrides.get(run.model_id) or overrides.get(run.backend) or paper_name(run.model_id)
        short = run.model_id.rstrip("/").rsplit("/", 1)[-1]
        rows[key] = ModelRow(key, run.model_id, run.backend, name or short, name)
    taken: dict[str, int] = {}
    for row in rows.values():
        taken[row.display] = taken.get(row.display, 0) + 1
    return {k: (ModelRow(r.key, r.model_id, r.backend, f"{r.display} [{r.backend}]", r.paper_name)
                if taken[r.display] > 1 else r) for k, r in rows.items()}


def build_report(runs: Sequence[Run], *, iterations: int = DEFAULT_ITERATIONS, seed: int = 0,
                 paper_names: Mapping[str, str] | None = None) -> Report:
    """Merge runs into cells: per (model, variant, scenario) the latest run wins, and a note says so."""
    if paper_names:
        unknown = [name for name in paper_names.values() if name not in paper_table("mcqa").rows]
        if unknown:
            raise ReportError(f"--paper-name: {', '.join(unknown)} is not a row of the paper's Table 1; "
                              f"rows: {', '.join(paper_table('mcqa').rows)}")
    models = _model_rows(runs, paper_names or {})
    chosen: dict[tuple[str, str, str], tuple[Run, TaskResult]] = {}
    notes: list[str] = []
    for run in sorted(runs, key=lambda r: (r.date, str(r.results_file))):
        for result in run.tasks.values():
            key = (f"{run.backend}:{run.model_id}", result.variant, result.scenario)
            if key in chosen:
                notes.append(f"{result.task} of {models[key[0]].display}: {chosen[key][0].results_file} "
                             f"superseded by the later run {run.results_file}")
            chosen[key] = (run, result)
    if not chosen:
        found = sorted({t for run in runs for t in run.ignored_tasks})
        files = ", ".join(str(run.results_file) for run in runs)
        raise ReportError(f"{files}: no ProactiveBench task in these results (tasks found: {', '.join(found) or 'none'}); "
                          "run lmms_eval with --tasks proactivebench (or proactive_rod, proactivebench_reference, ...)")
    cells: dict[tuple[str, str, str], Cell] = {}
    for (model, variant, scenario), (run, result) in chosen.items():
        cell, cell_notes = scenario_cell(result, iterations=iterations, seed=seed, key=f"{model}/{variant}/{scenario}")
        cells[(model, variant, scenario)] = cell
        notes += cell_notes
        if result.episodes is None:
            notes.append(f"{result.task} of {models[model].display}: no samples file next to {run.results_file} "
                         "(run lmms_eval with --log_samples for intervals, error counts and episode lengths)")
    variants = sorted({v for _, v, _ in cells}, key=lambda v: (_ORDER.index(v) if v in _ORDER else len(_ORDER), v))
    for model in models:
        for variant in variants:
            avg = average_cell([cells.get((model, variant, s)) for s in SCENARIOS], iterations=iterations,
                               seed=seed, key=f"{model}/{variant}/{AVG}")
            if avg is not None:
                cells[(model, variant, AVG)] = avg
    used = {m for m, _, _ in cells}
    return Report(tuple(r for k, r in models.items() if k in used), tuple(variants), cells, tuple(runs),
                  tuple(notes), iterations, seed)


def paper_mean(table: PaperTable, column: str, metric: str) -> float | None:
    """Mean of the paper's rows for one cell, GPT-5.2 excluded as in the paper's headline averages."""
    values = [table.cell(m, column, metric) for m in table.rows if m not in PAPER_AVG_EXCLUDED]
    values = [v for v in values if v is not None]
    return math.fsum(values) / len(values) if values else None


# -- report.json ----------------------------------------------------------------------------------
def _round(value: float | None) -> float | None:
    """Derived numbers (differences, intervals) without float noise such as 0.30000000000000004."""
    return None if value is None else round(value, 9)


def _cell_json(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    out: dict[str, Any] = dict(cell.metrics)  # exactly lmms-eval's numbers (the average: their mean)
    out.update(n=cell.n, errored=cell.errored, unjudged=cell.unjudged,
               ci95={m: [_round(lo), _round(hi)] for m, (lo, hi) in cell.ci.items()})
    if cell.task:
        out.update(task=cell.task, results_file=cell.results_file)
    if cell.turns:
        out["episode_lengths"] = {str(t): cell.turns.count(t) for t in sorted(set(cell.turns))}
    return out


def _diff(ours: Cell | None, metric: str, other: float | None) -> float | None:
    if ours is None or other is None or metric not in ours.metrics:
        return None
    return ours.metrics[metric] - other


def table_json(report: Report, spec: TableSpec) -> dict[str, Any]:
    paper = paper_table(spec.paper_key) if spec.paper_key else None
    rows = []
    for model in report.models:
        if not any(report.cell(model.key, spec.variant, c) for c in COLUMNS):
            continue
        row: dict[str, Any] = {
            "model": model.display, "model_id": model.model_id, "backend": model.backend,
            "paper_name": model.paper_name,
            "ours": {c: _cell_json(report.cell(model.key, spec.variant, c)) for c in COLUMNS},
        }
        if spec.baseline:
            row[f"delta_vs_{spec.baseline}"] = {
                c: {m: _round(_diff(report.cell(model.key, spec.variant, c), m,
                                    (report.cell(model.key, spec.baseline, c) or Cell({}, None)).metrics.get(m)))
                    for m in spec.metrics} for c in COLUMNS}
        if paper is not None and model.paper_name in paper.rows:
            row["paper"] = {c: {m: paper.cell(model.paper_name, c, PAPER_METRIC[m]) for m in spec.metrics
                                if m in PAPER_METRIC} for c in COLUMNS}
            row["diff_vs_paper"] = {c: {m: _round(_diff(report.cell(model.key, spec.variant, c), m,
                                                        paper.cell(model.paper_name, c, PAPER_METRIC[m])))
                                        for m in spec.metrics if m in PAPER_METRIC} for c in COLUMNS}
        rows.append(row)
    out: dict[str, Any] = {"variant": spec.variant, "title": spec.title, "metrics": list(spec.metrics),
                           "paper_table": paper.label if paper else None, "baseline": spec.baseline, "rows": rows}
    if paper is not None:
        out["paper_mean_21_models"] = {c: {m: _round(paper_mean(paper, c, PAPER_METRIC[m])) for m in spec.metrics
                                           if m in PAPER_METRIC} for c in COLUMNS}
    return out


def report_json(report: Report) -> dict[str, Any]:
    return {
        "source": f"paper numbers: {SOURCE}",
        "bootstrap": {"iterations": report.iterations, "seed": report.seed, "confidence": CONFIDENCE,
                      "method": "percentile; episodes resampled per scenario; avg = mean of the seven scenarios"},
        "runs": [{"results_file": str(r.results_file), "date": r.date, "backend": r.backend, "model_id": r.model_id,
                  "model_args": r.model_args, "limit": r.limit, "tasks": sorted(r.tasks)} for r in report.runs],
        "tables": {v: table_json(report, report.spec(v)) for v in report.variants},
        "notes": list(report.notes),
    }


# -- report.md ------------------------------------------------------------------------------------
ABSENT = "–"


def fmt(metric: str, value: float | None, *, signed: bool = False) -> str:
    """Percentages with one decimal (as the paper), psr with two (requests per episode are small)."""
    if value is None:
        return ABSENT
    digits = 2 if metric == "psr" else 1
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _joined(metrics: Sequence[str], values: Sequence[float | None], *, signed: bool = False) -> str:
    if all(v is None for v in values):
        return ABSENT
    return " / ".join(fmt(m, v, signed=signed) for m, v in zip(metrics, values))


def _counts(cell: Cell | None) -> str:
    if cell is None:
        return ABSENT
    text = ABSENT if cell.n is None else str(cell.n)
    if cell.errored:
        text += f", {cell.errored} err"
    if cell.unjudged:
        text += f", {cell.unjudged} unjudged"
    return text


def _ci(cell: Cell | None, metric: str) -> str:
    if cell is None or metric not in cell.ci:
        return ABSENT
    low, high = cell.ci[metric]
    return f"{fmt(metric, low)}–{fmt(metric, high)}"


def _limit(limit: Any) -> str:
    if limit in (None, ""):
        return ""
    return f"{limit:g}" if isinstance(limit, float) else str(limit)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table_markdown(report: Report, spec: TableSpec) -> list[str]:
    paper = paper_table(spec.paper_key) if spec.paper_key else None
    metrics = spec.metrics
    label = " / ".join(METRIC_LABELS.get(m, m) for m in metrics)
    ci_metric = next((m for m in metrics if m in PERCENT_METRICS), None)
    lines = [f"## {spec.title}", "", _md_row(["model", "", *COLUMNS]), _md_row(["---"] * (len(COLUMNS) + 2))]
    for model in report.models:
        cells = [report.cell(model.key, spec.variant, c) for c in COLUMNS]
        if not any(cells):
            continue
        name = f"**{model.display}**" + (f" (`{model.model_id}`)" if model.display != model.model_id else "")
        rows = [[name, label, *[_joined(metrics, [c.metrics.get(m) if c else None for m in metrics]) for c in cells]]]
        if spec.baseline:
            base = [report.cell(model.key, spec.baseline, c) for c in COLUMNS]
            rows.append(["", f"Δ vs {spec.baseline}", *[
                _joined(metrics, [_diff(c, m, b.metrics.get(m) if b else None) for m in metrics], signed=True)
                for c, b in zip(cells, base)]])
        if ci_metric:
            rows.append(["", f"95% CI {METRIC_LABELS.get(ci_metric, ci_metric)}", *[_ci(c, ci_metric) for c in cells]])
        rows.append(["", "n episodes", *[_counts(c) for c in cells]])
        if paper is not None and model.paper_name in paper.rows:
            shown = [m for m in metrics if m in PAPER_METRIC]
            paper_values = [[paper.cell(model.paper_name, c, PAPER_METRIC[m]) for m in shown] for c in COLUMNS]
            rows.append(["", f"paper ({paper.label})", *[_joined(shown, v) for v in paper_values]])
            rows.append(["", "Δ vs paper", *[_joined(shown, [_diff(c, m, p) for m, p in zip(shown, v)], signed=True)
                                              for c, v in zip(cells, paper_values)]])
        lines += [_md_row(r) for r in rows]
    if paper is not None:
        shown = [m for m in metrics if m in PAPER_METRIC]
        lines.append(_md_row([f"*paper, mean of {len([m for m in paper.rows if m not in PAPER_AVG_EXCLUDED])} models*",
                              " / ".join(METRIC_LABELS[m] for m in shown),
                              *[_joined(shown, [paper_mean(paper, c, PAPER_METRIC[m]) for m in shown]) for c in COLUMNS]]))
    lines.append("")
    return lines


PLOT_CAPTIONS = {
    "reference_vs_proactive.png": "Reference (clean frame) vs ProactiveBench accuracy per scenario, 95% bootstrap intervals",
    "psr_per_scenario.png": "Proactive suggestions (requests) per episode",
    "acc_vs_psr.png": "Accuracy vs psr",
    "episode_lengths.png": "Episode lengths (turns), from the logged samples",
}


def report_markdown(report: Report, plots: Sequence[str] = ()) -> str:
    lines = [
        "# ProactiveBench report", "",
        f"Paper rows: {SOURCE} (Tables 1, 2, 6, 7 and 10), shipped in `proactivebench_ext/resources/paper_results.json`. "
        "Our scores are lmms-eval's own (results files); the average is the unweighted mean of the seven scenarios "
        f"and is shown only when all seven are present. `{ABSENT}` = not run (never 0). Intervals: {CONFIDENCE:.0%} "
        f"percentile bootstrap over episodes ({report.iterations} resamples, seed {report.seed}); a zero-width "
        "interval only means every episode had the same outcome (few episodes: read it as unknown, not certain). "
        "`err` = episodes that ended on a fault (stats have an `error` key); `unjudged` = open-ended answers "
        "the judge did not score. psr = proactive suggestions (requests) per episode.", "",
        "## Runs", "",
        _md_row(["model", "lmms-eval model", "model_args", "limit", "tasks", "results file"]),
        _md_row(["---"] * 6),
    ]
    display = {m.key: m.display for m in report.models}
    for run in sorted(report.runs, key=lambda r: (r.backend, r.model_id, r.date)):
        lines.append(_md_row([display.get(f"{run.backend}:{run.model_id}", run.model_id), run.backend,
                              f"`{run.model_args}`" if run.model_args else "", _limit(run.limit),
                              str(len(run.tasks)), f"`{run.results_file}`"]))
    lines.append("")
    for variant in report.variants:
        lines += table_markdown(report, report.spec(variant))
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{PLOT_CAPTIONS.get(p, p)}]({p})" for p in plots]
        lines.append("")
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------------------
def write_report(paths: Sequence[Path], out: Path, *, iterations: int = DEFAULT_ITERATIONS, seed: int = 0,
                 paper_names: Mapping[str, str] | None = None, plots: bool = True) -> Report:
    runs = [read_run(f) for path in paths for f in find_results_files(path)]
    report = build_report(runs, iterations=iterations, seed=seed, paper_names=paper_names)
    out.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if plots:
        from .report_plots import write_plots

        written = write_plots(report, out)
    (out / "report.json").write_text(json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "report.md").write_text(report_markdown(report, written), "utf-8")
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
    parser = argparse.ArgumentParser(prog="python -m proactivebench_ext report", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="OUTPUT_DIR",
                        help="folders given to lmms_eval --output_path (searched recursively), or results files")
    parser.add_argument("--out", type=Path, default=Path("report"), help="where report.md, report.json and PNGs go")
    parser.add_argument("--bootstrap", type=int, default=DEFAULT_ITERATIONS, help="bootstrap resamples per cell")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--paper-name", action="append", default=[], metavar="MODEL_ID=PAPER_ROW",
                        help="compare a model the mapping does not know (e.g. a local path) with a paper row")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    args = parser.parse_args(argv)
    if args.bootstrap < 1:
        parser.error("--bootstrap must be at least 1")
    try:
        report = write_report(args.paths, args.out, iterations=args.bootstrap, seed=args.seed,
                              paper_names=_paper_names(args.paper_name), plots=not args.no_plots)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'report.md'} and report.json ({len(report.models)} models, "
          f"{len(report.variants)} variants, {len(report.runs)} runs)")
    return 0
