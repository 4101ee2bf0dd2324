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
- A **model fault** is a request that got no answer: lmms-eval's failure text
  (``[LMMS_EVAL_REQUEST_FAILED after N retries] ...``, what its API backends return when every
  retry failed), an exception raised by the backend for that request (the lockstep runner retries
  a failing call one request at a time, so only the failing episode is hit), or no response at
  all. The episode is errored like a data fault (kind ``model``), with its turn, request and the
  error text in its record; the run fails when a task's share of them is above
  ``PROACTIVEBENCH_MAX_MODEL_ERRORS`` (default 0). An exception that the model's *processor*
  raises on an image (an empty crop) is a data fault of that episode (kind ``data``).
- Anything the model *says*, however broken, is an answer: the engine turns it into a failed
  episode (``acc`` 0), never an error.

lmms-eval shows every doc to the model at least once, so an errored doc still gets one round: a
placeholder image and question (any answer is ignored), then the episode record with its fault.
An unplayable row becomes such a doc when the docs are built; an image is known to be bad only
when a round loads it (``doc_to_visual`` for the first request, ``doc_to_text`` for later ones).
``doc_to_visual`` cannot hand its finding to the next round, so it leaves it in a small
per-process table that round 1 reads; where that table is empty (the backend called
``doc_to_visual`` in another process), round 1 loads the first request again. ``process_results``
never trusts a fault stated in a response: it replays the answers and loads that request again.

lmms-eval logs an exception raised in a hook, ends the whole run and exits 0. Our hooks note such
an exception, a task whose every doc errored, model faults and output that could not be written;
when the run ends, final ERROR lines name them and the process exits non-zero (only inside
``python -m lmms_eval``; :data:`EXIT_CODES`).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
MAX_MODEL_ERRORS_VARIABLE = "PROACTIVEBENCH_MAX_MODEL_ERRORS"

# Exit status of a ``python -m lmms_eval`` run with our tasks (docs/faults.md has the table).
EXIT_OK = 0
EXIT_FAULTS = 1  # a task not scored in full: nothing playable, model faults above the allowance, a
#                  hook or backend exception stopped the run, or output that could not be written
EXIT_SERVER = 3  # the model server failed every request (as the judge exits 3 when it cannot be used)
EXIT_CODES = {EXIT_OK: "every task scored, every file written",
              EXIT_FAULTS: "a task is not scored in full, or an output file could not be written",
              EXIT_SERVER: "every request to the model failed (server down, wrong model name, bad key)"}


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
        except Exception as error:  # noqa: BLE001 - any failure to cut or load an image is this episode's
            path = str(getattr(ref, "image_path", "?"))
            return Fault(path, f"cannot be shown ({type(error).__name__}: {error})",
                         "check the image and the row's crop box (`python -m proactivebench_ext check-data DIR`)",
                         field="image", sample_id=_sample_id(doc), row=doc.get(SOURCE_KEY) or None)
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


# -- model faults ----------------------------------------------------------------------------------
# What lmms-eval's API backends return instead of an answer (openai, gemini, ...: every retry failed;
# the usage budget is spent); and what the lockstep runner returns for a request whose backend call raised.
LMMS_EVAL_FAILURE_PREFIXES = ("[LMMS_EVAL_REQUEST_FAILED", "[LMMS_EVAL_BUDGET_EXCEEDED]")
_RUNNER_FAILURE = re.compile(r"\[PROACTIVEBENCH_REQUEST_FAILED kind=(model|data)\] ?(.*)", re.S)
# Where an exception raised while the backend prepares an image comes from (transformers' image and
# video processors, PIL, qwen_vl_utils, which lmms-eval's Qwen backends call before the processor):
# the image is at fault, not the model.
_IMAGE_PROCESSING_FILES = re.compile(r"[/\\](image_processing[^/\\]*|image_utils|image_transforms|"
                                     r"video_processing[^/\\]*|video_utils)\.py$|[/\\]PIL[/\\]|"
                                     r"[/\\]qwen_vl_utils[/\\]")
NO_RESPONSE = "the backend returned no response for this request"


@dataclass(frozen=True)
class RequestFailure:
    """A request that got no answer: ``model`` (the request failed) or ``data`` (the model's
    processor rejected the episode's image), with the error text."""

    kind: str
    error: str


def request_failure(answer: Any) -> RequestFailure | None:
    """The failure an "answer" stands for (lmms-eval's failure text or the runner's), else None."""
    if not isinstance(answer, str):
        return None
    text = answer.strip()
    match = _RUNNER_FAILURE.fullmatch(text)
    if match:
        return RequestFailure(match.group(1), match.group(2) or "the request failed")
    if text.startswith(LMMS_EVAL_FAILURE_PREFIXES):
        return RequestFailure("model", text)
    return None


def failure_answer(kind: str, error: str) -> str:
    """The text the lockstep runner hands the hooks for a request that failed."""
    return f"[PROACTIVEBENCH_REQUEST_FAILED kind={kind}] {' '.join(error.split())[:1000]}"


def raised_by_image_processing(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) came out of image preprocessing code."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(_IMAGE_PROCESSING_FILES.search(frame.filename) for frame in traceback.extract_tb(current.__traceback__)):
            return True
        current = current.__cause__ or current.__context__
    return False


def exception_answer(error: BaseException) -> str:
    """The failure text of a request whose backend call raised ``error``."""
    text = f"{type(error).__name__}: {error}"
    if raised_by_image_processing(error):
        return failure_answer("data", f"the model's processor rejected the image ({text})")
    return failure_answer("model", text)


def server_fix(error: str) -> str:
    """What to do about a request error, from the HTTP status or connection error it names."""
    status = re.search(r"\b(?:Error code|status(?: code)?)[: =]+(\d{3})\b", error, re.I)
    code = int(status.group(1)) if status else None
    if code in (401, 403):
        return "the server refused the API key: set api_key=... in --model_args or OPENAI_API_KEY"
    if code == 404:
        return ("the server does not know this model or path: check model_version (the name the server serves) "
                "and base_url (it ends in /v1)")
    if code in (400, 422):
        return ("the server refused the request: check model_version and that the model accepts images; "
                "the server's message above says which field")
    if code == 429:
        return "rate limited: lower num_concurrent, or raise retry_backoff_s / max_retries"
    if code is not None and code >= 500:
        return "the server failed: see its log; rerun with --use_cache to retry only the failed requests"
    if re.search(r"connect|refused|timed? ?out|unreachable|name or service", error, re.I):
        return ("nothing answers at the server's address: start the server, or fix base_url / OPENAI_API_BASE "
                "(and timeout= for slow models)")
    if "BUDGET_EXCEEDED" in error:
        return "lmms-eval's usage budget is spent: raise it or rerun with --use_cache"
    return "see the error; rerun with --use_cache to retry only the failed requests"


@dataclass(frozen=True)
class RequestFault:
    """An episode stopped because its request at ``turn`` got no answer (see :class:`RequestFailure`)."""

    kind: str  # "model" or "data"
    reason: str  # the backend's error text
    fix: str
    turn: int | None  # index of the turn whose request failed
    request: str  # the text that was sent
    image_path: str | None
    answer: str  # the failure text as the runner gave it; scoring checks it again

    def one_line(self) -> str:
        where = f"turn {self.turn}" + (f" ({self.image_path})" if self.image_path else "")
        return " ".join(f"{where}: {self.reason}; fix: {self.fix}".split())

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "fix": self.fix, "turn": self.turn,
                "request": self.request, "image_path": self.image_path, "answer": self.answer}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestFault:
        return cls(str(data["kind"]), str(data["reason"]), str(data["fix"]), data.get("turn"),
                   str(data.get("request", "")), data.get("image_path"), str(data["answer"]))


def is_request_fault(data: Any) -> bool:
    """Whether a record's ``fault`` is a request that got no answer (not a data-file fault)."""
    return isinstance(data, Mapping) and "answer" in data and data.get("kind") in ("model", "data")


def request_fault(failure: RequestFailure, answer: str, turn: int | None, request: str,
                  image_path: str | None) -> RequestFault:
    if failure.kind == "data":
        fix = ("the image cannot be prepared for this model (e.g. an empty crop box): correct or remove the row "
               "(`python -m proactivebench_ext check-data DIR`)")
    else:
        fix = server_fix(failure.error)
    return RequestFault(failure.kind, failure.error, fix, turn, request, image_path, answer)


def fault_json(fault: Fault | RequestFault) -> dict[str, Any]:
    """A fault as its record stores it, with its ``kind``."""
    return fault.to_json() if isinstance(fault, RequestFault) else {"kind": "data", **fault.to_json()}


def fault_from_json(data: Mapping[str, Any]) -> Fault | RequestFault:
    return RequestFault.from_json(data) if is_request_fault(data) else Fault.from_json(dict(data))


# -- metrics ---------------------------------------------------------------------------------------
def errored_values(doc: Doc, fault: Fault | RequestFault, answered: bool = False) -> dict[str, float]:
    """An errored episode's metrics: ``errors`` only, so acc/psr means skip it. Warns once.
    ``answered``: some request of the episode got an answer before the fault."""
    task = _task_of(doc)
    kind = "a model fault (the request failed)" if getattr(fault, "kind", "data") == "model" else "a data fault"
    log("WARNING", f"ProactiveBench {task}: episode errored on {kind} (excluded from acc/psr): {fault.one_line()}")
    _report.errored(task, fault, answered)
    return {ERRORS: 1.0}


def played_values(values: Mapping[str, float], doc: Doc | None = None) -> dict[str, float]:
    """A played episode's metrics, ``errors`` first (lmms-eval reports a task's sample count from
    its last metric, so acc/psr, which skip errored episodes, give it)."""
    if doc is not None:
        _report.played(_task_of(doc))
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


def log(level: str, message: str) -> None:
    """``message`` at ``level`` (``WARNING``, ``ERROR``) through lmms-eval's logger, else on stderr."""
    try:
        from loguru import logger
    except ImportError:
        print(message, file=sys.stderr)
        return
    logger.log(level, message)


# -- what the run must not hide -------------------------------------------------------------------
def max_model_errors(environ: Mapping[str, str] | None = None) -> float:
    """``PROACTIVEBENCH_MAX_MODEL_ERRORS``: the share of a task's episodes that may error on model
    faults before the run fails (0 by default: any; 1 accepts all). ValueError names a bad value
    (read through the variable table, :mod:`.runtime.environment`, which also refuses it at start)."""
    from .runtime import environment

    value = environment.read(MAX_MODEL_ERRORS_VARIABLE, environ)
    return 0.0 if value is None else float(value)


@dataclass
class _TaskFaults:
    episodes: int = 0
    data: int = 0
    first_data: Fault | RequestFault | None = None
    model: int = 0
    last_model: RequestFault | None = None
    answered: bool = False  # some request of the task got an answer


class _RunReport:
    """What this process saw go wrong; said once more when the process ends."""

    def __init__(self) -> None:
        self.tasks: dict[str, _TaskFaults] = {}
        self.failed_tasks: dict[str, Fault] = {}
        self.hook_errors: list[str] = []
        self.output_errors: list[str] = []
        self._lock = threading.Lock()

    def _task(self, task: str) -> _TaskFaults:
        return self.tasks.setdefault(task, _TaskFaults())

    def played(self, task: str) -> None:
        with self._lock:
            faults = self._task(task)
            faults.episodes += 1
            faults.answered = True

    def errored(self, task: str, fault: Fault | RequestFault, answered: bool = False) -> None:
        with self._lock:
            faults = self._task(task)
            faults.episodes += 1
            faults.answered = faults.answered or answered
            if isinstance(fault, RequestFault) and fault.kind == "model":
                faults.model += 1
                faults.last_model = fault
            else:
                faults.data += 1
                faults.first_data = faults.first_data or fault

    def failed_task(self, task: str, fault: Fault) -> None:
        with self._lock:
            self.failed_tasks.setdefault(task, fault)

    def hook_error(self, hook: str, error: BaseException) -> None:
        with self._lock:
            self.hook_errors.append(f"{hook}: {type(error).__name__}: {error}")

    def output_error(self, path: str, reason: str) -> None:
        with self._lock:
            self.output_errors.append(f"{path}: {reason}")

    def lines(self, environ: Mapping[str, str] | None = None) -> tuple[list[str], list[str], int]:
        """(warnings, errors, exit status) to give at the end of the run."""
        warnings = [f"ProactiveBench {task}: {faults.data} episode(s) errored on data faults, excluded from acc/psr "
                    f"and counted in `errors`; first: {faults.first_data.one_line()}"
                    for task, faults in self.tasks.items()
                    if faults.data and faults.first_data is not None and task not in self.failed_tasks]
        errors = [f"ProactiveBench {task}: nothing playable, the task has no score: {fault.one_line()} "
                  f"(`{CHECK_DATA} DIR` lists every problem)" for task, fault in self.failed_tasks.items()]
        status = EXIT_FAULTS if errors else EXIT_OK
        with_model = {task: faults for task, faults in self.tasks.items() if faults.model and faults.last_model}
        if with_model and not any(faults.answered for faults in self.tasks.values()):
            count = sum(faults.model for faults in with_model.values())
            last = list(with_model.values())[-1].last_model
            errors.append(f"ProactiveBench: every request to the model failed ({count} episode(s) in "
                          f"{len(with_model)} task(s)), nothing was scored: {last.reason}; fix: {last.fix}")
            status = EXIT_SERVER
        elif with_model:
            try:
                allowed = max_model_errors(environ)
            except ValueError as error:
                allowed = 0.0
                errors.append(f"ProactiveBench: {error}")
                status = EXIT_FAULTS
            for task, faults in with_model.items():
                share = faults.model / max(faults.episodes, 1)
                line = (f"ProactiveBench {task}: {faults.model} of {faults.episodes} episode(s) errored on model faults "
                        f"(the request failed), excluded from acc/psr and counted in `errors`; "
                        f"{'above' if share > allowed else 'within'} {MAX_MODEL_ERRORS_VARIABLE}={allowed:g}; "
                        f"last: {faults.last_model.one_line()}")
                if share > allowed:
                    errors.append(line)
                    status = status or EXIT_FAULTS
                else:
                    warnings.append(line)
        for path in self.output_errors:
            errors.append(f"ProactiveBench: could not write {path}; fix: free space or choose a writable "
                          "--output_path, then rerun (with --use_cache the answers are replayed)")
            status = status or EXIT_FAULTS
        hooks = [f"ProactiveBench: the run stopped on an error in {hook} (lmms-eval exits 0 on it)"
                 for hook in self.hook_errors[:3]]
        errors += hooks
        if hooks:
            status = status or EXIT_FAULTS
        return warnings, errors, status


_report = _RunReport()


def note_output_error(path: str, reason: str) -> None:
    """An output file that could not be written: an ERROR line and a non-zero exit at the end."""
    _report.output_error(path, reason)
    log("ERROR", f"ProactiveBench: could not write {path}: {reason}")


def note_backend_error(where: str, error: BaseException) -> None:
    """An exception from the backend that ended the run (lmms-eval's own runner cannot isolate it)."""
    _report.hook_error(where, error)


def note_task_failure(task: str, fault: Fault) -> None:
    """A task none of whose docs can be played: it fails alone, the rest of the run goes on."""
    _report.failed_task(task, fault)
    log("WARNING", f"ProactiveBench {task}: nothing playable: {fault.one_line()}")


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


def in_lmms_eval_run() -> bool:
    """``python -m lmms_eval`` (also under accelerate/torchrun) or the ``lmms-eval`` command; never pytest."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    command = os.path.basename(sys.argv[0]) if sys.argv else ""
    return getattr(spec, "name", None) == "lmms_eval.__main__" or command in ("lmms-eval", "lmms_eval")


def _at_exit() -> None:
    if not in_lmms_eval_run():
        return
    warnings, errors, status = _report.lines()
    for line in warnings:
        print(f"WARNING {line}", file=sys.stderr)
    for line in errors:
        print(f"ERROR {line}", file=sys.stderr)
    if status == EXIT_OK:
        return
    # A non-zero status without touching lmms-eval: run the remaining exit handlers now, then leave.
    atexit.unregister(_at_exit)
    run_others = getattr(atexit, "_run_exitfuncs", None)
    if run_others is not None:
        run_others()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


atexit.register(_at_exit)
