"""The ablation tasks (hint, conversation history, in-context examples, random proactive options):
end to end through lmms-eval with the oracle, the random baseline and a tiny real LLaVA.

Four ``python -m lmms_eval`` runs, two at a time, shared by the module:

- ``oracle``: every ablation group on the whole embedded set;
- ``random_a``: the random baseline on every ablation group (``--limit 2``);
- ``random_b``: the same again, with lmms-eval's own agentic runner instead of our lockstep
  driver, plus copies of the random-options and ICL tasks whose YAML sets ``seed: 1``;
- ``llava``: the tiny LLaVA through the unmodified ``llava_hf`` chat backend (``--limit 2``),
  which gets several images in one request for the history and ICL tasks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proactivebench_ext.core.policies import oracle_requests
from proactivebench_ext.core.variants import VARIANTS, ablation_groups
from proactivebench_ext.lmms import hooks

from ..lmms_runs import TURN_KEYS, Run, read_run
from ..tiny_models import build_tiny_llava
from ..unit.test_ablation_tasks import ABLATIONS, GROUPS, REPO, docs

TASKS_DIR = REPO / "tasks" / "proactivebench"
SEEDED = [task for task, (variant, _) in ABLATIONS.items() if VARIANTS[variant].settings]
SEED1 = {f"seed1_{task.removeprefix('proactivebench_')}": task for task in SEEDED}  # copies with seed: 1


def task_docs(task: str) -> tuple[dict[str, str], ...]:
    return docs(*ABLATIONS[SEED1.get(task, task)])


def write_seed1_tasks(folder: Path) -> None:
    """Task copies that only change the seed, as a user would write them (include + one setting)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, task in SEED1.items():
        default = dict(VARIANTS[ABLATIONS[task][0]].settings, seed=1)
        settings = "".join(f"    {key}: {json.dumps(value)}\n" for key, value in default.items())
        (folder / f"{name}.yaml").write_text(f"include: {next(TASKS_DIR.rglob(task + '.yaml'))}\ntask: {name}\n"
                                             f"lmms_eval_specific_kwargs:\n  default:\n{settings}")


def start(args: list[str], env: dict[str, str], out: Path) -> tuple[subprocess.Popen, Path]:
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "lmms_eval", *args, "--log_samples", "--output_path", str(out)]
    proc = subprocess.Popen(command, env=env, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, out


def finish(proc: subprocess.Popen, out: Path) -> Run:
    log = proc.communicate(timeout=600)[0]
    return read_run(out, proc.returncode, log)


@pytest.fixture(scope="module")
def runs(offline_env, tmp_path_factory) -> dict[str, Run]:
    root = tmp_path_factory.mktemp("ablation_runs")
    groups = ",".join(GROUPS)
    write_seed1_tasks(root / "seed1_tasks")
    model = build_tiny_llava(root / "tiny_llava", letters_only=4, init_range=0.5, seed=1)
    commands = {
        "oracle": (["--model", "proactive_oracle", "--tasks", groups], offline_env),
        "llava": (["--model", "llava_hf", "--model_args", f"pretrained={model},device_map=cpu,device=cpu",
                   "--batch_size", "1", "--tasks", groups, "--limit", "2"], offline_env),
        "random_a": (["--model", "proactive_random", "--model_args", "seed=3", "--tasks", groups, "--limit", "2"],
                     offline_env),
        "random_b": (["--model", "proactive_random", "--model_args", "seed=3", "--tasks", f"{groups},{','.join(SEED1)}",
                      "--include_path", str(root / "seed1_tasks"), "--limit", "2"],
                     {**offline_env, "PROACTIVEBENCH_LOCKSTEP": "0"}),
    }
    done: dict[str, Run] = {}
    names = list(commands)
    for pair in (names[:2], names[2:]):
        started = {name: start(*commands[name], root / name) for name in pair}
        for name, (proc, out) in started.items():
            done[name] = finish(proc, out)
    return done


def assert_well_formed(run: Run, task: str, expected_docs: int) -> None:
    """Each doc scored once; each sample holds the whole episode; the logged input is the first
    request's text (the assembled transcript for history and ICL tasks)."""
    variant = VARIANTS[ABLATIONS[SEED1.get(task, task)][0]]
    assert [sample["doc_id"] for sample in run.samples[task]] == list(range(expected_docs)), task
    for sample, record, doc in zip(run.samples[task], run.records(task), task_docs(task)):
        assert record["sample_id"] == doc["sample_id"] and record["variant"] == variant.name
        assert record["error"] is None, (task, record["error"])
        assert record["num_turns"] == len(record["turns"]) >= 1
        assert sample["input"] == hooks.doc_to_text(doc, record.get("settings"))
        assert sample["input"].endswith(record["turns"][0]["mcqa_prompt"])
        for turn in record["turns"]:
            assert set(turn) == TURN_KEYS and isinstance(turn["answer"], str)
            assert (Path(record["data_dir"]) / turn["image_path"]).is_file()
        assert sample["acc"] == (100.0 if record["correct"] else 0.0)
        assert sample["psr"] == record["num_requests"] == record["num_turns"] - 1
        assert ("settings" in record) == bool(variant.settings)
        assert ("icl_examples" in record) == bool(variant.icl_shots)


# -- end to end ----------------------------------------------------------------------------------

def test_every_ablation_task_runs_with_the_oracle_the_random_model_and_tiny_llava(runs):
    for name, run in runs.items():
        expected = set(ABLATIONS) | (set(SEED1) if name == "random_b" else set())
        assert set(run.samples) == expected, name
        for task in expected:
            assert_well_formed(run, task, len(task_docs(task)) if name == "oracle" else 2)
        assert set(GROUPS) <= set(run.results["results"]), name


def test_oracle_is_always_right_on_hint_history_and_icl_and_plays_random_options(runs):
    run = runs["oracle"]
    for task, (variant, _) in ABLATIONS.items():
        accs = [sample["acc"] for sample in run.samples[task]]
        if variant == "random":
            continue  # random transitions: no score promised, only complete, error-free episodes (checked above)
        assert accs == [100.0] * len(accs), task
        for sample, doc in zip(run.samples[task], task_docs(task)):
            assert sample["psr"] == oracle_requests(hooks.episode_from_doc(doc)), (task, doc["sample_id"])
    for group in ("proactivebench_hint", "proactivebench_history", *ablation_groups()["proactivebench_icl"]):
        assert run.results["results"][group]["acc,none"] == 100.0, group
    assert "acc,none" not in run.results["results"]["proactivebench_icl"]  # no mean across ICL settings


def test_icl_tasks_never_show_the_evaluated_sample(runs):
    checked = 0
    for run in runs.values():
        for task in run.samples:
            variant = VARIANTS[ABLATIONS[SEED1.get(task, task)][0]]
            for record in run.records(task) if variant.icl_shots else []:
                shown = [str(example) for example in record["icl_examples"]]
                assert record["sample_id"] not in shown and len(set(shown)) == len(shown) == variant.icl_shots
                checked += 1
    assert checked >= 8 * 2 * 3


def test_seeds_with_the_same_value_repeat_and_a_new_seed_changes_the_draws(runs):
    a, b = runs["random_a"], runs["random_b"]  # b: another process, lmms-eval's own agentic runner
    for task in ABLATIONS:
        assert [s["filtered_resps"] for s in a.samples[task]] == [s["filtered_resps"] for s in b.samples[task]], task
        assert [(s["acc"], s["psr"]) for s in a.samples[task]] == [(s["acc"], s["psr"]) for s in b.samples[task]]
    examples_changed = 0
    for name, task in SEED1.items():
        pairs = list(zip(a.records(task), b.records(name)))
        assert all(seed0["settings"]["seed"] == 0 and seed1["settings"]["seed"] == 1 for seed0, seed1 in pairs)
        if ABLATIONS[task][0] == "random":  # new wordings drawn for some sample of every scenario
            assert any(seed0["turns"][0]["options"] != seed1["turns"][0]["options"] for seed0, seed1 in pairs), task
        else:
            examples_changed += sum(seed0["icl_examples"] != seed1["icl_examples"] for seed0, seed1 in pairs)
    assert examples_changed >= 1


def test_tiny_llava_gets_several_images_per_request_without_a_backend_error(runs):
    run = runs["llava"]
    assert " in generating" not in run.log  # llava_hf logs "Error ... in generating" and returns "" on failure
    records = [record for task in ABLATIONS for record in run.records(task)]
    assert any(record["num_turns"] > 1 for record in records)
    answers = {turn["answer"] for record in records for turn in record["turns"]}
    assert len(answers) > 3, answers
    # the multi-image requests reached the model and got answers that depend on them
    several = [task for task, (variant, _) in ABLATIONS.items() if VARIANTS[variant].prompt_mode != "plain"]
    assert any(turn["answer"] for task in several for record in run.records(task) for turn in record["turns"])


