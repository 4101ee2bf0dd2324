"""Every model family of the paper's Table 1 plays through lmms-eval with docs/models.md's arguments.

Per family: a tiny random checkpoint of the family's architecture is built offline
(:mod:`proactivebench_ext.testing.families`), its processor is loaded the way the backends load it
(``AutoProcessor``, offline), and ONE lmms-eval run plays one episode per scenario
(``--tasks proactivebench --limit 1 --batch_size 1``) through the family's backend on the CPU with
the registry's parity arguments. The API family plays through the ``openai`` backend against a
loopback server. docs/models.md is parsed: every family has a row and a command that uses exactly
the registry's arguments, and every family that does not run here is listed with its reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from proactivebench_ext.testing.families import FAMILIES, NOT_PLAYED_HERE, Family
from proactivebench_ext.testing.openai_server import LatencyServer
from tests.documented import documented_commands, option
from tests.lmms_runs import Run, run_lmms_eval

REPO = Path(__file__).resolve().parents[2]
MODELS_MD = REPO / "docs" / "models.md"
SCENARIO_TASKS = {f"proactive_{name}" for name in ("rod", "vsod", "mvpn", "inc", "qd", "cit", "coco")}
LOCAL = sorted(name for name, family in FAMILIES.items() if family.builder)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("families")


def assert_one_episode_per_scenario(run: Run, family: str) -> None:
    assert set(run.samples) == SCENARIO_TASKS, f"{family}: tasks played {sorted(run.samples)}"
    for task in sorted(SCENARIO_TASKS):
        (record,) = run.records(task)
        assert not record["errored"], f"{family} {task}: errored episode {record['fault']}"
        assert record["num_turns"] >= 1 and record["turns"][0]["answer"], f"{family} {task}: no answer {record}"
        turn = record["turns"][0]
        assert turn["mcqa_prompt"] and turn["mcqa_prompt"] not in turn["answer"], \
            f"{family} {task}: the answer repeats the prompt ({turn['answer'][:80]!r})"


@pytest.mark.parametrize("name", LOCAL)
def test_family_plays_one_episode_per_scenario(name: str, models: Path, offline_env, tmp_path) -> None:
    from transformers import AutoProcessor

    family = FAMILIES[name]
    checkpoint = family.build(models / name)
    processor = AutoProcessor.from_pretrained(checkpoint, local_files_only=True)
    assert processor.tokenizer is not None and getattr(processor, "image_processor", None) is not None
    if family.backend != "instructblip":  # InstructBLIP has no chat template: its prompt is the plain text
        chat = processor.apply_chat_template(
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}],
            add_generation_prompt=True, tokenize=False)
        assert "Q?" in chat and chat.rstrip() != "Q?", f"{name}: chat template missing ({chat!r})"
    args = ["--model", family.backend, "--model_args", family.model_args(str(checkpoint), cpu=True),
            "--tasks", "proactivebench", "--limit", "1", "--batch_size", "1"]
    assert_one_episode_per_scenario(run_lmms_eval(args, offline_env, tmp_path / "run"), name)


def test_api_family_plays_through_the_openai_backend(offline_env, tmp_path) -> None:
    family = FAMILIES["api"]
    with LatencyServer(latency=0.0) as server:
        model_args = f"model_version=o4-mini,base_url={server.url},api_key=EMPTY"
        run = run_lmms_eval(["--model", family.backend, "--model_args", model_args, "--tasks", "proactivebench",
                             "--limit", "1", "--batch_size", "1"], offline_env, tmp_path / "run")
        assert server.stats().requests >= len(SCENARIO_TASKS)
    assert_one_episode_per_scenario(run, "api")


# ---- docs/models.md ---------------------------------------------------------------------------------------

def command_for(family: Family) -> list[str]:
    """The documented command of a family: the one whose first checkpoint is this family's."""
    for command in documented_commands(MODELS_MD):
        args = option(command, "--model_args") or ""
        if option(command, "--model") == family.backend and any(
                f"{key}={family.checkpoints[0]}" in args for key in ("pretrained", "model_version")):
            return command
    raise AssertionError(f"docs/models.md has no command for {family.title} (--model {family.backend} "
                         f"with {family.checkpoints[0]})")


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_docs_command_uses_the_parity_settings(name: str) -> None:
    family = FAMILIES[name]
    command = command_for(family)
    assert option(command, "--tasks") == "proactivebench", "the group, so that the mean is printed"
    assert option(command, "--batch_size") == "1", "batch size 1, as the reference loop"
    assert "--gen_kwargs" not in command, "greedy decoding and max_new_tokens come from the tasks"
    if family.builder is not None:
        assert option(command, "--model_args") == family.model_args(family.checkpoints[0])


def test_docs_list_every_family_with_its_backend_and_every_one_not_played_here() -> None:
    text = MODELS_MD.read_text("utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    for family in FAMILIES.values():
        assert any(family.title in row and f"`{family.backend}`" in row for row in rows), \
            f"docs/models.md: no table row for {family.title} with `{family.backend}`"
        if family.deviation:
            assert family.deviation in text, f"docs/models.md must state {family.title}'s deviation"
    for reason in NOT_PLAYED_HERE.values():
        assert reason in text, "docs/models.md must list each family that does not run here, with the reason"


def test_parity_arguments_are_the_reference_loops() -> None:
    """bfloat16 where the backend takes a dtype (the others load bfloat16 themselves), sdpa attention
    where it takes one; the pixel and tile budgets of the released processors."""
    for family in FAMILIES.values():
        args = dict(part.split("=", 1) for part in family.parity_args.split(",") if part)
        if family.backend == "llava_hf":
            assert args["dtype"] == "bfloat16" and args["attn_implementation"] == "sdpa"
        if family.backend in ("huggingface", "qwen2_5_vl", "internvl_hf"):
            assert "dtype" not in args and args["attn_implementation"] == "sdpa"
    qwen = dict(part.split("=", 1) for part in FAMILIES["qwen2_5_vl"].parity_args.split(","))
    assert (qwen["min_pixels"], qwen["max_pixels"]) == ("3136", "12845056")
