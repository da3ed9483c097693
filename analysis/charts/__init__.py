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
    ``|v_j|`` (the flat-cuboid rule, see :mod:`analysis.science.slices`);
  - ``artificial`` / ``slice_artificial``: one row per artificial point, ``v``;
  - ``atlas``: one row per ordered pair ``j1 != j2``: ``j1, j2``, ``c`` (array of K
    slice counts of all points, one per atlas b value) and ``s`` (the same for the
    sample).

  Static copies for the PDF come from ``vl_convert`` (inline-data charts) or from
  the matplotlib builders below (dense scatters and the explorers' default state).
* **matplotlib** (``*_figure``): dense scatters, heatmaps and image grids.

Colours: real z-points blue, artificial (uniform) points red, the origin yellow
with a black rim, the cloud's centre green, published figures grey.

The builders live in one module per part of the article (``style``: the plot style, rounding and
text alternatives every builder uses); this package re-exports them all, so the report calls
``charts.<builder>``.
"""

from __future__ import annotations

from analysis.charts.style import (  # noqa: F401
    COLORS,
    ChartSpec,
    FONT,
    HEIGHT,
    LABEL_ART,
    LABEL_ORIGIN,
    LABEL_REAL,
    PALETTE,
    WIDTH,
    altair_config,
    describe,
    rounded,
)
from analysis.charts.components import (  # noqa: F401
    component_explorer,
    component_panels_chart,
    correlation_figure,
    histogram_rule_chart,
    image_grid_figure,
    offset_chart,
    overlaid_histograms_chart,
    pca_chart,
    training_chart,
)
from analysis.charts.origin import (  # noqa: F401
    MAX_PAIR_PANELS,
    SLICE_RULE,
    atlas_figure,
    bscan_chart,
    explorer_static_figure,
    occupancy_chart,
    projection_explorer,
    projection_panels_figure,
    radius_explorer,
    slice_atlas,
    slice_explorer,
    slice_panels_figure,
)
from analysis.charts.generating import (  # noqa: F401
    contact_sheets_figure,
    curve_chart,
    face_examples_figure,
    face_split_figure,
    metric_bars_chart,
    sweep_chart,
)
from analysis.charts.ledger import (  # noqa: F401
    axis_normality_chart,
    fine_bscan_chart,
    null_share_chart,
    slices_across_b_figure,
)
from analysis.charts.decoder import (  # noqa: F401
    LABEL_FACE,
    LABEL_NONFACE,
    decoded_planes_figure,
    path_explorer,
    path_measures_chart,
    path_strips_figure,
)
from analysis.charts.runs import (  # noqa: F401
    runs_bscan_chart,
    runs_curves_chart,
    runs_histogram_chart,
    runs_intervals_chart,
)
