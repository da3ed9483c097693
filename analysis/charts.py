"""One plot style and the chart builders of the article (Altair and matplotlib).

Every figure of the report is built here from plain arrays (the artifacts of the
``stats`` and ``generate`` steps), so the site, the PDF and any notebook draw the
same pictures in the same colours. Nothing here reads files or knows about the
report; the report imports this module, never the other way round.

Two kinds of builders:

* **Altair** (``*_chart``, ``*_explorer``, ``slice_atlas``): interactive Vega-Lite
  charts for the HTML site. Small data is inlined. The explorers of the latent cloud
  read *named* data sets (``alt.Data(name=...)``) that the page supplies once (see
  ``report/flg.py``), with these row layouts:

  - ``sample``: one row per sample point, ``v`` (array of N floats, the point), the
    indices ``t0, t1, t2`` and values ``a0 >= a1 >= a2`` of its three largest
    ``|v_j|`` (the flat-cuboid rule, see :mod:`analysis.slices`);
  - ``artificial`` / ``slice_artificial``: one row per artificial point, ``v``;
  - ``atlas``: one row per ordered pair ``j1 != j2``: ``j1, j2``, ``c`` (array of K
    slice counts of all points, one per atlas b value) and ``s`` (the same for the
    sample).

  Static copies for the PDF come from ``vl_convert`` (inline-data charts) or from
  the matplotlib builders below (dense scatters and the explorers' default state).
* **matplotlib** (``*_figure``): dense scatters, heatmaps and image grids.

Colours: real z-points blue, artificial (uniform) points red, the origin yellow
with a black rim, the cloud's centre green, published figures grey.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from analysis.words import num
from analysis.slices import in_slice

COLORS = {
    "real": "#1f5fa6",
    "real_light": "#8fb3dc",
    "artificial": "#d62728",
    "origin": "#f2c80f",
    "centre": "#2ca02c",
    "published": "#7f7f7f",
    "accent": "#ff7f0e",
    "void": "#f3efe6",
}
#: Colours of the generators in chapter 5 (cycled).
PALETTE = ["#1f5fa6", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f"]
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
WIDTH = 520   # default width of a single Altair chart (pixels)
HEIGHT = 300

LABEL_REAL = "real z-points"
LABEL_ART = "uniform artificial points"
LABEL_ORIGIN = "origin"


# --------------------------------------------------------------------------- style

def altair_config() -> dict:
    """The Vega-Lite ``config`` block of the shared style."""
    return {
        "font": FONT,
        "view": {"stroke": "#cccccc", "continuousWidth": WIDTH, "continuousHeight": HEIGHT},
        "axis": {"labelFontSize": 11, "titleFontSize": 12, "titleFontWeight": "normal",
                 "gridColor": "#e8e8e8", "domainColor": "#888888", "tickColor": "#888888"},
        "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "bottom",
                   "direction": "horizontal", "symbolStrokeWidth": 1.5, "labelLimit": 400},
        "title": {"fontSize": 13, "fontWeight": "normal", "anchor": "start", "offset": 8},
        "range": {"category": PALETTE},
        "background": "white",
        "padding": 6,
        # Recompute the layout when data arrive or sliders change the axes.
        "autosize": {"type": "pad", "resize": True},
    }


_STYLED = {"mpl": False, "alt": False}


def _plt():
    """matplotlib.pyplot with the shared style applied (once)."""
    import matplotlib
    if not _STYLED["mpl"]:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if _STYLED["mpl"]:
        return plt
    _STYLED["mpl"] = True

    plt.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight",
        "font.family": "DejaVu Sans", "font.size": 9, "axes.titlesize": 10,
        "axes.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.color": "#e8e8e8", "grid.linewidth": 0.6,
        "axes.edgecolor": "#888888", "xtick.color": "#444444", "ytick.color": "#444444",
        "legend.frameon": False, "legend.fontsize": 8,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "image.cmap": "viridis",
    })
    return plt


def _alt():
    """altair with the shared theme registered and enabled (once)."""
    import altair as alt
    if _STYLED["alt"]:
        return alt
    _STYLED["alt"] = True
    # Validate on to_dict only, not on every object construction (much faster with data).
    alt.utils.schemapi.disable_debug_mode()

    @alt.theme.register("flg", enable=True)
    def _theme():
        return alt.theme.ThemeConfig({"config": altair_config()})

    alt.data_transformers.disable_max_rows()
    return alt


class ChartSpec:
    """An Altair chart whose large data sets are kept out of Altair until the end.

    Altair deep-copies inline data each time charts are layered or concatenated, which
    takes seconds for tens of thousands of rows. Builders with large data use named
    data (``alt.Data(name=...)``) and pass the rows here; :meth:`to_dict` validates the
    (small) chart and then adds the rows as top-level ``datasets``.
    """

    def __init__(self, chart, datasets: dict[str, list]):
        self.chart, self.datasets = chart, datasets

    def to_dict(self, validate: bool = True) -> dict:
        d = self.chart.to_dict(validate=validate)
        d.setdefault("datasets", {}).update(self.datasets)
        return d


def _r(x, digits: int = 4):
    """Round to ``digits`` significant digits for compact JSON (None for non-finite)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{digits}g}")


def rounded(a, digits: int = 4) -> list:
    """A float array as a JSON-ready list with ``digits`` significant digits."""
    return [_r(v, digits) for v in np.asarray(a, dtype=float).ravel()]


def _legend_scale(labels: Sequence[str], colors: Sequence[str]):
    alt = _alt()
    return alt.Scale(domain=list(labels), range=list(colors))


# --------------------------------------------------------------------------- text alternatives

#: The channels a text alternative reports, in this order (their axis or legend titles name them).
_DESCRIBED = ("x", "y", "x2", "y2", "color", "size", "shape", "strokeDash", "theta", "text")
#: At most this many names of a categorical field are listed, and this many characters in all.
_MAX_NAMES, _MAX_DESCRIPTION = 8, 1200


def _title_texts(title) -> list[str]:
    """The fixed text of a Vega-Lite title (a signal expression has none; its subtitle is kept)."""
    if title is None:
        return []
    if isinstance(title, str):
        return [title]
    if isinstance(title, list):
        return [" ".join(str(t) for t in title)]
    out = []
    for key in ("text", "subtitle"):
        t = title.get(key)
        if isinstance(t, (str, list)):
            out += _title_texts(t)
    return out


def _units(spec: dict, data=None, encoding=None):
    """Every single-view spec with the data and encoding it inherits: (unit, data, encoding, titles)."""
    data = spec.get("data", data)
    enc = {**(encoding or {}), **(spec.get("encoding") or {})}
    titles = _title_texts(spec.get("title"))
    if "mark" in spec:
        yield spec, data, enc, titles
        return
    if "facet" in spec and isinstance(spec.get("spec"), dict):
        facet = spec["facet"]
        yield {"mark": "facet", "encoding": facet if "field" not in facet else {"facet": facet}}, data, {}, titles
        yield from _units(spec["spec"], data, enc)
        return
    first = True
    for key in ("layer", "hconcat", "vconcat", "concat"):
        for sub in spec.get(key) or []:
            for u, d, e, t in _units(sub, data, enc if key == "layer" else None):
                yield u, d, e, (titles + t if first else t)
                first = False
    if first and titles:
        yield {"mark": None}, data, enc, titles


def _rows(data, datasets: dict) -> list | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("values"), list):
        return data["values"]
    return datasets.get(data.get("name")) if data.get("name") else None


def _field_text(name: str, values: list) -> str | None:
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    if nums and len(nums) == len([v for v in values if v is not None]):
        lo, hi = min(nums), max(nums)
        return f"{name} {num(lo)}" if lo == hi else f"{name} from {num(lo)} to {num(hi)}"
    names = list(dict.fromkeys(str(v) for v in values if isinstance(v, str)))
    if not names:
        return None
    more = f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""
    return f"{name}: {', '.join(names[:_MAX_NAMES])}{more}"


def _bound_params(spec) -> list[str]:
    """Names of the parameters bound to input elements (sliders, menus), anywhere in the spec."""
    out: list[str] = []
    if isinstance(spec, dict):
        for p in spec.get("params") or []:
            bind = p.get("bind") if isinstance(p, dict) else None
            if isinstance(bind, dict) and bind.get("input"):
                name = str(bind.get("name") or p.get("name")).strip()
                if name not in out:
                    out.append(name)
        for k, v in spec.items():
            if isinstance(v, (dict, list)) and k not in ("params", "datasets", "data", "values"):
                out += [n for n in _bound_params(v) if n not in out]
    elif isinstance(spec, list):
        for v in spec:
            out += [n for n in _bound_params(v) if n not in out]
    return out


def describe(spec: dict, alt_text: str = "") -> str:
    """A text alternative of a Vega-Lite spec, generated from the numbers it shows.

    Its ``alt_text`` (what the chart shows, in words) and titles, then for every field it
    draws from inline data the range of the values (numbers) or their names (categories),
    named by the axis or legend title, e.g. ``"Reconstruction error during training.
    30 points: epoch from 1 to 30; mean squared error per pixel from 0.0121 to 0.0533;
    split: training, validation."``. Data the page supplies later (the explorers' named
    data sets) are not in the spec; for those the text says what the chart lets one do.
    """
    datasets = spec.get("datasets") or {}
    head, facts, seen = [], [], set()
    if alt_text:
        head.append(alt_text.rstrip("."))
    live = False
    for unit, data, enc, titles in _units(spec):
        head += [t.rstrip(".") for t in titles if t.rstrip(".") not in head]
        rows = _rows(data, datasets)
        if rows is None:
            live = live or unit.get("mark") not in (None, "facet")
            continue
        channels = unit["encoding"] if unit.get("mark") == "facet" else {c: enc[c] for c in _DESCRIBED if c in enc}
        for channel, e in channels.items():
            field = e.get("field") if isinstance(e, dict) else None
            if not isinstance(field, str) or (field, id(rows)) in seen:
                continue
            seen.add((field, id(rows)))
            title = e.get("title")
            text = _field_text(title if isinstance(title, str) and title else field,
                               [r.get(field) for r in rows if isinstance(r, dict)])
            if text and text not in facts:
                facts.append(text)
    out = ". ".join(head) + ("." if head else "")
    if facts:
        out += " Values shown: " + "; ".join(facts) + "."
    if live:
        out += " Its points are drawn from data the page loads."
    controls = _bound_params(spec)
    if controls:
        out += f" Controls below the chart: {', '.join(controls)}."
    out = out.strip()
    return out if len(out) <= _MAX_DESCRIPTION else out[:_MAX_DESCRIPTION - 1].rstrip() + "…"


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


# --------------------------------------------------------------------------- chapter 4: explorers

SLICE_RULE = ("(datum.a2 <= b) && (datum.a0 <= b || datum.t0 == j1 || datum.t0 == j2)"
              " && (datum.a1 <= b || datum.t1 == j1 || datum.t1 == j2)")


def _pair_params(N: int, pair: Sequence[int]):
    alt = _alt()
    j1 = alt.param(name="j1", value=int(pair[0]),
                   bind=alt.binding_range(min=0, max=N - 1, step=1, name="component j1 "))
    j2 = alt.param(name="j2", value=int(pair[1]),
                   bind=alt.binding_range(min=0, max=N - 1, step=1, name="component j2 "))
    return j1, j2


def _kind_color(labels, colors):
    alt = _alt()
    return alt.Color("kind:N", title=None, scale=_legend_scale(labels, colors))


def projection_explorer(N: int, pair: Sequence[int], n_sample: int, n_artificial: int, b: float,
                        sample: str = "sample", artificial: str = "artificial"):
    """Orthogonal projection of the sample on components (j1, j2), chosen by two sliders.

    Reads the named data sets ``sample`` and ``artificial`` (rows with ``v``); marks the
    origin. Mouse wheel zooms, dragging pans.
    """
    alt = _alt()
    j1, j2 = _pair_params(N, pair)
    labels = [f"{LABEL_REAL} ({n_sample:,} sample)", f"{LABEL_ART} ({n_artificial}, b = {b:.3g})", LABEL_ORIGIN]
    colors = [COLORS["real"], COLORS["artificial"], COLORS["origin"]]
    xy = dict(x=alt.X("x:Q", title=None, scale=alt.Scale(zero=True, nice=True)),
              y=alt.Y("y:Q", title=None, scale=alt.Scale(zero=True, nice=True)))
    pts = alt.Chart(alt.Data(name=sample)).transform_calculate(
        x="datum.v[j1]", y="datum.v[j2]", kind=f"'{labels[0]}'").mark_circle(size=9, opacity=0.45).encode(
        color=_kind_color(labels, colors), **xy)
    art = alt.Chart(alt.Data(name=artificial)).transform_calculate(
        x="datum.v[j1]", y="datum.v[j2]", kind=f"'{labels[1]}'").mark_point(
        shape="diamond", filled=True, size=70, opacity=1).encode(color=_kind_color(labels, colors), **xy)
    org = alt.Chart(alt.Data(values=[{"x": 0, "y": 0, "kind": labels[2]}])).mark_point(
        shape="circle", filled=True, size=160, stroke="black", strokeWidth=1.2, opacity=1).encode(
        color=_kind_color(labels, colors), **xy)
    zoom = alt.selection_interval(bind="scales", name="zoom")
    return alt.layer(pts.add_params(zoom), art, org).add_params(j1, j2).properties(
        width=460, height=400,
        title=alt.Title(text={"expr": "'Projection on components j1 = ' + j1 + ' (x) and j2 = ' + j2 + ' (y)'"},
                        subtitle="wheel: zoom, drag: pan, double-click: reset"))


def slice_explorer(N: int, pair: Sequence[int], n_sample: int, b0: float, b_range: Sequence[float],
                   n_slice_artificial: int, b_artificial: float,
                   sample: str = "sample", artificial: str = "slice_artificial"):
    """The flat-cuboid slice of (j1, j2, b): sample points inside it, their count, artificial points.

    Sliders j1, j2 and b. A point is in the slice iff every component with |x| > b is j1
    or j2 (:data:`SLICE_RULE` on the top-3 fields of ``sample``). The artificial points
    were drawn uniform in [-b_artificial, b_artificial]^N; they are rescaled to the
    current b (still uniform in [-b, b]^N, hence in every slice).
    """
    alt = _alt()
    j1, j2 = _pair_params(N, pair)
    lo, hi = float(b_range[0]), float(b_range[1])
    step = float(f"{(hi - lo) / 200:.2g}") or (hi - lo) / 200
    b = alt.param(name="b", value=_r(b0, 5),
                  bind=alt.binding_range(min=_r(lo, 4), max=_r(hi, 4), step=step, name="threshold b "))
    labels = [f"{LABEL_REAL} in the slice (of {n_sample:,} sample)",
              f"{LABEL_ART} in the slice ({n_slice_artificial})", LABEL_ORIGIN]
    colors = [COLORS["real"], COLORS["artificial"], COLORS["origin"]]
    xy = dict(x=alt.X("x:Q", title=None, scale=alt.Scale(zero=True, nice=True)),
              y=alt.Y("y:Q", title=None, scale=alt.Scale(zero=True, nice=True)))
    art = alt.Chart(alt.Data(name=artificial)).transform_calculate(
        x=f"datum.v[j1] * b / {b_artificial!r}", y=f"datum.v[j2] * b / {b_artificial!r}",
        kind=f"'{labels[1]}'").mark_point(shape="diamond", filled=True, size=22, opacity=0.55).encode(
        color=_kind_color(labels, colors), **xy)
    pts = alt.Chart(alt.Data(name=sample)).transform_filter(SLICE_RULE).transform_calculate(
        x="datum.v[j1]", y="datum.v[j2]", kind=f"'{labels[0]}'").mark_circle(size=26, opacity=0.8).encode(
        color=_kind_color(labels, colors), **xy)
    square = alt.Chart(alt.Data(values=[{}])).transform_calculate(
        x="-b", x2="b", y="-b", y2="b").mark_rect(fill=None, stroke="#444444", strokeDash=[4, 3]).encode(
        x="x:Q", x2="x2:Q", y="y:Q", y2="y2:Q")
    org = alt.Chart(alt.Data(values=[{"x": 0, "y": 0, "kind": labels[2]}])).mark_point(
        shape="circle", filled=True, size=120, stroke="black", strokeWidth=1.2, opacity=1).encode(
        color=_kind_color(labels, colors), **xy)
    count = alt.Chart(alt.Data(name=sample)).transform_calculate(
        inside=f"({SLICE_RULE}) ? 1 : 0").transform_aggregate(k="sum(inside)").transform_calculate(
        label=f"datum.k + ' of {n_sample:,} sample points in the slice'").mark_text(
        align="left", baseline="top", fontSize=13, fontWeight="bold", color="#222222").encode(
        x=alt.value(6), y=alt.value(6), text="label:N")
    return alt.layer(art, pts, square, org, count).add_params(j1, j2, b).properties(
        width=460, height=400,
        title=alt.Title(text={"expr": "'Slice of components j1 = ' + j1 + ' (x), j2 = ' + j2 + "
                                      "' (y): all others within ±' + format(b, '.3g')"},
                        subtitle="dashed square: [-b, b]²"))


def slice_atlas(N: int, atlas_b: Sequence[float], k0: int, n_all: int, n_sample: int, atlas: str = "atlas"):
    """N x N heatmap of the slice counts of every pair; b chosen among the stored values.

    Reads the named data set ``atlas`` (rows ``j1, j2, c, s``). Hover shows the pair and
    its counts; the page wires a click on a cell to the explorers' sliders.
    """
    alt = _alt()
    labels = [f"b = {v:.3g}" for v in atlas_b]
    k = alt.param(name="k", value=int(k0),
                  bind=alt.binding_select(options=list(range(len(atlas_b))), labels=labels, name="threshold "))
    side = int(min(430, max(240, 2 * N)))
    return alt.Chart(alt.Data(name=atlas)).transform_calculate(
        count="datum.c[k]", scount="datum.s[k]", x2="datum.j1 + 1", y2="datum.j2 + 1",
        pair="'(' + datum.j1 + ', ' + datum.j2 + ')'", bval=f"{[_r(v, 5) for v in atlas_b]}[k]",
    ).mark_rect(stroke=None).encode(
        x=alt.X("j1:Q", title="component j1", scale=alt.Scale(domain=[0, N], nice=False)), x2="x2:Q",
        y=alt.Y("j2:Q", title="component j2", scale=alt.Scale(domain=[0, N], nice=False, reverse=True)),
        y2="y2:Q",
        color=alt.condition("datum.count == 0", alt.value(COLORS["void"]),
                            alt.Color("count:Q", title="points in the slice (all)",
                                      scale=alt.Scale(type="linear", zero=False, scheme="viridis"),
                                      legend=alt.Legend(orient="right", direction="vertical", gradientLength=200))),
        tooltip=[alt.Tooltip("pair:N", title="pair (j1, j2)"), alt.Tooltip("bval:Q", title="b", format=".3g"),
                 alt.Tooltip("count:Q", title=f"in slice, of {n_all:,} points"),
                 alt.Tooltip("scount:Q", title=f"in slice, of {n_sample:,} sample")],
    ).add_params(k).properties(
        width=side, height=side,
        title=alt.Title(text={"expr": f"'Points in the slice of every pair, b = ' + format({[_r(v, 5) for v in atlas_b]}[k], '.3g')"},
                        subtitle="pale cells: empty slices (voids); click a cell to load the pair into the explorers"))


def occupancy_chart(b_grid: np.ndarray, occupancy: np.ndarray, every: np.ndarray, b_used: float):
    """Share of all points in the emptiest / median / fullest pair's slice, and in every slice, vs b."""
    alt = _alt()
    names = ["emptiest pair", "median pair", "fullest pair", "every slice (no |z[j]| > b)"]
    rows = []
    for i, bv in enumerate(b_grid):
        for c in range(3):
            rows.append({"b": _r(bv), "share": _r(occupancy[i, c]), "what": names[c]})
        rows.append({"b": _r(bv), "share": _r(every[i]), "what": names[3]})
    line = alt.Chart(alt.Data(values=rows)).mark_line().encode(
        x=alt.X("b:Q", title="threshold b"),
        y=alt.Y("share:Q", title="share of all points in the slice", axis=alt.Axis(format="%")),
        color=alt.Color("what:N", title=None, sort=names,
                        scale=_legend_scale(names, [COLORS["artificial"], COLORS["real"], COLORS["centre"], "#555555"])),
        strokeDash=alt.condition("datum.what == 'every slice (no |z[j]| > b)'", alt.value([4, 3]), alt.value([1, 0])),
        tooltip=[alt.Tooltip("b:Q", format=".3g"), "what:N", alt.Tooltip("share:Q", format=".2%")])
    rule = alt.Chart(alt.Data(values=[{"b": _r(b_used)}])).mark_rule(color="black", strokeDash=[2, 2]).encode(x="b:Q")
    return alt.layer(line, rule).properties(width=WIDTH, height=240,
                                            title="Slice occupancy against the threshold b (dotted: b used)")


def radius_explorer(real_radii: np.ndarray, unit_radii: np.ndarray, N: int, b0: float,
                    b_range: Sequence[float], n_real_total: int | None = None, max_uniform: int = 4000):
    """Histograms of real radii |z| and uniform radii |u| (u uniform in [-b, b]^N), b on a slider.

    ``unit_radii`` are |u| for b = 1; |u| scales with b. The first ``max_uniform`` of them
    are drawn (enough for a histogram, and the page stays light).
    """
    alt = _alt()
    unit_radii = np.asarray(unit_radii)[:max_uniform]
    lo, hi = float(b_range[0]), float(b_range[1])
    # Beyond the b at which uniform radii exceed twice the largest real radius nothing changes
    # but the scale; keep the slider (and the x axis) to the informative range.
    umax = float(np.max(unit_radii)) if len(unit_radii) else 1.0
    hi = max(min(hi, 2.0 * float(np.max(real_radii)) / max(umax, 1e-12)), float(b0))
    step = float(f"{(hi - lo) / 200:.2g}") or (hi - lo) / 200
    b = alt.param(name="b", value=_r(b0, 5),
                  bind=alt.binding_range(min=_r(lo, 4), max=_r(hi, 4), step=step, name="uniform points' b "))
    rows = [{"kind": "real", "u": _r(r)} for r in real_radii] + [{"kind": "uniform", "u": _r(r)} for r in unit_radii]
    rmax = float(max(np.max(real_radii), np.max(unit_radii) * hi)) * 1.02
    width = rmax / 90
    labels = [f"{LABEL_REAL} |z|", "uniform points |u|, components in [-b, b]"]
    hist = alt.Chart(alt.Data(name="radii")).transform_calculate(
        r="datum.kind == 'uniform' ? datum.u * b : datum.u",
        label=f"datum.kind == 'real' ? '{labels[0]}' : '{labels[1]}'",
    ).transform_joinaggregate(total="count()", groupby=["label"]).transform_bin(
        "r0", "r", bin=alt.Bin(extent=[0, _r(rmax)], step=_r(width, 3))).transform_aggregate(
        n="count()", groupby=["label", "r0", "r0_end", "total"]).transform_calculate(
        share="datum.n / datum.total").mark_rect(opacity=0.55).encode(
        x=alt.X("r0:Q", title="radius (distance from the origin)", scale=alt.Scale(domain=[0, _r(rmax)])),
        x2="r0_end:Q", y=alt.Y("share:Q", title="share of points", axis=alt.Axis(format="%"), stack=None),
        color=alt.Color("label:N", title=None, scale=_legend_scale(labels, [COLORS["real"], COLORS["artificial"]])),
        tooltip=["label:N", alt.Tooltip("r0:Q", title="from", format=".3g"), alt.Tooltip("share:Q", format=".1%")])
    closed = alt.Chart(alt.Data(values=[{}])).transform_calculate(
        m=f"b * sqrt({N} / 3)", label="'b·√(N/3) = ' + format(b * sqrt(" + str(N) + " / 3), '.3g')").mark_rule(
        color=COLORS["artificial"], strokeDash=[4, 3], strokeWidth=1.5).encode(x="m:Q", tooltip=["label:N"])
    chart = alt.layer(hist, closed).add_params(b).properties(
        width=WIDTH, height=260,
        title=alt.Title(text={"expr": "'Radii of real and uniform points, b = ' + format(b, '.3g')"},
                        subtitle="dashed: closed-form mean radius of the uniform points, b·√(N/3)"))
    return ChartSpec(chart, {"radii": rows})


def bscan_chart(b_grid: np.ndarray, w: np.ndarray, w_centred: np.ndarray | None, best: float,
                overlap: Sequence[float] | None, published: Sequence[float] | None = None,
                published_best: float | None = None):
    """Wasserstein distance between real and uniform radius distributions over the b grid, with the
    build's one b (``best``: the fine scan's best b) marked."""
    alt = _alt()
    names = ["|z| vs |u|", "|z − mean| vs |u − mean|"]
    # Show the informative part of the grid: up to 3x the best b (or past the overlap range).
    b_show = float(b_grid[-1])
    limit = 3.0 * float(best)
    if overlap is not None and overlap[1] is not None:
        limit = max(limit, 1.5 * float(overlap[1]))
    if published is not None:
        limit = max(limit, 1.2 * float(published[1]))
    b_show = min(b_show, limit)
    keep = [i for i in range(len(b_grid)) if b_grid[i] <= b_show * (1 + 1e-9)]
    rows = [{"b": _r(b_grid[i]), "w": _r(w[i]), "what": names[0]} for i in keep if np.isfinite(w[i])]
    if w_centred is not None:
        rows += [{"b": _r(b_grid[i]), "w": _r(w_centred[i]), "what": names[1]}
                 for i in keep if np.isfinite(w_centred[i])]
    layers = []
    bands = []
    if overlap is not None and overlap[0] is not None and overlap[1] is not None:
        bands.append({"b0": _r(max(overlap[0], float(b_grid[0]))), "b1": _r(min(overlap[1], b_show)),
                      "label": "this build: radius ranges overlap"})
    if published is not None:
        bands.append({"b0": _r(published[0]), "b1": _r(published[1]),
                      "label": "published (CelebA): radii match"})
    if bands:
        layers.append(alt.Chart(alt.Data(values=bands)).mark_rect(opacity=0.14).encode(
            x="b0:Q", x2="b1:Q",
            color=alt.Color("label:N", title=None,
                            scale=_legend_scale([bd["label"] for bd in bands],
                                                [COLORS["accent"], COLORS["published"]][:len(bands)]
                                                if bands[0]["label"].startswith("this") else [COLORS["published"]])),
            tooltip=["label:N", alt.Tooltip("b0:Q", format=".3g"), alt.Tooltip("b1:Q", format=".3g")]))
    layers.append(alt.Chart(alt.Data(values=rows)).mark_line().encode(
        x=alt.X("b:Q", title="b (uniform components in [-b, b])"),
        y=alt.Y("w:Q", title="Wasserstein distance of the radii"),
        strokeDash=alt.StrokeDash("what:N", title=None, scale=alt.Scale(domain=names, range=[[1, 0], [5, 3]])),
        tooltip=[alt.Tooltip("b:Q", format=".3g"), "what:N", alt.Tooltip("w:Q", format=".3g")]))
    marks = [{"b": _r(best), "label": f"this build: b = {best:.3g}"}]
    if published_best is not None:
        marks.append({"b": _r(published_best), "label": f"published (CelebA): best b = {published_best:g}"})
    layers.append(alt.Chart(alt.Data(values=marks)).mark_rule(strokeWidth=2).encode(
        x="b:Q", color=alt.value("black"),
        strokeDash=alt.condition("indexof(datum.label, 'published') == 0", alt.value([2, 2]), alt.value([1, 0])),
        tooltip=["label:N"]))
    return alt.layer(*layers).resolve_scale(color="independent").properties(
        width=WIDTH, height=260, title="The b-scan: how well uniform radii match the real ones")


# --------------------------------------------------------------------------- chapter 4: matplotlib

def _style_origin(ax):
    ax.plot([0], [0], "o", ms=9, mfc=COLORS["origin"], mec="black", mew=1.0, zorder=5)


#: Pairs drawn at most in the projection and slice panel figures (the first ones given).
MAX_PAIR_PANELS = 8


def projection_panels_figure(sample_z: np.ndarray, artificial_z: np.ndarray, pairs: Sequence[Sequence[int]],
                             zoom_half_widths: Sequence[float] | None = None, titles: Sequence[str] | None = None,
                             columns: int = 4):
    """Figure types A and B of the study: projections on component pairs, each with its zoom.

    Sample blue, artificial points red diamonds, the origin yellow. With
    ``zoom_half_widths``, every projection is followed by the window [-w, w]^2. At most
    :data:`MAX_PAIR_PANELS` pairs are drawn.
    """
    plt = _plt()
    pairs = list(pairs)[:MAX_PAIR_PANELS]
    panels = []
    for p, pair in enumerate(pairs):
        panels.append((pair, None, titles[p] if titles else f"({pair[0]}, {pair[1]})"))
        if zoom_half_widths is not None:
            panels.append((pair, float(zoom_half_widths[p]), "zoom"))
    ncol = min(columns, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.05 * ncol, 2.05 * nrow), squeeze=False)
    s = np.asarray(sample_z, dtype=np.float32)
    a = np.asarray(artificial_z, dtype=np.float32)
    ms = max(0.6, min(4.0, 3000 / max(len(s), 1)))
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, (pair, w, title) in zip(axes.ravel(), panels):
        j1, j2 = int(pair[0]), int(pair[1])
        ax.scatter(s[:, j1], s[:, j2], s=ms, c=COLORS["real"], alpha=0.45, lw=0, rasterized=True)
        if len(a):
            ax.scatter(a[:, j1], a[:, j2], s=16, c=COLORS["artificial"], marker="D", lw=0, zorder=4)
        _style_origin(ax)
        if w is not None and w > 0:
            ax.set_xlim(-w, w), ax.set_ylim(-w, w)
            ax.set_title(f"zoom ±{w:.2g}", fontsize=8)
        else:
            ax.set_title(title, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xlabel(f"z[{j1}]", fontsize=7, labelpad=1), ax.set_ylabel(f"z[{j2}]", fontsize=7, labelpad=1)
    fig.tight_layout(pad=0.4)
    return fig


def _slice_panel(ax, real: np.ndarray, in_slice_mask: np.ndarray, artificial: np.ndarray, j1: int, j2: int,
                 b: float, sizes: tuple[float, float] = (5, 9)) -> None:
    """One flat-cuboid slice on ``ax``: artificial points, the real points inside it, the square [-b, b]^2."""
    plt = _plt()
    if len(artificial):
        ax.scatter(artificial[:, j1], artificial[:, j2], s=sizes[0], c=COLORS["artificial"], marker="D", lw=0,
                   alpha=0.5)
    ax.scatter(real[in_slice_mask, j1], real[in_slice_mask, j2], s=sizes[1], c=COLORS["real"], lw=0, alpha=0.85,
               zorder=3)
    ax.add_patch(plt.Rectangle((-b, -b), 2 * b, 2 * b, fill=False, ls="--", lw=0.8, ec="#444444"))
    _style_origin(ax)


def slice_panels_figure(sample_z: np.ndarray, top_index: np.ndarray, top_abs: np.ndarray,
                        slice_artificial_z: np.ndarray, pairs: Sequence[Sequence[int]], b: float,
                        counts_all: Sequence[int] | None = None, n_all: int | None = None, columns: int = 4):
    """Figure type C: the flat-cuboid slice of each pair with the sample points inside it.

    At most :data:`MAX_PAIR_PANELS` pairs are drawn (``counts_all`` aligned with ``pairs``).
    """
    plt = _plt()
    pairs = list(pairs)[:MAX_PAIR_PANELS]
    ncol = min(columns, len(pairs))
    nrow = math.ceil(len(pairs) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.05 * ncol, 2.15 * nrow), squeeze=False)
    s = np.asarray(sample_z, dtype=np.float32)
    a = np.asarray(slice_artificial_z, dtype=np.float32)
    for ax in axes.ravel()[len(pairs):]:
        ax.set_visible(False)
    for p, (ax, pair) in enumerate(zip(axes.ravel(), pairs)):
        j1, j2 = int(pair[0]), int(pair[1])
        m = in_slice(top_index, top_abs, j1, j2, b)
        _slice_panel(ax, s, m, a, j1, j2, b)
        t = f"({j1}, {j2}): {int(m.sum())} of {len(s):,}"
        if counts_all is not None and n_all:
            t += f"\nall points: {int(counts_all[p]):,} of {n_all:,}"
        ax.set_title(t, fontsize=7.5)
        ax.tick_params(labelsize=6)
        ax.set_xlabel(f"z[{j1}]", fontsize=7, labelpad=1), ax.set_ylabel(f"z[{j2}]", fontsize=7, labelpad=1)
    fig.tight_layout(pad=0.4)
    return fig


def atlas_figure(counts: np.ndarray, b: float, n_all: int):
    """The slice atlas at one b (matplotlib): counts of every pair, empty slices pale."""
    plt = _plt()
    from matplotlib.colors import Normalize
    c = np.asarray(counts, dtype=float).copy()
    N = c.shape[0]
    np.fill_diagonal(c, np.nan)
    empty = c == 0
    fig, ax = plt.subplots(figsize=(5.4, 4.7))
    ax.grid(False)
    bg = np.where(empty, 1.0, np.nan)
    ax.imshow(bg, cmap="Greys", vmin=0, vmax=8, interpolation="nearest", extent=(0, N, N, 0))
    shown = np.where(empty, np.nan, c)
    vmin = float(np.nanmin(shown)) if np.isfinite(shown).any() else 0.0
    vmax = max(vmin + 1.0, float(np.nanmax(shown)) if np.isfinite(shown).any() else 1.0)
    im = ax.imshow(shown, cmap="viridis", norm=Normalize(vmin=vmin, vmax=vmax),
                   interpolation="nearest", extent=(0, N, N, 0))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label=f"points in the slice (of {n_all:,})")
    ax.set_xlabel("component j1"), ax.set_ylabel("component j2")
    ax.set_title(f"Slice atlas at b = {b:.3g}: {int(np.sum(empty) // 2):,} empty of {N * (N - 1) // 2:,} pairs")
    return fig


def explorer_static_figure(sample_z: np.ndarray, top_index: np.ndarray, top_abs: np.ndarray,
                           artificial_z: np.ndarray, slice_artificial_z: np.ndarray, pair: Sequence[int],
                           b: float, b_artificial: float):
    """The default state of the projection and slice explorers side by side (for the PDF)."""
    plt = _plt()
    j1, j2 = int(pair[0]), int(pair[1])
    s = np.asarray(sample_z, dtype=np.float32)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(7.0, 3.3))
    ms = max(0.8, min(5.0, 4000 / max(len(s), 1)))
    a1.scatter(s[:, j1], s[:, j2], s=ms, c=COLORS["real"], alpha=0.45, lw=0, rasterized=True)
    a = np.asarray(artificial_z, dtype=np.float32)
    if len(a):
        a1.scatter(a[:, j1], a[:, j2], s=22, c=COLORS["artificial"], marker="D", lw=0, zorder=4)
    _style_origin(a1)
    a1.set_title(f"projection on ({j1}, {j2})")
    m = in_slice(top_index, top_abs, j1, j2, b)
    sa = np.asarray(slice_artificial_z, dtype=np.float32) * (b / b_artificial)
    _slice_panel(a2, s, m, sa, j1, j2, b, sizes=(7, 12))
    a2.set_title(f"slice ({j1}, {j2}), b = {b:.3g}: {int(m.sum())} of {len(s):,} sample points")
    for ax in (a1, a2):
        ax.set_xlabel(f"z[{j1}]"), ax.set_ylabel(f"z[{j2}]")
    fig.tight_layout(pad=0.5)
    return fig


# --------------------------------------------------------------------------- chapter 5

def metric_bars_chart(names: Sequence[str], values: Sequence[float | None], metric: str, title: str,
                      reference: float | None = None, fmt: str = ".3f", higher_is_better: bool | None = None,
                      lows: Sequence[float | None] | None = None, highs: Sequence[float | None] | None = None):
    """One metric per generator as horizontal bars (no bar for None), optional reference rule.

    The bar of ``uniform`` is red and that of a name starting with "real" (the
    reference row) grey. ``lows``/``highs`` (aligned with ``names``) draw each value's
    interval as a black error bar.
    """
    alt = _alt()
    def kind(name):
        return "uniform" if name == "uniform" else "reference" if str(name).startswith("real") else "generator"
    lows = lows if lows is not None else [None] * len(names)
    highs = highs if highs is not None else [None] * len(names)
    data = [{"generator": nm, "value": _r(v), "kind": kind(nm), "low": None if lo is None else _r(lo),
             "high": None if hi is None else _r(hi)}
            for nm, v, lo, hi in zip(names, values, lows, highs) if v is not None and np.isfinite(float(v))]
    order = sorted(data, key=lambda r: r["value"], reverse=bool(higher_is_better))
    y = alt.Y("generator:N", title=None, sort=[r["generator"] for r in order])
    tooltip = ["generator:N", alt.Tooltip("value:Q", format=fmt)]
    if any(r["low"] is not None for r in data):
        tooltip += [alt.Tooltip("low:Q", format=fmt), alt.Tooltip("high:Q", format=fmt)]
    bars = alt.Chart(alt.Data(values=data)).mark_bar().encode(
        y=y, x=alt.X("value:Q", title=metric),
        color=alt.Color("kind:N", legend=None, scale=alt.Scale(
            domain=["generator", "uniform", "reference"],
            range=[COLORS["real"], COLORS["artificial"], COLORS["published"]])),
        tooltip=tooltip)
    layers = [bars]
    ranged = [r for r in data if r["low"] is not None and r["high"] is not None]
    if ranged:
        layers.append(alt.Chart(alt.Data(values=ranged)).mark_rule(color="black", strokeWidth=1.5).encode(
            y=y, x="low:Q", x2="high:Q", tooltip=tooltip))
    if reference is not None and np.isfinite(reference):
        layers.append(alt.Chart(alt.Data(values=[{"x": _r(reference), "label": "real vs real"}])).mark_rule(
            color="black", strokeDash=[4, 3]).encode(x="x:Q", tooltip=["label:N", "x:Q"]))
    return alt.layer(*layers).properties(width=360, height=max(80, 22 * len(data)), title=title)


def sweep_chart(values: Sequence[float], metrics: dict[str, Sequence[float | None]], title: str,
                xtitle: str, ytitle: str = "metric value"):
    """Metric curves against a hyper-parameter: one line per metric (None values left out)."""
    rows = [{"x": float(v), "value": float(m[i]), "metric": name}
            for i, v in enumerate(values) for name, m in metrics.items() if m[i] is not None]
    return curve_chart(rows, "x", "value", "metric", title, xtitle, ytitle)


def contact_sheets_figure(sheets: Sequence[np.ndarray], titles: Sequence[str],
                          highlight: Sequence[bool] | None = None, columns: int = 3):
    """Contact sheets (images (H, W) or (H, W, 3) in [0, 1]) side by side with their titles.

    Titles of ``highlight`` ed sheets are drawn in the artificial points' red (None: none).
    """
    plt = _plt()
    rows = (len(sheets) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(7.2, 2.55 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, im, title, hi in zip(axes.ravel(), sheets, titles, highlight or [False] * len(sheets)):
        ax.imshow(im, cmap="gray" if im.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title, fontsize=8, color=COLORS["artificial"] if hi else "black")
    fig.tight_layout(pad=0.4)
    return fig


def _tile_grid(images: np.ndarray, cols: int, rows: int, pad: int = 2) -> np.ndarray:
    """uint8 images (m <= rows * cols, C, S, S) as one gray or RGB grid (H, W[, 3]) in [0, 1] of ``rows`` x
    ``cols`` tiles, white gaps and empty tiles (so that grids of different counts share one scale)."""
    m, C, S = len(images), images.shape[1], images.shape[2]
    grid = np.ones((rows * (S + pad) + pad, cols * (S + pad) + pad, C), np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        grid[pad + r * (S + pad):pad + r * (S + pad) + S, pad + c * (S + pad):pad + c * (S + pad) + S] = \
            im.transpose(1, 2, 0) / 255.0
    return grid[:, :, 0] if C == 1 else grid


def face_split_figure(names: Sequence[str], images: Sequence[np.ndarray], faces: Sequence[np.ndarray],
                      cols: int = 8):
    """Per generator, its decoded images split by the face tests: "called a face" and "not a face".

    Parameters
    ----------
    names : titles, one per generator (or real set)
    images : per name, uint8 (m, C, S, S)
    faces : per name, bool (m,): the verdict rule's label of each image
    """
    plt = _plt()
    n = len(names)
    fig, axes = plt.subplots(n, 2, figsize=(7.2, 1.7 * n + 0.4), squeeze=False)
    for i, (name, im, f) in enumerate(zip(names, images, faces)):
        f = np.asarray(f, dtype=bool)
        for k, (sel, what) in enumerate(((f, "called a face"), (~f, "not a face"))):
            ax = axes[i, k]
            ax.axis("off")
            grid = _tile_grid(im[sel], cols, max(1, math.ceil(len(f) / cols)))
            ax.imshow(grid, cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{name}: {what} ({int(sel.sum())} of {len(f)})", fontsize=7,
                         color="black" if k == 0 else COLORS["artificial"])
    fig.tight_layout(pad=0.3)
    return fig


def face_examples_figure(set_names: Sequence[str], images: np.ndarray, detector: np.ndarray,
                         classifier: np.ndarray):
    """The first images of each calibration set with each test's label under them (D: the detector,
    C: the classifier; + a face, - not).

    Parameters
    ----------
    images : (K, E, S, S) uint8 gray; detector, classifier : (K, E) bool
    """
    plt = _plt()
    K, E = images.shape[:2]
    fig, axes = plt.subplots(K, E, figsize=(0.62 * E + 1.6, 0.78 * K), squeeze=False)
    for k in range(K):
        for e in range(E):
            ax = axes[k, e]
            ax.imshow(images[k, e], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            lab = f"D{'+' if detector[k, e] else '-'} C{'+' if classifier[k, e] else '-'}"
            ax.set_xlabel(lab, fontsize=5.5, labelpad=1,
                          color="black" if detector[k, e] == classifier[k, e] else COLORS["artificial"])
        axes[k, 0].set_ylabel(set_names[k], fontsize=6.5, rotation=0, ha="right", va="center")
    fig.tight_layout(pad=0.2, w_pad=0.1, h_pad=0.3)
    return fig


def curve_chart(rows: Sequence[dict], x: str, y: str, series: str | None, title: str,
                xtitle: str | None = None, ytitle: str | None = None):
    """A generic line chart of ``y`` against ``x`` (one line per ``series``)."""
    alt = _alt()
    data = [{k: (_r(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    enc = dict(x=alt.X(f"{x}:Q", title=xtitle or x), y=alt.Y(f"{y}:Q", title=ytitle or y),
               tooltip=[f"{x}:Q", f"{y}:Q"] + ([f"{series}:N"] if series else []))
    if series:
        enc["color"] = alt.Color(f"{series}:N", title=None)
    return alt.Chart(alt.Data(values=data)).mark_line(point=True).encode(**enc).properties(
        width=WIDTH, height=240, title=title)


# --------------------------------------------------------------------------- the claims ledger (analysis/claims.py)

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


# --------------------------------------------------------------------------- the decoder (analysis/decode.py)

LABEL_FACE = "face"
LABEL_NONFACE = "not a face"


def _mosaic(tiles: np.ndarray) -> np.ndarray:
    """Tiles (G_y, G_x, C, S, S) as one image (G_y S, G_x S[, 3]) in [0, 1], row iy = 0 at the bottom."""
    gy, gx, C, S, _ = tiles.shape
    t = np.asarray(tiles, dtype=np.float32)
    if np.issubdtype(np.asarray(tiles).dtype, np.integer):
        t = t / 255.0
    img = t[::-1].transpose(0, 3, 1, 4, 2).reshape(gy * S, gx * S, C)
    return img[:, :, 0] if C == 1 else np.clip(img, 0, 1)


def _plane_panel(ax, tiles: np.ndarray, xs: np.ndarray, ys: np.ndarray, distance: np.ndarray, face: np.ndarray,
                 centre_xy: Sequence[float] | None) -> None:
    """One decoded plane on ``ax``: the mosaic in data coordinates, the boundary (distance 1) as a
    contour, non-face tiles framed red, the origin and the centre marked."""
    plt = _plt()
    dx = (xs[-1] - xs[0]) / max(len(xs) - 1, 1)
    dy = (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
    ext = (xs[0] - dx / 2, xs[-1] + dx / 2, ys[0] - dy / 2, ys[-1] + dy / 2)
    img = _mosaic(tiles)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, extent=ext, aspect="auto",
              interpolation="nearest")
    ax.grid(False)
    for iy, ix in zip(*np.nonzero(~np.asarray(face, dtype=bool))):
        ax.add_patch(plt.Rectangle((xs[ix] - dx / 2, ys[iy] - dy / 2), dx, dy, fill=False, lw=0.7,
                                   ec=COLORS["artificial"], alpha=0.9))
    d = np.asarray(distance, dtype=float)
    if d.min() < 1.0 < d.max():
        ax.contour(xs, ys, d, levels=[1.0], colors=[COLORS["accent"]], linewidths=1.6)
    if ext[0] <= 0 <= ext[1] and ext[2] <= 0 <= ext[3]:
        ax.plot([0], [0], "o", ms=5.5, mfc=COLORS["origin"], mec="black", mew=0.8, zorder=5)
    if centre_xy is not None:
        ax.plot([centre_xy[0]], [centre_xy[1]], "o", ms=4.5, mfc=COLORS["centre"], mec="black", mew=0.7, zorder=5)
    ax.set_xlim(ext[0], ext[1]), ax.set_ylim(ext[2], ext[3])


def decoded_planes_figure(images: np.ndarray, xs: np.ndarray, ys: np.ndarray, distance: np.ndarray,
                          face: np.ndarray, pairs: Sequence[Sequence[int]], centre_xy: Sequence[Sequence[float]],
                          columns: int = 4):
    """The decoded planes of the shown pairs: for each pair, the plane through the centre and the one
    through the origin, side by side (at most :data:`MAX_PAIR_PANELS` pairs).

    Parameters
    ----------
    images : (P, 2, G, G, C, S, S) uint8, ``[p, k, iy, ix]`` decoded at z[j1] = xs[p, ix], z[j2] = ys[p, iy]
    xs, ys : (P, G)
    distance : (P, 2, G, G) distance to the data in units of its boundary (orange contour: 1)
    (yellow dot: the origin; green: the centre)
    face : (P, 2, G, G) bool (red frames: not a face)
    pairs : (P, 2)
    centre_xy : (P, 2) the centre's (j1, j2) coordinates (green dot in both planes)
    """
    plt = _plt()
    P = min(len(pairs), MAX_PAIR_PANELS)
    ncol = min(columns, 2 * P)
    nrow = math.ceil(2 * P / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.85 * ncol, 1.95 * nrow), squeeze=False)
    for ax in axes.ravel()[2 * P:]:
        ax.set_visible(False)
    for p in range(P):
        j1, j2 = int(pairs[p][0]), int(pairs[p][1])
        for k, name in enumerate(("through the centre", "through the origin")):
            ax = axes.ravel()[2 * p + k]
            _plane_panel(ax, images[p, k], np.asarray(xs[p]), np.asarray(ys[p]), distance[p, k], face[p, k],
                         centre_xy[p])
            ax.set_title(f"({j1}, {j2}) {name}", fontsize=7)
            ax.tick_params(labelsize=5.5)
            ax.set_xlabel(f"z[{j1}]", fontsize=6.5, labelpad=1), ax.set_ylabel(f"z[{j2}]", fontsize=6.5, labelpad=1)
    fig.tight_layout(pad=0.35)
    return fig


def path_strips_figure(images: np.ndarray, labels: Sequence[str], distance: np.ndarray, face: np.ndarray,
                       every: int = 1):
    """One strip of decoded images per path (every ``every``-th step), non-faces framed red, each image
    titled with its distance to the data (in units of the boundary)."""
    plt = _plt()
    Q, T = np.asarray(face).shape
    steps = list(range(0, T, every))
    if steps[-1] != T - 1:
        steps.append(T - 1)
    fig, axes = plt.subplots(Q, len(steps), figsize=(0.34 * len(steps) + 0.2, 0.62 * Q + 0.15), squeeze=False)
    for q in range(Q):
        for c, s in enumerate(steps):
            ax = axes[q][c]
            im = np.asarray(images[q, s], dtype=np.float32) / 255.0
            ax.imshow(im[0] if im.shape[0] == 1 else np.transpose(im, (1, 2, 0)), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
            nonface = not bool(face[q, s])
            for sp in ax.spines.values():
                sp.set_visible(nonface)
                sp.set_color(COLORS["artificial"])
                sp.set_linewidth(1.4)
            v = float(distance[q, s])
            ax.set_xlabel(f"{v:.2g}" if v >= 0.005 else "0", fontsize=4.5, labelpad=1,
                          color=COLORS["artificial"] if float(distance[q, s]) > 1 else "#333333")
        axes[q][0].set_title(labels[q], fontsize=6.5, loc="left", pad=2)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.97, bottom=0.02, wspace=0.06, hspace=0.55)
    return fig


def _path_rows(t: np.ndarray, distance: np.ndarray, gap: np.ndarray, face: np.ndarray, labels: Sequence[str],
               gap_scale: float) -> list[dict]:
    names = ("distance to the data (× B)", "re-encoding gap (× real 95th percentile)")
    rows = []
    for q, lab in enumerate(labels):
        for s, tv in enumerate(t):
            kind = LABEL_FACE if bool(face[q, s]) else LABEL_NONFACE
            for name, v in zip(names, (distance[q, s], gap[q, s] / gap_scale)):
                rows.append({"q": q, "path": lab, "s": s, "t": _r(tv), "measure": name, "value": _r(v),
                             "image": kind})
    return rows


def path_measures_chart(t: np.ndarray, distance: np.ndarray, gap: np.ndarray, face: np.ndarray,
                        labels: Sequence[str], gap_scale: float, columns: int = 2):
    """Per path: the distance to the data (in units of its boundary B) and the re-encoding gap (in
    units of the real points' 95th percentile) against the position along the path; circles where
    the decoded image is a face, crosses where it is not. The dashed rule at 1: as far as real
    points go."""
    alt = _alt()
    rows = _path_rows(t, distance, gap, face, labels, gap_scale)
    names = sorted({r["measure"] for r in rows})
    base = alt.Chart().encode(
        x=alt.X("t:Q", title="position along the path", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("value:Q", title="× what real points reach", scale=alt.Scale(zero=True)),
        color=alt.Color("measure:N", title=None, scale=_legend_scale(names, [COLORS["real"], COLORS["accent"]])))
    line = base.mark_line()
    pts = base.mark_point(size=28).encode(
        shape=alt.Shape("image:N", title=None, scale=alt.Scale(domain=[LABEL_FACE, LABEL_NONFACE],
                                                              range=["circle", "cross"])),
        tooltip=["path:N", "measure:N", alt.Tooltip("t:Q", format=".2f"), alt.Tooltip("value:Q", format=".3g"),
                 "image:N"])
    rule = alt.Chart().mark_rule(color="black", strokeDash=[4, 3], aria=False).encode(y=alt.datum(1))
    return alt.layer(line, pts, rule, data=alt.Data(values=rows)).properties(width=250, height=150).facet(
        facet=alt.Facet("path:N", title=None, sort=list(labels)), columns=columns).properties(
        title="Distance to the data and re-encoding gap along each path")


def path_explorer(t: np.ndarray, distance: np.ndarray, gap: np.ndarray, face: np.ndarray, labels: Sequence[str],
                  gap_scale: float, q0: int = 0):
    """The path explorer: a path chosen from a menu, a position ``t`` on a slider (the page's live
    decoder draws the image at t beside the chart, and dragging on the chart moves t), the two
    measures of :func:`path_measures_chart` along the chosen path with a rule at t."""
    alt = _alt()
    rows = _path_rows(t, distance, gap, face, labels, gap_scale)
    names = sorted({r["measure"] for r in rows})
    q = alt.param(name="path", value=int(q0),
                  bind=alt.binding_select(options=list(range(len(labels))), labels=list(labels), name="path "))
    pos = alt.param(name="t", value=0.0, bind=alt.binding_range(min=0, max=1, step=0.005, name="position t "))
    base = alt.Chart(alt.Data(values=rows)).transform_filter("datum.q == path").encode(
        x=alt.X("t:Q", title="position along the path (drag on the chart or use the slider)",
                scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("value:Q", title="× what real points reach", scale=alt.Scale(zero=True)),
        color=alt.Color("measure:N", title=None, scale=_legend_scale(names, [COLORS["real"], COLORS["accent"]])))
    pts = base.mark_point(size=34).encode(
        shape=alt.Shape("image:N", title=None, scale=alt.Scale(domain=[LABEL_FACE, LABEL_NONFACE],
                                                              range=["circle", "cross"])),
        tooltip=[alt.Tooltip("t:Q", format=".2f"), "measure:N", alt.Tooltip("value:Q", format=".3g"), "image:N"])
    one = alt.Chart(alt.Data(values=[{}]))
    rule = one.mark_rule(color="black", strokeDash=[4, 3], aria=False).encode(y=alt.datum(1))
    cursor = one.transform_calculate(x="t").mark_rule(color=COLORS["artificial"], strokeWidth=2).encode(x="x:Q")
    return alt.layer(base.mark_line(), pts, rule, cursor).add_params(q, pos).properties(
        width=WIDTH - 60, height=260,
        title=alt.Title(text={"expr": f"{json.dumps(list(labels))}[path]"}, subtitle="dashed: as far as real points reach"))


# --------------------------------------------------------------------------- the runs side by side (analysis/across.py)

def _run_scale(names: Sequence[str]):
    """One colour per run, in the runs' order (the primary run first, in the palette's blue)."""
    return _legend_scale(list(names), [PALETTE[i % len(PALETTE)] for i in range(len(names))])


def runs_curves_chart(curves: dict[str, tuple[Sequence[float], Sequence[float | None]]], title: str, xtitle: str,
                      ytitle: str, marks: dict[str, float] | None = None, yformat: str | None = None,
                      subtitle: str = "", xmax: float | None = None):
    """One curve per run (``curves``: run name -> (x, y); None values left out), overlaid, each
    run in its own colour, with an optional dashed vertical rule per run (``marks``: run -> x)."""
    alt = _alt()
    names = list(curves)
    rows = [{"x": _r(x), "y": _r(y), "run": name} for name, (xs, ys) in curves.items()
            for x, y in zip(xs, ys) if y is not None and np.isfinite(float(y))
            and (xmax is None or float(x) <= xmax)]
    yaxis = alt.Axis(format=yformat) if yformat else alt.Axis()
    layers = [alt.Chart(alt.Data(values=rows)).mark_line(strokeWidth=1.6).encode(
        x=alt.X("x:Q", title=xtitle), y=alt.Y("y:Q", title=ytitle, axis=yaxis),
        color=alt.Color("run:N", title="run", scale=_run_scale(names), sort=names),
        tooltip=["run:N", alt.Tooltip("x:Q", format=".3g"), alt.Tooltip("y:Q", format=yformat or ".3g")])]
    if marks:
        mrows = [{"x": _r(v), "run": name} for name, v in marks.items() if v is not None and np.isfinite(float(v))]
        layers.append(alt.Chart(alt.Data(values=mrows)).mark_rule(strokeDash=[4, 3], strokeWidth=1.2).encode(
            x="x:Q", color=alt.Color("run:N", scale=_run_scale(names), sort=names, legend=None),
            tooltip=["run:N", alt.Tooltip("x:Q", format=".3g")]))
    return alt.layer(*layers).properties(width=WIDTH, height=240,
                                         title=alt.Title(text=title, subtitle=subtitle) if subtitle else title)


def runs_intervals_chart(rows: Sequence[dict], title: str, xtitle: str, xformat: str | None = None,
                         subtitle: str = ""):
    """Figures with intervals per category and run: a dot and a bar per run, the runs of one
    category side by side. ``rows``: {``what`` (category), ``run``, ``value``, ``low``, ``high``};
    rows without a value are left out."""
    alt = _alt()
    names = list(dict.fromkeys(r["run"] for r in rows))
    cats = list(dict.fromkeys(r["what"] for r in rows))
    data = [{"what": r["what"], "run": r["run"], "value": _r(r["value"]), "low": _r(r["low"]), "high": _r(r["high"])}
            for r in rows if r["value"] is not None and np.isfinite(float(r["value"]))]
    axis = alt.Axis(format=xformat) if xformat else alt.Axis()
    base = alt.Chart(alt.Data(values=data)).encode(
        y=alt.Y("what:N", title=None, sort=cats), yOffset=alt.YOffset("run:N", sort=names),
        color=alt.Color("run:N", title="run", scale=_run_scale(names), sort=names),
        tooltip=["what:N", "run:N", alt.Tooltip("value:Q", format=xformat or ".3g"),
                 alt.Tooltip("low:Q", format=xformat or ".3g"), alt.Tooltip("high:Q", format=xformat or ".3g")])
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("low:Q", title=xtitle, axis=axis), x2="high:Q")
    dots = base.mark_point(filled=True, size=45).encode(x="value:Q")
    height = max(90, 16 * len(cats) * max(1, len(names)) // 2 + 40)
    return alt.layer(bars, dots).properties(width=WIDTH - 120, height=height,
                                            title=alt.Title(text=title, subtitle=subtitle) if subtitle else title)


def runs_histogram_chart(hists: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, xtitle: str,
                         ytitle: str, yformat: str | None = "%", subtitle: str = ""):
    """Histograms of one quantity per run (``hists``: run name -> (bin edges (B+1), shares (B)), or
    densities with ``yformat=None``), overlaid as lines through the bin centres."""
    curves = {}
    for name, (edges, share) in hists.items():
        e = np.asarray(edges, dtype=float)
        curves[name] = ((e[:-1] + e[1:]) / 2, list(share))
    return runs_curves_chart(curves, title, xtitle, ytitle, yformat=yformat, subtitle=subtitle)


def runs_bscan_chart(scans: dict[str, tuple[Sequence[float], Sequence[float | None]]], best: dict[str, float]):
    """The b-scan of every run (``scans``: run -> (b grid, Wasserstein distance)), overlaid up to
    three times the largest best b (beyond, the curves only rise), each run's best b dashed."""
    xmax = 3.0 * max(float(v) for v in best.values())
    return runs_curves_chart(scans, "The b-scan in every run", "b (uniform components in [-b, b])",
                             "Wasserstein distance of the radii", marks=best, xmax=xmax,
                             subtitle="dashed: each run's best b (fine scan)")
