"""Helpers for the chapter notebooks: the run's reader, glue, text and charts.

The chapters only *narrate*: every figure they state or draw was computed by an
analysis step and stored in the run directory (``FLG_RUN``, set by
``report/build.py``), and they read it through :data:`run`, the typed reader of
:mod:`analysis.artifacts` (a missing or malformed value fails the chapter with an
``ArtifactError`` naming the file and the key). Conventions:

* :func:`g` glues a formatted number or word (``{glue}`name``` in the text);
* :func:`chart` shows an Altair chart: interactive in HTML (Vega-Embed from the
  site's ``_static/vega-bundle.js``, no CDN), a PNG in the PDF (vl-convert, or a
  matplotlib figure given as ``static=``). Large arrays go to the page once as
  compact *named data sets* (:func:`points_payload`, :func:`atlas_payload`) that
  ``_static/flg-charts.js`` decodes;
* :func:`figure` shows a matplotlib figure (PNG in both outputs);
* :func:`decoder_panel` adds the live decoder (``_static/flg-decoder.js``) below an
  explorer: the image decoded from the point under the pointer, or along a path;
* :func:`md` / :func:`table` emit Markdown (rendered by MyST in both outputs).

Nothing here reads a file, loads a model or computes a figure of the analysis.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import os
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import meta as _meta  # noqa: E402

from analysis import charts  # noqa: E402
from analysis.artifacts import Run  # noqa: E402
from analysis.words import fmt, pct  # noqa: E402,F401  (the chapters' number formats)
from analysis.prose import computed_on_text, ordinal  # noqa: E402,F401  (the article's own sentences: no step hashes them)
from ledgertables import (checks_list, control_columns, control_table, differ_text,  # noqa: E402,F401
                          grouped_text, ledger_criteria, ledger_rows, ledger_table, names_text, origin_table,
                          run_label, runs_table, table)  # (the article's tables, for the chapters)

META = _meta.meta_from_env()
RUN = Path(os.environ.get("FLG_RUN") or META["run"]).resolve()
_counter = itertools.count(1)
_emitted: set[str] = set()

#: The run the chapters narrate (read lazily, view by view).
run = Run(RUN)

#: Whether a chart also renders its static image, which only the PDF shows (the HTML pages show the
#: interactive chart): ``report/build.py`` sets FLG_CHART_PNG=0 for an HTML-only build; anything else
#: (a PDF build, or Sphinx run by hand) renders it.
CHART_PNG = os.environ.get("FLG_CHART_PNG", "1") != "0"

#: Packages that build the article (their versions are shown beside the analysis packages').
REPORT_PACKAGES = ("sphinx", "myst-nb", "sphinx-book-theme", "altair", "vl-convert-python", "matplotlib", "pandas")


def report_versions() -> dict[str, str]:
    """Installed versions of :data:`REPORT_PACKAGES` (those installed)."""
    out = {}
    for pkg in REPORT_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


# --------------------------------------------------------------------------- build metadata

def esc(text: str) -> str:
    """A user-supplied string (data folder, run name, title) as literal Markdown text."""
    return _meta.md_escape(text)


def commit_text() -> str:
    """The commit this version was built from (marked when the checkout had changes)."""
    return _meta.commit_text(META)


def bibtex() -> str:
    return _meta.bibtex(META)


def cff() -> str:
    return _meta.cff(META)


def bib_key() -> str:
    return _meta.bib_key(META)


#: (key, text) of the article's references, in citation order.
REFERENCES = _meta.REFERENCES


# --------------------------------------------------------------------------- glue and text

class Text:
    """A value whose plain-text form is exactly the given string (no quotes)."""

    def __init__(self, s: str):
        self.s = s

    def __repr__(self) -> str:
        return self.s


def g(name: str, value, spec: str | None = None) -> None:
    """Glue ``value`` (formatted) under ``name`` for ``{glue}`name```."""
    from myst_nb import glue
    s = value if isinstance(value, str) else fmt(value, spec)
    glue(name, Text(s), display=False)


def gpct(name: str, x, digits: int = 1) -> None:
    g(name, pct(x, digits))


def md(text: str):
    """Show Markdown (MyST) in both outputs."""
    from IPython.display import Markdown, display
    display(Markdown(text))


def show(obj) -> None:
    """Show a chart or figure (e.g. one drawn only when the run has what it needs)."""
    from IPython.display import display
    display(obj)


class _Both:
    def __init__(self, html_text: str, md_text: str):
        self.h, self.m = html_text, md_text

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.h, "text/markdown": self.m, "text/plain": self.m}


def html_or_md(html_text: str, md_text: str):
    """HTML in the site (e.g. links to files of the version), Markdown in the PDF."""
    return _Both(html_text, md_text)


def glue_published(published) -> None:
    """Glue every figure of the published study (``run.published``) as ``pub_<name>``."""
    for name in type(published).model_fields:
        v = getattr(published, name)
        if name == "label":
            continue
        g(f"pub_{name}", " to ".join(fmt(x) for x in v) if isinstance(v, tuple) else v)


# --------------------------------------------------------------------------- figures and charts

def fig_png(fig, dpi: int = 150) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


class _Image:
    def __init__(self, png: bytes, alt: str = ""):
        self.png, self.alt = png, alt

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/png": base64.b64encode(self.png).decode("ascii"), "text/plain": self.alt or "figure"}


def figure(fig, alt: str = "", name: str | None = None):
    """Show (or, with ``name``, glue for ``{glue:figure}``) a matplotlib figure as PNG."""
    obj = _Image(fig_png(fig), alt)
    if name:
        from myst_nb import glue
        glue(name, obj, display=False)
        return None
    return obj


def _script_json(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _static_png(spec: dict, static) -> bytes | None:
    """A chart's image for the PDF (see :func:`chart`'s ``static``); None in an HTML-only build, where
    a matplotlib stand-in is closed unrendered."""
    if not CHART_PNG:
        if static is not None and not isinstance(static, (bytes, bytearray)):
            import matplotlib.pyplot as plt
            plt.close(static)
        return None
    if static is None:
        import vl_convert as vlc
        return vlc.vegalite_to_png(spec, scale=2)
    return bytes(static) if isinstance(static, (bytes, bytearray)) else fig_png(static)


class _Chart:
    def __init__(self, html_text: str, png: bytes | None, alt: str):
        self.html, self.png, self.alt = html_text, png, alt

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/html": self.html, "text/plain": self.alt or "chart"}
        if self.png is not None:
            bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle


def chart(c, *, name: str = "chart", data: dict | None = None, static=None, renderer: str = "svg",
          hooks: dict | None = None, glue_as: str | None = None, alt: str = ""):
    """An Altair chart: interactive HTML (Vega-Embed) + static PNG for the PDF.

    Parameters
    ----------
    c : altair chart or dict (Vega-Lite spec)
    name : str
        Chart kind (``data-chart`` attribute, used by tests and the page script).
    data : dict name -> payload
        Named data sets the chart reads; each is written to the page once.
    static : matplotlib figure or PNG bytes, optional
        The PDF image; default: vl-convert renders the spec (needs inline data). Not made in an
        HTML-only build (:data:`CHART_PNG`).
    renderer : "svg" or "canvas"
    hooks : dict
        Extra options for ``FLG.embed`` (``count``: live count caption; ``atlas``: click -> pair;
        ``decoder``: the live decoder's panel, see :func:`decoder_panel`).
    glue_as : str
        Glue under this name (for ``{glue:figure}``) instead of returning the output.
    """
    spec = c.to_dict() if hasattr(c, "to_dict") else dict(c)
    # the text alternative (Vega gives it to the chart's box as its accessible name)
    spec.setdefault("description", charts.describe(spec, alt))
    cid = f"flg-chart-{next(_counter)}"
    parts = []
    if (hooks or {}).get("decoder") and DECODER_WEIGHTS not in _emitted:
        parts.append(f'<script src="{DECODER_WEIGHTS}"></script>')  # loads before the embeds below run
        _emitted.add(DECODER_WEIGHTS)
    for dname, payload in (data or {}).items():
        if dname not in _emitted:
            parts.append(f"<script>FLG.data({_script_json(dname)},{_script_json(payload)});</script>")
            _emitted.add(dname)
    # the live decoder's data sets are read by flg-decoder.js, not by Vega
    page_only = {v for k, v in ((hooks or {}).get("decoder") or {}).items() if k != "mode"}
    opts = {"data": sorted(set(data or {}) - page_only), "renderer": renderer}
    opts.update(hooks or {})
    parts.insert(0, f'<div class="flg-chart" id="{cid}" data-chart="{html.escape(name)}" role="figure" '
                    f'aria-label="{html.escape(alt or name)}"></div>')
    if (hooks or {}).get("count"):
        parts.insert(1, f'<p class="flg-live" id="{cid}-live" aria-live="polite"></p>')
    if (hooks or {}).get("atlas"):
        parts.insert(1, '<p class="flg-pair-note" aria-live="polite"></p>')
    parts.append(f"<script>FLG.embed({_script_json(cid)},{_script_json(spec)},{_script_json(opts)});</script>")
    obj = _Chart("\n".join(parts), _static_png(spec, static), alt or name)
    if glue_as:
        from myst_nb import glue
        glue(glue_as, obj, display=False)
        return None
    return obj


# --------------------------------------------------------------------------- compact data sets

def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def points_payload(z: np.ndarray, top_index: np.ndarray | None = None, top_abs: np.ndarray | None = None) -> dict:
    """Points (n, N) quantised to int8 per component (plus optional top-3 fields).

    Each component j is stored as ``lo_j + step_j * (q + 127)``, q in [-127, 127]:
    255 levels over its range, plenty for a scatter plot. Slice membership uses the
    exact top-3 values (4 significant digits), not the quantised coordinates.
    """
    z = np.asarray(z, dtype=np.float64)
    n, N = z.shape
    lo = z.min(axis=0) if n else np.zeros(N)
    hi = z.max(axis=0) if n else np.ones(N)
    step = np.where(hi > lo, (hi - lo) / 254.0, 1.0)
    lo = np.array(charts.rounded(lo, 7))
    step = np.array(charts.rounded(step, 7))
    q = np.clip(np.rint((z - lo) / step) - 127, -127, 127).astype(np.int8)
    out = {"kind": "points", "n": int(n), "N": int(N), "lo": lo.tolist(), "step": step.tolist(), "q": _b64(q)}
    if top_index is not None and top_abs is not None:
        cols = {}
        for t in range(3):
            cols[f"t{t}"] = [int(v) for v in np.asarray(top_index)[:, t]]
            cols[f"a{t}"] = charts.rounded(np.asarray(top_abs)[:, t], 5)
        out["cols"] = cols
    return out


def atlas_payload(counts_all: np.ndarray, counts_sample: np.ndarray) -> dict:
    """Slice counts (K, N, N) of all points and of the sample, upper triangle, as uint16/uint32."""
    ca, cs = np.asarray(counts_all), np.asarray(counts_sample)
    K, N, _ = ca.shape
    iu = np.triu_indices(N, 1)
    big = max(int(ca.max(initial=0)), int(cs.max(initial=0))) > 65535
    dt = np.dtype("<u4") if big else np.dtype("<u2")
    a = np.ascontiguousarray(ca[:, iu[0], iu[1]].T).astype(dt)   # (P, K)
    s = np.ascontiguousarray(cs[:, iu[0], iu[1]].T).astype(dt)
    return {"kind": "atlas", "N": int(N), "K": int(K), "dtype": "u32" if big else "u16", "c": _b64(a), "s": _b64(s)}


# --------------------------------------------------------------------------- the live decoder

#: The live decoder's weights as the pages load them (report/build.py copies the decode step's
#: weights script there; a plain script, so that the site works from file://).
DECODER_WEIGHTS = "_static/flg-decoder-weights.js"


def _f32(a) -> str:
    return _b64(np.asarray(a, dtype="<f4"))


def anchors_payload(decode, planes) -> dict:
    """The points the plane panels take the other components from (the centre, the origin, real points)."""
    return {"kind": "anchors", "N": int(decode.N), "labels": [a.label for a in decode.anchors],
            "z": _f32(planes.anchor_z)}


def paths_payload(decode, paths) -> dict:
    """The decoded paths' end points (a path's point at t is start + t (end - start))."""
    z = np.asarray(paths.z)
    return {"kind": "paths", "N": int(decode.N), "labels": [p.label for p in decode.paths],
            "start": _f32(z[:, 0]), "end": _f32(z[:, -1])}


def decoder_panel(decode, mode: str, payload: dict) -> tuple[dict, dict]:
    """``(data, hooks)`` for :func:`chart` that add the live decoder's panel below an explorer.

    ``mode``: ``"plane"`` (``payload`` from :func:`anchors_payload`; the chart has signals
    ``j1``, ``j2`` and x/y scales in latent coordinates) or ``"path"`` (from
    :func:`paths_payload`; signals ``path`` and ``t``). Without a live decoder (its weights
    exceed the limit of the decode step): ``({}, {})``, and the chapter says why.
    """
    if not decode.live.available:
        return {}, {}
    name = {"plane": "decoder_anchors", "path": "decoder_paths"}[mode]
    key = {"plane": "anchors", "path": "paths"}[mode]
    return {name: payload}, {"decoder": {"mode": mode, key: name}}
