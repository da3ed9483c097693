"""The generators' registry names and the check of a name: light (no estimator is imported), so that
the config can refuse an unknown ``generate.generators`` entry as it is loaded.

:mod:`analysis.science.generators` builds its registry (:data:`~analysis.science.generators.GENERATORS`)
from the generator classes; its names are these, in this order (a test holds them together).
"""

from __future__ import annotations

import difflib

#: The registry names, in the article's order.
NAMES = ("uniform", "standard-normal", "independent-normal", "independent-empirical", "mvn", "mvn-core",
         "pca-ellipsoid", "gmm")


def unknown_name(name: str) -> str | None:
    """Why ``name`` is no generator (naming the closest valid one and listing them), or None."""
    if name in NAMES:
        return None
    hit = difflib.get_close_matches(str(name), list(NAMES), n=1, cutoff=0.4)
    closest = f" (did you mean '{hit[0]}'?)" if hit else ""
    return f"unknown generator '{name}'{closest}; valid generators: {', '.join(NAMES)}"
