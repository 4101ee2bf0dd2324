"""Reading lmms-eval output: results files, samples files, and which of our tasks each holds."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.naming import parse_task_name

_RESULTS_FILE = re.compile(r"^(?P<date>.+)_results\.json$")
PROVENANCE_BLOCK = "proactivebench"  # the results files' key that lmms.runtime.provenance writes


class ReportError(ValueError):
    """The inputs cannot be reported on; the message names the file and the fix."""



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
    provenance: Mapping[str, Any] | None = None  # the task's entry of the results' proactivebench block

    @property
    def synthetic(self) -> bool:
        return bool(self.provenance and self.provenance.get("synthetic"))

    @property
    def source_kind(self) -> str | None:
        source = (self.provenance or {}).get("source")
        return source.get("kind") if isinstance(source, Mapping) else None

    @property
    def fingerprint(self) -> str | None:
        found = (self.provenance or {}).get("fingerprint")
        return found.get("id") if isinstance(found, Mapping) else None

    @property
    def subset(self) -> bool:
        episodes = (self.provenance or {}).get("episodes")
        return bool(episodes.get("subset")) if isinstance(episodes, Mapping) else False


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
    provenance: Mapping[str, Any] | None = None  # the results' proactivebench block (None before 0.2)

    @property
    def settings(self) -> Mapping[str, Any]:
        found = (self.provenance or {}).get("settings")
        return found if isinstance(found, Mapping) else {}

    def group(self, name: str) -> Mapping[str, Any] | None:
        """A group's coverage as the run recorded it (``{"coverage": "6/7", ...}``), or None."""
        groups = (self.provenance or {}).get("groups")
        found = groups.get(name) if isinstance(groups, Mapping) else None
        return found if isinstance(found, Mapping) else None


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


def final_payload(record: Mapping[str, Any]) -> dict | None:
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
    payload = final_payload(record) or {}
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


def iter_samples(path: Path) -> Iterator[dict[str, Any]]:
    """The logged samples of one samples file, as lmms-eval wrote them, one at a time.

    A doc logged twice means two runs wrote into the file (see :func:`mixed_runs`): refused.
    """
    seen: dict[Any, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ReportError(f"{path}:{number}: not valid JSON ({error}); the run was probably interrupted: "
                                  "rerun it, or delete this samples file (the report then has no intervals)") from None
            doc_id = record.get("doc_id") if isinstance(record, dict) else None
            if isinstance(doc_id, (int, str)):
                if doc_id in seen:
                    raise ReportError(mixed_runs(path, doc_id, seen[doc_id], number))
                seen[doc_id] = number
            yield record


def mixed_runs(samples_file: Path, doc_id: Any, first: int, again: int) -> str:
    """Why a samples file holding one doc twice cannot be reported on, and what to do."""
    date = samples_file.name.split("_samples_", 1)[0]
    results_file = samples_file.with_name(f"{date}_results.json")
    return (f"{samples_file}: doc_id {doc_id} is on lines {first} and {again}. lmms-eval appends to "
            "<date>_samples_<task>.jsonl, so two runs started in the same second with one --output_path both wrote "
            f"into this file (and {results_file.name} holds one run's scores only). Rerun each into its own "
            f"--output_path, and delete {samples_file} and {results_file}")


def read_samples(path: Path, metrics: Iterable[str]) -> tuple[EpisodeRecord, ...]:
    metrics = tuple(metrics)
    return tuple(parse_episode(record, metrics) for record in iter_samples(path))


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
    block = data.get(PROVENANCE_BLOCK) if isinstance(data.get(PROVENANCE_BLOCK), dict) else None
    recorded = (block or {}).get("tasks") if isinstance((block or {}).get("tasks"), dict) else {}
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
            provenance=recorded.get(task) if isinstance(recorded.get(task), dict) else None,
        )
    return Run(results_file, date, backend, model_id,
               model_args if isinstance(model_args, str) else json.dumps(model_args, sort_keys=True),
               config.get("limit"), tasks, tuple(ignored), block)


