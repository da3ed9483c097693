"""Chapters 1 to 3: training, image grids, the components, correlations and PCA, histograms."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from analysis.charts.style import COLORS, ChartSpec, PALETTE, WIDTH, _alt, _legend_scale, _plt, _r


# --------------------------------------------------------------------------- chapter 1

def training_chart(epochs: Sequence[int], train_loss: Sequence[float], val_loss: Sequence[float | None]):
    """Train and held-out loss per epoch (log scale); a None held-out loss is left out."""
    alt = _alt()
    rows = []
    for e, tl, vl in zip(epochs, train_loss, val_loss):
        for value, label in ((tl, "training split"), (vl, "held-out split")):
            if value is not None:
                rows.append({"epoch": int(e), "loss": _r(value, 5), "split": label})
    labels = ["training split", "held-out split"]
    return (alt.Chart(alt.Data(values=rows)).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("loss:Q", title="mean squared error per pixel", scale=alt.Scale(type="log")),
        color=alt.Color("split:N", title=None, scale=_legend_scale(labels, [COLORS["real"], COLORS["accent"]])),
        tooltip=["epoch:Q", "split:N", alt.Tooltip("loss:Q", format=".5f")],
    ).properties(width=WIDTH, height=240, title="Reconstruction error during training"))


def image_grid_figure(rows: Sequence[np.ndarray], row_labels: Sequence[str], ncols: int | None = None,
                      cell: float = 0.62):
    """Rows of images (each (k, C, S, S), uint8 or float in [0, 1]) as one matplotlib figure."""
    plt = _plt()
    ncols = ncols or max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(cell * ncols + 1.4, cell * len(rows) + 0.1),
                             squeeze=False)
    for i, (imgs, label) in enumerate(zip(rows, row_labels)):
        for k in range(ncols):
            ax = axes[i][k]
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            for s in ax.spines.values():
                s.set_visible(False)
            if k < len(imgs):
                im = np.asarray(imgs[k], dtype=float)
                if np.issubdtype(np.asarray(imgs[k]).dtype, np.integer):
                    im = im / 255.0
                if im.shape[0] == 1:
                    ax.imshow(im[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                else:
                    ax.imshow(np.clip(np.transpose(im, (1, 2, 0)), 0, 1), interpolation="nearest")
        axes[i][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.subplots_adjust(wspace=0.04, hspace=0.06)
    return fig


# --------------------------------------------------------------------------- chapter 2

def component_explorer(hist_counts: np.ndarray, hist_edges: np.ndarray, mean: np.ndarray,
                       std: np.ndarray, mean_over_se: np.ndarray, k_sigma: float, j0: int = 0):
    """Histogram of any component (slider ``j``) above the means and spreads of all components.

    Parameters
    ----------
    hist_counts : (N, B) int
    hist_edges : (N, B + 1) float
    mean, std, mean_over_se : (N,) float
    k_sigma : float
        A mean is "off-centre" if |mean / standard error| > k_sigma.
    j0 : int
        Component shown first.
    """
    alt = _alt()
    N, B = hist_counts.shape
    hist = []
    for j in range(N):
        e = hist_edges[j]
        for b in range(B):
            if hist_counts[j, b]:
                hist.append({"j": j, "x0": _r(e[b]), "x1": _r(e[b + 1]), "n": int(hist_counts[j, b])})
    means = [{"j": j, "mean": _r(mean[j]), "lo": _r(mean[j] - std[j]), "hi": _r(mean[j] + std[j]),
              "std": _r(std[j]), "z": _r(mean_over_se[j], 3),
              "kind": "off-centre" if abs(mean_over_se[j]) > k_sigma else "compatible with 0"}
             for j in range(N)]
    j = alt.param(name="j", value=int(j0), bind=alt.binding_range(min=0, max=N - 1, step=1, name="component j "))
    base = alt.Chart(alt.Data(name="component_hist")).transform_filter("datum.j == j")
    bars = base.mark_rect(color=COLORS["real"], opacity=0.85).encode(
        x=alt.X("x0:Q", title="value of component j", scale=alt.Scale(zero=False)),
        x2="x1:Q", y=alt.Y("n:Q", title="points"),
        tooltip=[alt.Tooltip("x0:Q", title="from", format=".3f"), alt.Tooltip("x1:Q", title="to", format=".3f"),
                 alt.Tooltip("n:Q", title="points")])
    mrule = alt.Chart(alt.Data(name="component_means")).transform_filter("datum.j == j").mark_rule(
        color=COLORS["centre"], strokeWidth=2).encode(x="mean:Q", tooltip=[alt.Tooltip("mean:Q", format=".3f")])
    zrule = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color="black", strokeDash=[4, 3]).encode(x="x:Q")
    top = alt.layer(bars, zrule, mrule).properties(
        width=WIDTH, height=220,
        title=alt.Title(text={"expr": "'Distribution of component ' + j + ' (green: its mean, dashed: 0)'"}))
    kinds = ["off-centre", "compatible with 0"]
    mb = alt.Chart(alt.Data(name="component_means"))
    err = mb.mark_rule(opacity=0.35).encode(
        x=alt.X("j:Q", title="component j", scale=alt.Scale(domain=[-0.5, N - 0.5], nice=False)),
        y=alt.Y("lo:Q", title="mean ± std"), y2="hi:Q",
        color=alt.Color("kind:N", title=None, scale=_legend_scale(kinds, [COLORS["accent"], COLORS["real"]])))
    pts = mb.mark_point(filled=True).encode(
        x="j:Q", y="mean:Q",
        color=alt.Color("kind:N", title=None, scale=_legend_scale(kinds, [COLORS["accent"], COLORS["real"]])),
        size=alt.condition("datum.j == j", alt.value(140), alt.value(14)),
        stroke=alt.condition("datum.j == j", alt.value("black"), alt.value(None)),
        tooltip=["j:Q", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("std:Q", format=".3f"),
                 alt.Tooltip("z:Q", title="mean / std. error"), "kind:N"])
    zero = alt.Chart(alt.Data(values=[{"y": 0}])).mark_rule(color="black", strokeDash=[4, 3]).encode(y="y:Q")
    bottom = alt.layer(err, zero, pts).properties(width=WIDTH, height=200,
                                                  title="Mean ± standard deviation of every component")
    chart = alt.vconcat(top, bottom).add_params(j).resolve_scale(color="independent")
    return ChartSpec(chart, {"component_hist": hist, "component_means": means})


def component_panels_chart(hist_counts: np.ndarray, hist_edges: np.ndarray, mean: np.ndarray,
                           components: Sequence[int], labels: Sequence[str] | None = None, columns: int = 3):
    """Small multiples: the histograms of a few chosen components, each with its mean and 0."""
    alt = _alt()
    rows, rules = [], []
    labels = labels or [f"component {j}" for j in components]
    for j, lab in zip(components, labels):
        e = hist_edges[j]
        for b in range(hist_counts.shape[1]):
            rows.append({"panel": lab, "x0": _r(e[b]), "x1": _r(e[b + 1]), "n": int(hist_counts[j, b])})
        rules.append({"panel": lab, "mean": _r(mean[j]), "zero": 0.0})
    bars = alt.Chart().mark_rect(color=COLORS["real"], opacity=0.85).encode(
        x=alt.X("x0:Q", title="value", scale=alt.Scale(zero=False)), x2="x1:Q", y=alt.Y("n:Q", title="points"))
    mrule = alt.Chart().mark_rule(color=COLORS["centre"], strokeWidth=2).encode(x="mean:Q")
    zrule = alt.Chart().mark_rule(color="black", strokeDash=[4, 3]).encode(x="zero:Q")
    values = [dict(r, kind="h") for r in rows] + [dict(r, kind="r") for r in rules]
    layered = alt.layer(bars.transform_filter("datum.kind == 'h'"),
                        zrule.transform_filter("datum.kind == 'r'"),
                        mrule.transform_filter("datum.kind == 'r'"),
                        data=alt.Data(name="component_panels")).properties(width=200, height=120)
    chart = layered.facet(facet=alt.Facet("panel:N", title=None, sort=list(labels)), columns=columns
                          ).resolve_scale(x="independent", y="independent")
    return ChartSpec(chart, {"component_panels": values})


# --------------------------------------------------------------------------- chapter 3

def correlation_figure(corr: np.ndarray, max_abs_pair: Sequence[int] | None = None):
    """The N x N correlation matrix as a heatmap (matplotlib)."""
    plt = _plt()
    N = corr.shape[0]
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    im = ax.imshow(np.asarray(corr, dtype=float), cmap="RdBu_r", vmin=-1, vmax=1,
                   interpolation="nearest", extent=(-0.5, N - 0.5, N - 0.5, -0.5))
    ax.grid(False)
    ax.set_xlabel("component j"), ax.set_ylabel("component i")
    if max_abs_pair is not None:
        i, j = max_abs_pair
        ax.plot([j, i], [i, j], "o", mfc="none", mec="black", ms=9, mew=1.2)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="Pearson correlation")
    ax.set_title("Correlations between latent components")
    return fig


def pca_chart(eigenvalues: np.ndarray, cumulative: np.ndarray, marks: dict[str, int] | None = None):
    """PCA spectrum (log eigenvalues) beside the cumulative share of variance."""
    alt = _alt()
    rows = [{"k": k + 1, "ev": _r(eigenvalues[k]), "cum": _r(cumulative[k])}
            for k in range(len(eigenvalues)) if eigenvalues[k] > 0]
    base = alt.Chart(alt.Data(values=rows))
    ev = base.mark_line(color=COLORS["real"], point=alt.OverlayMarkDef(size=10)).encode(
        x=alt.X("k:Q", title="principal axis k", scale=alt.Scale(type="log")),
        y=alt.Y("ev:Q", title="variance along the axis", scale=alt.Scale(type="log")),
        tooltip=["k:Q", alt.Tooltip("ev:Q", title="variance", format=".4g"),
                 alt.Tooltip("cum:Q", title="cumulative share", format=".1%")]
    ).properties(width=300, height=230, title="PCA spectrum")
    cum = base.mark_line(color=COLORS["real"]).encode(
        x=alt.X("k:Q", title="number of axes k", scale=alt.Scale(type="log")),
        y=alt.Y("cum:Q", title="share of the variance", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        tooltip=["k:Q", alt.Tooltip("cum:Q", title="cumulative share", format=".1%")])
    layers = [cum]
    if marks:
        mrows = [{"label": f"{float(s):.0%}: {k} axes", "k": int(k), "s": float(s)} for s, k in marks.items()]
        m = alt.Chart(alt.Data(values=mrows))
        layers += [m.mark_rule(color=COLORS["accent"], strokeDash=[3, 3]).encode(x="k:Q", tooltip=["label:N"]),
                   m.mark_point(color=COLORS["accent"], filled=True).encode(x="k:Q", y="s:Q", tooltip=["label:N"])]
    right = alt.layer(*layers).properties(width=300, height=230, title="Cumulative share of the variance")
    return alt.hconcat(ev, right)


def offset_chart(variance_share: dict, offset_share: dict):
    """Share of the variance and of the centre's squared offset in the first k PCA axes."""
    alt = _alt()
    rows = []
    for k in sorted(variance_share, key=lambda s: int(s)):
        rows.append({"k": int(k), "share": _r(variance_share[k]), "what": "variance of the cloud"})
        if k in offset_share:
            rows.append({"k": int(k), "share": _r(offset_share[k]), "what": "squared offset of the centre"})
    labels = ["variance of the cloud", "squared offset of the centre"]
    return alt.Chart(alt.Data(values=rows)).mark_line(point=True).encode(
        x=alt.X("k:Q", title="first k principal axes", scale=alt.Scale(type="log")),
        y=alt.Y("share:Q", title="share in the span of the first k axes", axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("what:N", title=None, scale=_legend_scale(labels, [COLORS["real"], COLORS["centre"]])),
        tooltip=["k:Q", "what:N", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=WIDTH, height=240, title="Where the cloud spreads and where its centre lies")


def histogram_rule_chart(edges: np.ndarray, counts: np.ndarray, mark: float, xtitle: str, mark_label: str,
                         title: str, color: str | None = None, mark_color: str | None = None):
    """A histogram (given edges and counts) with one vertical rule (e.g. the origin's value)."""
    alt = _alt()
    rows = [{"x0": _r(edges[i]), "x1": _r(edges[i + 1]), "n": int(counts[i])} for i in range(len(counts))]
    bars = alt.Chart(alt.Data(values=rows)).mark_rect(color=color or COLORS["real"], opacity=0.85).encode(
        x=alt.X("x0:Q", title=xtitle), x2="x1:Q", y=alt.Y("n:Q", title="points"),
        tooltip=[alt.Tooltip("x0:Q", title="from", format=".3g"), alt.Tooltip("x1:Q", title="to", format=".3g"),
                 alt.Tooltip("n:Q", title="points")])
    r = alt.Chart(alt.Data(values=[{"x": _r(mark), "label": mark_label}]))
    rule = r.mark_rule(color=mark_color or "black", strokeWidth=2.5).encode(x="x:Q", tooltip=["label:N", "x:Q"])
    text = r.mark_text(align="left", dx=5, dy=-4, baseline="bottom", fontSize=11).encode(
        x="x:Q", y=alt.value(12), text="label:N")
    return alt.layer(bars, rule, text).properties(width=WIDTH, height=220, title=title)


def overlaid_histograms_chart(edges: np.ndarray, counts: dict[str, np.ndarray], xtitle: str, title: str,
                              mark: float | None = None, mark_label: str = ""):
    """Histograms of several samples on common bin ``edges`` (``counts``: label -> counts (B,)), each
    as shares of its own sample, overlaid as lines through the bin centres, with an optional
    vertical rule (e.g. the origin's value)."""
    alt = _alt()
    e = np.asarray(edges, dtype=float)
    mid = (e[:-1] + e[1:]) / 2
    names = list(counts)
    rows = []
    for name, c in counts.items():
        c = np.asarray(c, dtype=float)
        total = c.sum() or 1.0
        rows += [{"x": _r(x), "share": _r(v / total, 5), "what": name} for x, v in zip(mid, c)]
    lines = alt.Chart(alt.Data(values=rows)).mark_line(strokeWidth=1.8, interpolate="step").encode(
        x=alt.X("x:Q", title=xtitle), y=alt.Y("share:Q", title="share of the points", axis=alt.Axis(format="%")),
        color=alt.Color("what:N", title=None, sort=names,
                        scale=_legend_scale(names, [PALETTE[i % len(PALETTE)] for i in range(len(names))])),
        tooltip=["what:N", alt.Tooltip("x:Q", format=".3g"), alt.Tooltip("share:Q", format=".2%")])
    layers = [lines]
    if mark is not None:
        r = alt.Chart(alt.Data(values=[{"x": _r(mark), "label": mark_label}]))
        layers += [r.mark_rule(color="#b8860b", strokeWidth=2.5).encode(x="x:Q", tooltip=["label:N", "x:Q"]),
                   r.mark_text(align="left", dx=5, dy=-4, baseline="bottom", fontSize=11).encode(
                       x="x:Q", y=alt.value(12), text="label:N")]
    return alt.layer(*layers).properties(width=WIDTH, height=230, title=title)
