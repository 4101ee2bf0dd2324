"""``rl-data`` on a synthetic train split (``synth --split train``): counts, the ambiguous share, no
test id, every image loads, and each prompt and image is exactly what the evaluation shows at that
state (compared with the lmms-eval hooks' own requests)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import ImageChops

from proactivebench_ext.core.engine import new_episode
from proactivebench_ext.core.naming import SCENARIO_ACRONYMS, dataset_name
from proactivebench_ext.data import layout, synth
from proactivebench_ext.data.errors import DataError
from proactivebench_ext.data.layout import embedded_data_dir, load_test_set
from proactivebench_ext.lmms import hooks
from proactivebench_ext.rl import ProactiveReward, reward
from proactivebench_ext.rl import dataset as rl_data

PER_SCENARIO = 9  # COCO entries then cover every crop direction


@pytest.fixture(scope="module")
def train_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train")
    synth.generate(out, per_scenario=PER_SCENARIO, split="train")
    return out


@pytest.fixture(scope="module")
def written(train_split: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("rl") / "data"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert rl_data.main([str(train_split), "--out", str(out), "--ambiguous-fraction", "0.6"]) == 0
    return out, stdout.getvalue()


def test_synthetic_train_split_is_disjoint_from_the_test_set(train_split):
    for acronym in SCENARIO_ACRONYMS:
        entries = [json.loads(line) for line in (train_split / f"{dataset_name(acronym)}_preprocessed.jsonl")
                   .read_text("utf-8").splitlines()]
        assert len(entries) == PER_SCENARIO
        assert not {entry["id"] for entry in entries} & layout.test_ids(acronym)
        assert load_test_set(acronym, train_split) == []  # the evaluation would find nothing here
        for entry in entries:
            new_episode(acronym, entry, train_split)  # every entry plays
    test_qd = (embedded_data_dir() / "QuickDraw_preprocessed.jsonl").read_text("utf-8")
    train_qd = (train_split / "QuickDraw_preprocessed.jsonl").read_text("utf-8")
    assert test_qd.splitlines()[0] != train_qd.splitlines()[0]


def test_counts_and_ambiguous_share(written):
    out, printed = written
    dataset = rl_data.load_training_data(out)
    info = json.loads((out / rl_data.INFO_FILE).read_text("utf-8"))
    assert set(dataset.column_names) == set(rl_data.COLUMNS)
    assert len(dataset) == 2 * PER_SCENARIO == info["rows"]
    for acronym in rl_data.DEFAULT_SCENARIOS:
        rows = [row for row in dataset.select_columns(["scenario", "ambiguous"]) if row["scenario"] == acronym]
        ambiguous = sum(row["ambiguous"] for row in rows)
        assert len(rows) == PER_SCENARIO
        assert ambiguous == round(0.6 * PER_SCENARIO) == info["scenarios"][acronym]["ambiguous"]
        assert info["scenarios"][acronym]["fallbacks"] == 0
        assert f"{acronym}: {PER_SCENARIO} examples" in printed and f"({ambiguous} ambiguous" in printed
    assert "ambiguous/unambiguous 10/8 = 0.56 ambiguous (asked 0.60)" in printed


def test_no_test_id_and_every_image_loads(written):
    dataset = rl_data.load_training_data(written[0])
    for row in dataset:
        assert int(row["sample_id"]) not in layout.test_ids(row["scenario"])
        image = row["image"]
        image.load()
        assert image.mode == "RGB" and image.width > 0 and image.height > 0


def test_each_example_is_what_the_evaluation_shows_at_that_state(written, train_split):
    """Prompt byte-identical and image pixel-identical to the hooks' request after the same answers."""
    dataset = rl_data.load_training_data(written[0])
    turns = set()
    for row in dataset:
        doc = {"scenario": row["scenario"], "variant": "main", "sample_id": row["sample_id"],
               "data_dir": str(train_split), "entry": row["entry"]}
        answers = row["answers"]
        if answers:
            visuals, text, terminal, _, _ = hooks.doc_to_text(doc, previous_output=[answers[-1]], round_idx=len(answers),
                                                              previous_round_info={"answers": answers[:-1]})
            assert not terminal
        else:
            visuals, text = hooks.doc_to_visual(doc), hooks.doc_to_text(doc)
        assert row["prompt"] == [{"role": "user", "content": text}]
        assert row["prompt"][0]["content"].encode("utf-8") == text.encode("utf-8")
        assert len(visuals) == 1 and row["image"].size == visuals[0].size
        assert ImageChops.difference(row["image"].convert("RGB"), visuals[0]).getbbox() is None
        assert row["turn"] == len(answers)
        turns.add((row["scenario"], row["ambiguous"], len(answers) > 0))
    assert ("COCO", True, True) in turns or ("QD", True, True) in turns  # later frames are drawn too


def test_ambiguous_means_a_request_earns_r_p(written):
    """In ambiguous states an accepted request earns r_p; in unambiguous ones only the category earns."""
    dataset = rl_data.load_training_data(written[0])
    for row in dataset:
        entry = json.loads(row["entry"])
        episode = new_episode(row["scenario"], entry)
        for answer in row["answers"]:
            episode.answer(answer)
        shown = episode.observe().options[: -len(entry["categories"])]
        request_rewards = {reward(row["scenario"], entry, [*row["answers"], option], proactive_reward=0.75)
                           for option in shown}
        assert (0.75 in request_rewards) == row["ambiguous"]
        assert reward(row["scenario"], entry, [*row["answers"], entry["answer"]]) == 1.0
        assert ProactiveReward(0.75)(completions=[entry["answer"]], scenario=[row["scenario"]], entry=[row["entry"]],
                                     answers=[row["answers"]]) == [1.0]


@pytest.mark.parametrize("fraction", [0.0, 1.0])
def test_fraction_extremes(train_split, tmp_path, fraction):
    summaries = rl_data.build(train_split, tmp_path / "out", scenarios=["QD"], ambiguous_fraction=fraction, limit=4)
    (summary,) = summaries
    assert summary.entries == 4 and summary.ambiguous == (4 if fraction else 0)


def test_parquet_format(train_split, tmp_path):
    rl_data.build(train_split, tmp_path / "out", scenarios=["COCO"], output_format="parquet", limit=3)
    dataset = rl_data.load_training_data(tmp_path / "out")
    assert len(dataset) == 3 and dataset[0]["image"].size[0] > 0
    assert dataset.features["image"].__class__.__name__ == "Image"


def test_test_samples_are_refused(tmp_path):
    with pytest.raises(DataError, match="show the images of test samples"):
        rl_data.build(embedded_data_dir(), tmp_path / "out", scenarios=["QD"], test_dir=embedded_data_dir())
    assert rl_data.main([str(embedded_data_dir()), "--out", str(tmp_path / "cli"),
                         "--test-dir", str(embedded_data_dir())]) == 2


def _rewrite_ids(source: Path, target: Path, acronym: str, ids: list[int]) -> list[dict]:
    """``source``'s rows of one scenario written to ``target`` with other ids (and its image folder linked)."""
    name = dataset_name(acronym)
    rows = [json.loads(line) for line in (source / f"{name}_preprocessed.jsonl").read_text("utf-8").splitlines()]
    rows = [entry for entry in rows if not layout.is_dropped(entry)][: len(ids)]
    target.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps({**entry, "id": new_id}) + "\n" for entry, new_id in zip(rows, ids))
    (target / f"{name}_preprocessed.jsonl").write_text(text, "utf-8")
    if not (target / name).exists():
        (target / name).symlink_to(source / name, target_is_directory=True)
    return rows


def test_train_rows_numbered_like_the_test_set_are_not_a_leak(train_split, tmp_path):
    """A train split that numbers its rows as the test set does (from 0, ids of filter_ids) holds
    other samples: it is accepted, because samples are compared by their images, not their ids."""
    test_style = sorted(layout.test_ids("QD"))[:PER_SCENARIO]
    _rewrite_ids(train_split, tmp_path / "train", "QD", test_style)
    out = tmp_path / "out"
    rl_data.build(tmp_path / "train", out, scenarios=["QD"], test_dir=embedded_data_dir())
    assert sorted(int(row["sample_id"]) for row in rl_data.load_training_data(out)) == test_style
    check = json.loads((out / rl_data.INFO_FILE).read_text("utf-8"))["leak_check"]
    assert check["test_dir"] == str(embedded_data_dir()) and check["test_samples"]["QD"] > 0


def test_a_renumbered_test_sample_is_caught(train_split, tmp_path):
    """A test sample copied into a train split under an id the test filter never keeps still leaks."""
    outside = [10**6 + i for i in range(2)]
    assert not set(outside) & layout.test_ids("COCO")
    copied = _rewrite_ids(embedded_data_dir(), tmp_path / "train", "COCO", outside)
    with pytest.raises(DataError, match=f"id {outside[0]} = test id {copied[0]['id']}"):
        rl_data.build(tmp_path / "train", tmp_path / "out", scenarios=["COCO"], test_dir=embedded_data_dir())
    assert rl_data.main([str(tmp_path / "train"), "--out", str(tmp_path / "cli"), "--scenarios", "COCO",
                         "--test-dir", str(embedded_data_dir())]) == 2


def test_the_test_split_beside_the_train_split_is_the_default(tmp_path):
    root = tmp_path / "data"
    _rewrite_ids(embedded_data_dir(), root / "test", "QD", sorted(layout.test_ids("QD"))[:2])
    _rewrite_ids(embedded_data_dir(), root / "train", "QD", [10**6, 10**6 + 1])
    assert rl_data.default_test_dir(root / "train") == (root / "test").resolve()
    with pytest.raises(DataError, match="show the images of test samples"):
        rl_data.build(root / "train", tmp_path / "out", scenarios=["QD"])


def test_missing_image_names_the_file(train_split, tmp_path):
    broken = tmp_path / "broken"
    synth.generate(broken, per_scenario=2, split="train", scenarios=["QD"])
    victim = next((broken / "QuickDraw").rglob("stroke_0000.png")).parent  # every frame of one sketch
    shutil.rmtree(victim)
    with pytest.raises(DataError, match=f"{victim.name}.* not found"):
        rl_data.build(broken, tmp_path / "out", scenarios=["QD"])


def test_existing_output_needs_force(train_split, tmp_path):
    rl_data.build(train_split, tmp_path / "out", scenarios=["QD"], limit=1)
    with pytest.raises(FileExistsError, match="--force"):
        rl_data.build(train_split, tmp_path / "out", scenarios=["QD"], limit=1)
    rl_data.build(train_split, tmp_path / "out", scenarios=["QD"], limit=2, force=True)
    assert len(rl_data.load_training_data(tmp_path / "out")) == 2
