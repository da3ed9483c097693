"""The article opens with the claims ledger and says what the ledger says (issue 13).

Uses the smoke report built once per session (``test_report.built_report``), and for the PDF the
hostile-strings site's (``test_report_reliability.hostile``, the suite's one PDF build).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from analysis.artifacts import Run
from test_artifacts import all_fields_conform
from test_report import built_report, has_tex, meta, page_text
from test_report_reliability import hostile  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return built_report(tmp_path_factory)


def _plain(text: str) -> str:
    """Page text with Sphinx's typographic quotes undone and white space collapsed."""
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"'))


def test_the_ledger_views_have_their_types(built):
    run = Run(built["run"])
    for view in (run.claims_details, run.claims_arrays):
        assert all_fields_conform(view)
    assert len(run.claims.rows) >= 12 and all(all_fields_conform(r) for r in run.claims.rows)
    assert sum(run.claims.counts.values()) == len(run.claims.findings) == len(run.claims.rows) - len(run.claims.checks)
    assert [c.id for c in run.claims.checks] == ["thin_shell"] and all_fields_conform(run.b)


def test_the_index_page_opens_with_the_ledger_and_agrees_with_it(built):
    rows = json.loads((built["run"] / "claims" / "claims.json").read_text())
    text = _plain(page_text(built["dir"] / "index.html"))
    start, end = text.index("The findings at a glance"), text.index("Reading this article")
    assert start < end
    ledger = text[start:end]
    for r in rows:
        assert r["claim"] in ledger and r["verdict"] in ledger, r["id"]
        assert r["sentence"] in ledger, r["id"]  # the criteria list repeats each sentence
    counts = {v: sum(r["verdict"] == v for r in rows if r["kind"] == "finding") for v in ("reproduced", "partly")}
    assert f"{counts['reproduced']} reproduced, {counts['partly']} partly" in ledger


def test_chapters_print_the_ledgers_sentences(built):
    rows = json.loads((built["run"] / "claims" / "claims.json").read_text())
    for r in rows:
        text = _plain(page_text(built["dir"] / f"{r['chapter']}.html"))
        assert r["sentence"] in text, (r["id"], r["chapter"])


@pytest.mark.skipif(not has_tex() or shutil.which("pdftotext") is None, reason="TeX Live or poppler-utils missing")
def test_the_pdf_opens_with_the_ledger(hostile):
    """(The suite's one PDF: the hostile-strings site's, the smoke pipeline on another folder.)"""
    pdf = hostile["dir"] / f"{meta.SLUG}-{hostile['meta']['label']}.pdf"
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    text = re.sub(r"\s+", " ", out)
    body = text[text.index("The findings at a glance", text.index("The findings at a glance") + 1):]
    first_chapter = body.index("The question and the set-up")
    rows = json.loads((hostile["run"] / "claims" / "claims.json").read_text())
    assert body.index("not testable" if any(r["verdict"] == "not testable" for r in rows) else "reproduced") \
        < first_chapter
    assert body.index("How each verdict was decided") < first_chapter
