"""CPU smoke of the GRPO recipe end to end: synthetic train split -> rl-data -> rl-train (TRL GRPO,
PEFT LoRA, 2 steps x 8 generations per prompt, tiny random LLaVA) -> the merged checkpoint played by
``python -m lmms_eval`` on our tasks (stock llava_hf backend) -> the report's Table 3 layout.

Needs the ``[rl]`` extra (trl, peft), which CI installs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the GRPO smoke needs the [rl] extra: pip install -e '.[rl]'")

from safetensors.torch import load_file  # noqa: E402

from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, task_name  # noqa: E402
from proactivebench_ext.data import synth  # noqa: E402
from proactivebench_ext.report import cli as report_cli  # noqa: E402
from proactivebench_ext.rl import train  # noqa: E402
from proactivebench_ext.testing.tiny_models import build_tiny_llava  # noqa: E402

TINY = {"letters_only": 4, "init_range": 0.5, "seed": 1}  # answers with option letters: some requests get r_p
STEPS, GENERATIONS, PROMPTS_PER_STEP = 2, 8, 2


def _run(command: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{(proc.stdout + proc.stderr)[-4000:]}"
    return proc.stdout


def _lmms_eval(model_dir: Path, tasks: str, out: Path, env: dict[str, str]) -> subprocess.Popen:
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "lmms_eval", "--model", "llava_hf", "--model_args",
               f"pretrained={model_dir},device_map=cpu", "--device", "cpu", "--batch_size", "1", "--tasks", tasks,
               "--limit", "1", "--log_samples", "--output_path", str(out)]
    return subprocess.Popen(command, env=env, cwd=out, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _results(out: Path, log: str) -> dict:
    found = list(out.rglob("*_results.json"))  # lmms-eval exits 0 on failure: the file is the proof
    assert len(found) == 1, f"lmms-eval wrote no results in {out}:\n{log[-4000:]}"
    return json.loads(found[0].read_text("utf-8"))


def test_grpo_config_is_the_papers_recipe(tmp_path: Path):
    """The paper's settings reach TRL's GRPOConfig; the tiny model's letters-only sampling is kept."""
    base = build_tiny_llava(tmp_path / "tiny", **TINY)
    recipe = train.Recipe(str(base), tmp_path / "data", tmp_path / "out", proactive_reward=0.75)
    config = train.grpo_config(recipe, world_size=4, cuda=False, bf16=False)
    assert (config.per_device_train_batch_size, config.gradient_accumulation_steps, config.num_generations) == (8, 16, 8)
    assert (config.learning_rate, config.weight_decay, config.warmup_steps, config.num_train_epochs) == (2e-5, 0.0, 0, 1.0)
    assert config.lr_scheduler_type == "cosine" and config.optim == "adamw_torch"
    assert config.max_completion_length == 50 and not config.use_vllm
    suppressed = set(config.generation_kwargs["suppress_tokens"])
    from transformers import GenerationConfig

    assert set(GenerationConfig.from_pretrained(base).suppress_tokens) <= suppressed


@pytest.mark.slow
def test_grpo_smoke_train_evaluate_report(tmp_path: Path, offline_env: dict[str, str]):
    train_split = tmp_path / "train"
    synth.generate(train_split, per_scenario=4, split="train", scenarios=["QD", "COCO"])
    base = build_tiny_llava(tmp_path / "tiny", **TINY)
    data, run = tmp_path / "rl_data", tmp_path / "run"
    cli = [sys.executable, "-m", "proactivebench_ext"]

    printed = _run([*cli, "rl-data", str(train_split), "--out", str(data)], offline_env, tmp_path)
    assert "QD: 4 examples" in printed and "COCO: 4 examples" in printed
    batch = str(PROMPTS_PER_STEP * GENERATIONS)
    printed = _run([*cli, "rl-train", "--model", str(base), "--data", str(data), "--out", str(run),
                    "--max-steps", str(STEPS), "--num-generations", str(GENERATIONS), "--global-batch-size", batch,
                    "--per-device-batch-size", batch, "--save-steps", "0"], offline_env, tmp_path)
    assert f"rl-train: {STEPS} steps" in printed

    # -- what training did ------------------------------------------------------------------------
    summary = json.loads((run / "train_summary.json").read_text("utf-8"))
    steps = [entry for entry in summary["log_history"] if "loss" in entry]
    assert summary["optimizer_steps"] == STEPS == len(steps)
    assert 0 < summary["generation_share"] < 1
    for entry in steps:
        assert entry["learning_rate"] > 0 and 0.0 <= entry["rewards/ProactiveReward/mean"] <= 1.0
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text("utf-8"))
    assert (adapter["r"], adapter["lora_alpha"], adapter["lora_dropout"]) == (16, 16, 0.1)
    assert set(adapter["target_modules"]) == {"q_proj", "k_proj"}
    weights = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    lora_b = [tensor for name, tensor in weights.items() if "lora_B" in name]
    assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b), \
        "no group of 8 answers had different rewards, so the adapter never moved (LoRA B is still zero)"
    label = json.loads((run / "merged" / "proactivebench_grpo.json").read_text("utf-8"))
    assert (label["base_model"], label["config"]) == (str(base), "r_p=0.5")

    # -- evaluation with the stock lmms-eval CLI, then the report ---------------------------------
    main_tasks = ",".join(task_name("main", s) for s in SCENARIO_ACRONYMS)
    runs = {"trained": _lmms_eval(run / "merged", main_tasks, tmp_path / "eval_trained", offline_env),
            "base": _lmms_eval(base, f"{main_tasks},proactivebench_reference", tmp_path / "eval_base", offline_env)}
    results = {name: _results(tmp_path / f"eval_{name}", proc.communicate(timeout=600)[0]) for name, proc in runs.items()}

    out = tmp_path / "report"
    assert report_cli.main([str(tmp_path / "eval_trained"), str(tmp_path / "eval_base"), "--out", str(out),
                            "--no-plots", "--bootstrap", "20"]) == 0
    table = json.loads((out / "report.json").read_text("utf-8"))["grpo"]
    (group,) = table["groups"]
    assert group["base_model"] == str(base) and group["paper_name"] is None
    assert [row["config"] for row in group["rows"]] == ["original", "r_p=0.5", "reference"]
    assert table["columns"] == ["QD", "COCO", "ROD", "VSOD", "MVP-N", "IN-C", "CIT", "avg"]
    original, trained, reference = group["rows"]
    assert trained["model_id"] == str(run / "merged") and original["model_id"] == str(base)
    for row, name in ((original, "base"), (trained, "trained")):
        for scenario in SCENARIO_ACRONYMS:
            scores = results[name]["results"][task_name("main", scenario)]
            assert row["ours"][scenario]["acc"] == scores["acc,none"]
            assert row["ours"][scenario]["psr"] == scores["psr,none"]
        assert row["ours"]["avg"] is not None
    assert reference["ours"]["QD"]["acc"] == results["base"]["results"][task_name("reference", "QD")]["acc,none"]
    markdown = (out / "report.md").read_text("utf-8")
    assert "## GRPO post-training (Table 3)" in markdown
    assert "| model | config | QD (in) | COCO (in) | ROD (out) |" in markdown
    assert f"| r_p=0.5 (`{run / 'merged'}`) |" in markdown
