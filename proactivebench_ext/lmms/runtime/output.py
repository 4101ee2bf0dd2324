"""Result and samples files a reader can trust: whole, strict JSON, or a loud error.

lmms-eval 0.7.3's ``EvaluationTracker`` writes ``*_results.json`` in place and appends
``*_samples_<task>.jsonl`` one record at a time, and on any exception (read-only
``--output_path``, a full disk, a lone surrogate in a model's answer, which UTF-8 cannot encode)
logs it at INFO and goes on: the run exits 0 with a truncated or empty file. Its results JSON
also holds bare ``NaN`` where a metric has no value. For runs with our tasks this patch writes
both files through :mod:`proactivebench_ext.data.jsonio`: strict JSON (NaN/Infinity become
``null``; lone surrogates are escaped, never dropped), to a temporary file renamed into place
(a reader sees the whole file or none), and a failure is an ERROR naming the path that makes
the run exit non-zero (:func:`..faults.note_output_error`).

Gate: the lmms-eval versions below and the two methods' signatures; installed by our tasks'
``process_docs`` (the tracker is built earlier, but looks the methods up on its class when it
saves). Runs that push to the Hugging Face Hub keep lmms-eval's own writer.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import lmms_eval_version

TESTED_LMMS_EVAL = ("0.7.3",)
AGGREGATED_SIGNATURE = ("self", "results", "samples", "datetime_str")
SAMPLES_SIGNATURE = ("self", "task_name", "samples")
_MARK = "__proactivebench_output__"


def install() -> bool:
    """Route the tracker's two writers through :func:`save_results_aggregated` and
    :func:`save_results_samples`; True when in place."""
    try:
        from lmms_eval.loggers import evaluation_tracker as module
    except Exception:  # noqa: BLE001 - without lmms-eval there is nothing to patch
        return False
    tracker = getattr(module, "EvaluationTracker", None)
    if tracker is None:
        return False
    if getattr(tracker.save_results_samples, _MARK, False):
        return True
    if (lmms_eval_version() not in TESTED_LMMS_EVAL
            or tuple(inspect.signature(tracker.save_results_aggregated).parameters) != AGGREGATED_SIGNATURE
            or tuple(inspect.signature(tracker.save_results_samples).parameters) != SAMPLES_SIGNATURE):
        return False
    tracker.save_results_aggregated = _patched(tracker.save_results_aggregated, save_results_aggregated,
                                               "push_results_to_hub")
    tracker.save_results_samples = _patched(tracker.save_results_samples, save_results_samples, "push_samples_to_hub")
    return True


def _patched(stock: Any, ours: Any, push_flag: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> None:
        if getattr(self, "api", None) is not None and getattr(self, push_flag, False):
            return stock(self, *args, **kwargs)  # Hub uploads read the files lmms-eval's way
        return ours(self, *args, **kwargs)

    setattr(method, _MARK, True)
    method.__wrapped_stock__ = stock  # type: ignore[attr-defined]
    method.__doc__ = ours.__doc__
    return method


def _output_dir(tracker: Any) -> Any:
    from pathlib import Path

    return Path(tracker.output_path).joinpath(tracker.general_config_tracker.model_name_sanitized)


def save_results_aggregated(tracker: Any, results: dict, samples: dict | None, datetime_str: str) -> None:
    """lmms-eval's aggregated results file, written strictly and atomically (same name and content)."""
    from dataclasses import asdict

    from lmms_eval.utils import eval_logger, handle_non_serializable, hash_string

    from ...data.jsonio import dumps_strict, write_text_atomic
    from .. import faults

    tracker.general_config_tracker.log_end_time()
    tracker.date_id = datetime_str.replace(":", "-")  # the samples files are named after it, written or not
    if not tracker.output_path:
        eval_logger.info("Output path not provided, skipping saving results aggregated")
        return
    task_hashes = {}
    for task_name, task_samples in (samples or {}).items():
        task_hashes[task_name] = hash_string("".join(f"sample_{index}" + sample["doc_hash"]
                                                     for index, sample in enumerate(task_samples)))
    results.update({"task_hashes": task_hashes})
    results.update(asdict(tracker.general_config_tracker))
    path = _output_dir(tracker) / f"{tracker.date_id}_results.json"
    eval_logger.info("Saving results aggregated")
    try:
        text = dumps_strict(results, nan="null", indent=2, default=handle_non_serializable)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    except (OSError, ValueError, TypeError) as error:
        faults.note_output_error(str(path), _reason(error))


def save_results_samples(tracker: Any, task_name: str, samples: list) -> None:
    """lmms-eval's samples file of one task, every record in one atomic write of strict JSON lines."""
    from lmms_eval.utils import eval_logger, handle_non_serializable, sanitize_list

    from ...data.jsonio import dumps_strict, write_text_atomic
    from .. import faults

    if not tracker.output_path:
        eval_logger.info("Output path not provided, skipping saving sample results")
        return
    path = _output_dir(tracker) / f"{tracker.date_id}_samples_{task_name}.jsonl"
    try:
        lines = [dumps_strict(_flattened(sample, sanitize_list), nan="null", default=handle_non_serializable)
                 for sample in samples]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, "".join(line + "\n" for line in lines))
    except (OSError, ValueError, TypeError) as error:
        faults.note_output_error(str(path), _reason(error))
        return
    eval_logger.info(f"Saving samples to {path}")


def _flattened(sample: dict, sanitize_list: Any) -> dict:
    """What lmms-eval 0.7.3 keeps of a sample, in its layout (one request per doc flattened)."""
    sample["input"] = sample["arguments"][0]
    sample["resps"] = sanitize_list(sample["resps"])
    sample["filtered_resps"] = sanitize_list(sample["filtered_resps"])
    if isinstance(sample["resps"], list) and len(sample["resps"]) == 1:
        sample["resps"] = sample["resps"][0]
    if isinstance(sample["filtered_resps"], list) and len(sample["filtered_resps"]) == 1:
        sample["filtered_resps"] = sample["filtered_resps"][0]
    if sample["resps"] == sample["filtered_resps"]:
        sample.pop("resps")
    elif (isinstance(sample["resps"], list) and len(sample["resps"]) == 1
          and sample["resps"][0] == sample["filtered_resps"]):
        sample.pop("resps")
    sample["target"] = str(sample["target"])
    sample.pop("arguments")
    sample.pop("doc")
    return sample


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        return error.strerror or str(error)
    return f"{type(error).__name__}: {error}"
