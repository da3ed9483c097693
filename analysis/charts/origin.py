"""Chapter 4: the explorers of the latent cloud (projections, slices, the atlas, radii, the b-scan) and their
static matplotlib copies."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from analysis.science.slices import in_slice
from analysis.charts.style import (
    COLORS, ChartSpec, LABEL_ART, LABEL_ORIGIN, LABEL_REAL, WIDTH, _alt, _legend_scale, _plt, _r)


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
