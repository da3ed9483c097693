"""The runs of one config: training seeds, named variants and sweeps, side by side.

A config's ``[runs]`` section (:class:`analysis.pipeline.config.RunsConfig`) names several runs
of the pipeline: *variants* (a sweep of one key, ``sweep_key``/``sweep_values``, then the
named ``[[runs.variant]]`` tables, each a set of dotted-key overrides) times *seeds*
(``seeds``). Without variants there is one variant, the config itself; without seeds,
one seed, ``run.seed``. :func:`expand` turns the config into its runs:

* each run has a **name**, one directory name (``seed1``, ``latent_dim=16``,
  ``celeba-seed2``): the variant's name, suffixed ``-seed<s>`` when there are several
  seeds; ``seed<s>`` without variants;
* its **config** is the base config with the variant's overrides applied and
  ``run.seed`` set to its seed (each value checked as if it were set in the file, the
  cross-key checks made again). The runs other than the primary have ``[runs]`` emptied
  and ``run.name`` set to ``<config name>-<run name>``: their ``config.toml`` is a
  single-run config that makes the same artifacts on its own; with ``runs.lean`` they
  also skip the PCA-ellipsoid sweep, which only the primary's chapters draw;
* the first run is the **primary** run: the chapters narrate it and it keeps the
  config's build directory (``build/<config>/``) with every path as it was before runs
  existed; its config keeps ``[runs]`` (it is the build's resolved config). The others
  live in ``build/<config>/runs/<name>/``, each with its own manifests and
  ``config.toml``.

* a **control** (``[[runs.control]]``, e.g. the same network as a VAE) is a named variant run
  with one seed, the first; its name is the control's name. It follows the other runs, is
  never pooled with them, and the ``across`` step compares its ledger with the headline
  ledger finding by finding.

With no ``[runs]`` section there is exactly one run, the config itself, in
``build/<config>/``. Bad ``[runs]`` input is a :class:`~analysis.errors.UserError`
naming the key (``runs.variant[1].set.model.latnt_dim``, ``runs.sweep_values[2]``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.pipeline.config import SECTIONS, Config, RunsConfig, _closest, check_name, place, validated
from analysis.errors import UserError

#: Where the runs other than the primary live, inside the config's build directory.
RUNS_DIR = "runs"
#: What a run name may hold: it names a directory and make targets (no white space, no
#: ``: % # $ * ?`` and no quotes), and it is shown in the article.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=,@-]*$")
#: Keys a variant may not set: the runs' own bookkeeping.
RESERVED = ("run.name", "run.seed", "runs")
#: What ``runs.lean`` empties in the runs other than the primary (drawn only in chapter 5).
LEAN = {"generate.sweep_confidence": []}


@dataclass(frozen=True)
class RunSpec:
    """One run of a config (see the module docstring).

    Parameters
    ----------
    name : str
        The run's name (one directory name).
    variant : str
        The variant's name ("" without variants).
    seed : int
        Its ``run.seed``.
    overrides : dict
        The variant's settings, dotted key -> value (applied to the base config).
    primary : bool
        The first run: narrated by the chapters, kept in the config's build directory.
    config : Config
        Its resolved config.
    control : bool
        A control of ``[[runs.control]]`` (one seed, compared with the headline ledger, never pooled).
    """

    name: str
    variant: str
    seed: int
    overrides: dict[str, Any]
    primary: bool
    config: Config
    control: bool = False

    @property
    def rel(self) -> str:
        """Its directory relative to the config's build directory (``.`` for the primary)."""
        return "." if self.primary else f"{RUNS_DIR}/{self.name}"

    def directory(self, out: str | Path) -> Path:
        """Its directory, given the config's build directory ``out``."""
        return Path(out) if self.primary else Path(out) / RUNS_DIR / self.name


def _flat(table: dict, prefix: str = "") -> dict[str, Any]:
    """A variant's ``set`` table as dotted keys: ``{"model": {"latent_dim": 16}}`` and
    ``{"model.latent_dim": 16}`` both give ``{"model.latent_dim": 16}``."""
    out = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and "." not in k and not prefix:
            out.update(_flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def _value_text(key: str, value: Any) -> str:
    """A sweep value as part of a run name (a path by its last component)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_value_text(key, v) for v in value)
    if isinstance(value, str) and key.startswith("data.") and key.endswith(("path", "dir")):
        return Path(value).name or value
    return str(value)


def _variants(r: RunsConfig) -> list[tuple[str, dict[str, Any], str, str]]:
    """(name, overrides, the key that gave the name, the key that gave the overrides) of each
    variant; without variants one unnamed variant."""
    out = []
    if r.sweep_key:
        _check_key("runs.sweep_key", r.sweep_key)
        leaf = r.sweep_key.rsplit(".", 1)[-1]
        for i, v in enumerate(r.sweep_values):
            where = f"runs.sweep_values[{i}]"
            out.append((f"{leaf}={_value_text(r.sweep_key, v)}", {r.sweep_key: v}, where, where))
    out += _named(r.variant, "runs.variant")
    return out or [("", {}, "runs.seeds", "runs.seeds")]


def _named(items: list[dict], key: str) -> list[tuple[str, dict[str, Any], str, str]]:
    """(name, overrides, where its name is, where its settings are) of each table of ``key``
    (``runs.variant``, ``runs.control``)."""
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        unknown = sorted(set(item) - {"name", "set"})
        if unknown:
            hint = _closest(unknown[0], ["name", "set"])
            raise UserError(f"config key '{where}.{unknown[0]}' is not a key of a variant{hint}",
                            "a [[runs.variant]] table has name = \"...\" and set = { \"section.key\" = value, ... }")
        if not isinstance(item.get("name"), str) or not item["name"]:
            raise UserError(f"config key '{where}.name' is missing or not a string",
                            "give each [[runs.variant]] a name = \"...\"")
        sets = item.get("set", {})
        if not isinstance(sets, dict):
            raise UserError(f"config key '{where}.set' must be a table of config keys",
                            "write set = { \"section.key\" = value, ... }")
        overrides = _flat(sets)
        for key in overrides:
            _check_key(f"{where}.set.{key}", key)
        out.append((item["name"], overrides, f"{where}.name", f"{where}.set"))
    return out


def _check_key(where: str, key: str) -> None:
    """``key`` (set by ``where``) is a config key a variant may set."""
    section, _, k = key.partition(".")
    if key in RESERVED or section in RESERVED:
        raise UserError(f"config key '{where}' sets {key}, which [runs] itself decides",
                        "give seeds in runs.seeds; run names come from the variants")
    if section not in SECTIONS or not k:
        hint = "" if section in SECTIONS else _closest(section, list(SECTIONS))
        raise UserError(f"config key '{where}': '{key}' is not a config key{hint}",
                        "name a key with its section, e.g. model.latent_dim")
    fields = list(SECTIONS[section].model_fields)
    if k not in fields:
        raise UserError(f"config key '{where}': '{key}' is not a config key{_closest(k, fields)}",
                        f"valid keys of [{section}]: {', '.join(fields)}")


def _check_run_name(name: str, where: str) -> None:
    check_name(where, name)
    if not NAME_RE.match(name):
        bad = sorted({c for c in name if not re.match(r"[A-Za-z0-9._+=,@-]", c)})
        shown = ", ".join(repr(c) for c in bad) or "its first character"
        raise UserError(f"config key '{where}' gives the run name '{name}', which contains {shown}: a run name "
                        "names a directory and make targets",
                        "use letters, digits and . _ + = , @ - (not first), e.g. name = \"celeba\"")


def _run_config(base: Config, overrides: dict[str, Any], seed: int, name: str, primary: bool,
                where: str) -> Config:
    doc = base.to_dict()
    for key, value in overrides.items():
        section, k = key.split(".", 1)
        place(doc, section, k, copy.deepcopy(value), where)
    doc["run"]["seed"] = seed
    if not primary:
        doc["run"]["name"] = f"{base.run.name}-{name}"
        if base.runs.lean:
            for key, value in LEAN.items():
                section, k = key.split(".", 1)
                doc[section][k] = copy.deepcopy(value)
        doc["runs"] = {}
        try:
            check_name("run.name", doc["run"]["name"], f"the config's run.name and the run name {name}")
        except UserError as e:
            raise UserError(f"{where}: {e.problem}", "use a shorter run or variant name") from None
    try:
        return validated(doc)
    except UserError as e:
        raise UserError(f"{where}: {e.problem}", e.fix) from None


def expand(cfg: Config) -> list[RunSpec]:
    """The runs of ``cfg`` (the base config, as loaded), primary first; see the module docstring.

    Raises
    ------
    UserError
        A variant or sweep that sets an unknown key or a bad value, a reserved key
        (``run.seed``, ``run.name``, ``runs.*``), a run name that is not one safe
        directory name, or two runs with one name; the message names the key.
    """
    r = cfg.runs
    seeds = list(r.seeds) or [cfg.run.seed]
    out: list[RunSpec] = []
    seen: dict[str, str] = {}
    for vname, overrides, name_key, set_key in _variants(r):
        for seed in seeds:
            name = (f"{vname}-seed{seed}" if len(seeds) > 1 else vname) if vname else f"seed{seed}"
            _check_run_name(name, name_key)
            if name in seen:
                raise UserError(f"config key '{name_key}' gives the run name '{name}' a second time "
                                f"(also from {seen[name]})", "give every variant its own name and value")
            seen[name] = name_key
            primary = not out
            out.append(RunSpec(name, vname, seed, dict(overrides), primary,
                               _run_config(cfg, overrides, seed, name, primary, set_key)))
    for cname, overrides, name_key, set_key in _named(r.control, "runs.control"):  # one seed each
        _check_run_name(cname, name_key)
        if cname in seen:
            raise UserError(f"config key '{name_key}' gives the run name '{cname}' a second time "
                            f"(also from {seen[cname]})", "give every control its own name")
        seen[cname] = name_key
        out.append(RunSpec(cname, cname, seeds[0], dict(overrides), False,
                           _run_config(cfg, overrides, seeds[0], cname, False, set_key), control=True))
    return out


def find(runs: list[RunSpec], name: str | None) -> RunSpec:
    """The run called ``name`` (None: the primary); a UserError lists the names otherwise."""
    if name is None:
        return runs[0]
    for spec in runs:
        if spec.name == name:
            return spec
    raise UserError(f"--run {name!r} is not a run of this config (its runs: {', '.join(s.name for s in runs)})",
                    "pick one of those names, or list them with: python -m analysis runs --config ...")
