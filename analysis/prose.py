"""Sentences the article writes at report time, from a run's numbers: words no artifact carries.

No step imports this module, so no step's key covers it: editing a sentence here re-runs no
analysis step, only the report (``tests/test_freshness.py`` checks both). The number formats and
phrases that steps write into artifacts (the ledger's sentences, the runs side by side) live in
:mod:`analysis.words`, which the steps that use it hash. A helper moves here when only the report
(``report/``, ``analysis/charts/``) uses it; a step that needs it takes it back to
:mod:`analysis.words`.
"""

from __future__ import annotations


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, ..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def computed_on_text(device: str, threads: int | None) -> str:
    """Where the train step computed the weights, and what that means for repeating it (the train
    manifest's ``computed_on``: torch device type, CPU threads)."""
    if device != "cpu":
        return (f"The weights were computed on a {device} device, where kernel choices make "
                "repeated trainings agree up to floating-point noise, not bit for bit.")
    n = threads or 1
    return (f"The weights were computed on the CPU with {n} thread{'s' if n != 1 else ''}. CPU "
            "kernels split their sums by thread, so a training is bit-identical only when it is "
            "repeated with the same thread count; another count gives a slightly different model.")
