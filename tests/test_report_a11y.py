"""Accessibility and layout of the built site, in Chromium from file:// with the network blocked.

* axe-core (the copy shipped in the ``axe-playwright-python`` wheel, injected into the page:
  nothing is fetched) runs the WCAG 2 A and AA rules (tags wcag2a, wcag2aa, wcag21a,
  wcag21aa) on every page of the smoke site, after its charts rendered; any violation fails,
  with the rule, the impact and the elements (CSS targets). ``test_runs.py`` runs the same
  check on the article of a build of several runs (:func:`assert_accessible`). The smoke
  site's pages are checked in their visits (``test_report_browser.page_visits``: each page
  opened once for its rendering, axe-core and layout checks).
* Keyboard: the version switcher moves through the versions with the arrow keys without
  leaving the page and opens the chosen one with Enter; the live decoder's point moves with
  its sliders; charts have a text alternative naming their figures.
* Tables that fit: at 1,400 px the ledger is wider than 60 % of the window and its text
  columns are not squeezed; at 1,400 and 800 px no page is wider than the window (a wide
  table or chart scrolls inside its own box).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from test_report_browser import (ARGS, CHARTS_RENDERED, CHROMIUM, LOCAL, WIDTHS, Axe, axe_violations,  # noqa: F401
                                 browser_session, open_page, page_visits, pytestmark, sync_playwright)

needs_axe = pytest.mark.skipif(Axe is None, reason="axe-playwright-python is missing; run `make setup`")


def site_pages(version_dir: Path) -> list[Path]:
    """Every HTML page of one version of the site (chapters, index, search, general index) and the
    site's own entry page."""
    pages = sorted(version_dir.glob("*.html"))
    entry = version_dir.parent / "index.html"
    return pages + ([entry] if entry.exists() else [])


def _check_pages(context, pages: list[Path], dark: bool = False) -> dict[str, list[str]]:
    found = {}
    for path in pages:
        page = context.new_page()
        if path.name == "index.html" and (path.parent / "versions.js").exists():
            # the site's entry page leads to the newest version at once: checked without its two
            # redirects (the meta refresh and the script), as the page a reader sees without them
            text = re.sub(r'<meta http-equiv="refresh"[^>]*>|<script>window\.location\.replace\([^<]*</script>', "",
                          path.read_text(encoding="utf-8"))
            page.set_content(text)
        else:
            page.goto(path.resolve().as_uri())
        page.wait_for_function(CHARTS_RENDERED, timeout=60_000)
        page.wait_for_load_state("load")
        if dark:  # the theme's dark mode, as its switch sets it
            page.evaluate("document.documentElement.dataset.theme = 'dark'; document.documentElement.dataset.mode = 'dark'")
            page.wait_for_timeout(300)
        lines = axe_violations(page)
        page.close()
        if lines:
            found[path.name if path.parent.name != path.parents[1].name else str(path)] = lines
    return found


def _report(found: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}: {line}" for name, lines in found.items() for line in lines)


def assert_accessible(version_dir: Path) -> None:
    """No WCAG 2 A/AA violation (axe-core) on any page of a built version of the site."""
    if Axe is None or sync_playwright is None:
        pytest.skip("axe-playwright-python or playwright is missing; run `make setup`")
    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(LOCAL) else r.abort())
        found = _check_pages(context, site_pages(version_dir))
        browser.close()
    print(_report(found) or f"axe-core: no WCAG 2 A/AA violation on {len(site_pages(version_dir))} pages")
    assert not found, "WCAG 2 A/AA violations (axe-core):\n" + _report(found)


# --------------------------------------------------------------------------- axe-core on every page

@needs_axe
@pytest.mark.case("axe-core's WCAG 2 A and AA rules on every page of the built site (Chromium, file://, offline)",
                  "no violation: every page, chart, link and control passes; a violation fails naming the rule "
                  "and the element")
def test_no_wcag_a_or_aa_violation_on_any_page(browser_session):
    d = browser_session["report"]["dir"]
    pages = site_pages(d)
    assert len(pages) >= 11, pages
    visits = page_visits(browser_session)  # each page of the version, as its visit found it
    assert sorted(visits) == sorted(p.stem for p in pages if p.parent == d), (sorted(visits), pages)
    found = {f"{name}.html": visit["axe"] for name, visit in visits.items() if visit["axe"]}
    found.update(_check_pages(browser_session["context"], [p for p in pages if p.parent != d]))  # the site's entry
    print(_report(found) or f"axe-core: no WCAG 2 A/AA violation on {len(pages)} pages")
    assert not found, "WCAG 2 A/AA violations (axe-core):\n" + _report(found)
    dark = _check_pages(browser_session["context"], [d / "index.html", d / "06-decoder.html"], dark=True)
    assert not dark, "WCAG 2 A/AA violations in the dark mode (axe-core):\n" + _report(dark)
    assert not browser_session["external"], browser_session["external"]
    assert not [v["external"] for v in visits.values() if v["external"]]


@needs_axe
def test_axe_check_finds_a_violation_when_there_is_one(browser_session, tmp_path):
    """The check can fail: a page with a low-contrast link and an unlabelled control is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html lang="en"><head><title>bad</title></head><body><main>'
                   '<p style="background:#f3f4f5"><a href="#" style="color:#9aa5b1">PDF</a></p>'
                   '<input type="range"><svg role="img" width="10" height="10"></svg></main></body></html>')
    page = browser_session["context"].new_page()
    page.goto(bad.as_uri())
    lines = axe_violations(page)
    page.close()
    rules = {line.split(" ")[0] for line in lines}
    assert {"color-contrast", "label", "svg-img-alt"} <= rules, lines


def test_charts_have_text_alternatives_with_their_numbers(browser_session):
    page, problems = open_page(browser_session, "01-setup")
    names = page.evaluate("() => Array.from(document.querySelectorAll('.flg-chart')).map(e => "
                          "[e.dataset.chart, e.getAttribute('aria-label') || ''])")
    page.close()
    assert names and not problems, (names, problems)
    for chart, label in names:
        assert label != "Vega visualization" and len(label) > 40, (chart, label)
    training = dict(names)["training"]
    assert "epoch from 1 to" in training, training


# --------------------------------------------------------------------------- keyboard

@pytest.mark.case("a chart wider than its column, after the window was made wider, narrower and wide again",
                  "its box scrolls and takes the keyboard focus (tabindex 0); a box that does not scroll does not")
def test_a_scrolling_chart_box_takes_the_focus_after_the_window_changed_size(browser_session):
    boxes = [dict(b, page=name) for name, visit in page_visits(browser_session).items() for b in visit["boxes"]]
    assert any(b["scrolls"] for b in boxes), "no chart scrolls in its box at 1280 px: the check checks nothing"
    for b in boxes:
        assert (b["tabindex"] == "0") == b["scrolls"], b


def test_version_switcher_works_from_the_keyboard(browser_session):
    page, problems = open_page(browser_session, "01-setup")
    start = page.url
    page.focus("#flg-version-select")
    page.keyboard.press("ArrowDown")
    page.wait_for_timeout(400)
    assert page.url == start, "an arrow key in the version list left the page"
    chosen = page.evaluate("() => document.getElementById('flg-version-select').value")
    assert chosen != browser_session["report"]["label"], chosen
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "flg-version-go"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/{chosen}/index.html"), page.url
    page.close()
    assert not problems, problems


def test_live_decoder_moves_with_its_sliders(browser_session):
    page, problems = open_page(browser_session, "04-origin")
    box = page.locator("[data-chart=projection-explorer]")
    box.scroll_into_view_if_needed()
    panel = "document.querySelector(`[data-decoder-for=${document.querySelector('[data-chart=projection-explorer]').id}]`)"
    before = page.evaluate(f"() => {{ const b = {panel}; return {{xy: b.dataset.xy, draws: +b.dataset.draws}}; }}")
    label = page.evaluate(f"() => {panel}.querySelector('input[data-axis=x]').labels[0].textContent")
    assert label.startswith("z["), label
    cid = page.evaluate("() => document.querySelector('[data-chart=projection-explorer]').id")
    page.focus(f"#{cid}-decoder-x")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    after = page.evaluate(f"() => {{ const b = {panel}; return {{xy: b.dataset.xy, draws: +b.dataset.draws, "
                          f"text: b.querySelector('.flg-decoder-readout').textContent}}; }}")
    assert after["xy"] and after["xy"] != before["xy"] and after["draws"] > before["draws"], (before, after)
    assert "z[" in after["text"], after
    page.close()
    assert not problems, problems


# --------------------------------------------------------------------------- tables that fit

@pytest.mark.case("the ledger and the other tables at window widths of 1,400 and 800 pixels",
                  "at 1,400 px the ledger is wider than 60 % of the window and no text column narrower than 70 px; "
                  "at both widths no page is wider than the window")
def test_tables_use_the_page_and_nothing_overflows(browser_session):
    from test_report import CHAPTERS
    assert WIDTHS == (1400, 800)
    for name in ["index"] + CHAPTERS:
        visit = page_visits(browser_session)[name]  # the layout at each width (screenshots: layout-NAME-WIDTH.png)
        for width in WIDTHS:
            lay = visit["layout"][width]
            assert lay["window"] == width, (name, lay["window"])
            assert lay["page"] <= lay["window"], (name, width, lay["page"])
            if name == "index" and width == 1400:
                ledger = max(lay["tables"], key=lambda t: t["cols"])
                assert ledger["cols"] >= 7 and ledger["width"] > 0.6 * width, (ledger, width)
                assert min(ledger["text"]) >= 70, ledger
        assert not visit["problems"], visit["problems"]
