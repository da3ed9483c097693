"""The configuration: TOML files read into pydantic models, with checked overrides.

A config file has one table per section (``[run]``, ``[data]``, ...: the models of
:mod:`analysis.pipeline.sections`, each key with its type, default, range and description). Every
key is optional; what a file leaves out keeps its default. The command line can override any key
with ``--set section.key=value`` (the value is read as TOML, so ``--set model.channels=[16,32]`` and
``--set data.path="/x"`` work; a bare word is taken as a string).

pydantic checks every value (strict types, ranges, choices, finite floats, int64 integers, text,
path and name limits: :mod:`analysis.pipeline.configtypes`) and :class:`Config` the rules across
keys. Every failure is one :class:`~analysis.errors.UserError` naming the key
(:func:`user_error`); unknown sections or keys name the closest valid key. A config file must be a
regular file of at most :data:`CONFIG_MAX_BYTES`, nested at most :data:`MAX_NESTING` levels. The
whole config, every step's settings included, is checked as it is loaded: before the first step runs.

The resolved config (defaults + file + overrides) is saved beside every output as ``config.toml``.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from analysis.errors import UserError
from analysis.pipeline.configtypes import CONFIG_MAX_BYTES, MAX_NESTING, bad, check_name, check_path
from analysis.pipeline.sections import (ClaimsConfig, DataConfig, DecodeConfig, EncodeConfig, FacesConfig,
                                        GenerateConfig, ModelConfig, ReportConfig, RunConfig, RunsConfig, StatsConfig,
                                        TrainConfig)

__all__ = ['ClaimsConfig', 'Config', 'DataConfig', 'DecodeConfig', 'EncodeConfig', 'FacesConfig', 'GenerateConfig',
           'MOVED', 'ModelConfig', 'ReportConfig', 'RunConfig', 'RunsConfig', 'SECTIONS', 'StatsConfig',
           'TrainConfig', 'check_name', 'check_path', 'load_config', 'dumps_toml', 'user_error', 'checked']


class Config(BaseModel):
    """The whole configuration: one model per section, and the checks across keys."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run: RunConfig = Field(default_factory=RunConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    encode: EncodeConfig = Field(default_factory=EncodeConfig)
    stats: StatsConfig = Field(default_factory=StatsConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    claims: ClaimsConfig = Field(default_factory=ClaimsConfig)
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    runs: RunsConfig = Field(default_factory=RunsConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return self.model_dump()

    def section(self, *names: str) -> dict[str, dict[str, Any]]:
        """The named sections as plain dicts (what a step's outputs depend on)."""
        return {n: getattr(self, n).model_dump() for n in names}

    @model_validator(mode="after")
    def _across(self) -> Config:
        """The rules that tie keys together (single keys are checked by their types)."""
        m, d = self.model, self.data
        factor = 2 ** len(m.channels)
        if d.image_size % factor or d.image_size // factor < 1:
            raise bad(f"data.image_size = {d.image_size} is too small or not divisible by {factor} "
                      f"for {len(m.channels)} stride-2 layers (model.channels)",
                      f"use an image_size that is a multiple of {factor}, or fewer layers")
        if d.source == "folder" and not d.path:
            raise bad("data.source = 'folder' needs data.path",
                      "set data.path to a directory of images, e.g. --set data.path=/data/img_align_celeba")
        for i, pair in enumerate(self.stats.pairs):
            if len(pair) != 2 or pair[0] == pair[1] or min(pair) < 0 or max(pair) >= m.latent_dim:
                raise bad(f"config key 'stats.pairs[{i}]' = {pair} is not a pair of two different "
                          f"components in 0..{m.latent_dim - 1}",
                          "give pairs as [[j1, j2], ...] with 0 <= j < model.latent_dim")
        return self


SECTIONS = {name: f.annotation for name, f in Config.model_fields.items()}

#: Keys that moved to another section (issue 23: the fine b-scan sets the one b of the build,
#: so it belongs to the stats step): old key -> new key.
MOVED = {"claims.b_step": "stats.b_step", "claims.b_span": "stats.b_span", "claims.flat_sd": "stats.flat_sd"}

# pydantic's error types -> the rest of our message after "config key 'k'", and the fix ({key}: the key)
_TYPES = {"int_type": "int", "float_type": "float", "bool_type": "bool", "string_type": "str"}


def _dotted(loc: tuple) -> str:
    """('stats', 'b_grid', 1) -> 'stats.b_grid[1]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(err: dict) -> tuple[str, str]:
    """(problem after the key, fix) of one pydantic error."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "config":
        return ctx["problem"], ctx["fix"]
    if kind in _TYPES:
        name = _TYPES[kind]
        return f"must be of type {name}, got {value!r}", f"set {{key}} to a {name} value"
    if kind == "list_type":
        return f"must be a list, got {value!r}", "write it as [..], e.g. {key} = []"
    if kind in ("dict_type", "model_type"):
        return f"must be a table, got {value!r}", "write it as { key = value, ... }, e.g. {key} = {}"
    if kind == "finite_number":
        return f"= {value} is not a finite number", "set {key} to a finite value"
    if kind == "literal_error":
        return f"= {value!r} is not one of {ctx['expected']}", f"set {{key}} to one of {ctx['expected']}"
    if kind == "greater_than_equal":
        return f"= {value} is below its minimum {ctx['ge']}", f"set {{key}} >= {ctx['ge']}"
    if kind == "greater_than":
        return f"= {value} must be greater than {ctx['gt']}", f"set {{key}} > {ctx['gt']}"
    if kind == "less_than_equal":
        return f"= {value} is above its maximum {ctx['le']}", f"set {{key}} <= {ctx['le']}"
    if kind == "too_long":
        limit = ctx["max_length"]
        return f"has {ctx['actual_length']} items (at most {limit})", f"give {{key}} at most {limit} items"
    if kind == "too_short":
        limit = ctx["min_length"]
        return f"has {ctx['actual_length']} items (at least {limit})", f"give {{key}} at least {limit} items"
    return f"is not valid: {err['msg']}", "see configs/default.toml for valid values"


def user_error(e: ValidationError, prefix: tuple = ()) -> UserError:
    """The first error of a validation as one line naming the key (``prefix``: the loc of the
    validated part, e.g. ('stats',) for a section checked on its own)."""
    err = e.errors(include_url=False)[0]
    key = _dotted((*prefix, *err["loc"]))
    problem, fix = _problem(err)
    whole = not key or (err["type"] == "config" and err["ctx"]["whole"])
    return UserError(problem if whole else f"config key '{key}' {problem}", fix.replace("{key}", key))


def validated(doc: dict) -> Config:
    """``doc`` (sections of keys) as a checked :class:`Config`, else a :class:`UserError`."""
    try:
        return Config.model_validate(doc)
    except ValidationError as e:
        raise user_error(e) from None


def checked(section: BaseModel, name: str) -> None:
    """Check a section again (a step's own check of settings a caller may have changed after loading)."""
    try:
        type(section).model_validate(section.model_dump())
    except ValidationError as e:
        raise user_error(e, (name,)) from None


def _closest(name: str, options: list[str]) -> str:
    hit = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    return f" (did you mean '{hit[0]}'?)" if hit else ""


def place(doc: dict, section: str, key: str, value: Any, where: str) -> None:
    """Set ``doc[section][key] = value`` for a key named in ``where`` (a file, ``--set``), refusing an
    unknown or moved key with the closest valid one (the value is checked with the whole config)."""
    if section not in SECTIONS:
        raise UserError(f"unknown config section '[{section}]' in {where}{_closest(section, list(SECTIONS))}",
                        f"valid sections: {', '.join(SECTIONS)}")
    fields = list(SECTIONS[section].model_fields)
    if f"{section}.{key}" in MOVED:
        now = MOVED[f"{section}.{key}"]
        raise UserError(f"config key '{section}.{key}' in {where} has moved to '{now}'",
                        f"write it as {now.split('.')[1]} under [{now.split('.')[0]}]")
    if key not in fields:
        raise UserError(f"unknown config key '{section}.{key}' in {where}{_closest(key, fields)}",
                        f"valid keys of [{section}]: {', '.join(fields)}")
    doc.setdefault(section, {})[key] = value


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


def _read_file(path: Path, doc: dict, explicit: dict[str, int]) -> None:
    """Place every key of the config file ``path`` in ``doc``."""
    text = read_config_text(path)
    try:
        parsed = _parse_toml(text, f"config file {path}")
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config file {path} is not valid TOML: {e}",
                        "fix the syntax (see configs/default.toml for an example)") from None
    for section, table in parsed.items():
        if not isinstance(table, dict):
            raise UserError(f"'{section}' in {path} must be a [section] table{_closest(section, list(SECTIONS))}",
                            f"valid sections: {', '.join(SECTIONS)}")
        for key, value in table.items():
            place(doc, section, key, value, str(path))
            explicit[f"{section}.{key}"] = 0


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> Config:
    """Defaults, then the TOML file (if any), then ``section.key=value`` overrides (a later value of a key
    replaces an earlier one); the result is checked as a whole.

    Raises
    ------
    UserError
        For a missing or unreadable file, invalid TOML, unknown keys, wrong types
        and out-of-range values.
    """
    doc: dict[str, dict[str, Any]] = {}
    explicit: dict[str, int] = {}  # key -> where it was set last: 0 the file, i the i-th override
    if path is not None:
        path = Path(path)
        _read_file(path, doc, explicit)
    for i, text in enumerate(overrides, 1):
        section, key, value = parse_override(text)
        place(doc, section, key, value, "--set")
        explicit[f"{section}.{key}"] = i
    cfg = validated(doc)
    if not cfg.run.name:
        cfg.run.name = path.stem if path is not None else "default"
        check_name("run.name", cfg.run.name, f"taken from the config file name {path}; or rename the file")
    _check_run_seed(cfg, explicit)
    return cfg


def _check_run_seed(cfg: Config, explicit: dict[str, int]) -> None:
    """``runs.seeds`` gives the runs' seeds; a ``run.seed`` set as late as it or later (``--set
    run.seed=5`` on a config with seeds; ``explicit``: where each key was set, 0 the file, i the i-th
    override) must be its first seed, as it would otherwise be ignored."""
    r = cfg.runs
    if r.seeds and explicit.get("run.seed", -1) >= explicit.get("runs.seeds", 0) and cfg.run.seed != r.seeds[0]:
        raise UserError(f"config key 'run.seed' = {cfg.run.seed} is set, but runs.seeds = {r.seeds} gives the "
                        "seeds of this config's runs",
                        f"set runs.seeds instead, e.g. --set runs.seeds=[{cfg.run.seed}] (one run)")


def dumps_toml(cfg: Config) -> str:
    """The resolved config as TOML (loadable by :func:`load_config`)."""
    header = "# Resolved configuration (defaults + file + --set overrides).\n"
    return header + tomli_w.dumps(cfg.to_dict())
