"""The article's tables and the sentences that go with them, as Markdown text: the claims ledger (its
rows, criteria and checks), the origin under every metric, the runs side by side and the controls.

Every value comes from the typed reader (:mod:`analysis.artifacts`) through the chapters; the number
formats from :mod:`analysis.words`. :mod:`flg` re-exports these helpers for the chapters.
"""

from __future__ import annotations

from analysis.words import fmt, pct


def table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A Markdown table (returned; pass to :func:`md`)."""
    def cell(v):
        return str(v).replace("|", "\\|").replace("\n", " ")
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else ":---" for a in align]
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


# --------------------------------------------------------------------------- the claims ledger

#: Column headings of the ledger table (index page and PDF).
LEDGER_HEADER = ["", "finding (study part)", "published", "this build", "interval", "null model", "verdict"]


def claim_number(c, x) -> str:
    """A figure of finding ``c`` in its unit (shares as percentages)."""
    if x is None:
        return "–"
    if c.unit == "share":
        return pct(x, 2 if abs(x) < 0.01 else 1)
    return fmt(x)


def spread_text(c, spread) -> str:
    """The runs' mean and range of a finding's figure (``c``: anything with a ``unit``)."""
    if spread is None:
        return "–"
    if spread.n == 1:
        return f"{claim_number(c, spread.mean)} (one run)"
    return f"{claim_number(c, spread.mean)} ({claim_number(c, spread.min)} to {claim_number(c, spread.max)})"


def verdict_text(c, across=None) -> str:
    """The verdict in bold (the runs' own verdicts are the chapter Robustness across runs')."""
    return f"**{c.verdict}**"


def null_text(c) -> str:
    """The null model's figure, named, and the row's Holm-adjusted test where it has one."""
    if c.null is None:
        return "–"
    out = f"{claim_number(c, c.null)} ({c.null_label}"
    if c.test:
        out += f"; Holm-adjusted p {p_words(c.test.p_holm)}"
    return out + ")"


def p_words(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"= {p:.2g}"


def ledger_rows(ledger, across=None) -> list[list[str]]:
    """The findings as table rows (:data:`LEDGER_HEADER`; with ``across``, the runs' spread before the verdict)."""
    rows = []
    for i, c in enumerate(ledger.findings, 1):
        o = c.ours
        interval = "–" if o.low is None else f"{claim_number(c, o.low)} to {claim_number(c, o.high)}"
        spread = [spread_text(c, across.row(c.id).spread)] if across else []
        rows.append([str(i), f"{c.claim} ({c.part})", c.published, claim_number(c, o.value), interval, null_text(c),
                     *spread, verdict_text(c, across), *control_columns(across, c)])
    return rows


def ledger_table(ledger, across=None) -> str:
    """The ledger as a MyST table that may break across PDF pages (a LaTeX longtable); with
    ``across`` (several runs) a column gives the runs' mean and range of each figure."""
    if across and across.controls:
        names = [r.name for r in across.controls]
        header = [*LEDGER_HEADER[:-1], f"mean (range) over {len(across.runs)} runs", LEDGER_HEADER[-1],
                  *(f"control {n}: verdict" for n in names)]
        widths = " ".join(["3", "22", "12", "8", "11", "12", "12", "11", *(["9"] * len(names))])
        return (f"```{{table}}\n:class: longtable\n:widths: {widths}\n\n"
                + table(header, ledger_rows(ledger, across), "rlllrlll" + "l" * len(names)) + "\n```")
    if across:
        header = [*LEDGER_HEADER[:-1], f"mean (range) over {len(across.runs)} runs", LEDGER_HEADER[-1]]
        return ("```{table}\n:class: longtable\n:widths: 3 24 13 8 12 13 13 14\n\n"
                + table(header, ledger_rows(ledger, across), "rlllrlll") + "\n```")
    return ("```{table}\n:class: longtable\n:widths: 3 28 15 9 14 15 13\n\n"
            + table(LEDGER_HEADER, ledger_rows(ledger), "rlllrll") + "\n```")


def checks_list(ledger) -> str:
    """The checks under the ledger: identities the data cannot contradict, shown, not counted."""
    return "\n".join(f"- *{c.claim}* ({c.part}): {c.sentence} Result: **{'as published' if c.verdict == 'reproduced' else c.verdict}**."
                      for c in ledger.checks)


def origin_table(details) -> str:
    """The origin under every metric (chapter 4; the decoder chapter shows it again)."""
    O, level = details.origin, details.settings.level
    rows = []
    for m in O.table:
        what = ("held-out points more isolated than the origin" if m.metric == "nearest_real" else
                "held-out points farther from the centre")
        rows.append([m.label + (" (the verdict's metric)" if m.metric == O.verdict_metric else ""),
                     f"{fmt(m.distance)} ({m.unit})", f"{pct(m.share)} {what}",
                     f"{pct(m.low)} to {pct(m.high)}", pct(m.gaussian), m.band])
    return table(["metric", "origin's distance", "share of held-out points", f"{level:.0%} interval",
                  "Gaussian of the data's mean and covariance", "the origin lies"], rows, "lrrrrl")


# --------------------------------------------------------------------------- the runs side by side

def names_text(names) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def run_label(r, across) -> str:
    """A run as the article names it: its name, and the settings of a named variant (a sweep's
    names and the seeds' say it all)."""
    swept = across.sweep_key and list(r.overrides) == [across.sweep_key]
    sets = ", ".join(f"{k} = {v}" for k, v in r.overrides.items())
    return f"{r.name} ({sets})" if sets and not swept else r.name


def runs_table(across) -> str:
    """Every finding with its figure in every run (the primary's first), the runs' mean and range,
    and how the verdicts agree."""
    names = list(across.names)
    header = ["", "finding", *names, "mean (range)", "verdicts"]
    rows = []
    for i, c in enumerate(across.ledger, 1):
        values = [claim_number(c, v.value) + ("" if v.verdict == c.verdict else f" ({v.verdict or 'absent'})")
                  for v in c.runs]
        rows.append([str(i), c.claim, *values, spread_text(c, c.spread), c.sentence])
    widths = " ".join(["3", "27", *(["9"] * len(names)), "13", "22"])
    return (f"```{{table}}\n:class: longtable\n:widths: {widths}\n\n"
            + table(header, rows, "rl" + "r" * len(names) + "rl") + "\n```")


def control_table(across, name: str) -> str:
    """Every finding: the headline figure and verdict, the control ``name``'s, and what changed."""
    rows = []
    for i, c in enumerate(across.ledger, 1):
        h, k = c.headline, c.control(name)
        changed = f"**{h.verdict} → {k.verdict or 'absent'}**" if k.differs else "same verdict"
        rows.append([str(i), c.claim, f"{claim_number(c, h.ours.value)} ({h.verdict})",
                     f"{claim_number(c, k.value)} ({k.verdict or 'absent'})", changed])
    return ("```{table}\n:class: longtable\n:widths: 3 37 20 20 20\n\n"
            + table(["", "finding", "headline (AE)", name, "what changed"], rows, "rlrrl") + "\n```")


def control_columns(across, c) -> list[str]:
    """The index ledger's control cells of finding ``c``: per control, whether its verdict differs."""
    out = []
    for k in (across.row(c.id).controls or ()) if across else ():
        out.append(f"differs: {k.verdict or 'absent'}" if k.differs else "same")
    return out


def grouped_text(values: dict[str, str]) -> str:
    """Runs grouped by a value: ``{"seed0": "a", "seed1": "a", "seed2": "b"}`` gives
    "a in seed0 and seed1, b in seed2"; one value for all gives "a in all 3 runs"."""
    by: dict[str, list[str]] = {}
    for name, v in values.items():
        by.setdefault(v, []).append(name)
    if len(by) == 1 and len(values) > 1:
        (v, names), = by.items()
        return f"{v} in {'both' if len(names) == 2 else f'all {len(names)}'} runs"
    return ", ".join(f"{v} in {names_text(names)}" for v, names in by.items())


def differ_text(across) -> str:
    """The findings whose verdict is not the same in every run, in words (empty when all hold)."""
    return " ".join(f"*{c.claim}* {c.sentence[0].upper()}{c.sentence[1:]}." for c in across.differ)


def ledger_criteria(ledger) -> str:
    """Markdown list: for each finding, what was measured, how its interval was obtained, its null
    model and test, and its rule."""
    out = []
    for i, c in enumerate(ledger.findings, 1):
        parts = [f"{i}. **{c.verdict}**: {c.sentence}", f"   *Measured:* {c.statistic}."]
        if c.b is not None:
            parts.append(f"   *b:* {fmt(c.b)}, the build's one b.")
        if c.interval:
            parts.append(f"   *Interval:* {c.interval}.")
        if c.null is not None:
            parts.append(f"   *Null model:* {c.null_label}: {claim_number(c, c.null)}"
                         + ("; it passes the same rule, as the sentence says." if c.null_passes else "."))
        if c.test:
            parts.append(f"   *Test:* {c.test.method} ({c.test.direction}), p {p_words(c.test.p)}; "
                         f"{c.test.family}: p {p_words(c.test.p_holm)}.")
        parts.append(f"   *Rule:* {c.criterion}.")
        if c.reason:
            parts.append(f"   *Not testable because* {c.reason}.")
        parts += [f"   *Note:* {x}" for x in c.notes]
        out.append("\n".join(parts))
    return "\n\n".join(out)
