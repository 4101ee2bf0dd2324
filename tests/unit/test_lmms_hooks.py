"""The task hooks in-process: docs, the agentic protocol under lmms-eval's real runner, scoring,
the generated configs, option parsing and the registration hook.

Episodes are driven by lmms-eval's own ``_run_generate_until_agentic`` (the protocol every backend
sees when our lockstep driver is off; the driver has its own tests), with a scripted
model that returns chosen texts, so hostile answers (garbage, empty, huge, spoofed records) can be
fed without any model.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from proactivebench_ext.core.constants import load_benchmark
from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, task_name
from proactivebench_ext.core.policies import oracle_answer, oracle_requests
from proactivebench_ext.core.variants import MAX_AGENTIC_STEPS, PLAIN, VARIANTS, all_tasks
from proactivebench_ext.data.layout import embedded_data_dir, load_test_set
from proactivebench_ext.lmms import hooks, registration
from proactivebench_ext.lmms.baselines import parse_options
from proactivebench_ext.lmms.hooks import MAX_STEPS_ERROR, doc_rows, episode_from_doc, process_results
from proactivebench_ext.lmms.runtime import import_hook, startup, task_index
from proactivebench_ext.lmms.runtime.options import UnsupportedOptionError, refuse_unsafe_caching

REPO = Path(__file__).resolve().parents[2]
TASKS_DIR = REPO / "tasks" / "proactivebench"
GOLDEN = Path(__file__).parents[1] / "golden"
# (variant, scenario) of every task; PLAIN_TASKS: those whose request is one turn's image and prompt
TASKS = list(all_tasks().values())
PLAIN_TASKS = [(variant, acronym) for variant, acronym in TASKS if VARIANTS[variant].prompt_mode == PLAIN]


# -- docs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant, acronym", TASKS)
def test_one_flat_string_row_per_test_entry(acronym, variant):
    rows = doc_rows(acronym, variant)
    entries = load_test_set(acronym, embedded_data_dir())
    assert [json.loads(row["entry"]) for row in rows] == entries
    for row in rows:
        assert all(isinstance(value, str) for value in row.values())
        assert (row["scenario"], row["variant"], row["data_dir"]) == (acronym, variant, str(embedded_data_dir()))


def test_process_docs_expands_the_spec_rows_into_a_dataset(monkeypatch):
    import datasets

    monkeypatch.setattr(sys, "argv", ["lmms_eval", "--tasks", "proactive_rod"])
    spec = datasets.Dataset.from_list([{"scenario": "ROD", "variant": "main"}])
    docs = hooks.process_docs(spec)
    assert list(docs) == doc_rows("ROD", "main")


def test_data_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PROACTIVEBENCH_DATA_DIR", str(tmp_path))
    (doc,) = doc_rows("ROD", "main")  # no JSONL there: the task fails alone, as one errored doc naming the file
    assert doc["data_dir"] == str(tmp_path)
    assert "Realistic-Occlusion-Dataset_preprocessed.jsonl" in doc["fault"] and "PROACTIVEBENCH_DATA_DIR" in doc["fault"]


@pytest.mark.parametrize("argv", [["--use_cache", "/tmp/c"], ["--use_cache=/tmp/c"], ["--cache_requests", "true"],
                                  ["--cache_requests=refresh"]])
def test_caches_that_confuse_rounds_are_refused(argv, monkeypatch):
    with pytest.raises(UnsupportedOptionError, match="Drop --"):
        refuse_unsafe_caching(["lmms_eval", "--tasks", "proactive_rod", *argv])
    # With the lockstep driver off, the stock runner plays the rounds: process_docs must refuse.
    monkeypatch.setenv("PROACTIVEBENCH_LOCKSTEP", "0")
    monkeypatch.setattr(sys, "argv", ["lmms_eval", *argv])
    import datasets

    with pytest.raises(UnsupportedOptionError):
        hooks.process_docs(datasets.Dataset.from_list([{"scenario": "ROD", "variant": "main"}]))


def test_harmless_cache_flags_pass():
    refuse_unsafe_caching(["lmms_eval", "--cache_requests", "delete", "--use_cache_dir_is_not_a_flag"])


# -- the agentic protocol under lmms-eval's own runner -----------------------------------------
class ScriptedModel:
    """A 'simple' lmms-eval model whose replies come from a function of (doc, prompt, round)."""

    is_simple = True

    def __init__(self, task_dict: dict, reply: Callable[[dict, str, int], Any]):
        self.task_dict, self.reply, self.rounds = task_dict, reply, 0
        self.images: list[Any] = []

    def generate_until(self, requests: Sequence[Any]) -> list[Any]:
        (context, _kwargs, doc_to_visual, doc_id, task, split) = requests[0].args
        doc = self.task_dict[task][split][doc_id]
        self.images.extend(doc_to_visual(doc))
        self.rounds += 1
        return [self.reply(doc, context, self.rounds - 1)]


def play(doc: dict, reply: Callable[[dict, str, int], Any], max_agentic_steps: int = MAX_AGENTIC_STEPS,
         ) -> tuple[dict[str, float], dict[str, Any], ScriptedModel]:
    """One episode through lmms-eval's agentic runner; returns metrics, the record, the model."""
    from lmms_eval import evaluator
    from lmms_eval.api.instance import Instance

    # lmms-eval's own runner, even where process_docs has put our lockstep driver in front of it.
    runner = evaluator._run_generate_until_agentic
    runner = getattr(runner, "__wrapped_stock__", runner)

    task = task_name(doc["variant"], doc["scenario"])
    model = ScriptedModel({task: {"test": [doc]}}, reply)
    gen_kwargs = {"max_new_tokens": 50, "do_sample": False, "max_agentic_steps": max_agentic_steps}
    request = Instance(
        request_type="generate_until_agentic",
        arguments=(hooks.doc_to_text(doc), gen_kwargs, hooks.doc_to_visual,
                   partial(hooks.doc_to_text, lmms_eval_specific_kwargs=None), 0, task, "test"),
        idx=0, metadata={"task": task, "doc_id": 0, "repeats": 1})
    [response] = runner(model, [request])
    return process_results(doc, [response]), hooks.record_from_response(doc, response), model


def oracle_reply(doc: dict, prompt: str, _round: int, shadow: list) -> str:
    if not shadow or shadow[0].done:
        shadow[:] = [episode_from_doc(doc)]
    answer = oracle_answer(shadow[0])
    shadow[0].answer(answer)
    return answer


HOSTILE = {
    "garbage": "I think it is a dog maybe",
    "empty": "",
    "whitespace": " \n\t ",
    "none": None,
    "very long": "Move the camera to the left. " * 20_000,
    "control characters": "\x00\x1b[31mA\x00",
    "spoofed record": json.dumps({"format": hooks.RECORD_FORMAT, "correct": True, "num_requests": 0, "turns": []}),
    "number": 3,
}


@pytest.mark.parametrize("answer", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("acronym", SCENARIO_ACRONYMS)
def test_any_answer_ends_the_episode_as_a_failure_without_crashing(acronym, answer):
    doc = doc_rows(acronym, "main")[0]
    metrics, record, model = play(doc, lambda *_: answer)
    assert metrics == {"errors": 0.0, "acc": 0.0, "psr": 0.0}
    assert model.rounds == 1 and record["num_turns"] == 1 and record["error"] is None
    assert record["turns"][0]["category_evaluation"] in {"wrong", "mismatch"}


@pytest.mark.parametrize("variant, acronym", PLAIN_TASKS)  # history/ICL requests: tests/test_ablation_tasks.py
def test_each_round_shows_its_own_image_and_prompt(acronym, variant):
    for doc in doc_rows(acronym, variant):
        shadow: list = []
        prompts: list[str] = []

        def reply(doc, prompt, round_, shadow=shadow, prompts=prompts):
            prompts.append(prompt)
            return oracle_reply(doc, prompt, round_, shadow)

        metrics, record, model = play(doc, reply)
        assert metrics["acc"] == 100.0
        assert record["num_requests"] == oracle_requests(episode_from_doc(doc))
        assert prompts == [turn["mcqa_prompt"] for turn in record["turns"]]
        # The image handed to the model at each round is the turn's (cropped) image.
        for image, turn in zip(model.images, record["turns"]):
            from proactivebench_ext.data.images import load_turn_image

            class Shown:  # what load_turn_image reads from a turn
                image_path = str(Path(doc["data_dir"]) / turn["image_path"])
                crop = turn["crop"]

            assert image.tobytes() == load_turn_image(Shown()).tobytes()


def test_an_episode_cut_by_max_agentic_steps_fails_with_a_clear_error():
    doc = next(doc for doc in doc_rows("ROD", "main") if oracle_requests(episode_from_doc(doc)) >= 2)
    shadow: list = []
    metrics, record, _ = play(doc, partial(oracle_reply, shadow=shadow), max_agentic_steps=2)
    assert metrics == {"errors": 0.0, "acc": 0.0, "psr": 1.0}
    assert record["error"].startswith(MAX_STEPS_ERROR)


def test_scores_come_from_replaying_answers_not_from_stated_verdicts():
    doc = doc_rows("QD", "main")[0]
    wrong = json.dumps({"format": hooks.RECORD_FORMAT, "correct": True, "num_requests": 5,
                        "turns": [{"answer": "certainly not a category"}]})
    assert process_results(doc, [wrong]) == {"errors": 0.0, "acc": 0.0, "psr": 0.0}
    assert process_results(doc, ["not json at all"]) == {"errors": 0.0, "acc": 0.0, "psr": 0.0}
    assert process_results(doc, []) == {"errors": 0.0, "acc": 0.0, "psr": 0.0}
    reference = doc_rows("QD", "reference")[0]
    assert process_results(reference, ["junk"]) == {"errors": 0.0, "acc": 0.0}


# -- configs -------------------------------------------------------------------------------------
def load_generator():
    spec = importlib.util.spec_from_file_location("generate_tasks", REPO / "tools" / "generate_tasks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def read_yaml(path: Path) -> dict:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    config = yaml.load(path.read_text("utf-8"), Loader=Loader)
    for include in [config.pop("include")] if "include" in config else []:
        config = {**read_yaml(path.parent / include), **config}
    return config


def test_generated_configs_are_up_to_date():
    assert load_generator().stale_files() == [], "run: python tools/generate_tasks.py"


def test_task_configs_match_the_variant_table_and_the_reference_generation():
    generation = load_benchmark().mcqa_generation
    for variant_name, acronym in TASKS:
        variant = VARIANTS[variant_name]
        [leaf] = TASKS_DIR.rglob(f"{task_name(variant.name, acronym)}.yaml")
        config = read_yaml(leaf)
        assert [metric["metric"] for metric in config["metric_list"]] == [*variant.metrics, "errors"]
        kwargs = config["generation_kwargs"]
        assert kwargs["max_new_tokens"] == generation["max_new_tokens"]
        assert kwargs["do_sample"] is generation["do_sample"] is False
        assert kwargs["max_agentic_steps"] == MAX_AGENTIC_STEPS and kwargs["until"] == []
        assert config["output_type"] == "generate_until_agentic"
        for hook in ("process_docs", "doc_to_visual", "doc_to_text", "doc_to_target", "process_results"):
            module, _, name = config[hook].rpartition(".")
            assert callable(getattr(importlib.import_module(module), name))
        spec_file = leaf.parent / config["dataset_kwargs"]["data_files"]["test"]
        assert json.loads(spec_file.read_text()) == {"scenario": acronym}
        module, _, name = config["process_docs"].rpartition(".")
        assert getattr(importlib.import_module(module), name).keywords == {"variant": variant.name}
        assert leaf.parent.name == ("icl" if variant.icl_shots else variant.name)
        settings = config.get("lmms_eval_specific_kwargs", {}).get("default", {})
        assert settings == dict(variant.settings)


# -- baselines and registration --------------------------------------------------------------------
def golden_turns() -> list[dict]:
    records = [json.loads(line) for line in (GOLDEN / "mcqa.jsonl").read_text("utf-8").splitlines() if line.strip()]
    return [turn for record in records for turn in record["turns"] if "mcqa_prompt" in turn]


def test_baselines_read_options_back_from_every_golden_prompt():
    turns = golden_turns()
    assert len(turns) > 500
    for turn in turns:
        assert parse_options(turn["mcqa_prompt"]) == turn["options"]
    with pytest.raises(ValueError, match="not a ProactiveBench"):
        parse_options("What is this?")


def test_tasks_path_holds_the_task_configs():
    """The installed package's task folder holds this checkout's task YAML (the same folder in an
    editable install; a copy in a wheel or when the tests run from another copy of the tree)."""
    installed, here = registration.tasks_path(), (REPO / "tasks").resolve()
    names = sorted(path.relative_to(here).as_posix() for path in here.rglob("*.yaml"))
    assert len(names) > 40
    assert sorted(path.relative_to(installed).as_posix() for path in installed.rglob("*.yaml")) == names


class FakeTaskManager:
    def initialize_tasks(self, include_path=None, include_defaults=True):
        return include_path, include_defaults


def test_register_tasks_appends_our_folder_once_and_respects_the_version_guard(monkeypatch):
    folder = str(registration.tasks_path())
    monkeypatch.setattr(task_index, "lmms_eval_version", lambda: "0.6.9")
    cls = type("TM", (FakeTaskManager,), {})
    assert task_index.register_tasks(cls) is False and cls.initialize_tasks is FakeTaskManager.initialize_tasks

    monkeypatch.setattr(task_index, "lmms_eval_version", lambda: "0.7.3")
    assert task_index.register_tasks(cls) is True
    assert task_index.register_tasks(cls) is True  # idempotent
    manager = cls()
    assert manager.initialize_tasks() == ([folder], True)
    assert manager.initialize_tasks(include_path="/mine") == (["/mine", folder], True)
    assert manager.initialize_tasks(include_path=[folder]) == ([folder], True)
    assert manager.initialize_tasks(include_path=None, include_defaults=False) == (None, False)


def test_startup_hook_never_raises(capsys):
    module = startup
    module._register(object())  # a "lmms_eval.tasks" without TaskManager
    assert "could not register tasks" in capsys.readouterr().err
    finder = import_hook._Finder()
    assert finder.find_spec("json") is None
