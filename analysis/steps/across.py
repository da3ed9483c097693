"""The ``across`` step: the runs of one config side by side (seeds, variants, sweeps).

A config with a ``[runs]`` section makes several runs (:mod:`analysis.pipeline.runs`): training
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

from analysis.steps import findings
from analysis.science import ledger
from analysis.pipeline import steps
from analysis.pipeline import runs as R
from analysis.artifacts import VERDICTS, ArtifactError, Run, and_list
from analysis.pipeline.config import ClaimsConfig
from analysis.errors import UserError, eprint
from analysis.pipeline.provenance import read_manifest, step_output
from analysis.pipeline.storage import save_json
from analysis.words import fmt, interval_text, num, pct
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
            per_run.append({**run_value(name, fid, rows)[0], "variant": variant})
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
        "model": model_figures(run, spec.config.model.kind),
    }


def model_figures(run: Run, kind: str) -> dict:
    """What the control's section compares besides the ledger: the network's kind, its held-out
    reconstruction error, a VAE's active units, and the density of the real radii beside that of the
    radii of the prior N(0, I) of that dimension (chi with N degrees of freedom)."""
    from scipy import stats as sps

    S, A = run.stats, run.arrays
    edges = np.asarray(A.radius_edges, dtype=np.float64)
    hist = np.asarray(A.radius_hist_real, dtype=np.float64)
    density = hist / max(float(hist.sum()), 1.0) / np.diff(edges)
    grid = np.linspace(sps.chi.ppf(1e-4, S.N), sps.chi.ppf(1 - 1e-4, S.N), len(edges))
    prior = np.diff(sps.chi.cdf(grid, S.N)) / np.diff(grid)
    post = run.posterior
    G = run.generate
    priors = []
    for name in PRIORS:
        row = G.row(name) if G else None
        if row is not None and row.face_share is not None:
            iv = row.intervals.face_share
            priors.append({"name": name, "face_share": row.face_share, "low": iv.low, "high": iv.high})
    return {"kind": kind, "mse": run.reconstructions.mse, "priors": priors,
            "radius_density": {"edges": edges.tolist(), "density": density.tolist()},
            "prior_shell": {"edges": grid.tolist(), "density": prior.tolist(), "mean": float(sps.chi.mean(S.N)),
                            "sd": float(sps.chi.std(S.N))},
            "active": None if post is None else post.active}


# --------------------------------------------------------------------------- a control beside the headline

#: The simple generators whose decoded images the control's section compares (the study's uniform
#: points and a VAE's prior).
PRIORS = ("uniform", "standard-normal")
PRIOR_WORDS = {"uniform": "uniform points in [-b, b]^N (each network's own b)", "standard-normal": "N(0, I)"}


def pct0(x: float | None) -> str:
    """A share as a whole percentage (the control's sentences)."""
    return pct(x, 0)


def prior_faces(primary: dict, control: dict) -> str:
    """How many of the images decoded from each simple generator the face tests call faces, for the
    primary run and the control, in words ("" when neither has the face tests' shares)."""
    mine = {p["name"]: p for p in primary["model"]["priors"]}
    parts = []
    for p in control["model"]["priors"]:
        a = mine.get(p["name"])
        if a is None:
            continue
        parts.append(f"of the images decoded from {PRIOR_WORDS[p['name']]}, the face tests call "
                     f"{pct0(a['face_share'])} faces for {primary['name']} "
                     f"({interval_text(a['low'], a['high'], pct0)}) and {pct0(p['face_share'])} for {control['name']} "
                     f"({interval_text(p['low'], p['high'], pct0)})")
    if not parts:
        return ""
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def reconstruction_cost(primary: dict, control: dict) -> dict:
    """The control's held-out reconstruction error against the primary run's (``runs.json`` figures):
    ``mse_ratio`` (control / primary) and ``mse_sentence``, the words the article uses."""
    a, b = primary["model"]["mse"], control["model"]["mse"]
    ratio = b / a if a > 0 else None
    if ratio is None:
        words = f"The control {control['name']} reconstructs held-out images with a mean squared error of {num(b)} per pixel"
    elif ratio > 1.05:
        words = (f"The control {control['name']} pays for its prior in reconstruction: its held-out mean squared error per pixel "
                 f"is {num(b)} against {num(a)} for {primary['name']}, {fmt(ratio, '.2f')} times as large")
    elif ratio < 1 / 1.05:
        words = (f"The control {control['name']} reconstructs held-out images better than {primary['name']}: a mean squared "
                 f"error per pixel of {num(b)} against {num(a)} ({fmt(ratio, '.2f')} times)")
    else:
        words = (f"The control {control['name']} reconstructs held-out images about as well as {primary['name']}: a mean squared "
                 f"error per pixel of {num(b)} against {num(a)}")
    return {"mse_ratio": ratio, "mse_sentence": words + ".", "prior_sentence": prior_faces(primary, control)}


def run_value(name: str, fid: str, rows: list[dict]) -> tuple[dict, dict | None]:
    """A run's figure of finding ``fid`` from its ledger ``rows``: {``name``, ``value``, ``low``, ``high``,
    ``verdict``} (nulls where its ledger lacks the finding), and the ledger row (None then)."""
    row = next((r for r in rows if r["id"] == fid), None)
    ours = row["ours"] if row else {"value": None, "low": None, "high": None}
    return ({"name": name, "value": _finite(ours["value"]), "low": _finite(ours["low"]),
             "high": _finite(ours["high"]), "verdict": row["verdict"] if row else None}, row)


def control_entry(headline: dict, name: str, rows: list[dict]) -> dict:
    """One control's figure of a finding beside the headline row (:func:`run_value`), with ``differs``
    (its verdict is not the headline's) and its own ledger's ``sentence``."""
    value, row = run_value(name, headline["id"], rows)
    return {**value, "differs": value["verdict"] != headline["verdict"], "sentence": row["sentence"] if row else None}


def control_summary(name: str, rows: list[dict]) -> dict:
    """Which findings a control flips: ``name``, ``flipped`` [{``id``, ``claim``, ``from``, ``to``}], ``kept``
    (ids), ``n`` (findings compared) and ``sentence`` (that in words, chosen from the two ledgers)."""
    flipped, kept = [], []
    for row in rows:
        c = next(e for e in row["controls"] if e["name"] == name)
        if c["differs"]:
            flipped.append({"id": row["id"], "claim": row["claim"], "from": row["headline"]["verdict"],
                            "to": c["verdict"] or "absent"})
        else:
            kept.append(row["id"])
    if not flipped:
        sentence = f"every one of the {len(rows)} verdicts is the same as the headline's"
    else:
        what = "; ".join(f"{f['id'].replace('_', ' ')} ({f['from']} → {f['to']})" for f in flipped)
        sentence = (f"{len(flipped)} of the {len(rows)} verdicts differ from the headline's: {what}; "
                    f"the other {len(kept)} are the same")
    return {"name": name, "n": len(rows), "flipped": flipped, "kept": kept, "sentence": sentence}


def kind(specs: list[R.RunSpec]) -> str:
    """"seeds", "variants" or "variants and seeds": what the runs of a config vary (controls aside)."""
    specs = [s for s in specs if not s.control]
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
    ledgers, figures, parts, controls, control_figures = [], [], [], [], []
    for spec in specs:
        reader = Run(spec.directory(run_dir))
        try:
            rows = (spec.name, spec.variant, [_row(c) for c in reader.claims.rows])
            (controls if spec.control else ledgers).append(rows)
            (control_figures if spec.control else figures).append(run_figures(spec, reader))
            if spec.variant == specs[0].variant and not spec.control:
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
    for row in rows:
        row["controls"] = [control_entry(row["headline"], name, crows) for name, _, crows in controls]
    doc = {"schema_version": SCHEMA_VERSION, "config": cfg.run.name, "kind": kind(specs),
           "sweep_key": cfg.runs.sweep_key, "seeds": sorted({s.seed for s in specs if not s.control}),
           "runs": figures, "controls": control_figures,
           "control_summary": [{**control_summary(name, rows), **reconstruction_cost(figures[0], f)}
                               for (name, _, _), f in zip(controls, control_figures)]}
    out_dir = run_dir / "across"
    save_json(out_dir / "ledger.json", rows, list[AcrossClaim])
    save_json(out_dir / "runs.json", doc, AcrossRuns)
    differ = [row["id"] for row in rows if not row["holds"]]
    agree = f"the verdict differs between runs for {', '.join(differ)}" if differ else "every verdict holds in every run"
    how = f"headline intervals pooled over {len(names)} runs" if pooled else "headline: the primary run's figures"
    flips = "".join(f"; control {c['name']}: {c['sentence']}" for c in doc["control_summary"])
    eprint(f"across: {len(specs)} runs, {len(rows)} rows ({how}); {agree}{flips} -> {out_dir}")
    return steps.Written()


def pool_inputs(run: Run) -> tuple[dict, dict, dict]:
    """One run's figures, bootstrap draws and null simulations, as :func:`analysis.science.ledger.pool` takes them."""
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
