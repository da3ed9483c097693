"""The decoder chapter (analysis/steps/decode.py): decoded planes and paths."""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from analysis.charts.style import COLORS, WIDTH, _alt, _legend_scale, _plt, _r
from analysis.charts.origin import MAX_PAIR_PANELS


# --------------------------------------------------------------------------- the decoder (analysis/steps/decode.py)

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
