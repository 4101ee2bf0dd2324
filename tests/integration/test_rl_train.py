"""CPU smoke of the GRPO recipe end to end, through the quick mode of ``bench/grpo_learning.py``:
synthetic train split -> rl-data -> tiny LLaVA + format warm start -> rl-train (TRL GRPO, PEFT LoRA)
-> merged checkpoints copied and played by ``python -m lmms_eval`` on our tasks (stock llava_hf
backend) -> the report's Table 3, linked from the checkpoints' labels.

Needs the ``[rl]`` extra (trl, peft), which CI installs.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the GRPO smoke needs the [rl] extra: pip install -e '.[rl]'")

from safetensors.torch import load_file  # noqa: E402

from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, task_name  # noqa: E402
from proactivebench_ext.rl import train  # noqa: E402
from proactivebench_ext.testing.tiny_models import build_tiny_llava  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "bench" / "grpo_learning.py"
TINY = {"letters_only": 4, "init_range": 0.5, "seed": 1}  # answers with option letters: some requests get r_p


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
def test_grpo_learning_quick_runs_end_to_end(tmp_path: Path, offline_env: dict[str, str]):
    """``bench/grpo_learning.py --quick``: synth train split -> rl-data -> tiny LLaVA + format warm start ->
    rl-train (a control with lr 0 and r_p=0.75, a few steps) -> each merged checkpoint copied and played by
    ``python -m lmms_eval`` on held-out episodes of all seven scenarios -> the report's Table 3, linked by
    the checkpoints' labels without --grpo-run. Only completion and a finite reward are asserted here;
    the learning claim is the benchmark's (docs/training.md)."""
    work = tmp_path / "work"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--work", str(work), "--plot", str(tmp_path / "curve.png")],
                          env=offline_env, cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["quick"] and result["seeds"] == [0] and result["checks"]["finite_reward"] is True
    assert set(result["arms"]) == {"control", "r_p=0.75"}
    for arm in result["arms"].values():
        for domain in ("all", "in_domain", "out_of_domain"):
            for metric in ("acc", "psr", "reward"):
                assert math.isfinite(arm["heldout"][domain][metric]["mean"])
        (seed,) = arm["per_seed"]
        assert set(seed["scenarios"]) == set(SCENARIO_ACRONYMS)
        assert all(scores["episodes"] == 2 and scores["turns"] >= 2 for scores in seed["scenarios"].values())
    assert result["wall_seconds"] > 0 and result["cpu_seconds"] > 0 and (tmp_path / "curve.png").stat().st_size > 0

    # -- what training did: the trained arm's adapter moved, the control's did not ---------------------
    runs = work / "seed0" / "runs"
    for arm, moved in (("r_p=0.75", True), ("control", False)):
        summary = json.loads((runs / arm / "train_summary.json").read_text("utf-8"))
        steps = [entry for entry in summary["log_history"] if "loss" in entry]
        assert summary["optimizer_steps"] == len(steps) == 3
        weights = load_file(str(runs / arm / "adapter" / "adapter_model.safetensors"))
        lora_b = [tensor for name, tensor in weights.items() if "lora_B" in name]
        assert lora_b and any(tensor.abs().sum() > 0 for tensor in lora_b) == moved, arm
        label = json.loads((runs / arm / "merged" / "proactivebench_grpo.json").read_text("utf-8"))
        assert (label["base_model"], label["config"]) == (str(work / "seed0" / "base"), "r_p=0.75")
        assert label["base_fingerprint"] and label["recipe"]["max_completion_length"] == 2

    # -- Table 3: the runs were evaluated from copies (pretrained=model, relative), no --grpo-run ----
    table = json.loads((work / "seed0" / "report" / "report.json").read_text("utf-8"))["grpo"]
    (group,) = table["groups"]
    assert group["base_model"] == str(work / "seed0" / "base")
    assert [row["config"] for row in group["rows"]] == ["original", "r_p=0.75", "r_p=0.75", "reference"]
    assert [row["model_id"] for row in group["rows"]] == ["ckpt_base", "ckpt_control", "ckpt_rp0.75", "ckpt_base"]
    results = {name: json.loads(next((work / "seed0" / "eval" / name / "results").rglob("*_results.json")).read_text("utf-8"))
               for name in ("base", "control", "r_p=0.75")}
    original = group["rows"][0]
    for scenario in SCENARIO_ACRONYMS:
        assert original["ours"][scenario]["acc"] == results["base"]["results"][task_name("main", scenario)]["acc,none"]
    assert {row["ours"]["QD"]["acc"] for row in group["rows"][1:3]} == {
        results[name]["results"][task_name("main", "QD")]["acc,none"] for name in ("control", "r_p=0.75")}
    assert group["rows"][3]["ours"]["QD"]["acc"] == results["base"]["results"][task_name("reference", "QD")]["acc,none"]
