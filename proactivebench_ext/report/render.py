"""Writing a :class:`~.aggregate.Report` as ``report.json`` and ``report.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .aggregate import COLUMNS, CONFIDENCE, PAPER_AVG_EXCLUDED, Cell, Report, TableSpec, paper_mean
from .grpo import GrpoLabel, grpo_json, grpo_markdown
from .paper import SOURCE, paper_table

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


def report_json(report: Report, grpo_labels: Mapping[str, GrpoLabel] | None = None) -> dict[str, Any]:
    grpo = grpo_json(report, grpo_labels)
    return {
        "source": f"paper numbers: {SOURCE}",
        "bootstrap": {"iterations": report.iterations, "seed": report.seed, "confidence": CONFIDENCE,
                      "method": "percentile; episodes resampled per scenario; avg = mean of the seven scenarios"},
        "runs": [{"results_file": str(r.results_file), "date": r.date, "backend": r.backend, "model_id": r.model_id,
                  "model_args": r.model_args, "limit": r.limit, "tasks": sorted(r.tasks)} for r in report.runs],
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


def report_markdown(report: Report, plots: Sequence[str] = (), grpo_labels: Mapping[str, GrpoLabel] | None = None) -> str:
    lines = [
        "# ProactiveBench report", "",
        f"Paper rows: {SOURCE} (Tables 1, 2, 6, 7 and 10), shipped in `proactivebench_ext/resources/paper_results.json`. "
        "Our scores are lmms-eval's own (results files); the average is the unweighted mean of the seven scenarios "
        f"and is shown only when all seven are present. `{ABSENT}` = not run (never 0). Intervals: {CONFIDENCE:.0%} "
        f"percentile bootstrap over episodes ({report.iterations} resamples, seed {report.seed}); a zero-width "
        "interval only means every episode had the same outcome (few episodes: read it as unknown, not certain). "
        "`err` = episodes that ended on a fault (stats have an `error` key); `data err` = episodes whose data "
        "could not be played (the `errors` metric; left out of acc and psr); `unjudged` = open-ended answers "
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
    lines += grpo_markdown(report, grpo_labels)
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{PLOT_CAPTIONS.get(p, p)}]({p})" for p in plots]
        lines.append("")
    if report.notes:
        lines += ["## Notes", "", *[f"- {note}" for note in report.notes], ""]
    return "\n".join(lines)


