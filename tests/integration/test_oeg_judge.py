"""OEG judging: the judge phase against a scripted judge on loopback, its faults, and the pure parts.

The golden OEG records (the benchmark's parser run on scripted judge outputs) are replayed
through the whole path: samples log -> `python -m proactivebench_ext judge` -> HTTP judge ->
judgements file -> results JSON, with `<think>` blocks, 500s and a slow answer on the way.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext.core.naming import scenario_slug
from proactivebench_ext.judge import phase as judge_cli
from proactivebench_ext.judge.phase import (
    OegInput,
)

from ..fake_judge_server import FakeJudge, Reply, user_text

GOLDEN = Path(__file__).parents[1] / "golden" / "oeg.jsonl"
REPO = Path(__file__).resolve().parents[2]
DATE = "20990101_000000"


@pytest.fixture
def judge_env(monkeypatch):
    """Point lmms-eval's judge variables at a fake judge; quick timeouts and backoff."""
    for name in ("API_TYPE", "LLM_JUDGE_URL", "JUDGE_MODEL_VERSION", "PROACTIVEBENCH_JUDGE_INLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_TIMEOUT", "0.5")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_BACKOFF", "0.01")
    monkeypatch.setenv("PROACTIVEBENCH_JUDGE_RETRIES", "3")

    def point(url: str) -> None:
        monkeypatch.setenv("OPENAI_API_URL", url)
    return point


# -- the golden records as a generation log ----------------------------------------------------
def golden_cases() -> list[dict]:
    """One case per (golden entry, scripted judge output) parsed with the acronym, as our tasks do."""
    cases, seen = [], set()
    for r, record in enumerate(map(json.loads, GOLDEN.read_text("utf-8").splitlines())):
        if "error" in record:
            continue
        for k, judged in enumerate(j for j in record["judged"] if j["dataset_arg"] == record["acronym"]):
            # answers are unique, so the scripted judge can tell the cases apart; the first case of
            # each record keeps the golden answer (and so the golden judge messages) when it can
            answer = record["generated_answer"]
            if k or answer in seen:
                answer = f"{answer} (probe {r}.{k})"
            seen.add(answer)
            cases.append({"record": record, "k": k, "output": judged["judge_output"], "parsed": judged["parsed"],
                          "answer": answer, "golden_messages": answer == record["generated_answer"]})
    return cases


def write_samples_logs(logdir: Path, cases: list[dict]) -> dict[str, list[dict]]:
    """One lmms-eval samples file per scenario, in the layout lmms-eval writes (target = judge input)."""
    by_task: dict[str, list[dict]] = {}
    for case in cases:
        by_task.setdefault(f"proactivebench_oeg_{scenario_slug(case['record']['acronym'])}", []).append(case)
    logdir.mkdir(parents=True, exist_ok=True)
    for task, task_cases in by_task.items():
        lines = []
        for doc_id, case in enumerate(task_cases):
            record = case["record"]
            target = OegInput(record["acronym"], str(record["entry"]["id"]), record["prompt"], record["valid_answers"])
            lines.append(json.dumps({"doc_id": doc_id, "target": target.to_target(), "filtered_resps": [case["answer"]],
                                     "doc_hash": "x", "input": record["prompt"]}))
        (logdir / f"{DATE}_samples_{task}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return by_task


def golden_script(cases: list[dict], *, always_500: str, flaky: str, slow: str):
    """Scripted judge: each answer gets its golden output, half of them behind a <think> block
    full of digits; one answer always fails with 500, one fails twice first, one is slow once."""
    outputs = {case["answer"]: case["output"] for case in cases}

    def script(messages, attempt):
        answer = user_text(messages).split("### System Output:\n", 1)[1]
        if answer == always_500 or (answer == flaky and attempt < 2):
            return Reply(status=500 if answer == always_500 else 503)
        if answer == slow and attempt == 0:
            return Reply(content="1,1", delay=1.5)  # past the 0.5 s timeout: never read
        output = outputs[answer]
        if hash(answer) % 2:
            output = f"<think>\nComparing: 1,0,1 then 0,1. Final list follows.\n</think>\n\n{output}"
        return Reply(content=output)
    return script





def test_killed_judge_phase_resends_only_what_was_not_stored(tmp_path, judge_env):
    """SIGKILL the CLI while request N+1 hangs: the rerun sends exactly the rest."""
    cases = [c for c in golden_cases() if c["record"]["acronym"] in ("ROD", "QD")]
    write_samples_logs(tmp_path, cases)
    stored_before_kill = 7
    script = golden_script(cases, always_500="", flaky="", slow="")

    def hang_after(messages, attempt):
        return Reply(hang=True) if judge.count > stored_before_kill else script(messages, attempt)

    with FakeJudge(hang_after) as judge:
        judge_env(judge.url)
        import os

        proc = subprocess.Popen([sys.executable, "-m", "proactivebench_ext", "judge", str(tmp_path), "--workers", "1"],
                                cwd=REPO, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            judge.wait_for(stored_before_kill + 1)
        finally:
            proc.kill()
            proc.wait()
    lines = sum(len(p.read_text().splitlines()) for p in tmp_path.glob(f"{DATE}_judgements_*.jsonl"))
    assert lines == stored_before_kill

    with FakeJudge(script) as judge:
        judge_env(judge.url)
        assert judge_cli.main([str(tmp_path), "--workers", "3"]) == 0
        assert judge.count == len(cases) - stored_before_kill
    judged_keys = [key for p in tmp_path.glob(f"{DATE}_judgements_*.jsonl")
                   for key in (json.loads(line)["key"] for line in p.read_text().splitlines())]
    assert len(judged_keys) == len(set(judged_keys)) == len(cases)  # nothing judged twice


def test_task_generator_command_line_check():
    result = subprocess.run([sys.executable, "tools/generate_tasks.py", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
