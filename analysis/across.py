"""The ``across`` step: the runs of one config side by side (seeds, variants, sweeps).

A config with a ``[runs]`` section makes several runs (:mod:`analysis.runs`): training
seeds of one configuration, other data sets, a sweep of one key. Each run has its own
directory, manifests and claims ledger (``claims/claims.json``, the home of its
figures). This step, run in the config's build directory once every run has finished,
reads every run through :mod:`analysis.artifacts` and writes what only exists across
runs, in ``<config build dir>/across/`` (then ``across.manifest.json`` last):

``ledger.json`` (the claims ledger across runs: every finding in every run, and the headline row the
article shows, pooled over the training seeds' runs where there are three or more) and ``runs.json`` (the runs
and the curves the overlay charts draw). Keys and their meaning: :mod:`analysis.schemas.across` (JSON Schema:
``schemas/across.ledger.schema.json``, ``schemas/across.runs.schema.json``).

The step reads each run's files only as that run's manifests vouch for them, and
refuses a run made with other settings than its place in ``[runs]`` gives (a stale
run: it names the run and the key). Same runs, same bytes.
"""

from __future__ import annotations

import collections.abc
import math
from pathlib import Path

import numpy as np

from analysis import findings, ledger, steps
from analysis import runs as R
from analysis.artifacts import VERDICTS, ArtifactError, Run, and_list
from analysis.config import ClaimsConfig
from analysis.errors import UserError, eprint
from analysis.provenance import read_manifest, step_output
from analysis.storage import save_json
from analysis.schemas.across import AcrossClaim, AcrossRuns

SCHEMA_VERSION = 1


# --------------------------------------------------------------------------- the ledger across runs

def _finite(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def spread(values: list[float | None]) -> dict | None:
    """``{"n", "mean", "min", "max"}`` of the finite values; None when there are none."""
    v = [float(x) for x in values if _finite(x) is not None]
    if not v:
        return None
    return {"n": len(v), "mean": float(np.mean(v)), "min": min(v), "max": max(v)}


def verdict_sentence(per_run: list[dict]) -> str:
    """How the runs' verdicts of one finding agree, in words (the primary run first)."""
    by: dict[str, list[str]] = {}
    for r in per_run:
        by.setdefault(r["verdict"] or "absent", []).append(r["name"])
    if len(by) == 1:
        (verdict, names), = by.items()
        if len(names) == 1:
            return f"{verdict} in the one run"
        return f"{verdict} in both runs" if len(names) == 2 else f"{verdict} in all {len(names)} runs"
    return "; ".join(f"{verdict} in {and_list(names)}" for verdict, names in by.items())


def headline_rows(runs: list[tuple[str, str, list[dict]]], pooled: dict[str, dict] | None, pooled_names: list[str],
                  cc: ClaimsConfig) -> dict[str, dict]:
    """The row the article's ledger shows for each finding: judged on figures pooled over runs
    where there are (``pooled``: fid -> pooled fig), else the primary run's row with a note."""
    primary = runs[0][2]
    out = {}
    if pooled:
        ledger.adjust(pooled, cc.ledger_alpha)
    for r in primary:
        fid = r["id"]
        if pooled and fid in pooled:
            out[fid] = findings.JUDGES[fid](pooled[fid], cc)
            continue
        if len(pooled_names) >= ledger.MIN_POOLED_RUNS:
            why = ("this row is not pooled: its rule compares generators within one run, so its headline is the "
                   f"primary run's ({runs[0][0]}); the chapter Robustness across runs gives every run's figure")
            if r["verdict"] == ledger.UNTESTABLE or fid in findings.JUDGES:
                why = f"this row is not pooled: not every run could test it; its headline is the primary run's ({runs[0][0]})"
        elif len(runs) > 1:
            why = (f"the headline is the primary run's ({runs[0][0]}): intervals are pooled over runs only with at "
                   f"least {ledger.MIN_POOLED_RUNS} runs of one configuration (training seeds), and this build has "
                   f"{len(pooled_names)}")
        else:
            why = None
        out[fid] = {**r, "notes": [*r["notes"], f"{why[0].upper()}{why[1:]}."]} if why else dict(r)
    return out


def aggregate(runs: list[tuple[str, str, list[dict]]], headline: dict[str, dict] | None = None) -> list[dict]:
    """The ledger across runs (``ledger.json``; keys: :class:`analysis.schemas.across.AcrossClaim`).

    Parameters
    ----------
    runs : list of (name, variant, ledger rows)
        Each run's name, its variant's name ("" without variants) and its
        ``claims.json`` rows (``id``, ``claim``, ``part``, ``unit``, ``ours``,
        ``verdict``), the primary run first.
    headline : fid -> the row the article's ledger shows (:func:`headline_rows`); None:
        the primary run's rows.
    """
    order: list[str] = []
    first: dict[str, dict] = {}
    for _, _, rows in runs:
        for row in rows:
            if row["id"] not in first:
                order.append(row["id"])
                first[row["id"]] = row
    primary = {row["id"]: row for row in runs[0][2]}
    variants = list(dict.fromkeys(v for _, v, _ in runs))
    out = []
    for fid in order:
        per_run = []
        for name, variant, rows in runs:
            row = next((r for r in rows if r["id"] == fid), None)
            ours = row["ours"] if row else {"value": None, "low": None, "high": None}
            per_run.append({"name": name, "variant": variant, "value": _finite(ours["value"]),
                            "low": _finite(ours["low"]), "high": _finite(ours["high"]),
                            "verdict": row["verdict"] if row else None})
        head = primary.get(fid, first[fid])
        verdict = primary[fid]["verdict"] if fid in primary else None
        groups = []
        for variant in variants:
            members = [r for r in per_run if r["variant"] == variant]
            if len(members) > 1 and len(variants) > 1:
                groups.append({"variant": variant, "runs": [r["name"] for r in members],
                               "spread": spread([r["value"] for r in members])})
        out.append({
            "id": fid, "claim": head["claim"], "part": head["part"], "unit": head["unit"], "verdict": verdict,
            "headline": (headline or {}).get(fid, primary.get(fid, head)),
            "runs": [{k: r[k] for k in ("name", "value", "low", "high", "verdict")} for r in per_run],
            "spread": spread([r["value"] for r in per_run]), "groups": groups,
            "verdicts": {v: sum(r["verdict"] == v for r in per_run) for v in VERDICTS},
            "holds": verdict is not None and all(r["verdict"] == verdict for r in per_run),
            "sentence": verdict_sentence(per_run),
        })
    return out


# --------------------------------------------------------------------------- what the overlay charts draw

def run_figures(spec: R.RunSpec, run: Run) -> dict:
    """One run's entry of ``runs.json``: who it is and the curves the overlay charts draw."""
    S, A, D, G = run.stats, run.arrays, run.claims_details, run.generate
    hist = np.asarray(A.radius_hist_real, dtype=np.float64)
    total = float(hist.sum()) or 1.0
    gens = None
    if G:  # the score's mean and interval over the generate step's repetitions
        gens = [{"name": r.name, "score": r.score, "low": r.intervals.score.low, "high": r.intervals.score.high,
                 "rank": r.rank} for r in G.ranked]
    return {
        "name": spec.name, "variant": spec.variant, "seed": spec.seed, "dir": spec.rel, "primary": spec.primary,
        "overrides": spec.overrides, "n": S.n, "N": S.N, "verdicts": dict(run.claims.counts),
        "radii": {"edges": np.asarray(A.radius_edges, dtype=np.float64).tolist(), "share": (hist / total).tolist()},
        "bscan": {"grid": np.asarray(A.b_grid, dtype=np.float64).tolist(),
                  "w": [_finite(w) for w in np.asarray(A.b_wasserstein, dtype=np.float64)],
                  "best": S.b.best, "used": S.b.used, "fine_low": D.b.low, "fine_high": D.b.high},
        "occupancy": {"b": np.asarray(A.b_grid, dtype=np.float64).tolist(),
                      "median": np.asarray(A.occupancy, dtype=np.float64)[:, 1].tolist(),
                      "every": np.asarray(A.occupancy_every, dtype=np.float64).tolist()},
        "origin": {"band": D.origin.band,
                   "metrics": [{"metric": m.metric, "share": m.share, "low": m.low, "high": m.high,
                                "gaussian": m.gaussian} for m in D.origin.table]},
        "generators": gens,
    }


def kind(specs: list[R.RunSpec]) -> str:
    """"seeds", "variants" or "variants and seeds": what the runs of a config vary."""
    variants = len({s.variant for s in specs})
    seeds = len({s.seed for s in specs})
    if variants > 1 and seeds > 1:
        return "variants and seeds"
    return "variants" if variants > 1 else "seeds"


# --------------------------------------------------------------------------- the step

def _upstream() -> set[str]:
    """The steps whose outputs this step reads, and the steps those read, transitively (not decode)."""
    seen, todo = set(), [steps.producer(f) for f in steps.ACROSS.inputs]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += steps.declaration(name).needs
    return seen


def _stale(spec: R.RunSpec, run_dir: Path) -> str | None:
    """The first setting a finished step of the run was made with that its place in [runs] no
    longer gives, as "<step> step: <key> = <was>, the config gives <now>"; None if none. Only the
    steps this step depends on count: a stale decode step (which ``make`` re-runs after ``across``)
    does not change the runs side by side."""
    upstream = _upstream()
    for s in steps.STEPS:
        if s.name not in upstream:
            continue
        m = read_manifest(run_dir, s.name)
        if not m or not isinstance(m.get("config"), dict):
            continue
        was = steps.settings(m["config"], steps.declaration_of(s.name, m))
        now = steps.settings(spec.config, steps.declaration_of(s.name, m))
        for section, table in now.items():
            for key, value in table.items():
                old = was.get(section, {}).get(key, "(not set)")
                if old != value:
                    return f"{s.name} step: {section}.{key} = {old!r}, the config gives {value!r}"
    return None


def prepare(cfg, run_dir: Path, inputs: dict) -> dict:
    """Check that every run finished with the settings [runs] gives it; hash its files."""
    out = {}
    for spec in R.expand(cfg):
        d = spec.directory(run_dir)
        fix = (f"run it: python -m analysis all --config ... --run {spec.name} (python -m analysis all, "
               "or make all, makes every run)")
        problem = _stale(spec, d)
        if problem:
            raise UserError(f"run {spec.name} ({d}) was made with other settings ({problem})", fix)
        if spec.primary:
            continue
        for f in steps.ACROSS.inputs:
            try:
                out[f"{spec.rel}/{f}"] = step_output(d, steps.producer(f), f)
            except UserError as e:
                raise UserError(f"run {spec.name} ({d}) has not finished: {e.problem}", fix) from None
    return out


def compute(cfg, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """Read every run; write ``across/ledger.json`` and ``across/runs.json``."""
    specs = R.expand(cfg)
    ledgers, figures, parts = [], [], []
    for spec in specs:
        reader = Run(spec.directory(run_dir))
        try:
            ledgers.append((spec.name, spec.variant, [_row(c) for c in reader.claims.rows]))
            figures.append(run_figures(spec, reader))
            if spec.variant == specs[0].variant:
                parts.append((spec.name, *pool_inputs(reader)))
        except ArtifactError as e:
            raise UserError(f"run {spec.name}: {spec.directory(run_dir) / e.file}: {e.problem}",
                            f"re-run it: python -m analysis all --config ... --run {spec.name}") from None
    names = [p[0] for p in parts]
    pooled = None
    if len(parts) >= ledger.MIN_POOLED_RUNS:
        pooled = ledger.pool([p[1] for p in parts], [p[2] for p in parts], [p[3] for p in parts], names,
                             cfg.claims.level, cfg.claims.null_draws, cfg.run.seed)
    rows = aggregate(ledgers, headline_rows(ledgers, pooled, names, cfg.claims))
    doc = {"schema_version": SCHEMA_VERSION, "config": cfg.run.name, "kind": kind(specs),
           "sweep_key": cfg.runs.sweep_key, "seeds": sorted({s.seed for s in specs}), "runs": figures}
    out_dir = run_dir / "across"
    save_json(out_dir / "ledger.json", rows, list[AcrossClaim])
    save_json(out_dir / "runs.json", doc, AcrossRuns)
    differ = [row["id"] for row in rows if not row["holds"]]
    agree = f"the verdict differs between runs for {', '.join(differ)}" if differ else "every verdict holds in every run"
    how = f"headline intervals pooled over {len(names)} runs" if pooled else "headline: the primary run's figures"
    eprint(f"across: {len(specs)} runs, {len(rows)} rows ({how}); {agree} -> {out_dir}")
    return steps.Written()


def pool_inputs(run: Run) -> tuple[dict, dict, dict]:
    """One run's figures, bootstrap draws and null simulations, as :func:`analysis.ledger.pool` takes them."""
    D, CA = run.claims_details, run.claims_arrays
    figs = {fid: _plain(f) for fid, f in D.figures.items()}
    draws = {name: np.asarray(CA.draws[i], dtype=np.float64) for i, name in enumerate(D.draw_names)}
    nulls = {name: np.asarray(CA.null_draws[i], dtype=np.float64) for i, name in enumerate(D.null_draw_names)}
    return figs, draws, nulls


def _plain(x):
    """A figure read through the reader (Tables, tuples) as plain dicts and lists."""
    if isinstance(x, collections.abc.Mapping):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def _row(c) -> dict:
    """A ledger row of the reader as the plain dict :func:`aggregate` and the headline take."""
    return _plain(c.model_dump(by_alias=True))
