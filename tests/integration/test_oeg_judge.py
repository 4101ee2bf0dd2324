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

from proactivebench_ext.judge import phase as judge_cli

from ..fake_judge_server import FakeJudge, Reply
from ..unit.test_oeg_judge import DATE, golden_cases, golden_script, write_samples_logs

REPO = Path(__file__).resolve().parents[2]




# -- the golden records as a generation log ----------------------------------------------------









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
