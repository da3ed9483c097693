"""One plot style, the value rounding and the charts' text alternatives (every builder uses them)."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from analysis.words import num



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
