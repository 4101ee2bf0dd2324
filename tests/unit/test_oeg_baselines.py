"""The baselines on open questions: `--model proactive_random --tasks proactivebench_oeg` works."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from proactivebench_ext.lmms.hooks import doc_to_visual, episode_from_doc
from proactivebench_ext.lmms.oeg_baselines import OpenEndedRandom, is_open_task
from proactivebench_ext.lmms.oeg_hooks import oeg_rows
from proactivebench_ext.lmms.registration import model_manifests


def test_the_registered_baselines_answer_open_questions():
    classes = {manifest.model_id: manifest.simple_class_path for manifest in model_manifests()}
    assert classes["proactive_random"].endswith("oeg_baselines.OpenEndedRandom")
    assert classes["proactive_oracle"].endswith("oeg_baselines.OpenEndedOracle")
    assert is_open_task("proactivebench_oeg_multiturn_mvpn") and is_open_task("proactivebench_oeg_hint_rod")
    assert not is_open_task("proactive_coco") and not is_open_task("proactivebench_hint_rod")


def test_proactive_random_answers_open_questions_of_oeg_tasks_only():
    """An option's text for an OEG task's open question, a shown option for an MCQA prompt, and
    still a loud refusal of an MCQA task whose prompt is not multiple-choice (a broken template)."""
    doc = oeg_rows("COCO", "oeg")[0]
    turn = episode_from_doc(doc).observe()
    model = OpenEndedRandom(seed=3)
    model.task_dict = {task: {"test": {0: doc}} for task in ("proactivebench_oeg_coco", "proactive_coco")}

    def ask(prompt: str, task: str) -> str:
        return model.generate_until([SimpleNamespace(args=(prompt, {}, doc_to_visual, 0, task, "test"))])[0]

    assert ask(turn.prompt, "proactivebench_oeg_coco") in turn.options
    assert ask(turn.mcqa_prompt, "proactive_coco") in turn.options
    with pytest.raises(ValueError, match="not a ProactiveBench multiple-choice prompt"):
        ask(turn.prompt, "proactive_coco")
