"""Writing a :class:`~.aggregate.Report` as ``report.json`` and ``report.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .aggregate import (
    COLUMNS,
    CONFIDENCE,
    PAPER_AVG_EXCLUDED,
    SYNTHETIC_NOTE,
    Cell,
    ModelRow,
    Report,
    TableSpec,
    model_key,
    paper_mean,
)
from .grpo import GrpoLabel, grpo_json, grpo_markdown
from .paper import SOURCE, paper_table
from .read import Run

PERCENT_METRICS = ("acc", "proactive_suggestion", "category_prediction", "aggregate")
METRIC_LABELS = {"acc": "acc", "psr": "psr", "proactive_suggestion": "ps", "category_prediction": "cc",
                 "aggregate": "agg"}
PAPER_METRIC = {"acc": "acc", "psr": "psr", "proactive_suggestion": "ps", "category_prediction": "cc"}



# -- report.json ----------------------------------------------------------------------------------
def _round(value: float | None) -> float | None:
    """Derived numbers (differences, intervals) without float noise such as 0.30000000000000004."""
    return None if value is None else round(value, 9)


def _cell_json(cell: Cell | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    out: dict[str, Any] = dict(cell.metrics)  # exactly lmms-eval's numbers (the average: their mean)
    out.update(n=cell.n, errored=cell.errored, unjudged=cell.unjudged, data_errors=cell.data_errors,
               ci95={m: [_round(lo), _round(hi)] for m, (lo, hi) in cell.ci.items()})
    if cell.task:
        out.update(task=cell.task, results_file=cell.results_file)
    out.update(synthetic=cell.synthetic, fingerprint=cell.fingerprint, subset=cell.subset)
    if cell.covers is not None:
        out["scenarios"] = f"{cell.covers[0]}/{cell.covers[1]}"
    if cell.turns:
        out["episode_lengths"] = {str(t): cell.turns.count(t) for t in sorted(set(cell.turns))}
    return out


def _diff(ours: Cell | None, metric: str, other: float | None) -> float | None:
    if ours is None or other is None or metric not in ours.metrics:
        return None
    return ours.metrics[metric] - other


def _paper_diff(ours: Cell | None, metric: str, paper: float | None) -> float | None:
    """Ours minus the paper's; none for a partial average (the paper's covers all seven scenarios)."""
    if ours is not None and ours.partial:
        return None
    return _diff(ours, metric, paper)


def _shows_paper(report: Report, spec: TableSpec) -> bool:
    """The paper's mean row belongs only in a table with a row measured on real data."""
    return any(not model.synthetic and any(report.cell(model.key, spec.variant, c) for c in COLUMNS)
               for model in report.models)


def table_json(report: Report, spec: TableSpec) -> dict[str, Any]:
    paper = paper_table(spec.paper_key) if spec.paper_key else None
    rows = []
    for model in report.models:
        if not any(report.cell(model.key, spec.variant, c) for c in COLUMNS):
            continue
        row: dict[str, Any] = {
            "model": model.display, "model_id": model.model_id, "backend": model.backend,
            "paper_name": model.paper_name, "synthetic": model.synthetic,
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
            row["diff_vs_paper"] = {c: {m: _round(_paper_diff(report.cell(model.key, spec.variant, c), m,
                                                              paper.cell(model.paper_name, c, PAPER_METRIC[m])))
                                        for m in spec.metrics if m in PAPER_METRIC} for c in COLUMNS}
        rows.append(row)
    out: dict[str, Any] = {"variant": spec.variant, "title": spec.title, "metrics": list(spec.metrics),
                           "paper_table": paper.label if paper else None, "baseline": spec.baseline, "rows": rows}
    if paper is not None and _shows_paper(report, spec):
        out["paper_mean_21_models"] = {c: {m: _round(paper_mean(paper, c, PAPER_METRIC[m])) for m in spec.metrics
                                           if m in PAPER_METRIC} for c in COLUMNS}
    return out


def report_json(report: Report, grpo_labels: Mapping[str, GrpoLabel] | None = None) -> dict[str, Any]:
    grpo = grpo_json(report, grpo_labels)
    return {
        "source": f"paper numbers: {SOURCE}",
        "bootstrap": {"iterations": report.iterations, "seed": report.seed, "confidence": CONFIDENCE,
                      "method": "percentile; episodes resampled per scenario; avg = mean of the seven scenarios"},
        "runs": [{"results_file": str(r.results_file), "date": r.date, "backend": r.backend, "model_id": r.model_id,
                  "model_args": r.model_args, "limit": r.limit, "tasks": sorted(r.tasks),
                  "data": _source_kinds(r),
                  "settings": dict(r.settings)} for r in report.runs],
        "synthetic": report.synthetic,
        "mixed_data": {task: [{"fingerprint": f, "source": kind, "results_file": path} for f, kind, path in found]
                       for task, found in report.mixed_data.items()},
        "tables": {v: table_json(report, report.spec(v)) for v in report.variants},
        **({"grpo": grpo} if grpo else {}),
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
    if cell.data_errors:
        text += f", {cell.data_errors} data err"
    if cell.subset:
        text += ", subset"
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


def _source_kinds(run: Run) -> list[str]:
    return sorted({t.source_kind or "unrecorded" for t in run.tasks.values()})


def _data(run: Run) -> str:
    """What data a run read: source kinds (``synthetic`` first) and whether --limit cut it."""
    kinds = _source_kinds(run)
    subset = any(t.subset for t in run.tasks.values()) or run.limit not in (None, "")
    return ", ".join(kinds) + (" (subset)" if subset else "")


def _settings(run: Run) -> str:
    """Whether a run used the paper's settings (bfloat16, batch size 1, greedy), as its results record."""
    settings = run.settings
    if "paper_parity" not in settings:
        return "unrecorded"
    if settings["paper_parity"]:
        return "paper-parity"
    return "not paper-parity: " + "; ".join(str(d) for d in settings.get("differences", []))


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def mixed_marks(report: Report) -> dict[str, str]:
    """``variant/scenario`` -> its footnote label, for tasks whose runs read different data."""
    return {task: f"[^data{index}]" for index, task in enumerate(sorted(report.mixed_data), 1)}


def _value(metrics: Sequence[str], cell: Cell | None, mark: str = "") -> str:
    text = _joined(metrics, [cell.metrics.get(m) if cell else None for m in metrics])
    if cell is not None and cell.partial and cell.covers is not None:
        text += f" ({cell.covers[0]}/{cell.covers[1]} scenarios)"
    return text + (mark if cell is not None else "")


def _model_name(model: ModelRow) -> str:
    name = f"**{model.display}**" + (f" (`{model.model_id}`)" if model.display != model.model_id else "")
    return name + (f" *{SYNTHETIC_NOTE}*" if model.synthetic else "")


def table_markdown(report: Report, spec: TableSpec) -> list[str]:
    paper = paper_table(spec.paper_key) if spec.paper_key else None
    metrics = spec.metrics
    label = " / ".join(METRIC_LABELS.get(m, m) for m in metrics)
    ci_metric = next((m for m in metrics if m in PERCENT_METRICS), None)
    marks = mixed_marks(report)
    lines = [f"## {spec.title}", "", _md_row(["model", "", *COLUMNS]), _md_row(["---"] * (len(COLUMNS) + 2))]
    partial_shown = False
    for model in report.models:
        cells = [report.cell(model.key, spec.variant, c) for c in COLUMNS]
        if not any(cells):
            continue
        partial_shown |= any(c is not None and c.partial for c in cells)
        name = _model_name(model)
        rows = [[name, label, *[_value(metrics, c, marks.get(f"{spec.variant}/{column}", ""))
                                for c, column in zip(cells, COLUMNS)]]]
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
            rows.append(["", "Δ vs paper", *[_joined(shown, [_paper_diff(c, m, p) for m, p in zip(shown, v)], signed=True)
                                              for c, v in zip(cells, paper_values)]])
        lines += [_md_row(r) for r in rows]
    if paper is not None and _shows_paper(report, spec):
        shown = [m for m in metrics if m in PAPER_METRIC]
        lines.append(_md_row([f"*paper, mean of {len([m for m in paper.rows if m not in PAPER_AVG_EXCLUDED])} models*",
                              " / ".join(METRIC_LABELS[m] for m in shown),
                              *[_joined(shown, [paper_mean(paper, c, PAPER_METRIC[m]) for m in shown]) for c in COLUMNS]]))
    lines.append("")
    if partial_shown:
        lines += [f"An average marked (k/{len(COLUMNS) - 1} scenarios) is the mean of the k scenarios with a score "
                  "(the others were not run, had nothing playable or every episode errored): it is not the paper's "
                  "seven-scenario average and is never compared with it.", ""]
    return lines


def mixed_footnotes(report: Report) -> list[str]:
    """One footnote per task whose runs read different data, with every fingerprint seen."""
    lines = []
    for task, mark in mixed_marks(report).items():
        seen = "; ".join(f"`{fingerprint}` ({kind}, {path})" for fingerprint, kind, path in report.mixed_data[task])
        lines.append(f"{mark}: {task} was run on different data in these runs (content fingerprints differ): {seen}. "
                     "Its figures are not comparable across these runs.")
    return lines + ([""] if lines else [])


def main_table(report: Report) -> str:
    """The report's first table (Table 1 when the run has it) with its footnotes: what ``report`` prints."""
    if not report.variants:
        return ""
    variant = "main" if "main" in report.variants else report.variants[0]
    lines = table_markdown(report, report.spec(variant))
    if report.synthetic:
        lines += [f"Rows marked *{SYNTHETIC_NOTE}* ran on synthetic episodes, not the benchmark's test set; "
                  "no paper row is shown for them.", ""]
    return "\n".join(lines + mixed_footnotes(report))


PLOT_CAPTIONS = {
    "reference_vs_proactive.png": "Reference (clean frame) vs ProactiveBench accuracy per scenario, 95% bootstrap intervals",
    "psr_per_scenario.png": "Proactive suggestions (requests) per episode",
    "acc_vs_psr.png": "Accuracy vs psr",
    "episode_lengths.png": "Episode lengths (turns), from the logged samples",
}


def report_markdown(report: Report, plots: Sequence[str] = (), grpo_labels: Mapping[str, GrpoLabel] | None = None) -> str:
    lines = [
        "# ProactiveBench report", "",
        f"Paper rows: {SOURCE} (Tables 1, 2, 6, 7 and 10), shipped in `proactivebench_ext/resources/paper_results.json`. "
        "Our scores are lmms-eval's own (results files); the average is the unweighted mean of the seven scenarios; "
        "when fewer have a score it is the mean of those and says so (`k/7 scenarios`), never compared with the "
        f"paper's. `{ABSENT}` = not run (never 0). `subset` = --limit left episodes out. Intervals: {CONFIDENCE:.0%} "
        f"percentile bootstrap over episodes ({report.iterations} resamples, seed {report.seed}); a zero-width "
        "interval only means every episode had the same outcome (few episodes: read it as unknown, not certain). "
        "`err` = episodes that ended on a fault (stats have an `error` key); `data err` = episodes whose data "
        "could not be played (the `errors` metric; left out of acc and psr); `unjudged` = open-ended answers "
        "the judge did not score. psr = proactive suggestions (requests) per episode.", "",
        "## Runs", "",
        _md_row(["model", "lmms-eval model", "model_args", "limit", "data", "settings", "tasks", "results file"]),
        _md_row(["---"] * 8),
    ]
    display = {m.key: m.display for m in report.models}
    for run in sorted(report.runs, key=lambda r: (r.backend, r.model_id, r.date)):
        shown = display.get(model_key(run, False)) or display.get(model_key(run, True), run.model_id)
        lines.append(_md_row([shown, run.backend,
                              f"`{run.model_args}`" if run.model_args else "", _limit(run.limit), _data(run),
                              _settings(run), str(len(run.tasks)), f"`{run.results_file}`"]))
    lines.append("")
    if report.synthetic:
        kinds = sorted({t.source_kind or "?" for r in report.runs for t in r.tasks.values() if t.synthetic})
        lines[2:2] = [f"**Synthetic data.** Rows marked *{SYNTHETIC_NOTE}* ran on synthetic episodes "
                      f"({', '.join(kinds)}), not the benchmark's test set; they are never set against the paper's rows. "
                      "Point `PROACTIVEBENCH_DATA_DIR` at the released `test/` folder for benchmark figures.", ""]
    for variant in report.variants:
        lines += table_markdown(report, report.spec(variant))
    lines += mixed_footnotes(report)
    lines += grpo_markdown(report, grpo_labels)
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{PLOT_CAPTIONS.get(p, p)}]({p})" for p in plots]
        lines.append("")
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    return "\n".join(lines)


