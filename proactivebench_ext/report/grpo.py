"""The paper's Table 3: models post-trained with GRPO beside the model they started from.

Per base model, rows in the paper's order: ``original`` (the base model's main run), one row per
trained checkpoint (``r_p=0.5``, ``r_p=0.75``, ``r_p=1.0``) and ``reference`` (the base model's
clean-frame run); columns are the training scenarios (QD, COCO: in-domain) before the five it was
never trained on (out-of-domain), then the average. The paper's rows follow ours when the base
model is one of its two GRPO models.

A run is a GRPO run only when it is labelled as one: ``rl-train`` writes ``proactivebench_grpo.json``
(base model, r_p, a fingerprint of the base checkpoint) next to the checkpoint it saves. The report
reads it wherever the run's recorded ``pretrained=`` path leads (as written, else relative to the
results file's folders, since lmms-eval records the path relative to where it ran), so a checkpoint
copied elsewhere and evaluated there is still recognised. The base model's own runs are found by
the base model id in that file: the same id or folder, or a folder whose files have the recorded
fingerprint (a copy of the base checkpoint). ``report --grpo-run MODEL_ID=BASE_MODEL@R_P`` labels
runs whose checkpoint is not reachable here, and overrides a label.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .aggregate import Cell, ModelRow, Report
from .paper import AVG, SOURCE, paper_name
from .read import ReportError

IN_DOMAIN = ("QD", "COCO")  # the paper trains on these two only
OUT_OF_DOMAIN = ("ROD", "VSOD", "MVP-N", "IN-C", "CIT")
GRPO_COLUMNS = (*IN_DOMAIN, *OUT_OF_DOMAIN, AVG)
METADATA_FILE = "proactivebench_grpo.json"  # written by `python -m proactivebench_ext rl-train`
ORIGINAL, REFERENCE = "original", "reference"
TITLE = ("GRPO post-training (Table 3): accuracy % / psr; in-domain = the training scenarios (QD, COCO), "
         "out-of-domain = never trained on")
ABSENT = "–"


@dataclass(frozen=True)
class GrpoLabel:
    """What a trained checkpoint is: the model it started from and its r_p."""

    base_model: str
    config: str  # "r_p=0.5", as the paper's row names
    base_fingerprint: str | None = None  # of the base checkpoint's files (rl-train, local base models)


def config_label(proactive_reward: float) -> str:
    """``0.5`` -> ``r_p=0.5``; ``1`` -> ``r_p=1.0`` (the paper's spelling)."""
    return f"r_p={float(proactive_reward)!r}"


FINGERPRINT_BYTES = 1 << 16


def checkpoint_fingerprint(folder: str | Path) -> str | None:
    """A cheap identity of a local checkpoint that survives copying: its config and, per weights file,
    the name, size and first 64 KiB (header and leading tensor bytes). None for a non-folder (hub id)."""
    path = Path(folder)
    if not (path / "config.json").is_file():
        return None
    digest = hashlib.sha256((path / "config.json").read_bytes())
    for weights in sorted([*path.glob("*.safetensors"), *path.glob("*.bin")]):
        with weights.open("rb") as handle:
            digest.update(f"{weights.name}:{weights.stat().st_size}:".encode())
            digest.update(handle.read(FINGERPRINT_BYTES))
    return digest.hexdigest()


def candidate_paths(model_id: str, near: Iterable[Path] = ()) -> list[Path]:
    """Where a recorded ``pretrained=`` path may be here: as written, then (if relative) below each
    folder above the results files ``near`` (lmms-eval records it relative to where it ran)."""
    path = Path(model_id).expanduser()
    found = [path]
    if not path.is_absolute():
        for results_file in near:
            found += [folder / path for folder in Path(results_file).resolve().parents]
    return list(dict.fromkeys(found))


def locate(model_id: str, near: Iterable[Path] = (), holding: str = "config.json") -> Path | None:
    """The first folder a recorded model id may name that holds ``holding`` (lmms-eval's own output
    folder is named after the model too, so a bare directory is not enough)."""
    return next((path for path in candidate_paths(model_id, near) if (path / holding).is_file()), None)


def read_label(model_id: str, near: Iterable[Path] = ()) -> GrpoLabel | None:
    """The label ``rl-train`` left next to a checkpoint, wherever the recorded path leads (see :func:`locate`)."""
    folder = locate(model_id, near, METADATA_FILE)
    if folder is None:
        return None
    path = folder / METADATA_FILE
    try:
        data = json.loads(path.read_text("utf-8"))
        fingerprint = data.get("base_fingerprint")
        return GrpoLabel(str(data["base_model"]), config_label(data["proactive_reward"]),
                         str(fingerprint) if fingerprint else None)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ReportError(f"{path}: not a readable GRPO label ({error!r}); rewrite it with rl-train or label the run "
                          "with --grpo-run MODEL_ID=BASE_MODEL@R_P") from None


def parse_label(text: str) -> tuple[str, GrpoLabel]:
    """``MODEL_ID=BASE_MODEL@R_P`` (``--grpo-run``) -> (model id, label)."""
    model_id, equals, rest = text.partition("=")
    base, at, value = rest.rpartition("@")
    try:
        rp = float(value)
    except ValueError:
        rp = None
    if not (equals and at and model_id.strip() and base.strip()) or rp is None:
        raise ReportError(f"--grpo-run {text!r}: expected MODEL_ID=BASE_MODEL@R_P, e.g. "
                          "/ckpt/qwen3b-rp075=Qwen/Qwen2.5-VL-3B-Instruct@0.75")
    return model_id.strip(), GrpoLabel(base.strip(), config_label(rp))


@dataclass(frozen=True)
class GrpoRow:
    config: str  # original, r_p=..., reference
    model: ModelRow | None  # None: the base model was not evaluated
    variant: str  # the report variant the row's cells come from


@dataclass(frozen=True)
class GrpoGroup:
    base_model: str
    display: str
    paper_name: str | None  # the paper model with Table 3 rows, if the base model is one
    rows: tuple[GrpoRow, ...]


@cache
def paper_grpo_rows() -> Mapping[tuple[str, str], Mapping[str, Mapping[str, float]]]:
    """``(paper model, config) -> column -> metric -> value`` from ``paper_results.json`` table ``grpo``."""
    raw = json.loads(resources.files("proactivebench_ext").joinpath("resources/paper_results.json").read_text("utf-8"))
    return {(row["model"], row["config"]): {c: dict(row[c]) for c in GRPO_COLUMNS if c in row}
            for row in raw["tables"]["grpo"]["rows"]}


def _same_model(model: ModelRow, label: GrpoLabel, near: Iterable[Path] = ()) -> bool:
    """Whether ``model`` is the base model of ``label``: the same id, the same folder, a folder with the
    label's fingerprint (a copy of the base checkpoint), or the same paper model."""
    base = label.base_model
    if model.model_id.rstrip("/") == base.rstrip("/"):
        return True
    folder = locate(model.model_id, near)
    if folder is not None:
        base_folder = locate(base)
        if base_folder is not None and base_folder.resolve() == folder.resolve():
            return True
        if label.base_fingerprint and checkpoint_fingerprint(folder) == label.base_fingerprint:
            return True
    base_paper = paper_name(base)
    return base_paper is not None and base_paper == model.paper_name


def _rp(config: str) -> float:
    return float(config.split("=", 1)[1])


def grpo_groups(report: Report, explicit: Mapping[str, GrpoLabel] | None = None) -> list[GrpoGroup]:
    """Table 3's groups: every labelled run under its base model, with the base model's own runs."""
    near = {m.key: [run.results_file for run in report.runs if (run.backend, run.model_id) == (m.backend, m.model_id)]
            for m in report.models}
    labels = {m.key: (explicit or {}).get(m.model_id) or read_label(m.model_id, near[m.key]) for m in report.models}
    trained = [(m, labels[m.key]) for m in report.models if labels[m.key] is not None]
    groups = []
    first_labels: dict[str, GrpoLabel] = {}
    for _, label in trained:
        first_labels.setdefault(label.base_model, label)  # type: ignore[union-attr]
    for base, label in first_labels.items():
        original = next((m for m in report.models if labels[m.key] is None and _same_model(m, label, near[m.key])),  # type: ignore[arg-type]
                        None)
        members = sorted(((m, label) for m, label in trained if label.base_model == base),  # type: ignore[union-attr]
                         key=lambda item: (_rp(item[1].config), item[0].display))  # type: ignore[union-attr]
        rows = [GrpoRow(ORIGINAL, original, "main"), *(GrpoRow(label.config, m, "main") for m, label in members),  # type: ignore[union-attr]
                GrpoRow(REFERENCE, original, "reference")]
        display = original.display if original else base.rstrip("/").rsplit("/", 1)[-1]
        groups.append(GrpoGroup(base, display, paper_name(base) or (original.paper_name if original else None),
                                tuple(rows)))
    return groups


def _metrics(config: str) -> tuple[str, ...]:
    return ("acc",) if config == REFERENCE else ("acc", "psr")


def _cell(report: Report, row: GrpoRow, column: str) -> Cell | None:
    return report.cell(row.model.key, row.variant, column) if row.model else None


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return ABSENT
    return f"{value:.2f}" if metric == "psr" else f"{value:.1f}"


def _joined(metrics: Sequence[str], values: Mapping[str, float] | None) -> str:
    if not values or all(values.get(m) is None for m in metrics):
        return ABSENT
    return " / ".join(_fmt(m, values.get(m)) for m in metrics)


def grpo_markdown(report: Report, explicit: Mapping[str, GrpoLabel] | None = None) -> list[str]:
    """The Table 3 section of ``report.md`` (no lines when no run is labelled as GRPO)."""
    groups = grpo_groups(report, explicit)
    if not groups:
        return []
    header = ["model", "config", *(f"{c} (in)" for c in IN_DOMAIN), *(f"{c} (out)" for c in OUT_OF_DOMAIN), AVG]
    lines = [f"## {TITLE}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    paper = paper_grpo_rows()
    for group in groups:
        for position, row in enumerate(group.rows):
            name = f"**{group.display}** (base `{group.base_model}`)" if position == 0 else ""
            config = row.config
            if row.config not in (ORIGINAL, REFERENCE) and row.model is not None:
                config += f" (`{row.model.model_id}`)"
            metrics = _metrics(row.config)
            cells = [_joined(metrics, (c.metrics if (c := _cell(report, row, col)) else None)) for col in GRPO_COLUMNS]
            lines.append("| " + " | ".join([name, config, *cells]) + " |")
            published = paper.get((group.paper_name, row.config)) if group.paper_name else None
            if published:
                lines.append("| " + " | ".join(["", f"paper {row.config} ({group.paper_name})",
                                                 *(_joined(metrics, published.get(col)) for col in GRPO_COLUMNS)]) + " |")
    lines += ["", f"Paper rows: {SOURCE}, Table 3. `{ABSENT}` = not run: `original` and `reference` need the base "
              "model's own runs (`--tasks proactivebench` and `proactivebench_reference`) in the report's inputs."]
    unmatched = [group.display for group in groups if not group.paper_name]
    if unmatched:
        lines.append(f"No paper row for {', '.join(unmatched)}: the paper's GRPO models are "
                     f"{', '.join(dict.fromkeys(model for model, _ in paper))}.")
    lines.append("")
    return lines


def grpo_json(report: Report, explicit: Mapping[str, GrpoLabel] | None = None) -> dict[str, Any] | None:
    """The Table 3 numbers for ``report.json`` (None when no run is labelled as GRPO)."""
    groups = grpo_groups(report, explicit)
    if not groups:
        return None
    paper = paper_grpo_rows()
    out = []
    for group in groups:
        rows = []
        for row in group.rows:
            metrics = _metrics(row.config)
            ours = {}
            for column in GRPO_COLUMNS:
                cell = _cell(report, row, column)
                ours[column] = None if cell is None else {**{m: cell.metrics.get(m) for m in metrics}, "n": cell.n}
            published = paper.get((group.paper_name, row.config)) if group.paper_name else None
            rows.append({"config": row.config, "model_id": row.model.model_id if row.model else None,
                         "backend": row.model.backend if row.model else None, "variant": row.variant, "ours": ours,
                         "paper": dict(published) if published else None})
        out.append({"base_model": group.base_model, "display": group.display, "paper_name": group.paper_name,
                    "rows": rows})
    return {"title": TITLE, "paper_table": "Table 3", "in_domain": list(IN_DOMAIN), "out_of_domain": list(OUT_OF_DOMAIN),
            "columns": list(GRPO_COLUMNS), "groups": out}
