"""One figure of ``make bench``: printed, and collected into ``build/bench.json``.

Each bench script calls :func:`record` once per figure. The line printed names the
figure, its value, the baseline measured in the same run and their ratio against the
target. ``bench/bench.py`` sets ``BENCH_RECORDS`` to a JSON-lines file that every
script appends to, and writes ``build/bench.json`` (figure name -> value, unit,
baseline, ratio, target, text) from it when all scripts have run, so that versions
can be compared.
"""

from __future__ import annotations

import json
import os


def record(name: str, value: float, unit: str, baseline: float | None = None,
           target: float | None = None, text: str = "", higher_is_better: bool = True,
           judge: str = "ratio") -> dict:
    """Print one figure and append it to ``$BENCH_RECORDS`` (if set).

    Parameters
    ----------
    name : str
        Stable identifier of the figure (the key in ``build/bench.json``).
    value, baseline : float
        The measured figure and the baseline measured in the same run (same unit).
    target : float, optional
        The goal for ``value / baseline`` (or for ``value`` when there is no baseline).
    higher_is_better : bool
        Whether a ratio (or value) above the target meets it.
    judge : {"ratio", "value"}
        What the target applies to when there is a baseline (without one: the value).
    """
    ratio = value / baseline if baseline else None
    judged = ratio if ratio is not None and judge == "ratio" else value
    met = None if target is None else (judged >= target if higher_is_better else judged <= target)
    row = {"value": round(float(value), 6), "unit": unit,
           "baseline": None if baseline is None else round(float(baseline), 6),
           "ratio": None if ratio is None else round(ratio, 4), "target": target, "met": met, "text": text}
    parts = [text or f"{name}: {value:.4g} {unit}"]
    if ratio is not None:
        parts.append(f"ratio {ratio:.2f}x")
    if target is not None:
        x = "x" if ratio is not None and judge == "ratio" else f" {unit}"
        parts.append(f"target {'>=' if higher_is_better else '<='} {target}{x}: "
                     f"{'met' if met else 'NOT met'}")
    print("; ".join(parts), flush=True)
    path = os.environ.get("BENCH_RECORDS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, **row}) + "\n")
    return row


def within_rounds(ours: list[float], theirs: list[float]) -> str:
    """The ratios of pairs measured back to back in each round (median and range): a check on
    the ratio of medians when the machine's speed drifts between rounds."""
    import statistics

    r = [a / b for a, b in zip(ours, theirs)]
    return f"ratio within rounds: median {statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f}x)"
