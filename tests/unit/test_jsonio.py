"""data/jsonio.py: strict JSON (no NaN/Infinity), lone surrogates escaped, atomic writes naming the path."""

from __future__ import annotations

import errno
import json
import math
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proactivebench_ext.data import jsonio

_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")


def _as_read_back(text: str) -> str:
    """What JSON's UTF-16 escapes give back: a high+low surrogate pair reads as the character it encodes."""
    return _PAIR.sub(lambda m: m.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text)


any_text = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=12)


def _read_back(value):
    if isinstance(value, str):
        return _as_read_back(value)
    if isinstance(value, list):
        return [_read_back(item) for item in value]
    if isinstance(value, dict):
        return {_as_read_back(key): _read_back(item) for key, item in value.items()}
    return value


@settings(max_examples=200, deadline=None)
@given(text=any_text)
def test_any_string_round_trips_through_a_file(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("j") / "out.json"
    jsonio.write_json_atomic(path, {"answer": text})
    raw = path.read_bytes()
    assert jsonio.loads_strict(raw.decode("utf-8")) == {"answer": _as_read_back(text)}


@settings(max_examples=100, deadline=None)
@given(value=json_values)
def test_any_json_value_round_trips_in_a_jsonl_file(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("j") / "out.jsonl"
    jsonio.write_jsonl_atomic(path, [value, value])
    lines = path.read_text("utf-8").splitlines()  # escapes keep U+2028 & co. from splitting a record
    assert [jsonio.loads_strict(line) for line in lines] == [_read_back(value)] * 2


def test_a_lone_surrogate_is_escaped_not_dropped():
    text = jsonio.dumps_strict({"a\udfff": "x\ud800y"})
    assert text == '{"a\\udfff": "x\\ud800y"}'
    text.encode("utf-8")  # no UnicodeEncodeError
    assert json.loads(text) == {"a\udfff": "x\ud800y"}


def test_line_separators_are_escaped():
    assert jsonio.dumps_strict(["a\x85b\u2028c\u2029"]) == '["a\\u0085b\\u2028c\\u2029"]'


def test_non_ascii_stays_readable():
    assert jsonio.dumps_strict(["é😀"]) == '["é😀"]'
    assert jsonio.dumps_strict(["é"], ensure_ascii=True) == '["\\u00e9"]'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_never_written(bad, tmp_path):
    with pytest.raises(ValueError, match=r"\$\.metrics\[1\]"):
        jsonio.dumps_strict({"metrics": [1.0, bad]})
    assert jsonio.dumps_strict({"metrics": [1.0, bad], "t": (bad,)}, nan="null") == \
        '{"metrics": [1.0, null], "t": [null]}'
    path = tmp_path / "r.json"
    with pytest.raises(ValueError):
        jsonio.write_json_atomic(path, {"acc": bad})
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_allow_nan_is_not_accepted():
    with pytest.raises(TypeError):
        jsonio.dumps_strict([1], allow_nan=True)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_loads_strict_refuses_the_constants(constant):
    with pytest.raises(ValueError, match=constant):
        jsonio.loads_strict(f'{{"acc": {constant}}}')


def test_write_text_escapes_a_surrogate(tmp_path):
    path = tmp_path / "page.html"
    jsonio.write_text_atomic(path, "<p>a\ud800b</p>")
    assert path.read_bytes() == b"<p>a\\ud800b</p>"


def test_atomic_write_replaces_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "samples.json"
    jsonio.write_json_atomic(path, [1])
    jsonio.write_json_atomic(path, [2])
    assert jsonio.loads_strict(path.read_text()) == [2]

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(jsonio.os, "write", full_disk)
    with pytest.raises(jsonio.WriteError) as caught:
        jsonio.write_json_atomic(path, [3])
    assert str(path) in str(caught.value) and "No space left" in str(caught.value)
    assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
    assert caught.value.strerror == "No space left on device"  # the reason alone, for callers that name the path themselves
    monkeypatch.undo()
    assert jsonio.loads_strict(path.read_text()) == [2]
    assert [p.name for p in tmp_path.iterdir()] == ["samples.json"]


def test_a_missing_folder_names_the_path(tmp_path):
    path = tmp_path / "missing" / "out.json"
    with pytest.raises(jsonio.WriteError, match=re.escape(str(path))):
        jsonio.write_json_atomic(path, {})


def test_the_file_gets_umask_permissions(tmp_path):
    path = tmp_path / "out.txt"
    jsonio.write_text_atomic(path, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
