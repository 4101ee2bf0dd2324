"""HTML of the viewer's pages: the index, one page per task, and the side-by-side page.

Plain strings with every logged text escaped; the stylesheet and the script are inlined from
``static/`` so each page opens from disk with no server, no network and no other file than its
images. Every episode is an element with ``class="item"`` and ``data-*`` attributes that the
script's filters match (``data-outcome``, ``data-requests``, ``data-scenario`` ...).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

from ...core.variants import OEG_VARIANTS, VARIANTS
from ...data.provenance import SYNTHETIC_KINDS
from ..aggregate import SYNTHETIC_NOTE
from .episodes import CATEGORY, OUTCOMES, EpisodeView, Picture, TurnView
from .images import Rendered

PERCENT = ("acc", "proactive_suggestion", "category_prediction", "aggregate")
METRIC_LABELS = {"acc": "acc", "psr": "psr", "proactive_suggestion": "ps", "category_prediction": "cc",
                 "aggregate": "agg"}
COUNTS = ("errors", "unjudged", "malformed")  # aggregated as counts of episodes


@dataclass(frozen=True)
class RunView:
    label: str
    slug: str
    backend: str
    model_id: str
    model_args: str
    date: str
    limit: Any
    results_file: str


@dataclass(frozen=True)
class TaskView:
    run: RunView
    task: str
    variant: str
    scenario: str
    metrics: Mapping[str, float]
    n: int | None
    href: str  # relative to the site root
    episodes: tuple[EpisodeView, ...] | None  # None: the run has no samples file for it
    samples_file: str | None
    data: str | None = None  # the data source kind the results file records (data.provenance)

    @property
    def synthetic(self) -> bool:
        return self.data in SYNTHETIC_KINDS


def synthetic_banner(kinds: Sequence[str]) -> str:
    """The line every page with synthetic episodes carries (the report says the same)."""
    return (f"<p class=synthetic style='border:2px solid #b35806;padding:.4em .6em;font-weight:bold'>"
            f"Synthetic data ({escape(', '.join(sorted(set(kinds))))}): {escape(SYNTHETIC_NOTE)}. These episodes are "
            "not the benchmark's test set.</p>")


@lru_cache(maxsize=2)
def _static(name: str) -> str:
    return resources.files(__package__).joinpath("static", name).read_text("utf-8")


def document(title: str, body: str, *, page: str) -> str:
    return ("<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{_static('viewer.css')}</style></head>\n"
            f"<body data-page={page}>\n{body}\n<script>{_static('viewer.js')}</script>\n</body></html>\n")


def badge(outcome: str) -> str:
    return f"<span class='b {outcome}'>{outcome}</span>"


def metrics_text(metrics: Mapping[str, float]) -> str:
    parts = []
    for name, value in metrics.items():
        if value != value:  # NaN: lmms-eval's mean over no judged sample (OEG before the judge phase)
            continue
        if name in COUNTS:
            if value:
                parts.append(f"{name} {value:g}")
        elif name in PERCENT:
            parts.append(f"{METRIC_LABELS.get(name, name)} {value:.1f}")
        else:
            parts.append(f"{METRIC_LABELS.get(name, name)} {value:.2f}")
    return " · ".join(parts)


def judged_means(episodes: Sequence[EpisodeView]) -> str:
    """Single-turn OEG: the judge's mean scores over the judged answers (the results file has them
    only once the judge ran inline; ``judge`` writes them to ``*_results_judged.json``)."""
    verdicts = [turn.judge for episode in episodes for turn in episode.turns
                if turn.open_question and turn.judge and turn.judge.get("status") == "judged"]
    if not verdicts:
        return ""
    names = ("proactive_suggestion", "category_prediction", "aggregate")
    means = [100 * sum(float((v.get("scores") or {}).get(n) or 0) for v in verdicts) / len(verdicts) for n in names]
    return "judged: " + " · ".join(f"{METRIC_LABELS[n]} {m:.1f}" for n, m in zip(names, means)) + f" ({len(verdicts)} answers)"


def outcome_counts(episodes: Sequence[EpisodeView]) -> Counter[str]:
    return Counter(episode.outcome for episode in episodes)


def variant_description(variant: str) -> str:
    if variant in VARIANTS:
        return VARIANTS[variant].description
    if variant in OEG_VARIANTS:
        return OEG_VARIANTS[variant].description
    return ""


# -- pieces of an episode ---------------------------------------------------------------------------
def _href(root: str, path: str) -> str:
    return path if path.startswith("file:") else f"{root}/{path}"


def picture_html(picture: Picture | None, rendered: Rendered | None, root: str, caption: str) -> str:
    if picture is None:
        return f"<figure><div class=missing>no image<br>{escape(caption)}</div></figure>"
    crop = f" crop {','.join(f'{c:g}' for c in picture.crop)}" if picture.crop else ""
    text = f"{caption} · {picture.path}{crop}"
    if rendered is None or rendered.thumb is None:
        why = rendered.missing if rendered else "not rendered"
        path = "(path not shown)" if rendered and rendered.refused else picture.path  # never point outside the data
        return (f"<figure><div class=missing title='{escape(why or '')}'>image missing<br><code>{escape(path)}"
                f"</code><br>{escape(why or '')}</div><figcaption>{escape(caption)}</figcaption></figure>")
    image = (f"<img loading=lazy src='{escape(_href(root, rendered.thumb))}' width={rendered.width} "
             f"height={rendered.height} alt='{escape(text)}'>")
    if rendered.full:
        image = f"<a href='{escape(_href(root, rendered.full))}' target=_blank>{image}</a>"
    return f"<figure>{image}<figcaption>{escape(text)}</figcaption></figure>"


def _option_html(option: Any) -> str:
    classes = [{"request": "req", "abstain": "abs", CATEGORY: "cat"}[option.kind]]
    if option.accepted:
        classes.append("acc")
    if option.chosen:
        classes.append("ans")
    return f"<li class='{' '.join(classes)}'>{option.letter}. {escape(option.text)}</li>"


def turn_html(turn: TurnView, episode: EpisodeView, images: Mapping[Picture, Rendered], root: str) -> str:
    parts = [picture_html(turn.picture, images.get(turn.picture) if turn.picture else None, root,
                          f"turn {turn.index + 1}")]
    text = [f"<p class=q>{escape(turn.prompt)}"
            + (f"<mark class=hint>{escape(turn.hint)}</mark>" if turn.hint else "") + "</p>"]
    if turn.options:
        if turn.open_question or turn.model_output is not None:
            text.append("<p class=extra>options (not shown to the model; the judge mapped its answer onto them):</p>")
        text.append("<ol class=opts>" + "".join(_option_html(option) for option in turn.options) + "</ol>")
    if turn.model_output is not None:
        text.append(f"<p class=a>model said <q>{escape(turn.model_output)}</q></p>")
    if turn.judge and turn.model_output is not None:
        text.append(_mapping_html(turn.judge))
    if turn.open_question and episode.valid_answers is not None:
        text.append(f"<p class=extra>valid proactive answers (judge's list): {escape(episode.valid_answers)}</p>")
    answer = f" <q>{escape(turn.answer)}</q>" if turn.answer or turn.model_output is None else ""
    label = "played" if turn.model_output is not None else "answer"
    text.append(f"<p class=a>{badge(turn.outcome)} {label}{answer} — {escape(turn.reason)}</p>")
    if turn.open_question and turn.judge:
        text.append(_verdict_html(turn.judge))
    if turn.earlier:
        thumbs = "".join(_mini(episode.turns[i].picture, images, root) for i in turn.earlier if i < len(episode.turns))
        which = "turn 1" if len(turn.earlier) == 1 else f"turns 1–{len(turn.earlier)}"
        text.append(f"<p class='extra earlier'>also sent: {which} (images at 224 px, with prompts and answers) "
                    f"{thumbs}</p>")
    parts.append("<div class=txt>" + "".join(text) + "</div>")
    return f"<li class='turn {turn.outcome}'>" + "".join(parts) + "</li>"


def _mini(picture: Picture | None, images: Mapping[Picture, Rendered], root: str) -> str:
    rendered = images.get(picture) if picture else None
    if rendered is None or rendered.thumb is None:
        return "<span class=missing-mini>[missing]</span>"
    return f"<img loading=lazy src='{escape(_href(root, rendered.thumb))}' alt='earlier turn'>"


def _mapping_html(judge: Mapping[str, Any]) -> str:
    if judge.get("status") != "judged":
        return f"<p class=extra>judge: not mapped ({escape(str(judge.get('error')))})</p>"
    index = judge.get("option_index")
    which = f"option {index + 1}" if isinstance(index, int) else str(judge.get("mapping"))
    raw = f"<details><summary>judge output</summary><pre>{escape(str(judge.get('raw_output')))}</pre></details>"
    return (f"<p class=extra>judge mapped it to {escape(which)} ({escape(str(judge.get('how')))}); played "
            f"<q>{escape(str(judge.get('fed_answer')))}</q></p>{raw}")


def _verdict_html(judge: Mapping[str, Any]) -> str:
    model = judge.get("judge_model")
    raw = judge.get("raw_output")
    body = f"<pre>{escape(str(raw))}</pre>" if raw is not None else ""
    return (f"<details><summary>judge verdict ({escape(str(judge.get('status')))}"
            + (f", {escape(str(model))}" if model else "") + f")</summary>{body}</details>")


def _examples_html(episode: EpisodeView, images: Mapping[Picture, Rendered], root: str) -> str:
    if not episode.examples:
        return ""
    items = []
    for number, example in enumerate(episode.examples, 1):
        for step_number, step in enumerate(example.steps, 1):
            figure = picture_html(step.picture, images.get(step.picture), root, f"example {number}, step {step_number}")
            items.append(f"<li class=turn>{figure}<div class=txt><pre>{escape(step.prompt)}</pre>"
                         f"<p class=a>example answer <q>{escape(step.answer)}</q></p></div></li>")
    ids = ", ".join(str(example.sample_id) for example in episode.examples)
    return (f"<details class=examples><summary>{len(episode.examples)} solved example(s) sent before every turn "
            f"(samples {escape(ids)})</summary><ol class=turns>{''.join(items)}</ol></details>")


def answers_text(episode: EpisodeView, width: int = 40) -> str:
    """The answers at a glance, turn by turn (each cut to ``width`` characters)."""
    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if len(text) <= width else text[: width - 1] + "…"

    return " → ".join(cut(turn.answer or (turn.model_output or "")) for turn in episode.turns)


def episode_html(episode: EpisodeView, images: Mapping[Picture, Rendered], root: str) -> str:
    requests = f"{episode.requests} request" + ("" if episode.requests == 1 else "s")
    target = f" · target <i>{escape(episode.target)}</i>" if episode.target else ""
    summary = (f"<summary>{badge(episode.outcome)} <b>doc {escape(str(episode.doc_id))}</b> · sample "
               f"{escape(episode.sample_id)}{target} · {requests} <span class=path>{escape(answers_text(episode))}"
               "</span></summary>")
    body = [f"<p class=why>{badge(episode.outcome)} {escape(episode.reason)}</p>"]
    if episode.notes:
        body.append("<ul class=notes>" + "".join(f"<li>{escape(note)}</li>" for note in episode.notes) + "</ul>")
    if episode.settings:
        body.append("<p class=extra>settings: " + escape(", ".join(f"{k} {v}" for k, v in episode.settings.items()))
                    + "</p>")
    body.append(_examples_html(episode, images, root))
    body.append("<ol class=turns>" + "".join(turn_html(turn, episode, images, root) for turn in episode.turns) + "</ol>")
    attributes = (f"class='ep item' id='d{escape(str(episode.doc_id))}' data-outcome={episode.outcome} "
                  f"data-requests={episode.requests} data-key='{escape(episode.key)}'")
    return f"<details open {attributes}>{summary}<div class=body>{''.join(body)}</div></details>"


# -- pages --------------------------------------------------------------------------------------------
LEGEND = ("<p class=legend><span><b>▶</b> the model's answer</span><span style='color:var(--ok)'>✓ accepted "
          "by the benchmark at that turn</span><span>outcomes: " + " ".join(badge(o) for o in OUTCOMES) + "</span></p>")


def _select(name: str, label: str, choices: Sequence[tuple[str, str]]) -> str:
    options = "".join(f"<option value='{escape(value)}'>{escape(text)}</option>" for value, text in choices)
    return f"<label>{escape(label)} <select name={name}>{options}</select></label>"


EPISODES_PER_PAGE = 100  # a page of full episodes stays small enough to open at once, whatever the task's size


def chunk_of(position: int) -> int:
    """Which page (1, 2, ...) of its task the episode at ``position`` is on."""
    return position // EPISODES_PER_PAGE + 1


def chunk_href(task: TaskView, number: int) -> str:
    """The page of full episodes ``number`` of ``task``, relative to the site root."""
    return f"{task.href[: -len('.html')]}.{number}.html"


def _task_header(task: TaskView, root: str, episodes: Sequence[EpisodeView], where: str = "") -> str:
    counts = outcome_counts(episodes)
    mean = sum(e.requests for e in episodes) / len(episodes) if episodes else 0.0
    numbers = " · ".join(filter(None, [metrics_text(task.metrics), judged_means(episodes)]))
    return (f"<header><nav><a href='{root}/index.html'>all runs</a> › {escape(task.run.label)}{where}</nav>"
            f"<h1>{escape(task.task)} <small>{escape(task.scenario)} · {escape(task.variant)} · "
            f"{escape(task.run.label)}</small></h1>"
            f"<p class=metrics>{escape(numbers)} · {len(episodes)} episodes: "
            + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o])
            + f" · {mean:.2f} requests per episode</p>"
            + (synthetic_banner([task.data or ""]) if task.synthetic else "")
            + f"<p class=note>{escape(variant_description(task.variant))}</p></header>")


def _filters(episodes: Sequence[EpisodeView], *, buttons: bool) -> str:
    counts = outcome_counts(episodes)
    requests = Counter(episode.requests for episode in episodes)
    outcome_choices = [("", f"all ({len(episodes)})")] + [(o, f"{o} ({counts[o]})") for o in OUTCOMES if counts[o]]
    request_choices = [("", "any")] + [(str(r), f"{r} ({requests[r]})") for r in sorted(requests)]
    extra = ("<button type=button id=expand>expand shown</button><button type=button id=collapse>collapse</button>"
             if buttons else "")
    return ("<form class=filters id=filters>" + _select("outcome", "outcome", outcome_choices)
            + _select("requests", "requests", request_choices)
            + "<label>search <input type=search name=q placeholder='answer, target, sample id'></label>"
            + extra + "<span id=count></span></form>")


def task_page(task: TaskView) -> str:
    """A task's overview: one filterable row per episode, linking to its page of full episodes."""
    episodes = task.episodes or ()
    name = task.href.rsplit("/", 1)[-1][: -len(".html")]
    rows = []
    for position, episode in enumerate(episodes):
        link = f"{name}.{chunk_of(position)}.html#doc={escape(str(episode.doc_id))}"
        rows.append(f"<tr class=item data-outcome={episode.outcome} data-requests={episode.requests}>"
                    f"<td>{badge(episode.outcome)}</td><td><a href='{link}'>doc {escape(str(episode.doc_id))}</a></td>"
                    f"<td>{escape(episode.sample_id)}</td><td>{escape(episode.target)}</td>"
                    f"<td class=n>{episode.requests}</td><td class=path>{escape(answers_text(episode))}</td>"
                    f"<td>{escape(episode.reason)}</td></tr>")
    pages = " ".join(f"<a href='{name}.{number}.html'>{(number - 1) * EPISODES_PER_PAGE + 1}–"
                     f"{min(number * EPISODES_PER_PAGE, len(episodes))}</a>"
                     for number in range(1, chunk_of(len(episodes) - 1) + 1)) if episodes else ""
    table = ("<table class=episodes><thead><tr><th>outcome</th><th>doc</th><th>sample</th><th>target</th>"
             "<th>requests</th><th>answers</th><th>why</th></tr></thead><tbody>\n" + "\n".join(rows)
             + "\n</tbody></table>")
    body = (_task_header(task, "../..", episodes) + _filters(episodes, buttons=False)
            + f"<p class=note>Full episodes, turn by turn: {pages}</p>" + table)
    return document(f"{task.task} · {task.run.label}", body, page="task")


def chunk_page(task: TaskView, number: int, images: Mapping[Picture, Rendered]) -> str:
    """Episodes ``number``: up to EPISODES_PER_PAGE full episodes of a task, turn by turn."""
    root = "../.."
    episodes = task.episodes or ()
    shown = episodes[(number - 1) * EPISODES_PER_PAGE: number * EPISODES_PER_PAGE]
    name = task.href.rsplit("/", 1)[-1][: -len(".html")]
    last = chunk_of(len(episodes) - 1)
    steps = [f"<a href='{name}.{n}.html'>{label}</a>" for n, label in ((number - 1, "‹ previous"), (number + 1, "next ›"))
             if 1 <= n <= last]
    where = (f" › <a href='{name}.html'>{escape(task.task)}</a> › episodes {(number - 1) * EPISODES_PER_PAGE + 1}–"
             f"{(number - 1) * EPISODES_PER_PAGE + len(shown)} of {len(episodes)} " + " ".join(steps))
    listing = "\n".join(episode_html(episode, images, root) for episode in shown)
    body = (_task_header(task, root, episodes, where) + _filters(shown, buttons=True) + LEGEND
            + f"<main>\n{listing}\n</main>")
    return document(f"{task.task} {number} · {task.run.label}", body, page="episodes")


def index_page(runs: Sequence[RunView], tasks: Sequence[TaskView], notes: Sequence[str], *, compare: bool) -> str:
    scenarios = list(dict.fromkeys(task.scenario for task in tasks))
    variants = list(dict.fromkeys(task.variant for task in tasks))
    form = ("<form class=filters id=filters>" + _select("scenario", "scenario", [("", "all")] + [(s, s) for s in scenarios])
            + _select("variant", "variant", [("", "all")] + [(v, v) for v in variants])
            + _select("run", "run", [("", "all")] + [(r.slug, r.label) for r in runs])
            + "<label>search <input type=search name=q></label><span id=count></span></form>")
    rows = []
    for task in tasks:
        if task.episodes is None:
            cells = "<td colspan=3>no samples file (run lmms-eval with --log_samples)</td>"
            link = escape(task.task)
        else:
            counts = outcome_counts(task.episodes)
            mean = sum(e.requests for e in task.episodes) / len(task.episodes) if task.episodes else 0.0
            cells = (f"<td class=n>{len(task.episodes)}</td><td>"
                     + " ".join(f"{badge(o)} {counts[o]}" for o in OUTCOMES if counts[o])
                     + f"</td><td class=n>{mean:.2f}</td>")
            link = f"<a href='{escape(task.href)}'>{escape(task.task)}</a>"
        rows.append(f"<tr class=item data-scenario='{escape(task.scenario)}' data-variant='{escape(task.variant)}' "
                    f"data-run='{escape(task.run.slug)}'><td>{escape(task.run.label)}</td><td>{link}"
                    f"{' <strong>[synthetic]</strong>' if task.synthetic else ''}</td>"
                    f"<td>{escape(task.scenario)}</td><td>{escape(task.variant)}</td>{cells}"
                    f"<td>{escape(' · '.join(filter(None, [metrics_text(task.metrics), judged_means(task.episodes or ())])))}"
                    "</td></tr>")
    table = ("<table><thead><tr><th>run</th><th>task</th><th>scenario</th><th>variant</th><th>episodes</th>"
             "<th>outcomes</th><th>requests / ep.</th><th>metrics (results file)</th></tr></thead><tbody>"
             + "\n".join(rows) + "</tbody></table>")
    run_rows = "".join(
        f"<tr><td>{escape(r.label)}</td><td>{escape(r.backend)}</td><td><code>{escape(r.model_args)}</code></td>"
        f"<td>{escape(str(r.limit if r.limit is not None else ''))}</td><td>{escape(r.date)}</td>"
        f"<td><code>{escape(r.results_file)}</code></td></tr>" for r in runs)
    runs_table = ("<h2>Runs</h2><table><thead><tr><th>run</th><th>lmms-eval model</th><th>model_args</th><th>limit</th>"
                  f"<th>date</th><th>results file</th></tr></thead><tbody>{run_rows}</tbody></table>")
    extra = ("<p><a href='compare.html'>side by side</a>: two runs (or variants) of one scenario, doc by doc</p>"
             if compare else "")
    note_list = ("<h2>Notes</h2><ul class=notes>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"
                 if notes else "")
    synthetic = [task.data or "" for task in tasks if task.synthetic]
    banner = synthetic_banner(synthetic) if synthetic else ""
    body = (f"<header><h1>ProactiveBench episodes <small>{len(runs)} run(s), {len(tasks)} task(s)</small></h1>"
            f"<p class=note>Each task page lists its episodes turn by turn: what the model saw, the options, its "
            f"answer and what the benchmark accepted.</p>{banner}{extra}</header>{form}{table}{runs_table}{note_list}")
    return document("ProactiveBench episodes", body, page="index")


def compare_page(tasks: Sequence[TaskView]) -> str:
    """Two columns (run x task of one scenario) side by side; each doc shows both task pages' episode."""
    columns = [task for task in tasks if task.episodes]
    data = {
        "columns": [{"label": f"{t.run.label} · {t.task}", "scenario": t.scenario, "base": t.href[: -len(".html")]}
                    for t in columns],
        "episodes": [{e.key: [e.outcome, e.requests, str(e.doc_id), chunk_of(i)] for i, e in enumerate(t.episodes or ())}
                     for t in columns],
        "info": {},
    }
    for task in columns:
        info = data["info"].setdefault(task.scenario, {})
        for episode in task.episodes or ():
            info.setdefault(episode.key, [episode.sample_id, episode.target])
    groups: dict[str, list[str]] = {}
    for number, task in enumerate(columns):
        groups.setdefault(task.scenario, []).append(
            f"<option value={number}>{escape(task.run.label)} · {escape(task.task)}</option>")
    options = "".join(f"<optgroup label='{escape(s)}'>{''.join(o)}</optgroup>" for s, o in groups.items())
    first, second = _default_pair(columns)
    agree = [("", "all docs"), ("differ", "outcome or requests differ"), ("a", "only A correct"),
             ("b", "only B correct"), ("both", "both correct"), ("neither", "neither correct")]
    form = (f"<form class='filters cmp'><label>A <select id=a>{options}</select></label> <label>B <select id=b>{options}"
            "</select></label> <label>show <select id=agree>"
            + "".join(f"<option value='{v}'>{escape(t)}</option>" for v, t in agree)
            + "</select></label> <label>search <input type=search id=cq></label> <span id=ccount></span></form>")
    table = ("<div class=scroll><table><thead><tr><th>sample</th><th>target</th><th>A</th><th>B</th></tr></thead>"
             "<tbody id=rows></tbody></table></div>")
    frames = "<div class=compare><iframe id=fa title=A></iframe><iframe id=fb title=B></iframe></div>"
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    body = (f"<header><nav><a href='index.html'>all runs</a></nav><h1>Side by side <small>pick two columns of one "
            f"scenario, then a doc</small></h1></header>{form}{table}{frames}"
            f"<script type=application/json id=compare-data>{payload}</script>"
            f"<script>if (!location.hash) {{ history.replaceState(null, '', '#a={first}&b={second}'); }}</script>")
    return document("ProactiveBench side by side", body, page="compare")


def _default_pair(columns: Sequence[TaskView]) -> tuple[int, int]:
    """The first two columns of one scenario (the first scenario that has two)."""
    seen: dict[str, int] = {}
    for number, task in enumerate(columns):
        if task.scenario in seen:
            return seen[task.scenario], number
        seen[task.scenario] = number
    return 0, min(1, max(len(columns) - 1, 0))
