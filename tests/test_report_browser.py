"""The smoke site in a real browser: headless Chromium, network blocked, pages from file://.

Every chart must render (Vega produced an svg or canvas), no page may log a console
error, no request may leave the machine; the slice explorer's count must follow its
sliders, and a click in the slice atlas must load the pair into the explorers.
Screenshots go to the test's temporary directory (their paths are printed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from test_report import CHAPTERS, built_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None

pytestmark = pytest.mark.skipif(sync_playwright is None or not (CHROMIUM.exists() or shutil.which("chromium")),
                                reason="Chromium (/usr/bin/chromium) or the playwright package is missing; "
                                       "run `make setup`")

LOCAL = ("file:", "data:", "blob:", "about:", "http://localhost", "http://127.0.0.1", "https://localhost")


@pytest.fixture(scope="module")
def browser_session(tmp_path_factory):
    r = built_report(tmp_path_factory)
    shots = tmp_path_factory.mktemp("screenshots")
    with sync_playwright() as p:
        exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        external: list[str] = []

        def guard(route):
            url = route.request.url
            if url.startswith(LOCAL):
                route.continue_()
            else:
                external.append(url)
                route.abort()
        context.route("**/*", guard)
        yield {"report": r, "context": context, "external": external, "shots": shots}
        browser.close()
    assert not external, f"requests left the machine: {external}"


def open_page(s, name: str):
    page = s["context"].new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}")
            if req.url.startswith("file:") else None)
    page.goto((s["report"]["dir"] / f"{name}.html").resolve().as_uri())
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.flg-chart')).every(e => e.hasAttribute('data-rendered'))",
        timeout=60_000)
    return page, problems


@pytest.mark.parametrize("name", ["index"] + CHAPTERS)
@pytest.mark.case("the built site opened in Chromium from file:// with the network blocked",
                  "every chart renders, no console error, no request leaves the machine")
def test_page_renders_offline_without_errors(browser_session, name):
    page, problems = open_page(browser_session, name)
    charts = page.evaluate("""() => Array.from(document.querySelectorAll('.flg-chart')).map(e => ({
        name: e.dataset.chart, state: e.getAttribute('data-rendered'),
        drawn: !!e.querySelector('svg, canvas')}))""")
    for c in charts:
        assert c["state"] == "1" and c["drawn"], (name, c)
    if name in ("02-components", "03-correlations", "04-origin"):
        assert charts, f"{name} shows no interactive chart"
    options = page.evaluate("() => Array.from(document.querySelectorAll('#flg-version-select option'))"
                            ".map(o => o.value)")
    assert browser_session["report"]["label"] in options and len(options) >= 2, options
    page.screenshot(path=str(browser_session["shots"] / f"{name}.png"), full_page=True)
    page.close()
    assert not problems, problems
    assert not browser_session["external"], browser_session["external"]


def _live(page):
    return page.evaluate("() => { const e = document.querySelector('.flg-live'); "
                         "return {count: e.getAttribute('data-count'), pair: e.getAttribute('data-pair'), "
                         "text: e.textContent}; }")


def _svg_count_text(page):
    return page.evaluate("() => Array.from(document.querySelectorAll('[data-chart=slice-explorer] svg text'))"
                         ".map(t => t.textContent).find(t => t.includes('sample points in the slice'))")


def _set_slider(page, chart: str, signal: str, value):
    page.evaluate("""([chart, signal, value]) => {
        const input = document.querySelector(`[data-chart=${chart}] input[name=${signal}]`);
        input.value = value; input.dispatchEvent(new Event('input', {bubbles: true}));
        input.dispatchEvent(new Event('change', {bubbles: true}));}""", [chart, signal, value])
    page.wait_for_timeout(400)


def test_slice_explorer_count_follows_the_sliders(browser_session):
    page, problems = open_page(browser_session, "04-origin")
    el = page.locator("[data-chart=slice-explorer]")
    el.scroll_into_view_if_needed()
    shots = browser_session["shots"]
    el.screenshot(path=str(shots / "slice-explorer-before.png"))
    before, svg_before = _live(page), _svg_count_text(page)
    assert before["count"] is not None and svg_before and svg_before.startswith(before["count"] + " of ")
    b_min = page.evaluate("() => document.querySelector('[data-chart=slice-explorer] input[name=b]').min")
    _set_slider(page, "slice-explorer", "b", b_min)
    after, svg_after = _live(page), _svg_count_text(page)
    el.screenshot(path=str(shots / "slice-explorer-after.png"))
    print(f"slice explorer screenshots: {shots}/slice-explorer-before.png, -after.png")
    assert after["count"] != before["count"], (before, after)
    assert svg_after.startswith(after["count"] + " of "), (svg_after, after)
    # moving j2 changes the pair shown and is consistent with the rule
    _set_slider(page, "slice-explorer", "j2", 2)
    assert _live(page)["pair"].endswith(",2")
    page.close()
    assert not problems, problems


def test_atlas_click_loads_the_pair_into_the_explorers(browser_session):
    page, problems = open_page(browser_session, "04-origin")
    atlas = page.locator("[data-chart=slice-atlas] canvas")
    atlas.scroll_into_view_if_needed()
    box = atlas.bounding_box()
    before = _live(page)["pair"]
    # click inside the heatmap, away from the diagonal, until a cell is hit
    for fx, fy in ((0.25, 0.75), (0.3, 0.6), (0.6, 0.3), (0.2, 0.5)):
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        page.wait_for_timeout(400)
        after = _live(page)["pair"]
        if after != before:
            break
    assert after != before, "a click on the atlas did not change the explorers' pair"
    j1, j2 = page.evaluate("() => { const v = FLG.views; const id = Object.keys(v).find(k => "
                           "document.getElementById(k).dataset.chart === 'projection-explorer'); "
                           "return [v[id].signal('j1'), v[id].signal('j2')]; }")
    assert f"{j1},{j2}" == after
    page.screenshot(path=str(browser_session["shots"] / "atlas-click.png"), full_page=False)
    page.close()
    assert not problems, problems
