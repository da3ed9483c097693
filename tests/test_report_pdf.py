"""The PDF of the article: version, chapter titles, figures, metadata, page count.

The PDF checked is the hostile-strings site's (:mod:`test_report_reliability`: the smoke pipeline on a
folder with markup in its name, a title, authors and run name full of TeX and HTML syntax): the suite
builds one PDF, and these checks hold for it as for any. Skipped, with the reason shown, only where TeX
Live or poppler-utils is missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from test_report import CHAPTERS, REPORT, has_tex, meta
from test_report_reliability import hostile  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(not has_tex() or shutil.which("pdftotext") is None,
                                reason="TeX Live (latexmk, pdflatex) or poppler-utils (pdftotext) is not installed; "
                                       "run `make setup`")


@pytest.fixture(scope="session")
def pdf(hostile):
    r = {**hostile, "label": hostile["meta"]["label"]}
    assert "pdf" in r["formats"]
    path = r["dir"] / f"{meta.SLUG}-{r['label']}.pdf"
    assert path.is_file(), "the PDF was not copied into the version directory"
    return path, r


def _text(path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", out)


def test_pdf_has_version_and_every_chapter_title(pdf):
    path, r = pdf
    text = _text(path)
    m = r["meta"]
    assert f"Version {m['label']}" in text
    assert m["date"] in text and m["commit"] in text
    for ch in CHAPTERS:
        title = next(line[2:].strip() for line in (REPORT / f"{ch}.md").read_text().splitlines()
                     if line.startswith("# "))
        title = title.replace("'", "’")
        assert title in text or title.replace("’", "'") in text, title


def test_pdf_metadata_and_page_count(pdf):
    path, r = pdf
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    fields = dict(re.findall(r"^(\w[\w ]*?):\s+(.*)$", info, flags=re.M))
    assert r["label"] in fields.get("Title", ""), fields
    assert meta.one_line(r["meta"]["title"]) in fields.get("Title", "")
    assert r["label"] in fields.get("Subject", "") and r["meta"]["commit"] in fields.get("Subject", ""), fields
    assert r["meta"]["authors"][0] in fields.get("Author", "")
    pages = int(fields["Pages"])
    assert 12 <= pages <= 80, pages


def test_our_own_text_uses_only_characters_the_fonts_have(pdf):
    """The build warns of characters the PDF's fonts cannot show: here only the two CJK characters of
    the hostile strings, none of the chapters' or diagrams' own."""
    _, r = pdf
    warned = [line for line in r["stderr"].splitlines() if "fonts cannot show" in line]
    assert len(warned) == 1, r["stderr"][-2000:]
    assert sorted(re.findall(r"\(U\+([0-9A-F]+)\)", warned[0])) == ["5B57", "6F22"], warned


def test_pdf_has_the_figures(pdf):
    path, _ = pdf
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    images = [line for line in out.splitlines()[2:] if line.strip()]
    # every chapter with results has figures; the smoke report has at least 15 (charts and scatters)
    assert len(images) >= 15, out
    big = [line for line in images if int(line.split()[3]) >= 300]  # width in pixels
    assert len(big) >= 10, out


def test_pdf_shows_the_decoded_planes_and_paths(pdf):
    """The decoder chapter's static figures: the decoded planes, the measures along the paths and
    the image strips, each on the page of its caption."""
    path, _ = pdf
    pages = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    captions = ("Decoded planes of the pairs shown in chapter 4", "Along each path: the distance to the data",
                "The decoded images along each path")
    for caption in captions:
        where = [i + 1 for i, text in enumerate(pages) if caption in re.sub(r"\s+", " ", text)]
        assert where, f"no page has the caption {caption!r}"
        out = subprocess.run(["pdfimages", "-list", "-f", str(where[0]), "-l", str(where[0]), str(path)],
                             capture_output=True, text=True, check=True).stdout
        widths = [int(line.split()[3]) for line in out.splitlines()[2:] if line.strip() and line.split()[2] == "image"]
        assert any(w >= 300 for w in widths), (caption, out)
