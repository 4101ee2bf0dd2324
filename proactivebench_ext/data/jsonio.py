"""Strict, surrogate-safe JSON and text writing: the one place every record we write goes through.

Two things Python's ``json`` and ``Path.write_text`` let through that break readers:

- ``NaN`` / ``Infinity``: ``json.dumps`` writes them by default, but they are not JSON (strict
  parsers, ``jq`` and browsers refuse the file). Here they are never written: ``nan="raise"``
  (default) raises ``ValueError`` naming where the value sits; ``nan="null"`` writes ``null``.
- Lone surrogates (``"\\ud800"``, e.g. from a JSON escape in data or a model's answer):
  ``json.dumps(ensure_ascii=False)`` passes them through and the UTF-8 encode then fails, so a
  samples file ends up empty. Here they are written as ``\\ud800`` escapes, never dropped. A
  high surrogate followed by a low one is two UTF-16 halves in JSON, so it reads back as the
  character they encode; every other string reads back exactly. U+0085, U+2028 and U+2029 are
  escaped too, so a reader that splits with ``str.splitlines`` keeps each JSONL record whole.
- ``write_text_atomic`` (HTML, Markdown) writes a lone surrogate as the visible text ``\\ud800``.

Files are written to a temporary file in the same folder and moved into place with
``os.replace``, so a reader sees the old file or the whole new one, never a part; a failure raises
:class:`WriteError` (an ``OSError``) whose message names the path.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

NanPolicy = Literal["raise", "null"]

# Lone surrogates cannot be encoded; U+0085, U+2028 and U+2029 are line breaks to str.splitlines()
# (a JSONL reader using it would cut a record in two) and to JavaScript before ES2019.
_ESCAPED = re.compile("[\ud800-\udfff\x85\u2028\u2029]")


class WriteError(OSError):
    """An output file could not be written; the message names the path and the reason.

    ``errno``, ``strerror`` (the reason alone) and ``filename`` are those of the failure; ``str()``
    is the message alone.
    """

    def __str__(self) -> str:
        return str(self.args[0])


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _non_finite_to_null(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _non_finite_to_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_non_finite_to_null(value) for value in obj]
    return obj


def _find_non_finite(obj: Any, where: str = "$") -> str | None:
    """The JSON path of the first NaN/Infinity in ``obj`` (for the error message), or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return f"{where} = {obj!r}"
    if isinstance(obj, dict):
        for key, value in obj.items():
            found = _find_non_finite(value, f"{where}.{key}")
            if found:
                return found
    if isinstance(obj, (list, tuple)):
        for index, value in enumerate(obj):
            found = _find_non_finite(value, f"{where}[{index}]")
            if found:
                return found
    return None


def dumps_strict(obj: Any, *, nan: NanPolicy = "raise", ensure_ascii: bool = False, **kw: Any) -> str:
    """``json.dumps`` that writes only JSON and only text that encodes as UTF-8.

    ``kw`` goes to ``json.dumps`` (``indent``, ``sort_keys``, ``separators``, ``default``);
    ``allow_nan`` is not accepted: ``nan`` decides what happens to NaN/Infinity.
    """
    if "allow_nan" in kw:
        raise TypeError("dumps_strict() decides NaN handling with nan='raise'|'null', not allow_nan")
    if nan == "null":
        obj = _non_finite_to_null(obj)
    elif nan != "raise":
        raise ValueError(f"nan must be 'raise' or 'null', not {nan!r}")
    try:
        text = json.dumps(obj, ensure_ascii=ensure_ascii, allow_nan=False, **kw)
    except ValueError as error:
        where = _find_non_finite(obj)
        if where is None:
            raise
        raise ValueError(f"{where} is not JSON (NaN/Infinity are never written); "
                         "store None for a number without a value") from error
    # Outside string literals JSON is ASCII, so any such character sits inside a string.
    return text if ensure_ascii else _ESCAPED.sub(_escape, text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_strict(text: str | bytes) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity`` (what a strict reader does)."""
    return json.loads(text, parse_constant=_refuse_constant)


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of ``text``; a lone surrogate becomes the visible escape ``\\ud800``."""
    return text.encode("utf-8", errors="backslashreplace")


def write_fully(fd: int, data: bytes) -> None:
    """Write every byte to ``fd`` (os.write may write less), fsync, and close it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 so the file gets the usual umask permissions (mkstemp would give 0600).
        write_fully(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), data)
        os.replace(temporary, target)
    except OSError as error:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass
        reason = error.strerror or str(error)
        failure = WriteError(f"cannot write {target}: {reason}")
        failure.errno, failure.strerror, failure.filename = error.errno, reason, str(target)
        raise failure from error


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 (lone surrogates escaped, see :func:`encode_text`), atomically."""
    write_bytes_atomic(path, encode_text(text))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, nan: NanPolicy = "raise",
                      indent: int | None = 2, **kw: Any) -> None:
    """Write ``obj`` as one strict JSON document (see :func:`dumps_strict`) ending in a newline."""
    write_bytes_atomic(path, (dumps_strict(obj, nan=nan, indent=indent, **kw) + "\n").encode("utf-8"))


def write_jsonl_atomic(path: str | os.PathLike[str], rows: Iterable[Any], *, nan: NanPolicy = "raise",
                       **kw: Any) -> None:
    """Write one strict JSON document per line (see :func:`dumps_strict`), atomically."""
    text = "".join(dumps_strict(row, nan=nan, **kw) + "\n" for row in rows)
    write_bytes_atomic(path, text.encode("utf-8"))
