"""OEG judging: the judge phase against a scripted judge on loopback, its faults, and the pure parts.

The golden OEG records (the benchmark's parser run on scripted judge outputs) are replayed
through the whole path: samples log -> `python -m proactivebench_ext judge` -> HTTP judge ->
judgements file -> results JSON, with `<think>` blocks, 500s and a slow answer on the way.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import requests

from proactivebench_ext.core.naming import scenario_slug
from proactivebench_ext.judge import phase as judge_cli
from proactivebench_ext.judge.client import (
    JudgeClient,
    JudgeConfigError,
    JudgeFailed,
    JudgeRejected,
    JudgeSettings,
    JudgeUnreachable,
    backoff_delays,
    failure_kind,
    judge_configured,
)
from proactivebench_ext.judge.phase import (
    JUDGED,
    MALFORMED,
    MAX_JUDGED_ANSWER_CHARS,
    NONE,
    OPTION,
    OTHER,
    JudgementStore,
    OegInput,
    OptionMapping,
    group_mean,
    judgement_key,
    judgements_path,
    mapped_answer,
    mapping_messages,
    mean_of_judged,
    parse_mapping,
)
from proactivebench_ext.judge.prompts import METRICS
from proactivebench_ext.lmms.oeg_hooks import sample_oeg

from ..fake_judge_server import FakeJudge, Reply, user_text

GOLDEN = Path(__file__).parents[1] / "golden" / "oeg.jsonl"
DATE = "20990101_000000"


# -- the golden records as a generation log ----------------------------------------------------
def golden_cases() -> list[dict]:
    """One case per (golden entry, scripted judge output) parsed with the acronym, as our tasks do."""
    cases, seen = [], set()
    for r, record in enumerate(map(json.loads, GOLDEN.read_text("utf-8").splitlines())):
        if "error" in record:
            continue
        for k, judged in enumerate(j for j in record["judged"] if j["dataset_arg"] == record["acronym"]):
            # answers are unique, so the scripted judge can tell the cases apart; the first case of
            # each record keeps the golden answer (and so the golden judge messages) when it can
            answer = record["generated_answer"]
            if k or answer in seen:
                answer = f"{answer} (probe {r}.{k})"
            seen.add(answer)
            cases.append({"record": record, "k": k, "output": judged["judge_output"], "parsed": judged["parsed"],
                          "answer": answer, "golden_messages": answer == record["generated_answer"]})
    return cases


def write_samples_logs(logdir: Path, cases: list[dict]) -> dict[str, list[dict]]:
    """One lmms-eval samples file per scenario, in the layout lmms-eval writes (target = judge input)."""
    by_task: dict[str, list[dict]] = {}
    for case in cases:
        by_task.setdefault(f"proactivebench_oeg_{scenario_slug(case['record']['acronym'])}", []).append(case)
    logdir.mkdir(parents=True, exist_ok=True)
    for task, task_cases in by_task.items():
        lines = []
        for doc_id, case in enumerate(task_cases):
            record = case["record"]
            target = OegInput(record["acronym"], str(record["entry"]["id"]), record["prompt"], record["valid_answers"])
            lines.append(json.dumps({"doc_id": doc_id, "target": target.to_target(), "filtered_resps": [case["answer"]],
                                     "doc_hash": "x", "input": record["prompt"]}))
        (logdir / f"{DATE}_samples_{task}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return by_task


def golden_script(cases: list[dict], *, always_500: str, flaky: str, slow: str):
    """Scripted judge: each answer gets its golden output, half of them behind a <think> block
    full of digits; one answer always fails with 500, one fails twice first, one is slow once."""
    outputs = {case["answer"]: case["output"] for case in cases}

    def script(messages, attempt):
        answer = user_text(messages).split("### System Output:\n", 1)[1]
        if answer == always_500 or (answer == flaky and attempt < 2):
            return Reply(status=500 if answer == always_500 else 503)
        if answer == slow and attempt == 0:
            return Reply(content="1,1", delay=1.5)  # past the 0.5 s timeout: never read
        output = outputs[answer]
        if hash(answer) % 2:
            output = f"<think>\nComparing: 1,0,1 then 0,1. Final list follows.\n</think>\n\n{output}"
        return Reply(content=output)
    return script


def expected_summary(task_cases: list[dict]) -> dict[str, float]:
    return {m: 100.0 * sum(c["parsed"][m] for c in task_cases) / len(task_cases) for m in METRICS}



def test_judge_phase_reproduces_the_benchmark_parser_through_http(tmp_path, judge_env, capsys):
    cases = golden_cases()
    assert len(cases) > 700
    by_task = write_samples_logs(tmp_path, cases)
    always_500, flaky, slow = cases[3]["answer"], cases[20]["answer"], cases[40]["answer"]
    with FakeJudge(golden_script(cases, always_500=always_500, flaky=flaky, slow=slow)) as judge:
        judge_env(judge.url)
        assert judge_cli.main([str(tmp_path), "--workers", "6"]) == 1  # one answer stays unjudged
        err = capsys.readouterr().err
        assert f"judged {len(cases)}/{len(cases)}" in err and "1 answer(s) unjudged" in err
        sent = [user_text(m).split("### System Output:\n", 1)[1] for m in judge.requests]
        assert sent.count(always_500) == 4 and sent.count(flaky) == 3 and sent.count(slow) == 2
        assert len(sent) == len(cases) + 3 + 2 + 1
        # the judge got the benchmark's exact messages
        golden_messages = [c["record"]["judge_messages"] for c in cases if c["golden_messages"]]
        assert len(golden_messages) >= 15 and all(m in judge.requests for m in golden_messages)

        results = json.loads((tmp_path / f"{DATE}_results_judged.json").read_text())
        task = f"proactivebench_oeg_{scenario_slug(cases[3]['record']['acronym'])}"
        assert results["results"][task]["unjudged,none"] == 1

        # rerun: only the unjudged answer is sent again, now successfully
        judge.script = golden_script(cases, always_500="", flaky="", slow="")
        before = judge.count
        assert judge_cli.main([str(tmp_path)]) == 0
        assert judge.count == before + 1
        assert user_text(judge.requests[-1]).endswith(always_500)

    results = json.loads((tmp_path / f"{DATE}_results_judged.json").read_text())
    for task, task_cases in by_task.items():
        entry = results["results"][task]
        for metric, value in expected_summary(task_cases).items():
            assert entry[f"{metric},none"] == pytest.approx(value), (task, metric)
        assert entry["unjudged,none"] == 0 and entry["judged,none"] == len(task_cases)
        # per answer: the stored verdict is the golden one
        store = JudgementStore(judgements_path(tmp_path / f"{DATE}_samples_{task}.jsonl"))
        verdicts = {r["answer"]: r for r in store.latest.values() if r["status"] == JUDGED}
        for case in task_cases:
            assert verdicts[case["answer"]]["scores"] == case["parsed"], case["output"]
    group = results["groups"]["proactivebench_oeg"]
    assert results["group_subtasks"]["proactivebench_oeg"] == sorted(by_task)
    for metric in METRICS:
        assert group[f"{metric},none"] == pytest.approx(
            sum(expected_summary(c)[metric] for c in by_task.values()) / len(by_task))
    # malformed outputs are counted apart (they score 0, as in the benchmark)
    malformed = {c["output"] for c in cases} & {"I could not decide.", "", "1 0"}
    assert malformed and results["groups"]["proactivebench_oeg"]["malformed,none"] >= len(
        [c for c in cases if c["output"] in malformed])
    for task, task_cases in by_task.items():
        store = JudgementStore(judgements_path(tmp_path / f"{DATE}_samples_{task}.jsonl"))
        flags = {r["answer"]: r["well_formed"] for r in store.latest.values() if r["status"] == JUDGED}
        assert all(not flags[c["answer"]] for c in task_cases if c["output"] in malformed)
        assert results["results"][task]["malformed,none"] == sum(not flag for flag in flags.values())


def test_unreachable_judge_is_a_clear_error_and_loses_nothing(tmp_path, judge_env, capsys):
    cases = [c for c in golden_cases() if c["record"]["acronym"] == "IN-C"][:12]
    write_samples_logs(tmp_path, cases)
    samples = {p: p.read_bytes() for p in tmp_path.glob("*_samples_*")}
    judge_env("http://127.0.0.1:9/v1")  # discard port: nothing listens
    assert judge_cli.main([str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "OPENAI_API_URL=http://127.0.0.1:9/v1" in err and "rerun" in err
    assert {p: p.read_bytes() for p in tmp_path.glob("*_samples_*")} == samples

    # a judge that dies midway: the verdicts so far are kept, the rest is reported, exit 3
    script = golden_script(cases, always_500="", flaky="", slow="")
    with FakeJudge(lambda m, a: Reply(drop=True) if judge.count > 5 else script(m, a)) as judge:
        judge_env(judge.url)
        assert judge_cli.main([str(tmp_path), "--workers", "1"]) == 3
    assert "cannot reach the judge" in capsys.readouterr().err
    results = json.loads((tmp_path / f"{DATE}_results_judged.json").read_text())["results"]["proactivebench_oeg_inc"]
    assert (results["judged,none"], results["unjudged,none"]) == (5, 7)


def test_judge_cli_usage_errors(tmp_path, judge_env, monkeypatch, capsys):
    assert judge_cli.main([str(tmp_path / "missing")]) == 2
    assert judge_cli.main([str(tmp_path)]) == 2
    assert "no samples file of a single-turn OEG task" in capsys.readouterr().err
    write_samples_logs(tmp_path, golden_cases()[:2])
    monkeypatch.delenv("OPENAI_API_URL", raising=False)
    assert judge_cli.main([str(tmp_path)]) == 2
    assert "OPENAI_API_URL" in capsys.readouterr().err
    judge_env("http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert judge_cli.main([str(tmp_path)]) == 2
    assert "OPENAI_API_KEY is not set" in capsys.readouterr().err


def test_client_retries_transient_faults_and_stops_on_config_errors(judge_env):
    waits: list[float] = []
    replies = {"ok": [Reply(status=500), Reply(status=429), Reply(content="<think>x</think>1")],
               "bad": [Reply(status=404)], "down": [Reply(status=502)] * 9, "empty": [Reply(content=None)]}

    def script(messages, attempt):
        return replies[user_text(messages)][attempt]
    with FakeJudge(script) as judge:
        judge_env(judge.url)
        client = JudgeClient(JudgeSettings.from_env(), sleep=waits.append)
        assert client.complete([{"role": "user", "content": "ok"}]) == "<think>x</think>1"
        assert waits == [0.01, 0.02]
        with pytest.raises(JudgeRejected, match="JUDGE_MODEL_VERSION"):
            client.complete([{"role": "user", "content": "bad"}])
        with pytest.raises(JudgeFailed, match="server error after 4 attempts"):
            client.complete([{"role": "user", "content": "down"}])
        with pytest.raises(JudgeFailed, match="MAX_TOKENS"):
            client.complete([{"role": "user", "content": "empty"}])
    judge_env("http://127.0.0.1:9/v1")
    with pytest.raises(JudgeFailed, match="connection to the judge at OPENAI_API_URL=.* failed on all 4 attempts") as caught:
        JudgeClient(JudgeSettings.from_env(), sleep=lambda s: None).complete([{"role": "user", "content": "x"}])
    assert caught.value.kind == "connection", "one request's failure; the caller decides whether the judge is down"
    with pytest.raises(JudgeUnreachable, match="OPENAI_API_URL=http://127.0.0.1:9/v1"):
        JudgeClient(JudgeSettings.from_env()).check_reachable()


def test_a_dropped_connection_is_retried_like_a_5xx(judge_env):
    replies = {"once": [Reply(drop=True), Reply(content="1,0")], "always": [Reply(drop=True)] * 9}
    with FakeJudge(lambda messages, attempt: replies[user_text(messages)][attempt]) as judge:
        judge_env(judge.url)
        client = JudgeClient(JudgeSettings.from_env(), sleep=lambda s: None)
        assert client.complete([{"role": "user", "content": "once"}]) == "1,0"
        with pytest.raises(JudgeFailed, match="failed on all 4 attempts") as caught:
            client.complete([{"role": "user", "content": "always"}])
        assert caught.value.kind == "connection"
        assert [user_text(m) for m in judge.requests] == ["once"] * 2 + ["always"] * 4


def _judged_run(tmp_path, judge_env, capsys, drop, workers: int = 4, cases: list[dict] | None = None):
    """Judge ``cases`` (default: 30 answers of three scenarios) while ``drop(case_number, attempt)``
    says which attempts lose their connection; case numbers start at 1."""
    cases = cases or [c for c in golden_cases() if c["record"]["acronym"] in ("ROD", "QD", "CIT")][:30]
    write_samples_logs(tmp_path, cases)
    script = golden_script(cases, always_500="", flaky="", slow="")
    number = {case["answer"]: n for n, case in enumerate(cases, start=1)}

    def dropping(messages, attempt):
        answer = user_text(messages).split("### System Output:\n", 1)[1]
        return Reply(drop=True) if drop(number[answer], attempt) else script(messages, attempt)

    with FakeJudge(dropping) as judge:
        judge_env(judge.url)
        status = judge_cli.main([str(tmp_path), "--workers", str(workers)])
    results = json.loads((tmp_path / f"{DATE}_results_judged.json").read_text(), parse_constant=_no_constants)
    records = [json.loads(line) for path in sorted(tmp_path.glob(f"{DATE}_judgements_*.jsonl"))
               for line in path.read_text().splitlines()]
    captured = capsys.readouterr()
    return status, captured.err + captured.out, results, {number[r["answer"]]: r for r in records}, judge


def _no_constants(name: str):
    raise AssertionError(f"{name} is not JSON")


def test_first_attempt_of_every_third_request_dropped_all_judged(tmp_path, judge_env, capsys):
    status, err, results, records, judge = _judged_run(tmp_path, judge_env, capsys, lambda n, attempt: n % 3 == 0 and attempt == 0)
    assert status == 0, err
    assert len(records) == 30 and all(r["status"] == JUDGED for r in records.values())
    assert judge.count == 30 + 10, "each third request sent twice"
    assert sum(results["results"][t]["judged,none"] for t in results["group_subtasks"]["proactivebench_oeg"]) == 30


@pytest.mark.parametrize("workers", [1, 4])
def test_every_attempt_of_every_fifth_request_dropped_leaves_those_unjudged(tmp_path, judge_env, capsys, workers):
    status, err, results, records, judge = _judged_run(tmp_path, judge_env, capsys, lambda n, attempt: n % 5 == 0,
                                                       workers=workers)
    assert status == 1, err
    assert "6 answer(s) unjudged" in err and "cannot reach" not in err
    assert sorted(n for n, r in records.items() if r["status"] != JUDGED) == [5, 10, 15, 20, 25, 30]
    assert all(records[n]["status"] == JUDGED for n in range(1, 31) if n % 5)
    assert all("failed on all 4 attempts" in records[n]["error"] for n in (5, 10, 15, 20, 25, 30))
    tasks = results["group_subtasks"]["proactivebench_oeg"]
    assert sum(results["results"][t]["unjudged,none"] for t in tasks) == 6
    assert judge.count == 24 + 6 * 4


def test_a_task_with_nothing_judged_is_null_in_strict_json(tmp_path, judge_env, capsys):
    """Both ROD answers are lost, the QD ones judged: ROD's means and the group's are null (no NaN:
    the file parses as strict JSON), QD's are numbers, and the table shows a dash."""
    by_scenario = {acronym: [c for c in golden_cases() if c["record"]["acronym"] == acronym] for acronym in ("ROD", "QD")}
    cases = by_scenario["ROD"][:2] + by_scenario["QD"][:6]
    status, output, results, records, _ = _judged_run(tmp_path, judge_env, capsys, lambda n, attempt: n <= 2, cases=cases)
    assert status == 1 and "2 answer(s) unjudged" in output
    rod = results["results"]["proactivebench_oeg_rod"]
    assert (rod["judged,none"], rod["unjudged,none"]) == (0, 2)
    assert all(rod[f"{m},none"] is None for m in METRICS)
    assert all(results["groups"]["proactivebench_oeg"][f"{m},none"] is None for m in METRICS)
    assert all(isinstance(results["results"]["proactivebench_oeg_qd"][f"{m},none"], float) for m in METRICS)
    rod_row = next(line for line in output.splitlines() if line.startswith(" - proactivebench_oeg_rod"))
    assert rod_row.split()[-3:] == ["–", "–", "–"]


def test_a_run_of_failures_across_requests_means_unreachable():
    run = judge_cli.FailureRun(judge_cli.FailureRun.limit_for(workers=1))
    assert run.limit == 3 and judge_cli.FailureRun.limit_for(workers=8) == 8
    lost = JudgeFailed("lost", "connection")
    assert run.failure(lost, "J") is None and run.failure(lost, "J") is None
    run.verdict()  # a verdict in between: the judge is alive
    assert run.failure(lost, "J") is None and run.failure(lost, "J") is None
    fatal = run.failure(lost, "J")
    assert isinstance(fatal, JudgeUnreachable) and "cannot reach the judge at J: 3 different requests in a row" in str(fatal)
    run = judge_cli.FailureRun(1)
    assert "answers nothing usable" in str(run.failure(JudgeFailed("no content"), "J"))


def test_failure_kinds_and_backoff():
    def http_error(status: int) -> requests.HTTPError:
        response = requests.Response()
        response.status_code = status
        return requests.HTTPError(response=response)
    assert failure_kind(requests.ReadTimeout()) == "timeout"
    assert failure_kind(requests.ConnectionError()) == "connection"
    assert [failure_kind(http_error(s)) for s in (500, 503, 429, 408, 401, 403, 404, 400, 413, 422)] == \
        ["server", "server", "server", "timeout", "rejected", "rejected", "rejected", "refused", "refused", "refused"]
    assert failure_kind(KeyError("choices")) == "other"
    assert backoff_delays(JudgeSettings(retries=6, backoff=1, backoff_max=10)) == [1, 2, 4, 8, 10, 10]


def test_settings_come_from_lmms_eval_variables():
    env = {"API_TYPE": "local", "LLM_JUDGE_URL": "http://h:1/v1/chat/completions", "JUDGE_MODEL_VERSION": "m",
           "PROACTIVEBENCH_JUDGE_TIMEOUT": "7"}
    settings = JudgeSettings.from_env(env)
    assert (settings.api_type, settings.endpoint, settings.model, settings.timeout) == ("local", env["LLM_JUDGE_URL"], "m", 7)
    assert settings.endpoint_env == "LLM_JUDGE_URL"
    assert JudgeSettings.from_env({}).model == "Qwen/Qwen3-8B"
    with pytest.raises(JudgeConfigError, match="PROACTIVEBENCH_JUDGE_RETRIES='many'"):
        JudgeSettings.from_env({"PROACTIVEBENCH_JUDGE_RETRIES": "many"})
    assert not judge_configured({"OPENAI_API_KEY": "sk"})  # a key alone is the evaluated model's, maybe
    assert judge_configured({"OPENAI_API_URL": "http://h/v1"})
    assert not judge_configured({"OPENAI_API_URL": "http://h/v1", "PROACTIVEBENCH_JUDGE_INLINE": "0"})


@pytest.mark.parametrize("size", [7, 88, 100, 250, 1240])
def test_oeg_sample_is_the_benchmark_draw(size):
    rows = [{"sample_id": str(i)} for i in range(size)]
    reference = list(rows)
    random.seed(0)
    random.shuffle(reference)
    assert sample_oeg(rows, 100) == reference[:100]
    assert rows == [{"sample_id": str(i)} for i in range(size)]  # the input is not shuffled in place


def test_judgement_store_cuts_a_torn_last_line(tmp_path):
    path = tmp_path / "j.jsonl"
    store = JudgementStore(path)
    store.append({"doc_id": 0, "key": "a", "status": JUDGED})
    with open(path, "ab") as handle:
        handle.write(b'{"doc_id": 1, "key": "b", "sta')  # killed mid-write
    store = JudgementStore(path)
    assert store.judged(0, "a") and store.judged(1, "b") is None
    store.append({"doc_id": 1, "key": "b", "status": JUDGED})
    assert [json.loads(line)["doc_id"] for line in path.read_text().splitlines()] == [0, 1]


def test_mean_of_judged_never_counts_unjudged_as_zero_and_is_never_nan():
    assert mean_of_judged([100.0, None, 0.0]) == 50.0
    assert mean_of_judged([None, None]) is None and mean_of_judged([]) is None
    assert mean_of_judged([math.nan, 50.0]) == 50.0


def test_group_mean_keeps_a_task_without_value_as_none():
    assert group_mean([10.0, 30.0], [4, 1], False) == 20.0
    assert group_mean([10.0, 30.0], [3, 1], True) == 15.0
    assert group_mean([10.0, None], [4, 4], False) is None and group_mean([], [], False) is None


def test_judgement_key_changes_with_answer_and_model():
    spec = OegInput("ROD", "1", "Q?", "Move the blocks, Move the camera.")
    keys = {judgement_key(spec.messages(a), m) for a in ("x", "y") for m in ("m1", "m2")}
    assert len(keys) == 4


def test_mapping_prompt_and_parser():
    messages = mapping_messages("Q?", ["Move left.", "I cannot answer.", "cat"], "It is a cat")
    assert messages[1]["content"] == "### User Prompt:\nQ?\n### Options:\n1. Move left.\n2. I cannot answer.\n3. cat\n" \
                                     "### System Output:\nIt is a cat"
    assert parse_mapping("<think>maybe 1, or OTHER</think>\n\n3", 3) == OptionMapping(OPTION, 2)
    assert parse_mapping("Reasoning...\n**Option 1.**", 3) == OptionMapping(OPTION, 0)
    assert parse_mapping("other", 3) == OptionMapping(OTHER)
    assert parse_mapping("NONE\n", 3) == OptionMapping(NONE)
    for garbage in ("4", "0", "", "1, 2", "<think>3</think>", "The answer is 3"):
        assert parse_mapping(garbage, 3).kind == MALFORMED, garbage


def test_inapplicable_requests_become_a_seeded_valid_one():
    options = ["Move left.", "Move right.", "I cannot answer.", "cat"]
    assert mapped_answer(options, ["Move left."], OptionMapping(OPTION, 3), "s") == ("cat", "option")
    valid = ["Move left.", "Move right."]
    fed, how = mapped_answer(options, valid, OptionMapping(OTHER), "seed-1")
    assert how == "random_valid_request" and fed == random.Random("seed-1").choice(valid)
    assert {mapped_answer(options, valid, OptionMapping(OTHER), f"s{i}")[0] for i in range(20)} == set(valid)
    assert mapped_answer(options, [], OptionMapping(OTHER), "s") == ("", "request_not_applicable")
    assert mapped_answer(options, valid, OptionMapping(MALFORMED), "s") == ("", MALFORMED)


def test_episodes_errored_on_their_data_are_never_sent_to_the_judge(tmp_path):
    cases = [c for c in golden_cases() if c["record"]["acronym"] == "QD"][:3]
    [path] = [tmp_path / f"{DATE}_samples_{task}.jsonl" for task in write_samples_logs(tmp_path, cases)]
    lines = path.read_text("utf-8").splitlines()
    errored = json.loads(lines[1])
    errored["oeg_judge"] = {"status": judge_cli.ERRORED, "error": "data fault: image is empty"}
    lines[1] = json.dumps(errored)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    assert [sample.doc_id for sample in judge_cli.read_samples(path)] == [0, 2]


# -- per-request refusals, long answers, surrogates, duplicated docs ------------------------------
def _scripted_run(tmp_path, judge_env, capsys, special, cases: list[dict] | None = None, workers: int = 4):
    """Judge 30 answers; ``special(case_number, attempt)`` returns a Reply to send instead of the
    golden verdict (or None). Returns status, output, strict-parsed results, records by case, judge."""
    cases = cases or [c for c in golden_cases() if c["record"]["acronym"] in ("ROD", "QD", "CIT")][:30]
    write_samples_logs(tmp_path, cases)
    number = {judge_cli.judged_text(case["answer"])[0]: n for n, case in enumerate(cases, start=1)}

    def scripted(messages, attempt):
        answer = user_text(messages).split("### System Output:\n", 1)[1]
        return special(number[answer], attempt) or Reply(content=cases[number[answer] - 1]["output"])

    with FakeJudge(scripted) as judge:
        judge_env(judge.url)
        status = judge_cli.main([str(tmp_path), "--workers", str(workers)])
    results = json.loads((tmp_path / f"{DATE}_results_judged.json").read_text("utf-8"), parse_constant=_no_constants)
    records = [json.loads(line, parse_constant=_no_constants) for path in sorted(tmp_path.glob(f"{DATE}_judgements_*.jsonl"))
               for line in path.read_text("utf-8").split("\n") if line]
    captured = capsys.readouterr()
    return status, captured.err + captured.out, results, {number[r["answer"]]: r for r in records}, judge


@pytest.mark.parametrize("status_code", [400, 413, 422])
def test_a_4xx_for_one_request_leaves_only_that_answer_unjudged(tmp_path, judge_env, capsys, status_code):
    status, output, results, records, judge = _scripted_run(
        tmp_path, judge_env, capsys, lambda n, attempt: Reply(status=status_code) if n == 4 else None, workers=1)
    assert status == 1, output
    assert "1 answer(s) unjudged" in output and f"HTTP {status_code}: scripted {status_code}" in output
    assert records[4]["status"] != JUDGED and records[4]["error"] == \
        f"the judge refused this request: HTTP {status_code}: scripted {status_code}"
    assert all(records[n]["status"] == JUDGED for n in range(1, 31) if n != 4)
    assert judge.count == 30, "a refused request is not retried"
    tasks = results["group_subtasks"]["proactivebench_oeg"]
    assert sum(results["results"][t]["unjudged,none"] for t in tasks) == 1
    assert sum(results["results"][t]["judged,none"] for t in tasks) == 29


def test_refusals_in_a_row_do_not_make_the_judge_unreachable(tmp_path, judge_env, capsys):
    status, output, _, records, _ = _scripted_run(
        tmp_path, judge_env, capsys, lambda n, attempt: Reply(status=400) if n <= 10 else None, workers=1)
    assert status == 1 and "10 answer(s) unjudged" in output and "cannot reach" not in output
    assert sum(r["status"] == JUDGED for r in records.values()) == 20


@pytest.mark.parametrize("status_code", [401, 403, 404])
def test_401_403_404_mean_a_misconfigured_judge(tmp_path, judge_env, capsys, status_code):
    status, output, results, records, judge = _scripted_run(
        tmp_path, judge_env, capsys, lambda n, attempt: Reply(status=status_code) if n >= 3 else None, workers=1)
    assert status == 3 and f"answers HTTP {status_code} (scripted {status_code})" in output
    assert "JUDGE_MODEL_VERSION" in output
    assert sorted(n for n, r in records.items() if r["status"] == JUDGED) == [1, 2]  # verdicts so far kept


def test_long_answers_are_cut_before_judging_and_marked(tmp_path, judge_env, capsys):
    cases = [c for c in golden_cases() if c["record"]["acronym"] == "QD"][:3]
    cases[1] = dict(cases[1], answer=cases[1]["answer"] + " " + "very long " * 3000)
    status, output, _, records, judge = _scripted_run(tmp_path, judge_env, capsys, lambda n, a: None, cases=cases)
    assert status == 0, output
    sent = [user_text(m).split("### System Output:\n", 1)[1] for m in judge.requests]
    assert max(map(len, sent)) == MAX_JUDGED_ANSWER_CHARS
    assert records[2]["truncated"] is True and records[2]["answer_chars"] == len(cases[1]["answer"])
    assert records[2]["answer"] == cases[1]["answer"][:MAX_JUDGED_ANSWER_CHARS]
    assert records[1]["truncated"] is False and records[1]["answer_chars"] == len(cases[0]["answer"])


def test_a_surrogate_in_the_judge_output_or_the_answer_is_judged(tmp_path, judge_env, capsys):
    cases = [c for c in golden_cases() if c["record"]["acronym"] == "QD"][:4]
    cases[2] = dict(cases[2], answer=cases[2]["answer"] + " \udc80")
    replies = {1: lambda: Reply(content="<think>\ud800 odd</think>\n" + cases[0]["output"] + "\udfff")}
    status, output, results, records, _ = _scripted_run(
        tmp_path, judge_env, capsys, lambda n, attempt: replies[n]() if n in replies else None, cases=cases)
    assert status == 0, output
    assert all(record["status"] == JUDGED for record in records.values()) and len(records) == 4
    assert "\ud800" in records[1]["raw_output"]  # kept, escaped in the file
    assert records[3]["answer"].endswith(" \ufffd")  # sent as U+FFFD: no HTTP client encodes a lone surrogate
    assert results["results"]["proactivebench_oeg_qd"]["judged,none"] == 4
    store = JudgementStore(judgements_path(tmp_path / f"{DATE}_samples_proactivebench_oeg_qd.jsonl"))
    assert len(store.latest) == 4  # the store reads back what it wrote


def test_duplicated_doc_ids_are_refused_naming_the_file(tmp_path, judge_env, capsys):
    write_samples_logs(tmp_path, golden_cases()[:3])
    path = next(tmp_path.glob(f"{DATE}_samples_*.jsonl"))
    lines = path.read_text("utf-8").splitlines()
    path.write_text("\n".join(lines + lines[:1]) + "\n", encoding="utf-8")
    judge_env("http://127.0.0.1:9/v1")
    assert judge_cli.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: doc_id 0 is on lines 1 and {len(lines) + 1}" in err and "--output_path" in err
    assert not list(tmp_path.glob("*_judgements_*")) and not list(tmp_path.glob("*_results_judged.json"))
