"""Issue 11, analysis side: what the tool touches, what values it accepts, what it vouches for.

Every test is a class of defect with several members; each carries a ``case`` marker for
the README's reliability table.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from analysis.pipeline import provenance, storage
from analysis.pipeline.config import load_config
from analysis.pipeline.provenance import read_manifest
from conftest import ROOT, SMOKE, assert_user_error, run_cli

ENV = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


def snapshot(root: Path) -> dict:
    """Every path under ``root`` (hidden ones included) with its content hash."""
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    """The smoke run with every step done (``test_report.smoke_run``, built once per session; the tests
    change copies of it)."""
    from test_report import smoke_run as report_run
    return report_run(tmp_path_factory)


def user_directory(root: Path) -> Path:
    """A directory a user might pass as --out by mistake: their files, hidden .tmp files included."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "notes.txt").write_text("mine")
    (root / ".draft.tmp").write_text("an editor's temporary file")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / ".swap.tmp").write_text("not ours either")
    (root / "data" / ".images.npy.12345.tmp").write_text("looks like an old temporary name, but is not ours")
    (root / "projects" / "deep").mkdir(parents=True, exist_ok=True)
    (root / "projects" / "deep" / ".x.npy.abc.tmp").write_text("deep down")
    (root / "empty-dir").mkdir(exist_ok=True)
    return root


# --------------------------------------------------------------------------- 1. never touch what is not ours

@pytest.mark.case("--out pointing at a directory of the user's files (hidden .tmp files included), a run "
                  "failing on bad input in it, or in a new nested directory",
                  "a failing run leaves every file and directory as it was: no .lock, no new directory, "
                  "no file removed; only temporaries named by the tool are ever cleaned, and only in the "
                  "directories it writes")
def test_failed_runs_leave_user_directories_untouched(tmp_path):
    home = user_directory(tmp_path / "home")
    before = snapshot(home)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "bad.png").write_bytes(b"not an image")
    failing = [
        ["fetch", "--set", "data.source=folder", "--set", f"data.path={tmp_path / 'missing'}"],
        ["fetch", "--set", "data.source=folder", "--set", f"data.path={junk}"],  # fails after writing started
        ["train", "--set", "run.device=garbage"],
        ["encode"],                                                             # steps out of order
        ["stats", "--set", "stats.k_sigma=nan"],
    ]
    for args in failing:
        p = run_cli(args[0], "--config", str(SMOKE), "--out", str(home), *args[1:])
        assert_user_error(p)
        assert snapshot(home) == before, args
    nested = tmp_path / "a" / "b" / "c"
    for args in failing[:2]:
        p = run_cli(args[0], "--config", str(SMOKE), "--out", str(nested), *args[1:])
        assert_user_error(p)
        assert not (tmp_path / "a").exists(), args


@pytest.mark.case("stale temporary files after a killed run, next to a user's own .tmp files",
                  "the next run removes only the temporaries the tool names (.NAME.flg-tmp-XXXXXXXX.tmp) in "
                  "the run directory and its data/train/stats/generate folders; the user's files stay; no "
                  ".lock is left after the run")
def test_only_our_temporaries_are_cleaned(tmp_path):
    run = tmp_path / "run"  # a run directory (the tool writes into no one else's: test_reliability3), with a user's files
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(run)).returncode == 0
    run = user_directory(run)
    ours = [run / f".config.toml{storage.TMP_MARKER}abcd_123.tmp", run / "data" / f".images.npy{storage.TMP_MARKER}zz99zz99.tmp"]
    for p in ours:
        p.write_text("left by a killed run")
    theirs = snapshot(run)
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(run))
    assert p.returncode == 0, p.stderr
    after = snapshot(run)
    for name, digest in theirs.items():
        if name not in {q.relative_to(run).as_posix() for q in ours}:
            assert after.get(name) == digest, name
    assert not any(q.exists() for q in ours)
    assert not (run / ".lock").exists()
    assert storage.is_temporary_name(f".latents.npy{storage.TMP_MARKER}a1b2c3d4.tmp")
    assert not storage.is_temporary_name(".latents.npy.a1b2c3d4.tmp") and not storage.is_temporary_name(".draft.tmp")


# --------------------------------------------------------------------------- 3. no path escapes

@pytest.mark.parametrize("name", ["ABS", "../../x", "..", ".", "a/b", "a\\\\b", " ", "x\\u0000y",
                                  "n" * 300, "tab\\there"])
@pytest.mark.case("run.name that is a path (an absolute path, ../../x, a/b, '..', '.'), blank, with a NUL or "
                  "control character, or 300 bytes long",
                  "exit 2 naming run.name; nothing is written, inside build/ or outside it")
def test_run_name_is_one_safe_directory_name(tmp_path, name):
    cwd = tmp_path / "cwd" / "project"
    cwd.mkdir(parents=True)
    name = name.replace("ABS", str(tmp_path / "abs"))
    p = run_cli("fetch", "--config", str(SMOKE), "--set", f'run.name="{name}"', cwd=cwd)
    assert_user_error(p, "run.name")
    assert list(cwd.iterdir()) == []
    assert [x.name for x in cwd.parent.iterdir()] == ["project"]
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cwd"]


@pytest.mark.case("a config file named '..toml' (its name, the default run.name, would make the run "
                  "directory build/. itself)",
                  "exit 2 naming run.name and the config file name; nothing written")
def test_config_file_name_cannot_escape(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    cfg = cwd / "..toml"  # its stem is '.', so the run would be build/. itself
    shutil.copy(SMOKE, cfg)
    p = run_cli("fetch", "--config", str(cfg), cwd=cwd)
    assert_user_error(p, "run.name", "config file name")
    assert sorted(x.name for x in cwd.iterdir()) == ["..toml"]


# --------------------------------------------------------------------------- 4. validation for every value

LONG = "/tmp/" + "d" * 300 + "/x"


@pytest.mark.parametrize("override, key", [
    ("train.lr=nan", "train.lr"),
    ("stats.k_sigma=nan", "stats.k_sigma"),
    ("stats.k_sigma=inf", "stats.k_sigma"),
    ("generate.core_sigma=inf", "generate.core_sigma"),
    ("train.weight_decay=inf", "train.weight_decay"),
    ("data.val_fraction=nan", "data.val_fraction"),
    ("stats.b_grid=[0.5, inf]", "stats.b_grid[1]"),
    ("generate.sweep_confidence=[0.5, inf]", "generate.sweep_confidence[1]"),
    ("stats.b=1e300", "stats.b"),
    ("run.seed=1180591620717411303424", "run.seed"),   # 2**70
    ("data.limit=18446744073709551616", "data.limit"),  # 2**64
    ("generate.gmm_components=[1, 36893488147419103232]", "generate.gmm_components[1]"),
    (f"data.path={'/tmp/' + 'p' * 5000}", "data.path"),
    (f"data.cache_dir={LONG}", "data.cache_dir"),
    ('data.path="/tmp/a\\u0000b"', "data.path"),
])
@pytest.mark.case("NaN or +-inf for any float key (lr, k_sigma, core_sigma, list items ...), integers beyond "
                  "int64 (run.seed = 2**70), b beyond float32's range, data paths longer than PATH_MAX or "
                  "with a name longer than NAME_MAX or a NUL",
                  "exit 2 naming the key and its valid range; nothing written")
def test_every_value_is_checked(tmp_path, override, key):
    out = tmp_path / "out"
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(out), "--set", override)
    assert_user_error(p, key)
    assert not out.exists()


def _unavailable_devices() -> list[str]:
    devices = ["mps", "tpu", "garbage", "cuda:x", "CPU"]
    if not torch.cuda.is_available():
        devices.append("cuda")
    if torch.cuda.device_count() <= 7:
        devices.append("cuda:7")
    return devices


@pytest.mark.parametrize("device", _unavailable_devices())
@pytest.mark.case("run.device that this machine does not have or that is no device (cuda without a GPU, "
                  "cuda:7, mps, tpu, garbage)",
                  "exit 2 naming run.device and the reason, before anything is created")
def test_unavailable_device(tmp_path, device, smoke_run):
    out = tmp_path / "out"
    for step in ("train", "encode", "generate"):
        p = run_cli(step, "--config", str(SMOKE), "--out", str(out), "--set", f"run.device={device}")
        assert_user_error(p, "run.device")
        assert not out.exists()
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    before = snapshot(run)
    p = run_cli("train", "--config", str(SMOKE), "--out", str(run), "--force", "--set", f"run.device={device}")
    assert_user_error(p, "run.device")
    assert snapshot(run) == before


@pytest.mark.case("training that diverges (a weight decay that overflows float32 in the optimizer, a huge lr)",
                  "exit 2 naming the epoch and train.lr with the fix; no model.pt, history or manifest is "
                  "written and an earlier model.pt stays as it was")
def test_diverging_training_writes_nothing_final(tmp_path, smoke_run):
    run = tmp_path / "run"
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(run)).returncode == 0
    diverge = ["--set", "train.lr=10", "--set", "train.weight_decay=1e37"]
    p = run_cli("train", "--config", str(SMOKE), "--out", str(run), *diverge)
    assert_user_error(p, "diverged", "epoch 1", "train.lr")
    assert not (run / "train" / "model.pt").exists() and not (run / "train" / "history.json").exists()
    assert read_manifest(run, "train") is None
    # a good model from before is kept, with its manifest
    good = tmp_path / "good"
    shutil.copytree(smoke_run, good)
    before = {n: sha(good / n) for n in ("train/model.pt", "train/history.json", "train.manifest.json")}
    p = run_cli("train", "--config", str(SMOKE), "--out", str(good), *diverge)
    assert_user_error(p, "diverged")
    assert {n: sha(good / n) for n in before} == before


def _bytes_name_supported(folder: Path) -> bool:
    try:
        (folder / os.fsdecode(b"probe\xff")).write_bytes(b"")
        os.unlink(folder / os.fsdecode(b"probe\xff"))
        return True
    except (OSError, UnicodeError):
        return False


@pytest.mark.case("image files whose names are not valid UTF-8 (b'face\\xff.png'), readable or not; a "
                  "data.path that is not valid UTF-8",
                  "the images are used, their ids written with \\xNN escapes (ids.txt and info.json stay "
                  "UTF-8), unreadable ones skipped with a warning; a non-UTF-8 data.path: exit 2 naming it")
def test_non_utf8_file_names(tmp_path):
    folder = tmp_path / "faces"
    folder.mkdir()
    if not _bytes_name_supported(folder):
        pytest.skip("this file system refuses non-UTF-8 names")
    rng = np.random.default_rng(0)
    for i, raw in enumerate([b"face\xff.png", b"ok.png", b"sub\xe9/nested\xfe.png"]):
        path = os.path.join(os.fsencode(folder), raw)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(os.fsdecode(path), format="PNG")
    with open(os.path.join(os.fsencode(folder), b"broken\xfa.png"), "wb") as f:
        f.write(b"not a png")
    out = tmp_path / "out"
    args = ["fetch", "--config", str(SMOKE), "--out", str(out), "--set", "data.source=folder",
            "--set", f"data.path={folder}"]
    p = run_cli(*args)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and "broken\\xfa.png" in p.stderr
    ids = (out / "data" / "ids.txt").read_text(encoding="utf-8").splitlines()
    assert ids == ["face\\xff.png", "ok.png", "sub\\xe9/nested\\xfe.png"]
    info = json.loads((out / "data" / "info.json").read_text(encoding="utf-8"))
    assert info["n_images"] == 3 and info["skipped"][0].startswith("broken\\xfa.png: unreadable")
    assert np.load(out / "data" / "images.npy").shape[0] == 3
    assert "up to date" in run_cli(*args).stderr
    # data.path itself not valid UTF-8 (only possible from the command line)
    odd = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")
    p = subprocess.run([sys.executable, "-m", "analysis", "fetch", "--config", str(SMOKE), "--out",
                        str(tmp_path / "out2"), "--set", "data.source=folder", "--set", f"data.path={odd}"],
                       cwd=ROOT, env=ENV, capture_output=True)
    p = subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(), p.stderr.decode("utf-8", "replace"))
    assert_user_error(p, "data.path", "UTF-8")
    assert not (tmp_path / "out2").exists()


# --------------------------------------------------------------------------- 5. outputs vouched for by manifests

@pytest.mark.case("a hand-edited stats/stats.json, a deleted generate/metrics.json, an edited train/model.pt "
                  "or data/ids.txt (also with its size and mtime put back)",
                  "the step is not up to date: it says which file changed and runs again, restoring the "
                  "exact bytes; a later step refuses an edited input (exit 2 naming it); the volatile "
                  "train/timing.json may change")
def test_edited_or_deleted_outputs_are_rebuilt(tmp_path, full_run):
    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    cli = ["--config", str(SMOKE), "--out", str(run)]
    # stats.json edited by hand: re-run, the measured number comes back
    stats_json = run / "stats" / "stats.json"
    want = sha(stats_json)
    stats_json.write_text(stats_json.read_text().replace('"n": 160', '"n": 161'))
    p = run_cli("stats", *cli)
    assert p.returncode == 0 and "stats/stats.json was changed" in p.stderr, p.stderr
    assert sha(stats_json) == want
    # deleted metrics.json: generate runs again and writes the same file
    metrics = run / "generate" / "metrics.json"
    want = sha(metrics)
    metrics.unlink()
    p = run_cli("generate", *cli)
    assert p.returncode == 0 and "generate/metrics.json was deleted" in p.stderr, p.stderr
    assert sha(metrics) == want
    # an edit that keeps size and mtime (a careful tool) is still caught (ctime changes)
    ids = run / "data" / "ids.txt"
    st = ids.stat()
    text = ids.read_text()
    ids.write_text(text.replace("synthetic/000001", "synthetic/999999"))
    os.utime(ids, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert ids.stat().st_size == st.st_size
    p = run_cli("fetch", *cli)
    assert p.returncode == 0 and "data/ids.txt was changed" in p.stderr, p.stderr
    assert ids.read_text() == text
    # a modified model.pt: encode refuses it; train restores it (same weights, deterministic)
    model = run / "train" / "model.pt"
    want = sha(model)
    ckpt = torch.load(model, weights_only=True)
    ckpt["state_dict"]["encoder.0.weight"] += 0.5
    torch.save(ckpt, model)
    assert_user_error(run_cli("encode", *cli, "--force"), "train/model.pt", "train step")
    p = run_cli("train", *cli)
    assert p.returncode == 0 and "train/model.pt was changed" in p.stderr, p.stderr
    assert sha(model) == want
    # the volatile timing file is exempt from hashing
    (run / "train" / "timing.json").write_text('{"epochs": []}\n')
    assert "up to date" in run_cli("train", *cli).stderr


@pytest.mark.case("make after an artifact was deleted or edited (generate/metrics.json, stats/stats.json)",
                  "make re-runs exactly the steps whose outputs no longer match their manifest "
                  "(python -m analysis check lists them) and then nothing")
def test_make_notices_deleted_artifacts(tmp_path, full_run):
    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    env = dict(ENV)

    def make(*goals):
        return subprocess.run(["make", "-o", "setup", "-o", ".venv/.installed", *goals, f"CONFIG={SMOKE}",
                               f"RUN={run}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    def check():
        p = run_cli("check", "--config", str(SMOKE), "--out", str(run))
        assert p.returncode == 0, p.stderr
        return [Path(line).name for line in p.stdout.splitlines()]

    assert make("generate").returncode == 0  # settle file times after the copy
    assert check() == []
    assert "Nothing to be done" in make("generate").stdout
    (run / "generate" / "metrics.json").unlink()
    assert check() == ["generate.manifest.json"]
    p = make("generate")
    assert p.returncode == 0, p.stderr
    assert "analysis generate" in p.stdout and "analysis stats" not in p.stdout
    assert (run / "generate" / "metrics.json").is_file()
    stats_json = run / "stats" / "stats.json"
    stats_json.write_text(stats_json.read_text().replace('"n": 160', '"n": 1'))
    assert check() == ["stats.manifest.json"]
    p = make("stats")
    assert p.returncode == 0 and "analysis stats" in p.stdout, p.stderr
    assert json.loads(stats_json.read_text())["n"] == 160
    assert check() == []
    p = make("generate")  # the newer stats manifest makes make ask generate, which is up to date
    assert p.returncode == 0 and "generate: up to date" in p.stderr, p.stderr
    assert "Nothing to be done" in make("generate").stdout
    # check on a directory that does not exist creates nothing
    p = run_cli("check", "--config", str(SMOKE), "--out", str(tmp_path / "none"))
    assert p.returncode == 0 and p.stdout == "" and not (tmp_path / "none").exists()


@pytest.mark.case("checking a step's outputs on every run or make (multi-GB image caches)",
                  "each file is hashed once; later checks compare its size, mtime, ctime and inode and hash "
                  "again only a file whose stat changed")
def test_unchanged_files_are_not_hashed_again(tmp_path, full_run, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(full_run, run)
    calls = []
    real = provenance.sha256_file
    monkeypatch.setattr(provenance, "sha256_file", lambda p, *a: calls.append(Path(p).name) or real(p, *a))
    m = read_manifest(run, "generate")
    assert provenance.is_complete(run, "generate", m["key"])  # copied files: new inode and ctime, hashed once
    assert len(calls) == len(m["outputs"])
    calls.clear()
    assert provenance.is_complete(run, "generate", m["key"])
    assert calls == []
    (run / "generate" / "sheet-real.png").write_bytes(b"edited")
    assert not provenance.is_complete(run, "generate", m["key"])
    assert calls == ["sheet-real.png"]


# --------------------------------------------------------------------------- 6. checkpoints

def _fetched(tmp_path: Path, smoke_run: Path, *overrides: str) -> Path:
    run = tmp_path / "run"
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(run), *overrides).returncode == 0
    assert run_cli("train", "--config", str(SMOKE), "--out", str(run), *overrides,
                   "--checkpoint", str(smoke_run / "train" / "model.pt")).returncode == 0
    return run


@pytest.mark.case("a --checkpoint with NaN or inf weights (our format or a bare state_dict)",
                  "exit 2 'NaN/inf values'; the existing model.pt, history and manifest stay as they were")
def test_non_finite_checkpoint_is_refused(tmp_path, smoke_run):
    run = _fetched(tmp_path, smoke_run)
    before = snapshot(run)
    ckpt = torch.load(smoke_run / "train" / "model.pt", weights_only=True)
    ckpt["state_dict"]["decoder.0.weight"][0, 0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.pt")
    bare = dict(torch.load(smoke_run / "train" / "model.pt", weights_only=True)["state_dict"])
    bare["encoder.1.running_var"] = bare["encoder.1.running_var"] * float("inf")
    torch.save(bare, tmp_path / "inf.pt")
    for bad in ("nan.pt", "inf.pt"):
        p = run_cli("train", "--config", str(SMOKE), "--out", str(run), "--checkpoint", str(tmp_path / bad))
        assert_user_error(p, "NaN/inf")
        assert snapshot(run) == before


@pytest.mark.case("a --checkpoint trained on other images; a checkpoint with or without a training history",
                  "a warning naming both data fingerprints; model.pt and the manifest keep the checkpoint's "
                  "true data fingerprint; history.json keeps its per-epoch history, or says it has none")
def test_checkpoint_provenance_and_history_are_kept(tmp_path, smoke_run):
    src = torch.load(smoke_run / "train" / "model.pt", weights_only=True)
    assert src["history"]["epochs"] == json.loads((smoke_run / "train" / "history.json").read_text())["epochs"]
    # other data: the smoke model adopted for images of another seed
    run = tmp_path / "other"
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(run), "--set", "run.seed=5").returncode == 0
    p = run_cli("train", "--config", str(SMOKE), "--out", str(run), "--set", "run.seed=5",
                "--checkpoint", str(smoke_run / "train" / "model.pt"))
    assert p.returncode == 0, p.stderr
    current = read_manifest(run, "fetch")["outputs"]["data/images.npy"]
    assert current != src["data_sha256"]
    assert "trained on other images" in p.stderr and src["data_sha256"][:12] in p.stderr
    adopted = torch.load(run / "train" / "model.pt", weights_only=True)
    assert adopted["data_sha256"] == src["data_sha256"]
    m = read_manifest(run, "train")
    assert m["checkpoint"]["trained_on_data_sha256"] == src["data_sha256"] and m["checkpoint"]["same_data"] is False
    hist = json.loads((run / "train" / "history.json").read_text())
    assert hist["epochs"] == src["history"]["epochs"] and hist["history_recorded"] is True
    assert hist["n_train"] == src["history"]["n_train"]
    # same data: no warning
    same = _fetched(tmp_path / "same", smoke_run)
    assert read_manifest(same, "train")["checkpoint"]["same_data"] is True
    # a bare state_dict has no history: history.json says so instead of pretending
    torch.save(src["state_dict"], tmp_path / "bare.pt")
    p = run_cli("train", "--config", str(SMOKE), "--out", str(same), "--checkpoint", str(tmp_path / "bare.pt"))
    assert p.returncode == 0 and "no training history" in p.stderr, p.stderr
    hist = json.loads((same / "train" / "history.json").read_text())
    assert hist["epochs"] == [] and hist["history_recorded"] is False and "not record" in hist["note"]
    assert torch.load(same / "train" / "model.pt", weights_only=True)["data_sha256"] is None


# --------------------------------------------------------------------------- 7. degenerate data

@pytest.mark.case("a folder of identical images (end to end through the CLI); latents that are all one point",
                  "fetch, train and encode work; stats and generate: exit 2 'zero variance in all N components: "
                  "the images are identical or the encoder collapsed'; nothing written")
def test_identical_images(tmp_path):
    folder = tmp_path / "same"
    folder.mkdir()
    face = (np.arange(20 * 20).reshape(20, 20) * 7 % 251).astype(np.uint8)
    for i in range(40):
        Image.fromarray(face).save(folder / f"{i:03d}.png")
    run = tmp_path / "run"
    args = ["--config", str(SMOKE), "--out", str(run), "--set", "data.source=folder",
            "--set", f"data.path={folder}", "--set", "train.batch_size=8"]
    for step in ("fetch", "train", "encode"):
        p = run_cli(step, *args)
        assert p.returncode == 0, p.stderr
    for step in ("stats", "generate"):
        before = snapshot(run)
        p = run_cli(step, *args)
        assert_user_error(p, "zero variance in all 16 components", "identical")
        assert snapshot(run) == before
    assert not (run / "stats").exists() and not (run / "generate").exists()


@pytest.mark.case("latents that span fewer dimensions than N (rank-deficient covariance, e.g. dead latent units)",
                  "documented fallback: stats reports pca.rank and a note, the empirical Mahalanobis distance "
                  "is null, the Ledoit-Wolf one is finite; generate fits every generator")
def test_rank_deficient_latents(tmp_path, smoke_run):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run, ignore=shutil.ignore_patterns("encode.manifest.json"))
    rng = np.random.default_rng(0)
    z = rng.normal(size=(160, 3)) @ rng.normal(size=(3, 16)) + 2.0
    z[:, 5] = 1.5  # a dead unit as well
    np.save(run / "latents.npy", z.astype(np.float32))
    p = run_cli("stats", "--config", str(SMOKE), "--out", str(run))
    assert p.returncode == 0, p.stderr
    s = json.loads((run / "stats" / "stats.json").read_text())
    assert s["pca"]["rank"] == 3 and s["components"]["n_constant"] == 1
    assert any("span only 3 of the N = 16" in n for n in s["notes"])
    mh = s["origin"]["mahalanobis"]
    assert mh["empirical"]["distance"] is None and mh["ledoit_wolf"]["distance"] > 0
    p = run_cli("generate", "--config", str(SMOKE), "--out", str(run))
    assert p.returncode == 0, p.stderr
    table = json.loads((run / "generate" / "metrics.json").read_text())["table"]
    assert len(table) == 1 + len(load_config(SMOKE).generate.generators)  # the reference and every generator


# --------------------------------------------------------------------------- 8. signals

@pytest.mark.case("SIGTERM (kill, systemd, a batch scheduler) while the image cache or the latents are written",
                  "exit 143 with 'terminated (SIGTERM) ... re-run the same command to resume'; no partial or "
                  "temporary file is left (unlike kill -9); the re-run gives identical files")
@pytest.mark.parametrize("step", ["fetch", "encode"])
def test_sigterm_unwinds_cleanly(tmp_path, smoke_run, step):
    big = ["--set", "data.synthetic_count=20000"]
    run = tmp_path / "run"
    args = ["--config", str(SMOKE), "--out", str(run), *big]
    if step == "encode":
        assert run_cli("fetch", *args).returncode == 0
        assert run_cli("train", *args, "--checkpoint", str(smoke_run / "train" / "model.pt")).returncode == 0
    target = {"fetch": run / "data" / "images.npy", "encode": run / "latents.npy"}[step]
    final_size = 20000 * {"fetch": 16 * 16, "encode": 16 * 4}[step]
    proc = subprocess.Popen([sys.executable, "-m", "analysis", step, *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:  # stop it about a fifth of the way through
        with contextlib.suppress(OSError):
            tmps = target.parent.glob(f".{target.name}{storage.TMP_MARKER}*.tmp")
            if sum(p.stat().st_size for p in tmps) > final_size / 5:
                break
        time.sleep(0.002)
    assert proc.poll() is None, "the step finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "re-run the same command" in err and "Traceback" not in err
    assert not target.exists() and read_manifest(run, step) is None
    assert not [p for p in run.rglob("*") if storage.is_temporary_name(p.name)]
    assert not (run / ".lock").exists()
    p = run_cli(step, *args)
    assert p.returncode == 0, p.stderr
    ref = tmp_path / "ref"
    shutil.copytree(run, ref, ignore=shutil.ignore_patterns(target.name, f"{step}.manifest.json"))
    assert run_cli(step, *args[:2], "--out", str(ref), *big).returncode == 0
    assert sha(target) == sha(ref / target.relative_to(run))


@pytest.mark.case("an error or a signal (Ctrl-C, SIGTERM) while a large array file is being finished "
                  "(its header rewritten, closed)",
                  "the exception comes through and the file is not renamed into place: the old file stays or "
                  "none is there (before, the exception was swallowed and a partial file published)")
@pytest.mark.parametrize("exc", [KeyboardInterrupt, OSError])
def test_array_writer_does_not_swallow_late_errors(tmp_path, monkeypatch, exc):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(3))
    before = sha(path)
    calls = []
    real = storage.NpyWriter._header

    def header(self):
        calls.append(1)
        if len(calls) == 2:  # the rewrite at the end
            raise exc("stopped while finishing")
        return real(self)

    monkeypatch.setattr(storage.NpyWriter, "_header", header)
    with pytest.raises(exc):
        with storage.NpyWriter(path, np.float32, (4,)) as w:
            w.write(np.ones((5, 4)))
    assert sha(path) == before
    assert not [p for p in tmp_path.iterdir() if storage.is_temporary_name(p.name)]
