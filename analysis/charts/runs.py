"""The runs side by side (analysis/steps/across.py): overlays and intervals per run."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from analysis.charts.style import PALETTE, WIDTH, _alt, _legend_scale, _r


# --------------------------------------------------------------------------- the runs side by side (analysis/steps/across.py)

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
