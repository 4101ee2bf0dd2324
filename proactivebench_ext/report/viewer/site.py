"""Build the static viewer site from lmms-eval output folders.

Runs are read with the report's reader (:mod:`..read`): one ``Run`` per results file, its tasks,
their metrics and samples files. Each logged sample becomes an :class:`~.episodes.EpisodeView`, the
images every episode shows are rendered once (:mod:`.images`), and the pages are written:

    DIR/index.html                  runs x tasks: counts, outcomes, metrics; filters
    DIR/compare.html                two runs (or variants) of one scenario, doc by doc
    DIR/runs/<run>/<task>.html      one page per task: every episode, turn by turn; filters
    DIR/img/t/..., DIR/img/f/...    thumbnails; full-size crops (and copies with copy_full)
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...core.naming import SCENARIO_ACRONYMS
from ...core.variants import OEG_VARIANTS, VARIANTS
from ...data.jsonio import write_text_atomic  # any string: a lone surrogate is written as \ud800
from ...data.layout import DATA_DIR_ENV, embedded_data_dir, resolve_data_dir
from ...data.provenance import data_source
from ..read import Run, TaskResult, final_payload, find_results_files, iter_samples, read_run
from .episodes import EpisodeView, episode_view, latest_judgements, pictures_of
from .images import THUMB_EDGE, render_pictures
from .render import RunView, TaskView, chunk_href, chunk_of, chunk_page, compare_page, index_page, task_page

_VARIANT_ORDER = [*VARIANTS, *OEG_VARIANTS]


@dataclass(frozen=True)
class SiteSummary:
    out: Path
    runs: int
    tasks: int
    episodes: int
    images: int
    missing_images: int
    pages: int
    seconds: float


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:80] or "run"


def _model_name(model_id: str) -> str:
    """A local checkpoint by its folder name (the full path is in the runs table); hub ids as they are."""
    if model_id.startswith(("/", "~", "./", "../")):
        return Path(model_id.rstrip("/")).name or model_id
    return model_id


def run_views(runs: Sequence[Run]) -> list[RunView]:
    """Labels (model, plus the date where a model has several runs) and unique folder names."""
    views, slugs = [], set()
    names = [_model_name(run.model_id) if run.model_id == run.backend else f"{_model_name(run.model_id)} ({run.backend})"
             for run in runs]
    for run, name in zip(runs, names):
        label = f"{name} {run.date}" if names.count(name) > 1 else name
        slug = base = _slug(f"{_model_name(run.model_id)}-{run.date}")
        number = 2
        while slug in slugs:
            slug, number = f"{base}-{number}", number + 1
        slugs.add(slug)
        views.append(RunView(label, slug, run.backend, run.model_id, run.model_args, run.date, run.limit,
                             str(run.results_file)))
    return views


def _order(result: TaskResult) -> tuple[int, int, str]:
    variant = _VARIANT_ORDER.index(result.variant) if result.variant in _VARIANT_ORDER else len(_VARIANT_ORDER)
    scenario = SCENARIO_ACRONYMS.index(result.scenario) if result.scenario in SCENARIO_ACRONYMS else 99
    return variant, scenario, result.task


def _recorded_data_dir(run: Run) -> str | None:
    """The data folder some episode record of the run names (OEG single-turn samples record none)."""
    for result in run.tasks.values():
        if result.samples_file is None:
            continue
        for sample in iter_samples(result.samples_file):
            payload = final_payload(sample)
            if payload and isinstance(payload.get("data_dir"), str):
                return payload["data_dir"]
            break
    return None


def recorded_kind(run: Run) -> str | None:
    """The data kind of a run whose results file predates provenance: that of the folder its records name."""
    recorded = _recorded_data_dir(run)
    return data_source(recorded).kind if recorded and Path(recorded).is_dir() else None


def fallback_data_dir(run: Run) -> str:
    """For samples that record no data folder: another task's, else $PROACTIVEBENCH_DATA_DIR, else the embedded set."""
    recorded = _recorded_data_dir(run)
    if recorded and Path(recorded).is_dir():
        return recorded
    environment = os.environ.get(DATA_DIR_ENV)
    if environment and Path(environment).is_dir():
        return str(resolve_data_dir(environment))
    return str(embedded_data_dir())


def task_episodes(result: TaskResult, *, data_dir: str | None, fallback: str | None) -> tuple[EpisodeView, ...]:
    assert result.samples_file is not None
    judgements = {}
    if result.variant in OEG_VARIANTS and not OEG_VARIANTS[result.variant].multiturn:
        date, _, task = result.samples_file.stem.partition("_samples_")
        judgements = latest_judgements(result.samples_file.with_name(f"{date}_judgements_{task}.jsonl"))
    episodes = []
    for sample in iter_samples(result.samples_file):
        judgement = None
        if judgements:
            answer = sample.get("filtered_resps", sample.get("resps", ""))
            while isinstance(answer, list):
                answer = answer[0] if answer else ""
            judgement = judgements.get((_int(sample.get("doc_id")), str(answer)))
        episodes.append(episode_view(sample, final_payload(sample), variant=result.variant, scenario=result.scenario,
                                     data_dir=data_dir, fallback_data_dir=fallback, judgement=judgement))
    episodes.sort(key=lambda episode: (_int(episode.doc_id), str(episode.doc_id)))
    return tuple(episodes)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def write_site(paths: Sequence[Path], out: Path, *, data_dir: str | os.PathLike[str] | None = None,
               copy_full: bool = False, thumb_edge: int = THUMB_EDGE, jobs: int | None = None) -> SiteSummary:
    """Write the viewer for the runs under ``paths`` into ``out``; returns what was written."""
    start = time.perf_counter()
    override = str(resolve_data_dir(data_dir)) if data_dir is not None else None
    runs = [read_run(found) for path in paths for found in find_results_files(Path(path))]
    views = run_views(runs)
    tasks: list[TaskView] = []
    notes: list[str] = []
    for run, view in zip(runs, views):
        fallback = override or fallback_data_dir(run)
        for result in sorted(run.tasks.values(), key=_order):
            episodes = None
            if result.samples_file is not None:
                episodes = task_episodes(result, data_dir=override, fallback=fallback)
            else:
                notes.append(f"{view.label}: {result.task} has no samples file next to {run.results_file} "
                             "(run lmms-eval with --log_samples)")
            tasks.append(TaskView(view, result.task, result.variant, result.scenario, dict(result.metrics), result.n,
                                  f"runs/{view.slug}/{result.task}.html", episodes,
                                  str(result.samples_file) if result.samples_file else None,
                                  data=result.source_kind or recorded_kind(run)))
    all_episodes = [episode for task in tasks for episode in task.episodes or ()]
    data_notes = Counter(episode.data_note for episode in all_episodes if episode.data_note)
    notes += [f"{note} ({count} episodes)" for note, count in data_notes.items()]
    images = render_pictures(pictures_of(all_episodes), out, edge=thumb_edge, copy_full=copy_full, jobs=jobs)
    missing = sum(1 for rendered in images.values() if rendered.thumb is None)
    if missing:
        notes.append(f"{missing} of {len(images)} images are missing or unreadable (shown as named placeholders); "
                     "pass --data-dir if the data folder moved")
    pages = 0
    for task in tasks:
        if task.episodes is None:
            continue
        page = out / task.href
        page.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(page, task_page(task))
        for number in range(1, chunk_of(len(task.episodes) - 1) + 1 if task.episodes else 1):
            write_text_atomic(out / chunk_href(task, number), chunk_page(task, number, images))
            pages += 1
        pages += 1
    compare = sum(1 for task in tasks if task.episodes) >= 2
    if compare:
        write_text_atomic(out / "compare.html", compare_page(tasks))
        pages += 1
    write_text_atomic(out / "index.html", index_page(views, tasks, notes, compare=compare))
    return SiteSummary(out, len(runs), len(tasks), len(all_episodes), len(images), missing, pages + 1,
                       time.perf_counter() - start)
