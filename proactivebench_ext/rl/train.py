"""``python -m proactivebench_ext rl-train``: the paper's GRPO post-training (§5, Appendix C) on TRL.

Hugging Face TRL's ``GRPOTrainer`` with a PEFT LoRA adapter, rewarded by :class:`~.reward.ProactiveReward`
(the evaluation's own verdict). Defaults are the paper's recipe: global batch 512, AdamW, lr 2e-5,
weight decay 0, cosine schedule without warm-up, 8 sampled answers per prompt, 1 epoch, LoRA rank
16, alpha 16, dropout 0.1 on ``q_proj`` and ``k_proj``. The batch counts completions, as TRL does
(512 = 64 prompts x 8 answers).

Multi-GPU and DeepSpeed ZeRO-3 come from accelerate: ``accelerate launch --config_file
$(python -m proactivebench_ext rl-train --accelerate-config) -m proactivebench_ext rl-train ...``
(``rl/configs/zero3.yaml`` ships with the package). ``--use-vllm`` switches TRL's generation to vLLM
(colocated; GPUs only).

Writes ``OUT/adapter`` (the LoRA adapter and processor), ``OUT/merged`` (base + adapter merged,
with the processor: pass it to an lmms-eval backend as ``pretrained=``), ``proactivebench_grpo.json``
in both (what the report's Table 3 reads: base model and r_p) and ``OUT/train_summary.json``
(steps, time, share of time spent generating).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..cli import command_parser
from .dataset import load_training_data
from .reward import ProactiveReward, check_proactive_reward

GRPO_METADATA_FILE = "proactivebench_grpo.json"  # read by proactivebench_ext.report.grpo
GRPO_METADATA_FORMAT = "proactivebench_grpo/1"
ACCELERATE_CONFIGS = ("zero3",)
INSTALL_HINT = "rl-train needs the [rl] extra: pip install -e '.[rl]' (trl, peft; on GPUs also '.[rl-gpu]' for deepspeed)"
VLLM_HINT = ("--use-vllm needs vLLM, which is not installed: pip install -e '.[rl-vllm]' (a vLLM release TRL supports; "
             "Linux with CUDA GPUs), or leave out --use-vllm to generate with transformers")


def missing_vllm(use_vllm: bool) -> str | None:
    """The error line for ``--use-vllm`` without vLLM installed, found before any model loads."""
    from importlib.util import find_spec

    return VLLM_HINT if use_vllm and find_spec("vllm") is None else None


@dataclass(frozen=True)
class Recipe:
    """The training settings; defaults are the paper's (Appendix C)."""

    model: str
    data: Path
    out: Path
    proactive_reward: float = 0.5
    global_batch_size: int = 512  # completions per optimizer step, over all processes
    per_device_batch_size: int = 8  # completions per forward pass and process
    num_generations: int = 8
    learning_rate: float = 2e-5
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"
    warmup_steps: int = 0
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    lora_rank: int = 16
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    target_modules: tuple[str, ...] = ("q_proj", "k_proj")
    max_completion_length: int = 50  # the evaluation's max_new_tokens (benchmark.json mcqa_generation)
    # Where the paper is silent, TRL's defaults (GRPOConfig of trl 1.16), named here because they change the method:
    beta: float = 0.0  # KL coefficient; 0 = no reference model
    loss_type: str = "dapo"  # token-level normalisation over the accumulated batch
    temperature: float = 1.0  # sampling temperature of the 8 answers
    use_vllm: bool = False
    seed: int = 0
    save_steps: int = 100  # intermediate checkpoints; 0 = none
    merge: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # more GRPOConfig fields (--grpo-arg key=value)

    @property
    def config_label(self) -> str:
        """The row name of the paper's Table 3: ``r_p=0.5``, ``r_p=0.75``, ``r_p=1.0``."""
        return f"r_p={float(self.proactive_reward)!r}"


def gradient_accumulation(recipe: Recipe, world_size: int) -> int:
    """Steps of accumulation that make ``global_batch_size`` completions per optimizer step."""
    per_step = recipe.per_device_batch_size * world_size
    if recipe.global_batch_size % per_step:
        raise ValueError(f"--global-batch-size {recipe.global_batch_size} is not a multiple of --per-device-batch-size "
                         f"{recipe.per_device_batch_size} x {world_size} processes")
    if recipe.global_batch_size % recipe.num_generations:
        raise ValueError(f"--global-batch-size {recipe.global_batch_size} must hold whole groups of "
                         f"{recipe.num_generations} generations")
    return recipe.global_batch_size // per_step


def accelerate_config(name: str = "zero3") -> Path:
    """Path of an accelerate config file shipped with the package (``rl/configs/<name>.yaml``)."""
    if name not in ACCELERATE_CONFIGS:
        raise ValueError(f"no accelerate config {name!r}; shipped: {', '.join(ACCELERATE_CONFIGS)}")
    return Path(str(resources.files(__package__).joinpath("configs", f"{name}.yaml")))


def _kept_suppressed_tokens(model: str) -> dict[str, Any]:
    """Sampling kwargs that keep the tokens the checkpoint's generation config suppresses.

    TRL replaces ``suppress_tokens`` with the image token for vision models; a checkpoint that
    suppresses more (the tiny test models answer with option letters only) must keep its list, or
    it would be trained on text it never produces in evaluation.
    """
    from transformers import AutoConfig, GenerationConfig

    try:
        suppressed = list(GenerationConfig.from_pretrained(model).suppress_tokens or [])
    except OSError:  # no generation_config.json
        return {}
    if not suppressed:
        return {}
    config = AutoConfig.from_pretrained(model)
    image_token = getattr(config, "image_token_id", None)
    if image_token is None:
        image_token = getattr(config, "image_token_index", None)
    return {"suppress_tokens": sorted({*suppressed, *([image_token] if image_token is not None else [])})}


def grpo_config(recipe: Recipe, world_size: int, *, cuda: bool, bf16: bool) -> Any:
    from trl import GRPOConfig

    kwargs: dict[str, Any] = dict(
        output_dir=str(recipe.out / "trainer"),
        per_device_train_batch_size=recipe.per_device_batch_size,
        gradient_accumulation_steps=gradient_accumulation(recipe, world_size),
        num_generations=recipe.num_generations,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_steps,
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        max_completion_length=recipe.max_completion_length,
        beta=recipe.beta,
        loss_type=recipe.loss_type,
        temperature=recipe.temperature,
        bf16=bf16,
        use_cpu=not cuda,
        use_vllm=recipe.use_vllm,
        seed=recipe.seed,
        logging_steps=1,
        save_strategy="steps" if recipe.save_steps > 0 else "no",
        save_steps=max(recipe.save_steps, 1),
        report_to=[],
        model_init_kwargs={"dtype": "bfloat16" if bf16 else "float32"},
    )
    generation_kwargs = _kept_suppressed_tokens(recipe.model)
    if generation_kwargs:
        kwargs["generation_kwargs"] = generation_kwargs
    kwargs.update(recipe.extra)
    return GRPOConfig(**kwargs)


class GenerationTimer:
    """Wall time spent in the trainer's generation step (TRL's ``_generate``), to report its share."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, trainer: Any) -> bool:
        generate: Callable[..., Any] | None = getattr(trainer, "_generate", None)
        if generate is None:  # another TRL layout: the share is then not reported
            return False

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return generate(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        trainer._generate = timed
        return True


def write_metadata(directory: Path, recipe: Recipe, rows: int, steps: int) -> None:
    """The label the report's Table 3 reads; the base checkpoint's fingerprint lets it find the base
    model's runs even when they were evaluated from a copy of that folder."""
    from ..report.grpo import checkpoint_fingerprint

    directory.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": GRPO_METADATA_FORMAT, "base_model": recipe.model, "proactive_reward": float(recipe.proactive_reward),
        "base_fingerprint": checkpoint_fingerprint(recipe.model),
        "config": recipe.config_label, "train_data": str(recipe.data), "train_rows": rows, "optimizer_steps": steps,
        "recipe": {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                   for k, v in asdict(recipe).items()},
    }
    (directory / GRPO_METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", "utf-8")


def merge_adapter(base: str, adapter_dir: Path, merged_dir: Path, *, bf16: bool) -> Path:
    """Base model + LoRA adapter merged into one checkpoint (with the processor), for lmms-eval backends."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(merged_dir))
    AutoProcessor.from_pretrained(str(adapter_dir)).save_pretrained(str(merged_dir))
    return merged_dir


def train(recipe: Recipe) -> dict[str, Any]:
    """Run GRPO, save the adapter (and the merged model); returns the run summary."""
    check_proactive_reward(recipe.proactive_reward)
    if (problem := missing_vllm(recipe.use_vllm)) is not None:
        raise RuntimeError(problem)
    try:
        import torch
        from peft import LoraConfig
        from trl import GRPOTrainer
    except ImportError as error:
        raise RuntimeError(f"{INSTALL_HINT} ({error})") from None
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dataset = load_training_data(recipe.data)
    peft_config = LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                             target_modules=list(recipe.target_modules))
    trainer = GRPOTrainer(model=recipe.model, reward_funcs=ProactiveReward(recipe.proactive_reward),
                          args=grpo_config(recipe, world_size, cuda=cuda, bf16=bf16), train_dataset=dataset,
                          peft_config=peft_config)
    timer = GenerationTimer()
    timed = timer.wrap(trainer)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    adapter_dir = recipe.out / "adapter"
    trainer.save_model(str(adapter_dir))
    steps = trainer.state.global_step
    summary: dict[str, Any] = {
        "optimizer_steps": steps, "train_seconds": round(seconds, 3), "steps_per_second": round(steps / seconds, 4),
        "generation_seconds": round(timer.seconds, 3) if timed else None,
        "generation_share": round(timer.seconds / seconds, 4) if timed and seconds else None,
        "world_size": world_size, "device": "cuda" if cuda else "cpu", "bf16": bf16, "train_rows": len(dataset),
        "adapter": str(adapter_dir), "merged": None, "log_history": trainer.state.log_history,
    }
    if trainer.accelerator.is_main_process:
        write_metadata(adapter_dir, recipe, len(dataset), steps)
        if recipe.merge:
            del trainer
            merged_dir = merge_adapter(recipe.model, adapter_dir, recipe.out / "merged", bf16=bf16)
            write_metadata(merged_dir, recipe, len(dataset), steps)
            summary["merged"] = str(merged_dir)
        (recipe.out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    return summary


def _grpo_args(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs for GRPOConfig; values are read as JSON when they parse (numbers, booleans)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise ValueError(f"--grpo-arg {pair!r}: expected KEY=VALUE, e.g. beta=0.04")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("rl-train", __doc__)
    parser.add_argument("--accelerate-config", nargs="?", const="zero3", metavar="NAME",
                        help="print the path of a shipped accelerate config (zero3) and exit")
    parser.add_argument("--model", help="base checkpoint: hub id or local folder (a vision-language model)")
    parser.add_argument("--data", type=Path, help="the folder written by rl-data")
    parser.add_argument("--out", type=Path, help="where the adapter, merged model and summary go")
    defaults = Recipe("", Path(), Path())
    parser.add_argument("--proactive-reward", type=float, default=defaults.proactive_reward,
                        help="r_p, the reward of an accepted request (paper: 0.5, 0.75, 1.0)")
    parser.add_argument("--global-batch-size", type=int, default=defaults.global_batch_size,
                        help="completions per optimizer step over all processes (paper: 512)")
    parser.add_argument("--per-device-batch-size", type=int, default=defaults.per_device_batch_size)
    parser.add_argument("--num-generations", type=int, default=defaults.num_generations,
                        help="answers sampled per prompt, the GRPO group (paper: 8)")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="AdamW learning rate (paper: 2e-5)")
    parser.add_argument("--epochs", type=float, default=defaults.epochs, help="passes over the data (paper: 1)")
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps, help="optimizer steps; overrides --epochs")
    parser.add_argument("--lora-rank", type=int, default=defaults.lora_rank)
    parser.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha)
    parser.add_argument("--lora-dropout", type=float, default=defaults.lora_dropout)
    parser.add_argument("--target-modules", default=",".join(defaults.target_modules))
    parser.add_argument("--max-completion-length", type=int, default=defaults.max_completion_length,
                        help="tokens per sampled answer (default 50: the evaluation's max_new_tokens; TRL's is 512)")
    parser.add_argument("--beta", type=float, default=defaults.beta,
                        help="KL coefficient (paper: not stated; TRL's default 0.0 = no reference model)")
    parser.add_argument("--loss-type", default=defaults.loss_type,
                        help="GRPOConfig loss_type: grpo, dr_grpo, dapo, bnpo, ... (paper: not stated; TRL's default dapo)")
    parser.add_argument("--temperature", type=float, default=defaults.temperature,
                        help="sampling temperature of the answers (paper: not stated; TRL's default 1.0)")
    parser.add_argument("--use-vllm", action="store_true",
                        help="generate with vLLM (colocated, GPUs only; needs the [rl-vllm] extra)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--save-steps", type=int, default=defaults.save_steps, help="checkpoint every N steps (0: none)")
    parser.add_argument("--no-merge", action="store_true", help="save only the adapter")
    parser.add_argument("--grpo-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="any other GRPOConfig field, e.g. beta=0.04 (repeatable)")
    args = parser.parse_args(argv)
    if args.accelerate_config:
        print(accelerate_config(args.accelerate_config))
        return 0
    missing = [flag for flag, value in (("--model", args.model), ("--data", args.data), ("--out", args.out)) if not value]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    if (problem := missing_vllm(args.use_vllm)) is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        recipe = Recipe(
            model=args.model, data=args.data, out=args.out, proactive_reward=check_proactive_reward(args.proactive_reward),
            global_batch_size=args.global_batch_size, per_device_batch_size=args.per_device_batch_size,
            num_generations=args.num_generations, learning_rate=args.learning_rate, epochs=args.epochs,
            max_steps=args.max_steps, lora_rank=args.lora_rank, lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout, target_modules=tuple(m.strip() for m in args.target_modules.split(",") if m.strip()),
            max_completion_length=args.max_completion_length, beta=args.beta, loss_type=args.loss_type,
            temperature=args.temperature, use_vllm=args.use_vllm, seed=args.seed,
            save_steps=args.save_steps, merge=not args.no_merge, extra=_grpo_args(args.grpo_arg))
        summary = train(recipe)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if summary["merged"] or int(os.environ.get("RANK", "0")) == 0:
        share = summary["generation_share"]
        print(f"rl-train: {summary['optimizer_steps']} steps in {summary['train_seconds']:.1f} s "
              f"({summary['steps_per_second']:.3f} steps/s"
              + (f", {share:.0%} of it generating" if share is not None else "") + f"); adapter: {summary['adapter']}")
        if summary["merged"]:
            print(f"evaluate it: python -m lmms_eval --model <backend of the base model> --model_args "
                  f"pretrained={summary['merged']} --tasks proactivebench --log_samples --output_path <dir>; then "
                  "python -m proactivebench_ext report <dir> <the base model's dir> (Table 3 rows come from "
                  f"{GRPO_METADATA_FILE})")
    return 0
