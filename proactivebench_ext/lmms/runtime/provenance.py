"""Provenance in every results file: a ``proactivebench`` block beside lmms-eval's own keys.

lmms-eval's results JSON records the model and the task configs, not which data a task read.
This patch wraps ``lmms_eval.evaluator.evaluate`` (the function that returns the results dict to
``simple_evaluate``; H1's atomic writer patches the tracker's save functions, not this one) and,
on rank 0 (where lmms-eval gathers every process's samples and metrics, so the counts are the
whole run's), adds:

- ``results["proactivebench"]["tasks"][task]``: the data source (kind, folder, hub repo and
  revision), ``synthetic``, the content fingerprint, the test-set filter, episodes loaded /
  evaluated / played / errored, ``subset`` (``--limit``/``--offset`` left docs out), and the
  package's and engine's versions (:mod:`proactivebench_ext.data.provenance`);
- ``results["proactivebench"]["groups"][group]``: how many of the group's scenarios its mean
  covers (``"6/7"`` when one has no score: nothing playable, every episode errored);
- ``results["proactivebench"]["settings"]``: model arguments, observed dtype, batch size and each
  task's generation settings, and whether they are the paper's (``paper_parity``: bfloat16,
  batch size 1, greedy decoding);
- a mark in the task and group aliases (``[synthetic]``, ``[6/7 scenarios]``), so the table
  lmms-eval prints at the end of the run carries it, and one WARNING line after that table when
  any task ran on synthetic data.

Installed by our tasks' ``process_docs`` (so only runs with our tasks are touched), on the
lmms-eval versions it was tested with; elsewhere lmms-eval writes its results unchanged.
"""

from __future__ import annotations

import atexit
import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ...report.read import PROVENANCE_BLOCK as BLOCK  # what report and rescore read back
from .. import faults
from . import lmms_eval_version

TESTED_LMMS_EVAL = ("0.7.3",)
FORMAT = "proactivebench_provenance/1"
SYNTHETIC_MARK = "[synthetic]"
SYNTHETIC_WARNING = ("ProactiveBench: {tasks} ran on SYNTHETIC data ({kinds}): these figures are not comparable to "
                     "the paper. Point PROACTIVEBENCH_DATA_DIR at the released test/ folder (or set "
                     "PROACTIVEBENCH_DOWNLOAD=1) for benchmark figures.")
PAPER_DTYPE = "bfloat16"
PAPER_BATCH_SIZE = 1

_synthetic_seen: dict[str, str] = {}  # task -> kind, said once more when the run ends (rank 0 only)


# -- pure parts -------------------------------------------------------------------------------------
def task_counts(entry: Mapping[str, Any], n_samples: Mapping[str, Any] | None, loaded: int,
                unplayable: int) -> dict[str, Any]:
    """Episodes loaded / evaluated / played / errored of one task, from lmms-eval's gathered figures."""
    n_samples = n_samples or {}
    evaluated = n_samples.get("effective", loaded)
    errored = entry.get("errors,none")
    errored = int(round(errored)) if isinstance(errored, (int, float)) else 0
    return {"loaded": loaded, "unplayable_rows": unplayable, "evaluated": int(evaluated),
            "played": int(evaluated) - errored, "errored": errored,
            "subset": int(evaluated) < int(n_samples.get("original", loaded))}


def group_coverage(group: str, subtasks: list[str], results: Mapping[str, Mapping[str, Any]],
                   expected: int | None, metric: str) -> dict[str, Any]:
    """How many of a group's scenarios have a score in ``metric`` (the group mean's coverage)."""
    scored = [t for t in subtasks if f"{metric},none" in results.get(t, {})]
    total = max(expected or 0, len(subtasks))
    return {"scenarios": total, "scored": len(scored), "coverage": f"{len(scored)}/{total}",
            "complete": len(scored) == total, "unscored": sorted(set(subtasks) - set(scored)), "metric": metric}


def greedy(generation_kwargs: Mapping[str, Any]) -> bool:
    """Greedy decoding: no sampling (temperature 0 or do_sample false) and one beam."""
    temperature = generation_kwargs.get("temperature", 0)
    sampling = bool(generation_kwargs.get("do_sample", False)) and not (
        isinstance(temperature, (int, float)) and temperature == 0)
    return not sampling and int(generation_kwargs.get("num_beams", 1) or 1) == 1


def parity(dtype: str | None, batch_size: Any, generation: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Whether a run used the reference loop's settings (docs/models.md): bfloat16, batch size 1, greedy."""
    reasons = []
    if dtype is None:
        reasons.append("dtype unknown (a scripted or API model)")
    elif dtype != PAPER_DTYPE:
        reasons.append(f"dtype {dtype}, the paper used {PAPER_DTYPE}")
    if str(batch_size) != str(PAPER_BATCH_SIZE):
        reasons.append(f"batch size {batch_size}, the paper used {PAPER_BATCH_SIZE}")
    sampled = sorted(task for task, kwargs in generation.items() if not greedy(kwargs))
    if sampled:
        reasons.append(f"sampled decoding in {', '.join(sampled)}")
    return {"paper_parity": not reasons, "differences": reasons}


def model_arg(model_args: Any, *keys: str) -> str | None:
    if isinstance(model_args, str):
        pairs = dict(part.split("=", 1) for part in model_args.split(",") if "=" in part)
    elif isinstance(model_args, Mapping):
        pairs = {str(k): v for k, v in model_args.items()}
    else:
        return None
    for key in keys:
        if pairs.get(key) not in (None, ""):
            return str(pairs[key])
    return None


def observed_dtype(lm: Any, model_args: Any) -> str | None:
    """The dtype the backend's weights are in, else the one asked for in ``--model_args``."""
    for attribute in ("model", "_model"):
        dtype = getattr(getattr(lm, attribute, None), "dtype", None)
        if dtype is not None:
            return str(dtype).removeprefix("torch.")
    asked = model_arg(model_args, "dtype", "torch_dtype")
    return asked.removeprefix("torch.") if asked else None


# -- what the patch adds ----------------------------------------------------------------------------
def _docs_facts(task: Any) -> tuple[int, int, str | None, str | None]:
    """(docs loaded, unplayable rows, scenario, data folder) of one of our tasks."""
    docs = getattr(task, "eval_docs", None)
    if docs is None or not len(docs):
        return 0, 0, None, None
    columns = set(getattr(docs, "column_names", None) or docs[0].keys())
    if not {"scenario", "data_dir"} <= columns:
        return len(docs), 0, None, None
    first = docs[0]
    if "fault" not in columns:
        faults: list[Any] = []
    elif hasattr(docs, "column_names"):  # an HF Dataset: read one column, not every row
        faults = list(docs["fault"])
    else:
        faults = [doc.get("fault") for doc in docs]
    return len(docs), sum(1 for f in faults if f), str(first["scenario"]), str(first["data_dir"])


def annotate(results: dict[str, Any], eval_tasks: list[Any], lm: Any, cli_args: Any, dtype: str | None = None) -> None:
    """Add the ``proactivebench`` block and the alias marks to a rank-0 results dict (in place).

    ``dtype`` is the one observed before the evaluation: lmms-eval's ``lm.clean()`` deletes the
    weights at its end.
    """
    from ... import __version__
    from ...core.naming import parse_task_name
    from ...data.provenance import describe, engine_version

    versions = engine_version()  # hashes the engine's source: once per run, not per task
    described: dict[tuple[str, str], dict[str, Any]] = {}
    tasks: dict[str, Any] = {}
    generation: dict[str, dict[str, Any]] = {}
    for output in eval_tasks:
        name = output.task_name
        if parse_task_name(name) is None or name not in results.get("results", {}):
            continue
        loaded, unplayable, scenario, data_dir = _docs_facts(output.task)
        entry = {"task": name}
        if scenario and data_dir:
            key = (scenario, data_dir)
            if key not in described:
                described[key] = describe(scenario, data_dir)
            entry.update(scenario=scenario, **described[key])
        entry["episodes"] = task_counts(results["results"][name], results.get("n-samples", {}).get(name),
                                        loaded, unplayable)
        entry.update(package_version=__version__, engine_version=versions)
        tasks[name] = entry
        kwargs = getattr(getattr(output.task, "config", None), "generation_kwargs", None) or {}
        generation[name] = {k: v for k, v in dict(kwargs).items() if isinstance(v, (str, int, float, bool, list))}
        if entry.get("synthetic"):
            _synthetic_seen[name] = entry["source"]["kind"]
            _mark(results["results"][name], SYNTHETIC_MARK, name)
    if not tasks:
        return
    groups: dict[str, Any] = {}
    for group, subtasks in (results.get("group_subtasks") or {}).items():
        ours = [t for t in subtasks if t in tasks]
        if not ours or group in tasks:
            continue
        variants = {parse_task_name(t).variant for t in ours}  # type: ignore[union-attr]
        variant = next(iter(variants)) if len(variants) == 1 else None
        expected, metric = _group_shape(variant, group)
        coverage = group_coverage(group, list(subtasks), results["results"], expected, metric)
        coverage["synthetic"] = any(tasks[t].get("synthetic") for t in ours)
        groups[group] = coverage
        for table in ("results", "groups"):
            if group in results.get(table, {}):
                if not coverage["complete"]:
                    _mark(results[table][group], f"[{coverage['coverage']} scenarios]", group)
                if coverage["synthetic"]:
                    _mark(results[table][group], SYNTHETIC_MARK, group)
    model_args = getattr(cli_args, "model_args", None)
    batch_size = getattr(lm, "batch_size", None) or getattr(cli_args, "batch_size", None)
    dtype = dtype or observed_dtype(lm, model_args)
    settings = {"model": getattr(cli_args, "model", None), "model_args": model_args, "dtype": dtype,
                "batch_size": batch_size, "generation_kwargs": generation,
                **parity(dtype, batch_size, generation)}
    results[BLOCK] = {"format": FORMAT, "tasks": tasks, "groups": groups, "settings": settings}


def _group_shape(variant: str | None, group: str) -> tuple[int | None, str]:
    """(scenarios the variant's own group should have, its first metric) of a group of one variant."""
    from ...core.naming import SCENARIO_ACRONYMS, group_name
    from ...core.variants import OEG_VARIANTS, get_variant

    if variant is None:
        return None, "acc"
    if variant in OEG_VARIANTS:
        expected = len(SCENARIO_ACRONYMS) if group == group_name(variant) else None
        return expected, OEG_VARIANTS[variant].metrics[0]
    try:
        found = get_variant(variant)
    except KeyError:
        return None, "acc"
    return (len(found.scenarios) if group == group_name(variant) else None), found.metrics[0]


def _mark(entry: dict[str, Any], mark: str, name: str) -> None:
    alias = str(entry.get("alias", name))
    if mark not in alias:
        entry["alias"] = f"{alias} {mark}"


# -- installing ------------------------------------------------------------------------------------
def wrap(stock: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(stock)
    def evaluate(lm: Any, task_dict: Any, *args: Any, **kwargs: Any) -> Any:
        cli_args = kwargs.get("cli_args")
        try:
            dtype = observed_dtype(lm, getattr(cli_args, "model_args", None))
        except Exception:  # noqa: BLE001 - a backend's property failing is no reason to lose the run
            dtype = None
        results = stock(lm, task_dict, *args, **kwargs)
        if isinstance(results, dict):
            from lmms_eval.evaluator_utils import get_task_list

            try:
                annotate(results, get_task_list(task_dict), lm, cli_args, dtype)
            except Exception as error:  # noqa: BLE001 - never lose a run's results to its provenance
                results.setdefault(BLOCK, {"format": FORMAT, "error": f"{type(error).__name__}: {error}"})
                faults.log("WARNING", f"ProactiveBench: could not record where the data came from ({error}); the "
                           "results file has no provenance")
        return results

    evaluate.__wrapped_stock__ = stock  # type: ignore[attr-defined]
    return evaluate


def install() -> bool:
    """Wrap lmms-eval's ``evaluate``; True when the wrapper is in place (tested versions only)."""
    try:
        import lmms_eval.evaluator as evaluator
    except Exception:  # noqa: BLE001 - no lmms-eval, nothing to patch
        return False
    stock = getattr(evaluator, "evaluate", None)
    if stock is None:
        return False
    if hasattr(stock, "__wrapped_stock__"):
        return True
    if lmms_eval_version() not in TESTED_LMMS_EVAL:
        return False
    evaluator.evaluate = wrap(stock)
    atexit.register(_say_synthetic)
    return True


def _say_synthetic() -> None:
    """The last line after lmms-eval's table: which tasks were synthetic."""
    if not _synthetic_seen or not faults.in_lmms_eval_run():
        return
    kinds = ", ".join(sorted(set(_synthetic_seen.values())))
    names = sorted(_synthetic_seen)
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    print(f"WARNING {SYNTHETIC_WARNING.format(tasks=shown, kinds=kinds)}", file=sys.stderr)
