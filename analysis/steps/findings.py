"""The rules of the ledger's geometry rows: one figure dict in, one judged row out.

Each ``judge_<id>(fig, cc)`` reads the intervals its rule needs from ``fig["stats"]``
(see :mod:`analysis.science.ledger`), its test against the null model from ``fig["test"]``
(Holm-adjusted over the ledger) and the numbers its sentence quotes from the rest of
``fig``, and returns the ledger row: verdict, criterion, sentence. Nothing here
measures; the claims step (:mod:`analysis.steps.claims`) builds the figures from one run and
the ``across`` step (:mod:`analysis.steps.across`) pools them over runs, and both judge with
these functions, so a verdict always follows the same written rule.

Every rule can reach each verdict (tests/test_findings.py builds figures for each);
where a null model passes the same rule, the row says so (``null_passes``); every
sentence that places a point says in which metric.
"""

from __future__ import annotations

from analysis import published
from analysis.pipeline.config import ClaimsConfig
from analysis.science.ledger import (NOT, PARTLY, REPRODUCED, row, test_doc, three_way, untestable)
from analysis.words import interval_text, num, p_text, pct

#: The metric of the origin's verdict, and why (the origin table shows the others).
ORIGIN_METRIC = ("cross-fitted Ledoit-Wolf Mahalanobis distance from the centre")
ORIGIN_REASON = ("the cloud is an ellipsoid, so a distance must be measured in units of its spread along each "
                 "direction: Euclidean distance from the centre ignores the shape (along a short axis a small step "
                 "already leaves the data), the principal subspaces drop the short axes, and the nearest-real-point "
                 "distance measures gaps between points rather than the cloud's extent; shrinkage keeps the "
                 "shortest axes from dominating, and cross-fitting makes the origin and the points it is compared "
                 "with equally new to the fit")
BANDS = ("beyond the data", "at the border", "in the outer part", "inside the bulk")


# --------------------------------------------------------------------------- shared pieces

def _iv(fig: dict, key: str = "value") -> tuple[float, float, float]:
    s = fig["stats"][key]
    return s["value"], s["low"], s["high"]


def _interval_how(fig: dict, one_run: str) -> str:
    """How the interval was obtained: the run's own method, or pooled over runs."""
    p = fig.get("pooled")
    if not p:
        return one_run
    return (f"hierarchical bootstrap over the {p['n']} runs ({', '.join(p['runs'])}): runs resampled, then one of "
            f"each chosen run's own draws ({one_run}); the value is the runs' mean")


def _value_words(fig: dict) -> str:
    p = fig.get("pooled")
    if not p:
        return ""
    return f" (mean of {p['n']} runs, each at its own b)" if "b" in fig else f" (mean of {p['n']} runs)"


def _primary(fig: dict) -> str:
    """Marks a figure that comes from the primary run beside figures pooled over runs."""
    return " (primary run)" if fig.get("pooled") else ""


def _b_words(fig: dict) -> str:
    b = fig["b"]
    return f"b = {num(b['value'])}{_primary(fig)}"


def _sig(fig: dict) -> bool:
    t = fig.get("test")
    return bool(t and t.get("significant"))


def _test_words(fig: dict) -> str:
    t = fig["test"]
    return f"{p_text(t['p'])}, Holm-adjusted {p_text(t['p_holm'])}"


def _null_note(passes: bool | None, text: str) -> str:
    return f" {text}" if passes else ""


def _across_b(fig: dict, fmt=pct) -> str:
    """The figure at the ends of the b interval, in words."""
    a = fig["across_b"]
    return (f"across the interval of the best b{_primary(fig)} it goes from {fmt(a['low_value'])} at "
            f"b = {num(a['low_b'])} to {fmt(a['high_value'])} at b = {num(a['high_b'])}")


def band_of(share: float, cc: ClaimsConfig) -> str:
    """Where a point lies by the share s of (held-out) points farther out in some metric."""
    lo, hi = cc.border_band
    if share < lo:
        return BANDS[0]
    if share < hi:
        return BANDS[1]
    if share < cc.bulk_share:
        return BANDS[2]
    return BANDS[3]


# --------------------------------------------------------------------------- part II: components

def judge_off_centre(fig: dict, cc: ClaimsConfig) -> dict:
    v0, lo, hi = _iv(fig)
    maj = fig["majority"]
    d = fig["effect_size"]
    null = fig["null"]
    verdict = three_way(lo >= maj, hi < cc.minor_share)
    null_passes = null >= maj
    sig, msd = fig["significant_share"], fig["median_abs_mean_over_sd"]
    nums = (f"{pct(v0)}{_value_words(fig)} of the N = {fig['N']} components have a mean more than {d:g} of their own "
            f"standard deviation from zero and significantly so (interval {interval_text(lo, hi)}; centred "
            f"components would give {pct(null, 2) if null >= 1e-6 else 'practically none'}); {pct(sig)} differ from zero significantly at any size "
            f"(Holm-adjusted over the N component means, below {cc.ledger_alpha:g}); the median |mean| is "
            f"{num(msd)} standard deviations")
    sentence = {REPRODUCED: f"Most components are off-centre by a material amount: {nums}.",
                PARTLY: f"Some components are off-centre by a material amount, but not clearly most: {nums}.",
                NOT: f"The components are centred up to small offsets: {nums}."}[verdict]
    if sig > v0 + 0.25:
        sentence += (" Most means differ from zero significantly, but by little: with this many points "
                     "significance alone says nothing about size.")
    return row("off_centre", statistic=f"share of components whose mean lies more than {d:g} standard deviations "
               "from 0 (effect size) and differs from 0 significantly (Holm over the N components)", unit="share",
               value=v0, low=lo, high=hi, null=null, null_label="centred components (chance)", verdict=verdict,
               criterion=f"reproduced if the interval lies at or above {pct(maj, 0)} (most components); not "
                         f"reproduced if it lies below {pct(cc.minor_share, 0)}; partly otherwise",
               sentence=sentence, chapter="02-components", interval=_interval_how(fig, "bootstrap of the points"),
               notes=fig["notes"], null_passes=null_passes, pooled=fig.get("pooled"))


def judge_own_spread(fig: dict, cc: ClaimsConfig) -> dict:
    v0, lo, hi = _iv(fig)
    lim = fig["limit"]
    null = fig["test"]["null_median"]
    verdict = three_way(lo > lim and _sig(fig), hi <= lim)
    null_passes = null > lim
    nums = (f"the widest component's standard deviation is {num(v0)}{_value_words(fig)} times the narrowest's "
            f"(interval {interval_text(lo, hi, num)}); components of one common spread give {num(null)} with "
            f"this many points ({_test_words(fig)}); the middle 80 % of the spreads range over a factor "
            f"{num(fig['q90_over_q10'])}")
    sentence = {REPRODUCED: f"Each component has its own spread: {nums}.",
                PARTLY: f"The spreads differ somewhat, not clearly more than {lim:g}-fold: {nums}.",
                NOT: f"The components have similar spreads: {nums}."}[verdict]
    sentence += _null_note(null_passes, f"Components of one common spread pass the same rule here ({num(null)}): "
                                        "the sample is too small to tell spreads apart.")
    return row("own_spread", statistic="largest over smallest standard deviation of the components", unit="ratio",
               value=v0, low=lo, high=hi, null=null, null_label="one common spread (simulated, same n and N)",
               verdict=verdict,
               criterion=f"reproduced if the interval lies above {lim:g} and the ratio exceeds that of one common "
                         f"spread significantly ({fig['test']['family']}); not reproduced if the interval lies at "
                         f"or below {lim:g}; partly otherwise",
               sentence=sentence, chapter="02-components", interval=_interval_how(fig, "bootstrap of the points"),
               notes=fig["notes"], null_passes=null_passes, test=test_doc(fig), pooled=fig.get("pooled"))


# --------------------------------------------------------------------------- part III: correlations

def judge_ellipsoid(fig: dict, cc: ClaimsConfig) -> dict:
    v0, lo, hi = _iv(fig)
    null, r, r_null = fig["test"]["null"], fig["mean_abs_corr"], fig["mean_abs_corr_independent"]
    verdict = three_way(hi <= cc.few_axes_share and _sig(fig), lo >= null)
    null_passes = null <= cc.few_axes_share
    axes = (f"{pct(v0, 0)}{_value_words(fig)} of the N = {fig['N']} principal axes (interval "
            f"{interval_text(lo, hi, lambda x: pct(x, 0))}) hold 90 % of the variance")
    corr = f"the mean absolute correlation is {num(r)} (independent components of this sample: {num(r_null)})"
    test = f"{_test_words(fig)} against independent components with the same spreads ({pct(null, 0)})"
    sentence = {REPRODUCED: f"The cloud is an ellipsoid stretched along a few main axes: {axes}, fewer than "
                            f"independent components need ({test}); {corr}.",
                PARTLY: f"The cloud is elongated, but not clearly along a few axes only: {axes} ({test}); {corr}.",
                NOT: f"The correlations do not concentrate the variance: {axes}, as many as independent components "
                     f"with the same spreads need ({test}); {corr}."}[verdict]
    sentence += _null_note(null_passes, "Independent components with these spreads would need few axes too: "
                                        "the unequal spreads alone concentrate the variance.")
    return row("ellipsoid", statistic="share of the N principal axes needed for 90 % of the variance",
               unit="share", value=v0, low=lo, high=hi, null=null,
               null_label="independent components (each permuted)", verdict=verdict,
               criterion=f"reproduced if the interval lies at or below {pct(cc.few_axes_share, 0)} of the axes and "
                         f"below the independent-components value significantly ({fig['test']['family']}); not "
                         "reproduced if it reaches no lower than that value; partly otherwise",
               sentence=sentence, chapter="03-correlations", interval=_interval_how(fig, "bootstrap of the points"),
               notes=fig["notes"], null_passes=null_passes, test=test_doc(fig), pooled=fig.get("pooled"))


def judge_centre(fig: dict, cc: ClaimsConfig) -> dict:
    v0, lo, hi = _iv(fig)
    k, t = fig["k"], fig["test"]
    null_med, null_hi = t["null_median"], t["null_q95"]
    verdict = three_way(lo >= cc.centre_share and _sig(fig), hi < cc.centre_share)
    null_passes = null_med >= cc.centre_share
    nums = (f"{pct(v0, 0)}{_value_words(fig)} of the centre's squared distance from the origin lies in the span of "
            f"the first {k} principal axes (interval {interval_text(lo, hi, lambda x: pct(x, 0))}); a direction "
            f"drawn from the cloud's own covariance puts {pct(null_med, 0)} there (median; 95th percentile "
            f"{pct(null_hi, 0)}; {_test_words(fig)}), a direction unrelated to the axes {pct(k / fig['N'], 0)}; "
            f"the centre is {num(fig['offset'])} from the origin, {num(fig['offset_over_rms'])} times the cloud's RMS "
            "radius")
    if verdict == REPRODUCED:
        sentence = f"The centre lies near the subspace of a few principal axes, nearer than the covariance explains: {nums}."
    elif verdict == NOT:
        sentence = f"The centre is not near the subspace of the first principal axes: {nums}."
    elif lo >= cc.centre_share:
        sentence = (f"The centre lies near the subspace of a few principal axes, but no nearer than a direction "
                    f"drawn from the cloud's covariance would: {nums}.")
    else:
        sentence = f"The centre leans towards the first principal axes without clearly lying near their span: {nums}."
    return row("centre_subspace", statistic=f"share of |centre|^2 in the span of the first {k} principal axes",
               unit="share", value=v0, low=lo, high=hi, null=null_med,
               null_label="a direction drawn from the covariance, c ~ N(0, Σ) (median of simulations)",
               verdict=verdict,
               criterion=f"reproduced if the interval lies at or above {pct(cc.centre_share, 0)} and the share "
                         f"exceeds that of directions drawn from the covariance significantly ({t['family']}; "
                         f"monte-carlo p over {t['simulations']:,} draws); not reproduced if the interval lies "
                         f"below {pct(cc.centre_share, 0)}; partly otherwise",
               sentence=sentence, chapter="03-correlations", interval=_interval_how(fig, "bootstrap of the points"),
               notes=fig["notes"], null_passes=null_passes, test=test_doc(fig), pooled=fig.get("pooled"))


# --------------------------------------------------------------------------- part IV: the origin

def judge_origin(fig: dict, cc: ClaimsConfig) -> dict:
    s, lo, hi = _iv(fig)
    lo_b, hi_b = cc.border_band
    g = fig["gaussian"]
    band = band_of(s, cc)
    verdict = three_way(lo >= lo_b and hi < hi_b, lo >= cc.bulk_share)
    null_passes = band_of(g, cc) == band
    others = "; ".join(f"{m['label']}: {pct(m['share'])} ({m['band']})" for m in fig["others"]) + _primary(fig)
    nums = (f"{pct(s)}{_value_words(fig)} of held-out points lie farther out than the origin by the "
            f"{ORIGIN_METRIC} ({fig['folds']} folds; interval {interval_text(lo, hi)}; held-out points of a "
            f"Gaussian with the data's mean and covariance, cross-fitted the same way: {pct(g)}{_primary(fig)}). In other "
            f"metrics the share differs: {others}")
    head = {"beyond the data": "In the Mahalanobis metric the origin lies beyond the data",
            "at the border": "In the Mahalanobis metric the origin lies at the border of the cloud",
            "in the outer part": "In the Mahalanobis metric the origin lies in the outer part of the cloud, not at "
                                 "its edge",
            "inside the bulk": "In the Mahalanobis metric the origin lies inside the bulk of the cloud"}[band]
    sentence = f"{head}: {nums}."
    if verdict == PARTLY and band == "at the border":
        sentence += " The interval reaches beyond the border band, so the placement is uncertain."
    sentence += _null_note(null_passes, "A Gaussian with the data's mean and covariance puts the origin in the same "
                                        "band: its position follows from the first two moments alone.")
    return row("origin_border", statistic=f"share of held-out points farther from the centre than the origin "
               f"({ORIGIN_METRIC}, {fig['folds']} folds)", unit="share", value=s, low=lo, high=hi, null=g,
               null_label="held-out points of a Gaussian with the data's mean and covariance, cross-fitted",
               reference=fig["in_sample"],
               reference_label="in-sample share of the stats step (biased towards the edge)", verdict=verdict,
               criterion=f"metric: the {ORIGIN_METRIC}, because {ORIGIN_REASON}; bands: beyond the data below "
                         f"{pct(lo_b, 0)}, at the border {pct(lo_b, 0)} to {pct(hi_b, 0)}, outer part {pct(hi_b, 0)} "
                         f"to {pct(cc.bulk_share, 0)}, inside the bulk above; reproduced if the interval lies in the "
                         "border band; not reproduced if it lies inside the bulk; partly otherwise",
               sentence=sentence, chapter="04-origin",
               interval=_interval_how(fig, "bootstrap (points resampled, folds redrawn and refitted), widened to the "
                                           "exact binomial interval of the held-out count"),
               notes=fig["notes"], null_passes=null_passes, pooled=fig.get("pooled"))


def judge_projection(fig: dict, cc: ClaimsConfig) -> dict:
    stat = (f"share of the points projecting into [-b, b]^2 (median pair) that lie in the whole cube [-b, b]^N, "
            f"{_b_words(fig)}")
    crit = (f"reproduced if the interval lies below {pct(cc.overlap_kept, 0)} (slices remove at least "
            f"{pct(1 - cc.overlap_kept, 0)} of the apparent overlap); not reproduced if it lies at or above 50 %; "
            "partly otherwise")
    if fig.get("untestable"):
        return untestable("projection_overlap", stat, "share", fig["reason"], crit, "04-origin", fig["notes"],
                          b=fig["b"]["value"])
    kept, lo, hi = _iv(fig)
    nn = fig["normal"]
    verdict = three_way(hi < cc.overlap_kept, lo >= 0.5)
    null_passes = nn is not None and nn < cc.overlap_kept
    if fig.get("pooled"):
        counted = (f"{pct(kept)}{_value_words(fig)} of the points that project into the square [-b, b]^2 of the "
                   f"median pair (interval {interval_text(lo, hi)}) lie in the cube [-b, b]^N that uniform points fill")
    else:
        counted = (f"at {_b_words(fig)}, of the {fig['projected']:,.0f} points that project into the square "
                   f"[-b, b]^2 of the median pair, {fig['cube']:,} ({pct(kept)}, interval {interval_text(lo, hi)}) "
                   "lie in the cube [-b, b]^N that uniform points fill")
    nums = f"{counted}; {_across_b(fig)}"
    sentence = {REPRODUCED: f"Projections exaggerate the overlap with uniform points, and slices remove it: {nums}.",
                PARTLY: f"Slices remove much, but not most, of the overlap that projections suggest: {nums}.",
                NOT: f"The overlap that projections show is real: {nums}."}[verdict]
    sentence += _null_note(null_passes, f"A normal with the data's mean and covariance passes the same rule "
                                        f"({pct(nn)}): the effect is one of high dimensions, not of this cloud.")
    return row("projection_overlap", statistic=stat, unit="share", value=kept, low=lo, high=hi, null=nn,
               null_label="a normal with the data's mean and covariance", verdict=verdict, criterion=crit,
               sentence=sentence, chapter="04-origin",
               interval=_interval_how(fig, "exact binomial (the cube's points are among each pair's projected "
                                           "points); draws from its Jeffreys posterior"),
               notes=fig["notes"], b=fig["b"]["value"], null_passes=null_passes, pooled=fig.get("pooled"))


def judge_slices(fig: dict, cc: ClaimsConfig) -> dict:
    share, lo, hi = _iv(fig)
    r, rlo, rhi = _iv(fig, "ratio")
    null = fig["normal"]
    empty, not_empty = hi < cc.empty_share, lo >= cc.empty_share
    void, fuller = rhi < 1.0, rlo > 1.0
    verdict = three_way(empty and void, not_empty and not void)
    null_passes = null < cc.empty_share
    nums = (f"at {_b_words(fig)} the median pair's slice holds {pct(share)}{_value_words(fig)} of the points "
            f"(interval {interval_text(lo, hi)}); a normal with the data's mean and covariance puts {pct(null)} "
            f"there (ratio {num(r)}, interval {interval_text(rlo, rhi, num)}); {_across_b(fig)}")
    how_empty = ("The slices are nearly empty" if empty else "The slices are not nearly empty" if not_empty else
                 f"The slices hold about {pct(cc.empty_share, 0)} of the points, too close to call them nearly empty")
    if void:
        compared = "and emptier than a normal of the same shape would leave them (a void)"
    elif fuller:
        compared = ("but fuller than a normal of the same shape would leave them (no void: the data put more "
                    "points there than the normal does)") if empty else (
                    "and fuller than a normal of the same shape would leave them (no void)")
    else:
        compared = ("and as full as a normal of the same shape would leave them (ordinary high-dimensional "
                    "emptiness, not a void)")
    sentence = f"{how_empty}, {compared}: {nums}."
    sentence += _null_note(null_passes and not void, "The fitted normal's slice is nearly empty too.")
    return row("slices_empty", statistic=f"share of the points in the median pair's slice at {_b_words(fig)}",
               unit="share", value=share, low=lo, high=hi, null=null,
               null_label="a normal with the data's mean and covariance", verdict=verdict,
               criterion=f"reproduced if the interval lies below {pct(cc.empty_share, 0)} (nearly empty) and the "
                         "ratio to the fitted normal lies below 1 (a void); not reproduced if neither holds anywhere "
                         "in the intervals; partly otherwise",
               sentence=sentence, chapter="04-origin",
               interval=_interval_how(fig, "exact binomial; ratio: Katz log interval (the median count as one pair's "
                                           "count); draws from Jeffreys posteriors"),
               notes=fig["notes"], b=fig["b"]["value"], null_passes=null_passes, pooled=fig.get("pooled"))


def judge_void(fig: dict, cc: ClaimsConfig) -> dict:
    stat = (f"share of uniform points inside the data's cross-fitted k-NN support (k = {fig['k']}), relative to the share of "
            f"held-out real points inside it (its calibration), {_b_words(fig)}")
    crit = (f"support: a point is inside when it lies within the distance from some real point to that point's "
            f"k-th nearest real neighbour (k = {fig['k']}) (Euclidean; the support built from the other folds); reproduced "
            f"if the interval of the ratio lies below {cc.void_ratio:g} and below 1 significantly "
            f"({fig['test']['family']}); not reproduced if it lies at or above {cc.filled_ratio:g}; partly otherwise")
    r, lo, hi = _iv(fig)
    u, c = fig["stats"]["uniform"], fig["stats"]["calibration"]
    nrm, org, nn = fig["normal"], fig["normal_at_origin"], fig["nn"]
    verdict = three_way(hi < cc.void_ratio and _sig(fig), lo >= cc.filled_ratio)
    null_passes = nrm["ratio"] < cc.void_ratio
    nums = (f"at {_b_words(fig)}, {pct(u['value'])} of {fig['uniform_points']:,} uniform points lie inside the data's "
            f"cross-fitted k-NN support (k = {fig['k']}; Euclidean), against {pct(c['value'])} of held-out real points (the "
            f"support's calibration): a ratio of {num(r)}{_value_words(fig)} (interval {interval_text(lo, hi, num)}; "
            f"{_test_words(fig)}); samples of a normal with the data's mean and covariance: {pct(nrm['share'])} "
            f"inside, of the same normal at the origin {pct(org['share'])}{_primary(fig)}. The nearest real point of a uniform "
            f"point is {num(nn['uniform_median_ratio'])} times as far as a held-out real point's (medians; the "
            f"closest uniform point is {num(nn['uniform_min_ratio'])} times the 99th percentile of the real "
            f"points'){_primary(fig)}")
    sentence = {REPRODUCED: f"Uniform points fall into voids, where there are no data: {nums}.",
                PARTLY: f"Uniform points lie inside the data's support less often than real points, but not "
                        f"rarely enough to call their region a void: {nums}.",
                NOT: f"Uniform points do not fall into voids; they lie inside the data's support: {nums}."}[verdict]
    sentence += _null_note(null_passes, f"Samples of a normal with the data's mean and covariance fall outside the "
                                        f"support as well (ratio {num(nrm['ratio'])}): off the data the support is "
                                        "thin everywhere, not only where uniform points lie.")
    return row("uniform_void", statistic=stat, unit="ratio", value=r, low=lo, high=hi, null=nrm["ratio"],
               null_label="samples of a normal with the data's mean and covariance (ratio)",
               reference=c["value"], reference_label="calibration: held-out real points inside the support",
               verdict=verdict, criterion=crit, sentence=sentence, chapter="04-origin",
               interval=_interval_how(fig, "ratio of two shares, draws from their Jeffreys posteriors"),
               notes=fig["notes"], b=fig["b"]["value"], null_passes=null_passes, test=test_doc(fig),
               pooled=fig.get("pooled"))


# --------------------------------------------------------------------------- part II: radii and b

def judge_thin_shell(fig: dict, cc: ClaimsConfig) -> dict:
    rel, lo, hi = _iv(fig)
    theory, real = fig["theory"], fig["real"]
    verdict = three_way(abs(lo / theory - 1) <= 0.1 and abs(hi / theory - 1) <= 0.1 and hi < real / 2, lo >= real)
    nums = (f"uniform radii spread by {pct(rel, 2)} of their mean (interval {interval_text(lo, hi, lambda x: pct(x, 2))}; "
            f"closed form 1/sqrt(5N) = {pct(theory, 2)}), the radii of the real points by {pct(real)}")
    sentence = {REPRODUCED: f"Uniform points lie on a thin shell, as the closed form says: {nums}.",
                PARTLY: f"Uniform radii are concentrated, but the shell is not much thinner than the data's: {nums}.",
                NOT: f"Uniform radii are not thinner than the real ones: {nums}."}[verdict]
    return row("thin_shell", kind="check", statistic="relative spread (std / mean) of the radii of uniform points",
               unit="share", value=rel, low=lo, high=hi, reference=theory,
               reference_label="closed form sqrt(3 / (15 N))", null=real,
               null_label="relative spread of the real radii", verdict=verdict,
               criterion="a check of a mathematical identity, not counted among the findings: as published if the "
                         "interval lies within 10 % of the closed form and below half the relative spread of the "
                         "real radii; not if it reaches no lower than the real radii's; partly otherwise",
               sentence=sentence, chapter="04-origin", interval=_interval_how(fig, "bootstrap of the uniform radii"),
               b=fig["b"]["value"], pooled=fig.get("pooled"))


def judge_b_range(fig: dict, cc: ClaimsConfig) -> dict:
    w, lo, hi = _iv(fig)
    pub_lo, pub_hi = published.FACTS["b_match_range"]
    pub_width = (pub_hi - pub_lo) / published.FACTS["b_best"]
    b = fig["b"]
    inside = fig["overlap"][0] <= b["best"] <= fig["overlap"][1]
    verdict = three_way(lo > 0 and hi <= 2 * pub_width and inside, hi <= 0 or lo > 2 * pub_width)
    nums = (f"the best b is {num(b['best'])} (interval {interval_text(b['low'], b['high'], num)}; flat range "
            f"{num(b['flat'][0])} to {num(b['flat'][1])}, where the Wasserstein distance stays within the bootstrap "
            f"noise of its minimum); the central 90 % radius ranges overlap for b from "
            f"{num(fig['overlap'][0])} to "
            f"{num(fig['overlap'][1])}{_primary(fig)}, a width of {pct(w, 0)}{_value_words(fig)} of the best b (interval "
            f"{interval_text(lo, hi, lambda x: pct(x, 0))}; published: {pub_lo:g} to {pub_hi:g} around "
            f"{published.FACTS['b_best']:g}, {pct(pub_width, 0)})")
    if fig["slice_change"] is not None:
        nums += (f"; across the interval of the best b the median slice's share changes by "
                 f"{pct(fig['slice_change'], 0)}")
    if b["best_at_edge"]:
        nums += "; the best b lies at the edge of the fine grid"
    sentence = {REPRODUCED: f"Radii match only in a narrow range of b, as published (the b values themselves depend "
                            f"on each autoencoder's latent scale): {nums}.",
                PARTLY: f"Radii match in a range of b whose relative width is not clearly narrow: {nums}.",
                NOT: (f"No b makes the radius ranges of uniform and real points overlap: {nums}." if hi <= 0 else
                      f"Radii match over a wide range of b, not a narrow one: {nums}.")}[verdict]
    return row("b_range", statistic="width of the range of b where the central 90 % radius ranges of uniform and "
               "real points overlap, relative to the best b of the fine scan", unit="share", value=w, low=lo,
               high=hi, null=None, reference=b["best"],
               reference_label=f"the best b (fine scan; interval {num(b['low'])} to {num(b['high'])}): the one b of "
                               "every row and chart",
               verdict=verdict,
               criterion=f"b is scale-dependent, so the test is relative: reproduced if the range exists, contains "
                         f"the best b and its relative width is at most twice the published (2 - 1) / 1.5 = "
                         f"{pct(pub_width, 0)} (the interval at most {pct(2 * pub_width, 0)}); not reproduced if no b "
                         f"gives overlapping ranges or the interval lies above {pct(2 * pub_width, 0)}; partly "
                         "otherwise",
               sentence=sentence, chapter="04-origin",
               interval=_interval_how(fig, "bootstrap of the real and the uniform radii (the stats step's fine "
                                           "scan)"),
               notes=fig["notes"], b=b["value"], pooled=fig.get("pooled"))


# --------------------------------------------------------------------------- part VIII: the core

def judge_core(fig: dict, cc: ClaimsConfig) -> dict:
    stat = (f"Mardia's kurtosis of the {cc.core_sigma:g}-sigma core relative to a Gaussian cut the same way "
            "(1 = normal)")
    pub = published.CORE_KEPT
    crit = (f"reproduced if the interval lies within 1 ± {cc.kurtosis_close:g} (a small effect, whatever its "
            f"significance) and the cut keeps more than {pct(pub, 0)} (the lower end of its interval); not "
            f"reproduced if the interval lies farther than {cc.kurtosis_far:g} from 1, on one side, and the "
            f"deviation is significant ({fig.get('test', {}).get('family', 'Holm-adjusted over the ledger')}); "
            "partly otherwise")
    if fig.get("untestable"):
        return untestable("core_normal", stat, "ratio", fig["reason"], crit, "03-correlations", fig["notes"])
    rel, lo, hi = _iv(fig)
    kept, klo, _ = _iv(fig, "kept")
    close = abs(lo - 1) <= cc.kurtosis_close and abs(hi - 1) <= cc.kurtosis_close
    far = min(abs(lo - 1), abs(hi - 1)) > cc.kurtosis_far and (lo - 1) * (hi - 1) > 0
    verdict = three_way(close and klo > pub, far and _sig(fig))
    nums = (f"the {cc.core_sigma:g}-sigma cut keeps {pct(kept)} of the points (published: more than {pct(pub, 0)}; "
            f"a Gaussian keeps {pct(fig['gaussian_kept'], 2)}); the core's multivariate kurtosis is {num(rel)}"
            f"{_value_words(fig)} times that of a Gaussian cut the same way (interval {interval_text(lo, hi, num)}; "
            f"{_test_words(fig)}; calibrated z = {num(fig['z'])}), the whole cloud's {num(fig['whole'])} times; "
            f"Shapiro-Wilk rejects normality on {fig['axes_rejected']} of {fig['rank']} principal axes of the core "
            f"({fig['whole_axes_rejected']} of the whole cloud) at {pct(cc.alpha, 0)} after the Benjamini-Hochberg "
            "correction")
    sentence = {REPRODUCED: f"The dense core is close to a multivariate normal: {nums}.",
                PARTLY: f"The dense core is only roughly normal: {nums}.",
                NOT: f"The dense core is not close to a multivariate normal: {nums}."}[verdict]
    if verdict == PARTLY and _sig(fig):
        sentence += " The deviation is significant but moderate in size: with this many points a test rejects small departures."
    return row("core_normal", statistic=stat, unit="ratio", value=rel, low=lo, high=hi, null=1.0,
               null_label="a Gaussian sample of the same size, cut the same way", reference=kept,
               reference_label=f"share kept by the cut (published: more than {pct(pub, 0)})", verdict=verdict,
               criterion=crit, sentence=sentence, chapter="03-correlations",
               interval=_interval_how(fig, "bootstrap of the core's points (their whitening fixed), over the "
                                           "simulated Gaussian mean"),
               notes=fig["notes"], test=test_doc(fig), pooled=fig.get("pooled"))


#: The geometry rows, judged from figures: id -> judge.
JUDGES = {"off_centre": judge_off_centre, "own_spread": judge_own_spread, "ellipsoid": judge_ellipsoid,
          "centre_subspace": judge_centre, "origin_border": judge_origin, "projection_overlap": judge_projection,
          "slices_empty": judge_slices, "uniform_void": judge_void, "thin_shell": judge_thin_shell,
          "b_range": judge_b_range, "core_normal": judge_core}
