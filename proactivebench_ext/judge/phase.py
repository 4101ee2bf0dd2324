"""Open-ended generation (OEG) scoring with a judge LLM, and the resumable judge phase.

    python -m proactivebench_ext judge LOGDIR [--workers N] [--model NAME] [--timeout S] [--retries N]

The benchmark's authors advise two phases: generate every answer first (lmms-eval with
``--log_samples``, no judge needed), then judge the logged answers. ``judge`` finds the
``*_samples_proactivebench_oeg_*.jsonl`` files under LOGDIR, sends each answer not judged yet to
the judge configured in the environment (see :mod:`.client`), appends every verdict to a
``*_judgements_<task>.jsonl`` file next to the samples (one fsynced line per answer, so a kill
loses only the requests in flight, and a rerun sends only what is missing), and writes
``<date>_results_judged.json`` in lmms-eval's results layout, per task and per group.

Scoring follows the benchmark exactly: the judge's reasoning (``<think>...</think>``) is dropped,
the last 0/1 list is read, a list of the wrong length scores all zeros (counted as *malformed*).
An answer the judge never scored is *unjudged*: excluded from the means and counted, never a 0;
a metric with no judged answer is null in the results file (which is strict JSON: no NaN).
Answers longer than :data:`MAX_JUDGED_ANSWER_CHARS` characters are cut to that length before
judging (the record says ``truncated`` and keeps ``answer_chars``); a lone surrogate in an answer is
sent as U+FFFD, since no HTTP client can encode it.

Failures: a request that still fails after the client's retries (timeouts, 5xx, a dropped or
reset connection), or that the judge refuses with a 4xx of its own (400 context length exceeded,
422 content filter), stays unjudged with the server's message and the phase goes on; the judge
counts as unreachable only when several different requests in a row fail with no verdict in
between (:class:`FailureRun`; refusals do not count: the judge answered). A samples file holding
one doc_id twice (two runs appended to it) is refused, as ``report`` refuses it. Exit status: 0 all
judged; 1 some answers unjudged (their count and the judge's messages are printed; rerun to retry
them); 2 usage or configuration error; 3 judge unreachable, or answering 401/403/404 (wrong key,
model name or URL; verdicts so far kept).

The multi-turn variant's option mapping (prompt and parser) is also here; it is ours, the
benchmark ships none.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cli import command_parser
from ..core.naming import parse_task_name
from ..core.scenarios import LONE_SURROGATE
from ..core.variants import OEG_VARIANTS
from ..data.jsonio import dumps_strict, encode_text, write_fully, write_json_atomic
from .client import (
    JudgeClient,
    JudgeConfigError,
    JudgeError,
    JudgeFailed,
    JudgeRejected,
    JudgeSettings,
    JudgeUnreachable,
    how_to_configure,
)
from .prompts import METRICS, judge_messages, parse_judge_output, strip_reasoning

INPUT_FORMAT = "proactivebench_oeg_input/1"
RECORD_FORMAT = "proactivebench_oeg_judgement/1"
JUDGED, UNJUDGED = "judged", "unjudged"
ERRORED = "errored"  # an episode whose data could not be played (lmms.faults): never judged
RESULTS_SUFFIX = "_results_judged.json"
FILTER = "none"  # lmms-eval's filter name in result keys ("metric,none")
# Characters of an answer sent to the judge. The paper's judge (Qwen3-8B, 32k context) must fit
# the prompt, the answer and its 8,192-token thinking budget: 16,000 characters stay under ~16k
# tokens even for text of one token per character. Longer answers (a model looping until
# max_new_tokens) are cut, and their records say so.
MAX_JUDGED_ANSWER_CHARS = 16_000


# -- what the judge needs, as logged at generation time -----------------------------------------
@dataclass(frozen=True)
class OegInput:
    """The answer-independent judge inputs of one sample; logged as the sample's ``target``."""

    scenario: str  # acronym
    sample_id: str
    prompt: str  # the question the model saw (with the hint in hinted tasks)
    valid_answers: str  # the benchmark's comma-separated valid-answer list

    def messages(self, answer: str) -> list[dict[str, str]]:
        return judge_messages(self.prompt, self.valid_answers, answer)

    def to_target(self) -> str:
        return json.dumps({"format": INPUT_FORMAT, "scenario": self.scenario, "sample_id": self.sample_id,
                           "prompt": self.prompt, "valid_answers": self.valid_answers}, ensure_ascii=False)

    @classmethod
    def from_target(cls, target: Any) -> OegInput:
        try:
            data = json.loads(target) if isinstance(target, str) else None
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or data.get("format") != INPUT_FORMAT:
            raise ValueError(f"target is not a ProactiveBench OEG judge input ({str(target)[:80]!r}); the log was not "
                             "written by a proactivebench_oeg_* task")
        return cls(data["scenario"], str(data["sample_id"]), data["prompt"], data["valid_answers"])


def judgement_key(messages: Sequence[Mapping[str, str]], model: str) -> str:
    """Identity of one judge request: a changed answer, prompt or judge model is judged anew."""
    payload = dumps_strict({"model": model, "messages": list(messages)}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def judged_text(answer: str) -> tuple[str, bool]:
    """The answer as the judge gets it, and whether it was cut: at most
    :data:`MAX_JUDGED_ANSWER_CHARS` characters, lone surrogates as U+FFFD."""
    cut = answer[:MAX_JUDGED_ANSWER_CHARS]
    return LONE_SURROGATE.sub("\ufffd", cut), len(answer) > MAX_JUDGED_ANSWER_CHARS


# -- pure scoring --------------------------------------------------------------------------------
def new_record(oeg_input: OegInput, answer: str, model: str | None) -> dict[str, Any]:
    """An unjudged record of one answer, with everything the judge will be sent (``answer`` is the
    text judged: see :func:`judged_text`; ``answer_chars`` the length of the model's answer)."""
    text, truncated = judged_text(answer)
    messages = oeg_input.messages(text)
    return {"format": RECORD_FORMAT, "scenario": oeg_input.scenario, "sample_id": oeg_input.sample_id,
            "answer": text, "truncated": truncated, "answer_chars": len(answer),
            "judge_messages": messages, "judge_model": model,
            "key": judgement_key(messages, model) if model else None,
            "status": UNJUDGED, "raw_output": None, "well_formed": None, "scores": None, "error": None}


def scored_record(record: Mapping[str, Any], oeg_input: OegInput, raw_output: str) -> dict[str, Any]:
    """The record once the judge answered: parsed exactly as the benchmark parses it."""
    verdict = parse_judge_output(oeg_input.valid_answers, strip_reasoning(raw_output), oeg_input.scenario)
    return {**record, "status": JUDGED, "raw_output": raw_output, "well_formed": verdict.well_formed,
            "scores": verdict.scores(), "error": None}


def judge_answer(client: JudgeClient, oeg_input: OegInput, answer: str) -> dict[str, Any]:
    """Judge one answer. A request that never got through yields an unjudged record with the error;
    an unreachable or refusing judge raises (nothing more can be judged)."""
    record = new_record(oeg_input, answer, client.settings.model)
    try:
        raw_output = client.complete(record["judge_messages"])
    except JudgeFailed as error:
        return {**record, "error": str(error)}
    return scored_record(record, oeg_input, raw_output)


def record_values(record: Mapping[str, Any] | None) -> dict[str, float | None]:
    """Per-metric values of one record in % (100/0), None when unjudged."""
    scores = record.get("scores") if record and record.get("status") == JUDGED else None
    return {name: (100.0 * scores[name] if scores else None) for name in METRICS}


def mean_of_judged(values: Iterable[float | None]) -> float | None:
    """Mean over judged answers (None = unjudged); None when none was judged, never 0 and never
    NaN (which is not JSON). lmms-eval writes None as null and its table shows it as N/A; the
    OEG groups aggregate with :func:`group_mean`, which keeps it None."""
    judged = [value for value in values if value is not None and not (isinstance(value, float) and math.isnan(value))]
    return sum(judged) / len(judged) if judged else None


def group_mean(metrics: Sequence[float | None], sizes: Sequence[int], weight_by_size: bool = False) -> float | None:
    """A group's score from its tasks' (lmms-eval's ``aggregate_metric_list`` signature): their
    mean, weighted by size if asked; None when a task has no value (as :func:`group_summary`)."""
    if not metrics or any(metric is None for metric in metrics):
        return None
    weights = list(sizes) if weight_by_size else [1] * len(metrics)
    return sum(m * w for m, w in zip(metrics, weights)) / sum(weights)  # type: ignore[operator]


def summarize(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Task-level numbers: the three metrics over judged answers (None without any), and the
    judged/malformed/unjudged counts."""
    values = [record_values(record) for record in records]
    judged = [r for r in records if r.get("status") == JUDGED]
    summary: dict[str, Any] = {name: mean_of_judged(v[name] for v in values) for name in METRICS}
    summary.update(samples=len(records), judged=len(judged), malformed=sum(1 for r in judged if not r.get("well_formed")),
                   unjudged=len(records) - len(judged))
    return summary


def group_of(task: str) -> str:
    """``proactivebench_oeg_hint_mvpn`` -> ``proactivebench_oeg_hint`` (see :mod:`..core.naming`)."""
    parsed = parse_task_name(task)
    if parsed is None:
        raise ValueError(f"{task!r} is not a ProactiveBench task name")
    return parsed.group


def group_summary(task_summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Unweighted mean over the group's tasks (as the paper averages scenarios), None when a task
    has no value; counts are summed."""
    summary: dict[str, Any] = {}
    for name in METRICS:
        numbers = [s[name] for s in task_summaries.values()]
        summary[name] = None if not numbers or any(n is None for n in numbers) else sum(numbers) / len(numbers)
    for name in ("samples", "judged", "malformed", "unjudged"):
        summary[name] = sum(s[name] for s in task_summaries.values())
    return summary


def results_entry(alias: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"alias": alias}
    for name in METRICS:
        entry[f"{name},{FILTER}"] = summary[name]
        entry[f"{name}_stderr,{FILTER}"] = "N/A"
    for name in ("samples", "judged", "malformed", "unjudged"):
        entry[f"{name},{FILTER}"] = summary[name]
    return entry


def build_results(task_summaries: Mapping[str, Mapping[str, Any]], *, judge: Mapping[str, Any],
                  base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """lmms-eval's results layout (``results``, ``groups``, ``group_subtasks``, ``n-samples``) for the
    judged tasks, on top of the generation run's own results file (``base``) when there is one."""
    grouped: dict[str, dict[str, Mapping[str, Any]]] = {}
    for task in sorted(task_summaries):
        grouped.setdefault(group_of(task), {})[task] = task_summaries[task]
    results = dict(base or {})
    results["results"] = {**{group: results_entry(group, group_summary(tasks)) for group, tasks in grouped.items()},
                          **{task: results_entry(task, s) for task, s in task_summaries.items()}}
    results["groups"] = {group: results_entry(group, group_summary(tasks)) for group, tasks in grouped.items()}
    results["group_subtasks"] = {group: sorted(tasks) for group, tasks in grouped.items()}
    results["n-samples"] = {task: {"original": s["samples"], "effective": s["samples"]} for task, s in task_summaries.items()}
    results["judge"] = dict(judge)
    return results


# -- multi-turn OEG: mapping a free answer onto the shown options (our design) -----------------
MAPPING_SYSTEM_PROMPT = """You are an automatic evaluation system.

You will receive:
- A user prompt
- A numbered list of options
- A system output (a free-text answer to the user prompt)

Your task:
Decide which option the system output corresponds to.

Rules:
1. Semantic equivalence is sufficient; the wording does NOT need to match.
2. If the system output gives an answer or asks for an action that one option expresses, choose that option.
3. If the system output asks the user to do something so that it can answer (for example move something, change the view, wait, rewind, improve the image) but no option expresses that request, answer OTHER.
4. If the system output matches no option and asks for nothing, answer NONE.
5. If several options match, choose the one the system output commits to as its final answer.

Procedure:
1. Think step by step.
2. Output the result on a new line: the option number, OTHER or NONE.

The last line must not contain anything else."""
MAPPING_USER_PROMPT = "### User Prompt:\n{prompt}\n### Options:\n{options}\n### System Output:\n{answer}"

OPTION, OTHER, NONE, MALFORMED = "option", "other", "none", "malformed"
_MAPPING_LINE = re.compile(r"^(?:option\s*)?(\d+|other|none)$", re.IGNORECASE)


def mapping_messages(prompt: str, options: Sequence[str], answer: str) -> list[dict[str, str]]:
    """Judge messages asking which shown option (numbered from 1) a free answer corresponds to."""
    listed = "\n".join(f"{number}. {option}" for number, option in enumerate(options, start=1))
    return [{"content": MAPPING_SYSTEM_PROMPT, "role": "system"},
            {"content": MAPPING_USER_PROMPT.format(prompt=prompt, options=listed, answer=answer), "role": "user"}]


@dataclass(frozen=True)
class OptionMapping:
    kind: str  # OPTION, OTHER, NONE or MALFORMED
    index: int | None = None  # 0-based option index for OPTION


def parse_mapping(raw_output: str, n_options: int) -> OptionMapping:
    """Read the last non-empty line after the reasoning: a number in range, OTHER or NONE."""
    lines = [line for line in strip_reasoning(raw_output).splitlines() if line.strip()]
    last = lines[-1].strip().strip("*`'\".[]() ") if lines else ""
    match = _MAPPING_LINE.match(last)
    if not match:
        return OptionMapping(MALFORMED)
    token = match.group(1).lower()
    if token in (OTHER, NONE):
        return OptionMapping(token)
    number = int(token)
    return OptionMapping(OPTION, number - 1) if 1 <= number <= n_options else OptionMapping(MALFORMED)


def mapped_answer(options: Sequence[str], valid_requests: Sequence[str], mapping: OptionMapping,
                  seed: str) -> tuple[str, str]:
    """The option text fed to the episode, and how it was chosen.

    A chosen option is fed as is (the engine then judges it like an MCQA answer); a request that
    no shown option expresses becomes a random currently valid request (seeded, as in the paper's
    Table 10); anything else is fed as an empty answer, which ends the episode as a failure.
    """
    if mapping.kind == OPTION and mapping.index is not None:
        return options[mapping.index], "option"
    if mapping.kind == OTHER:
        if valid_requests:
            return random.Random(seed).choice(list(valid_requests)), "random_valid_request"
        return "", "request_not_applicable"
    return "", mapping.kind


# -- the judge phase: logs in, judgements and results out ---------------------------------------
@dataclass
class LoggedSample:
    doc_id: int
    oeg_input: OegInput
    answer: str
    inline: dict[str, Any] | None  # the record judged during generation, if any


def answer_of(sample: Mapping[str, Any]) -> str:
    """The model's (filtered) answer as lmms-eval logged it: a string, possibly wrapped in lists."""
    value: Any = sample.get("filtered_resps", sample.get("resps", ""))
    while isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def read_samples(path: Path) -> list[LoggedSample]:
    """The answers of one samples file; a doc_id on two lines (two runs appended to the file) is a
    ValueError naming the file, as ``report`` refuses it."""
    from ..report.read import mixed_runs

    samples, lines = [], {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                sample = json.loads(line)
                oeg_input = OegInput.from_target(sample.get("target"))
                doc_id = int(sample["doc_id"])
            except (json.JSONDecodeError, ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: {error}") from None
            if doc_id in lines:
                raise ValueError(mixed_runs(path, doc_id, lines[doc_id], number))
            lines[doc_id] = number
            inline = sample.get("oeg_judge") if isinstance(sample.get("oeg_judge"), dict) else None
            if inline is not None and inline.get("status") == ERRORED:
                continue  # its data could not be played: no answer to judge (counted in lmms-eval's `errors`)
            samples.append(LoggedSample(doc_id, oeg_input, answer_of(sample), inline))
    return samples


def judgements_path(samples_path: Path) -> Path:
    date_id, _, task = samples_path.stem.partition("_samples_")
    return samples_path.with_name(f"{date_id}_judgements_{task}.jsonl")


class JudgementStore:
    """Append-only JSONL of judgements, one fsynced line each.

    A kill can leave at most a partial last line; it is cut off on open (that request is simply
    judged again), so appends never glue onto a torn line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.latest: dict[tuple[int, str], dict[str, Any]] = {}
        if path.is_file():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                with open(path, "r+b") as handle:
                    handle.truncate(keep)
                data = data[:keep]
            for line in data.decode("utf-8", errors="replace").split("\n"):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    self.latest[(int(record["doc_id"]), str(record["key"]))] = record
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    print(f"warning: {path}: skipping an unreadable line", file=sys.stderr)

    def judged(self, doc_id: int, key: str) -> dict[str, Any] | None:
        record = self.latest.get((doc_id, key))
        return record if record and record.get("status") == JUDGED else None

    def append(self, record: Mapping[str, Any]) -> None:
        line = (dumps_strict(record, nan="null", default=str) + "\n").encode("utf-8")  # any string, never NaN
        with self._lock:
            write_fully(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644), line)
            self.latest[(int(record["doc_id"]), str(record["key"]))] = dict(record)


def find_samples(logdir: Path) -> list[Path]:
    """Single-turn OEG samples logs under ``logdir`` (the multi-turn tasks are judged during generation)."""
    found = []
    for path in sorted(logdir.rglob("*_samples_*.jsonl")):
        parsed = parse_task_name(path.stem.partition("_samples_")[2])
        if parsed is not None and parsed.variant in OEG_VARIANTS and not OEG_VARIANTS[parsed.variant].multiturn:
            found.append(path)
    return found


@dataclass
class _Job:
    store: JudgementStore
    sample: LoggedSample
    record: dict[str, Any]


@dataclass
class FailureRun:
    """Tells a bad request from a dead judge: failed requests since the last verdict.

    Each request is retried by the client first; one that still fails stays unjudged and the
    phase goes on. Only when ``limit`` different requests in a row fail with no verdict in between
    (from the start too: then nothing ever succeeded) is the judge declared unreachable.
    """

    limit: int
    failed: int = 0
    last: JudgeFailed | None = None

    @staticmethod
    def limit_for(workers: int) -> int:
        """Every request in flight when a judge dies fails at once: the limit is at least that many."""
        return max(3, workers)

    def verdict(self) -> None:
        self.failed, self.last = 0, None

    def failure(self, error: JudgeFailed, describe: str) -> JudgeUnreachable | None:
        """Count one failed request; the error that stops the phase once the run reaches the limit."""
        self.failed, self.last = self.failed + 1, error
        if self.failed < self.limit:
            return None
        what = "cannot reach the judge" if error.kind == "connection" else "the judge answers nothing usable"
        return JudgeUnreachable(f"{what} at {describe}: {self.failed} different requests in a row failed after "
                                f"their retries, with no verdict in between (last: {error})")


def _run_jobs(client: JudgeClient, jobs: list[_Job], workers: int) -> JudgeError | None:
    """Judge every job, storing each verdict or failure as it arrives; returns the fatal error that
    stopped it, if any (a rejected request, or a run of failures, see :class:`FailureRun`)."""
    total, done = len(jobs), 0
    step = max(1, total // 50)
    fatal: JudgeError | None = None
    failures = FailureRun(FailureRun.limit_for(workers))

    def run(job: _Job) -> dict[str, Any]:
        raw_output = client.complete(job.record["judge_messages"])
        return scored_record(job.record, job.sample.oeg_input, raw_output)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        queue = iter(jobs)
        running: dict[Future, _Job] = {}

        def submit_next() -> None:
            job = next(queue, None)
            if job is not None:
                running[pool.submit(run, job)] = job

        for _ in range(max(1, workers)):
            submit_next()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                job = running.pop(future)
                try:
                    record = future.result()
                    failures.verdict()
                except JudgeFailed as error:
                    record = {**job.record, "error": str(error)}
                    if error.kind != "refused":  # a refusal is an answer: the judge is up
                        fatal = fatal or failures.failure(error, client.describe())
                except (JudgeUnreachable, JudgeRejected) as error:
                    fatal = fatal or error
                    continue
                job.store.append({"doc_id": job.sample.doc_id, **record})
                done += 1
                if done % step == 0 or done == total:
                    print(f"judged {done}/{total}", file=sys.stderr, flush=True)
                if fatal is None:
                    submit_next()
    return fatal


def final_record(sample: LoggedSample, store: JudgementStore, model: str) -> dict[str, Any]:
    """What is known of one answer for ``model``: a stored verdict, else one judged during generation,
    else the last failed attempt, else a fresh unjudged record."""
    fresh = new_record(sample.oeg_input, sample.answer, model)
    stored = store.latest.get((sample.doc_id, fresh["key"]))
    inline = sample.inline if sample.inline and sample.inline.get("key") == fresh["key"] else None
    for candidate in (stored, inline):
        if candidate and candidate.get("status") == JUDGED:
            return candidate
    return stored or fresh


def _judge_pending(settings: JudgeSettings, jobs: list[_Job], workers: int) -> JudgeError | None:
    """Send the pending answers; a judge that cannot be configured raises JudgeConfigError."""
    if settings.endpoint is None:
        raise JudgeConfigError(f"no judge configured: {how_to_configure()}")
    from loguru import logger

    logger.disable("lmms_eval.llm_judge")  # its per-attempt errors would contradict our retries
    client = JudgeClient(settings, on_retry=lambda kind, attempt, wait: print(
        f"judge {kind} error (attempt {attempt}/{settings.retries + 1}); retrying in {wait:g} s", file=sys.stderr))
    try:
        client.check_reachable()
    except JudgeUnreachable as error:
        return error
    print(f"judge: {client.describe()}", file=sys.stderr)
    return _run_jobs(client, jobs, workers)


def _write_results(logged: Mapping[Path, Sequence[LoggedSample]], stores: Mapping[Path, JudgementStore],
                   settings: JudgeSettings) -> list[Mapping[str, Any]]:
    """One ``<date>_results_judged.json`` per generation run; returns the records left unjudged."""
    by_run: dict[tuple[Path, str], dict[str, dict[str, Any]]] = {}
    left: list[Mapping[str, Any]] = []
    for path, samples in logged.items():
        date_id, _, task = path.stem.partition("_samples_")
        records = [final_record(sample, stores[path], settings.model) for sample in samples]
        left.extend(record for record in records if record.get("status") != JUDGED)
        summary = summarize(records)
        by_run.setdefault((path.parent, date_id), {})[task] = summary
    judge_info = {"api_type": settings.api_type, "model": settings.model, "endpoint_env": settings.endpoint_env}
    for (folder, date_id), summaries in sorted(by_run.items()):
        base_path = folder / f"{date_id}_results.json"
        base = json.loads(base_path.read_text("utf-8")) if base_path.is_file() else None
        out = folder / f"{date_id}{RESULTS_SUFFIX}"
        # nan="null": an older lmms-eval results file (the base) may hold NaN, which is not JSON
        write_json_atomic(out, build_results(summaries, judge=judge_info, base=base), nan="null", default=str)
        print(format_table(summaries))
        print(f"wrote {out}", file=sys.stderr)
    return left


def unjudged_summary(records: Sequence[Mapping[str, Any]], shown: int = 5) -> str:
    """Why answers stay unjudged: each distinct error once, with how many answers it hit."""
    counts: dict[str, int] = {}
    for record in records:
        error = str(record.get("error") or "not sent to the judge yet")
        counts[error] = counts.get(error, 0) + 1
    lines = [f"  {count} x {error}" for error, count in sorted(counts.items(), key=lambda item: -item[1])[:shown]]
    if len(counts) > shown:
        lines.append(f"  ... and {len(counts) - shown} other errors (see the judgements files)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("judge", __doc__.splitlines()[0],
                            epilog=f"Judge configuration: {how_to_configure()}.")
    parser.add_argument("logdir", type=Path, help="lmms-eval --output_path of the generation run (searched recursively)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("PROACTIVEBENCH_JUDGE_WORKERS", "4")),
                        help="requests in flight at once (default 4, or $PROACTIVEBENCH_JUDGE_WORKERS)")
    parser.add_argument("--model", help="judge model name (default $JUDGE_MODEL_VERSION or Qwen/Qwen3-8B)")
    parser.add_argument("--timeout", type=float, help="seconds per request (default $PROACTIVEBENCH_JUDGE_TIMEOUT or 300)")
    parser.add_argument("--retries", type=int,
                        help="retries per request of timeouts, 5xx and lost connections (default $PROACTIVEBENCH_JUDGE_RETRIES or 4)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    if not args.logdir.is_dir():
        print(f"error: {args.logdir} is not a directory; give the --output_path of an lmms-eval run", file=sys.stderr)
        return 2
    paths = find_samples(args.logdir)
    if not paths:
        print(f"error: no samples file of a single-turn OEG task under {args.logdir}; run the proactivebench_oeg tasks with "
              "`python -m lmms_eval ... --log_samples --output_path DIR` first", file=sys.stderr)
        return 2
    try:
        settings = JudgeSettings.from_env(model=args.model, timeout=args.timeout, retries=args.retries)
        logged = {path: read_samples(path) for path in paths}
    except (JudgeConfigError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    stores = {path: JudgementStore(judgements_path(path)) for path in paths}
    jobs = [_Job(stores[path], sample, new_record(sample.oeg_input, sample.answer, settings.model))
            for path, samples in logged.items() for sample in samples
            if final_record(sample, stores[path], settings.model)["status"] != JUDGED]
    already = sum(len(samples) for samples in logged.values()) - len(jobs)
    print(f"{len(paths)} OEG samples file(s): {already} answers already judged, {len(jobs)} to judge", file=sys.stderr)
    try:
        fatal = _judge_pending(settings, jobs, args.workers) if jobs else None
    except JudgeConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    left = _write_results(logged, stores, settings)
    if fatal is not None:
        print(f"error: {fatal}\nThe generation logs are untouched and every verdict so far is kept; rerun the same "
              "command once the judge is back to judge the rest.", file=sys.stderr)
        return 3
    if left:
        message = (f"{len(left)} answer(s) unjudged (judge errors, see the judgements files); rerun to retry them:\n"
                   f"{unjudged_summary(left)}")
        print(encode_text(message).decode("utf-8"), file=sys.stderr)  # a judge's message may hold any string
        return 1
    return 0


def format_table(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    grouped: dict[str, dict[str, Mapping[str, Any]]] = {}
    for task in summaries:
        grouped.setdefault(group_of(task), {})[task] = summaries[task]
    rows = [("task", "n", "judged", "malformed", "unjudged", "proactive_suggestion", "category_prediction", "aggregate")]
    for group, tasks in sorted(grouped.items()):
        for name, summary in [(group, group_summary(tasks)), *sorted(tasks.items())]:
            rows.append((name if name == group else f" - {name}", str(summary["samples"]), str(summary["judged"]),
                         str(summary["malformed"]), str(summary["unjudged"]),
                         *("–" if summary[m] is None else f"{summary[m]:.1f}" for m in METRICS)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)


if __name__ == "__main__":
    sys.exit(main())
