"""Prompt snapshots of the ablation tasks: turns 1 and 2 exactly as the model gets them.

    pytest tests/unit/test_ablation_tasks.py                      # check tests/snapshots/*.json
    pytest tests/unit/test_ablation_tasks.py --update-snapshots   # rewrite them after a reviewed change
    python -m tests.prompt_snapshots proactivebench_icl1_rod      # a snapshot as the worked example in docs/ablations.md

One JSON file per ablation task (every variant but ``main`` and ``reference``), played on the
embedded synthetic set with the variant's default settings: the first sample whose episode has a
second turn after answering the first accepted request. Each turn holds the exact text
``doc_to_text`` returns (as ``text_lines``: split on "\\n", so diffs stay readable; join them with
"\\n" to get it back) and the request's images in order (path relative to the data folder, crop
box, short-edge resize). A changed snapshot means a changed prompt: review the diff, then rewrite.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from proactivebench_ext.core.variants import all_tasks
from proactivebench_ext.lmms import hooks

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
PLAIN_VARIANTS = ("main", "reference")


def ablation_tasks() -> dict[str, tuple[str, str]]:
    return {task: spec for task, spec in all_tasks().items() if spec[0] not in PLAIN_VARIANTS}


def _turn(doc: dict[str, Any], number: int, text: str, answers: list[str]) -> dict[str, Any]:
    request = hooks.request_for(doc, hooks.replay(doc, answers))
    if request.text != text:
        raise AssertionError(f"{doc['variant']} {doc['scenario']}: doc_to_text and request_for disagree at turn {number}")
    images = [{"path": os.path.relpath(ref.path, doc["data_dir"]), "crop": list(ref.crop) if ref.crop else None,
               "short_edge": ref.short_edge} for ref in request.images]
    return {"turn": number, "images": images, "text_lines": text.split("\n")}


def snapshot(task: str) -> dict[str, Any]:
    """Turns 1 and 2 of the task's first sample that reaches a second turn."""
    variant, acronym = ablation_tasks()[task]
    for doc in hooks.doc_rows(acronym, variant):
        episode = hooks.episode_from_doc(doc)
        requests = episode.correct_now()[0]
        if not requests:
            continue
        answer = requests[0]
        first = hooks.doc_to_text(doc)
        step = hooks.doc_to_text(doc, previous_output=[answer], round_idx=1, previous_round_info=None)
        if step[2]:  # the episode ended after the first answer
            continue
        return {
            "task": task,
            "sample_id": doc["sample_id"],
            "settings": hooks.settings_of(doc),
            "icl_examples": [example_id for example_id, _ in hooks.examples_for(doc)],
            "turn_1_answer": answer,
            "turns": [_turn(doc, 1, first, []), _turn(doc, 2, step[1], [answer])],
        }
    raise RuntimeError(f"{task}: no embedded sample reaches a second turn")


def expected_files() -> dict[Path, str]:
    return {SNAPSHOTS / f"{task}.json": json.dumps(snapshot(task), indent=1, ensure_ascii=False) + "\n"
            for task in ablation_tasks()}


def render(task: str) -> str:
    """A snapshot as the worked example of tasks/README.md: each turn's images, then its exact text."""
    data = json.loads((SNAPSHOTS / f"{task}.json").read_text("utf-8"))
    out = [f"`{task}`, sample {data['sample_id']}"
           + (f", settings {json.dumps(data['settings'])}" if data["settings"] else "")
           + (f", examples {data['icl_examples']}" if data["icl_examples"] else "")
           + f"; answer at turn 1: `{data['turn_1_answer']}`\n"]
    for turn in data["turns"]:
        out.append(f"Turn {turn['turn']}, images:\n")
        for number, image in enumerate(turn["images"], 1):
            crop = f"crop {image['crop']}" if image["crop"] else "no crop"
            size = f"short edge {image['short_edge']} px" if image["short_edge"] else "original size"
            out.append(f"{number}. `{image['path']}` ({crop}, {size})\n")
        out.append("\n```text\n" + "\n".join(turn["text_lines"]) + "\n```\n\n")
    return "".join(out)


def stale_files() -> list[Path]:
    files = expected_files()
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text("utf-8") != text]
    stale += [path for path in SNAPSHOTS.glob("*.json") if path not in files]
    return stale


def write_files() -> list[str]:
    """Rewrite every stale snapshot and remove orphans; what changed, by file name."""
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    files = expected_files()
    changed = []
    for path in SNAPSHOTS.glob("*.json"):
        if path not in files:
            path.unlink()
            changed.append(f"removed {path.name}")
    for path, text in files.items():
        if not path.is_file() or path.read_text("utf-8") != text:
            path.write_text(text, "utf-8")
            changed.append(f"wrote {path.name}")
    return changed


if __name__ == "__main__":
    print(render(sys.argv[1]), end="")
