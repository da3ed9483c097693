"""Typed configuration: TOML files mapped onto dataclasses, with checked overrides.

A config file has one table per dataclass below (``[run]``, ``[data]``, ...). Every
key is optional; what a file leaves out keeps the default written here. The
command line can override any key with ``--set section.key=value`` (the value is
read as TOML, so ``--set model.channels=[16,32]`` and ``--set data.path="/x"``
work; a bare word is taken as a string).

Unknown sections or keys, wrong types and out-of-range values are
:class:`~analysis.errors.UserError` s naming the key and, for a typo, the closest
valid key. Some limits hold for every key: numbers are finite (no NaN or inf) and
integers fit in int64; strings are UTF-8 (they are saved in config.toml); paths
(``kind="path"``) fit the file system's PATH_MAX and NAME_MAX; names that become a
directory (``kind="name"``: run.name) are one path component (:func:`check_name`). Text keys
(titles, names, devices) hold no control characters but tab and newline and have a length
limit; lists have a length limit, and the items of a list of numbers the same kind of
range as a single value (``item=``: ``stats.b_grid`` as ``stats.b``). A config file must be a
regular file of at most :data:`CONFIG_MAX_BYTES`, nested at most :data:`MAX_NESTING` levels.
The whole config is checked before the first step runs (the steps' own checks of their
settings too: :func:`analysis.pipeline.steps.check_config`).

The resolved config (defaults + file + overrides) is saved beside
every output as ``config.toml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
import typing
import unicodedata
from pathlib import Path
from typing import Any

import tomli_w

from analysis.errors import UserError
from analysis.pipeline.sections import (INT_MIN, INT_MAX, PATH_MAX, NAME_MAX, RUN_NAME_MAX, TEXT_MAX, LIST_MAX,
                               CONFIG_MAX_BYTES, MAX_NESTING, ClaimsConfig, Config, DataConfig, DecodeConfig,
                               EncodeConfig, FacesConfig, GenerateConfig, MOVED, ModelConfig, ReportConfig,
                               RunConfig, RunsConfig, SECTIONS, StatsConfig, TrainConfig)

__all__ = ['ClaimsConfig', 'Config', 'DataConfig', 'DecodeConfig', 'EncodeConfig', 'FacesConfig', 'GenerateConfig',
           'MOVED', 'ModelConfig', 'ReportConfig', 'RunConfig', 'RunsConfig', 'SECTIONS', 'StatsConfig',
           'TrainConfig']


def _closest(name: str, options: list[str]) -> str:
    hit = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" (did you mean '{hit[0]}'?)" if hit else ""


def _check_number(key: str, value: Any) -> None:
    """Every number must be finite, and every integer must fit in int64 (numpy, torch)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"config key '{key}' = {value} is not a finite number",
                        f"set {key} to a finite value")
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        limit = f"at most 2**63 - 1 = {INT_MAX}" if value > 0 else f"at least -2**63 = {INT_MIN}"
        raise UserError(f"config key '{key}' = {value} does not fit in a 64-bit integer", f"set {key} to {limit}")


def _check_type(key: str, value: Any, tp: Any) -> Any:
    """Return ``value`` converted to ``tp`` or raise a UserError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"config key '{key}' must be a list, got {value!r}",
                            f"write it as [..], e.g. {key} = []")
        return [_check_type(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"config key '{key}' must be a table, got {value!r}",
                            f"write it as {{ key = value, ... }}, e.g. {key} = {{}}")
        _, inner = typing.get_args(tp)
        return {k: _check_type(f"{key}.{k}", v, inner) for k, v in value.items()}
    if tp is Any:  # checked where it is used (a [runs] override: against the key it sets)
        if isinstance(value, dict):
            return {k: _check_type(f"{key}.{k}", v, Any) for k, v in value.items()}
        if isinstance(value, list):
            return [_check_type(f"{key}[{i}]", v, Any) for i, v in enumerate(value)]
        if isinstance(value, str):
            _check_text(key, value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_number(key, value)
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            _check_number(key, value)
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer beyond float's range
                value = math.inf if value > 0 else -math.inf
            _check_number(key, value)
            return value
    elif tp is str:
        if isinstance(value, str):
            _check_text(key, value)
            return value
    name = getattr(tp, "__name__", str(tp))
    raise UserError(f"config key '{key}' must be of type {name}, got {value!r}",
                    f"set {key} to a {name} value")


def _check_text(key: str, value: str) -> None:
    """Strings are saved in config.toml (UTF-8): refuse undecodable bytes from the command line."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise UserError(f"config key '{key}' = '{shown}' is not valid UTF-8 text",
                        "rename the file or folder to a UTF-8 name, or link it from one (ln -s)") from None


def _check_plain_text(key: str, value: str, max_len: int | None) -> None:
    """Text that is printed (titles, names): no control characters but tab and newline, no line or
    paragraph separators (U+2028/9), and at most ``max_len`` (default :data:`TEXT_MAX`) characters."""
    limit = max_len or TEXT_MAX
    if len(value) > limit:
        raise UserError(f"config key '{key}' is {len(value)} characters long (at most {limit})",
                        f"shorten {key} to at most {limit} characters")
    bad = sorted({c for c in value if (unicodedata.category(c) in ("Cc", "Zl", "Zp") and c not in "\t\n")})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        raise UserError(f"config key '{key}' contains control characters ({shown})",
                        f"set {key} to plain text (newlines and tabs are allowed)")


def _limits(path: str) -> tuple[int, int]:
    """(PATH_MAX, NAME_MAX) of the file system holding ``path`` (its nearest existing ancestor)."""
    p = os.path.abspath(path)
    while not os.path.exists(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    try:
        return os.pathconf(p, "PC_PATH_MAX"), os.pathconf(p, "PC_NAME_MAX")
    except (OSError, ValueError):
        return PATH_MAX, NAME_MAX


def check_path(key: str, value: str | os.PathLike) -> None:
    """A path the file system can take: no NUL byte, not longer than PATH_MAX, components <= NAME_MAX.

    ``key`` names the config key or option in the message (e.g. 'data.path', '--out').
    """
    text = os.fspath(value)
    if "\0" in text:
        raise UserError(f"{_label(key)} contains a NUL character", f"set {key} to a plain path")
    raw = os.fsencode(os.path.expanduser(text))
    path_max, name_max = _limits(os.path.expanduser(text))
    if len(raw) >= path_max:
        raise UserError(f"{_label(key)} is {len(raw)} bytes long; paths are limited to {path_max - 1} bytes",
                        f"set {key} to a shorter path")
    longest = max(raw.split(b"/"), key=len, default=b"")
    if len(longest) > name_max:
        raise UserError(f"{_label(key)} has a component of {len(longest)} bytes "
                        f"('{os.fsdecode(longest)[:40]}...'); file names are limited to {name_max} bytes",
                        f"set {key} to a path with shorter names")


def check_name(key: str, value: str, origin: str = "") -> None:
    """One safe path component: not empty, no separator, not '.' or '..', no control characters."""
    fix = f"set {key} to a plain name such as 'my-run' (letters, digits, '-', '_', '.')"
    where = f" ({origin})" if origin else ""
    shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if not value.strip() or value.strip() in (".", ".."):
        raise UserError(f"config key '{key}' = '{shown}'{where} is not a usable directory name", fix)
    bad = sorted({c for c in value if c in "/\\" or c in (os.sep, os.altsep) or ord(c) < 32 or ord(c) == 127})
    if bad:
        raise UserError(f"config key '{key}' = {shown!r}{where} contains {', '.join(repr(c) for c in bad)}: "
                        "it must be one directory name, not a path", fix)
    if value != value.strip():
        raise UserError(f"config key '{key}' = {shown!r}{where} begins or ends with white space", fix)
    _check_text(key, value)
    if len(value.encode()) > RUN_NAME_MAX:
        raise UserError(f"config key '{key}'{where} is {len(value.encode())} bytes long "
                        f"(at most {RUN_NAME_MAX})", fix)


def _check_items(key: str, value: list, meta: dict) -> None:
    """A list: at most ``max_items`` items, each (in nested lists too) within the ``item`` range."""
    limit = meta.get("max_items") or LIST_MAX
    if len(value) > limit:
        raise UserError(f"config key '{key}' has {len(value)} items (at most {limit})",
                        f"give {key} at most {limit} items")
    item = meta.get("item") or {}
    for i, v in enumerate(value):
        if isinstance(v, list):
            _check_items(f"{key}[{i}]", v, {"item": item})
        elif isinstance(v, dict):
            continue  # tables ([runs] variants) are checked where they are used
        else:
            _check_range(f"{key}[{i}]", v, item)


def _label(key: str) -> str:
    return key if key.startswith("-") else f"config key '{key}'"


def _check_range(key: str, value: Any, meta: dict) -> None:
    if isinstance(value, list):
        _check_items(key, value, meta)
        return
    if isinstance(value, str) and meta.get("kind") is None:
        _check_plain_text(key, value, meta.get("max_len"))
    if meta.get("choices") is not None and value not in meta["choices"]:
        opts = ", ".join(repr(c) for c in meta["choices"])
        raise UserError(f"config key '{key}' = {value!r} is not one of {opts}",
                        f"set {key} to one of {opts}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(key, value)
        lo, hi, gt = meta.get("min"), meta.get("max"), meta.get("gt")
        if lo is not None and value < lo:
            raise UserError(f"config key '{key}' = {value} is below its minimum {lo}",
                            f"set {key} >= {lo}")
        if gt is not None and value <= gt:
            raise UserError(f"config key '{key}' = {value} must be greater than {gt}",
                            f"set {key} > {gt}")
        if hi is not None and value > hi:
            raise UserError(f"config key '{key}' = {value} is above its maximum {hi}",
                            f"set {key} <= {hi}")
    if meta.get("kind") == "path" and value:
        check_path(key, value)
    if meta.get("kind") == "name" and value:
        check_name(key, value)


def _apply(cfg: Config, section: str, key: str, value: Any, where: str) -> None:
    if section not in SECTIONS:
        raise UserError(f"unknown config section '[{section}]' in {where}{_closest(section, list(SECTIONS))}",
                        f"valid sections: {', '.join(SECTIONS)}")
    obj = getattr(cfg, section)
    fields = {f.name: f for f in dataclasses.fields(obj)}
    if f"{section}.{key}" in MOVED:
        now = MOVED[f"{section}.{key}"]
        raise UserError(f"config key '{section}.{key}' in {where} has moved to '{now}'",
                        f"write it as {now.split('.')[1]} under [{now.split('.')[0]}]")
    if key not in fields:
        raise UserError(f"unknown config key '{section}.{key}' in {where}{_closest(key, list(fields))}",
                        f"valid keys of [{section}]: {', '.join(fields)}")
    f = fields[key]
    hints = typing.get_type_hints(type(obj))
    value = _check_type(f"{section}.{key}", value, hints[key])
    _check_range(f"{section}.{key}", value, f.metadata)
    setattr(obj, key, value)


def _validate(cfg: Config) -> None:
    """Checks across keys (single keys are checked as they are set)."""
    m, d, s = cfg.model, cfg.data, cfg.stats
    if not m.channels:
        raise UserError("config key 'model.channels' is empty", "give at least one layer, e.g. [32, 64]")
    for i, c in enumerate(m.channels):
        if not 1 <= c <= 8192:
            raise UserError(f"config key 'model.channels[{i}]' = {c} is out of range 1..8192",
                            "use positive channel counts")
    factor = 2 ** len(m.channels)
    if d.image_size % factor or d.image_size // factor < 1:
        raise UserError(
            f"data.image_size = {d.image_size} is too small or not divisible by {factor} "
            f"for {len(m.channels)} stride-2 layers (model.channels)",
            f"use an image_size that is a multiple of {factor}, or fewer layers")
    if d.source == "folder" and not d.path:
        raise UserError("data.source = 'folder' needs data.path",
                        "set data.path to a directory of images, e.g. --set data.path=/data/img_align_celeba")
    for i, b in enumerate(s.b_grid):
        if not b > 0:
            raise UserError(f"config key 'stats.b_grid[{i}]' = {b} must be > 0", "use positive b values")
    for i, pair in enumerate(s.pairs):
        if len(pair) != 2 or pair[0] == pair[1] or min(pair) < 0 or max(pair) >= m.latent_dim:
            raise UserError(
                f"config key 'stats.pairs[{i}]' = {pair} is not a pair of two different "
                f"components in 0..{m.latent_dim - 1}",
                "give pairs as [[j1, j2], ...] with 0 <= j < model.latent_dim")


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parse ``section.key=value``; the value is read as TOML, else as a plain string."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise UserError(f"bad override '{text}'", "write --set section.key=value, e.g. --set train.epochs=5")
    dotted, raw = text.split("=", 1)
    section, key = (p.strip() for p in dotted.split(".", 1))
    try:
        value = _parse_toml(f"v = {raw}", f"--set {dotted}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def _parse_toml(text: str, where: str) -> dict:
    """``tomllib.loads`` with a limit on nesting (:data:`MAX_NESTING`): a UserError naming ``where``
    instead of a RecursionError (or a config deeper than any key needs)."""
    fix = f"write {where} with at most {MAX_NESTING} levels of tables and lists"
    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise UserError(f"{where} nests lists or tables too deeply", fix) from None
    if _nesting(doc) > MAX_NESTING:
        raise UserError(f"{where} nests lists or tables more than {MAX_NESTING} levels deep", fix)
    return doc


def _nesting(value: Any) -> int:
    """Levels of tables and lists in ``value`` (a parsed TOML document: 1), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def read_config_text(path: Path) -> str:
    """The text of a config file: a regular file (not a FIFO, a device or a directory) of at most
    :data:`CONFIG_MAX_BYTES`, checked before it is read; UTF-8."""
    from analysis.pipeline.storage import LimitError, read_limited

    try:
        data = read_limited(path, CONFIG_MAX_BYTES)
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist",
                        "pass an existing file, e.g. --config configs/default.toml") from None
    except LimitError as e:
        raise UserError(f"config file {path} is {e.strerror}", "pass a TOML file such as configs/default.toml") from None
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror or e}",
                        "pass a readable UTF-8 TOML file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"cannot read config file {path}: {e}", "pass a readable UTF-8 TOML file") from None


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> Config:
    """Defaults, then the TOML file (if any), then ``section.key=value`` overrides.

    Raises
    ------
    UserError
        For a missing or unreadable file, invalid TOML, unknown keys, wrong types
        and out-of-range values.
    """
    cfg = Config()
    name = ""
    explicit: dict[str, int] = {}  # key -> where it was set last: 0 the file, i the i-th override
    if path is not None:
        path = Path(path)
        text = read_config_text(path)
        try:
            doc = _parse_toml(text, f"config file {path}")
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"config file {path} is not valid TOML: {e}",
                            "fix the syntax (see configs/default.toml for an example)") from None
        for section, table in doc.items():
            if not isinstance(table, dict):
                raise UserError(f"'{section}' in {path} must be a [section] table{_closest(section, list(SECTIONS))}",
                                f"valid sections: {', '.join(SECTIONS)}")
            for key, value in table.items():
                _apply(cfg, section, key, value, str(path))
                explicit[f"{section}.{key}"] = 0
        name = path.stem
    for i, text in enumerate(overrides, 1):
        section, key, value = parse_override(text)
        _apply(cfg, section, key, value, "--set")
        explicit[f"{section}.{key}"] = i
    if not cfg.run.name:
        cfg.run.name = name or "default"
        check_name("run.name", cfg.run.name, f"taken from the config file name {path}; or rename the file")
    _validate(cfg)
    _validate_runs(cfg, explicit)
    return cfg


def _validate_runs(cfg: Config, explicit: dict[str, int]) -> None:
    """Checks of ``[runs]`` on its own (``analysis.pipeline.runs.expand`` checks the runs it makes).

    ``explicit``: where each key was set (0: the file, i: the i-th override). ``runs.seeds``
    gives the runs' seeds; a ``run.seed`` set as late as it or later (``--set run.seed=5`` on a
    config with seeds) must be its first seed, as it would otherwise be ignored.
    """
    r = cfg.runs
    for i, seed in enumerate(r.seeds):
        if seed < 0:
            raise UserError(f"config key 'runs.seeds[{i}]' = {seed} is below its minimum 0", "use seeds >= 0")
        if seed in r.seeds[:i]:
            raise UserError(f"config key 'runs.seeds' lists seed {seed} twice", "give each seed once")
    if bool(r.sweep_key) != bool(r.sweep_values):
        given, missing = ("runs.sweep_key", "runs.sweep_values") if r.sweep_key else ("runs.sweep_values",
                                                                                       "runs.sweep_key")
        raise UserError(f"config key '{given}' is set but '{missing}' is not",
                        "give both, e.g. sweep_key = \"model.latent_dim\" and sweep_values = [256, 64, 16]")
    if r.seeds and explicit.get("run.seed", -1) >= explicit.get("runs.seeds", 0) and cfg.run.seed != r.seeds[0]:
        raise UserError(f"config key 'run.seed' = {cfg.run.seed} is set, but runs.seeds = {r.seeds} gives the "
                        "seeds of this config's runs",
                        f"set runs.seeds instead, e.g. --set runs.seeds=[{cfg.run.seed}] (one run)")


def dumps_toml(cfg: Config) -> str:
    """The resolved config as TOML (loadable by :func:`load_config`)."""
    header = "# Resolved configuration (defaults + file + --set overrides).\n"
    return header + tomli_w.dumps(cfg.to_dict())
