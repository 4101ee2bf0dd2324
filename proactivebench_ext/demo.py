"""``python -m proactivebench_ext demo``: the benchmark end to end, in one command, on any CPU.

Runs exactly what a user runs on a GPU, only with models that need no download: one
``python -m lmms_eval`` subprocess per model (our tasks, the stock CLI, ``--log_samples``), then
the report (tables and plots) from the folders they wrote. Models: ``proactive_oracle`` (must
score 100 everywhere), ``proactive_random`` (shown beside its analytic expectation) and a tiny
randomly initialised LLaVA built locally and played through lmms-eval's unmodified ``llava_hf``.

Data: the embedded synthetic set, unless ``--data-dir`` names another one; the environment's
``PROACTIVEBENCH_DATA_DIR`` / ``PROACTIVEBENCH_DOWNLOAD`` are ignored so a demo never starts a
full-benchmark run by accident.

lmms-eval exits 0 when a run fails, so each run is judged by the results file it must write; a
missing one stops the demo with the log file to read.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .cli import command_parser
from .core.naming import SCENARIO_ACRONYMS
from .data.errors import DataError
from .data.layout import DATA_DIR_ENV, DOWNLOAD_ENV, embedded_data_dir
from .report.aggregate import DEFAULT_ITERATIONS, model_key
from .report.cli import write_report
from .report.paper import AVG
from .report.read import ReportError
from .report.viewer.site import write_site

if TYPE_CHECKING:
    from .report.aggregate import Report

TASKS = "proactive_*,proactivebench_reference"
VARIANTS = ("main", "reference")
NOISE_SIGMAS = 4.0  # random's score may stray this many standard deviations from its expectation
TINY_LLAVA = {"letters_only": 4, "init_range": 0.5, "seed": 1}  # answers with option letters: multi-turn episodes
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


class DemoError(RuntimeError):
    """A step of the demo failed; the message names the log or file to read."""


@dataclass(frozen=True)
class DemoModel:
    name: str
    backend: str  # lmms-eval --model
    model_args: str  # may contain {model_dir}
    extra_args: tuple[str, ...] = ()
    needs_tiny_llava: bool = False


MODELS: dict[str, DemoModel] = {
    "oracle": DemoModel("oracle", "proactive_oracle", ""),
    "random": DemoModel("random", "proactive_random", "seed=0"),
    "tiny": DemoModel("tiny", "llava_hf", "pretrained={model_dir},device_map=cpu,device=cpu",
                      ("--batch_size", "1"), needs_tiny_llava=True),
}


@dataclass(frozen=True)
class RunResult:
    model: DemoModel
    results_file: Path
    log: Path
    seconds: float


# -- running lmms-eval -----------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_EPISODES = re.compile(r"ProactiveBench episodes[^:]*:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+)")
_BUILDING = re.compile(r"Building contexts for (\S+) on rank")
_SCORED = re.compile(r"Postprocessed \d+ docs for ([^/\s]+)")


class Progress:
    """Turns lmms-eval's output into one status line: which task, how many episodes are done."""

    def __init__(self, name: str, stream: IO[str], *, every: float = 5.0) -> None:
        self.name, self.stream, self.every = name, stream, every
        self.tty = stream.isatty()
        self.start = time.monotonic()
        self.last: tuple[str, float] = ("", 0.0)  # (kind, when printed)
        self.width = 0
        self.tasks: list[str] = []
        self.scored: list[str] = []

    def feed(self, line: str) -> None:
        line = _ANSI.sub("", line)
        if match := _EPISODES.search(line):
            done, total = match.groups()
            self.show("episodes", f"episodes {done}/{total} of {len(self.tasks)} tasks, played in lockstep",
                      final=done == total)
        elif match := _BUILDING.search(line):
            self.tasks.append(match.group(1))
            self.show("requests", f"building requests: {match.group(1)} ({len(self.tasks)} tasks)")
        elif match := _SCORED.search(line):
            self.scored.append(match.group(1))
            self.show("scoring", f"scored {match.group(1)} ({len(self.scored)}/{len(self.tasks)} tasks)",
                      final=len(self.scored) == len(self.tasks))

    def show(self, kind: str, text: str, *, final: bool = False) -> None:
        now = time.monotonic()
        status = f"    {self.name}: {text} [{now - self.start:.0f} s]"
        if self.tty:
            self.stream.write("\r" + status.ljust(self.width))
            self.width = len(status)
        elif final or kind != self.last[0] or now - self.last[1] >= self.every:
            self.stream.write(status + "\n")
        else:
            return
        self.stream.flush()
        self.last = (kind, now)

    def close(self) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.stream.flush()


def lmms_eval_command(model: DemoModel, output_path: Path, *, model_dir: Path | None, limit: int | None) -> list[str]:
    command = [sys.executable, "-m", "lmms_eval", "--model", model.backend]
    if model.model_args:
        command += ["--model_args", model.model_args.format(model_dir=model_dir)]
    command += [*model.extra_args, "--tasks", TASKS, "--log_samples", "--output_path", str(output_path)]
    if limit is not None:
        command += ["--limit", str(limit)]
    return command


def demo_env(data_dir: Path | None) -> dict[str, str]:
    """The subprocesses' environment: offline, and the chosen data (embedded unless given)."""
    env = {key: value for key, value in os.environ.items() if key not in (DATA_DIR_ENV, DOWNLOAD_ENV)}
    for key, value in OFFLINE_ENV.items():
        env.setdefault(key, value)
    if data_dir is not None:
        env[DATA_DIR_ENV] = str(data_dir)
    return env


def stream_process(command: Sequence[str], log: Path, env: dict[str, str], cwd: Path,
                   on_line: Callable[[str], None]) -> int:
    """Run ``command`` with stdout+stderr going to ``log`` (after the command itself, its first line);
    each line, including tqdm's ``\\r``-separated updates, also goes to ``on_line``."""
    with log.open("wb") as sink, subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        sink.write(f"$ {shlex.join(command)}\n".encode())
        pending = b""
        while chunk := proc.stdout.read1(65536):
            sink.write(chunk)
            sink.flush()
            *lines, pending = re.split(rb"[\r\n]", pending + chunk)
            for line in lines:
                on_line(line.decode("utf-8", "replace"))
        if pending:
            on_line(pending.decode("utf-8", "replace"))
        return proc.wait()


def run_model(model: DemoModel, command: Sequence[str], run_dir: Path, env: dict[str, str], *,
              stream: IO[str]) -> RunResult:
    """One lmms-eval run, judged by the results file it must write (it exits 0 on failure)."""
    shutil.rmtree(run_dir / "results", ignore_errors=True)  # a rerun must not pass on an old results file
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "lmms_eval.log"
    print(f"  {model.name}: lmms-eval --model {model.backend} started; log: {log}", file=stream, flush=True)
    progress = Progress(model.name, stream)
    start = time.monotonic()
    try:
        code = stream_process(command, log, env, run_dir, progress.feed)
    finally:
        progress.close()
    seconds = time.monotonic() - start
    results = sorted(run_dir.rglob("*_results.json"))
    if code != 0 or len(results) != 1:
        what = f"exit code {code}" if code != 0 else f"{len(results)} results files under {run_dir} (expected 1)"
        raise DemoError(f"lmms-eval run of {model.name} ({model.backend}) failed: {what}. Read {log}; its first "
                        "line is the command: rerun it with --verbosity DEBUG if the log shows no traceback")
    print(f"  {model.name}: done in {seconds:.0f} s; results: {results[0]}", file=stream, flush=True)
    return RunResult(model, results[0], log, seconds)


def build_tiny_llava(directory: Path, env: dict[str, str], *, stream: IO[str]) -> Path:
    """Build the tiny LLaVA in a subprocess (keeps torch out of this process; its chatter goes to a log)."""
    if (directory / "config.json").is_file():
        print(f"  tiny: reusing the tiny LLaVA in {directory}", file=stream, flush=True)
        return directory
    log = directory.with_name(directory.name + ".log")
    code = ("from proactivebench_ext.testing.tiny_models import build_tiny_llava; "
            f"build_tiny_llava({str(directory)!r}, **{TINY_LLAVA!r})")
    start = time.monotonic()
    status = stream_process([sys.executable, "-c", code], log, env, directory.parent, lambda line: None)
    if status != 0 or not (directory / "config.json").is_file():
        raise DemoError(f"building the tiny LLaVA failed (exit code {status}); read {log}. It needs torch and "
                        "transformers: run `bash install.sh`, or drop `tiny` from --models")
    print(f"  tiny: built a random tiny LLaVA in {directory} ({time.monotonic() - start:.0f} s)", file=stream,
          flush=True)
    return directory


# -- what the scores should be ---------------------------------------------------------------------
@dataclass(frozen=True)
class Expectation:
    """Expected mean-over-scenarios accuracy (%) of the random model and its standard deviation."""

    acc: float
    sigma: float

    def consistent(self, observed: float) -> bool:
        return abs(observed - self.acc) <= NOISE_SIGMAS * self.sigma + 1e-6


def random_expectation(variant: str, *, limit: int | None, data_dir: Path) -> Expectation:
    """What ``proactive_random`` should score: each episode's exact success probability, averaged
    per scenario and then over scenarios, as lmms-eval's group does."""
    from .core.policies import random_success_probability
    from .lmms.hooks import doc_rows, episode_from_doc

    means, variances = [], []
    for acronym in SCENARIO_ACRONYMS:
        rows = doc_rows(acronym, variant, str(data_dir))[:limit]
        probabilities = [random_success_probability(episode_from_doc(row)) for row in rows]
        means.append(100 * sum(probabilities) / len(probabilities))
        variances.append(sum(p * (1 - p) for p in probabilities) * (100 / len(probabilities)) ** 2)
    count = len(SCENARIO_ACRONYMS)
    return Expectation(sum(means) / count, math.sqrt(sum(variances)) / count)


# -- summary -----------------------------------------------------------------------------------------
def _metric(report: Report, run: RunResult, variant: str, metric: str) -> float | None:
    """The run's seven-scenario mean; the demo's runs are synthetic, so their row key says so (report.model_key)."""
    logged = next((r for r in report.runs if r.results_file == run.results_file), None)
    for result in logged.tasks.values() if logged else ():
        cell = report.cell(model_key(logged, result.synthetic), variant, AVG)
        if cell is not None and metric in cell.metrics:
            return cell.metrics[metric]
    return None


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary(report: Report, runs: Sequence[RunResult], expected: dict[str, Expectation]) -> list[str]:
    """The terminal table: per model, acc and psr averaged over the seven scenarios, and reference acc."""
    header = f"{'model':<10} {'lmms-eval model':<18} {'acc avg':>8} {'psr avg':>8} {'ref acc':>8}  {'time':>6}"
    lines = [header, "-" * len(header)]
    for run in runs:
        lines.append(f"{run.model.name:<10} {run.model.backend:<18} {_fmt(_metric(report, run, 'main', 'acc')):>8} "
                     f"{_fmt(_metric(report, run, 'main', 'psr'), 2):>8} "
                     f"{_fmt(_metric(report, run, 'reference', 'acc')):>8}  {run.seconds:>5.0f}s")
        if run.model.name == "random" and expected:
            main, ref = expected["main"], expected["reference"]
            lines.append(f"{'':<10} {'expected (exact)':<18} {main.acc:>8.1f} {'':>8} {ref.acc:>8.1f}   "
                         f"± {main.sigma:.1f} / {ref.sigma:.1f} (1 sd)")
    return lines


def checks(report: Report, runs: Sequence[RunResult], expected: dict[str, Expectation]) -> list[str]:
    """Problems with the baselines' scores: each one means the pipeline is broken, not a model."""
    problems = []
    for run in runs:
        if run.model.name == "oracle":
            for (key, variant, column), cell in sorted(report.cells.items()):
                if key.startswith(f"{run.model.backend}:") and cell.metrics.get("acc") != 100.0:
                    problems.append(f"oracle {variant} {column}: acc {cell.metrics.get('acc')} != 100 "
                                    f"({run.results_file}; episodes in the samples files next to it)")
        if run.model.name == "random":
            for variant, expectation in expected.items():
                observed = _metric(report, run, variant, "acc")
                if observed is None or not expectation.consistent(observed):
                    problems.append(f"random {variant} acc {observed} is more than {NOISE_SIGMAS:g} sd from its "
                                    f"expectation {expectation.acc:.1f} ± {expectation.sigma:.1f} "
                                    f"({run.results_file})")
    return problems


# -- command line ------------------------------------------------------------------------------------
def parse_models(text: str) -> list[DemoModel]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model {', '.join(unknown) or '(none)'}; "
                                         f"choose from {','.join(MODELS)}")
    return [MODELS[name] for name in dict.fromkeys(names)]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _can_plot() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("demo", __doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo"),
                        help="where the lmms-eval runs, the tiny model and the report go (default: out/demo)")
    parser.add_argument("--limit", type=positive_int, help="episodes per task (lmms-eval --limit); default: all")
    parser.add_argument("--models", type=parse_models, default=parse_models(",".join(MODELS)),
                        help=f"comma-separated, from {','.join(MODELS)} (default: all)")
    parser.add_argument("--data-dir", type=Path,
                        help="a data folder in the released layout instead of the embedded set")
    parser.add_argument("--bootstrap", type=positive_int, default=DEFAULT_ITERATIONS,
                        help="bootstrap resamples per report cell")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    data_dir: Path | None = args.data_dir.resolve() if args.data_dir else None
    stream = sys.stdout
    started = time.monotonic()

    ignored = [key for key in (DATA_DIR_ENV, DOWNLOAD_ENV) if os.environ.get(key)]
    print(f"ProactiveBench demo: {', '.join(m.name for m in args.models)} on "
          f"{data_dir or f'the embedded synthetic set ({embedded_data_dir()})'}, tasks {TASKS}"
          f"{f', --limit {args.limit}' if args.limit else ''}; output in {out}", file=stream)
    if ignored and data_dir is None:
        print(f"  note: {' and '.join(ignored)} ignored by the demo (pass --data-dir to use other data)", file=stream)
    env = demo_env(data_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        model_dir = None
        if any(model.needs_tiny_llava for model in args.models):
            model_dir = build_tiny_llava(out / "tiny_llava", env, stream=stream)
        runs = []
        for number, model in enumerate(args.models, 1):
            print(f"[{number}/{len(args.models)}] {model.name}", file=stream, flush=True)
            run_dir = out / "runs" / model.name
            command = lmms_eval_command(model, run_dir / "results", model_dir=model_dir, limit=args.limit)
            runs.append(run_model(model, command, run_dir, env, stream=stream))

        plots = _can_plot()
        if not plots:
            print("  warning: matplotlib is not installed, so the report has no plots: "
                  "`pip install matplotlib` (bash install.sh installs it)", file=sys.stderr)
        try:
            report = write_report([run.results_file for run in runs], out / "report", iterations=args.bootstrap,
                                  plots=plots)
        except ReportError as error:
            raise DemoError(f"writing the report failed: {error}") from None
        try:  # the episodes behind the report, turn by turn (python -m proactivebench_ext view)
            write_site([run.results_file for run in runs], out / "viewer")
        except (ReportError, DataError) as error:
            raise DemoError(f"writing the episode viewer failed: {error}") from None
        expected = ({variant: random_expectation(variant, limit=args.limit, data_dir=data_dir or embedded_data_dir())
                     for variant in VARIANTS}
                    if any(run.model.name == "random" for run in runs) else {})
    except DemoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    table = summary(report, runs, expected)
    (out / "summary.txt").write_text("\n".join(table) + "\n", "utf-8")
    print("", *table, "", sep="\n", file=stream)
    print(f"report: {out / 'report' / 'report.md'}", file=stream)
    print(f"episodes: {out / 'viewer' / 'index.html'}", file=stream)
    print(f"demo finished in {time.monotonic() - started:.0f} s", file=stream)
    problems = checks(report, runs, expected)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0

