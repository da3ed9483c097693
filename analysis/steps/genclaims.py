"""The claims ledger's generator rows: which generators decode to faces, whether per-component generation
does better than uniform vectors, whether the Gaussian mixture beats the simple priors, and whether the
latent and pixel metrics agree (:mod:`analysis.steps.claims` judges the geometry rows and writes the ledger).

Each row is a verdict from the generate step's table (:mod:`analysis.schemas.generate`), its repetitions'
intervals and the face tests' labels; a row whose instrument did not pass its calibration is
``not testable``, with the reason.
"""

from __future__ import annotations

from analysis.science import calibration as cal
from analysis.pipeline.config import ClaimsConfig
from analysis.science.ledger import NOT, PARTLY, REPRODUCED, row, untestable
from analysis.science.ledger import three_way as _three_way
from analysis.words import and_list, interval_text, num, pct

SIMPLE = ("uniform", "independent-normal", "mvn")  # the "simple priors" of the GMM comparison


def _gen_rows(G):
    return {r.name: r for r in G.table}


def _generator_caveat(G, cc: ClaimsConfig, pixel: bool = True, heldout: bool = True) -> tuple[str | None, list[str]]:
    """Why a generator metric is not testable (too few held-out points), or None; and its caveats.

    ``pixel``: the metric rests on decoded held-out images (the face score's coverage), else on held-out
    latent points; ``heldout`` = False: it needs no k-NN support of held-out points (a share of faces).
    """
    st = G.settings
    few = st.n_image_real if pixel else st.n_real
    if heldout and few < cc.min_heldout:
        what = ("the face score's coverage rests on the k-NN support of so few decoded real images that it is coarse"
                if pixel else "a k-NN support of so few points is coarse, and precision and coverage read high for "
                "any spread-out sample")
        return (f"the {'face score' if pixel else 'latent metrics'} rest{'s' if pixel else ''} on only {few} held-out "
                f"real points (fewer than claims.min_heldout = {cc.min_heldout}): {what}", [])
    notes = []
    if st.n_real < 5 * cc.min_heldout:
        notes.append(f"The latent metrics compare with {st.n_real} held-out real points: their k-NN support is "
                     "coarse, and intervals are wide.")
    notes.append(f"Intervals: Student t over the {st.repeats} repetitions of the generate step, each a new "
                 "split, a refit and new samples.")
    return None, notes


def _ratio_repeats(row, ref, metric: str, level: float) -> tuple[float, float, float] | None:
    """Mean of ``metric`` of ``row`` relative to the reference row's, per repetition (the same split),
    with its Student t interval; None when the reference's value is 0 or undefined in a repetition."""
    a, b = row.interval(metric).repeats, ref.interval(metric).repeats
    if any(x is None for x in a) or any(y is None or y <= 0 for y in b):
        return None
    return cal.mean_interval([x / y for x, y in zip(a, b)], level, 0.0, None)


def _interval_text(row, metric: str) -> str:
    iv = row.interval(metric)
    return interval_text(iv.low, iv.high)


def _face_caveat(G) -> str | None:
    """Why a verdict on faces is not testable on this build (no calibrated face test), or None."""
    if not G.faces.available:
        return "the faces step has not run for this build, so no calibrated face test judged the decoded images"
    if not G.faces.usable:
        return G.faces.reason
    return None


def _face_notes(G, notes: list[str]) -> list[str]:
    """The face test's error rates, printed beside every verdict that uses it."""
    return notes + [f"Face test: {G.faces.rule_text}"]


def _with_face_rule(crit: str, G) -> str:
    """The criterion with the face test's rule and measured error rates (the ledger prints the criterion)."""
    rule = G.faces.rule_text
    return f"{crit}. Face test: {rule[0].lower()}{rule[1:].rstrip('.')}"


def claim_faces(fid: str, name: str, G, cc: ClaimsConfig) -> dict:
    """Decoded images of generator ``name`` called faces by the calibrated face tests, relative to the
    real reference's reconstructions (the share's ratio, per repetition)."""
    stat = (f"share of the decoded images of {name} that the calibrated face tests call faces, relative to that of "
            "the reconstructions of real held-out points")
    want_faces = fid == "pca_faces"
    crit = (f"reproduced if the interval lies at or above {cc.face_ratio:g}; not reproduced if it lies below "
            f"{cc.nonface_ratio:g}; partly otherwise" if want_faces else
            f"reproduced if the interval lies below {cc.nonface_ratio:g}; not reproduced if it lies at or above "
            f"{cc.face_ratio:g}; partly otherwise")
    chapter = "05-generating"
    if not G:
        return untestable(fid, stat, "ratio", "the generate step has not run for this build", crit, chapter)
    rows = _gen_rows(G)
    if name not in rows:
        return untestable(fid, stat, "ratio", f"the {name} generator is not among generate.generators", crit, chapter)
    reason, notes = _generator_caveat(G, cc, heldout=False)
    reason = _face_caveat(G) or reason
    if reason:
        return untestable(fid, stat, "ratio", reason, crit, chapter)
    r, ref = rows[name], G.reference
    ratio = _ratio_repeats(r, ref, "face_share", cc.level)
    if ratio is None:
        return untestable(fid, stat, "ratio", "the face tests call none of the real reference's reconstructions a "
                          "face in some repetition", crit, chapter)
    ratio, lo, hi = ratio
    if want_faces:
        v = _three_way(lo >= cc.face_ratio, hi < cc.nonface_ratio)
    else:
        v = _three_way(hi < cc.nonface_ratio, lo >= cc.face_ratio)
    nums = (f"the face tests call {pct(r.face_share)} of its decoded images faces, against {pct(ref.face_share)} of "
            f"the reconstructions of real held-out points (ratio {num(ratio)}, interval {interval_text(lo, hi, num)}; "
            f"face score {num(r.face_score)}, real reference {num(ref.face_score)})")
    if want_faces:
        sentence = {REPRODUCED: f"Points sampled inside the PCA confidence ellipsoid decode to faces: {nums}.",
                    PARTLY: f"Points sampled inside the PCA confidence ellipsoid decode only partly to faces: {nums}.",
                    NOT: f"Points sampled inside the PCA confidence ellipsoid do not decode to faces: {nums}."}[v]
    else:
        sentence = {REPRODUCED: f"Uniform random vectors decode to images that are not faces: {nums}.",
                    PARTLY: f"Uniform random vectors decode to images of which some are faces: {nums}.",
                    NOT: f"Uniform random vectors decode to faces here: {nums}."}[v]
    return row(fid, statistic=stat, unit="ratio", value=ratio, low=lo, high=hi, null=None,
               reference=1.0, reference_label="the real held-out reference", verdict=v,
               criterion=_with_face_rule(crit, G),
               sentence=sentence, chapter=chapter,
               interval="Student t over the generate step's repetitions of the ratio (same split for both rows)",
               notes=_face_notes(G, notes))


def _separated(a, b, metric: str) -> tuple[bool, bool]:
    """Whether the interval of ``metric`` of row ``a`` lies wholly above, or wholly below, that of row ``b``."""
    ia, ib = a.interval(metric), b.interval(metric)
    return ia.low > ib.high, ia.high < ib.low


FACE_SCORE = ("face score: the harmonic mean of the share of decoded images the face tests call faces, the "
              "coverage of held-out real images by those faces and their diversity (mean pairwise pixel distance "
              "over the real images', capped at 1), so that one repeated face cannot score well")


def claim_per_component(G, cc: ClaimsConfig, checks: dict | None) -> dict:
    fid, a, b = "per_component_better", "independent-empirical", "uniform"
    stat = f"face score of {a} ({FACE_SCORE})"
    crit = (f"reproduced if its interval lies wholly above that of {b}; not reproduced if it lies wholly below; "
            "partly (a tie: the intervals overlap) otherwise")
    chapter = "05-generating"
    if not G:
        return untestable(fid, stat, "score", "the generate step has not run for this build", crit, chapter)
    rows = _gen_rows(G)
    missing = [x for x in (a, b) if x not in rows]
    if missing:
        return untestable(fid, stat, "score", f"{' and '.join(missing)} not among generate.generators", crit,
                          chapter)
    reason, notes = _generator_caveat(G, cc)
    reason = _face_caveat(G) or reason
    if reason:
        return untestable(fid, stat, "score", reason, crit, chapter)
    ra, rb = rows[a], rows[b]
    above, below = _separated(ra, rb, "face_score")
    v = _three_way(above, below)
    nums = (f"{a} has face score {num(ra.face_score)} (interval {_num_interval(ra, 'face_score')}; the face tests "
            f"call {pct(ra.face_share)} of its decoded images faces), {b} {num(rb.face_score)} (interval "
            f"{_num_interval(rb, 'face_score')}; {pct(rb.face_share)} faces)")
    sentence = {REPRODUCED: f"Drawing each component from its own distribution does better than uniform vectors: {nums}.",
                PARTLY: f"Drawing each component from its own distribution does about as well as uniform vectors: {nums}.",
                NOT: f"Drawing each component from its own distribution does worse than uniform vectors: {nums}."}[v]
    if checks and a in checks["off_support_faces"]:
        sentence += (" Latent metrics and the face tests disagree: its points lie off the support of the real latent "
                     "points, yet decode to faces.")
    fi = ra.interval("face_score")
    return row(fid, statistic=stat, unit="score", value=ra.face_score, low=fi.low, high=fi.high, null=rb.face_score,
               null_label=f"face score of {b}, interval {_num_interval(rb, 'face_score')}", verdict=v,
               criterion=_with_face_rule(crit, G), sentence=sentence, chapter=chapter,
               interval="Student t over the generate step's repetitions", notes=_face_notes(G, notes))


def _num_interval(row_, metric: str) -> str:
    iv = row_.interval(metric)
    return interval_text(iv.low, iv.high, num)


def claim_gmm(G, cc: ClaimsConfig) -> dict:
    fid = "gmm_beats_simple"
    stat = (f"face score of gmm ({FACE_SCORE}), against the simple priors (uniform, independent normal, "
            "multivariate normal)")
    crit = ("reproduced if its face score interval lies wholly above the interval of every simple prior and the gmm "
            "does not copy its fit points; not reproduced if a simple prior's interval lies wholly above it; "
            "partly otherwise (a tie, or a win by copying)")
    chapter = "05-generating"
    if not G:
        return untestable(fid, stat, "score", "the generate step has not run for this build", crit, chapter)
    rows = _gen_rows(G)
    simple = [x for x in SIMPLE if x in rows]
    if "gmm" not in rows or not simple:
        return untestable(fid, stat, "score", "gmm or every simple prior is missing from generate.generators",
                          crit, chapter)
    reason, notes = _generator_caveat(G, cc)
    reason = _face_caveat(G) or reason
    if reason:
        return untestable(fid, stat, "score", reason, crit, chapter)
    gmm = rows["gmm"]
    best = max(simple, key=lambda x: (rows[x].interval("face_score").high, rows[x].face_score, x))
    wins = [_separated(gmm, rows[x], "face_score")[0] for x in simple]
    loses = [_separated(gmm, rows[x], "face_score")[1] for x in simple]
    copies = gmm.copies
    v = _three_way(all(wins) and not copies, any(loses))
    sel, fits = G.gmm_selection, G.generators["gmm"].repeats
    converged = sum(bool(f["converged"]) for f in fits)
    iters = sorted(int(f["n_iter"]) for f in fits)
    nums = (f"the Gaussian mixture ({sel.choice_text}; EM converged in {converged} of {len(fits)} repetitions after "
            f"{iters[0] if iters[0] == iters[-1] else f'{iters[0]} to {iters[-1]}'} iterations) has face score "
            f"{num(gmm.face_score)} (interval {_num_interval(gmm, 'face_score')}), the strongest simple prior "
            f"({best}) {num(rows[best].face_score)} (interval {_num_interval(rows[best], 'face_score')})")
    if copies:
        nums += f"; it copies its fit points (copy share {pct(gmm.copy_share)})"
    sentence = {REPRODUCED: f"The ex-post Gaussian mixture beats the simple priors: {nums}.",
                PARTLY: f"The ex-post Gaussian mixture does not clearly beat the simple priors: {nums}.",
                NOT: f"The ex-post Gaussian mixture does worse than a simple prior: {nums}."}[v]
    gi = gmm.interval("face_score")
    return row(fid, statistic=stat, unit="score", value=gmm.face_score, low=gi.low, high=gi.high,
               null=rows[best].face_score, null_label=f"face score of the strongest simple prior, {best}", verdict=v,
               criterion=_with_face_rule(crit, G), sentence=sentence, chapter=chapter,
               interval="Student t over the generate step's repetitions", notes=_face_notes(G, notes))


def generator_checks(G, cc: ClaimsConfig) -> dict | None:
    """Where latent metrics and the face tests disagree, and where k-NN recall is inflated (None without a
    generate step).

    Per generator, the latent precision and the share of decoded images the calibrated face tests
    call faces (``pixel``: "undefined" without a usable face test), each relative to the real
    reference's (per repetition, Student t interval), are put in the bands of the ledger:
    *in support* / *face-like* when the interval lies at or above ``face_ratio``, *off
    support* / *not face-like* when it lies below ``nonface_ratio``. The two metrics
    disagree when one is in its upper band and the other in its lower band. Recall is
    *inflated* where a generator's points lie off the support yet its recall interval
    lies wholly above its coverage interval: spread-out points have large k-NN balls that
    cover real points they are not near (Kynkäänniemi et al. 2019; Naeem et al. 2020).
    """
    if not G:
        return None
    ref, out = G.reference, []
    for r in G.ranked:
        lat = _ratio_repeats(r, ref, "precision", cc.level)
        pix = None if _face_caveat(G) else _ratio_repeats(r, ref, "face_share", cc.level)
        latent = ("undefined" if lat is None else "in support" if lat[1] >= cc.face_ratio else
                  "off support" if lat[2] < cc.nonface_ratio else "partly in support")
        pixel = ("undefined" if pix is None else "face-like" if pix[1] >= cc.face_ratio else
                 "not face-like" if pix[2] < cc.nonface_ratio else "between")
        rec, cov = r.interval("recall"), r.interval("coverage")
        out.append({"name": r.name, "latent": latent, "pixel": pixel,
                    "latent_ratio": None if lat is None else list(lat), "pixel_ratio": None if pix is None else list(pix),
                    "recall": r.recall, "coverage": r.coverage, "precision": r.precision,
                    "recall_inflated": latent == "off support" and rec.low > cov.high})
    off_faces = [g["name"] for g in out if g["latent"] == "off support" and g["pixel"] == "face-like"]
    in_nonfaces = [g["name"] for g in out if g["latent"] == "in support" and g["pixel"] == "not face-like"]
    inflated = [g for g in out if g["recall_inflated"]]
    return {"rows": out, "off_support_faces": off_faces, "in_support_nonfaces": in_nonfaces,
            "recall_inflated": [g["name"] for g in inflated],
            "sentence": _agreement_sentence(out, off_faces, in_nonfaces, cc),
            "recall_sentence": _recall_sentence(inflated, out)}


def _ratio_text(g: dict, key: str) -> str:
    v, lo, hi = g[key]
    return f"{num(v)} ({interval_text(lo, hi, num)})"


def _agreement_sentence(rows: list[dict], off_faces: list[str], in_nonfaces: list[str], cc: ClaimsConfig) -> str:
    by = {g["name"]: g for g in rows}
    bands = (f"the ledger's bands, relative to the real reference: at or above {cc.face_ratio:g} in support or "
             f"faces, below {cc.nonface_ratio:g} off support or not faces")
    if all(g["pixel"] == "undefined" for g in rows):
        return ("Whether latent metrics and the decoded images agree cannot be told on this build: no calibrated "
                "face test judged the decoded images.")
    parts = []
    if off_faces:
        figs = "; ".join(f"{nm}: latent precision {_ratio_text(by[nm], 'latent_ratio')}, share of faces "
                         f"{_ratio_text(by[nm], 'pixel_ratio')} times the reference's" for nm in off_faces)
        parts.append(f"Latent metrics and the face tests disagree for {and_list(off_faces)}: their points lie off the "
                     f"support of the real latent points, yet decode to images the face tests call faces ({figs}). "
                     "The decoder maps these off-support points to faces, so latent metrics judge where the points "
                     "lie and the face tests what they decode to.")
    if in_nonfaces:
        figs = "; ".join(f"{nm}: latent precision {_ratio_text(by[nm], 'latent_ratio')}, share of faces "
                         f"{_ratio_text(by[nm], 'pixel_ratio')} times the reference's" for nm in in_nonfaces)
        parts.append(f"Latent metrics and the face tests disagree for {and_list(in_nonfaces)}: their points lie in the "
                     f"support of the real latent points, yet the face tests call few of their decoded images faces "
                     f"({figs}).")
    if not parts:
        return f"Latent metrics and the face tests agree for every generator ({bands})."
    return " ".join(parts) + f" ({bands[0].upper()}{bands[1:]}.)"


def _recall_sentence(inflated: list[dict], rows: list[dict]) -> str:
    why = ("the k-NN recall counts a real point as covered when it lies in the k-NN ball of any generated point, and "
           "spread-out points have large balls (Kynkäänniemi et al. 2019; Naeem et al. 2020)")
    if not inflated:
        return (f"No generator whose points lie off the real support gets a recall above its coverage here; {why}, "
                "so recall is read beside coverage throughout.")
    figs = "; ".join(f"{g['name']}: recall {pct(g['recall'])}, coverage {pct(g['coverage'])}, precision "
                     f"{pct(g['precision'])}" for g in inflated)
    return (f"Recall is inflated for {and_list([g['name'] for g in inflated])}: their points lie off the support of "
            f"the real points, yet their recall lies well above their coverage ({figs}). {why[0].upper()}{why[1:]}; "
            "coverage, built on the real points' own balls, does not reward them.")
