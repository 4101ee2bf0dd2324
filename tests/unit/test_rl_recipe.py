"""The GRPO recipe's defaults are the paper's (Appendix C), and the shipped accelerate config is valid."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml

from proactivebench_ext.rl import train


def test_defaults_are_the_papers_recipe():
    recipe = train.Recipe("model", Path("data"), Path("out"))
    assert (recipe.global_batch_size, recipe.num_generations, recipe.epochs) == (512, 8, 1.0)
    assert (recipe.learning_rate, recipe.weight_decay, recipe.lr_scheduler, recipe.warmup_steps) == (2e-5, 0.0, "cosine", 0)
    assert (recipe.lora_rank, recipe.lora_alpha, recipe.lora_dropout) == (16, 16, 0.1)
    assert recipe.target_modules == ("q_proj", "k_proj")
    assert recipe.max_completion_length == 50  # the evaluation's max_new_tokens
    assert recipe.proactive_reward == 0.5 and recipe.config_label == "r_p=0.5"
    assert train.Recipe("m", Path(), Path(), proactive_reward=1).config_label == "r_p=1.0"


def test_gradient_accumulation_makes_the_global_batch():
    recipe = train.Recipe("model", Path("data"), Path("out"))
    assert train.gradient_accumulation(recipe, world_size=4) == 16  # 4 GPUs x 8 completions x 16 = 512
    assert train.gradient_accumulation(recipe, world_size=16) == 4
    with pytest.raises(ValueError, match="not a multiple"):
        train.gradient_accumulation(recipe, world_size=3)
    with pytest.raises(ValueError, match="whole groups"):
        train.gradient_accumulation(train.Recipe("m", Path(), Path(), global_batch_size=12, per_device_batch_size=4), 1)


def test_shipped_accelerate_config_is_zero3():
    path = train.accelerate_config()
    config = yaml.safe_load(path.read_text("utf-8"))
    assert config["distributed_type"] == "DEEPSPEED" and config["deepspeed_config"]["zero_stage"] == 3
    assert config["mixed_precision"] == "bf16" and config["use_cpu"] is False
    from accelerate.commands.config.config_args import ClusterConfig

    assert ClusterConfig.from_yaml_file(str(path)).distributed_type == "DEEPSPEED"  # accelerate reads it
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert train.main(["--accelerate-config"]) == 0
    assert printed.getvalue().strip() == str(path)


def test_cli_refuses_bad_settings(capsys):
    with pytest.raises(SystemExit):
        train.main(["--model", "m"])  # --data and --out are required
    assert train.main(["--model", "m", "--data", "d", "--out", "o", "--proactive-reward", "2"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
