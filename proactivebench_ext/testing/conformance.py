"""Conformance runner: replay golden traces of the reference implementation through our API.

    python -m proactivebench_ext conformance DIR

``DIR`` holds any of ``mcqa.jsonl``, ``oeg.jsonl``, ``icl.jsonl`` in the golden format (see
``tests/golden/README.md``). Prints matched/total per file and per dataset, the first differing
field of each failing record, and exits 1 on any mismatch.

Where the reference raised, we match by design rather than by crashing: an entry it could not
construct or show at all must raise :class:`InvalidEntryError`; an answer (or the state it led
to) that made it raise must end our episode as a failure with ``stats["error"]``, every earlier
turn matching.
"""

from __future__ import annotations

import json
import math
import random
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..cli import command_parser
from ..core.engine import Episode, Turn, new_episode
from ..core.icl import icl_example
from ..core.scenarios import InvalidEntryError, resolve_scenario
from ..judge.prompts import judge_messages, parse_judge_output

TURN_FIELDS = ("image_path", "prompt", "options", "mcqa_prompt", "crop")


class Mismatch(Exception):
    """The first field where our replay differs from the golden record."""


def _same(ours: Any, golden: Any) -> bool:
    """Exact equality, numbers compared numerically (golden JSON keeps 269 and 269.0 apart)."""
    if isinstance(golden, (list, tuple)) and isinstance(ours, (list, tuple)):
        return len(ours) == len(golden) and all(_same(a, b) for a, b in zip(ours, golden))
    if isinstance(golden, dict) and isinstance(ours, dict):
        return ours.keys() == golden.keys() and all(_same(ours[k], golden[k]) for k in golden)
    if isinstance(golden, bool) or isinstance(ours, bool):
        return ours is golden
    if isinstance(golden, (int, float)) and isinstance(ours, (int, float)):
        return ours == golden or (math.isnan(ours) and math.isnan(golden))
    return ours == golden


def _expect(where: str, ours: Any, golden: Any) -> None:
    if isinstance(golden, dict) and isinstance(ours, dict) and ours.keys() == golden.keys():
        for key in golden:  # name the first differing key, not the whole object
            _expect(f"{where}.{key}", ours[key], golden[key])
        return
    if not _same(ours, golden):
        raise Mismatch(f"{where}: expected {golden!r}, got {ours!r}")


def _compare_turn(where: str, turn: Turn, golden: dict[str, Any]) -> None:
    shown = {"image_path": turn.relative_image_path, "prompt": turn.prompt, "options": list(turn.options),
             "mcqa_prompt": turn.mcqa_prompt, "crop": None if turn.crop is None else list(turn.crop)}
    for name in TURN_FIELDS:
        _expect(f"{where}.{name}", shown[name], golden[name])


def _expect_invalid(build: Callable[[], Any], where: str) -> None:
    try:
        build()
    except InvalidEntryError:
        return
    raise Mismatch(f"{where}: the reference raised here, we did not raise InvalidEntryError")


def check_mcqa(record: dict[str, Any]) -> None:
    flags, turns = record["flags"], record["turns"]

    def build() -> Episode:
        return new_episode(record["dataset"], record["entry"], hint=flags["hint"], reference=flags["reference"])

    if "answer" not in turns[0]:  # constructor or first get_state raised
        _expect_invalid(build, "turns[0]")
        return
    episode = build()
    for index, golden in enumerate(turns):
        where = f"turns[{index}]"
        if "answer" not in golden:  # the previous answer led to a state the reference could not show
            if not (episode.done and episode.error):
                raise Mismatch(f"{where}: the reference raised showing this turn; our episode should have ended with an error")
            return
        if episode.done:
            raise Mismatch(f"{where}: our episode ended early (stats {episode.stats})")
        _compare_turn(where, episode.observe(), golden)
        episode.answer(golden["answer"])
        if "error" in golden:
            if not (episode.done and episode.error and not episode.correct_prediction):
                raise Mismatch(f"{where}: the reference raised on this answer ({golden['error']}); "
                               "ours should end as a failure with an error")
            return
    if not episode.done:
        raise Mismatch(f"turns[{len(turns)}]: the reference stopped, our episode goes on")
    _expect("stats", episode.stats, record["stats"])


def check_icl(record: dict[str, Any]) -> None:
    flags = record["flags"]
    option_index = record.get("icl_option_index")
    if option_index is not None:  # our seeded draw must be the reference's global-random draw
        indices = list(set(i for i, o in enumerate(record["entry"]["options"])
                           if "cannot" not in o.lower() and "do not" not in o.lower()))
        _expect("icl_option_index (drawn from seed)", random.Random(record["seed"]).choice(indices), option_index)

    def build():
        return icl_example(record["dataset"], record["entry"], hint=flags["hint"], cot=flags["cot"], resize=flags["resize"],
                           reduce_steps=flags["reduce_icl_steps"], reference=flags["reference"],
                           rng=random.Random(record["seed"]))

    if "error" in record:
        try:
            build()
        except (InvalidEntryError, ValueError):
            return
        raise Mismatch("the reference raised building this example; we did not")
    steps, episode = build()
    _expect("len(steps)", len(steps), len(record["steps"]))
    for index, (step, golden) in enumerate(zip(steps, record["steps"])):
        _compare_turn(f"steps[{index}]", step.turn, golden)
        _expect(f"steps[{index}].generated_answer", step.generated_answer, golden["generated_answer"])
    _expect("stats", episode.stats, record["stats"])


def check_oeg(record: dict[str, Any]) -> None:
    build = lambda: new_episode(record["dataset"], record["entry"])  # noqa: E731
    if "error" in record:
        _expect_invalid(build, "entry")
        return
    episode = build()
    turn = episode.observe()
    _expect("prompt", turn.prompt, record["prompt"])
    valid = episode.open_ended_answers()
    _expect("valid_answers", valid, record["valid_answers"])
    _expect("judge_messages", judge_messages(turn.prompt, valid, record["generated_answer"]), record["judge_messages"])
    for index, judged in enumerate(record["judged"]):
        where = f"judged[{index}]"
        if "error" in judged:
            # The reference looks thresholds up by acronym only and raised KeyError on a full dataset
            # name once a parse reached that lookup; we accept both names, so it must resolve here.
            if not judged["error"].startswith("KeyError"):
                raise Mismatch(f"{where}: unexpected reference error {judged['error']}")
            if resolve_scenario(judged["dataset_arg"]).acronym != record["acronym"]:
                raise Mismatch(f"{where}: {judged['dataset_arg']!r} does not name {record['acronym']}")
            continue
        verdict = parse_judge_output(valid, judged["judge_output"], judged["dataset_arg"])
        _expect(f"{where}.parsed", verdict.scores(), judged["parsed"])


CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {"mcqa.jsonl": check_mcqa, "oeg.jsonl": check_oeg, "icl.jsonl": check_icl}


def _records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            if line.strip():
                yield line_number, json.loads(line)


def run(directory: Path, out=sys.stdout) -> bool:
    """Replay every golden file in ``directory``; True when every record matches."""
    all_ok, found = True, False
    for name, check in CHECKS.items():
        path = directory / name
        if not path.exists():
            continue
        found = True
        per_dataset: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        failures: list[str] = []
        for line_number, record in _records(path):
            tally = per_dataset[record["acronym"]]
            tally[1] += 1
            try:
                check(record)
                tally[0] += 1
            except Mismatch as mismatch:
                failures.append(f"  {name}:{line_number} {record['acronym']} {record.get('case')} "
                                f"{record.get('policy', '')}: {mismatch}")
        matched = sum(t[0] for t in per_dataset.values())
        total = sum(t[1] for t in per_dataset.values())
        print(f"{name}: {matched}/{total} matched", file=out)
        for acronym, (ok, count) in per_dataset.items():
            print(f"  {acronym:6s} {ok}/{count}", file=out)
        for failure in failures:
            print(failure, file=out)
        all_ok &= not failures
    if not found:
        print(f"no golden files ({', '.join(CHECKS)}) in {directory}", file=out)
        return False
    return all_ok


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("conformance", __doc__)
    parser.add_argument("directory", type=Path, help="folder with mcqa.jsonl / oeg.jsonl / icl.jsonl golden traces")
    args = parser.parse_args(argv)
    return 0 if run(args.directory) else 1


if __name__ == "__main__":
    sys.exit(main())
