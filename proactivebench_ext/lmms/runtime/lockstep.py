"""Batched rounds over a pool: every live episode waits for one shared backend call per turn.

lmms-eval 0.7.3 plays agentic requests one at a time, calling ``lm.generate_until`` with a
batch of one per round; ProactiveBench is thousands of short episodes, so a GPU would idle and
an API would see one request in flight. This driver replaces the evaluator's agentic runner for
*our* requests only (recognised by their ``doc_to_text`` hook living in this package); every
other task still goes through lmms-eval's own runner. Inputs and outputs are those of the stock
runner, so per-sample results are identical with a deterministic model.

Scheduling. At most ``PROACTIVEBENCH_LOCKSTEP_POOL`` episodes (default 256) are in play at
once, across all our tasks of the run; an episode that ends hands its slot at once to the next
request in the queue, so calls stay full until the queue is empty (fixed windows ran every window
until its longest episode ended, with ever fewer episodes per call). Each backend call takes the
ready episodes of one task: episodes furthest into their play first (as continuous batching
serves running sequences before new prompts, so a long episode is never starved behind a queue
of first turns), then in the order they became ready. By default calls run one at a time, in this thread,
each as large as the pool allows (the backend splits it by its ``batch_size``). Backends known
to serve a call by fanning its requests out on their own threads (lmms-eval's ``openai``
backends, with ``num_concurrent``) get *overlapping* calls instead: several calls, of any of our
tasks, run at once from worker threads, with at most ``num_concurrent`` requests in flight in
all, and an episode's next turn goes out as soon as its own call returns (see
:func:`overlap_concurrency` for the rule and ``PROACTIVEBENCH_LOCKSTEP_CONCURRENCY``).

Four traps it avoids:

- Backends build a batch from the first request's callables (``doc_to_visual[0]``,
  ``doc_to_messages[0]``, ``task[0]``). Every request of a call therefore shares one callable
  that looks its own episode up from the doc it is given, and a call never mixes tasks or
  repeats a doc (rank padding repeats one).
- lmms-eval's response cache keys a request by (task, doc, idx, prompt text), not by image,
  and the stock runner gives every round idx 0. Here each round's ``idx`` is a hash of the
  episode's round number and of the images shown, so ``--use_cache`` resumes an interrupted run
  round by round without ever replaying one round's answer for another.
- Holding one image per live episode for a whole task could take gigabytes: only pool members
  hold images, and an episode drops its images when it ends.
- The response cache holds an SQLite connection that only its creating thread may use, and
  local backends rely on thread-local state (``torch.no_grad``): calls through the cache, and
  calls of backends not known to be thread-safe, always run in this thread.

A request that gets no answer never stops the run and is never cached. When a backend call
raises, its requests are sent again one at a time, so only the request that fails is lost; that
request, and one the backend answered with lmms-eval's failure text or with nothing, reaches the
hooks as a failure text (:func:`..faults.request_failure`), which ends its episode as errored
(kind ``model``, or ``data`` when the model's image processor raised). Failures go through
lmms-eval's response cache as "no response", so a ``--use_cache`` rerun retries exactly them.

``PROACTIVEBENCH_LOCKSTEP=0`` turns the driver off (our tasks then refuse ``--use_cache``).
Either way the log names the runner that plays our episodes.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .. import faults
from . import lmms_eval_version
from .api_retries import pin_client_retries
from .options import UnsupportedOptionError

TESTED_LMMS_EVAL = ("0.7.3",)
NO_RESPONSE_ANSWER = faults.failure_answer("model", faults.NO_RESPONSE)  # what the hooks get for "nothing came back"
STOCK_SIGNATURE = ("lm", "requests", "agentic_trace_mode", "response_cache")
ENABLE_VARIABLE = "PROACTIVEBENCH_LOCKSTEP"
POOL_VARIABLE = "PROACTIVEBENCH_LOCKSTEP_POOL"
CONCURRENCY_VARIABLE = "PROACTIVEBENCH_LOCKSTEP_CONCURRENCY"
SCHEDULE_VARIABLE = "PROACTIVEBENCH_LOCKSTEP_SCHEDULE"
DEFAULT_POOL = 256
OUR_HOOK_MODULE_PREFIX = "proactivebench_ext."
# generate_until implementations that keep each call's state local (their own thread pool, queue
# and progress bar) and share only a thread-safe HTTP client and lmms-eval's locked usage log.
THREAD_SAFE_GENERATE_UNTIL = frozenset({
    "lmms_eval.models.chat.openai.OpenAICompatible.generate_until",
    "lmms_eval.models.simple.openai.OpenAICompatible.generate_until",
})


def enabled() -> bool:
    return os.environ.get(ENABLE_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def is_ours(request: Any) -> bool:
    """A request of one of our tasks: its ``doc_to_text`` hook lives in this package."""
    doc_to_text = request.args[3]
    hook = getattr(doc_to_text, "func", doc_to_text)  # lmms-eval wraps it in functools.partial
    return getattr(hook, "__module__", "").startswith(OUR_HOOK_MODULE_PREFIX)


def _visual_fingerprint(visuals: Sequence[Any] | None) -> str:
    digest = hashlib.sha1()
    for visual in visuals or []:
        if hasattr(visual, "tobytes") and hasattr(visual, "size"):
            digest.update(f"{visual.mode}{visual.size}".encode())
            digest.update(visual.tobytes())
        else:
            digest.update(json.dumps(visual, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def round_idx_key(round_idx: int, visuals: Sequence[Any] | None) -> int:
    """A cache ``idx`` unique to (round, images shown): 31 bits of a hash."""
    digest = hashlib.sha1(f"{round_idx}|{_visual_fingerprint(visuals)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _doc_key(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, default=str)


@dataclass
class _Play:
    """One request's episode as the stock runner tracks it."""

    request: Any
    context: str
    generation_kwargs: dict
    doc_to_visual: Callable
    doc_to_text: Callable
    doc_id: Any
    task_name: str
    split: str
    max_steps: int
    doc: Any = None
    doc_key: str = ""  # identifies the doc when a backend hands it back to a shared callable
    visuals: list | None = None  # this round's visuals (None until needed)
    previous_round_info: Any = None
    outputs: list = field(default_factory=list)
    final_response: str = ""
    trace: list = field(default_factory=list)
    rounds: int = 0
    done: bool = False
    index: int = -1  # position of its request in the runner's list

    @classmethod
    def of(cls, request: Any, lm: Any, index: int = -1) -> _Play:
        context, generation_kwargs, doc_to_visual, doc_to_text, doc_id, task_name, split = request.args
        if not callable(doc_to_text):
            raise ValueError("generate_until_agentic requires callable doc_to_text")
        base = copy.deepcopy(generation_kwargs)
        max_steps = int(base.pop("max_agentic_steps", 12))
        doc = lm.task_dict[task_name][split][doc_id]
        return cls(request, context, base, doc_to_visual, doc_to_text, doc_id, task_name, split, max_steps,
                   doc=doc, doc_key=_doc_key(doc), done=max_steps <= 0, index=index)

    def current_visuals(self) -> list:
        if self.visuals is None:
            visuals = self.doc_to_visual(self.doc)
            self.visuals = [] if visuals is None else list(visuals)
        return self.visuals

    def absorb(self, output: str, trace_mode: str) -> None:
        """Feed one round's model output to the task hook, exactly as the stock runner does."""
        round_input = self.context
        self.outputs.append(output)
        self.final_response = output
        self.rounds += 1
        payload = self.doc_to_text(self.doc, previous_output=self.outputs, round_idx=self.rounds,
                                   previous_round_info=self.previous_round_info)
        if isinstance(payload, tuple) and len(payload) == 5:
            visuals, next_context, terminal, updated_outputs, next_round_info = payload
            if updated_outputs is not None:
                self.outputs = list(updated_outputs)
                if self.outputs:
                    self.final_response = self.outputs[-1]
            self.previous_round_info = next_round_info
            if trace_mode == "full":
                record = {"round_idx": self.rounds, "round_input": round_input, "model_output": output, "terminal": bool(terminal)}
                if isinstance(next_round_info, dict):
                    record["state"] = next_round_info.get("state")
                    record["tool_result"] = next_round_info.get("last_tool_result")
                    record["tool_calls"] = next_round_info.get("tool_calls")
                    record["valid_tool_calls"] = next_round_info.get("valid_tool_calls")
                    record["invalid_steps"] = next_round_info.get("invalid_steps")
                if next_context is not None:
                    record["next_input"] = next_context
                self.trace.append(record)
            if terminal:
                self.done = True
                return
            if next_context is not None:
                self.context = next_context
            if visuals is not None:
                self.visuals = list(visuals)
        elif isinstance(payload, str):
            self.context = payload
        else:
            self.done = True
            return
        if self.rounds >= self.max_steps:
            self.done = True

    def response(self, trace_mode: str) -> str:
        """The final response, with the stock runner's fallback when the episode was cut."""
        final, info = self.final_response, self.previous_round_info
        if info is not None and not (isinstance(final, str) and final.strip().startswith("{")):
            state = info.get("state", {}) if isinstance(info, dict) else {}
            fallback = {
                "success": False,
                "error": "max_agentic_steps_reached",
                "tool_calls": float(info.get("tool_calls", 0)) if isinstance(info, dict) else 0.0,
                "valid_tool_calls": float(info.get("valid_tool_calls", info.get("tool_calls", 0))) if isinstance(info, dict) else 0.0,
                "invalid_steps": float(info.get("invalid_steps", 0.0)) if isinstance(info, dict) else 0.0,
                "state": state,
                "last_model_output": final,
                "trace": self.outputs,
            }
            if isinstance(state, dict):
                for key in ("cash", "days_elapsed", "inventory", "mobile_data_working"):
                    if key in state:
                        fallback[key] = state[key]
            final = json.dumps(fallback, ensure_ascii=False)
        if trace_mode == "full":
            try:
                parsed = json.loads(final) if isinstance(final, str) else None
                if isinstance(parsed, dict):
                    parsed["agentic_trace_mode"] = "full"
                    parsed["agentic_rounds"] = self.trace
                    final = json.dumps(parsed, ensure_ascii=False)
            except (TypeError, json.JSONDecodeError):
                pass
        return final


class _ReadyQueue:
    """Episodes waiting for their next call: most rounds played first, then first come first."""

    def __init__(self) -> None:
        self._by_rounds: dict[int, dict[int, _Play]] = {}

    def add(self, play: _Play) -> None:
        self._by_rounds.setdefault(play.rounds, {})[play.index] = play

    def remove(self, play: _Play) -> None:
        bucket = self._by_rounds[play.rounds]
        del bucket[play.index]
        if not bucket:
            del self._by_rounds[play.rounds]

    def __iter__(self):
        for rounds in sorted(self._by_rounds, reverse=True):
            yield from list(self._by_rounds[rounds].values())

    def __bool__(self) -> bool:
        return bool(self._by_rounds)


def _waves(plays: Iterable[_Play], budget: int | None = None, max_calls: int | None = None) -> list[list[_Play]]:
    """Split ready episodes into backend calls: one task and split per call, no doc twice.

    Calls come in the order of their first episode, and each holds its task's episodes in the
    order given; at most ``budget`` episodes in all and ``max_calls`` calls. An episode that
    would repeat a doc waits for a later call.
    """
    waves: list[list[_Play]] = []
    open_waves: dict[tuple[str, str], list[tuple[list[_Play], set[str]]]] = {}
    left = budget
    for play in plays:
        if left is not None and left <= 0:
            break
        candidates = open_waves.setdefault((play.task_name, play.split), [])
        for wave, keys in candidates:
            if play.doc_key not in keys:
                wave.append(play)
                keys.add(play.doc_key)
                break
        else:
            if max_calls is not None and len(waves) >= max_calls:
                continue
            wave = [play]
            candidates.append((wave, {play.doc_key}))
            waves.append(wave)
        if left is not None:
            left -= 1
    return waves


def _round_requests(lm: Any, wave: list[_Play]) -> list[Any]:
    from lmms_eval.api.instance import Instance

    by_doc = {play.doc_key: play for play in wave}

    def shared_doc_to_visual(doc: Any) -> list:
        return by_doc[_doc_key(doc)].current_visuals()

    def shared_doc_to_messages(doc: Any) -> list[dict]:
        play = by_doc[_doc_key(doc)]
        content = []
        for visual in play.current_visuals():
            if isinstance(visual, dict):
                content.append({"type": "audio", "url": visual})
            elif isinstance(visual, str):
                content.append({"type": "video", "url": visual})
            else:
                content.append({"type": "image", "url": visual})
        content.append({"type": "text", "text": play.context})
        return [{"role": "user", "content": content}]

    requests = []
    simple = getattr(lm, "is_simple", False)
    for play in wave:
        kwargs = copy.deepcopy(play.generation_kwargs)
        if simple:
            arguments = (play.context, kwargs, shared_doc_to_visual, play.doc_id, play.task_name, play.split)
        else:
            arguments = (play.context, shared_doc_to_messages, kwargs, play.doc_id, play.task_name, play.split)
        idx = round_idx_key(play.rounds, play.current_visuals())
        requests.append(Instance(request_type="generate_until", arguments=arguments, idx=idx, metadata=play.request.metadata))
    return requests


@dataclass(frozen=True)
class Schedule:
    """How :func:`run_lockstep` plays its episodes."""

    pool: int = DEFAULT_POOL  # episodes in play (holding images) at once
    concurrency: int = 0  # > 0: overlapping calls, at most this many requests in flight; 0: one call at a time
    refill: bool = True  # False: fixed windows of `pool` episodes (the earlier schedule, kept for comparison)
    reason: str = ""  # why calls overlap or not, for the log


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def overlap_concurrency(lm: Any, response_cache: Any = None) -> tuple[int, str]:
    """Requests that may be in flight across overlapping calls (0: one call at a time), and why.

    The rule: calls overlap only when the backend's ``generate_until`` is one known to keep every
    call's state local (lmms-eval's chat and simple ``openai`` backends: per-call thread pool,
    queue and progress bar; shared only the HTTP client and the locked usage log), without
    ``adaptive_concurrency`` (its rate adaptation lives inside one call), and without
    ``--use_cache``. Then at most the backend's ``num_concurrent`` requests are in flight in all,
    as in one of its own calls. Every other backend (local models: thread-local ``no_grad``, one
    device; unknown API wrappers) gets one call at a time. ``PROACTIVEBENCH_LOCKSTEP_CONCURRENCY``
    overrides: ``0`` for one call at a time, ``N`` to overlap calls of any backend with at most N
    requests in flight (the caller vouches that the backend is thread-safe).
    """
    setting = os.environ.get(CONCURRENCY_VARIABLE, "").strip().lower()
    if response_cache is not None:
        return 0, "--use_cache: lmms-eval's response cache may only be used from one thread"
    if setting not in ("", "auto"):
        try:
            forced = int(setting)
        except ValueError:
            forced = -1
        if forced < 0:
            raise ValueError(f"{CONCURRENCY_VARIABLE}={setting!r}: use 'auto', 0 (one call at a time) or the number "
                             "of requests to keep in flight")
        return forced, f"{CONCURRENCY_VARIABLE}={forced}"
    method = getattr(type(lm), "generate_until", None)
    name = f"{getattr(method, '__module__', '')}.{getattr(method, '__qualname__', '')}"
    if name not in THREAD_SAFE_GENERATE_UNTIL:
        return 0, (f"{type(lm).__name__}.generate_until is not vetted for calls from several threads "
                   f"(see {CONCURRENCY_VARIABLE})")
    if _truthy(getattr(lm, "adaptive_concurrency", False)):
        return 0, "adaptive_concurrency adapts within one call"
    concurrency = int(getattr(lm, "num_concurrent", 1) or 1)
    if concurrency <= 1:
        return 0, "num_concurrent=1"
    return concurrency, f"{type(lm).__name__} fans each call out to num_concurrent={concurrency}"


def schedule_for(lm: Any, response_cache: Any = None) -> Schedule:
    """The schedule from the environment: pool size and whether calls overlap."""
    raw = os.environ.get(POOL_VARIABLE, str(DEFAULT_POOL)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{POOL_VARIABLE}={raw!r}: give the number of episodes that may hold images at once (>= 1)")
    concurrency, reason = overlap_concurrency(lm, response_cache)
    return Schedule(pool=int(raw), concurrency=concurrency, reason=reason)


class _FailuresHidden:
    """The backend as lmms-eval's response cache sees it: a failed request answers ``None``, which
    the cache neither stores nor replays (it logs it as no response), so a rerun asks again. The
    failure text is kept aside, by request, for the runner; so is an answer the cache's UTF-8 log
    cannot hold (a lone surrogate), which is used but not cached."""

    def __init__(self, lm: Any) -> None:
        self._lm = lm
        self.kept: dict[int, Any] = {}

    def generate_until(self, requests: list[Any]) -> list[Any]:
        shown = []
        for request, raw in zip(requests, _answered(self._lm.generate_until, requests)):
            aside = _not_cacheable(raw)
            if aside is not None:
                self.kept[id(request)] = aside
                raw = None
            shown.append(raw)
        return shown


def _not_cacheable(raw: Any) -> Any:
    """What the runner keeps aside for a result the cache must not hold: the failure text of a
    request that got no answer, or an answer its UTF-8 log cannot hold; None for any other answer."""
    from lmms_eval.api.instance import unwrap_generation_output

    if raw is None:
        return NO_RESPONSE_ANSWER
    output, _ = unwrap_generation_output(raw)
    if faults.request_failure(output) is not None:
        return output
    try:
        str(output).encode("utf-8")
    except UnicodeEncodeError:
        return raw
    return None


def _answered(generate: Callable[[list[Any]], list[Any]], batch: list[Any]) -> list[Any]:
    """``generate(batch)``, one result per request whatever happens: when the call raises, each
    request is sent again alone, and a request that still raises gets its failure text."""
    try:
        results = list(generate(batch))
    except Exception as error:  # noqa: BLE001 - a backend error is one request's fault, not the run's
        if len(batch) == 1:
            return [faults.exception_answer(error)]
        results = []
        for request in batch:
            try:
                results.extend(list(generate([request]))[:1] or [None])
            except Exception as single:  # noqa: BLE001
                results.append(faults.exception_answer(single))
    if len(results) < len(batch):
        results += [None] * (len(batch) - len(results))
    return results[:len(batch)]


def _run_now(function: Callable[[list[Any]], list[Any]], batch: list[Any]) -> Future:
    """A call run in this thread, as an already finished future."""
    future: Future = Future()
    try:
        future.set_result(function(batch))
    except Exception as error:  # re-raised by future.result()
        future.set_exception(error)
    return future


def run_lockstep(lm: Any, requests: list[Any], agentic_trace_mode: str = "basic", response_cache: Any = None,
                 *, schedule: Schedule | None = None) -> list[str]:
    """Play agentic ``requests`` as a refilled pool of episodes, their turns batched into shared calls."""
    from lmms_eval.api.instance import unwrap_generation_output
    from loguru import logger
    from tqdm import tqdm

    schedule = schedule or schedule_for(lm, response_cache)
    rank = getattr(lm, "rank", 0)
    if rank == 0:
        how = (f"overlapping calls, up to {schedule.concurrency} requests in flight" if schedule.concurrency
               else "one call at a time")
        logger.info(f"ProactiveBench runner: lockstep (this package's driver): {len(requests)} episodes, pool "
                    f"{schedule.pool}{'' if schedule.refill else ' (fixed windows)'}, {how}: "
                    f"{schedule.reason or 'as given'}")
    responses: list[str] = [""] * len(requests)
    queue = deque(range(len(requests)))
    live: dict[int, _Play] = {}
    ready = _ReadyQueue()
    in_flight: dict[Future, list[_Play]] = {}
    progress = tqdm(total=len(requests), desc="ProactiveBench episodes (lockstep)", disable=rank != 0)

    def execute(batch: list[Any]) -> list[Any]:
        """One result per request: an answer, or the failure text the hooks turn into a fault."""
        if response_cache is None:
            return [raw if raw is not None else NO_RESPONSE_ANSWER for raw in _answered(lm.generate_until, batch)]
        backend = _FailuresHidden(lm)
        results = _answered(lambda part: response_cache.execute(backend, "generate_until", part), batch)
        return [raw if raw is not None else backend.kept.get(id(request), NO_RESPONSE_ANSWER)
                for request, raw in zip(batch, results)]

    def finish(play: _Play) -> None:
        responses[play.index] = play.response(agentic_trace_mode)
        play.visuals = None  # its images go now, not at the end of the run
        live.pop(play.index, None)
        progress.update(1)

    def admit() -> None:
        if not schedule.refill and live:
            return
        while queue and len(live) < schedule.pool:
            play = _Play.of(requests[queue[0]], lm, index=queue.popleft())
            if play.done:
                finish(play)
            else:
                live[play.index] = play
                ready.add(play)

    executor = ThreadPoolExecutor(schedule.concurrency, thread_name_prefix="lockstep") if schedule.concurrency else None
    try:
        while live or queue:
            admit()
            if executor is not None:
                calls = _waves(ready, schedule.concurrency - sum(map(len, in_flight.values())))
            else:
                calls = _waves(ready, schedule.pool, max_calls=1)
            for call in calls:
                for play in call:
                    ready.remove(play)
                batch = _round_requests(lm, call)
                in_flight[executor.submit(execute, batch) if executor is not None else _run_now(execute, batch)] = call
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                call = in_flight.pop(future)
                for play, raw in zip(call, future.result()):
                    output, _ = unwrap_generation_output(raw)
                    play.absorb(output, agentic_trace_mode)
                    if play.done:
                        finish(play)
                    else:
                        ready.add(play)
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        progress.close()
    return responses


CACHE_RUN_ID_VARIABLE = "LMMS_CACHE_RUN_ID"


def pin_cache_run_id(argv: Sequence[str], world_size: int | None = None) -> str | None:
    """Give a ``--use_cache`` run a run id derived from its command line, so a rerun resumes.

    lmms-eval writes each run's cached responses to ``<cache>/runs/<run id>/`` and merges them
    into the shared cache only when the run finishes; the run id is random unless
    ``LMMS_CACHE_RUN_ID`` is set. After a kill, a rerun of the same command would therefore start
    from nothing. Setting the variable (only when unset, only with ``--use_cache``) makes the rerun
    reopen the killed run's entries. The output path is left out of the id.
    """
    if "--use_cache" not in {arg.split("=", 1)[0] for arg in argv} or os.environ.get(CACHE_RUN_ID_VARIABLE):
        return None
    kept, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
            continue
        if arg.split("=", 1)[0] == "--output_path":
            skip = "=" not in arg
            continue
        kept.append(arg)
    world = world_size if world_size is not None else os.environ.get("WORLD_SIZE", "1")
    run_id = "proactivebench-" + hashlib.sha1(json.dumps([kept, str(world)]).encode()).hexdigest()[:16]
    os.environ[CACHE_RUN_ID_VARIABLE] = run_id
    return run_id


def make_runner(stock: Callable) -> Callable:
    """The evaluator's agentic runner, with our requests routed through :func:`run_lockstep`."""

    def run_generate_until_agentic(lm, requests, agentic_trace_mode="basic", response_cache=None):
        ours = [i for i, request in enumerate(requests) if is_ours(request)]
        if not ours:
            return stock(lm, requests, agentic_trace_mode=agentic_trace_mode, response_cache=response_cache)
        pin_client_retries(lm)
        if not enabled():
            if response_cache is not None:
                raise UnsupportedOptionError(
                    f"ProactiveBench tasks cannot run with --use_cache when {ENABLE_VARIABLE}=0: lmms-eval's own agentic "
                    "runner gives every round the same cache key, so turns with the same question would share one answer. "
                    f"Unset {ENABLE_VARIABLE} or drop --use_cache.")
            if getattr(lm, "rank", 0) == 0:
                from loguru import logger

                logger.info(f"ProactiveBench runner: lmms-eval's own agentic runner ({ENABLE_VARIABLE}=0): {len(ours)} "
                            "episodes one request at a time; a request that fails errors its episode, an exception "
                            "from the backend stops the run")
            try:
                return stock(lm, requests, agentic_trace_mode=agentic_trace_mode, response_cache=response_cache)
            except Exception as error:
                faults.note_backend_error("lmms-eval's agentic runner (the backend or a hook)", error)
                raise
        mine = set(ours)
        others = [i for i in range(len(requests)) if i not in mine]
        responses: list[str] = [""] * len(requests)
        if others:
            for i, response in zip(others, stock(lm, [requests[i] for i in others], agentic_trace_mode=agentic_trace_mode,
                                                 response_cache=response_cache)):
                responses[i] = response
        try:
            played = run_lockstep(lm, [requests[i] for i in ours], agentic_trace_mode, response_cache)
        except Exception as error:  # lmms-eval logs it and exits 0: make the end of the run say it
            faults.note_backend_error("the lockstep runner", error)
            raise
        for i, response in zip(ours, played):
            responses[i] = response
        return responses

    run_generate_until_agentic.__wrapped_stock__ = stock  # type: ignore[attr-defined]
    return run_generate_until_agentic


_announced = False


def announce_stock_runner(reason: str) -> None:
    """Say once per process that lmms-eval's own runner plays our episodes, and why."""
    global _announced
    if _announced:
        return
    _announced = True
    from loguru import logger

    logger.info(f"ProactiveBench runner: lmms-eval's own agentic runner ({reason})")


def install() -> bool:
    """Route our agentic requests through the lockstep driver; True when it is in place.

    Installed only on the lmms-eval versions it was tested with and when the stock runner has
    the expected signature; otherwise lmms-eval stays untouched (and ``--use_cache`` is refused).
    """
    try:
        import lmms_eval.evaluator as evaluator
    except Exception:
        return False
    stock = getattr(evaluator, "_run_generate_until_agentic", None)
    if stock is None:
        return False
    if hasattr(stock, "__wrapped_stock__"):
        return True
    if lmms_eval_version() not in TESTED_LMMS_EVAL or tuple(inspect.signature(stock).parameters) != STOCK_SIGNATURE:
        return False
    evaluator._run_generate_until_agentic = make_runner(stock)
    return True
