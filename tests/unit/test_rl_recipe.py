"""The GRPO recipe's defaults are the paper's (Appendix C), and the shipped accelerate config is valid."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
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


def test_method_knobs_reach_grpo_config_with_trls_defaults(tmp_path):
    """beta, loss_type and temperature change the method: they are Recipe fields with TRL's defaults
    (the paper does not state them) and reach GRPOConfig, as do the other flags."""
    GRPOConfig = pytest.importorskip("trl", reason="needs the [rl] extra").GRPOConfig

    recipe = train.Recipe("model", Path("data"), tmp_path)
    trl_defaults = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    assert (recipe.beta, recipe.loss_type, recipe.temperature) == (trl_defaults.beta, trl_defaults.loss_type,
                                                                   trl_defaults.temperature)
    tuned = train.Recipe("model", Path("data"), tmp_path, beta=0.04, loss_type="grpo", temperature=0.7,
                         num_generations=4, max_completion_length=2, global_batch_size=8, per_device_batch_size=8)
    config = train.grpo_config(tuned, world_size=1, cuda=False, bf16=False)
    assert (config.beta, config.loss_type, config.temperature) == (0.04, "grpo", 0.7)
    assert (config.num_generations, config.max_completion_length) == (4, 2)


def test_help_names_the_papers_values(capsys):
    with pytest.raises(SystemExit):
        train.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--beta", "--loss-type", "--temperature", "--num-generations", "--max-completion-length", "--grpo-arg"):
        assert flag in text
    assert "paper: 8" in text and "TRL's default 0.0" in text and "TRL's default dapo" in text and "2e-5" in text


def test_use_vllm_without_vllm_fails_before_any_model_loads(capsys, monkeypatch, tmp_path):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real_find_spec(name, *a))
    # the model and data do not exist: reaching them would fail with another message
    assert train.main(["--model", str(tmp_path / "no-model"), "--data", str(tmp_path / "no-data"),
                       "--out", str(tmp_path / "out"), "--use-vllm"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--use-vllm needs vLLM" in err and "[rl-vllm]" in err
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "peft", None)  # also without the [rl] extra: the vLLM line comes first
    with pytest.raises(RuntimeError, match="--use-vllm needs vLLM"):
        train.train(train.Recipe(str(tmp_path / "no-model"), tmp_path / "no-data", tmp_path / "out", use_vllm=True))


def test_zero3_config_maps_to_the_deepspeed_plugin(monkeypatch):
    """What `accelerate launch --config_file <zero3.yaml>` does up to starting the processes: its own
    parser reads the file, the DeepSpeed launcher's environment is prepared, and accelerate's
    DeepSpeedPlugin built from that environment is ZeRO-3 without offload (DeepSpeed itself is only
    needed once the processes start, so this runs without it)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DeepSpeedPlugin
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args = launch_command_parser().parse_args(["--config_file", str(train.accelerate_config()), "--num_processes", "4",
                                               "-m", "proactivebench_ext", "rl-train"])
    args, defaults, mixed_precision_from_config = _validate_launch_command(args)
    assert args.use_deepspeed and args.zero_stage == 3 and args.mixed_precision == "bf16" and args.num_processes == 4
    fields = [*defaults.deepspeed_config, *(["mixed_precision"] if mixed_precision_from_config else [])]
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)  # as accelerate's launch_command sets it
    _, env = prepare_deepspeed_cmd_env(args)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
    for name, value in env.items():
        if name.startswith("ACCELERATE_"):
            monkeypatch.setenv(name, value)
    plugin = DeepSpeedPlugin()
    zero = plugin.deepspeed_config["zero_optimization"]
    assert plugin.zero_stage == 3 and zero["stage"] == 3 and plugin.zero3_init_flag
    assert zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == "none"
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True


def test_extras_ask_for_what_trl_supports():
    """[rl-vllm] pins the vLLM range the installed TRL declares (its own vllm extra); [rl-gpu] the DeepSpeed one."""
    import configparser
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    pytest.importorskip("trl", reason="needs the [rl] extra")
    config = configparser.ConfigParser()
    config.read(Path(train.__file__).parents[2] / "setup.cfg", encoding="utf-8")
    extras = {name: {Requirement(line).name: Requirement(line) for line in value.split("\n") if line.strip()}
              for name, value in config["options.extras_require"].items()}
    trl = {(req.name, str(req.marker)): req for req in map(Requirement, requires("trl") or [])}
    assert extras["rl-vllm"]["vllm"].specifier == trl[("vllm", 'extra == "vllm"')].specifier
    assert extras["rl-gpu"]["deepspeed"].specifier == trl[("deepspeed", 'extra == "deepspeed"')].specifier
    for extra in ("rl", "rl-gpu", "rl-vllm"):
        assert {"trl", "peft"} <= set(extras[extra])


def test_the_learning_benchmark_says_it_needs_the_rl_extra_before_building_anything(tmp_path):
    """Without trl/peft, bench/grpo_learning.py stops with one line naming the extra, not after minutes
    of building and warm starts with a traceback from a training log."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "grpo_learning.py"
    script = ("import sys, runpy; import importlib.util as u; real = u.find_spec; "
              "u.find_spec = lambda name, *a: None if name in ('trl', 'peft') else real(name, *a); "
              f"sys.argv = ['grpo_learning.py', '--quick', '--work', {str(tmp_path / 'work')!r}]; "
              f"runpy.run_path({str(bench)!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "bench/grpo_learning.py needs the [rl] extra (trl, peft missing): EXTRAS=rl bash install.sh, or pip install -e '.[rl]'"]
    assert not (tmp_path / "work").exists()
