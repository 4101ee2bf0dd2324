"""OEG tasks end to end through ``python -m lmms_eval``: generation, the judge phase, multi-turn.

The baselines answer open questions in words (``proactive_oracle_open``: the oracle's next request
or the category). Runs are module fixtures (each costs ~10 s of lmms-eval start-up). The judge is
a scripted OpenAI-compatible server on loopback (tests/fake_judge_server.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

MODEL = "proactive_oracle_open"  # the oracle baseline, answering open questions in words
JUDGE_VARS = ("API_TYPE", "OPENAI_API_URL", "LLM_JUDGE_URL", "JUDGE_MODEL_VERSION", "PROACTIVEBENCH_JUDGE_INLINE")


@dataclass
class Run:
    out: Path
    results: dict[str, Any]
    samples: dict[str, list[dict[str, Any]]]  # task -> samples by doc_id


def lmms_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Offline, embedded data, no judge unless given; the open-answer baselines registered through
    a throw-away entry point when the package does not register them itself."""
    env = {k: v for k, v in os.environ.items() if k not in JUDGE_VARS and not k.startswith("PROACTIVEBENCH_")}
    env.update(HF_HOME=str(tmp / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    registered = {ep.value for ep in entry_points(group="lmms_eval.models")}
    if "proactivebench_ext.lmms.oeg_baselines:model_manifests" not in registered:
        dist = tmp / "plugin" / "proactivebench_oeg_test-0.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: proactivebench-oeg-test\nVersion: 0\n")
        (dist / "entry_points.txt").write_text(
            "[lmms_eval.models]\noeg_open = proactivebench_ext.lmms.oeg_baselines:model_manifests\n")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(dist.parent), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_lmms_eval(out: Path, tasks: str, env: dict[str, str], *flags: str) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "lmms_eval", "--model", MODEL, "--tasks", tasks,
                           "--output_path", str(out), *flags], env=env, cwd=out, capture_output=True, text=True,
                          timeout=600)
    results = list(out.glob("**/*_results.json"))
    assert proc.returncode == 0 and len(results) == 1, (proc.stdout + proc.stderr)[-4000:]
    samples = {}
    for path in out.glob("**/*_samples_*.jsonl"):
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
        samples[path.stem.split("_samples_", 1)[1]] = sorted(rows, key=lambda row: row["doc_id"])
    return Run(out, json.loads(results[0].read_text("utf-8")), samples)








@pytest.fixture(scope="module")
def generation(tmp_path_factory) -> Run:
    """Phase 1, as lmms-eval users run it: single-turn OEG with --log_samples, no judge configured."""
    tmp = tmp_path_factory.mktemp("oeg_gen")
    return run_lmms_eval(tmp / "out", "proactivebench_oeg", lmms_env(tmp), "--log_samples")







def test_a_needed_or_configured_judge_is_checked_before_generation(monkeypatch):
    import datasets

    from proactivebench_ext.judge.client import JudgeError, JudgeUnreachable
    from proactivebench_ext.lmms.oeg_hooks import process_docs

    for name in JUDGE_VARS:
        monkeypatch.delenv(name, raising=False)
    spec = datasets.Dataset.from_list([{"scenario": "ROD", "oeg_variant": "oeg_multiturn"}])
    with pytest.raises(JudgeError, match="OPENAI_API_URL"):
        process_docs(spec)
    assert len(process_docs(datasets.Dataset.from_list([{"scenario": "ROD", "oeg_variant": "oeg"}]))) == 4
    monkeypatch.setenv("OPENAI_API_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "EMPTY")
    with pytest.raises(JudgeUnreachable, match="OPENAI_API_URL=http://127.0.0.1:9/v1"):
        process_docs(datasets.Dataset.from_list([{"scenario": "ROD", "oeg_variant": "oeg"}]))


def test_random_baseline_says_a_first_turn_option():
    from proactivebench_ext.lmms.hooks import episode_from_doc
    from proactivebench_ext.lmms.oeg_baselines import OpenEndedRandom, is_multiple_choice
    from proactivebench_ext.lmms.oeg_hooks import oeg_rows

    doc = oeg_rows("COCO", "oeg")[0]
    options = episode_from_doc(doc).observe().options
    said = [OpenEndedRandom(seed=s).open_answer("t", 0, doc, "Q?") for s in range(12)]
    assert set(said) <= set(options) and len(set(said)) > 1
    assert said == [OpenEndedRandom(seed=s).open_answer("t", 0, doc, "Q?") for s in range(12)]
    assert is_multiple_choice(episode_from_doc(doc).observe().mcqa_prompt) and not is_multiple_choice("Q?")
