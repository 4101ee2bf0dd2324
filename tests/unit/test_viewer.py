"""The episode viewer's pages, read back with an HTML parser.

Runs are written in lmms-eval's ``--log_samples`` layout by :mod:`proactivebench_ext.testing.logs`
(the hooks' own records and metrics; an integration test checks them against a real lmms-eval run),
plus old logs of the 0.1 layout. What each page shows is checked against an independent replay
through the task hooks: the turns, the highlighted answer, the options accepted at each turn, the
outcomes, the images (COCO's crop applied) and what each ablation adds.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from proactivebench_ext.core.constants import ACTION_NAMES
from proactivebench_ext.core.naming import parse_task_name
from proactivebench_ext.core.scenarios import is_abstain
from proactivebench_ext.data.images import load_turn_image
from proactivebench_ext.data.layout import embedded_data_dir
from proactivebench_ext.data.validate import Fault
from proactivebench_ext.lmms import hooks
from proactivebench_ext.report.viewer import cli
from proactivebench_ext.report.viewer.episodes import (
    ABSTAINED,
    ASKED,
    CORRECT_OUTCOME,
    ERRORED,
    UNJUDGED,
    WRONG_OUTCOME,
    episode_view,
    turn_outcome,
)
from proactivebench_ext.report.viewer.site import write_site
from proactivebench_ext.testing.logs import oracle, random_policy, write_run

DATA = Path(__file__).resolve().parents[1] / "data"
OLD_LOGS = (DATA / "logs_v0.1", DATA / "logs_v0.1_viewer")
TASKS = ["proactive_rod", "proactive_vsod", "proactive_coco", "proactivebench_reference_mvpn", "proactivebench_hint_coco",
         "proactivebench_history_rod", "proactivebench_icl1_mvpn", "proactivebench_random_cit"]
VOID = {"img", "br", "meta", "input", "hr", "link", "source"}


# -- a small DOM from the standard library's parser -------------------------------------------------
@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Any] = field(default_factory=list)  # Node or str

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [node for node in self.iter() if (tag is None or node.tag == tag) and (cls is None or cls in node.classes)]

    def one(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.all(tag, cls)
        assert len(found) == 1, f"expected one <{tag} class={cls}>, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(path: Path) -> Node:
    builder = _Builder()
    builder.feed(path.read_text("utf-8"))
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def episodes_of(page: Node) -> dict[str, Node]:
    return {node.attrs["id"]: node for node in page.all("details", "ep")}


def turns_of(episode: Node) -> list[Node]:
    return [node for node in episode.all("li", "turn") if "examples" not in _ancestor_classes(episode, node)]


def _ancestor_classes(root: Node, target: Node) -> set[str]:
    def walk(node: Node, classes: set[str]) -> set[str] | None:
        if node is target:
            return classes
        for child in node.children:
            if isinstance(child, Node):
                found = walk(child, classes | node.classes)
                if found is not None:
                    return found
        return None

    return walk(root, set()) or set()


def options_of(turn: Node) -> list[Node]:
    lists = turn.all("ol", "opts")
    return lists[0].all("li") if lists else []


def option_text(option: Node) -> str:
    return option.text().split(". ", 1)[1]


# -- sites -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_run(root / "oracle", TASKS, oracle, limit=3, date="20260101_000001")
    write_run(root / "random", TASKS, random_policy(seed=5), model="proactive_random", model_args="seed=5",
              limit=3, date="20260101_000002")
    return root


@pytest.fixture(scope="module")
def site(runs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    write_site([runs / "oracle", runs / "random"], out, jobs=1)
    return out


def samples(run: Path, task: str) -> list[dict[str, Any]]:
    path = next(run.glob(f"*_samples_{task}.jsonl"))
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def overview_of(site: Path, run: str, task: str) -> Node:
    return parse(next((site / "runs").glob(f"{run}-*/{task}.html")))


def page_of(site: Path, run: str, task: str) -> Node:
    """Every page of full episodes of a task, as one tree."""
    folder = next((site / "runs").glob(f"{run}-*/{task}.html")).parent
    pages = sorted(folder.glob(f"{task}.[0-9]*.html"), key=lambda p: int(p.name.split(".")[-2]))
    assert pages
    return Node("#pages", {}, [parse(page) for page in pages])


def doc_of(task: str, doc_id: int) -> dict[str, str]:
    variant, acronym = parse_task_name(task)
    return hooks.doc_rows(acronym, variant)[doc_id]


@pytest.mark.parametrize("run", ["oracle", "random"])
@pytest.mark.parametrize("task", TASKS)
def test_each_turn_shows_the_answer_and_the_options_accepted_then(site: Path, runs: Path, run: str, task: str) -> None:
    page = page_of(site, "proactive_random" if run == "random" else "proactive_oracle", task)
    episodes = episodes_of(page)
    logged = samples(runs / run, task)
    assert len(episodes) == len(logged) == 3
    for sample in logged:
        record = json.loads(sample["filtered_resps"])
        episode = episodes[f"d{sample['doc_id']}"]
        turns = turns_of(episode)
        assert len(turns) == len(record["turns"]) >= 1
        doc = doc_of(task, sample["doc_id"])
        answers = [turn["answer"] for turn in record["turns"]]
        for number, (turn, logged_turn) in enumerate(zip(turns, record["turns"])):
            replayed = hooks.replay(doc, answers[:number], hooks.settings_of(doc))
            shown = replayed.observe()
            options = options_of(turn)
            assert [option_text(o) for o in options] == list(shown.options) == logged_turn["options"]
            chosen = [option_text(o) for o in options if "ans" in o.classes]
            assert chosen == [logged_turn["answer"]]  # both policies answer with an option's text
            accepted_options, accepted_categories = replayed.correct_now()
            assert {option_text(o) for o in options if "acc" in o.classes} == set(accepted_options) | set(accepted_categories)
            assert turn.one("p", "q").text() == shown.prompt
            alt = turn.one("figure").one("img").attrs["alt"]
            assert logged_turn["image_path"] in alt
        assert episode.attrs["data-outcome"] == expected_outcome(record)
        assert int(episode.attrs["data-requests"]) == record["num_requests"]


def expected_outcome(record: dict[str, Any]) -> str:
    if record["error"]:
        return ERRORED
    if record["correct"]:
        return CORRECT_OUTCOME
    last = record["turns"][-1]
    if last["action_evaluation"] == "wrong" and is_abstain(last["answer"]):
        return ABSTAINED
    return WRONG_OUTCOME


def test_turn_outcomes_name_what_happened(site: Path, runs: Path) -> None:
    page = page_of(site, "proactive_oracle", "proactive_rod")
    for episode in episodes_of(page).values():
        turns = turns_of(episode)
        assert all("asked" in turn.classes for turn in turns[:-1])
        assert "correct" in turns[-1].classes and "right category" in turns[-1].one("p", "a").text()
    assert turn_outcome("mismatch", "correct", None, True, "", "star") == (CORRECT_OUTCOME, "right category: star")
    assert turn_outcome("correct", "mismatch", None, False, "Rewind the video.", "")[0] == ASKED
    assert "max_steps" in turn_outcome("correct", "mismatch", None, True, "Rewind the video.", "")[1]
    assert turn_outcome("wrong", "mismatch", None, True, "I do not know the answer.", "")[0] == ABSTAINED
    assert turn_outcome("wrong", "mismatch", None, True, "Move the camera up.", "")[1].startswith("request not accepted")
    assert turn_outcome("mismatch", "wrong", None, True, "", "star") == (WRONG_OUTCOME, "wrong category: star")
    assert turn_outcome("mismatch", "mismatch", None, True, "", "") == (WRONG_OUTCOME, "the answer matches no option")
    assert turn_outcome("correct", "mismatch", "boom", True, "x", "") == (ERRORED, "boom")


def test_coco_thumbnails_are_the_crop_the_model_saw(site: Path, runs: Path) -> None:
    page = page_of(site, "proactive_oracle", "proactive_coco")
    doc = doc_of("proactive_coco", 0)
    record = json.loads(samples(runs / "oracle", "proactive_coco")[0]["filtered_resps"])
    answers = [turn["answer"] for turn in record["turns"]]
    for number, turn in enumerate(turns_of(episodes_of(page)["d0"])):
        shown = hooks.replay(doc, answers[:number]).observe()
        assert shown.crop is not None
        seen = load_turn_image(shown)  # what the model was given
        image = turn.one("figure").one("img")
        thumb = Image.open(os.path.normpath(site / "runs" / "x" / image.attrs["src"])).convert("RGB")
        assert thumb.size == seen.size == (int(image.attrs["width"]), int(image.attrs["height"]))  # crops < 256 px
        difference = sum(abs(a - b) for a, b in zip(thumb.tobytes(), seen.tobytes())) / len(seen.tobytes())
        assert difference < 8  # JPEG noise only
        link = image_parent_link(turn)
        full = Image.open(os.path.normpath(site / "runs" / "x" / link)).convert("RGB")
        assert full.tobytes() == seen.tobytes()  # the full-size crop is lossless


def image_parent_link(turn: Node) -> str:
    return next(a.attrs["href"] for a in turn.all("a") if a.all("img"))


def test_uncropped_full_size_links_to_the_data_folder(site: Path) -> None:
    turn = turns_of(episodes_of(page_of(site, "proactive_oracle", "proactive_rod"))["d0"])[0]
    link = image_parent_link(turn)
    assert link.startswith("file://") and link.endswith(".jpg") and Path(link[len("file://"):]).is_file()


def test_ablations_show_what_they_add(site: Path, runs: Path) -> None:
    hint_page = page_of(site, "proactive_oracle", "proactivebench_hint_coco")
    episode = hooks.episode_from_doc(doc_of("proactivebench_hint_coco", 0))
    hint = episode.scenario.hint(episode.sample)
    first = turns_of(episodes_of(hint_page)["d0"])[0]
    assert first.one("mark", "hint").text().strip() == hint
    assert first.one("p", "q").text() == episode.observe().prompt

    history = episodes_of(page_of(site, "proactive_oracle", "proactivebench_history_rod"))["d0"]
    for number, turn in enumerate(turns_of(history)):
        earlier = turn.all("p", "earlier")
        assert (len(earlier[0].all("img")) if earlier else 0) == number

    icl = page_of(site, "proactive_oracle", "proactivebench_icl1_mvpn")
    for sample in samples(runs / "oracle", "proactivebench_icl1_mvpn"):
        record = json.loads(sample["filtered_resps"])
        examples = episodes_of(icl)[f"d{sample['doc_id']}"].one("details", "examples")
        assert f"samples {record['icl_examples'][0]}" in examples.one("summary").text()
        steps = examples.all("li", "turn")
        assert steps and all(step.all("img") for step in steps)
        assert "settings: seed 0" in episodes_of(icl)[f"d{sample['doc_id']}"].text()

    random_options = page_of(site, "proactive_random", "proactivebench_random_cit")
    record = json.loads(samples(runs / "random", "proactivebench_random_cit")[0]["filtered_resps"])
    shown = [option_text(o) for o in options_of(turns_of(episodes_of(random_options)["d0"])[0])]
    assert shown == record["turns"][0]["options"]  # other scenarios' wordings, as logged


def test_filters_list_outcomes_and_request_counts(site: Path, runs: Path) -> None:
    page = overview_of(site, "proactive_random", "proactive_vsod")
    episodes = page.all("tr", "item")
    details = episodes_of(page_of(site, "proactive_random", "proactive_vsod"))
    for row in episodes:  # one row per episode, linking to it, with its outcome and requests
        target = row.one("a").attrs["href"].split("#doc=")[1]
        assert details[f"d{target}"].attrs["data-outcome"] == row.attrs["data-outcome"]
        assert details[f"d{target}"].attrs["data-requests"] == row.attrs["data-requests"]
    assert len(episodes) == len(details) == 3
    outcome = next(s for s in page.all("select") if s.attrs["name"] == "outcome")
    counts = {o.attrs["value"]: o.text() for o in outcome.all("option")}
    for value, text in counts.items():
        if value:
            assert text == f"{value} ({sum(e.attrs['data-outcome'] == value for e in episodes)})"
    requests = next(s for s in page.all("select") if s.attrs["name"] == "requests")
    assert {o.attrs["value"] for o in requests.all("option")} - {""} == {e.attrs["data-requests"] for e in episodes}
    assert page.all("input", None)[0].attrs["name"] == "q"


def test_pages_need_nothing_outside_the_site(site: Path) -> None:
    for path in site.rglob("*.html"):
        page = parse(path)
        assert not page.all("link")
        for node in page.iter():
            for name in ("src", "href"):
                value = node.attrs.get(name, "")
                assert not value.startswith(("http:", "https:", "//")), (path, value)
            if node.tag == "img":
                assert node.attrs.get("loading") == "lazy"
                assert Path(os.path.normpath(path.parent / node.attrs["src"])).is_file()
        assert all(not s.attrs.get("src") for s in page.all("script"))


def test_index_and_side_by_side(site: Path) -> None:
    index = parse(site / "index.html")
    rows = index.all("tr", "item")
    assert len(rows) == 2 * len(TASKS)
    for row in rows:
        link = row.one("a")
        assert (site / link.attrs["href"]).is_file()
    compare = parse(site / "compare.html")
    data = json.loads(next(s for s in compare.all("script") if s.attrs.get("id") == "compare-data").text())
    assert len(data["columns"]) == 2 * len(TASKS)
    by_label = {c["label"]: n for n, c in enumerate(data["columns"])}
    oracle_rod = data["episodes"][by_label["proactive_oracle · proactive_rod"]]
    random_rod = data["episodes"][by_label["proactive_random · proactive_rod"]]
    assert set(oracle_rod) == set(random_rod) == {"e0", "e1", "e2"}
    assert all(value[0] == "correct" for value in oracle_rod.values())


def test_old_logs_of_every_family_still_open(tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert cli.main([*map(str, OLD_LOGS), "--out", str(out), "--jobs", "1"]) == 0
    overviews = [p for p in (out / "runs").rglob("*.html") if parse_task_name(p.stem)]
    variants = {parse_task_name(p.stem).variant for p in overviews}
    assert variants == {"main", "reference", "hint", "history", "icl1", "random", "oeg", "oeg_multiturn"}
    for path in (out / "runs").rglob("*.[0-9].html"):
        page = parse(path)
        for episode in episodes_of(page).values():
            assert not episode.all("ul", "notes"), (path, episode.one("ul", "notes").text())  # replayed in full
            assert turns_of(episode)
            assert all(img.attrs["src"].endswith(".jpg") for img in episode.all("img"))
    oeg = page_of(out, "proactive_oracle_open", "proactivebench_oeg_rod")
    first = list(episodes_of(oeg).values())[0]
    assert "judge:" in first.one("p", "why").text() and first.all("img")
    multiturn = page_of(out, "proactive_oracle_open", "proactivebench_oeg_multiturn_mvpn")
    outcomes = [e.attrs["data-outcome"] for e in episodes_of(multiturn).values()]
    assert UNJUDGED in outcomes and CORRECT_OUTCOME in outcomes
    assert any("model said" in t.text() for e in episodes_of(multiturn).values() for t in turns_of(e))
    notes = parse(out / "index.html").one("ul", "notes").text()
    assert "/tmp/oldwt/proactivebench_ext/resources/embedded not found; using the embedded set" in notes


def test_missing_images_become_named_placeholders(runs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(embedded_data_dir(), data)
    record = json.loads(samples(runs / "oracle", "proactive_rod")[0]["filtered_resps"])
    gone = record["turns"][1]["image_path"]
    (data / gone).unlink()
    out = tmp_path / "site"
    summary = write_site([runs / "oracle"], out, data_dir=data, jobs=1)
    assert summary.missing_images >= 1
    turn = turns_of(episodes_of(page_of(out, "proactive_oracle", "proactive_rod"))["d0"])[1]
    placeholder = turn.one("div", "missing")
    assert gone in placeholder.text() and "image not found" in placeholder.text()
    assert "missing" in parse(out / "index.html").one("ul", "notes").text()


def test_thumbnails_are_written_once(runs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(embedded_data_dir(), data)
    out = tmp_path / "site"
    write_site([runs / "oracle"], out, data_dir=data, jobs=1)
    thumbs = {path: path.stat().st_mtime_ns for path in (out / "img" / "t").rglob("*.jpg")}
    assert thumbs
    write_site([runs / "oracle"], out, data_dir=data, jobs=1)
    assert {path: path.stat().st_mtime_ns for path in (out / "img" / "t").rglob("*.jpg")} == thumbs
    record = json.loads(samples(runs / "oracle", "proactive_rod")[0]["filtered_resps"])
    source = data / record["turns"][0]["image_path"]
    later = time.time() + 5
    os.utime(source, (later, later))
    write_site([runs / "oracle"], out, data_dir=data, jobs=1)
    changed = [path for path in thumbs if path.stat().st_mtime_ns != thumbs[path]]
    assert len(changed) == 1


def test_a_sample_that_is_not_a_record_is_an_errored_episode() -> None:
    sample = {"doc_id": 3, "target": "star", "filtered_resps": "garbage the runner kept"}
    view = episode_view(sample, None, variant="main", scenario="ROD")
    assert view.outcome == ERRORED and "garbage the runner kept" in view.reason and view.turns == ()
    runner = {"error": "max_agentic_steps_reached", "trace": ["a", "b"]}
    view = episode_view({"doc_id": 1, "filtered_resps": json.dumps(runner)}, runner, variant="main", scenario="VSOD")
    assert view.outcome == ERRORED and "max_agentic_steps_reached after 2 answers" in view.reason


def test_a_log_from_other_data_is_shown_as_logged_and_says_so(runs: Path, tmp_path: Path) -> None:
    sample = samples(runs / "oracle", "proactive_rod")[0]
    record = json.loads(sample["filtered_resps"])
    record["turns"][0]["options"] = list(reversed(record["turns"][0]["options"]))
    view = episode_view(sample, record, variant="main", scenario="ROD")
    assert view.outcome == CORRECT_OUTCOME and len(view.turns) == len(record["turns"])
    assert any("other options" in note for note in view.notes)
    assert all(option.accepted is None for turn in view.turns for option in turn.options)
    assert [option.text for option in view.turns[0].options if option.chosen] == [record["turns"][0]["answer"]]


def test_a_data_fault_is_an_errored_episode_naming_the_file_and_fix() -> None:
    doc = doc_of("proactive_rod", 1)
    fault = Fault(file="/data/Realistic-Occlusion-Dataset_preprocessed.jsonl", reason="not valid JSON", line=7,
                  fix="re-extract the archive", sample_id=1)
    record = hooks.fault_record(doc, fault)
    view = episode_view({"doc_id": 1, "filtered_resps": json.dumps(record)}, record, variant="main", scenario="ROD")
    assert view.outcome == ERRORED and view.turns == () and view.notes == ()
    assert "Realistic-Occlusion-Dataset_preprocessed.jsonl:7" in view.reason and "re-extract the archive" in view.reason


def test_random_options_say_which_move_a_request_made(site: Path, runs: Path) -> None:
    asked = 0
    for task in ("proactivebench_random_cit", "proactive_vsod"):
        episodes = episodes_of(page_of(site, "proactive_oracle", task))
        for sample in samples(runs / "oracle", task):
            record = json.loads(sample["filtered_resps"])
            for turn, logged in zip(turns_of(episodes[f"d{sample['doc_id']}"]), record["turns"]):
                if "asked" in turn.classes:
                    asked += 1
                    assert f"(action {ACTION_NAMES[logged['action']]})" in turn.one("p", "a").text()
    assert asked >= 4


def test_a_damaged_row_errors_its_episode_and_the_others_still_replay(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(embedded_data_dir(), data)
    jsonl = data / "Realistic-Occlusion-Dataset_preprocessed.jsonl"
    lines = jsonl.read_text("utf-8").splitlines(keepends=True)
    damaged = next(i for i, line in enumerate(lines) if json.loads(line)["id"] == 1)
    lines[damaged] = lines[damaged][:40] + "\n"  # cut mid-row: its id is still readable
    jsonl.write_text("".join(lines), "utf-8")
    write_run(tmp_path / "run", ["proactive_rod"], oracle, data_dir=str(data))
    out = tmp_path / "site"
    write_site([tmp_path / "run"], out, jobs=1)
    episodes = episodes_of(page_of(out, "proactive_oracle", "proactive_rod"))
    broken = [e for e in episodes.values() if e.attrs["data-outcome"] == ERRORED]
    assert len(broken) == 1 and f"{jsonl}:{damaged + 1}" in broken[0].one("p", "why").text()
    for episode in episodes.values():
        if episode is not broken[0]:
            assert episode.attrs["data-outcome"] == CORRECT_OUTCOME and not episode.all("ul", "notes")
            assert any("acc" in o.classes for t in turns_of(episode) for o in options_of(t))


def test_copy_full_makes_a_site_that_needs_no_data_folder(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    write_site([runs / "oracle"], out, copy_full=True, jobs=1)
    for page in (out / "runs").rglob("*.[0-9].html"):
        for link in (a.attrs["href"] for a in parse(page).all("a") if a.all("img")):
            assert not link.startswith("file:")
            copied = Path(os.path.normpath(page.parent / link))
            assert copied.is_file() and copied.is_relative_to(out)


def test_view_reads_only_regular_files_inside_the_data_folder(tmp_path: Path) -> None:
    """Logged image paths leading outside the data folder (``..``, absolute, a symlink) and a FIFO:
    ``view --copy-full`` finishes, shows placeholders with the reason, and the site holds no byte of
    the outside files, no picture made from them and no reference to their paths."""
    import signal

    data = tmp_path / "data"
    shutil.copytree(embedded_data_dir(), data)
    magenta = Image.new("RGB", (40, 30), (255, 0, 255))
    outside, absolute = tmp_path / "outside.png", tmp_path / "elsewhere" / "secret-abs.png"
    absolute.parent.mkdir()
    magenta.save(outside)
    magenta.save(absolute)
    (data / "link.png").symlink_to(outside)
    os.mkfifo(data / "fifo.png")
    write_run(tmp_path / "run", ["proactive_rod"], oracle, data_dir=str(data), limit=4)
    path = next((tmp_path / "run").glob("*_samples_proactive_rod.jsonl"))
    hostile = ["../outside.png", str(absolute), "link.png", "fifo.png"]
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    for row, image_path in zip(rows, hostile):
        record = json.loads(row["filtered_resps"])
        record["turns"][0]["image_path"] = image_path
        row["filtered_resps"] = json.dumps(record)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")

    def hang(*_: Any) -> None:
        raise TimeoutError("view hung on an image path")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        out = tmp_path / "site"
        assert cli.main([str(tmp_path / "run"), "--out", str(out), "--copy-full", "--jobs", "1"]) == 0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

    first_turns = {f"d{row['doc_id']}": turns_of(episode)[0]
                   for row in rows for key, episode in episodes_of(page_of(out, "proactive_oracle", "proactive_rod")).items()
                   if key == f"d{row['doc_id']}"}
    reasons = [turn.one("div", "missing").text() for turn in first_turns.values()]
    assert "image path refused: it has a '..' component" in reasons[0]
    assert "image path refused: it is absolute" in reasons[1]
    assert "image path refused: a link leads outside the data folder" in reasons[2]
    assert "image is a FIFO, not a regular file" in reasons[3]
    forbidden = [outside.read_bytes(), absolute.read_bytes()]
    for file in out.rglob("*"):
        if not file.is_file():
            continue
        content = file.read_bytes()
        assert not any(secret in content for secret in forbidden), file
        for name in ("outside.png", "secret-abs", str(tmp_path / "elsewhere")):
            assert name.encode() not in content, (file, name)
        if file.suffix in (".jpg", ".png"):  # no thumbnail or copy made from the magenta outside images
            with Image.open(file) as image:
                assert image.convert("RGB").getpixel((0, 0)) != (255, 0, 255), file
        if file.suffix == ".html":
            for link in (a.attrs.get("href", "") for a in parse(file).all("a")):
                if link.startswith("file:"):
                    assert Path(link[len("file://"):]).resolve().is_relative_to(data.resolve()), link


def test_pages_survive_any_string(tmp_path: Path) -> None:
    """A model answer holding a lone surrogate (a JSON escape the model's server sent): every page is
    written, as UTF-8, with the character escaped rather than dropped."""
    write_run(tmp_path / "run", ["proactive_rod"], oracle, limit=2)
    path = next((tmp_path / "run").glob("*_samples_proactive_rod.jsonl"))
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    record = json.loads(rows[0]["filtered_resps"])
    record["turns"][0]["answer"] = "Move the camera\ud800 to the left."
    rows[0]["filtered_resps"] = json.dumps(record)  # the escape, as lmms-eval would log it
    rows[1]["target"] = "odd\udfff target"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    out = tmp_path / "site"
    write_site([tmp_path / "run"], out, jobs=1)
    pages = list(out.rglob("*.html"))
    assert len(pages) >= 3
    text = "".join(page.read_bytes().decode("utf-8") for page in pages)  # strict UTF-8
    assert "camera\\ud800 to the left" in text
    assert parse(next((out / "runs").glob("proactive_oracle-*/proactive_rod.html")))
