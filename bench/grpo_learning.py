"""Does the GRPO recipe teach a model to ask? A CPU-scale learning experiment, end to end.

Per seed: a tiny LLaVA built locally (:func:`proactivebench_ext.testing.tiny_models.build_tiny_llava`);
a synthetic train split (QD, COCO) through ``rl-data``; a short supervised *format* warm start on
those prompts with answers drawn uniformly from the options shown (it learns to answer with one
option letter, nothing about which option is right); then ``rl-train`` (TRL GRPO + LoRA, rewarded
by ``ProactiveReward``) in three arms: ``r_p=0``, ``r_p=R`` (the paper's 0.75 by default) and a
*control* that runs the same steps with learning rate 0. Every trained checkpoint is then played by
``python -m lmms_eval`` (stock ``llava_hf`` backend, our ``proactivebench`` tasks) on held-out
synthetic episodes of all seven scenarios (``synth`` with other seeds than training), evaluated from
a copy of its folder, and the package's report builds Table 3 from those runs without ``--grpo-run``.

Held-out reward = the training reward (``rl.reward``, r_p = R for every arm, so arms are comparable)
of every turn the model played, averaged per scenario, then over scenarios; in-domain = QD, COCO,
out-of-domain = the five others. The last line printed is one JSON object (per arm, per domain:
acc, psr, reward, mean and spread over seeds; the seeds; wall and CPU time). Exit 1 when the full
run does not show what it claims: reward(r_p=R) - reward(control) >= 0.15, psr(r_p=R) > psr(r_p=0)
and a rising training reward. ``--quick`` (CI) runs one seed and a few steps and only requires a
finite reward.

    python bench/grpo_learning.py [--quick] [--seeds 0,1,2] [--jobs 2] [--work DIR] [--plot PNG]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IN_DOMAIN = ("QD", "COCO")
OUT_OF_DOMAIN = ("ROD", "VSOD", "MVP-N", "IN-C", "CIT")
CONTROL = "control"
REQUIRED_GAIN = 0.15
METRICS = ("acc", "psr", "reward", "reward_first_turn", "reward_per_turn")


@dataclass(frozen=True)
class Settings:
    """Everything that decides whether learning shows in minutes on 2 CPU cores (see docs/training.md)."""

    # the model: a tiny LLaVA answering with option letters only (its generation config suppresses the rest)
    hidden_size: int = 32
    vocab_size: int = 2000  # BPE over the benchmark's texts: most words are one token, prompts ~110 tokens
    letters: int = 10  # "A." ... "J.": every option of every scenario can be named
    init_range: float = 0.2
    # data
    train_per_scenario: int = 64  # synthetic QD and COCO train entries: 128 training states
    ambiguous_fraction: float = 1.0  # every training state is one where asking is accepted
    heldout_per_scenario: int = 8  # held-out test episodes per scenario (x 7 scenarios)
    # warm start (format only)
    warm_epochs: int = 4
    warm_learning_rate: float = 3e-3
    # GRPO
    proactive_reward: float = 0.75
    steps: int = 200
    prompts_per_step: int = 4
    num_generations: int = 8
    learning_rate: float = 3e-3
    beta: float = 0.04
    temperature: float = 1.0
    loss_type: str = "dapo"
    max_completion_length: int = 2  # one letter token and end-of-sequence
    target_modules: str = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"

    @property
    def abstain_tokens(self) -> tuple[str, ...]:
        """Whole tokens "A. I" ...: every abstain option starts with "I", so the token says which letter
        abstains, and a two-layer model need not learn to bind a letter to the word after it."""
        return tuple(f"{chr(65 + i)}. I" for i in range(self.letters))


QUICK = dict(train_per_scenario=8, heldout_per_scenario=2, warm_epochs=1, steps=3, prompts_per_step=2)


# -- subprocesses ----------------------------------------------------------------------------------
def environment(threads: int = 1) -> dict[str, str]:
    """Offline, one thread per process (``--jobs`` processes share the cores), quiet progress bars."""
    env = dict(os.environ)
    for name in ("PROACTIVEBENCH_DATA_DIR", "PROACTIVEBENCH_DOWNLOAD", "LMMS_EVAL_PLUGINS"):
        env.pop(name, None)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1",
               TQDM_DISABLE="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1", PYTHONPATH=str(ROOT))
    return env


def run(command: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run one step; its output goes to ``log``; a failure names the step and shows the log's tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as handle:
        proc = subprocess.run(list(command), stdout=handle, stderr=subprocess.STDOUT, env=dict(env or environment()),
                              cwd=cwd, timeout=3600)
    if proc.returncode != 0:
        tail = log.read_text("utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(map(str, command))} failed (exit {proc.returncode}); log {log}:\n{tail}")


# -- per seed: data, model, warm start ---------------------------------------------------------------
def prepare(work: Path, seed: int, settings: Settings) -> None:
    """Train split -> rl-data, held-out test split, tiny model, format warm start (in this process)."""
    import torch

    from proactivebench_ext.data import synth
    from proactivebench_ext.testing.tiny_models import build_tiny_llava

    torch.set_num_threads(1)
    folder = work / f"seed{seed}"
    synth.generate(folder / "train", per_scenario=settings.train_per_scenario, split="train",
                   scenarios=list(IN_DOMAIN), seed=100 + seed)
    synth.generate(folder / "heldout", per_scenario=settings.heldout_per_scenario, seed=1000 + seed)
    run([sys.executable, "-m", "proactivebench_ext", "rl-data", str(folder / "train"), "--out", str(folder / "rl_data"),
         "--seed", str(seed), "--ambiguous-fraction", str(settings.ambiguous_fraction),
         "--test-dir", str(folder / "heldout")], folder / "logs" / "rl-data.log")
    base = build_tiny_llava(folder / "base", seed=seed, init_range=settings.init_range, letters_only=settings.letters,
                            extra_tokens=settings.abstain_tokens, hidden_size=settings.hidden_size,
                            vocab_size=settings.vocab_size)
    losses = warm_start(base, folder / "rl_data", seed, settings)
    (folder / "warm_start.json").write_text(json.dumps({"epoch_losses": losses}), "utf-8")


def warm_start(model_dir: Path, data: Path, seed: int, settings: Settings) -> list[float]:
    """Supervised format warm start: after the prompt, one option letter drawn uniformly from the
    options shown, then end-of-sequence: exactly the tokens the policy samples in GRPO and in
    evaluation. (A chat-formatted SFT target would add a space and a newline the letters-only model
    can never produce.) Overwrites the model in ``model_dir``; returns the mean loss per epoch."""
    import torch
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from proactivebench_ext.rl.dataset import load_training_data

    processor = AutoProcessor.from_pretrained(model_dir)
    model = LlavaForConditionalGeneration.from_pretrained(model_dir)
    tokenizer = processor.tokenizer
    examples = []
    for row in load_training_data(data):
        text = row["prompt"][0]["content"]
        chat = processor.apply_chat_template([{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
                                             add_generation_prompt=True)
        inputs = processor(text=chat, images=row["image"], return_tensors="pt")
        examples.append((inputs, len(re.findall(r"(?m)^[A-Z]\. ", text))))
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.warm_learning_rate)
    model.train()
    losses = []
    for _ in range(settings.warm_epochs):
        rng.shuffle(examples)
        total = 0.0
        for inputs, options in examples:
            letter = tokenizer.convert_tokens_to_ids(f"{chr(65 + rng.randrange(options))}.")
            ids = torch.cat([inputs["input_ids"][0], torch.tensor([letter, tokenizer.eos_token_id])])[None]
            labels = torch.full_like(ids, -100)
            labels[0, -2:] = ids[0, -2:]
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=inputs["pixel_values"],
                         labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            total += loss.item()
        losses.append(round(total / len(examples), 4))
    model.eval()
    model.save_pretrained(model_dir)
    return losses


# -- per arm: GRPO, then lmms-eval on the held-out episodes ------------------------------------------
def arms(settings: Settings, quick: bool) -> dict[str, tuple[float, float]]:
    """arm -> (r_p it is trained with, learning rate)."""
    rp = settings.proactive_reward
    found = {CONTROL: (rp, 0.0), f"r_p={rp!r}": (rp, settings.learning_rate)}
    if not quick:
        found["r_p=0.0"] = (0.0, settings.learning_rate)
    return found


def train_arm(work: Path, seed: int, arm: str, rp: float, learning_rate: float, settings: Settings) -> Path:
    folder = work / f"seed{seed}"
    out = folder / "runs" / arm
    batch = settings.prompts_per_step * settings.num_generations
    run([sys.executable, "-m", "proactivebench_ext", "rl-train", "--model", str(folder / "base"),
         "--data", str(folder / "rl_data"), "--out", str(out), "--proactive-reward", str(rp),
         "--learning-rate", str(learning_rate), "--max-steps", str(settings.steps),
         "--num-generations", str(settings.num_generations), "--global-batch-size", str(batch),
         "--per-device-batch-size", str(batch), "--max-completion-length", str(settings.max_completion_length),
         "--beta", str(settings.beta), "--temperature", str(settings.temperature), "--loss-type", settings.loss_type,
         "--target-modules", settings.target_modules, "--save-steps", "0", "--seed", str(seed),
         "--grpo-arg", "lr_scheduler_type=constant", "--grpo-arg", "disable_tqdm=true"],
        folder / "logs" / f"rl-train-{arm}.log")
    return out


def copy_name(name: str) -> str:
    """The folder a checkpoint is copied to for evaluation (``r_p=0.75`` -> ``ckpt_rp0.75``): one per
    run, since the report tells models apart by the recorded path, and no ``=`` or ``,`` in model_args."""
    return "ckpt_" + name.replace("r_p=", "rp")


def evaluate(work: Path, seed: int, name: str, checkpoint: Path, tasks: str, resume: bool = False) -> Path:
    """lmms-eval on the held-out episodes, from a copy of the checkpoint's folder given by a relative path."""
    folder = work / f"seed{seed}"
    evaluation = folder / "eval" / name
    if resume and list((evaluation / "results").rglob("*_results.json")):
        return evaluation / "results"
    shutil.rmtree(evaluation, ignore_errors=True)
    copy = copy_name(name)
    shutil.copytree(checkpoint, evaluation / copy)
    env = environment()
    env["PROACTIVEBENCH_DATA_DIR"] = str(folder / "heldout")
    run([sys.executable, "-m", "lmms_eval", "--model", "llava_hf", "--model_args", f"pretrained={copy},device_map=cpu",
         "--device", "cpu", "--batch_size", "1", "--tasks", tasks, "--log_samples", "--output_path", "results"],
        folder / "logs" / f"lmms-eval-{name}.log", env=env, cwd=evaluation)
    if not list((evaluation / "results").rglob("*_results.json")):  # lmms-eval exits 0 on failure
        raise RuntimeError(f"lmms-eval wrote no results for {name} (seed {seed}); log {folder / 'logs'}")
    return evaluation / "results"


def train_and_evaluate(work: Path, seed: int, arm: str, rp: float, learning_rate: float, settings: Settings,
                       resume: bool = False) -> None:
    run_dir = work / f"seed{seed}" / "runs" / arm
    if not (resume and (run_dir / "train_summary.json").is_file()):
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir = train_arm(work, seed, arm, rp, learning_rate, settings)
    evaluate(work, seed, arm, run_dir / "merged", "proactivebench", resume)


# -- reading the results -----------------------------------------------------------------------------
def heldout_scores(results: Path, data_dir: Path, rp: float) -> dict[str, dict[str, float]]:
    """scenario -> acc (%), psr and reward from lmms-eval's logged samples.

    ``reward``: per episode, the mean reward of the turns it played, then the mean over episodes, so
    every held-out episode counts once, as every train entry gives one training state. Pooling all
    turns instead (``reward_per_turn``) weighs an episode by its length, which favours whatever
    happens to prolong long episodes; ``reward_first_turn`` scores every arm on the same states."""
    from proactivebench_ext.core.naming import parse_task_name
    from proactivebench_ext.data.layout import load_test_set
    from proactivebench_ext.report.read import final_payload, iter_samples
    from proactivebench_ext.rl.reward import reward

    scores = {}
    for samples in sorted(results.rglob("*_samples_*.jsonl")):
        parsed = parse_task_name(samples.name.split("_samples_", 1)[1].removesuffix(".jsonl"))
        if parsed is None or parsed[0] != "main":
            continue
        scenario = parsed[1]
        entries = {str(entry["id"]): entry for entry in load_test_set(scenario, data_dir)}
        accs, psrs, per_episode, first_turn, every_turn = [], [], [], [], []
        for record in iter_samples(samples):
            episode = final_payload(record) or {}
            answers = [turn["answer"] for turn in episode.get("turns", [])]
            entry = entries[str(episode["sample_id"])]
            accs.append(100.0 if episode.get("correct") else 0.0)
            psrs.append(float(episode.get("num_requests", 0)))
            rewards = [reward(scenario, entry, answers[: i + 1], proactive_reward=rp) for i in range(len(answers))]
            per_episode.append(statistics.mean(rewards))
            first_turn.append(rewards[0])
            every_turn += rewards
        scores[scenario] = {"acc": statistics.mean(accs), "psr": statistics.mean(psrs), "reward": statistics.mean(per_episode),
                            "reward_first_turn": statistics.mean(first_turn), "reward_per_turn": statistics.mean(every_turn),
                            "episodes": len(accs), "turns": len(every_turn)}
    missing = set(IN_DOMAIN + OUT_OF_DOMAIN) - set(scores)
    if missing:
        raise RuntimeError(f"{results}: no logged samples for {sorted(missing)}")
    return scores


def by_domain(scores: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Macro averages over scenarios: all seven, in-domain (QD, COCO), out-of-domain (the five others)."""
    groups = {"all": IN_DOMAIN + OUT_OF_DOMAIN, "in_domain": IN_DOMAIN, "out_of_domain": OUT_OF_DOMAIN}
    return {name: {metric: statistics.mean(scores[s][metric] for s in members) for metric in METRICS}
            for name, members in groups.items()}


def training_rewards(run_dir: Path) -> list[float]:
    summary = json.loads((run_dir / "train_summary.json").read_text("utf-8"))
    return [float(entry["reward"]) for entry in summary["log_history"] if "reward" in entry]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"mean": round(statistics.mean(values), 4), "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": round(min(values), 4), "max": round(max(values), 4)}


def rising(curve: Sequence[float], fraction: float = 0.25) -> tuple[float, float]:
    """Mean training reward over the first and the last quarter of the steps."""
    k = max(1, int(len(curve) * fraction))
    return statistics.mean(curve[:k]), statistics.mean(curve[-k:])


# -- outputs ------------------------------------------------------------------------------------------
def plot(curves: Mapping[str, list[list[float]]], path: Path, settings: Settings) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = 8
    figure, axis = plt.subplots(figsize=(7, 4))
    for arm, per_seed in curves.items():
        steps = min(len(c) for c in per_seed)
        mean = [statistics.mean(c[i] for c in per_seed) for i in range(steps)]
        smooth = [statistics.mean(mean[max(0, i - window + 1): i + 1]) for i in range(steps)]
        line, = axis.plot(range(1, steps + 1), smooth, label=f"{arm} ({len(per_seed)} seeds, {window}-step mean)")
        axis.plot(range(1, steps + 1), mean, color=line.get_color(), alpha=0.2)
    axis.set_xlabel("GRPO step")
    axis.set_ylabel("training reward (the arm's own r_p)")
    axis.set_title("Tiny LLaVA, format warm start, then GRPO on QD + COCO states")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def table(result: Mapping[str, Any]) -> str:
    """Table 3-style markdown: per arm, mean +- sd over seeds of acc / psr / reward, in- and out-of-domain."""
    lines = ["| arm | in-domain (QD, COCO) acc / psr / reward | out-of-domain (5) acc / psr / reward | all 7: acc / psr / "
             "reward | all 7: first-turn reward | all 7: per-turn reward |", "| --- | --- | --- | --- | --- | --- |"]
    for arm, entry in result["arms"].items():
        cells = []
        for domain in ("in_domain", "out_of_domain", "all"):
            m = entry["heldout"][domain]
            cells.append(f"{m['acc']['mean']:.1f} / {m['psr']['mean']:.2f} / {m['reward']['mean']:.3f} ± {m['reward']['sd']:.3f}")
        for metric in ("reward_first_turn", "reward_per_turn"):
            m = entry["heldout"]["all"][metric]
            cells.append(f"{m['mean']:.3f} ± {m['sd']:.3f}")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_table3(work: Path, seed: int, names: Sequence[str]) -> str:
    """The package's report over one seed's runs: Table 3 from the labels, without --grpo-run."""
    folder = work / f"seed{seed}"
    inputs = [str(folder / "eval" / name / "results") for name in names]
    run([sys.executable, "-m", "proactivebench_ext", "report", *inputs, "--out", str(folder / "report"), "--no-plots",
         "--bootstrap", "20"], folder / "logs" / "report.log")
    markdown = (folder / "report" / "report.md").read_text("utf-8")
    if "## GRPO post-training (Table 3)" not in markdown:
        raise RuntimeError(f"{folder / 'report' / 'report.md'} has no Table 3 section: the trained runs were not linked")
    return "## GRPO post-training (Table 3)" + markdown.split("## GRPO post-training (Table 3)", 1)[1].split("\n## ", 1)[0]


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_pool(jobs: int, tasks: Sequence[Callable[[], Any]]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return [future.result() for future in [pool.submit(task) for task in tasks]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI: one seed, a few steps, only checks that it completes")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1,2; --quick: 0)")
    parser.add_argument("--jobs", type=int, default=2, help="processes at a time, one thread each (default 2)")
    parser.add_argument("--work", type=Path, help="keep every file here (default: a temporary folder, removed)")
    parser.add_argument("--plot", type=Path, help="write the training reward curve (PNG) here")
    parser.add_argument("--table", type=Path, help="write the Table 3-style markdown here")
    parser.add_argument("--resume", action="store_true", help="with --work: reuse every step a run there finished "
                        "(the times printed are then this invocation's only)")
    parser.add_argument("--prepare", type=int, metavar="SEED", help=argparse.SUPPRESS)  # internal: one seed's preparation
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    missing = [name for name in ("trl", "peft") if importlib.util.find_spec(name) is None]
    if missing:  # say so before minutes of building and warm starts, not in a training log
        print(f"bench/grpo_learning.py needs the [rl] extra ({', '.join(missing)} missing): "
              "EXTRAS=rl bash install.sh, or pip install -e '.[rl]'", file=sys.stderr)
        return 2
    settings = Settings(**json.loads(args.settings)) if args.settings else Settings()
    if args.prepare is not None:
        prepare(args.work, args.prepare, settings)
        return 0
    if args.quick:
        settings = replace(settings, **QUICK)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    start, temporary = time.perf_counter(), None
    work = args.work or Path(temporary := tempfile.mkdtemp(prefix="grpo_learning_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        encoded = json.dumps(asdict(settings))
        resume = bool(args.resume and args.work)
        in_pool(args.jobs, [lambda s=s: run([sys.executable, __file__, "--prepare", str(s), "--work", str(work),
                                             "--settings", encoded], work / f"seed{s}.prepare.log")
                            for s in seeds if not (resume and (work / f"seed{s}" / "warm_start.json").is_file())])
        plan = arms(settings, args.quick)
        tasks = [lambda s=s, a=a, rp=rp, lr=lr: train_and_evaluate(work, s, a, rp, lr, settings, resume)
                 for s in seeds for a, (rp, lr) in plan.items()]
        tasks.append(lambda: evaluate(work, seeds[0], "base", work / f"seed{seeds[0]}" / "base",
                                      "proactivebench,proactivebench_reference", resume))
        in_pool(args.jobs, tasks)
        table3 = report_table3(work, seeds[0], ["base", *plan])
        result = summarise(work, seeds, plan, settings, args.quick)
        result["table3_seed0"] = table3
    finally:
        wall, cpu = time.perf_counter() - start, cpu_seconds()
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
    result.update(wall_seconds=round(wall, 1), cpu_seconds=round(cpu, 1), jobs=args.jobs, resumed=bool(args.resume))
    if args.plot:
        plot(result.pop("_curves"), args.plot, settings)
    else:
        result.pop("_curves")
    markdown = table(result)
    if args.table:
        args.table.write_text(markdown + "\n\nSeed 0 in the package's report:\n\n" + table3.strip() + "\n", "utf-8")
    print(markdown)
    print(table3.strip())
    ok = check(result, settings, args.quick)
    print(json.dumps(result, sort_keys=False))
    return 0 if ok else 1


def summarise(work: Path, seeds: Sequence[int], plan: Mapping[str, tuple[float, float]], settings: Settings,
              quick: bool) -> dict[str, Any]:
    rp = settings.proactive_reward
    out: dict[str, Any] = {"quick": quick, "seeds": list(seeds), "heldout_reward_r_p": rp, "arms": {},
                           "settings": asdict(settings), "_curves": {}}
    for arm, (arm_rp, learning_rate) in plan.items():
        per_seed, curves = [], []
        for seed in seeds:
            folder = work / f"seed{seed}"
            scores = heldout_scores(folder / "eval" / arm / "results", folder / "heldout", rp)
            per_seed.append({"seed": seed, **by_domain(scores), "scenarios": scores})
            curves.append(training_rewards(folder / "runs" / arm))
        heldout = {domain: {metric: spread([s[domain][metric] for s in per_seed]) for metric in METRICS}
                   for domain in ("all", "in_domain", "out_of_domain")}
        first, last = zip(*(rising(c) for c in curves))
        out["arms"][arm] = {"trained_r_p": arm_rp, "learning_rate": learning_rate, "heldout": heldout,
                            "training_reward_first_quarter": spread(first), "training_reward_last_quarter": spread(last),
                            "per_seed": per_seed}
        out["_curves"][arm] = curves
    return out


def check(result: dict[str, Any], settings: Settings, quick: bool) -> bool:
    """Record (and print) whether the run shows what the benchmark claims."""
    arms_ = result["arms"]
    rewards = [m["heldout"]["all"]["reward"]["mean"] for m in arms_.values()]
    finite = all(math.isfinite(r) for r in rewards)
    trained = arms_[f"r_p={settings.proactive_reward!r}"]
    gain = trained["heldout"]["all"]["reward"]["mean"] - arms_[CONTROL]["heldout"]["all"]["reward"]["mean"]
    checks: dict[str, Any] = {"finite_reward": finite, "reward_gain_vs_control": round(gain, 4)}
    if not quick:
        zero = arms_["r_p=0.0"]
        checks["gain_at_least_0.15"] = gain >= REQUIRED_GAIN
        checks["psr_above_r_p_0"] = trained["heldout"]["all"]["psr"]["mean"] > zero["heldout"]["all"]["psr"]["mean"]
        checks["training_reward_rises"] = (trained["training_reward_last_quarter"]["mean"]
                                           > trained["training_reward_first_quarter"]["mean"])
    result["checks"] = checks
    failed = [name for name, value in checks.items() if value is False]
    if failed:
        print(f"grpo_learning: NOT shown: {', '.join(failed)}", file=sys.stderr)
    return not failed


if __name__ == "__main__":
    sys.exit(main())
