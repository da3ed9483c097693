"""The ledger's shared machinery: rows, words for numbers, tests against nulls, pooling over runs.

A ledger row (:func:`row`) states one published finding, our figure with its interval,
a null model, a verdict by a written rule and the sentence the article prints. The
rows of the geometry (:mod:`analysis.steps.findings`) are *judged* from plain figures: a
JSON-able dict ``fig`` with the intervals the rule reads under ``fig["stats"]`` (each
{``value``, ``low``, ``high``}, the row's own figure under ``"value"``), a test against
its null model under ``fig["test"]`` where the row has one, and whatever else its
sentence quotes. Judging is a pure function of ``fig``, so the same rule decides
twice: on one run's intervals (the claims step) and on intervals pooled over the runs
of a config (the ``across`` step).

Tests against null models
    A row whose claim contrasts the data with a null model carries one p-value
    (:func:`p_value`): ``"bootstrap-z"`` (the data's figure against the null's value in
    units of the standard deviation of its bootstrap draws, one- or two-sided) or
    ``"monte-carlo"`` (the share of simulated null figures at least as extreme, with the
    usual +1). The p-values of all rows form one family, the ledger's tests against
    their null models, and are Holm-adjusted together (:func:`analysis.science.calibration.holm`,
    :func:`adjust`);
    where a rule needs "significant", it means adjusted p < ``claims.ledger_alpha``.

Pooling over runs (:func:`pool`)
    With three or more runs of one configuration (training seeds), the headline interval
    of each row comes from a hierarchical bootstrap
    (:func:`analysis.science.calibration.hierarchical_bootstrap`): runs resampled, then one of
    each chosen run's own bootstrap draws (points resampled). The value is the mean over
    the runs; a monte-carlo null pools the runs' null draws. The row is then judged again
    on the pooled figures, so the verdict rests on an interval that widens when runs
    disagree.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from analysis.science import calibration as cal
from analysis import published
from analysis.schemas.claims import NOT, PARTLY, REPRODUCED, UNTESTABLE, VERDICTS  # noqa: F401
from analysis.words import interval_text, num, p_text, pct

KINDS = ("finding", "check")
MIN_POOLED_RUNS = 3


def _finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


def three_way(supported: bool, contradicted: bool) -> str:
    return REPRODUCED if supported else NOT if contradicted else PARTLY


# --------------------------------------------------------------------------- rows

def row(fid: str, *, statistic: str, unit: str, value=None, low=None, high=None, null=None, null_label="",
        reference=None, reference_label="", verdict: str, criterion: str, sentence: str, chapter: str,
        interval: str = "", reason: str | None = None, notes: list[str] | None = None, kind: str = "finding",
        b: float | None = None, null_passes: bool | None = None, test: dict | None = None,
        pooled: dict | None = None) -> dict:
    """One ledger row; the claim and the published figure come from
    :data:`analysis.published.FINDINGS`.

    ``kind``: "finding" (counted) or "check" (an identity shown under the ledger); ``b``:
    the b the row's figure is measured at (None where none); ``null_passes``: whether the
    null model passes the same rule (None where no null applies); ``test``: the row's test
    against its null model ({``p``, ``p_holm``, ``method``, ``family``, ``alpha``,
    ``significant``}) or None; ``pooled``: how the runs were pooled ({``runs``, ``n``})
    or None for one run's figures.
    """
    part, claim, pub = published.FINDINGS[fid]
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown row kind {kind!r}")
    if verdict == UNTESTABLE:
        value = low = high = None
    return {"id": fid, "kind": kind, "part": part, "claim": claim, "published": pub, "statistic": statistic,
            "unit": unit, "ours": {"value": _finite(value), "low": _finite(low), "high": _finite(high)},
            "null": _finite(null), "null_label": null_label, "reference": _finite(reference),
            "reference_label": reference_label, "verdict": verdict, "criterion": criterion,
            "sentence": sentence, "reason": reason, "interval": interval, "notes": list(notes or []),
            "chapter": chapter, "b": _finite(b), "null_passes": null_passes, "test": test, "pooled": pooled}


def untestable(fid: str, statistic: str, unit: str, reason: str, criterion: str, chapter: str,
               notes: list[str] | None = None, **extra) -> dict:
    part, claim, pub = published.FINDINGS[fid]
    return row(fid, statistic=statistic, unit=unit, verdict=UNTESTABLE, criterion=criterion, chapter=chapter,
               sentence=f"This build cannot test the finding that {claim[0].lower()}{claim[1:-1]}: {reason}.",
               reason=reason, notes=notes, **extra)


# --------------------------------------------------------------------------- tests against null models

def p_value(method: str, value: float, null, direction: str, draws=None) -> float:
    """The p-value of a figure against its null model.

    Parameters
    ----------
    method : "bootstrap-z" or "monte-carlo"
    value : the data's figure
    null : bootstrap-z: the null model's value (float); monte-carlo: its simulated figures (M,)
    direction : "greater" (the claim: value above the null), "less" or "two-sided"
    draws : bootstrap-z: the bootstrap draws of the data's figure (their sd is the standard error)
    """
    if direction not in ("greater", "less", "two-sided"):
        raise ValueError(f"unknown direction {direction!r}")
    if method == "monte-carlo":
        sim = np.asarray(null, dtype=float)
        sim = sim[np.isfinite(sim)]
        if not sim.size:
            raise ValueError("a monte-carlo test needs simulated null figures")
        centre = float(np.median(sim))
        if direction == "greater":
            hits = np.count_nonzero(sim >= value)
        elif direction == "less":
            hits = np.count_nonzero(sim <= value)
        else:
            hits = np.count_nonzero(np.abs(sim - centre) >= abs(value - centre))
        return float((1 + hits) / (1 + sim.size))
    if method != "bootstrap-z":
        raise ValueError(f"unknown test method {method!r}")
    d = np.asarray(draws, dtype=float)
    d = d[np.isfinite(d)]
    sd = float(np.std(d, ddof=1)) if d.size > 1 else 0.0
    diff = float(value) - float(null)
    if sd > 0:
        z = diff / sd
    else:  # no sampling spread: the figure is on one side of the null or on it
        z = math.inf if diff > 0 else -math.inf if diff < 0 else 0.0
    if direction == "greater":
        return float(sps.norm.sf(z))
    if direction == "less":
        return float(sps.norm.cdf(z))
    return float(min(1.0, 2.0 * sps.norm.sf(abs(z))))


def family_text(ids: list[str], alpha: float) -> str:
    return (f"Holm-adjusted over the ledger's {len(ids)} tests against null models ({', '.join(ids)}), "
            f"significant below {alpha:g}")


def adjust(figs: dict[str, dict], alpha: float) -> list[str]:
    """Compute every row's p-value (``fig["test"]``) and Holm-adjust them as one family, in place.

    Each ``fig["test"]`` gets ``p``, ``p_holm``, ``family`` (in words), ``alpha`` and
    ``significant``. Returns the ids of the family, in ledger order.
    """
    ids = [fid for fid, f in figs.items() if f.get("test") and not f.get("untestable")]
    ps = []
    for fid in ids:
        t, st = figs[fid]["test"], figs[fid]["stats"]
        key = t.get("stat", "value")
        null = t["null_draws"] if t["method"] == "monte-carlo" else t["null"]
        ps.append(p_value(t["method"], st[key]["value"], null, t["direction"], t.get("draws")))
    adj = cal.holm(ps) if ps else np.array([])
    text = family_text(ids, alpha)
    for fid, p, pa in zip(ids, ps, adj):
        figs[fid]["test"].update(p=float(p), p_holm=float(pa), family=text, alpha=alpha, significant=bool(pa < alpha))
    return ids


def test_doc(fig: dict) -> dict | None:
    """What a row says of its test (JSON: no draws)."""
    t = fig.get("test")
    if not t or "p" not in t:
        return None
    return {k: t[k] for k in ("p", "p_holm", "method", "direction", "family", "alpha", "significant")}


# --------------------------------------------------------------------------- pooling over runs

def pooled_stat(values: list[float], draws: list[np.ndarray], level: float, reps: int,
                rng: np.random.Generator, lower: float | None = None, upper: float | None = None) -> dict:
    """One figure pooled over runs: the runs' mean and the hierarchical-bootstrap interval."""
    boot = cal.hierarchical_bootstrap(draws, reps, rng)
    lo, hi = cal.percentile_interval(boot, level)
    value = float(np.mean(values))
    lo, hi = min(lo, value), max(hi, value)
    if lower is not None:
        lo = max(lo, lower)
    if upper is not None:
        hi = min(hi, upper)
    return {"value": value, "low": lo, "high": hi, "boot": boot}


def pool(figs: list[dict[str, dict]], draws: list[dict[str, np.ndarray]], null_draws: list[dict[str, np.ndarray]],
         names: list[str], level: float, reps: int, seed: int) -> dict[str, dict]:
    """The primary run's figures with every interval pooled over the runs (see the module docstring).

    Parameters
    ----------
    figs : per run (the primary first), fid -> fig (``details.json`` ``figures``)
    draws : per run, "fid/stat" -> bootstrap draws of that figure (B,)
    null_draws : per run, "fid" -> simulated null figures of a monte-carlo test (M,)
    names : the runs' names
    level, reps, seed : interval level, hierarchical repetitions, seed of the resampling

    Returns
    -------
    fid -> pooled fig, for every row of the primary run that every run measured (an
    untestable row in any run stays the primary's).
    """
    out = {}
    for fid, f0 in figs[0].items():
        if f0.get("untestable") or any(fid not in f or f[fid].get("untestable") for f in figs[1:]):
            continue
        f = {**f0, "stats": {}, "pooled": {"runs": list(names), "n": len(names)}}
        rng = np.random.default_rng([seed, 23, len(out)])
        boots = {}
        for key, s0 in f0["stats"].items():
            dk = f"{fid}/{key}"
            if not all(dk in d for d in draws):
                f["stats"][key] = dict(s0)
                continue
            p = pooled_stat([fr[fid]["stats"][key]["value"] for fr in figs], [d[dk] for d in draws], level, reps,
                            rng, s0.get("lower"), s0.get("upper"))
            boots[key] = p.pop("boot")
            if "count" in s0 and "total" in s0:  # a share: never narrower than the binomial interval of the pooled count
                count = sum(fr[fid]["stats"][key]["count"] for fr in figs)
                total = sum(fr[fid]["stats"][key]["total"] for fr in figs)
                blo, bhi = cal.binomial_interval(count, total, level)
                p.update(low=min(p["low"], blo), high=max(p["high"], bhi), count=count, total=total)
            f["stats"][key] = {**s0, **p}
        if f0.get("test"):
            t = {k: v for k, v in f0["test"].items() if k not in ("p", "p_holm", "significant", "family", "alpha")}
            key = t.get("stat", "value")
            if t["method"] == "monte-carlo":
                t["null_draws"] = np.concatenate([nd[fid] for nd in null_draws])
            else:
                t["null"] = float(np.mean([fr[fid]["test"]["null"] for fr in figs]))
                t["draws"] = boots.get(key, t.get("draws"))
            f["test"] = t
        out[fid] = f
    return out
