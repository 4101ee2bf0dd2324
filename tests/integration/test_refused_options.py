"""lmms-eval options our tasks cannot honour stop a real ``python -m lmms_eval`` run before any model
loads: one line, exit status 2, no traceback (issue 25's acceptance). The model named does not exist,
so a run that got as far as loading it would fail differently."""

from __future__ import annotations

import subprocess
import sys

import pytest

MISSING_MODEL = ["--model", "llava_hf", "--model_args", "pretrained=/nonexistent/llava,device_map=cpu,device=cpu"]


@pytest.mark.parametrize(("flag", "expected"), [
    (["--num_fewshot", "1"], "cannot run with --num_fewshot 1: the tasks have no few-shot split"),
    (["--cache_requests", "true"], "cannot run with --cache_requests true: cached requests lose the per-round hook"),
])
def test_refused_once_before_the_model_loads(flag, expected, offline_env, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", *MISSING_MODEL, "--tasks", "proactivebench",
                           "--limit", "2", "--output_path", str(tmp_path), *flag],
                          env=offline_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    ours = [line for line in proc.stderr.splitlines() if line.startswith("proactivebench_ext:")]
    assert len(ours) == 1 and expected in ours[0] and "Drop " in ours[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "nonexistent" not in proc.stdout + proc.stderr  # the model was never looked up
    assert not list(tmp_path.rglob("*.json"))


def test_a_bad_setting_is_refused_before_the_model_loads(offline_env, tmp_path):
    env = {**offline_env, "PROACTIVEBENCH_LOCKSTEP_POOL": "0"}
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", *MISSING_MODEL, "--tasks", "proactive_qd", "--limit", "1"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "proactivebench_ext: PROACTIVEBENCH_LOCKSTEP_POOL='0' is not allowed: an integer >= 1" in proc.stderr
