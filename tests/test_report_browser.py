"""The smoke site in a real browser: headless Chromium, network blocked, pages from file://.

Every chart must render (Vega produced an svg or canvas), no page may log a console
error, no request may leave the machine; the slice explorer's count must follow its
sliders, and a click in the slice atlas must load the pair into the explorers. The live
decoder (``window.flgDecode``) must give PyTorch's images, the explorers' panels must decode
the point under the pointer, and the path explorer the point at the dragged position.
Screenshots go to the test's temporary directory (their paths are printed).

Opening a page renders all its charts again, the costliest browser work of the suite. The
checks of every page (it renders, ``test_report_a11y``'s axe-core and layout checks) read one
visit of each page, made once per test process (:func:`page_visits`).
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
try:
    from axe_playwright_python.sync_playwright import Axe
except ImportError:  # pragma: no cover
    Axe = None

pytestmark = pytest.mark.skipif(sync_playwright is None or not (CHROMIUM.exists() or shutil.which("chromium")),
                                reason="Chromium (/usr/bin/chromium) or the playwright package is missing; "
                                       "run `make setup`")

LOCAL = ("file:", "data:", "blob:", "about:", "http://localhost", "http://127.0.0.1", "https://localhost")
#: The rules axe-core runs: WCAG 2.0 and 2.1, levels A and AA (axe-core's tags).
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: No preload: from file:// axe-core's fetch of the style sheets (its CSSOM, for css-orientation-lock) fails
#: anyway, logging console errors that are not the page's; without it the rule is as incomplete as with it.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"], "preload": False}
CHARTS_RENDERED = ("() => Array.from(document.querySelectorAll('.flg-chart'))"
                   ".every(e => e.hasAttribute('data-rendered'))")
#: Resolves once the charts' boxes kept their sizes for ten frames (the theme's column moves for a while after a
#: resize), by when their ResizeObservers have run.
CHARTS_SETTLED = """() => new Promise(done => {
    let last = null, same = 0;
    const step = () => {
        const now = Array.from(document.querySelectorAll('.flg-chart')).map(e => e.clientWidth + ':' + e.scrollWidth).join();
        same = now === last ? same + 1 : 0;
        last = now;
        if (same >= 10) done(); else requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
})"""
#: The browser's window (px), and the widths at which every article page's layout is measured (``test_report_a11y``).
VIEWPORT = {"width": 1280, "height": 900}
WIDTHS = (1400, 800)


@pytest.fixture(scope="module")
def browser_session(tmp_path_factory):
    r = built_report(tmp_path_factory)
    shots = tmp_path_factory.mktemp("screenshots")
    with sync_playwright() as p:
        exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        context = browser.new_context(viewport=VIEWPORT)
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
    page.wait_for_function(CHARTS_RENDERED, timeout=60_000)
    return page, problems


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page, one line per element: rule (impact): target."""
    result = Axe().run(page, options=AXE_OPTIONS).response
    return [f"{v['id']} ({v['impact']}): {', '.join(map(str, n['target']))} -- {v['help']}"
            for v in result["violations"] for n in v["nodes"]]


def page_layout(page) -> dict:
    """The window's width, the page's (scroll) width and each article table's columns and widths."""
    return page.evaluate("""() => {
        const tables = Array.from(document.querySelectorAll('article table')).map(t => {
            const r = t.getBoundingClientRect(), head = Array.from(t.rows[0].cells);
            return {cols: head.length, width: r.width, left: r.left, right: r.right,
                    text: head.slice(1).map(c => c.getBoundingClientRect().width)}; });
        return {window: window.innerWidth, page: document.documentElement.scrollWidth, tables}; }""")


# --------------------------------------------------------------------------- every page, visited once

_VISITS: dict[str, dict] = {}


def page_visits(s) -> dict[str, dict]:
    """Every page of a version of the smoke site (chapters, index, search, general index), opened once in
    this test process and shared by the checks of every page; by page name (``01-setup``).

    A visit waits for every chart, then records the charts' state, the version list, a full-page
    screenshot, axe-core's violations (None without axe; in the :data:`VIEWPORT`, as the page opened), the
    layout at each of :data:`WIDTHS` (with a screenshot each) and, in the :data:`VIEWPORT` again, whether
    each chart's box scrolls and takes the focus; and the problems the page logged and the requests that
    left the machine while it was open."""
    if not _VISITS:
        pages = sorted(s["report"]["dir"].glob("*.html"))
        _VISITS.update({p.stem: _visit(s, p.stem) for p in pages})  # all or nothing: a failed visit raises
    return _VISITS


def _visit(s, name: str) -> dict:
    sent = len(s["external"])
    page, problems = open_page(s, name)
    page.wait_for_load_state("load")
    charts = page.evaluate("""() => Array.from(document.querySelectorAll('.flg-chart')).map(e => ({
        name: e.dataset.chart, state: e.getAttribute('data-rendered'), drawn: !!e.querySelector('svg, canvas')}))""")
    options = page.evaluate("() => Array.from(document.querySelectorAll('#flg-version-select option')).map(o => o.value)")
    page.screenshot(path=str(s["shots"] / f"{name}.png"), full_page=True)
    axe = axe_violations(page) if Axe is not None else None
    layout = {}
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(200)
        layout[width] = page_layout(page)
        page.screenshot(path=str(s["shots"] / f"layout-{name}-{width}.png"), full_page=False)
    page.set_viewport_size(VIEWPORT)
    page.evaluate(CHARTS_SETTLED)
    boxes = page.evaluate("() => Array.from(document.querySelectorAll('.flg-chart')).map(e => ({id: e.id, "
                          "scrolls: e.scrollWidth > e.clientWidth + 1, tabindex: e.getAttribute('tabindex')}))")
    page.close()
    return {"charts": charts, "options": options, "axe": axe, "layout": layout, "boxes": boxes,
            "problems": list(problems), "external": s["external"][sent:], "screenshot": str(s["shots"] / f"{name}.png")}


@pytest.mark.parametrize("name", ["index"] + CHAPTERS)
@pytest.mark.case("the built site opened in Chromium from file:// with the network blocked",
                  "every chart renders, no console error, no request leaves the machine")
def test_page_renders_offline_without_errors(browser_session, name):
    visit = page_visits(browser_session)[name]
    print(f"screenshot: {visit['screenshot']}")
    for c in visit["charts"]:
        assert c["state"] == "1" and c["drawn"], (name, c)
    if name in ("02-components", "03-correlations", "04-origin"):
        assert visit["charts"], f"{name} shows no interactive chart"
    options = visit["options"]
    assert browser_session["report"]["label"] in options and len(options) >= 2, options
    assert not visit["problems"], visit["problems"]
    assert not visit["external"], visit["external"]


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


# --------------------------------------------------------------------------- the live decoder

def _smoke_model(r):
    from analysis.pipeline.config import load_config
    from analysis.pipeline.model import load_checkpoint
    model, _ = load_checkpoint(r["run"] / "train" / "model.pt", load_config(r["run"] / "config.toml"))
    return model


@pytest.mark.case("the live decoder in the page (Chromium, from file://) against PyTorch",
                  "flgDecode gives the model's images to a max abs difference <= 1e-4 on 24 latent vectors "
                  "(inside, outside and far from the cloud)")
def test_flgdecode_matches_torch(browser_session):
    import numpy as np
    import torch

    r = browser_session["report"]
    model = _smoke_model(r)
    z = np.asarray(np.load(r["run"] / "latents.npy"), dtype=np.float32)
    rng = np.random.default_rng(0)
    N = z.shape[1]
    zs = np.vstack([z[:8], z.mean(axis=0) + 3 * z.std(axis=0) * rng.normal(size=(8, N)),
                    20 * rng.normal(size=(6, N)), np.zeros((1, N)), z.mean(axis=0)[None]]).astype(np.float32)
    assert len(zs) >= 20
    page, problems = open_page(browser_session, "06-decoder")
    got = np.array(page.evaluate("zs => zs.map(z => Array.from(flgDecode(Float32Array.from(z))))", zs.tolist()))
    info = page.evaluate("flgDecode.info()")
    with torch.no_grad():
        want = model.decode(torch.from_numpy(zs)).numpy().reshape(len(zs), -1)
    page.close()
    assert info["latentDim"] == N and got.shape == want.shape
    diff = float(np.abs(got - want).max())
    print(f"flgDecode vs torch on {len(zs)} vectors: max abs difference {diff:.2e}")
    assert diff <= 1e-4, diff
    assert not problems, problems


def _view_point(page, chart: str, x: float, y: float) -> dict:
    """Page coordinates of the data point (x, y) in the chart's plot."""
    return page.evaluate("""([chart, x, y]) => {
        const el = document.querySelector(`[data-chart=${chart}]`);
        const view = FLG.views[el.id], c = el.querySelector('canvas, svg').getBoundingClientRect();
        const o = view.origin(), p = view.padding();
        return {x: c.left + p.left + o[0] + view.scale('x')(x), y: c.top + p.top + o[1] + view.scale('y')(y)}; }""",
                         [chart, x, y])


def _panel(page, chart: str) -> dict:
    return page.evaluate("""chart => { const id = document.querySelector(`[data-chart=${chart}]`).id;
        const b = document.querySelector(`[data-decoder-for=${id}]`);
        return {xy: b.dataset.xy, j: b.dataset.j, draws: +b.dataset.draws, anchor: b.dataset.anchor, t: b.dataset.t,
                path: b.dataset.path, text: b.querySelector('.flg-decoder-readout').textContent,
                pixels: Array.from(b.querySelector('canvas').getContext('2d').getImageData(0, 0, 40, 40).data)
                  .reduce((a, v) => a + v, 0)}; }""", chart)


@pytest.mark.parametrize("chart", ["projection-explorer", "slice-explorer"])
def test_explorers_decode_the_point_under_the_pointer(browser_session, chart):
    page, problems = open_page(browser_session, "04-origin")
    page.locator(f"[data-chart={chart}]").scroll_into_view_if_needed()
    before = _panel(page, chart)
    assert before["draws"] >= 1 and "Move the pointer" in before["text"]
    pt = _view_point(page, chart, 0.0, 0.0)  # the origin of the (j1, j2) plane
    page.mouse.move(pt["x"], pt["y"])
    page.wait_for_timeout(300)
    at = _panel(page, chart)
    x, y = (float(v) for v in at["xy"].split(","))
    dx, dy = page.evaluate("c => ['x', 'y'].map(s => FLG.views[document.querySelector(`[data-chart=${c}]`).id]"
                           ".scale(s).domain())", chart)
    assert abs(x) < 0.02 * (dx[1] - dx[0]) and abs(y) < 0.02 * (dy[1] - dy[0]), at
    j1, j2 = (int(v) for v in at["j"].split(","))
    assert f"z[{j1}] = " in at["text"] and at["draws"] > before["draws"]
    # the panel shows flgDecode of the anchor with z[j1], z[j2] from the pointer
    same = page.evaluate("""([chart, j1, j2, x, y]) => {
        const id = document.querySelector(`[data-chart=${chart}]`).id;
        const box = document.querySelector(`[data-decoder-for=${id}]`), canvas = box.querySelector('canvas');
        const p = FLG.raw.decoder_anchors, N = p.N, rows = atob(p.z), bytes = new Uint8Array(rows.length);
        for (let i = 0; i < rows.length; i++) bytes[i] = rows.charCodeAt(i);
        const a = new Float32Array(bytes.buffer).slice(0, N); a[j1] = x; a[j2] = y;
        const img = flgDecode(a), S = flgDecode.info().imageSize, k = canvas.width / S;
        const d = canvas.getContext('2d').getImageData(Math.floor(k / 2), Math.floor(k / 2), 1, 1).data[0];
        return [Math.round(img[0] * 255), d]; }""", [chart, j1, j2, x, y])
    assert abs(same[0] - same[1]) <= 1, same
    # another anchor (a real point) changes the image
    page.select_option(f"[data-decoder-for={_panel_id(page, chart)}] select", index=2)
    page.wait_for_timeout(300)
    other = _panel(page, chart)
    assert other["anchor"] == "2" and other["pixels"] != at["pixels"] and "real point" in other["text"]
    # moving the j2 slider re-decodes with the new pair
    _set_slider(page, chart, "j2", 1)
    assert _panel(page, chart)["j"].endswith(",1")
    page.close()
    assert not problems, problems


def _panel_id(page, chart):
    return page.evaluate("c => document.querySelector(`[data-chart=${c}]`).id", chart)


def test_path_explorer_decodes_along_the_dragged_path(browser_session):
    page, problems = open_page(browser_session, "06-decoder")
    el = page.locator("[data-chart=path-explorer]")
    el.scroll_into_view_if_needed()
    start = _panel(page, "path-explorer")
    assert start["t"] == "0" and start["path"] == "0"
    _set_slider(page, "path-explorer", "t", 1)
    end = _panel(page, "path-explorer")
    assert end["t"] == "1" and end["pixels"] != start["pixels"]
    page.select_option("[data-chart=path-explorer] select[name=path]", index=3)  # a ray out of the cloud
    page.wait_for_timeout(300)
    ray = _panel(page, "path-explorer")
    assert ray["path"] == "3" and "centre → out" in ray["text"]
    # drag on the chart from t = 0.2 to t = 0.7
    a, b = _view_point(page, "path-explorer", 0.2, 1.0), _view_point(page, "path-explorer", 0.7, 1.0)
    page.mouse.move(a["x"], a["y"])
    page.mouse.down()
    page.mouse.move(b["x"], b["y"], steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    dragged = _panel(page, "path-explorer")
    assert abs(float(dragged["t"]) - 0.7) < 0.03, dragged
    slider = page.evaluate("() => +document.querySelector('[data-chart=path-explorer] input[name=t]').value")
    assert abs(slider - float(dragged["t"])) < 0.01
    el.screenshot(path=str(browser_session["shots"] / "path-explorer.png"))
    page.close()
    assert not problems, problems
