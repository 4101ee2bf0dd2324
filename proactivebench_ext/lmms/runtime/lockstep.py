"""Lockstep rounds: advance every live episode of a task together, one backend call per round.

lmms-eval 0.7.3 plays agentic requests one at a time, calling ``lm.generate_until`` with a
batch of one per round; ProactiveBench is thousands of short episodes, so a GPU would idle.
This driver replaces the evaluator's agentic runner for *our* requests only (recognised by
their ``doc_to_text`` hook living in this package); every other task still goes through
lmms-eval's own runner. Inputs and outputs are those of the stock runner, so per-sample
results are identical with a deterministic model.

Three traps it avoids:

- Backends build a batch from the first request's callables (``doc_to_visual[0]``,
  ``doc_to_messages[0]``, ``task[0]``). Every request of a call therefore shares one callable
  that looks its own episode up from the doc it is given, and a call never mixes tasks or
  repeats a doc.
- lmms-eval's response cache keys a request by (task, doc, idx, prompt text), not by image,
  and the stock runner gives every round idx 0. Here each round's ``idx`` is a hash of the
  round number and of the images shown, so ``--use_cache`` resumes an interrupted run
  round by round without ever replaying one round's answer for another.
- Holding one image per live episode for a whole task could take gigabytes; episodes are
  played in windows (``PROACTIVEBENCH_LOCKSTEP_WINDOW``, default 256) so at most that many
  episodes hold images at once.

``PROACTIVEBENCH_LOCKSTEP=0`` turns the driver off (our tasks then refuse ``--use_cache``).
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from .options import UnsupportedOptionError

TESTED_LMMS_EVAL = ("0.7.3",)
STOCK_SIGNATURE = ("lm", "requests", "agentic_trace_mode", "response_cache")
ENABLE_VARIABLE = "PROACTIVEBENCH_LOCKSTEP"
WINDOW_VARIABLE = "PROACTIVEBENCH_LOCKSTEP_WINDOW"
OUR_HOOK_MODULE_PREFIX = "proactivebench_ext."


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

    @classmethod
    def of(cls, request: Any, lm: Any) -> "_Play":
        context, generation_kwargs, doc_to_visual, doc_to_text, doc_id, task_name, split = request.args
        if not callable(doc_to_text):
            raise ValueError("generate_until_agentic requires callable doc_to_text")
        base = copy.deepcopy(generation_kwargs)
        max_steps = int(base.pop("max_agentic_steps", 12))
        doc = lm.task_dict[task_name][split][doc_id]
        return cls(request, context, base, doc_to_visual, doc_to_text, doc_id, task_name, split, max_steps,
                   doc=doc, doc_key=_doc_key(doc), done=max_steps <= 0)

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


def _waves(plays: list[_Play]) -> list[list[_Play]]:
    """Split one round's live episodes into backend calls: one task and split per call, no doc twice."""
    waves: list[list[_Play]] = []
    open_waves: dict[tuple[str, str], list[tuple[list[_Play], set[str]]]] = {}
    for play in plays:
        key = play.doc_key
        candidates = open_waves.setdefault((play.task_name, play.split), [])
        for wave, keys in candidates:
            if key not in keys:
                wave.append(play)
                keys.add(key)
                break
        else:
            wave = [play]
            candidates.append((wave, {key}))
            waves.append(wave)
    return waves


def _round_requests(lm: Any, wave: list[_Play], round_idx: int) -> list[Any]:
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
        idx = round_idx_key(round_idx, play.current_visuals())
        requests.append(Instance(request_type="generate_until", arguments=arguments, idx=idx, metadata=play.request.metadata))
    return requests


def run_lockstep(lm: Any, requests: list[Any], agentic_trace_mode: str = "basic", response_cache: Any = None,
                 *, window: int | None = None) -> list[str]:
    """Play agentic ``requests`` round by round, every live episode of a window in one call per round."""
    from lmms_eval.api.instance import unwrap_generation_output
    from tqdm import tqdm

    window = window or int(os.environ.get(WINDOW_VARIABLE, "256"))
    responses: list[str] = [""] * len(requests)
    progress = tqdm(total=len(requests), desc="ProactiveBench episodes (lockstep)", disable=getattr(lm, "rank", 0) != 0)
    for start in range(0, len(requests), window):
        plays = [_Play.of(request, lm) for request in requests[start:start + window]]
        round_idx = 0
        while True:
            live = [play for play in plays if not play.done]
            if not live:
                break
            for wave in _waves(live):
                batch = _round_requests(lm, wave, round_idx)
                if response_cache is not None:
                    outputs = response_cache.execute(lm, "generate_until", batch)
                else:
                    outputs = lm.generate_until(batch)
                for play, raw in zip(wave, outputs):
                    output, _ = unwrap_generation_output(raw)
                    play.absorb(output, agentic_trace_mode)
                    if play.done:
                        play.visuals = None  # release its images now, not at the end of the window
                        progress.update(1)
            round_idx += 1
        for offset, play in enumerate(plays):
            responses[start + offset] = play.response(agentic_trace_mode)
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
        if not enabled():
            if response_cache is not None:
                raise UnsupportedOptionError(
                    f"ProactiveBench tasks cannot run with --use_cache when {ENABLE_VARIABLE}=0: lmms-eval's own agentic "
                    "runner gives every round the same cache key, so turns with the same question would share one answer. "
                    f"Unset {ENABLE_VARIABLE} or drop --use_cache.")
            return stock(lm, requests, agentic_trace_mode=agentic_trace_mode, response_cache=response_cache)
        mine = set(ours)
        others = [i for i in range(len(requests)) if i not in mine]
        responses: list[str] = [""] * len(requests)
        if others:
            for i, response in zip(others, stock(lm, [requests[i] for i in others], agentic_trace_mode=agentic_trace_mode,
                                                 response_cache=response_cache)):
                responses[i] = response
        for i, response in zip(ours, run_lockstep(lm, [requests[i] for i in ours], agentic_trace_mode, response_cache)):
            responses[i] = response
        return responses

    run_generate_until_agentic.__wrapped_stock__ = stock  # type: ignore[attr-defined]
    return run_generate_until_agentic


def install() -> bool:
    """Route our agentic requests through the lockstep driver; True when it is in place.

    Installed only on the lmms-eval versions it was tested with and when the stock runner has
    the expected signature; otherwise lmms-eval stays untouched (and ``--use_cache`` is refused).
    """
    try:
        from importlib.metadata import version

        import lmms_eval.evaluator as evaluator
    except Exception:
        return False
    stock = getattr(evaluator, "_run_generate_until_agentic", None)
    if stock is None:
        return False
    if hasattr(stock, "__wrapped_stock__"):
        return True
    if version("lmms_eval") not in TESTED_LMMS_EVAL or tuple(inspect.signature(stock).parameters) != STOCK_SIGNATURE:
        return False
    evaluator._run_generate_until_agentic = make_runner(stock)
    return True
