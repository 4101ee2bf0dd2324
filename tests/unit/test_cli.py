"""The newcomer's surface: the command line, the PROACTIVEBENCH_* table, the data-folder rule and
the lmms-eval options our tasks refuse before a model loads (no subprocess here; the real
lmms-eval runs are in tests/integration/test_refused_options.py)."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from proactivebench_ext import __version__
from proactivebench_ext.__main__ import COMMANDS, main
from proactivebench_ext.cli import command_parser, plain
from proactivebench_ext.data.errors import DataNotFoundError
from proactivebench_ext.data.layout import data_folder, embedded_data_dir, resolve_data_dir
from proactivebench_ext.lmms.registration import tasks_path
from proactivebench_ext.lmms.runtime import environment, options


# -- the command line --------------------------------------------------------------------------------
def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"proactivebench_ext {__version__}"


def test_a_misspelt_command_gets_a_suggestion(capsys):
    assert main(["reprot"]) == 2
    assert "did you mean 'report'?" in capsys.readouterr().err
    assert main(["zzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_a_misspelt_option_gets_a_suggestion(capsys):
    parser = command_parser("demo", "Demo.")
    parser.add_argument("--limit", type=int, default=4)
    with pytest.raises(SystemExit):
        parser.parse_args(["--limt", "3"])
    assert "--limt: did you mean --limit?" in capsys.readouterr().err


def test_help_is_plain_text_with_defaults():
    parser = command_parser("x", "Uses :func:`.foo` and ``bar`` (see `docs <https://x>`_).\n\nSecond paragraph.")
    parser.add_argument("--out", default="out/demo", help="where ``files`` go")
    parser.add_argument("--limit", type=int, default=3, help="samples (default 3, or $X)")
    parser.add_argument("--flag", action="store_true", help="a switch")
    text = parser.format_help()
    assert "Uses foo and bar (see docs)." in " ".join(text.split())
    assert "Second paragraph" not in text and "``" not in text and ":func:" not in text
    assert "where files go (default: out/demo)" in " ".join(text.split())
    assert "(default 3, or $X)" in " ".join(text.split()) and "(default: 3)" not in text  # stated once
    assert "a switch (default" not in text


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_is_plain_and_says_its_defaults(command, capsys):
    if command == "tasks-path":
        assert main([command]) == 0  # takes no option
        return
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: python -m proactivebench_ext {command}")
    assert "``" not in text and ":func:" not in text and ":mod:" not in text
    parser_defaults = [line for line in text.splitlines() if "(default: None)" in line or "(default: False)" in line]
    assert parser_defaults == []


def test_plain_leaves_ordinary_text_alone():
    assert plain("a `b` c") == "a `b` c"
    assert plain(":class:`~x.Y` and :mod:`.runtime.environment`") == "x.Y and runtime.environment"


def test_commands_refuse_a_bad_setting_before_running(monkeypatch, capsys):
    monkeypatch.setenv("PROACTIVEBENCH_LOCKSTEP_POOL", "many")
    assert main(["tasks-path"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["proactivebench_ext tasks-path: PROACTIVEBENCH_LOCKSTEP_POOL='many' is not allowed: an integer >= 1 "
                   "(episodes in play at once) (unset it for the default)"]


def test_the_demo_is_not_stopped_by_the_data_variables_it_ignores(tmp_path, monkeypatch, capsys):
    import types

    ran = []
    fake_demo = types.SimpleNamespace(main=lambda argv: ran.append(argv) or 0)
    real_import = __import__("importlib").import_module
    monkeypatch.setattr("importlib.import_module",
                        lambda name: fake_demo if name == "proactivebench_ext.demo" else real_import(name))
    monkeypatch.setenv("PROACTIVEBENCH_DATA_DIR", str(tmp_path / "nowhere"))
    assert main(["demo", "--out", "x"]) == 0 and ran == [["--out", "x"]]
    assert main(["tasks-path"]) == 2  # every other command still refuses it
    assert "PROACTIVEBENCH_DATA_DIR" in capsys.readouterr().err


# -- the PROACTIVEBENCH_* table ----------------------------------------------------------------------
def _package_variables() -> set[str]:
    import re

    root = Path(__file__).resolve().parents[2]
    found = set()
    for path in [*(root / "proactivebench_ext").rglob("*.py"), *(root / "tests").rglob("*.py")]:
        if path.resolve() != Path(__file__).resolve():  # "[PROACTIVEBENCH_...": a log marker, not a variable
            found |= set(re.findall(r"(?<!\[)PROACTIVEBENCH_[A-Z][A-Z_]*[A-Z]", path.read_text("utf-8")))
    return found


def test_the_table_names_every_variable_the_code_reads():
    # Families written as a prefix in prose (PROACTIVEBENCH_JUDGE_{TIMEOUT,...}) are covered by their members.
    missing = sorted(name for name in _package_variables() - set(environment.BY_NAME)
                     if not any(known.startswith(name + "_") for known in environment.BY_NAME)
                     and name not in {"PROACTIVEBENCH_LOCKSTEP_SCHEDULE"})
    assert missing == [], f"add a row to proactivebench_ext/lmms/runtime/environment.py for {missing}"


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("PROACTIVEBENCH_LOCKSTEP", ["0", "off", "YES", "1"], ["2", "maybe"]),
    ("PROACTIVEBENCH_LOCKSTEP_POOL", ["1", "256"], ["0", "-3", "1.5", "many"]),
    ("PROACTIVEBENCH_LOCKSTEP_CONCURRENCY", ["auto", "0", "16"], ["-1", "lots"]),
    ("PROACTIVEBENCH_MAX_IMAGE_PIXELS", ["1000"], ["0", "lots"]),
    ("PROACTIVEBENCH_ARCHIVE_MAX_RATIO", ["2.5"], ["0", "nan", "inf"]),
    ("PROACTIVEBENCH_JUDGE_TOP_P", ["0", "0.95", "1"], ["1.5", "-0.1"]),
    ("PROACTIVEBENCH_JUDGE_RETRIES", ["0", "4"], ["-1", "2.5", "many"]),
    ("PROACTIVEBENCH_HYPOTHESIS_PROFILE", ["default", "long"], ["huge"]),
])
def test_values_are_parsed_or_refused_with_what_is_allowed(name, good, bad):
    for value in good:
        environment.read(name, {name: value})
    for value in bad:
        with pytest.raises(environment.BadSetting) as error:
            environment.read(name, {name: value})
        assert str(error.value).startswith(f"{name}={value!r} is not allowed: {environment.BY_NAME[name].allowed}")
    assert environment.read(name, {}) is None and environment.read(name, {name: "  "}) is None


def test_problems_lists_each_bad_value_and_warns_about_unknown_names(tmp_path):
    env = {"PROACTIVEBENCH_DOWNLOAD": "sure", "PROACTIVEBENCH_JUDGE_TIMEOUT": "300", "PROACTIVEBENCH_DATA_DIR": str(tmp_path),
           "PROACTIVEBENCH_DATADIR": "x"}
    assert environment.problems(env) == ["PROACTIVEBENCH_DOWNLOAD='sure' is not allowed: 1/true/yes/on or "
                                         "0/false/no/off (unset it for the default)"]
    assert environment.unknown(env) == ["PROACTIVEBENCH_DATADIR is not a ProactiveBench variable "
                                        "(did you mean PROACTIVEBENCH_DATA_DIR?)"]


def test_the_data_dir_variable_follows_the_data_folder_rule(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(embedded_data_dir(), root / "test")
    (line,) = environment.problems({"PROACTIVEBENCH_DATA_DIR": str(root)})
    assert line.startswith(f"PROACTIVEBENCH_DATA_DIR={str(root)!r} is not allowed:") and f"use {root / 'test'}" in line


# -- one data-folder rule ----------------------------------------------------------------------------
@pytest.fixture
def released(tmp_path: Path) -> Path:
    """A dataset root in the released shape: root/test/ holds the JSONLs and image folders."""
    shutil.copytree(embedded_data_dir(), tmp_path / "root" / "test")
    return tmp_path / "root"


def test_the_folder_holding_the_jsonls_is_the_data_folder(released):
    assert data_folder(released / "test") == released / "test"
    assert resolve_data_dir(released / "test") == released / "test"


def test_the_parent_is_refused_with_the_test_folder_to_use(released, monkeypatch):
    with pytest.raises(DataNotFoundError, match=f"use {released / 'test'}$"):
        data_folder(released)
    monkeypatch.setenv("PROACTIVEBENCH_DATA_DIR", str(released))
    with pytest.raises(DataNotFoundError, match="PROACTIVEBENCH_DATA_DIR .* but a folder inside it does"):
        resolve_data_dir()


def test_a_folder_inside_is_refused_with_the_data_folder_to_use(released):
    child = next(path for path in (released / "test").iterdir() if path.is_dir())
    with pytest.raises(DataNotFoundError, match=f"is inside the data folder {released / 'test'}"):
        data_folder(child)


def test_an_empty_folder_is_accepted_and_a_missing_one_refused(tmp_path):
    assert data_folder(tmp_path) == tmp_path  # each missing dataset is then reported by file name
    with pytest.raises(DataNotFoundError, match="which is not a directory"):
        data_folder(tmp_path / "nope")


def test_check_data_refuses_the_parent_with_the_suggestion(released, capsys):
    from proactivebench_ext.data.checkdata import main as check_data

    assert check_data([str(released)]) == 2
    assert f"use {released / 'test'}" in capsys.readouterr().err


# -- lmms-eval options refused at start --------------------------------------------------------------
def _index() -> dict:
    folder = tasks_path()
    return {"proactive_rod": {"type": "task", "yaml_path": str(folder / "proactivebench/main/proactive_rod.yaml")},
            "proactivebench": {"type": "group", "yaml_path": str(folder / "proactivebench/main/proactivebench.yaml")},
            "mme": {"type": "task", "yaml_path": "/site-packages/lmms_eval/tasks/mme/mme.yaml"},
            "a_tag": {"type": "tag", "yaml_path": -1, "task": ["proactive_rod"]},
            "proactivebench_oeg_multiturn": {"type": "group", "yaml_path": str(
                folder / "proactivebench_oeg/multiturn/proactivebench_oeg_multiturn.yaml")}}


def test_our_tasks_are_recognised_by_name_glob_tag_and_path():
    index, folder = _index(), str(tasks_path())
    assert options.requested_ours("mme", index, folder) == []
    assert options.requested_ours("mme,proactive_*", index, folder) == ["proactive_rod"]
    assert options.requested_ours("proactivebench", index, folder) == ["proactivebench"]
    assert options.requested_ours("a_tag", index, folder) == ["a_tag"]
    leaf = str(tasks_path() / "proactivebench/main/proactive_rod.yaml")
    assert options.requested_ours(leaf, index, folder) == [leaf]


def _start(argv_options: dict, tasks: str, monkeypatch, capsys, cache_ok: bool = True) -> tuple[int | None, str]:
    """Run refuse_at_start as lmms-eval's cli_evaluate_single would (same function and module name)."""
    namespace = {"__name__": "lmms_eval.__main__", "refuse": options.refuse_at_start, "index": _index(),
                 "folder": str(tasks_path()), "ok": lambda: cache_ok}
    exec("def cli_evaluate_single(args):\n    refuse(index, folder, response_cache_ok=ok)\n", namespace)
    args = argparse.Namespace(tasks=tasks, num_fewshot=None, cache_requests=None, use_cache=None,
                              apply_chat_template=False, fewshot_as_multiturn=False, system_instruction=None)
    for key, value in argv_options.items():
        setattr(args, key, value)
    try:
        namespace["cli_evaluate_single"](args)
        code = None
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("given", "option"), [
    ({"num_fewshot": 1}, "--num_fewshot 1"), ({"cache_requests": "true"}, "--cache_requests true"),
    ({"cache_requests": "refresh"}, "--cache_requests refresh"), ({"apply_chat_template": True}, "--apply_chat_template"),
    ({"fewshot_as_multiturn": True}, "--fewshot_as_multiturn"), ({"system_instruction": "Be brief."}, "--system_instruction"),
])
def test_unsupported_options_stop_the_run_with_one_line(given, option, monkeypatch, capsys):
    code, err = _start(given, "proactivebench", monkeypatch, capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"proactivebench_ext: ProactiveBench tasks cannot run with {option}") and "Drop " in line


def test_harmless_options_and_other_tasks_pass(monkeypatch, capsys):
    assert _start({"num_fewshot": 0, "cache_requests": "delete", "use_cache": "/tmp/c"}, "proactivebench",
                  monkeypatch, capsys) == (None, "")
    assert _start({"num_fewshot": 5, "cache_requests": "true"}, "mme", monkeypatch, capsys) == (None, "")


def test_use_cache_is_refused_only_without_the_lockstep_driver(monkeypatch, capsys):
    code, err = _start({"use_cache": "/tmp/c"}, "proactive_rod", monkeypatch, capsys, cache_ok=False)
    assert code == 2 and "--use_cache /tmp/c" in err and "PROACTIVEBENCH_LOCKSTEP" in err


def test_use_cache_is_refused_for_multiturn_oeg_as_its_hooks_do(monkeypatch, capsys):
    code, err = _start({"use_cache": "/tmp/c"}, "proactivebench_oeg_multiturn", monkeypatch, capsys)
    assert code == 2 and "Drop --use_cache for proactivebench_oeg_multiturn" in err and len(err.strip().splitlines()) == 1
    code, err = _start({"use_cache": "/tmp/c"}, "proactivebench_oeg_multiturn", monkeypatch, capsys, cache_ok=False)
    assert code == 2 and len(err.strip().splitlines()) == 1  # one line, not two, for one option


def test_bad_settings_stop_the_run_too(monkeypatch, capsys):
    monkeypatch.setenv("PROACTIVEBENCH_LOCKSTEP", "2")
    code, err = _start({}, "proactivebench", monkeypatch, capsys)
    assert code == 2 and err.startswith("proactivebench_ext: PROACTIVEBENCH_LOCKSTEP='2' is not allowed")


def test_only_rank_zero_prints(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "1")
    assert _start({"num_fewshot": 2}, "proactivebench", monkeypatch, capsys) == (2, "")


def test_outside_lmms_eval_command_line_nothing_is_checked(monkeypatch):
    monkeypatch.setenv("PROACTIVEBENCH_LOCKSTEP", "2")
    options.refuse_at_start(_index(), str(tasks_path()), response_cache_ok=lambda: True)  # no cli frame: no-op


def test_the_docs_table_is_the_generated_one():
    page = (Path(__file__).resolve().parents[2] / "docs" / "contributing.md").read_text("utf-8")
    start, end = "<!-- environment-table: generated by", "<!-- /environment-table -->"
    shown = page[page.index(start):page.index(end)].split("\n", 1)[1].strip()
    assert shown == environment.markdown_table(), "paste markdown_table()'s output into docs/contributing.md"
