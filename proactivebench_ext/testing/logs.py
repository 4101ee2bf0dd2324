"""Sample logs in lmms-eval's ``--log_samples`` layout, written without running lmms-eval.

Plays a policy (the oracle, a seeded random answerer, or any function of the episode) on the
task hooks' own episodes and writes what ``python -m lmms_eval ... --log_samples`` writes for the
MCQA tasks: ``<date>_results.json`` and one ``<date>_samples_<task>.jsonl`` per task, each sample's
final response being the hooks' episode record and its metrics the hooks' ``process_results``.
An integration test checks that the records equal those of a real lmms-eval run. Used by the
viewer's tests and by ``bench/viewer.py`` (a full-size synthetic run in seconds, not hours).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..core.engine import Episode
from ..core.naming import parse_task_name
from ..core.policies import oracle_answer
from ..lmms import faults, hooks

Policy = Callable[[Episode, Mapping[str, Any]], str]


def oracle(episode: Episode, doc: Mapping[str, Any]) -> str:
    return oracle_answer(episode)


def random_policy(seed: int = 0) -> Policy:
    """A uniformly random shown option, drawn from a generator per (seed, sample)."""

    def answer(episode: Episode, doc: Mapping[str, Any]) -> str:
        rng = random.Random(f"{seed}:{doc['scenario']}:{doc['sample_id']}:{episode.state.num_turns}")
        return rng.choice(episode.observe().options)

    return answer


def play(doc: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    """One doc's episode record under ``policy``, as the hooks write it (a damaged row: its fault record)."""
    fault = faults.doc_fault(doc)
    if fault is not None:
        return hooks.fault_record(doc, fault)
    settings = hooks.settings_of(doc)
    episode = hooks.episode_from_doc(doc, settings)
    while not episode.done:
        episode.answer(policy(episode, doc))
    return hooks.episode_record(doc, episode, settings=settings)


COUNTED = ("errors", "unjudged", "malformed")  # metrics the task YAMLs aggregate as counts, not means


def aggregate(name: str, items: Sequence[float]) -> float:
    """A task's metric as lmms-eval aggregates it: a count for the indicators, else the mean."""
    return float(sum(items)) if name in COUNTED else sum(items) / max(len(items), 1)


def write_run(out: str | Path, tasks: Sequence[str], policy: Policy, *, model: str = "proactive_oracle",
              model_args: str = "", data_dir: str | None = None, limit: int | None = None,
              date: str = "20260101_000000") -> Path:
    """Write a run of ``tasks`` (MCQA task names) under ``out``; returns its results file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for task in tasks:
        parsed = parse_task_name(task)
        if parsed is None:
            raise ValueError(f"{task!r} is not a ProactiveBench task name")
        docs = hooks.doc_rows(parsed.acronym, parsed.variant, data_dir)
        docs = docs[:limit] if limit is not None else docs
        values: dict[str, list[float]] = {}
        with (out / f"{date}_samples_{task}.jsonl").open("w", encoding="utf-8") as handle:
            for doc_id, doc in enumerate(docs):
                response = json.dumps(play(doc, policy), ensure_ascii=False)
                metrics = hooks.process_results(doc, [response])
                for name, value in metrics.items():
                    values.setdefault(name, []).append(value)
                sample = {"doc_id": doc_id, "target": hooks.doc_to_target(doc), "filtered_resps": response,
                          "token_counts": [None], **metrics, "input": hooks.doc_to_text(doc)}
                handle.write(json.dumps(sample, ensure_ascii=False) + "\n")
        results[task] = {"alias": parsed.acronym, **{f"{name},none": aggregate(name, items)
                                                      for name, items in values.items()},
                         **{f"{name}_stderr,none": "N/A" for name in values}}
        counts[task] = {"original": len(docs), "effective": len(docs)}
    results_file = out / f"{date}_results.json"
    results_file.write_text(json.dumps({
        "results": results, "n-samples": counts, "date": date, "model_name": "",
        "config": {"model": model, "model_args": model_args, "limit": limit},
    }, indent=2) + "\n", "utf-8")
    return results_file
