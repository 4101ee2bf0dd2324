"""OEG tasks end to end through ``python -m lmms_eval``: generation, the judge phase, multi-turn.

The baselines answer open questions in words (``proactive_oracle_open``: the oracle's next request
or the category). Runs are module fixtures (each costs ~10 s of lmms-eval start-up). The judge is
a scripted OpenAI-compatible server on loopback (tests/fake_judge_server.py).
"""

from __future__ import annotations

import pytest

JUDGE_VARS = ("API_TYPE", "OPENAI_API_URL", "LLM_JUDGE_URL", "JUDGE_MODEL_VERSION", "PROACTIVEBENCH_JUDGE_INLINE")





















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


def test_the_multiturn_record_survives_any_string():
    """A lone surrogate in a model answer or the judge's output: the final response is valid text
    (escaped, never dropped) and reads back to the same record, ``<`` included."""
    import json

    from proactivebench_ext.lmms.oeg_hooks import dump_record

    record = {"oeg_turns": [{"model_output": "<think>x</think> a\ud800", "raw_output": "1\udfff"}], "psr": 1.0}
    text = dump_record(record)
    text.encode("utf-8")
    assert "<" not in text and json.loads(text) == record
