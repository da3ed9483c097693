"""The generate step's generators over the repetitions: each fitted on a split's fit part (the gmm's
configuration selected on it), every row summarised over the repetitions with its interval and
ranked, and the sweeps of the report's chart (Procedure 0, 5 and 6 of :mod:`analysis.steps.generate`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from analysis.science import calibration as cal
from analysis.science import metrics as M
from analysis.pipeline.config import Config, GenerateConfig
from analysis.errors import UserError
from analysis.science.generators import GMMSelector, LatentGenerator, make_generator
from analysis.steps.genjudge import COPY_SHARE_LIMIT, METRICS, REFERENCE, Judge, Split, contact_sheet, evaluate

FITTED_ATTRIBUTES = ("b_", "kept_fraction_", "threshold_", "tail_probability_", "chi2_threshold_",
                     "converged_", "n_iter_", "lower_bound_", "reg_covar_", "n_fit_points_")
SWEEP_METRICS = ("precision", "recall", "density", "coverage")
#: What to change when a generator cannot be fitted to these points (the generator says why).
FIT_FIX = {
    "uniform": "set generate.b > 0, or 0 to use the b-scan's value",
    "mvn-core": "raise generate.core_sigma, or encode more images",
    "pca-ellipsoid": "set generate.confidence in (0, 1], e.g. 0.95",
    "gmm": "use fewer components (generate.gmm_components), raise generate.gmm_reg, raise "
           "generate.gmm_max_points (0 = all points) or encode more images",
}
FIT_FIX_OTHER = "encode more images, lower generate.holdout_fraction, or drop it from generate.generators"


# ---------------------------------------------------------------- 4. the generators

def repeat_seeds(seed: int, repeats: int) -> list[tuple[int, int]]:
    """(split seed, generator seed) of each repetition, derived from ``run.seed``."""
    return [tuple(int(x) for x in np.random.SeedSequence([seed, r]).generate_state(2)) for r in range(repeats)]


def _params(name: str, cfg: Config, b: float | None, seed: int, gmm: dict | None) -> dict:
    """Hyper-parameters of generator ``name``: from the config, and for gmm the selection's choice."""
    g = cfg.generate
    p: dict = {"random_state": seed}
    if name == "uniform":
        p["b"] = b
    elif name == "mvn-core":
        p["core_sigma"] = g.core_sigma
    elif name == "pca-ellipsoid":
        p["confidence"] = g.confidence
    elif name == "gmm":
        p.update(gmm or {})
        p["reg_relative"] = g.gmm_reg
        p["tol"] = g.gmm_tol
        p["max_fit_points"] = g.gmm_max_points or None
    return p


def fit_generator(name: str, params: dict, z_fit: np.ndarray) -> LatentGenerator:
    """Generator ``name`` fitted to ``z_fit``; what it cannot fit is a UserError naming the key to change."""
    try:
        return make_generator(name, **params).fit(z_fit)
    except ValueError as e:
        raise UserError(f"generator '{name}' cannot be fitted to these points: {e}",
                        FIT_FIX.get(name, FIT_FIX_OTHER)) from None


def select_gmm(cfg: Config, z_fit: np.ndarray, seed: int) -> GMMSelector | None:
    """The gmm's component count and covariance type, chosen on ``z_fit`` (None without gmm).

    Returns the fitted :class:`GMMSelector` (``best_params_`` is the choice).
    """
    g = cfg.generate
    if "gmm" not in g.generators:
        return None
    sel = GMMSelector(n_components=tuple(g.gmm_components), covariance_types=tuple(g.gmm_covariance),
                      criterion=g.gmm_selection, validation_fraction=g.holdout_fraction, reg_relative=g.gmm_reg,
                      max_fit_points=g.gmm_max_points or None, tol=g.gmm_tol, random_state=seed,
                      n_jobs=torch.get_num_threads())
    try:
        return sel.fit(z_fit)
    except ValueError as e:
        raise UserError(f"generator 'gmm' cannot be fitted to these points: {e}", FIT_FIX["gmm"]) from None


def _choice(sel: GMMSelector) -> dict:
    """A selector's choice: ``n_components``, ``covariance_type`` and ``score`` (its criterion's value)."""
    best = sel.results_[sel.best_index_]
    return {**sel.best_params_, "score": best["heldout_loglik" if sel.criterion == "heldout" else "bic"]}


def modal_choice(choices: list[dict]) -> tuple[dict, int]:
    """The configuration chosen most often and in how many repetitions; a tie goes to the one chosen
    first (in repetition order)."""
    counts = Counter((c["n_components"], c["covariance_type"]) for c in choices)
    (k, cov), n = counts.most_common(1)[0]  # equal counts keep the order first encountered
    return {"n_components": k, "covariance_type": cov}, n


def selection_doc(g: GenerateConfig, sels: list[GMMSelector]) -> dict:
    """The ``gmm_selection`` entry of metrics.json from every repetition's selector (the first one's
    split sizes, candidates and choice, then every repetition's choice and their summary)."""
    first, per_repeat = sels[0], [_choice(s) for s in sels]
    modal, agreement = modal_choice(per_repeat)
    return {"criterion": g.gmm_selection, "validation_fraction": g.holdout_fraction, "n_train": first.n_train_,
            "n_validation": first.n_validation_, "reg_relative": g.gmm_reg, "tol": g.gmm_tol,
            "candidates": first.results_,
            "chosen": dict(first.best_params_), "per_repeat": per_repeat, "modal": modal, "agreement": agreement,
            "repeats": len(sels)}


def generator_notes(name: str, gens: list[LatentGenerator], n_fit: int, N: int, g: GenerateConfig) -> list[str]:
    """Sentences on a generator that did not converge in some repetition or saw fewer points."""
    notes, gen = [], gens[0]
    if name == "gmm":
        stalled = sum(not x.converged_ for x in gens)
        if stalled:
            notes.append(f"gmm: EM did not converge within {gen.max_iter} iterations in {stalled} of {len(gens)} "
                         "repetitions")
        thin = [x for x in gens if x.covariance_type == "full" and x.n_fit_points_ / x.n_components < N + 1]
        if thin:
            x = thin[0]
            where = "" if len(thin) == len(gens) else f" (in {len(thin)} of {len(gens)} repetitions)"
            notes.append(f"gmm: about {x.n_fit_points_ // x.n_components} fit points per component{where}, fewer "
                         f"than N + 1 = {N + 1}: the full component covariances are rank-deficient and held up by "
                         f"the regularisation (generate.gmm_reg = {g.gmm_reg:g} of the mean variance, "
                         f"reg_covar = {x.reg_covar_:.3g})")
    if getattr(gen, "n_fit_points_", n_fit) < n_fit:
        notes.append(f"{name} was fitted on {gen.n_fit_points_} random fit-part points "
                     f"(generate.gmm_max_points)")
    return notes


def _fitted(gen: LatentGenerator) -> dict:
    return {a.rstrip("_"): getattr(gen, a) for a in FITTED_ATTRIBUTES if hasattr(gen, a)}


@dataclass
class Repeat:
    """One repetition of the comparison: its table rows (reference first), fitted generators and the
    gmm's selector (None without gmm)."""

    rows: list[dict]
    generators: dict[str, LatentGenerator]
    selector: GMMSelector | None = None


def evaluate_repeat(judge: Judge, cfg: Config, z: np.ndarray, sp: Split, b: float | None, seed: int,
                    keep: tuple[dict, dict] | None = None) -> Repeat:
    """The reference row and every configured generator (fitted on this split's fit part), in config order.

    The gmm's configuration is selected on this split's fit part with this repetition's
    seed (:func:`select_gmm`), so the selection is part of what the repetitions repeat.
    ``keep`` = (samples, sheets) of the first repetition: each generator's points and
    images are added to ``samples`` and its contact sheet to ``sheets``.
    """
    sel = select_gmm(cfg, judge.z_fit, seed)
    gmm = dict(sel.best_params_) if sel is not None else None
    reference, _, _ = evaluate(judge, REFERENCE, "reference", np.asarray(z[sp.ref_idx], dtype=np.float32),
                               copy_probe=judge.z_real[1::2])
    rows, gens = [reference], {}
    for name in cfg.generate.generators:
        gen = fit_generator(name, _params(name, cfg, b, seed, gmm), judge.z_fit)
        pts = gen.sample(sp.n_fake)
        row, u8, face = evaluate(judge, name, "generator", pts)
        rows.append(row)
        gens[name] = gen
        if keep is not None:
            samples, sheets = keep
            samples[f"z_{name}"], samples[f"images_{name}"] = pts[:sp.n_sheet], u8
            if face is not None:
                samples[f"face_{name}"] = face
            sheets[name] = contact_sheet(u8)
    return Repeat(rows=rows, generators=gens, selector=sel)


# ---------------------------------------------------------------- 5. over the repetitions, ranked

def summarise(reps: list[dict], level: float) -> dict:
    """One row of the table from its repetitions: each metric's mean and interval (see the module docstring)."""
    row = {"name": reps[0]["name"], "kind": reps[0]["kind"]}
    intervals = {}
    for m, (lower, upper) in METRICS.items():
        vals = [r[m] for r in reps]
        finite = [v is not None and math.isfinite(v) for v in vals]
        if all(finite):
            mean, low, high = cal.mean_interval(vals, level, lower, upper)
            row[m], intervals[m] = mean, {"low": low, "high": high, "repeats": [float(v) for v in vals]}
        else:
            row[m] = None
            intervals[m] = {"low": None, "high": None,
                            "repeats": [float(v) if ok else None for v, ok in zip(vals, finite)]}
    row["copies"] = bool(row["copy_share"] > COPY_SHARE_LIMIT)
    row["intervals"] = intervals
    return row


def face_rank(rows: list[dict]) -> None:
    """``face_rank`` and ``face_tied_with`` of the generator rows by their face score intervals (as
    :func:`rank` does with the score); null in every row when a face score is undefined."""
    gens = rows[1:]
    ok = all(r["intervals"]["face_score"]["low"] is not None for r in gens)
    if ok:
        ranks, ties = cal.separated_ranks([r["intervals"]["face_score"]["low"] for r in gens],
                                          [r["intervals"]["face_score"]["high"] for r in gens])
    for i, r in enumerate(gens):
        r["face_rank"], r["face_tied_with"] = (ranks[i], sorted(gens[j]["name"] for j in ties[i])) if ok else (None, [])
    rows[0]["face_rank"], rows[0]["face_tied_with"] = None, []


def rank(rows: list[dict]) -> list[dict]:
    """The table: the reference row first (rank None), then the generators by rank, score and name.

    A generator's rank is 1 + the number of generators whose score interval lies wholly
    above its own (:func:`analysis.science.calibration.separated_ranks`); ``tied_with`` names the
    generators whose score intervals overlap its own.
    """
    gens = rows[1:]
    ranks, ties = cal.separated_ranks([r["intervals"]["score"]["low"] for r in gens],
                                      [r["intervals"]["score"]["high"] for r in gens])
    for r, k, t in zip(gens, ranks, ties):
        r["rank"], r["tied_with"] = k, sorted(gens[j]["name"] for j in t)
    rows[0]["rank"], rows[0]["tied_with"] = None, []
    return [rows[0]] + sorted(gens, key=lambda r: (r["rank"], -r["score"], r["name"]))


def table_of(repeats: list[Repeat], level: float) -> list[dict]:
    """The ranked table of metrics.json from the repetitions' rows."""
    rows = [summarise([rep.rows[i] for rep in repeats], level) for i in range(len(repeats[0].rows))]
    face_rank(rows)
    return rank(rows)


# ---------------------------------------------------------------- 6. sweeps

def sweep(name: str, param: str, values: list, cfg: Config, b: float | None, judge: Judge,
          n_fake: int, seed: int) -> tuple[dict, list[str]]:
    """Latent k-NN metrics of generator ``name`` for each value of ``param``; settings that cannot be
    fitted give nulls and a note."""
    out = {"parameter": param, "values": list(values), **{m: [] for m in SWEEP_METRICS}}
    notes = []
    for v in values:
        try:
            gen = make_generator(name, **{**_params(name, cfg, b, seed, None), param: v}).fit(judge.z_fit)
            res = M.prdc(judge.z_real, gen.sample(n_fake), judge.k)
        except ValueError as e:
            notes.append(f"sweep {name} {param} = {v} skipped: {e}")
            res = {m: None for m in SWEEP_METRICS}
        for m in SWEEP_METRICS:
            out[m].append(res[m])
    return out, notes


def selection_sweep(sel: GMMSelector | None, judge: Judge, n_fake: int) -> tuple[dict, list[str]]:
    """Latent k-NN metrics of the gmm selection's candidates of the chosen covariance type, by
    component count (fitted on the selection's training part); nulls where a candidate failed."""
    out = {"parameter": "n_components", "values": [], **{m: [] for m in SWEEP_METRICS}}
    if sel is None:
        return out, []
    notes, cov = [], sel.best_params_["covariance_type"]
    for res, est in zip(sel.results_, sel.estimators_):
        if res["covariance_type"] != cov:
            continue
        out["values"].append(res["n_components"])
        if est is None:
            notes.append(f"gmm with {res['n_components']} {cov} components could not be fitted: {res['error']}")
            m = {k: None for k in SWEEP_METRICS}
        else:
            m = M.prdc(judge.z_real, est.sample(n_fake), judge.k)
        for k in SWEEP_METRICS:
            out[k].append(m[k])
    failed = [f"{r['n_components']} {r['covariance_type']}" for r in sel.results_
              if r["error"] and r["covariance_type"] != cov]
    if failed:
        notes.append(f"gmm selection: the candidates {', '.join(failed)} could not be fitted")
    return out, notes


def generators_info(repeats: list[Repeat], cfg: Config, n_fit: int, N: int) -> tuple[dict, list[str]]:
    """The ``generators`` entry of metrics.json (class; the hyper-parameters every repetition shares,
    those that vary and their value in each repetition; fitted scalars of the first and of every
    repetition) and notes on the fits."""
    info, notes = {}, []
    for name in cfg.generate.generators:
        gens = [rep.generators[name] for rep in repeats]
        params = [x.get_params() for x in gens]
        varying = sorted(k for k in params[0] if any(p[k] != params[0][k] for p in params[1:]))
        info[name] = {"class": type(gens[0]).__name__,
                      "params": {k: None if k in varying else v for k, v in params[0].items()},
                      "varying": varying, "repeat_params": [{k: p[k] for k in varying} for p in params],
                      "fitted": _fitted(gens[0]), "repeats": [_fitted(x) for x in gens]}
        notes += generator_notes(name, gens, n_fit, N, cfg.generate)
    return info, notes


def all_sweeps(cfg: Config, b: float | None, judge: Judge, n_fake: int, seed: int,
               sel: GMMSelector | None) -> tuple[dict, list[str]]:
    """The ``sweeps`` of metrics.json: the gmm selection's candidates by component count, pca-ellipsoid
    over ``generate.sweep_confidence``; and notes on settings that could not be fitted."""
    gmm, notes_gmm = selection_sweep(sel, judge, n_fake)
    pca, notes_pca = sweep("pca-ellipsoid", "confidence", cfg.generate.sweep_confidence, cfg, b, judge, n_fake, seed)
    return {"gmm_components": gmm, "pca_confidence": pca}, notes_gmm + notes_pca



