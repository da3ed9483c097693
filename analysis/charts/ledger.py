"""The claims ledger's figures (analysis/steps/claims.py): the fine b-scan, null shares, slices across b, normality."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from analysis.science.slices import in_slice
from analysis.charts.style import COLORS, WIDTH, _alt, _legend_scale, _plt, _r
from analysis.charts.origin import _slice_panel


# --------------------------------------------------------------------------- the claims ledger (analysis/steps/claims.py)

def fine_bscan_chart(grid: np.ndarray, w1: np.ndarray, best: float, interval: Sequence[float],
                     flat: Sequence[float], b_used: float):
    """The fine b-scan: Wasserstein distance of the radii around the optimum, with the
    bootstrap interval of the best b, the flat range and the b the slices use."""
    alt = _alt()
    rows = [{"b": _r(b), "w": _r(w)} for b, w in zip(grid, w1) if np.isfinite(w)]
    bands = [{"b0": _r(flat[0]), "b1": _r(flat[1]), "label": "flat range (within the bootstrap noise)"},
             {"b0": _r(interval[0]), "b1": _r(interval[1]), "label": "interval of the best b"}]
    marks = ([{"b": _r(best), "label": f"best b = b used = {best:.3g}"}] if _r(best) == _r(b_used) else
             [{"b": _r(best), "label": f"best b = {best:.3g}"}, {"b": _r(b_used), "label": f"b used = {b_used:.3g}"}])
    band = alt.Chart(alt.Data(values=bands)).mark_rect(opacity=0.18).encode(
        x="b0:Q", x2="b1:Q",
        color=alt.Color("label:N", title=None, scale=_legend_scale([x["label"] for x in bands],
                                                                   [COLORS["accent"], COLORS["real"]])),
        tooltip=["label:N", alt.Tooltip("b0:Q", format=".4g"), alt.Tooltip("b1:Q", format=".4g")])
    line = alt.Chart(alt.Data(values=rows)).mark_line(color="black").encode(
        x=alt.X("b:Q", title="b (uniform components in [-b, b])", scale=alt.Scale(zero=False)),
        y=alt.Y("w:Q", title="Wasserstein distance of the radii", scale=alt.Scale(zero=False)),
        tooltip=[alt.Tooltip("b:Q", format=".4g"), alt.Tooltip("w:Q", format=".4g")])
    rules = alt.Chart(alt.Data(values=marks)).mark_rule(strokeWidth=1.5).encode(
        x="b:Q", strokeDash=alt.StrokeDash("label:N", title=None), tooltip=["label:N"])
    return alt.layer(band, line, rules).resolve_scale(color="independent", strokeDash="independent").properties(
        width=WIDTH, height=240, title="The fine b-scan around the optimum")


def null_share_chart(atlas_b: Sequence[float], shares: np.ndarray, kinds: Sequence[str], b_used: float):
    """Share of points in the median pair's slice against b: the data and each null model (log scale)."""
    alt = _alt()
    labels = {"data": "this build (data)", "normal": "fitted normal", "normal_at_origin": "the same normal at the origin",
              "permuted": "components permuted"}
    names = [labels.get(k, k) for k in kinds]
    floor = 0.5 / 1e7
    rows = [{"b": _r(b), "share": _r(max(float(shares[i, j]), floor), 6), "what": names[i],
             "zero": bool(shares[i, j] <= 0)} for i in range(len(kinds)) for j, b in enumerate(atlas_b)]
    base = alt.Chart(alt.Data(values=rows)).encode(
        x=alt.X("b:Q", title="b"), y=alt.Y("share:Q", title="share in the median pair's slice",
                                           scale=alt.Scale(type="log")),
        color=alt.Color("what:N", title=None, scale=_legend_scale(names, [COLORS["real"], COLORS["published"],
                                                                         COLORS["origin"], COLORS["accent"]][:len(names)])),
        tooltip=["what:N", alt.Tooltip("b:Q", format=".3g"), alt.Tooltip("share:Q", format=".3g")])
    rule = alt.Chart(alt.Data(values=[{"b": _r(b_used)}])).mark_rule(strokeDash=[4, 3], color="black").encode(x="b:Q")
    return alt.layer(base.mark_line(point=True), rule).properties(
        width=WIDTH, height=260, title="Slices of the data and of the null models")


def slices_across_b_figure(sample_z: np.ndarray, top_index: np.ndarray, top_abs: np.ndarray,
                           slice_artificial_z: np.ndarray, b_artificial: float, pair: Sequence[int],
                           bs: Sequence[float], labels: Sequence[str], counts_all: Sequence[float], n_all: int):
    """The slice of one pair at several b (e.g. the flat range's ends and the best b).

    The artificial points (drawn uniform in [-b_artificial, b_artificial]^N) are rescaled
    to each b: uniform points for different b are scaled copies.
    """
    plt = _plt()
    fig, axes = plt.subplots(1, len(bs), figsize=(2.3 * len(bs), 2.45), squeeze=False)
    s = np.asarray(sample_z, dtype=np.float32)
    j1, j2 = int(pair[0]), int(pair[1])
    lim = 1.05 * max(float(np.max(np.abs(s[:, [j1, j2]]))) if len(s) else 1.0, max(bs))
    for ax, b, label, c in zip(axes.ravel(), bs, labels, counts_all):
        m = in_slice(top_index, top_abs, j1, j2, b)
        a = np.asarray(slice_artificial_z, dtype=np.float32) * (b / b_artificial)
        _slice_panel(ax, s, m, a, j1, j2, b)
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
        ax.set_title(f"{label}: b = {b:.3g}\nsample {int(m.sum())} of {len(s):,}; all {int(round(c)):,} of {n_all:,}",
                     fontsize=7.5)
        ax.tick_params(labelsize=6)
        ax.set_xlabel(f"z[{j1}]", fontsize=7, labelpad=1), ax.set_ylabel(f"z[{j2}]", fontsize=7, labelpad=1)
    fig.tight_layout(pad=0.4)
    return fig


def axis_normality_chart(skew: np.ndarray, kurtosis: np.ndarray, core_skew: np.ndarray, core_kurtosis: np.ndarray):
    """Skewness and excess kurtosis of every principal axis, of the whole cloud and of its core."""
    alt = _alt()
    names = ["whole cloud", "dense core"]
    rows = [{"axis": i, "skew": _r(s), "kurt": _r(k), "what": names[0]} for i, (s, k) in enumerate(zip(skew, kurtosis))]
    rows += [{"axis": i, "skew": _r(s), "kurt": _r(k), "what": names[1]}
             for i, (s, k) in enumerate(zip(core_skew, core_kurtosis))]
    pts = alt.Chart(alt.Data(values=rows)).mark_circle(size=22, opacity=0.7).encode(
        x=alt.X("skew:Q", title="skewness of the principal axis"),
        y=alt.Y("kurt:Q", title="excess kurtosis of the principal axis"),
        color=alt.Color("what:N", title=None, scale=_legend_scale(names, [COLORS["real_light"], COLORS["real"]])),
        tooltip=["what:N", "axis:Q", alt.Tooltip("skew:Q", format=".3g"), alt.Tooltip("kurt:Q", format=".3g")])
    zero = alt.Chart(alt.Data(values=[{"x": 0.0, "y": 0.0, "label": "normal"}])).mark_point(
        shape="cross", size=160, color="black").encode(x="x:Q", y="y:Q", tooltip=["label:N"])
    return alt.layer(pts, zero).properties(width=WIDTH, height=280,
                                           title="Per-axis shape: 0, 0 is a normal distribution")
