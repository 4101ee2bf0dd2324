"""From runs to table cells: scores as lmms-eval reported them, bootstrap intervals, paper rows (pure)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.variants import variant_metrics
from .paper import AVG, SCENARIOS, PaperTable, paper_name, paper_table
from .read import ReportError, Run, TaskResult

CONFIDENCE = 0.95
DEFAULT_ITERATIONS = 2000
PAPER_AVG_EXCLUDED = ("GPT-5.2",)  # the paper's headline averages are over 21 models
COLUMNS = (*SCENARIOS, AVG)
COUNT_METRICS = ("unjudged", "errors")  # shown as counts beside n, never as a score
SYNTHETIC_KEY = "#synthetic"  # model key suffix: results on synthetic data are a row of their own
SYNTHETIC_LABEL = "[synthetic]"
SYNTHETIC_NOTE = "synthetic — not comparable to the paper"


# -- what the tables are ------------------------------------------------------------------------
@dataclass(frozen=True)
class TableSpec:
    """One table of the report: a task variant, its paper table and its baseline.

    Its metrics are the variant's own (``core.variants``); ``fallback_metrics`` serve variants the
    table does not know (a user's own task family), read off their results.
    """

    variant: str
    title: str
    paper_key: str | None = None
    baseline: str | None = None  # deltas are shown against this variant's row
    fallback_metrics: tuple[str, ...] = ("acc",)

    @property
    def metrics(self) -> tuple[str, ...]:
        try:
            return variant_metrics(self.variant)
        except KeyError:
            return self.fallback_metrics


KNOWN_TABLES: tuple[TableSpec, ...] = (
    TableSpec("main", "ProactiveBench, multi-turn MCQA (Table 1): accuracy % / psr", "mcqa"),
    TableSpec("reference", "Reference, clean frame (Table 6): accuracy %", "reference"),
    TableSpec("hint", "With hints (Table 7): accuracy % / psr", "mcqa_hint", "main"),
    TableSpec("history", "Conversation history: accuracy % / psr", None, "main"),
    TableSpec("random", "Random proactive options: accuracy % / psr", None, "main"),
    TableSpec("oeg", "Open-ended generation, single turn (Table 2): ps % / cc % / agg %", "oeg"),
    TableSpec("oeg_hint", "Open-ended generation with hint: ps % / cc % / agg %", None, "oeg"),
    TableSpec("oeg_multiturn", "Open-ended generation, multi-turn (Table 10): accuracy % / psr", "oeg_multiturn"),
)
_ORDER = [spec.variant for spec in KNOWN_TABLES]


def table_spec(variant: str, metrics: Iterable[str] = ()) -> TableSpec:
    """The spec of a variant; others (ICL flavours, a user's own variants) get a generic table."""
    for spec in KNOWN_TABLES:
        if spec.variant == variant:
            return spec
    if variant.startswith("icl"):
        return TableSpec(variant, f"In-context examples ({variant}): accuracy % / psr", None, "main")
    shown = tuple(m for m in metrics if m not in COUNT_METRICS) or ("acc",)
    return TableSpec(variant, f"Variant {variant}", None, "main" if "acc" in shown else None, shown)


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
    data_errors: int | None = None  # episodes left out of the means: their data could not be played
    turns: tuple[int, ...] = ()
    samples: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # scaled per-sample values
    task: str | None = None
    results_file: str | None = None
    synthetic: bool = False
    fingerprint: str | None = None  # the data's content fingerprint (results' proactivebench block)
    subset: bool = False  # --limit / --offset left episodes out
    covers: tuple[int, int] | None = None  # the average: (scenarios in its mean, scenarios in all)

    @property
    def partial(self) -> bool:
        return self.covers is not None and self.covers[0] < self.covers[1]


def scenario_cell(result: TaskResult, *, iterations: int, seed: int, key: str,
                  limit: Any = None) -> tuple[Cell, list[str]]:
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
        data_errors=int(round(result.metrics["errors"])) if "errors" in result.metrics else None,
        turns=() if episodes is None else tuple(e.num_turns for e in episodes if e.num_turns is not None),
        samples=samples, task=result.task, results_file=str(result.results_file),
        synthetic=result.synthetic, fingerprint=result.fingerprint, subset=result.subset or bool(limit),
    )
    return cell, notes


def average_cell(cells: Sequence[Cell | None], *, iterations: int, seed: int, key: str) -> Cell | None:
    """The paper's average column: unweighted mean over the scenarios that have a score.

    The paper's average is over all seven; when some scenario has no score (not run, nothing
    playable, every episode errored) the mean covers fewer, and ``covers`` says how many, so the
    report can mark it (``6/7``) and never set it beside a complete one unmarked.
    """
    if len(cells) != len(SCENARIOS):
        return None
    present: list[Cell] = [c for c in cells if c is not None]
    names = [m for m in dict.fromkeys(m for c in present for m in c.metrics)]
    if not names:
        return None
    primary = names[0]
    scored = [c for c in present if primary in c.metrics]
    metrics = {m: math.fsum(c.metrics[m] for c in scored) / len(scored)
               for m in names if scored and all(m in c.metrics for c in scored)}
    if not metrics:
        return None
    ci = {}
    for metric in metrics:
        if all(metric in c.samples for c in scored):
            interval = bootstrap_interval([c.samples[metric] for c in scored], iterations=iterations, seed=seed,
                                          key=f"{key}/{metric}")
            if interval is not None:
                ci[metric] = interval

    def total(values: list[int | None]) -> int | None:
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    fingerprints = {c.fingerprint for c in scored}
    return Cell(metrics, total([c.n for c in present]), ci, total([c.errored for c in present]),
                total([c.unjudged for c in present]), total([c.data_errors for c in present]),
                synthetic=any(c.synthetic for c in present), subset=any(c.subset for c in present),
                fingerprint=None if len(fingerprints) != 1 else next(iter(fingerprints)),
                covers=(len(scored), len(SCENARIOS)))


@dataclass(frozen=True)
class ModelRow:
    key: str  # "<backend>:<model id>"
    model_id: str
    backend: str
    display: str
    paper_name: str | None  # None for synthetic rows: never compared with the paper
    synthetic: bool = False

    @property
    def label(self) -> str:
        """The display name with its data mark, for plots and one-line listings."""
        return self.display if not self.synthetic or SYNTHETIC_LABEL in self.display else f"{self.display} {SYNTHETIC_LABEL}"


@dataclass(frozen=True)
class Report:
    models: tuple[ModelRow, ...]
    variants: tuple[str, ...]
    cells: Mapping[tuple[str, str, str], Cell]  # (model key, variant, scenario or "avg")
    runs: tuple[Run, ...]
    notes: tuple[str, ...]
    iterations: int
    seed: int
    mixed_data: Mapping[str, Sequence[tuple[str, str, str]]] = field(default_factory=dict)  # "variant/scenario" ->

    @property
    def synthetic(self) -> bool:
        return any(model.synthetic for model in self.models)

    def cell(self, model: str, variant: str, column: str) -> Cell | None:
        return self.cells.get((model, variant, column))

    def spec(self, variant: str) -> TableSpec:
        metrics: dict[str, None] = {}
        for (_, v, _), cell in self.cells.items():
            if v == variant:
                metrics.update(dict.fromkeys(cell.metrics))
        return table_spec(variant, metrics)


def model_key(run: Run, synthetic: bool) -> str:
    """``<backend>:<model id>``, plus :data:`SYNTHETIC_KEY` for results on synthetic data (their own row)."""
    return f"{run.backend}:{run.model_id}" + (SYNTHETIC_KEY if synthetic else "")


def _model_rows(runs: Sequence[Run], overrides: Mapping[str, str]) -> dict[str, ModelRow]:
    """One row per model and kind of data: results on synthetic data never share a row with real ones."""
    rows: dict[str, ModelRow] = {}
    for run in runs:
        for synthetic in sorted({result.synthetic for result in run.tasks.values()}) or [False]:
            key = model_key(run, synthetic)
            if key in rows:
                continue
            name = overrides.get(run.model_id) or overrides.get(run.backend) or paper_name(run.model_id)
            short = run.model_id.rstrip("/").rsplit("/", 1)[-1]
            rows[key] = ModelRow(key, run.model_id, run.backend, name or short, None if synthetic else name, synthetic)
    real = {row.display for row in rows.values() if not row.synthetic}
    rows = {k: (ModelRow(r.key, r.model_id, r.backend, f"{r.display} {SYNTHETIC_LABEL}", r.paper_name, r.synthetic)
                if r.synthetic and r.display in real else r) for k, r in rows.items()}  # one model, both kinds of data
    taken: dict[str, int] = {}
    for row in rows.values():
        taken[row.display] = taken.get(row.display, 0) + 1
    return {k: (ModelRow(r.key, r.model_id, r.backend, f"{r.display} [{r.backend}]", r.paper_name, r.synthetic)
                if taken[r.display] > 1 else r) for k, r in rows.items()}


def fingerprint_notes(runs: Sequence[Run]) -> dict[str, list[tuple[str, str, str]]]:
    """Tasks whose runs read different data: task -> [(fingerprint, source kind, results file)].

    Two runs of one task are only comparable on the same rows and images; different fingerprints
    (another revision, a subset folder, a synthetic set) are never averaged or compared silently.
    """
    seen: dict[str, dict[str, tuple[str, str, str]]] = {}
    for run in sorted(runs, key=lambda r: (r.date, str(r.results_file))):
        for result in run.tasks.values():
            if result.fingerprint is None:
                continue
            seen.setdefault(f"{result.variant}/{result.scenario}", {}).setdefault(
                result.fingerprint, (result.fingerprint, result.source_kind or "?", str(run.results_file)))
    return {task: list(found.values()) for task, found in seen.items() if len(found) > 1}


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
            key = (model_key(run, result.synthetic), result.variant, result.scenario)
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
        cell, cell_notes = scenario_cell(result, iterations=iterations, seed=seed, key=f"{model}/{variant}/{scenario}",
                                         limit=run.limit if result.provenance is None else None)
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
                  tuple(notes), iterations, seed, fingerprint_notes(runs))


def paper_mean(table: PaperTable, column: str, metric: str) -> float | None:
    """Mean of the paper's rows for one cell, GPT-5.2 excluded as in the paper's headline averages."""
    values = [table.cell(m, column, metric) for m in table.rows if m not in PAPER_AVG_EXCLUDED]
    values = [v for v in values if v is not None]
    return math.fsum(values) / len(values) if values else None


