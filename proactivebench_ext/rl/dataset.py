"""``python -m proactivebench_ext rl-data DATA_DIR --out DIR``: single-turn GRPO training states.

As in the paper (§5, Appendix C), each training example is one prompt-image pair: one state of an
episode of the train split, shown exactly as the evaluation shows that turn (the main variant's
multiple-choice prompt and image, COCO crops applied), in TRL's conversational vision format:
``prompt`` (one user message), ``image``, and the columns the reward replays the state from
(``scenario``, ``entry`` as JSON text, ``answers`` that lead to the state). One state is drawn per
train entry (the released train split has 26,879 rows for ~27k examples).

States are *ambiguous* when the benchmark accepts a request there (asking is a right move: QD's
unfinished sketch, a COCO crop that can still widen) and *unambiguous* when it accepts none, so
only the category earns a reward (QD's finished drawing, COCO's widest crop). The share of
ambiguous states is ``--ambiguous-fraction`` (default 0.5; the mix the paper used is not stated in
the text this project has); the realised split is printed and stored in ``rl_data.json``.

The released train split's file layout has not been seen here: :func:`read_train_split` (the one
function that knows it) reads the test layout, ``<Dataset>_preprocessed.jsonl`` next to the image
folders. An entry that shows the images of a test sample is refused (:func:`refuse_test_samples`):
samples are compared by what identifies them, their image files, never by id, since the two splits
number their rows independently.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cli import command_parser
from ..core.engine import Episode, reachable_episodes
from ..core.naming import MAIN_VARIANT, acronym_of
from ..core.scenarios import InvalidEntryError
from ..core.variants import get_variant
from ..data.errors import DataError, DataNotFoundError
from ..data.images import load_prompt_images
from ..data.layout import data_folder, is_dropped, iter_jsonl, jsonl_path, load_test_set, resolve_data_dir

DEFAULT_SCENARIOS = ("QD", "COCO")  # the paper trains on QuickDraw and COCO only
DEFAULT_AMBIGUOUS_FRACTION = 0.5
INFO_FILE = "rl_data.json"
INFO_FORMAT = "proactivebench_rl_data/1"
FORMATS = ("disk", "parquet")
PARQUET_FILE = "train.parquet"
COLUMNS = ("prompt", "image", "scenario", "sample_id", "entry", "answers", "turn", "ambiguous")


@dataclass(frozen=True)
class TrainingState:
    """One state of an episode: the answers that reach it and whether asking is accepted there."""

    scenario: str
    entry: Mapping[str, Any]
    answers: tuple[str, ...]
    turn: int
    ambiguous: bool


@dataclass(frozen=True)
class ScenarioSummary:
    scenario: str
    source: Path
    entries: int
    ambiguous: int
    unambiguous: int
    fallbacks: int  # entries without a state of the kind they were assigned
    skipped: tuple[str, ...]  # entries left out with --skip-invalid, and why


# -- the train split -------------------------------------------------------------------------------
def train_folder(data_dir: Path) -> Path:
    """The train folder, by the loader's data-folder rule (its parent or a child is refused with the path to use)."""
    return data_folder(data_dir)


def read_train_split(scenario: str, data_dir: Path) -> tuple[Path, list[dict[str, Any]]]:
    """The train entries of one scenario. The only place that knows the train split's file layout.

    Read as the test layout (``<Dataset>_preprocessed.jsonl`` next to the extracted image folders,
    image templates relative to that folder), since the released train split's own layout has not
    been seen here: if it differs, adapt this function and nothing else. Rows the benchmark drops
    (VSOD without strong occlusions) are dropped here too.
    """
    path = jsonl_path(scenario, data_dir)
    if not path.is_file():
        raise DataNotFoundError(f"{path} not found: {data_dir} has no {path.name} for {acronym_of(scenario)}; point "
                                "DATA_DIR at the train folder of the released data (or `python -m proactivebench_ext "
                                "synth OUT --split train` for a synthetic one)")
    entries = []
    for row in iter_jsonl(path):
        if row.entry is None:
            raise DataError(f"{path}:{row.line}: {row.error}; re-download or re-extract the file")
        if "id" not in row.entry:
            raise DataError(f"{path}:{row.line}: row has no 'id' field, so it cannot be checked against the test set")
        if not is_dropped(row.entry):
            entries.append(row.entry)
    return path, entries


def sample_identity(entry: Mapping[str, Any]) -> str:
    """What identifies a sample across splits: its image files (the image template, as a POSIX path).

    Ids are row counters that each split numbers on its own, so they cannot tell a leak; two rows
    showing the same image files are the same sample whatever their ids (COCO's crops of one photo
    included: the photo is the sample).
    """
    template = str(entry.get("image_template", "")).replace("\\", "/")
    while template.startswith("./"):
        template = template[2:]
    return template


def default_test_dir(train_dir: Path) -> Path:
    """The test split the evaluation reads: ``test/`` beside the train folder (the released layout),
    else the loader's own choice ($PROACTIVEBENCH_DATA_DIR, else the embedded set)."""
    sibling = train_dir.resolve().parent / "test"
    if sibling.is_dir() and sibling.resolve() != train_dir.resolve():
        return sibling
    return resolve_data_dir()


def test_identities(scenario: str, test_dir: Path) -> dict[str, Any]:
    """``identity -> test id`` of one scenario's test samples; empty when ``test_dir`` has none."""
    try:
        entries = load_test_set(scenario, test_dir)
    except DataNotFoundError:
        return {}
    return {sample_identity(entry): entry.get("id") for entry in entries}


def refuse_test_samples(scenario: str, path: Path, entries: Sequence[Mapping[str, Any]], test_dir: Path) -> int:
    """Raise if any entry shows the images of a test sample in ``test_dir``; returns how many test
    samples were compared (0: the test split has none of this scenario)."""
    identities = test_identities(scenario, test_dir)
    clashes = [f"id {entry.get('id')} = test id {identities[key]} ({key})" for entry in entries
               if (key := sample_identity(entry)) in identities]
    if clashes:
        raise DataError(f"{path}: {len(clashes)} of {len(entries)} {acronym_of(scenario)} entries show the images of "
                        f"test samples in {test_dir}, e.g. {clashes[:3]}; training on them would leak the test set. "
                        "Point DATA_DIR at the train split, not test/ (or --test-dir at the test split you evaluate on)")
    return len(identities)


# -- states ----------------------------------------------------------------------------------------
def _main_episode(scenario: str, entry: Mapping[str, Any], data_dir: str) -> Episode:
    variant = get_variant(MAIN_VARIANT)
    return variant.episode(scenario, entry, data_dir, variant.resolve_settings())


def training_states(scenario: str, entry: Mapping[str, Any], data_dir: str = "") -> list[TrainingState]:
    """Every distinct state an episode of ``entry`` can reach by accepted requests, shortest first."""
    states = []
    for episode in reachable_episodes(_main_episode(scenario, entry, data_dir)):
        accepted, _ = episode.correct_now()
        answers = tuple(outcome.answer for _, outcome in episode.history)
        states.append(TrainingState(acronym_of(scenario), entry, answers, episode.observe().index, bool(accepted)))
    return sorted(states, key=lambda state: (len(state.answers), state.answers))


def choose_states(scenario: str, entries: Sequence[Mapping[str, Any]], *, ambiguous_fraction: float,
                  seed: int) -> tuple[list[TrainingState], int, list[str]]:
    """One state per entry: ``round(fraction * n)`` entries (a seeded draw) give an ambiguous state,
    the others an unambiguous one, each picked uniformly among the entry's states of that kind.

    Returns the states, how many entries had no state of their assigned kind (they give the other
    kind), and the entries that cannot be played (``"<id>: <why>"``).
    """
    order = list(range(len(entries)))
    random.Random(f"{seed}:rl-data:{scenario}").shuffle(order)
    wants_ambiguous = set(order[: round(ambiguous_fraction * len(entries))])
    chosen, fallbacks, invalid = [], 0, []
    for index, entry in enumerate(entries):
        try:
            states = training_states(scenario, entry)
        except InvalidEntryError as error:
            invalid.append(f"{entry.get('id')}: {error}")
            continue
        wanted = [s for s in states if s.ambiguous == (index in wants_ambiguous)]
        if not wanted:
            fallbacks += 1
            wanted = states
        chosen.append(random.Random(f"{seed}:rl-state:{scenario}:{entry.get('id')}").choice(wanted))
    return chosen, fallbacks, invalid


def training_row(state: TrainingState, data_dir: str) -> dict[str, Any]:
    """The example of one state: the evaluation's own request at that turn, and the reward's columns."""
    episode = _main_episode(state.scenario, state.entry, data_dir)
    for answer in state.answers:
        episode.answer(answer)
    request = get_variant(MAIN_VARIANT).prompt(episode)
    (image,) = load_prompt_images(request)  # the main variant sends one image per turn
    return {
        "prompt": [{"role": "user", "content": request.text}],
        "image": image,
        "scenario": state.scenario,
        "sample_id": str(state.entry.get("id")),
        "entry": json.dumps(state.entry, ensure_ascii=False),
        "answers": list(state.answers),
        "turn": state.turn,
        "ambiguous": state.ambiguous,
    }


def features() -> Any:
    from datasets import Features, Image, List, Value

    return Features({
        "prompt": List({"role": Value("string"), "content": Value("string")}),
        "image": Image(),
        "scenario": Value("string"),
        "sample_id": Value("string"),
        "entry": Value("string"),
        "answers": List(Value("string")),
        "turn": Value("int32"),
        "ambiguous": Value("bool"),
    })


# -- writing ---------------------------------------------------------------------------------------
def _rows(states: Sequence[TrainingState], data_dir: str) -> Iterator[dict[str, Any]]:
    for state in states:
        yield training_row(state, data_dir)


def build(data_dir: str | Path, out: str | Path, *, scenarios: Sequence[str] = DEFAULT_SCENARIOS,
          ambiguous_fraction: float = DEFAULT_AMBIGUOUS_FRACTION, seed: int = 0, output_format: str = "disk",
          limit: int | None = None, skip_invalid: bool = False, force: bool = False,
          test_dir: str | Path | None = None) -> list[ScenarioSummary]:
    """Write the training set of ``scenarios`` from the train split in ``data_dir`` to ``out``.

    Entries are checked against the test split in ``test_dir`` (default: :func:`default_test_dir`)."""
    import datasets

    if not 0.0 <= ambiguous_fraction <= 1.0:
        raise ValueError(f"ambiguous_fraction must be between 0 and 1, got {ambiguous_fraction}")
    if output_format not in FORMATS:
        raise ValueError(f"output_format must be one of {FORMATS}, got {output_format!r}")
    source = train_folder(Path(data_dir))
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; pass --force to replace it")
        shutil.rmtree(out)
    test_split = Path(test_dir) if test_dir is not None else default_test_dir(source)
    all_states: list[TrainingState] = []
    summaries = []
    compared: dict[str, int] = {}
    for name in scenarios:
        scenario = acronym_of(name)
        path, entries = read_train_split(scenario, source)
        compared[scenario] = refuse_test_samples(scenario, path, entries, test_split)
        entries = entries[:limit] if limit else entries
        states, fallbacks, invalid = choose_states(scenario, entries, ambiguous_fraction=ambiguous_fraction, seed=seed)
        if invalid and not skip_invalid:
            raise DataError(f"{path}: {len(invalid)} {scenario} entries cannot be played, e.g. {invalid[:3]}; fix them, "
                            "or pass --skip-invalid to leave them out")
        ambiguous = sum(state.ambiguous for state in states)
        summaries.append(ScenarioSummary(scenario, path, len(states), ambiguous, len(states) - ambiguous, fallbacks,
                                         tuple(invalid)))
        all_states += states
    if not all_states:
        raise DataError(f"{source}: no training entries in {', '.join(scenarios)}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-cache-") as cache:
        try:
            dataset = datasets.Dataset.from_generator(_rows, features=features(), cache_dir=cache,
                                                      gen_kwargs={"states": all_states, "data_dir": str(source)})
        except datasets.exceptions.DatasetGenerationError as error:  # a missing image: say which, not "an error"
            if isinstance(error.__cause__, DataError):
                raise error.__cause__ from None
            raise
        if output_format == "disk":
            dataset.save_to_disk(str(out))
        else:
            dataset.to_parquet(str(out / PARQUET_FILE))
    info = {
        "format": INFO_FORMAT, "source": str(source), "seed": seed, "ambiguous_fraction": ambiguous_fraction,
        "output_format": output_format, "rows": len(all_states),
        "leak_check": {"test_dir": str(test_split), "compared_by": "image files (image_template)",
                       "test_samples": compared},
        "scenarios": {s.scenario: {"entries": s.entries, "ambiguous": s.ambiguous, "unambiguous": s.unambiguous,
                                   "fallbacks": s.fallbacks, "skipped": list(s.skipped)} for s in summaries},
    }
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", "utf-8")
    return summaries


def load_training_data(path: str | Path) -> Any:
    """The ``datasets.Dataset`` written by :func:`build` (either format); raises naming the fix."""
    import datasets

    path = Path(path)
    if (path / "state.json").is_file():
        dataset = datasets.load_from_disk(str(path))
    else:
        files = [path] if path.suffix == ".parquet" else sorted(path.glob("*.parquet"))
        if not files:
            raise DataNotFoundError(f"{path}: no training data (neither a datasets folder nor parquet files); write one "
                                    "with `python -m proactivebench_ext rl-data DATA_DIR --out DIR`")
        dataset = datasets.load_dataset("parquet", data_files=[str(f) for f in files], split="train")
    missing = [column for column in ("prompt", "image", "scenario", "entry", "answers") if column not in dataset.column_names]
    if missing:
        raise DataError(f"{path}: the training data lacks the columns {missing}; rewrite it with rl-data")
    return dataset


def summary_lines(summaries: Sequence[ScenarioSummary], ambiguous_fraction: float) -> list[str]:
    lines = []
    for s in summaries:
        line = f"  {s.scenario}: {s.entries} examples from {s.source} ({s.ambiguous} ambiguous, {s.unambiguous} unambiguous)"
        if s.fallbacks:
            line += f"; {s.fallbacks} entries had only the other kind of state"
        if s.skipped:
            line += f"; {len(s.skipped)} invalid entries left out"
        lines.append(line)
    total = sum(s.entries for s in summaries)
    ambiguous = sum(s.ambiguous for s in summaries)
    lines.append(f"  total: {total} examples, ambiguous/unambiguous {ambiguous}/{total - ambiguous} = "
                 f"{ambiguous / total:.2f} ambiguous (asked {ambiguous_fraction:.2f})")
    return lines


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("rl-data", __doc__)
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="the train split (or a folder holding train/)")
    parser.add_argument("--out", type=Path, required=True, help="where the dataset goes")
    parser.add_argument("--scenarios", default=",".join(DEFAULT_SCENARIOS),
                        help="comma-separated scenarios (default: the paper's QD,COCO)")
    parser.add_argument("--ambiguous-fraction", type=_fraction, default=DEFAULT_AMBIGUOUS_FRACTION,
                        help="share of examples in ambiguous states, where asking is accepted (default 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="disk",
                        help="disk: datasets.save_to_disk (default); parquet: OUT/train.parquet")
    parser.add_argument("--limit", type=int, help="entries per scenario (for quick runs)")
    parser.add_argument("--skip-invalid", action="store_true", help="leave out entries the engine cannot play")
    parser.add_argument("--force", action="store_true", help="replace OUT")
    parser.add_argument("--test-dir", type=Path, help="the test split to check for leaks, by image files (default: "
                        "test/ beside DATA_DIR, else $PROACTIVEBENCH_DATA_DIR, else the embedded set)")
    args = parser.parse_args(argv)
    try:
        scenarios = [acronym_of(name.strip()) for name in args.scenarios.split(",") if name.strip()]
        summaries = build(args.data_dir, args.out, scenarios=scenarios, ambiguous_fraction=args.ambiguous_fraction,
                          seed=args.seed, output_format=args.format, limit=args.limit, skip_invalid=args.skip_invalid,
                          force=args.force, test_dir=args.test_dir)
    except (DataError, FileExistsError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    leak_check = json.loads((args.out / INFO_FILE).read_text("utf-8"))["leak_check"]
    print("\n".join(["rl-data:", *summary_lines(summaries, args.ambiguous_fraction),
                     f"  no sample shows the images of a test sample in {leak_check['test_dir']} "
                     f"({sum(leak_check['test_samples'].values())} compared)",
                     f"wrote {args.out} ({args.format}; {INFO_FILE} has these counts)"]))
    return 0
