"""The value types of the configuration and the limits every value respects, as pydantic types.

:mod:`analysis.pipeline.sections` declares each key with one of these types and its range
(``Field(ge=..., le=..., gt=..., max_length=...)``, ``Literal[...]`` for choices); pydantic checks
them. What pydantic has no type for is an ``AfterValidator`` here: integers that fit in int64
(:data:`Int`), printable text of bounded length (:func:`text`), file-system paths (:data:`PathText`),
one directory name (:data:`Name`) and the free-form values of ``[runs]`` (:data:`Plain`).
Floats are finite by the sections' ``allow_inf_nan=False``.

A failed check is a ``PydanticCustomError`` of type ``"config"`` whose context holds ``problem``
(what is wrong, after the key: ``contains control characters (U+0007)``) and ``fix`` (with
``{key}`` where the key goes); :func:`analysis.pipeline.config.user_error` turns it, and every
other pydantic error, into one :class:`~analysis.errors.UserError` line naming the key.
"""

from __future__ import annotations

import math
import os
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from analysis.errors import UserError

# Limits every value must respect, whatever its key: what numpy/torch integers and the
# file system can hold. Float keys also reject NaN and +-inf.
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1  # int64
PATH_MAX, NAME_MAX = 4096, 255               # bytes, Linux (os.pathconf refines them where known)
RUN_NAME_MAX = 100                           # bytes of run.name (a directory name, also used in site paths)
TEXT_MAX = 1000                              # characters of a text value without its own limit
LIST_MAX = 10_000                            # items of a list value without its own limit
CONFIG_MAX_BYTES = 1 << 20                   # a config file is read only up to this size (1 MiB)
MAX_NESTING = 10                             # tables and lists inside each other, in a file or a --set value


def bad(problem: str, fix: str, whole: bool = False) -> PydanticCustomError:
    """The error of a failed check: ``problem`` follows the key in the message (``whole``: it is the whole
    message, for a rule across keys that names them itself); ``{key}`` in ``fix`` is replaced by the key."""
    return PydanticCustomError("config", "{problem}", {"problem": problem, "fix": fix, "whole": whole})


def _shown(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def utf8_problem(value: str) -> tuple[str, str] | None:
    """Strings are saved in config.toml (UTF-8): undecodable bytes from the command line are refused."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return (f"= '{_shown(value)}' is not valid UTF-8 text",
                "rename the file or folder to a UTF-8 name, or link it from one (ln -s)")
    return None


def _int64(value: int) -> int:
    if not INT_MIN <= value <= INT_MAX:
        limit = f"at most 2**63 - 1 = {INT_MAX}" if value > 0 else f"at least -2**63 = {INT_MIN}"
        raise bad(f"= {value} does not fit in a 64-bit integer", f"set {{key}} to {limit}")
    return value


def text_problem(value: str, limit: int = TEXT_MAX) -> tuple[str, str] | None:
    """(problem, fix) unless ``value`` is printable text: no undecodable bytes, no control characters but
    tab and newline, no line or paragraph separators (U+2028/9), at most ``limit`` characters."""
    problem = utf8_problem(value)
    if problem:
        return problem
    if len(value) > limit:
        return f"is {len(value)} characters long (at most {limit})", f"shorten {{key}} to at most {limit} characters"
    controls = sorted({c for c in value if unicodedata.category(c) in ("Cc", "Zl", "Zp") and c not in "\t\n"})
    if controls:
        shown = ", ".join(f"U+{ord(c):04X}" for c in controls[:5])
        return f"contains control characters ({shown})", "set {key} to plain text (newlines and tabs are allowed)"
    return None


def text(limit: int = TEXT_MAX) -> Any:
    """Printable text (titles, names, devices) of at most ``limit`` characters (:func:`text_problem`)."""
    return Annotated[str, AfterValidator(_checked_by(lambda value: text_problem(value, limit)))]


def _limits(path: str) -> tuple[int, int]:
    """(PATH_MAX, NAME_MAX) of the file system holding ``path`` (its nearest existing ancestor)."""
    p = os.path.abspath(path)
    while not os.path.exists(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    try:
        return os.pathconf(p, "PC_PATH_MAX"), os.pathconf(p, "PC_NAME_MAX")
    except (OSError, ValueError):
        return PATH_MAX, NAME_MAX


def path_problem(value: str | os.PathLike) -> tuple[str, str] | None:
    """(problem, fix) if the file system cannot take ``value``: a NUL byte, longer than PATH_MAX, a
    component longer than NAME_MAX, undecodable bytes; else None."""
    text_ = os.fspath(value)
    if "\0" in text_:
        return "contains a NUL character", "set {key} to a plain path"
    raw = os.fsencode(os.path.expanduser(text_))
    path_max, name_max = _limits(os.path.expanduser(text_))
    if len(raw) >= path_max:
        return (f"is {len(raw)} bytes long; paths are limited to {path_max - 1} bytes",
                "set {key} to a shorter path")
    longest = max(raw.split(b"/"), key=len, default=b"")
    if len(longest) > name_max:
        return (f"has a component of {len(longest)} bytes ('{os.fsdecode(longest)[:40]}...'); file names are "
                f"limited to {name_max} bytes", "set {key} to a path with shorter names")
    return utf8_problem(text_)


def label(key: str) -> str:
    """How a message names ``key``: an option as it is (``--out``), a config key quoted."""
    return key if key.startswith("-") else f"config key '{key}'"


def check_path(key: str, value: str | os.PathLike) -> None:
    """A path the file system can take (:func:`path_problem`), else a UserError naming ``key`` (a config
    key such as 'data.path' or an option such as '--out')."""
    _refuse(key, path_problem(value))


def _refuse(key: str, problem: tuple[str, str] | None) -> None:
    if problem:
        raise UserError(f"{label(key)} {problem[0]}", problem[1].replace("{key}", key))


def _checked_by(problem_of):
    """The function of an AfterValidator: the value, unless ``problem_of`` finds a problem in it (an empty
    value means "not set" and is not checked)."""
    def check(value: str) -> str:
        problem = problem_of(value) if value else None
        if problem:
            raise bad(*problem)
        return value
    return check


def name_problem(value: str, where: str = "") -> tuple[str, str] | None:
    """(problem, fix) unless ``value`` is one safe path component: not empty, no separator, not '.' or
    '..', no control characters, no white space at its ends, at most :data:`RUN_NAME_MAX` bytes.
    ``where`` (in parentheses after the value) says where the name came from."""
    fix = "set {key} to a plain name such as 'my-run' (letters, digits, '-', '_', '.')"
    where = f" ({where})" if where else ""
    shown = _shown(value)
    if not value.strip() or value.strip() in (".", ".."):
        return f"= '{shown}'{where} is not a usable directory name", fix
    separators = sorted({c for c in value if c in "/\\" or c in (os.sep, os.altsep) or ord(c) < 32 or ord(c) == 127})
    if separators:
        return (f"= {shown!r}{where} contains {', '.join(repr(c) for c in separators)}: it must be one directory "
                "name, not a path", fix)
    if value != value.strip():
        return f"= {shown!r}{where} begins or ends with white space", fix
    problem = utf8_problem(value)
    if problem:
        return problem
    if len(value.encode()) > RUN_NAME_MAX:
        return f"{where.lstrip()}{' ' if where else ''}is {len(value.encode())} bytes long (at most {RUN_NAME_MAX})", fix
    return None


def check_name(key: str, value: str, origin: str = "") -> None:
    """One safe directory name (:func:`name_problem`), else a UserError naming ``key``."""
    _refuse(key, name_problem(value, origin))


def _plain(value: Any) -> Any:
    """A free-form value (a ``[runs]`` override, checked against the key it sets where it is used):
    finite numbers, int64 integers, UTF-8 text, in lists and tables too."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            problem = utf8_problem(v)
            if problem:
                raise bad(*problem)
        elif isinstance(v, float) and not math.isfinite(v):
            raise bad(f"holds {v}, which is not a finite number", "set {key} to finite values")
        elif isinstance(v, int) and not isinstance(v, bool):
            _int64(v)
    return value


Int = Annotated[int, AfterValidator(_int64)]
"""An integer that fits in int64 (numpy and torch hold it)."""
PathText = Annotated[str, AfterValidator(_checked_by(path_problem))]
"""A file or directory path; empty means "not set"."""
Name = Annotated[str, AfterValidator(_checked_by(name_problem))]
"""One directory name (run.name); empty means "from the config file's name"."""
Plain = Annotated[Any, AfterValidator(_plain)]
"""A free-form value of ``[runs]``."""
Text = text()
"""Printable text of at most :data:`TEXT_MAX` characters."""
