"""The ablation tasks (hint, conversation history, in-context examples, random proactive options)
without running lmms-eval: the requests the hooks build (images, resizing, the current turn last),
prompt snapshots and the worked examples of docs/ablations.md, seeds and settings from the task YAML.
End-to-end runs of the same tasks: tests/integration/test_ablation_tasks.py.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from proactivebench_ext.core.ablations import HISTORY_HEADER, ICL_HEADER
from proactivebench_ext.core.naming import group_name
from proactivebench_ext.core.variants import VARIANTS, ablation_groups, all_tasks
from proactivebench_ext.lmms import hooks
from proactivebench_ext.lmms.baselines import parse_options
from tests import prompt_snapshots

REPO = Path(__file__).resolve().parents[2]
ABLATIONS = {task: spec for task, spec in all_tasks().items() if spec[0] not in ("main", "reference")}
GROUPS = ["proactivebench_hint", "proactivebench_history", "proactivebench_random", *ablation_groups()]
@cache
def docs(variant: str, acronym: str) -> tuple[dict[str, str], ...]:
    return tuple(hooks.doc_rows(acronym, variant))














# -- end to end ----------------------------------------------------------------------------------

def test_prompt_snapshots_are_up_to_date(update_snapshots, monkeypatch):
    monkeypatch.delenv(hooks.DATA_DIR_ENV, raising=False)  # snapshots are of the embedded set
    assert set(path.stem for path in prompt_snapshots.expected_files()) == set(ABLATIONS)
    if update_snapshots:
        prompt_snapshots.write_files()
    assert prompt_snapshots.stale_files() == [], "review the prompt change, then rerun with --update-snapshots"


def test_ablation_docs_worked_examples_are_the_snapshots():
    readme = (REPO / "docs" / "ablations.md").read_text("utf-8")
    shown = re.findall(r"^`(proactivebench_\w+)`, sample ", readme, flags=re.MULTILINE)
    kinds = {VARIANTS[ABLATIONS[task][0]].ablation or ABLATIONS[task][0] for task in shown}
    assert sorted(kinds) == ["hint", "history", "icl", "random"]
    for task in shown:
        assert prompt_snapshots.render(task) in readme, f"refresh the worked example of {task} in docs/ablations.md"


@pytest.mark.parametrize("task", sorted(ABLATIONS))
def test_requests_hold_the_variants_images_and_end_with_the_current_turn(task):
    variant_name, acronym = ABLATIONS[task]
    variant = VARIANTS[variant_name]
    snapshot = json.loads((REPO / "tests" / "snapshots" / f"{task}.json").read_text("utf-8"))
    first, second = ("\n".join(turn["text_lines"]) for turn in snapshot["turns"])
    doc = next(doc for doc in docs(variant_name, acronym) if doc["sample_id"] == snapshot["sample_id"])
    episode = hooks.episode_from_doc(doc)
    assert first.endswith(episode.observe().mcqa_prompt)
    assert parse_options(first) == list(episode.observe().options)
    episode.answer(snapshot["turn_1_answer"])
    assert second.endswith(episode.observe().mcqa_prompt)
    assert parse_options(second) == list(episode.observe().options)
    images = [[image["short_edge"] for image in turn["images"]] for turn in snapshot["turns"]]
    shots = variant.icl_shots
    if variant.prompt_mode == "history":
        assert images == [[None], [224, 224]] and second.startswith(HISTORY_HEADER)
        assert f"Answer: {snapshot['turn_1_answer']}\n" in second
    elif variant.prompt_mode == "icl":
        edge = {"ROD": 512, "MVP-N": 112}[acronym]
        assert images[0] == images[1] and images[0][-1] is None and set(images[0][:-1]) == {edge}
        assert len(images[0]) - 1 >= 2 * shots and first.startswith(ICL_HEADER)
        assert len(snapshot["icl_examples"]) == shots and snapshot["sample_id"] not in map(str, snapshot["icl_examples"])
        assert (episode.scenario.texts.cot_prompt in first) == variant.icl_cot
    else:  # hint, random options: one turn's image and its multiple-choice prompt, nothing more
        assert images == [[None], [None]] and first == hooks.episode_from_doc(doc).observe().mcqa_prompt
        if variant.episode_kwargs.get("hint"):
            assert episode.scenario.hint(episode.sample) in first
    # the images doc_to_visual hands the backend are the request's, loaded as listed
    loaded = hooks.doc_to_visual(doc)
    assert len(loaded) == len(snapshot["turns"][0]["images"])


def test_history_and_icl_images_are_resized_as_the_paper_does():
    doc = docs("history", "QD")[0]
    request = hooks.doc_to_text(doc, previous_output=[hooks.episode_from_doc(doc).correct_now()[0][0]], round_idx=1)
    images = request[0]
    assert len(images) == 2 and all(min(image.size) in (223, 224) for image in images)
    for variant, acronym, edge in (("icl1", "ROD", 512), ("icl3", "MVP-N", 112)):
        loaded = hooks.doc_to_visual(docs(variant, acronym)[0])
        assert all(min(image.size) in (edge - 1, edge) for image in loaded[:-1])


def test_reduce_steps_shows_first_and_last_mvpn_views():
    doc = docs("icl1", "MVP-N")[0]
    whole = hooks.request_for(doc, hooks.episode_from_doc(doc), {"reduce_steps": False})
    reduced = hooks.request_for(doc, hooks.episode_from_doc(doc), {"reduce_steps": True})
    assert len(reduced.images) == 3 < len(whole.images)
    assert "Example 1, step 3" not in reduced.text and "Example 1, step 3" in whole.text


def test_settings_come_from_the_task_yaml_and_typos_are_refused():
    random_doc, icl_doc = docs("random", "IN-C")[0], docs("icl1", "ROD")[0]
    assert hooks.settings_of(random_doc, {"default": {"seed": 1}, "seed": 1}) == {"seed": 1}
    assert hooks.settings_of(icl_doc, {"reduce_steps": "true"}) == {"seed": 0, "reduce_steps": True}
    with pytest.raises(ValueError, match="no setting 'sed'"):
        hooks.settings_of(random_doc, {"sed": 1})
    with pytest.raises(ValueError, match="must be a int"):
        hooks.settings_of(random_doc, {"seed": "one"})
    with pytest.raises(ValueError, match="no setting 'seed'"):
        hooks.settings_of(docs("hint", "ROD")[0], {"seed": 1})


def test_a_new_seed_redraws_options_moves_and_shots_and_scoring_replays_with_it():
    seeds = range(6)
    options = {tuple(hooks.episode_from_doc(doc, {"seed": s}).observe().options) for doc in docs("random", "ROD")
               for s in seeds}
    assert len(options) > len(docs("random", "ROD"))
    shots = {tuple(example for example, _ in hooks.examples_for(doc, {"seed": s})) for s in seeds
             for doc in docs("icl1", "ROD")[:1]}
    assert len(shots) > 1
    # An episode played with seed 5 scores by replaying its answers with seed 5 (the record carries it).
    doc = docs("random", "VSOD")[0]
    episode = hooks.episode_from_doc(doc, {"seed": 5})
    answers = []
    while not episode.done:
        requests, _ = episode.correct_now()
        answer = requests[0] if requests and len(answers) < 3 else episode.sample.answer
        answers.append(answer)
        episode.answer(answer)
    info = None
    for round_idx in range(1, len(answers) + 1):
        payload = hooks.doc_to_text(doc, {"seed": 5}, previous_output=answers[:round_idx], round_idx=round_idx,
                                    previous_round_info=info)
        info = payload[4]
    record = json.loads(payload[3][0])
    assert record["settings"] == {"seed": 5} and [t["answer"] for t in record["turns"]] == answers
    assert hooks.process_results(doc, [payload[3][0]]) == {"errors": 0.0, "acc": 100.0 * record["correct"],
                                                          "psr": float(len(answers) - 1)}
    assert record["turns"] == hooks.scored_record(doc, answers, {"seed": 5})["turns"]
    # a record whose settings cannot be read is not scored on some other episode
    assert hooks.process_results(doc, [json.dumps({**record, "settings": {"seed": "x"}})]) == {"errors": 0.0, "acc": 0.0, "psr": 0.0}


def test_oracle_reads_the_current_block_and_answers_blind_on_an_unknown_seed():
    from proactivebench_ext.lmms.baselines import ProactiveOracle

    oracle = ProactiveOracle()
    doc = docs("history", "QD")[0]
    episode = hooks.episode_from_doc(doc)
    request = hooks.request_for(doc, episode)
    answer = oracle.choose("t", 0, doc, request.text, parse_options(request.text))
    episode.answer(answer)
    later = hooks.request_for(doc, episode)
    assert later.text.startswith(HISTORY_HEADER)
    assert oracle.choose("t", 0, doc, later.text, parse_options(later.text)) in episode.observe().options
    reseeded = docs("random", "ROD")[0]
    prompt = hooks.doc_to_text(reseeded, {"seed": 7})
    assert oracle.choose("r", 0, reseeded, prompt, parse_options(prompt)) in parse_options(prompt)
    with pytest.raises(RuntimeError, match="not the one the episode shows"):
        oracle.choose("m", 0, docs("hint", "ROD")[0], hooks.doc_to_text(docs("history", "ROD")[1]),
                      parse_options(hooks.doc_to_text(docs("history", "ROD")[1])))


def test_icl_docs_need_enough_examples(tmp_path):
    from proactivebench_ext.data.layout import embedded_data_dir, load_test_set

    entries = load_test_set("ROD", embedded_data_dir())
    jsonl = next(embedded_data_dir().glob("Realistic-Occlusion-Dataset_preprocessed.jsonl"))
    (tmp_path / jsonl.name).write_text("".join(json.dumps(e) + "\n" for e in entries[:3]))
    (tmp_path / "Realistic-Occlusion-Dataset").symlink_to(embedded_data_dir() / "Realistic-Occlusion-Dataset")
    assert len(hooks.doc_rows("ROD", "icl1", str(tmp_path))) == 3
    (doc,) = hooks.doc_rows("ROD", "icl3", str(tmp_path))  # the task fails alone: one errored doc says why
    assert "3 in-context examples per ROD sample need 4" in doc["fault"]
    with pytest.raises(ValueError, match="no VSOD task"):
        hooks.doc_rows("VSOD", "icl1")


def test_groups_and_names():
    assert group_name("hint") == "proactivebench_hint"
    assert ablation_groups() == {"proactivebench_icl": [f"proactivebench_{v}" for v in ("icl1", "icl3", "icl1cot", "icl3cot")]}
    assert not any(name.startswith("proactive_") for name in [*ABLATIONS, *GROUPS])
