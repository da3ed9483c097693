"""Chapter 5: the generators' metrics, sweeps, contact sheets and the face tests' figures."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from analysis.charts.style import COLORS, WIDTH, _alt, _plt, _r


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
    C, S = images.shape[1], images.shape[2]
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
