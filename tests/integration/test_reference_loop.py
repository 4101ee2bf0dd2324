"""Reference-loop parity: lmms-eval's backends play our tasks exactly as the benchmark's protocol does.

The same synthetic episodes (7 scenarios x 10) are played twice per family with a tiny random
checkpoint: by :mod:`proactivebench_ext.testing.reference_loop` (transformers directly, one
request at a time, greedy, bfloat16, the model's chat template) and by ``python -m lmms_eval``
with the family's backend and the ``--model_args`` of docs/models.md's command for the family
(only the checkpoint and the placement replaced: ``device=cpu,device_map=cpu``). Every episode must
be identical turn by turn: image, crop and prompt shown, answer, number of turns, outcome.

The tiny models answer with whole options, categories or letters (testing/families), so episodes
have several turns and both outcomes; the test checks that too, or parity would be trivial.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from proactivebench_ext.core.engine import new_episode
from proactivebench_ext.data.synth import generate
from proactivebench_ext.testing.families import llava_onevision, qwen2_5_vl
from proactivebench_ext.testing.reference_loop import ReferenceEpisode, ReferencePlayer, play_test_set

from ..documented import documented_commands, option
from ..documented import model_args as documented_model_args
from ..lmms_runs import run_lmms_eval

REPO = Path(__file__).resolve().parents[2]
MODELS_DOC = REPO / "docs" / "models.md"
PER_SCENARIO = 10

# What the parity runs use, per family: the lmms-eval backend, the --model_args keys that make it
# play like the reference loop, the batch size. docs/models.md must document the same (tested below).
# llava_hf: dtype=bfloat16, because its default dtype=auto keeps a checkpoint's stored dtype
# (float32 / float16). qwen2_5_vl: the released processor's pixel bounds, because the backend's
# defaults (min 256*28*28, max 1605632) resize images the reference shows as they are; it always
# loads bfloat16 and refuses a dtype key. Batch 1: batched requests are left-padded.
PARITY: dict[str, dict[str, Any]] = {
    "llava_onevision": {"backend": "llava_hf", "model_args": {"dtype": "bfloat16"}, "batch_size": 1,
                        "doc_pretrained": "onevision", "build": llava_onevision.build},
    "qwen2_5_vl": {"backend": "qwen2_5_vl", "model_args": {"min_pixels": "3136", "max_pixels": "12845056"},
                   "batch_size": 1, "doc_pretrained": "qwen2.5-vl", "build": qwen2_5_vl.build},
}
CPU_ARGS = {"device": "cpu", "device_map": "cpu"}
PLACEMENT_KEYS = ("pretrained", "device", "device_map")  # what a CPU run of a documented command replaces


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("synth")
    generate(folder, per_scenario=PER_SCENARIO, seed=0)
    return folder


def model_args(checkpoint: Path, family: str) -> str:
    """docs/models.md's ``--model_args`` for the family, on the tiny checkpoint and the CPU."""
    documented = documented_model_args(documented_command(PARITY[family]["backend"], PARITY[family]["doc_pretrained"]))
    kept = {key: value for key, value in documented.items() if key not in PLACEMENT_KEYS}
    args = {"pretrained": str(checkpoint), **kept, **CPU_ARGS}
    return ",".join(f"{key}={value}" for key, value in args.items())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("checkpoints")
    return {family: PARITY[family]["build"](folder / family) for family in PARITY}


def play_both(family: str, checkpoint: Path, synth_dir: Path, offline_env: dict[str, str],
              tmp_path_factory) -> tuple[list, dict]:
    """(reference episodes, lmms-eval records by (scenario, sample id)) for one family."""
    run = run_lmms_eval(["--model", PARITY[family]["backend"], "--model_args", model_args(checkpoint, family),
                         "--batch_size", str(PARITY[family]["batch_size"]), "--tasks", "proactivebench"],
                        {**offline_env, "PROACTIVEBENCH_DATA_DIR": str(synth_dir)}, tmp_path_factory.mktemp(f"{family}_run"))
    records = {(record["scenario"], str(record["sample_id"])): record
               for task in run.samples for record in run.records(task)}
    return play_test_set(ReferencePlayer(checkpoint), synth_dir), records


def differences(episode: ReferenceEpisode, record: dict[str, Any]) -> list[str]:
    """What differs between a reference episode and the lmms-eval record of the same entry."""
    found = []
    shown = [(turn["image_path"], tuple(turn["crop"]) if turn["crop"] is not None else None, turn["mcqa_prompt"])
             for turn in record["turns"]]
    if shown != [(turn.image_path, turn.crop, turn.mcqa_prompt) for turn in episode.turns]:
        found.append("images or prompts shown")
    if [turn["answer"] for turn in record["turns"]] != episode.answers:
        found.append(f"answers {episode.answers!r} vs {[turn['answer'] for turn in record['turns']]!r}")
    if record["num_turns"] != episode.num_turns:
        found.append(f"turns {episode.num_turns} vs {record['num_turns']}")
    if (record["correct"], record["error"]) != (episode.correct, episode.error):
        found.append(f"outcome {(episode.correct, episode.error)} vs {(record['correct'], record['error'])}")
    return found


@pytest.mark.parametrize("family", sorted(PARITY))
def test_lmms_eval_plays_every_turn_like_the_reference_loop(family, checkpoints, synth_dir, offline_env,
                                                            tmp_path_factory):
    episodes, records = play_both(family, checkpoints[family], synth_dir, offline_env, tmp_path_factory)
    assert len(episodes) == 7 * PER_SCENARIO and len(records) == len(episodes)
    mismatched = {(episode.scenario, episode.sample_id): differences(episode, records[episode.scenario, str(episode.sample_id)])
                  for episode in episodes}
    mismatched = {key: found for key, found in mismatched.items() if found}
    assert not mismatched, f"{len(mismatched)} of {len(episodes)} episodes differ: {mismatched}"
    # Non-trivial parity: replies vary, episodes go on after accepted requests and end both ways.
    assert len({episode.answers[0] for episode in episodes}) >= 3
    assert sum(episode.num_turns > 1 for episode in episodes) >= 5
    assert {episode.correct for episode in episodes} == {True, False}


def documented_command(backend: str, pretrained_contains: str) -> list[str]:
    """The first lmms-eval command in docs/models.md for ``backend`` whose checkpoint matches."""
    assert MODELS_DOC.is_file(), f"{MODELS_DOC} is missing: it must document the parity commands of every family"
    for words in documented_commands(MODELS_DOC):
        if option(words, "--model") == backend and pretrained_contains in documented_model_args(words).get("pretrained", "").lower():
            return words
    raise AssertionError(f"{MODELS_DOC} has no `python -m lmms_eval --model {backend}` command for a "
                         f"*{pretrained_contains}* checkpoint")


@pytest.mark.parametrize("family", sorted(PARITY))
def test_the_documented_commands_use_the_parity_settings(family):
    """docs/models.md's commands are the settings measured identical above, not the backends' defaults."""
    parity = PARITY[family]
    words = documented_command(parity["backend"], parity["doc_pretrained"])
    documented = documented_model_args(words)
    for key, value in parity["model_args"].items():
        assert documented.get(key) == value, f"docs/models.md's {parity['backend']} command must pass {key}={value}: {words}"
    batch = words[words.index("--batch_size") + 1] if "--batch_size" in words else "1"
    assert batch == str(parity["batch_size"]), f"docs/models.md's {parity['backend']} command batches: {words}"
    if parity["backend"] == "qwen2_5_vl":  # the backend refuses unknown keys: a dtype would end the run
        assert "dtype" not in documented


def test_the_backends_defaults_are_not_the_protocol(checkpoints, synth_dir):
    """Why the documented arguments are needed: without them each backend shows the model other inputs."""
    import inspect

    import torch
    from lmms_eval.models.simple.llava_hf import LlavaHf
    from lmms_eval.models.simple.qwen2_5_vl import Qwen2_5_VL
    from PIL import Image
    from qwen_vl_utils import process_vision_info
    from transformers import AutoConfig, AutoProcessor

    # llava_hf's dtype=auto keeps the stored dtype: float32 here, not the protocol's bfloat16.
    assert inspect.signature(LlavaHf.__init__).parameters["dtype"].default == "auto"
    assert AutoConfig.from_pretrained(checkpoints["llava_onevision"]).dtype == torch.float32

    # qwen2_5_vl's default pixel bounds resize a synthetic frame to 18x the image tokens the
    # released processor settings (the reference's) give it.
    defaults = inspect.signature(Qwen2_5_VL.__init__).parameters
    bounds = {name: defaults[name].default for name in ("min_pixels", "max_pixels")}
    assert bounds != {name: int(value) for name, value in PARITY["qwen2_5_vl"]["model_args"].items()}
    frame = next(synth_dir.glob("Realistic-Occlusion-Dataset/*.jpg"))
    messages = [{"role": "user", "content": [{"type": "image", "image": Image.open(frame).convert("RGB")},
                                             {"type": "text", "text": "?"}]}]
    images, _ = process_vision_info(messages)
    tokens = {}
    for name, kwargs in (("reference", {}), ("backend default", bounds)):
        processor = AutoProcessor.from_pretrained(checkpoints["qwen2_5_vl"], **kwargs)
        grid = processor.image_processor(images=images, return_tensors="pt")["image_grid_thw"]
        tokens[name] = int(grid.prod()) // processor.image_processor.merge_size ** 2
    assert tokens["backend default"] > 10 * tokens["reference"], tokens


def test_an_image_the_processor_rejects_ends_the_reference_pass_but_errors_one_episode_here(
        checkpoints, synth_dir, offline_env, tmp_path_factory):
    """A COCO crop of 210x1 pixels: valid for the engine and for LLaVA-OneVision, refused by
    Qwen2.5-VL's image preparation (aspect ratio over 200). docs/faithfulness.md."""
    data = tmp_path_factory.mktemp("rejected_image")
    shutil.copytree(synth_dir, data, dirs_exist_ok=True)
    jsonl = data / "coco2014_preprocessed.jsonl"
    rows = [json.loads(line) for line in jsonl.read_text("utf-8").splitlines()]
    rows[0]["crop"] = {**rows[0]["crop"], "left": 0, "width": 210}
    rows[0]["crop"]["height"] = rows[0]["crop"]["top"] - rows[0]["vertical_step"] + 1  # the first box: 1 px high
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    left, top, right, bottom = new_episode("COCO", rows[0], data).observe().crop
    assert (right - left, bottom - top) == (210, 1)

    with pytest.raises(ValueError, match="aspect ratio"):  # the reference loop: the scenario's pass is lost
        play_test_set(ReferencePlayer(checkpoints["qwen2_5_vl"]), data, ["COCO"])

    run = run_lmms_eval(["--model", "qwen2_5_vl", "--model_args", model_args(checkpoints["qwen2_5_vl"], "qwen2_5_vl"),
                         "--batch_size", "1", "--tasks", "proactive_coco", "--limit", "2"],
                        {**offline_env, "PROACTIVEBENCH_DATA_DIR": str(data)}, tmp_path_factory.mktemp("rejected_run"))
    rejected, played = run.records("proactive_coco")
    assert rejected["fault"]["kind"] == "data" and "aspect ratio must be smaller than 200" in rejected["fault"]["reason"]
    assert rejected["num_turns"] == 0 and not rejected["correct"]
    assert played["fault"] is None and played["num_turns"] >= 1
    assert run.metric("proactive_coco", "errors") == 1
