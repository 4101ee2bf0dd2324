"""PNG plots of a :class:`~proactivebench_ext.report.Report` (matplotlib, Agg, no pyplot state).

Figures are built with ``matplotlib.figure.Figure`` directly, so nothing here touches the global
pyplot backend of a caller (a notebook, a test run). Absent cells are drawn as "–", never as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .aggregate import PAPER_AVG_EXCLUDED, SYNTHETIC_NOTE, Report
from .paper import AVG, SCENARIOS, paper_table
from .render import ABSENT

DPI = 90
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("the report's plots need matplotlib: pip install matplotlib "
                          "(or pass --no-plots)") from None
    return Figure(figsize=(width, height), layout="constrained")


def synthetic_caption(report: Report) -> str:
    """A second title line for figures with synthetic rows (their labels say ``[synthetic]``)."""
    return f"\n[synthetic] rows: {SYNTHETIC_NOTE}" if report.synthetic else ""


def _color(index: int) -> str:
    return COLORS[index % len(COLORS)]


def _errbar(value: float, ci: tuple[float, float] | None) -> dict:
    """Bar keyword arguments for an interval (none without samples: no zero-length caps)."""
    if ci is None:
        return {}
    return dict(yerr=[[max(value - ci[0], 0.0)], [max(ci[1] - value, 0.0)]], capsize=2, ecolor="0.2")


def _absent(ax, x: float, y: float = 0.0) -> None:
    ax.text(x, y, ABSENT, ha="center", va="bottom", fontsize=13, fontweight="bold", color="0.35")


def _zero(ax, x: float, value: float) -> None:
    """Label a zero-height bar "0", so a measured zero never looks like an absent cell."""
    if abs(value) < 1e-12:
        ax.text(x, 0.0, "0", ha="center", va="bottom", fontsize=8, color="0.15")


def plot_reference_vs_proactive(report: Report, path: Path) -> bool:
    """Per scenario: reference and ProactiveBench accuracy side by side, one group per model."""
    variants = [v for v in ("reference", "main") if v in report.variants]
    if not variants:
        return False
    columns = [*SCENARIOS, AVG]
    models = report.models
    fig = _figure(13, 6.4)
    axes = fig.subplots(2, 4, sharey=True).ravel()
    styles = {"reference": dict(color="#9ecae1", label="reference (clean frame)"),
              "main": dict(color="#08519c", label="ProactiveBench")}
    width = 0.8 / len(variants)
    paper_labelled = False
    for ax, column in zip(axes, columns):
        for m, model in enumerate(models):
            for variant in ("reference", "main"):
                x = m - 0.4 + width / 2 + width * variants.index(variant) if variant in variants else None
                if x is None:
                    continue
                cell = report.cell(model.key, variant, column)
                if cell is None or "acc" not in cell.metrics or cell.partial:  # a partial mean is no average
                    _absent(ax, x)
                    continue
                value = cell.metrics["acc"]
                ax.bar([x], [value], width * 0.95, **_errbar(value, cell.ci.get("acc")),
                       **{**styles[variant], "label": styles[variant]["label"] if (ax is axes[0] and m == 0) else None})
                _zero(ax, x, value)
                paper_key = {"reference": "reference", "main": "mcqa"}[variant]
                paper_value = paper_table(paper_key).cell(model.paper_name or "", column, "acc")
                if paper_value is not None:
                    ax.scatter([x], [paper_value], marker="D", s=22, color="black", zorder=3,
                               label="paper" if not paper_labelled else None)
                    paper_labelled = True
        ax.set_title(column if column != AVG else "average", fontsize=10)
        ax.set_xticks(range(len(models)), [m.label for m in models], rotation=30 if len(models) > 2 else 0,
                      ha="right" if len(models) > 2 else "center", fontsize=8)
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[::4]:
        ax.set_ylabel("accuracy (%)")
    handles, labels = _legend_entries(axes)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
    diamonds = "; diamonds: the paper's number for the same model" if paper_labelled else ""
    fig.suptitle(f"Reference vs ProactiveBench accuracy (bars: ours, 95% bootstrap CI{diamonds})"
                 f"{synthetic_caption(report)}", fontsize=11)
    fig.savefig(path, dpi=DPI)
    return True


def _grouped_bars(ax, report: Report, variant: str, metric: str, columns: Sequence[str]) -> None:
    models = report.models
    width = 0.8 / max(len(models), 1)
    for m, model in enumerate(models):
        for c, column in enumerate(columns):
            x = c - 0.4 + width / 2 + width * m
            cell = report.cell(model.key, variant, column)
            if cell is None or metric not in cell.metrics or cell.partial:
                _absent(ax, x, 0.0)
                continue
            value = cell.metrics[metric]
            ax.bar([x], [value], width * 0.95, color=_color(m), **_errbar(value, cell.ci.get(metric)),
                   label=model.label if c == 0 else None)
            _zero(ax, x, value)
    ax.set_xticks(range(len(columns)), [c if c != AVG else "average" for c in columns])
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.grid(axis="y", alpha=0.3)


def plot_psr(report: Report, path: Path) -> bool:
    """Requests per episode, per scenario, one bar per model."""
    if "main" not in report.variants:
        return False
    fig = _figure(11, 4.6)
    ax = fig.subplots()
    _grouped_bars(ax, report, "main", "psr", [*SCENARIOS, AVG])
    ax.set_ylabel("psr (requests per episode)")
    ax.set_xlabel("scenario")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, title="model", title_fontsize=8)
    ax.set_title(f"Proactive suggestions per episode (ProactiveBench, 95% bootstrap CI){synthetic_caption(report)}",
                 fontsize=11)
    fig.savefig(path, dpi=DPI)
    return True


def plot_acc_vs_psr(report: Report, path: Path) -> bool:
    """Left: every (model, scenario); right: model averages over the paper's 21 models."""
    if "main" not in report.variants:
        return False
    fig = _figure(12, 5.2)
    left, right = fig.subplots(1, 2)
    for m, model in enumerate(report.models):
        for s, scenario in enumerate(SCENARIOS):
            cell = report.cell(model.key, "main", scenario)
            if cell and {"acc", "psr"} <= set(cell.metrics):
                left.scatter(cell.metrics["psr"], cell.metrics["acc"], color=_color(m), marker=MARKERS[s], s=45,
                             edgecolor="black", linewidth=0.4)
    for m, model in enumerate(report.models):
        left.scatter([], [], color=_color(m), marker="o", label=model.label)
    for s, scenario in enumerate(SCENARIOS):
        left.scatter([], [], color="white", edgecolor="black", marker=MARKERS[s], label=scenario)
    left.legend(fontsize=7, ncols=2, loc="best")
    left.set_title("per scenario (colour: model, marker: scenario)", fontsize=10)
    paper = paper_table("mcqa")
    if not all(model.synthetic for model in report.models):  # the paper's cloud only beside real-data rows
        for name, row in paper.rows.items():
            if name not in PAPER_AVG_EXCLUDED and AVG in row:
                right.scatter(row[AVG]["psr"], row[AVG]["acc"], color="0.8", s=22)
        right.scatter([], [], color="0.8", s=22, label="the paper's 21 models (Table 1)")
    plotted = 0
    for m, model in enumerate(report.models):
        cell = report.cell(model.key, "main", AVG)
        if cell and not cell.partial and {"acc", "psr"} <= set(cell.metrics):
            right.scatter(cell.metrics["psr"], cell.metrics["acc"], color=_color(m), s=80, edgecolor="black",
                          label=model.label, zorder=3)
            plotted += 1
        published = paper.rows.get(model.paper_name or "", {}).get(AVG)
        if published:
            right.scatter(published["psr"], published["acc"], color=_color(m), marker="D", s=40, edgecolor="black",
                          label=f"paper: {model.paper_name}", zorder=3)
    if not plotted:
        right.text(0.5, 0.5, f"{ABSENT} no model has all seven scenarios", transform=right.transAxes, ha="center")
    right.legend(fontsize=7, loc="best")
    right.set_title("average over the seven scenarios", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("psr (requests per episode)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-3, 103)
        xs = [x for collection in ax.collections for x, _ in collection.get_offsets()]
        ax.set_xlim(-0.05, max(xs, default=1.0) * 1.08 + 0.05)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Accuracy vs proactive suggestion rate (ProactiveBench){synthetic_caption(report)}", fontsize=11)
    fig.savefig(path, dpi=DPI)
    return True


def plot_episode_lengths(report: Report, path: Path) -> bool:
    """Share of episodes by number of turns, per scenario, one bar per model (from --log_samples)."""
    if not any(report.cell(m.key, "main", s) and report.cell(m.key, "main", s).turns
               for m in report.models for s in SCENARIOS):
        return False
    fig = _figure(13, 6.2)
    axes = fig.subplots(2, 4).ravel()
    models = report.models
    width = 0.8 / max(len(models), 1)
    for ax, scenario in zip(axes, SCENARIOS):
        longest = 1
        for m, model in enumerate(models):
            cell = report.cell(model.key, "main", scenario)
            if not cell or not cell.turns:
                continue
            longest = max(longest, max(cell.turns))
            lengths = sorted(set(cell.turns))
            shares = [100 * cell.turns.count(t) / len(cell.turns) for t in lengths]
            ax.bar([t - 0.4 + width / 2 + width * m for t in lengths], shares, width * 0.95, color=_color(m),
                   label=model.label)
        ax.set_title(scenario, fontsize=10)
        ax.set_xlim(0.4, longest + 0.6)
        ax.set_xticks(range(1, longest + 1, max(1, longest // 8)))
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlabel("turns", fontsize=8)
    for ax in axes[::4]:
        ax.set_ylabel("episodes (%)")
    axes[-1].axis("off")
    handles, labels = _legend_entries(axes)
    axes[-1].legend(handles, labels, loc="center", fontsize=9, title="model")
    fig.suptitle(f"Episode length (turns; 1 = answered at once, each request adds one){synthetic_caption(report)}",
                 fontsize=11)
    fig.savefig(path, dpi=DPI)
    return True


PLOTS = (
    ("reference_vs_proactive.png", plot_reference_vs_proactive),
    ("psr_per_scenario.png", plot_psr),
    ("acc_vs_psr.png", plot_acc_vs_psr),
    ("episode_lengths.png", plot_episode_lengths),
)


def write_plots(report: Report, out: Path) -> list[str]:
    """Write every plot the data allows; returns the file names written."""
    written = []
    for name, plot in PLOTS:
        if plot(report, out / name):
            written.append(name)
    return written


def _legend_entries(axes) -> tuple[list, list[str]]:
    """One legend entry per label across all panels (each model appears once)."""
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels
