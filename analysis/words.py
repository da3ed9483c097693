"""Numbers in words: every sentence of the ledger, the views and the article formats its figures here.

One home for the number formats (a share as a percentage, a figure to three significant digits, an
interval, a p-value, a count with separators) and for joining words into a list. Every function here
reaches an artifact (the ledger's and the runs' sentences), so the steps that use them hash this
module; sentences only the report writes live in :mod:`analysis.prose`, which no step hashes.
"""

from __future__ import annotations

import math

import numpy as np


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage: ``0.123`` -> ``"12.3 %"``; a tiny non-zero share keeps one significant
    digit (``"0.004 %"``, not ``"0.0 %"``); None or not finite -> ``"n/a"``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    v = 100.0 * x
    if v != 0 and abs(v) < 10 ** -digits:
        return f"{v:.1g} %"
    return f"{v:.{digits}f} %"


def num(x: float | None) -> str:
    """A figure to three significant digits; None or not finite -> ``"n/a"``."""
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:.3g}"


def interval_text(low, high, fmt=pct) -> str:
    """``"12.0 % to 15.5 %"``."""
    return f"{fmt(low)} to {fmt(high)}"


def p_text(p: float | None) -> str:
    """A p-value in words: "p = 0.012", "p < 0.0001"."""
    if p is None or not math.isfinite(p):
        return "p n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.2g}"


def fmt(value, spec: str | None = None) -> str:
    """Format numbers for prose: ints with thousands separators, floats with 3 significant digits,
    booleans as yes/no, None as n/a; ``spec``: a format spec instead."""
    if value is None:
        return "n/a"
    if spec:
        return format(value, spec)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not np.isfinite(v):
            return "n/a"
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3g}"
        s = f"{v:.3g}"
        if "e" in s:
            return f"{v:,.0f}"
        return s
    return str(value)


def and_list(words: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"`` (for sentences chosen from the numbers)."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
