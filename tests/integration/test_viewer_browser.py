"""The episode viewer in a real headless browser, on logs from a real lmms-eval run.

Chromium (Debian's ``chromium`` package; CI installs it) loads the pages from disk, with no
server: a screenshot must show the page (not blank) and the filters, set through the URL hash,
must hide exactly the episodes they exclude (read back from the DOM after the script ran).
In CI (``CI=true``) a missing browser fails the test; elsewhere it skips with the reason.

The sample-log writer the unit tests and the benchmark use (:mod:`proactivebench_ext.testing.logs`)
is checked here against a real ``python -m lmms_eval`` run of the oracle, record for record.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from proactivebench_ext.report.viewer.site import write_site
from proactivebench_ext.testing.logs import oracle, random_policy, write_run

from ..lmms_runs import run_lmms_eval

DATA = Path(__file__).resolve().parents[1] / "data"
TASKS = ["proactive_rod", "proactive_coco", "proactivebench_reference_vsod", "proactivebench_hint_qd",
         "proactivebench_history_cit", "proactivebench_icl1_mvpn", "proactivebench_random_inc"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install -y chromium"
RANDOM_DATE = "20260101_000009"  # the written random run; the old fixtures hold other proactive_random runs


@pytest.fixture(scope="module")
def browser() -> str:
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if found is None:
        message = f"no headless browser ({', '.join(BROWSERS)}) on PATH; install one: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def chromium(browser: str, tmp_path: Path, url: str, *flags: str) -> str:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", *flags, url]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def dom(browser: str, tmp_path: Path, page: Path, fragment: str = "") -> str:
    text = chromium(browser, tmp_path, page.as_uri() + fragment, "--dump-dom")
    assert "data-ready=" in text, "the page's script did not run"
    return text


def shown(text: str, tag: str, cls: str) -> list[str]:
    """Opening tags of elements of class ``cls`` that the script left visible."""
    tags = re.findall(rf"<{tag} [^>]*class=\"[^\"]*\b{cls}\b[^\"]*\"[^>]*>", text)
    return [t for t in tags if " hidden" not in t]


@pytest.fixture(scope="module")
def real_run(offline_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lmms_oracle")
    run_lmms_eval(["--model", "proactive_oracle", "--tasks", ",".join(TASKS), "--limit", "2"], offline_env, out)
    return out


@pytest.fixture(scope="module")
def site(real_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    write_run(runs / "random", TASKS, random_policy(seed=2), model="proactive_random", limit=4, date=RANDOM_DATE)
    out = tmp_path_factory.mktemp("site")
    write_site([real_run, runs / "random", DATA / "logs_v0.1", DATA / "logs_v0.1_viewer"], out, jobs=1)
    return out


def test_sample_log_writer_matches_a_real_lmms_eval_run(real_run: Path, tmp_path: Path) -> None:
    written = write_run(tmp_path / "written", TASKS, oracle, limit=2).parent
    for task in TASKS:
        real = sorted((json.loads(line) for line in next(real_run.rglob(f"*_samples_{task}.jsonl")).open()),
                      key=lambda sample: sample["doc_id"])
        ours = [json.loads(line) for line in next(written.glob(f"*_samples_{task}.jsonl")).open()]
        assert len(real) == len(ours) == 2
        for a, b in zip(real, ours):
            assert set(a) - {"doc_hash"} == set(b)
            assert json.loads(a["filtered_resps"]) == json.loads(b["filtered_resps"])
            assert {k: a[k] for k in b if k != "filtered_resps"} == {k: b[k] for k in b if k != "filtered_resps"}


def test_a_page_renders_with_its_images(browser: str, site: Path, tmp_path: Path) -> None:
    page = next((site / "runs").glob("proactive_oracle-*/proactive_coco.1.html"))
    shot = tmp_path / "coco.png"
    chromium(browser, tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1200,900")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 200  # text, badges and a photo, not a blank page
    background = max(colors)[1]
    busy = sum(count for count, color in colors if color != background) / (1200 * 900)
    assert busy > 0.1
    thumbnail = re.search(r"src='([^']+\.jpg)' width=(\d+) height=(\d+)", page.read_text("utf-8"))
    assert thumbnail is not None
    reference = Image.open(os.path.normpath(page.parent / thumbnail.group(1))).convert("RGB")
    dominant = max(reference.getcolors(maxcolors=1 << 16))[1]
    near = sum(count for count, color in colors if sum(abs(a - b) for a, b in zip(color, dominant)) < 30)
    assert near > 200, "the first thumbnail's main colour is not on screen: the image did not load"


def test_filters_in_the_url_hash_hide_what_they_exclude(browser: str, site: Path, tmp_path: Path) -> None:
    overview = site / "runs" / f"proactive_random-{RANDOM_DATE}" / "proactive_rod.html"
    rows = re.findall(r"<tr class=item data-outcome=(\w+) data-requests=(\d+)>", overview.read_text("utf-8"))
    assert len(rows) == 4
    every = dom(browser, tmp_path, overview)
    assert len(shown(every, "tr", "item")) == 4 and 'data-shown="4"' in every
    for outcome in {o for o, _ in rows}:
        filtered = dom(browser, tmp_path, overview, f"#outcome={outcome}")
        visible = shown(filtered, "tr", "item")
        assert len(visible) == sum(o == outcome for o, _ in rows)
        assert all(f'data-outcome="{outcome}"' in tag for tag in visible)
    requests = rows[0][1]
    filtered = dom(browser, tmp_path, overview, f"#requests={requests}")
    assert len(shown(filtered, "tr", "item")) == sum(r == requests for _, r in rows)
    nothing = dom(browser, tmp_path, overview, "#q=no-such-answer-anywhere")
    assert shown(nothing, "tr", "item") == [] and 'data-shown="0"' in nothing

    page = overview.with_name("proactive_rod.1.html")
    solo = dom(browser, tmp_path, page, "#doc=2&solo=1")
    visible = shown(solo, "details", "ep")
    assert len(visible) == 1 and 'id="d2"' in visible[0] and 'class="solo"' in solo


def test_side_by_side_lists_both_runs_doc_by_doc(browser: str, site: Path, tmp_path: Path) -> None:
    compare = site / "compare.html"
    data = json.loads(re.search(r"id=compare-data>(.*?)</script>", compare.read_text("utf-8"), re.S).group(1))
    labels = [column["label"] for column in data["columns"]]
    a = next(i for i, label in enumerate(labels) if label.startswith("proactive_oracle ·") and label.endswith("proactive_rod"))
    b = labels.index(f"proactive_random {RANDOM_DATE} · proactive_rod")
    text = dom(browser, tmp_path, compare, f"#a={a}&b={b}&doc=e1")
    assert len(re.findall(r'<tr data-key="', text)) == 2  # the real oracle run has 2 docs, the random one 4
    assert re.search(r'<iframe id="fa"[^>]*src="runs/proactive_oracle-[^"]+/proactive_rod\.1\.html#doc=1&amp;solo=1"', text)
    differ = dom(browser, tmp_path, compare, f"#a={a}&b={b}&agree=both")
    both = sum(1 for key in ("e0", "e1") if data["episodes"][b][key][0] == "correct")
    assert len(re.findall(r'<tr data-key="', differ)) == both
