"""Issue 7: interruption, determinism, concurrency, full disks, offline runs, safe loading.

Each test carries a ``case`` marker; the README's reliability table is generated from
these markers (``make reliability-table``) and checked against them by
``test_readme_reliability_table_is_current``.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from analysis.pipeline.provenance import HASH_CACHE, read_manifest
from conftest import ROOT, SMOKE, assert_user_error, built_once, run_cli

ENV = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
BIG = ["--set", "data.synthetic_count=20000"]  # enough images that a step can be caught mid-way


BOOKKEEPING = (".lock", HASH_CACHE)  # the lock and the stat->sha256 cache are not artifacts


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in BOOKKEEPING}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()`` holds; False if it finished first."""
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if ready():
            proc.kill()
            proc.wait()
            return True
        time.sleep(0.005)
    proc.wait()
    return False


@pytest.fixture(scope="module")
def big_run(tmp_path_factory, smoke_run):
    """20,000 small synthetic images with the smoke model adopted (no training); built once per session
    (shared by the workers), read only: tests copy it."""
    def build(directory: Path) -> dict:
        out = directory / "run"
        args = ["--config", str(SMOKE), "--out", str(out), *BIG]
        assert run_cli("fetch", *args, fresh=True).returncode == 0  # shared: no test's patches
        assert run_cli("train", *args, "--checkpoint", str(smoke_run / "train" / "model.pt"), fresh=True).returncode == 0
        return {"run": str(out)}
    return Path(built_once(tmp_path_factory, "big", build)["run"])


@pytest.mark.case("kill -9 during encoding", "no latents.npy or manifest is left; the re-run encodes again and "
                  "gives byte-identical latents")
def test_kill_during_encoding(big_run, tmp_path):
    ref = tmp_path / "ref"
    shutil.copytree(big_run, ref)
    assert run_cli("encode", "--config", str(SMOKE), "--out", str(ref), *BIG).returncode == 0
    run = tmp_path / "run"
    shutil.copytree(big_run, run)
    proc = start("encode", "--config", str(SMOKE), "--out", str(run), *BIG)
    assert kill_when(proc, lambda: any(run.glob(".latents.npy.*.tmp"))), "encode finished before the kill"
    assert not (run / "latents.npy").exists() and read_manifest(run, "encode") is None
    p = run_cli("encode", "--config", str(SMOKE), "--out", str(run), *BIG)
    assert p.returncode == 0, p.stderr
    assert not list(run.rglob("*.tmp"))
    assert tree_hashes(run)["latents.npy"] == tree_hashes(ref)["latents.npy"]


@pytest.mark.case("kill -9 during stats (several moments)", "outputs are old-and-complete or absent, never partial; "
                  "the re-run gives byte-identical stats")
def test_kill_during_stats(smoke_run, tmp_path):
    ref = tmp_path / "ref"
    shutil.copytree(smoke_run, ref)
    assert run_cli("stats", "--config", str(SMOKE), "--out", str(ref)).returncode == 0
    want = {k: v for k, v in tree_hashes(ref).items() if k.startswith("stats")}
    for delay in (0.4, 1.2, 2.2):
        run = tmp_path / f"run{delay}"
        shutil.copytree(smoke_run, run)
        proc = start("stats", "--config", str(SMOKE), "--out", str(run))
        t0 = time.time()
        kill_when(proc, lambda: time.time() - t0 > delay)
        if read_manifest(run, "stats") is None:  # interrupted: nothing may pretend to be finished
            p = run_cli("generate", "--config", str(SMOKE), "--out", str(run))
            assert_user_error(p, "stats")
        for f in run.glob("stats/*"):
            if not f.name.startswith("."):
                assert f.stat().st_size > 0
        assert run_cli("stats", "--config", str(SMOKE), "--out", str(run)).returncode == 0
        got = {k: v for k, v in tree_hashes(run).items() if k.startswith("stats")}
        assert got == want, delay


@pytest.mark.case("kill -9 during fetch", "the re-run rebuilds the image cache; identical images")
def test_kill_during_fetch(tmp_path):
    run = tmp_path / "run"
    proc = start("fetch", "--config", str(SMOKE), "--out", str(run), *BIG)
    assert kill_when(proc, lambda: any(run.glob("data/.images.npy.*.tmp")))
    assert not (run / "data" / "images.npy").exists()
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(run), *BIG).returncode == 0
    ref = tmp_path / "ref"
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(ref), *BIG).returncode == 0
    assert tree_hashes(run)["data/images.npy"] == tree_hashes(ref)["data/images.npy"]


def _limited(limit_bytes: int):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return preexec


@pytest.mark.case("full disk (file size limit) while writing the image cache or a checkpoint",
                  "exit 2, 'no space left', no file left behind")
@pytest.mark.parametrize("step", ["fetch", "train"])
def test_full_disk(tmp_path, step):
    run = tmp_path / "run"
    if step == "train":
        assert run_cli("fetch", "--config", str(SMOKE), "--out", str(run)).returncode == 0
    before = tree_hashes(run) if run.exists() else {}
    p = subprocess.run([sys.executable, "-m", "analysis", step, "--config", str(SMOKE), "--out", str(run)],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, preexec_fn=_limited(20_000))
    assert_user_error(p, "no space left")
    after = tree_hashes(run) if run.exists() else {}
    assert after == before


@pytest.mark.case("latents with NaN/inf, or of the wrong shape", "exit 2 naming the latents file; no stats written")
@pytest.mark.parametrize("bad", ["nan", "inf", "1d", "int"])
def test_bad_latents(smoke_run, tmp_path, bad):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    z = np.load(run / "latents.npy")
    if bad == "nan":
        z[3, 2] = np.nan
    elif bad == "inf":
        z[0, 0] = np.inf
    elif bad == "1d":
        z = z.ravel()
    else:
        z = z.astype(np.int64)
    np.save(run / "latents.npy", z)
    p = run_cli("stats", "--config", str(SMOKE), "--out", str(run))
    assert_user_error(p, "latents")
    assert not (run / "stats").exists() and read_manifest(run, "stats") is None


@pytest.mark.case("two runs of the pipeline at once on one output directory",
                  "the second waits for the first (lock); both succeed; artifacts identical to a single run")
def test_concurrent_runs(tmp_path, smoke_run):
    run = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-c",
                               "import sys; from analysis.cli import main, STEPS; "
                               "sys.exit(max(main([s, '--config', sys.argv[1], '--out', sys.argv[2]]) "
                               "for s in ('fetch', 'train', 'encode')))", str(SMOKE), str(run)],
                              cwd=ROOT, env=ENV, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    got, want = tree_hashes(run), tree_hashes(smoke_run)
    for name in ("data/images.npy", "train/model.pt", "latents.npy"):
        assert got[name] == want[name], name


@pytest.mark.case("the pipeline run twice with the same config, and with another seed",
                  "identical artifacts (sha256 of every output); a changed seed changes them")
def test_determinism(tmp_path, smoke_run):
    a = tmp_path / "a"
    for step in ("fetch", "train", "encode", "stats"):
        assert run_cli(step, "--config", str(SMOKE), "--out", str(a)).returncode == 0
    ref = tmp_path / "ref"
    shutil.copytree(smoke_run, ref)
    assert run_cli("stats", "--config", str(SMOKE), "--out", str(ref)).returncode == 0
    ha, hr = tree_hashes(a), tree_hashes(ref)
    volatile = read_manifest(a, "train")["volatile"]
    assert volatile == ["train/timing.json"]  # wall-clock times: the one file allowed to differ
    for name in volatile:
        ha.pop(name), hr.pop(name)
    for step in ("fetch", "train", "encode", "stats"):
        ma, mr = read_manifest(a, step), read_manifest(ref, step)
        assert ma["outputs"] == mr["outputs"], step
    assert ha == hr
    b = tmp_path / "b"
    for step in ("fetch", "train", "encode"):
        assert run_cli(step, "--config", str(SMOKE), "--out", str(b), "--set", "run.seed=1").returncode == 0
    assert tree_hashes(b)["latents.npy"] != ha["latents.npy"]


GUARD = '''
import os, socket
_log = os.environ["NETWORK_LOG"]
def _blocked(self, address, *a, **k):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost"):
            with open(_log, "a") as f:
                f.write(f"{host}\\n")
            raise OSError("network disabled by the test")
    return _orig(self, address, *a, **k)
_orig = socket.socket.connect
socket.socket.connect = _blocked
socket.socket.connect_ex = lambda self, address: _blocked(self, address) or 0
'''


@pytest.mark.case("every step after fetch with the network disabled",
                  "no connection is attempted; the steps succeed offline")
def test_no_downloads_after_fetch(tmp_path, smoke_run):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)
    log = tmp_path / "network.log"
    env = {"PYTHONPATH": f"{guard}{os.pathsep}{ROOT}", "NETWORK_LOG": str(log)}
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("latents.npy", "encode.manifest.json"))
    for step in ("train", "encode", "stats"):
        p = run_cli(step, "--config", str(SMOKE), "--out", str(run), "--force", env=env)
        assert p.returncode == 0, p.stderr[-2000:]
    # the CBCL source with its cache in place downloads nothing either
    cache = tmp_path / "cache" / "cbcl-faces" / "face"
    cache.mkdir(parents=True)
    from PIL import Image
    (cache.parent / "non-face").mkdir()
    for i in range(12):
        Image.fromarray(np.full((19, 19), 20 * i, np.uint8)).save(cache / f"face{i:05d}.pgm")
        Image.fromarray(np.full((19, 19), 10 * i, np.uint8)).save(cache.parent / "non-face" / f"n{i:05d}.pgm")
    from analysis.steps.data import CBCL_ARCHIVE, CBCL_SHA256  # the checksum file that marks the cache as the tool's
    (cache.parent / "SHA256").write_text(f"{CBCL_SHA256}  {CBCL_ARCHIVE}\n12 face images\n12 non-face images\n")
    p = run_cli("fetch", "--config", "configs/default.toml", "--out", str(tmp_path / "cbcl"),
                "--set", f"data.cache_dir={tmp_path / 'cache'}", env=env)
    assert p.returncode == 0, p.stderr
    # the guard really blocks: a direct connection attempt is logged and refused
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 1)"],
                           env=dict(ENV, **env), capture_output=True, text=True)
    assert probe.returncode != 0
    assert log.read_text().splitlines() == ["192.0.2.1"]


@pytest.mark.case("torch.load anywhere in the code", "always weights_only=True (a malicious pickle is refused "
                  "by test_cli_errors::test_malicious_pickle_is_refused_not_executed)")
def test_every_torch_load_is_weights_only():
    calls = []
    for path in list((ROOT / "analysis").rglob("*.py")) + list((ROOT / "report").rglob("*.py")):
        for m in re.finditer(r"torch\.load\((.*?)\)\s*$", path.read_text(), flags=re.M):
            calls.append((path.name, m.group(1)))
    assert calls, "expected torch.load calls in analysis/"
    assert all("weights_only=True" in args for _, args in calls), calls
