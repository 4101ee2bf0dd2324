"""Data faults in lmms-eval runs: one errored episode, never a dead run.

The rule, kept here and nowhere else:

- A **data fault** is something wrong with the benchmark files: a JSONL line that cannot be read,
  a row the engine refuses (:class:`~proactivebench_ext.core.scenarios.InvalidEntryError`), a
  scenario file that is missing or has no test row, or an image a turn needs that is missing,
  undecodable, over the pixel cap or outside the data folder
  (:class:`~proactivebench_ext.data.images.ImageError`). The episode is **errored**: it is left out
  of ``acc`` and ``psr`` (its ``process_results`` returns no value for them), counted in the
  task's ``errors`` metric (summed), and its file, row and reason are in the episode record (the
  sample log) and in one warning line. Every other episode and task is scored as usual.
- A **model fault** is anything the model says, however broken: the engine already turns it into
  a failed episode (``acc`` 0), never an error.

lmms-eval shows every doc to the model at least once, so an errored doc still gets one round: a
placeholder image and question (any answer is ignored), then the episode record with its fault.
An unplayable row becomes such a doc when the docs are built; an image is known to be bad only
when a round loads it (``doc_to_visual`` for the first request, ``doc_to_text`` for later ones).
``doc_to_visual`` cannot hand its finding to the next round, so it leaves it in a small
per-process table that round 1 reads; where that table is empty (the backend called
``doc_to_visual`` in another process), round 1 loads the first request again. ``process_results``
never trusts a fault stated in a response: it replays the answers and loads that request again.

lmms-eval logs an exception raised in a hook, ends the whole run and exits 0. Our hooks note such
an exception, and a task whose every doc errored; when the run ends, a final error line names them
and the process exits 1 (only inside ``python -m lmms_eval``).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from PIL import Image

from ..core.constants import load_benchmark
from ..core.matching import mcqa_prompt
from ..core.naming import task_name
from ..data.images import ImageError, load_turn_image
from ..data.validate import CHECK_DATA, Fault, TestRow

Doc = Mapping[str, Any]
F = TypeVar("F", bound=Callable[..., Any])

FAULT_KEY = "fault"  # doc column: the Fault as JSON, "" for a playable row
SOURCE_KEY = "source"  # doc column: ``path:line`` of the row in its JSONL
ERRORS = "errors"  # the per-task metric: errored episodes, summed
PLACEHOLDER_QUESTION = ("ProactiveBench could not load this sample (a data fault, named in the log); "
                        "any answer is ignored.")
PLACEHOLDER_OPTION = "Continue."
_PLACEHOLDER_SIZE = (64, 64)


# -- docs ------------------------------------------------------------------------------------------
def doc_for(acronym: str, variant: str, data_dir: str, row: TestRow, fault: Fault | None = None) -> dict[str, str]:
    """The doc of one test row: its entry as JSON plus where it comes from and its fault, if any."""
    fault = fault or row.fault
    entry = row.entry
    sample_id = entry.get("id") if entry is not None else (fault.sample_id if fault else None)
    return {"scenario": acronym, "variant": variant, "sample_id": str(sample_id if sample_id is not None else f"line {row.line}"),
            "data_dir": data_dir, "entry": json.dumps(entry, ensure_ascii=False), SOURCE_KEY: row.source,
            FAULT_KEY: json.dumps(fault.to_json(), ensure_ascii=False) if fault else ""}


def doc_fault(doc: Doc) -> Fault | None:
    """The data fault a doc was built with (an unplayable row), or None."""
    text = doc.get(FAULT_KEY)
    return Fault.from_json(json.loads(text)) if text else None


def placeholder_images() -> list[Image.Image]:
    """What an errored doc shows the model: one plain grey image (large enough for every backend's processor)."""
    return [Image.new("RGB", _PLACEHOLDER_SIZE, (128, 128, 128))]


def placeholder_prompt() -> str:
    """What an errored doc asks (open-ended tasks too): a multiple-choice prompt with one option, so
    any backend and our scripted baselines can answer it."""
    return mcqa_prompt(PLACEHOLDER_QUESTION, [PLACEHOLDER_OPTION], load_benchmark().mcqa_template)


# -- images ----------------------------------------------------------------------------------------
def load_images(doc: Doc, images: Sequence[Any]) -> list[Image.Image] | Fault:
    """The request's images (``ImageRef``-like: ``image_path``, ``crop``, ``short_edge``), or the
    data fault of the first one that cannot be shown."""
    loaded = []
    for ref in images:
        try:
            loaded.append(load_turn_image(ref, short_edge=getattr(ref, "short_edge", None), data_dir=doc["data_dir"]))
        except ImageError as error:
            return Fault(error.path, error.reason, error.fix, field="image", sample_id=_sample_id(doc),
                         row=doc.get(SOURCE_KEY) or None)
    return loaded


def _sample_id(doc: Doc) -> Any:
    try:
        return json.loads(doc["entry"]).get("id")
    except (ValueError, AttributeError, TypeError):
        return doc.get("sample_id")


_first_requests: dict[str, Fault | None] = {}
_lock = threading.Lock()
_FIRST_REQUESTS_KEPT = 100_000  # bound on the table if round 1 never comes (a cut run)


def _key(doc: Doc, settings: Mapping[str, Any] | None) -> str:
    return json.dumps([dict(doc), dict(settings or {})], sort_keys=True, default=str)


def first_request_images(doc: Doc, settings: Mapping[str, Any] | None,
                         load: Callable[[], list[Image.Image] | Fault]) -> list[Image.Image]:
    """``doc_to_visual``'s images: the first request's, or the placeholder when they cannot be
    shown (the fault is left for round 1)."""
    outcome = load()
    fault = outcome if isinstance(outcome, Fault) else None
    with _lock:
        if len(_first_requests) >= _FIRST_REQUESTS_KEPT:
            _first_requests.clear()
        _first_requests[_key(doc, settings)] = fault
    return placeholder_images() if fault is not None else outcome  # type: ignore[return-value]


def first_request_fault(doc: Doc, settings: Mapping[str, Any] | None,
                        load: Callable[[], list[Image.Image] | Fault]) -> Fault | None:
    """Round 1: whether the first request's images could not be shown (what ``doc_to_visual`` found
    in this process, else a fresh load)."""
    key = _key(doc, settings)
    with _lock:
        if key in _first_requests:
            return _first_requests.pop(key)
    outcome = load()
    return outcome if isinstance(outcome, Fault) else None


# -- metrics ---------------------------------------------------------------------------------------
def errored_values(doc: Doc, fault: Fault) -> dict[str, float]:
    """An errored episode's metrics: ``errors`` only, so acc/psr means skip it. Warns once."""
    task = _task_of(doc)
    message = f"ProactiveBench {task}: episode errored on a data fault (excluded from acc/psr): {fault.one_line()}"
    _warn(message)
    _report.errored(task, fault)
    return {ERRORS: 1.0}


def played_values(values: Mapping[str, float]) -> dict[str, float]:
    """A played episode's metrics, ``errors`` first (lmms-eval reports a task's sample count from
    its last metric, so acc/psr, which skip errored episodes, give it)."""
    return {ERRORS: 0.0, **values}


def count(items: Sequence[float]) -> float:
    """Aggregation of ``errors``: how many episodes errored."""
    return float(sum(items))


def _task_of(doc: Doc) -> str:
    variant = doc.get("oeg_variant") or doc.get("variant", "?")
    try:
        return task_name(str(variant), str(doc.get("scenario")))
    except Exception:  # noqa: BLE001 - a name for a log line only
        return f"{variant}/{doc.get('scenario')}"


def _warn(message: str) -> None:
    try:
        from loguru import logger
    except ImportError:
        print(message, file=sys.stderr)
        return
    logger.warning(message)


# -- what the run must not hide -------------------------------------------------------------------
class _RunReport:
    """What this process saw go wrong; said once more when the process ends."""

    def __init__(self) -> None:
        self.errored_by_task: dict[str, tuple[int, Fault]] = {}  # task -> (count, first fault)
        self.failed_tasks: dict[str, Fault] = {}
        self.hook_errors: list[str] = []
        self._lock = threading.Lock()

    def errored(self, task: str, fault: Fault) -> None:
        with self._lock:
            count, first = self.errored_by_task.get(task, (0, fault))
            self.errored_by_task[task] = (count + 1, first)

    def failed_task(self, task: str, fault: Fault) -> None:
        with self._lock:
            self.failed_tasks.setdefault(task, fault)

    def hook_error(self, hook: str, error: BaseException) -> None:
        with self._lock:
            self.hook_errors.append(f"{hook}: {type(error).__name__}: {error}")

    def lines(self) -> tuple[list[str], list[str]]:
        """(warnings, errors) to print at the end of the run."""
        warnings = [f"ProactiveBench {task}: {count} episode(s) errored on data faults, excluded from acc/psr "
                    f"and counted in `errors`; first: {first.one_line()}"
                    for task, (count, first) in self.errored_by_task.items() if task not in self.failed_tasks]
        errors = [f"ProactiveBench {task}: nothing playable, the task has no score: {fault.one_line()} "
                  f"(`{CHECK_DATA} DIR` lists every problem)" for task, fault in self.failed_tasks.items()]
        errors += [f"ProactiveBench: the run stopped on an error in {hook} (lmms-eval exits 0 on it)"
                   for hook in self.hook_errors[:3]]
        return warnings, errors


_report = _RunReport()


def note_task_failure(task: str, fault: Fault) -> None:
    """A task none of whose docs can be played: it fails alone, the rest of the run goes on."""
    _report.failed_task(task, fault)
    _warn(f"ProactiveBench {task}: nothing playable: {fault.one_line()}")


def reported(hook: F) -> F:
    """Wrap a hook so an exception escaping it is said again, and turns into exit status 1, when the
    run ends (lmms-eval swallows it and exits 0)."""

    @functools.wraps(hook)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return hook(*args, **kwargs)
        except Exception as error:
            _report.hook_error(hook.__name__, error)
            raise

    return wrapper  # type: ignore[return-value]


def _in_lmms_eval_run() -> bool:
    """``python -m lmms_eval`` (also under accelerate/torchrun) or the ``lmms-eval`` command; never pytest."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    command = os.path.basename(sys.argv[0]) if sys.argv else ""
    return getattr(spec, "name", None) == "lmms_eval.__main__" or command in ("lmms-eval", "lmms_eval")


def _at_exit() -> None:
    if not _in_lmms_eval_run():
        return
    warnings, errors = _report.lines()
    for line in warnings:
        print(f"WARNING {line}", file=sys.stderr)
    for line in errors:
        print(f"ERROR {line}", file=sys.stderr)
    if not errors:
        return
    # Exit status 1 without touching lmms-eval: run the remaining exit handlers now, then leave.
    atexit.unregister(_at_exit)
    run_others = getattr(atexit, "_run_exitfuncs", None)
    if run_others is not None:
        run_others()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(1)


atexit.register(_at_exit)
