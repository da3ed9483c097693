"""Several runs of one config (issue 14): seeds, variants and sweeps side by side.

* :func:`analysis.pipeline.runs.expand`: run names, configs and overrides; bad ``[runs]`` input
  exits 2 naming the key, before anything is written;
* :func:`analysis.steps.across.aggregate`: per-run values, spread and whether a verdict holds
  in every run, from synthetic ledgers that disagree;
* end to end: ``make all`` on a comparison of two small configs on generated images (a
  sweep of ``model.latent_dim``): the primary run in the config's build directory, the
  other in ``runs/<name>/`` (made by the second make), the image cache shared, the
  across step; a second ``make`` does nothing, a deleted output of the other run is made
  again; the article of the comparison shows the runs side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.steps import across
from analysis.pipeline import runs
from analysis.artifacts import Across, Run
from analysis.pipeline.config import load_config
from analysis.errors import UserError
from conftest import ROOT, assert_user_error, built_once, run_cli
from test_artifacts import all_fields_conform
from test_report import BUILD, page_text, reduced_source

SMALL = """\
[run]
threads = 1
[data]
source = "synthetic"
synthetic_count = 160
image_size = 16
[model]
latent_dim = 16
channels = [8, 16]
[train]
epochs = 2
batch_size = 32
[stats]
sample_size = 100
slice_artificial = 50
[generate]
n_samples = 200
n_images = 16
gmm_components = [1, 3]
repeats = 2
sweep_confidence = [0.9]
[claims]
bootstrap = 20
null_points = 2000
normality_null = 3
"""
SWEEP = SMALL + """\
[runs]
sweep_key = "model.latent_dim"
sweep_values = [16, 8]
[[runs.control]]
name = "vae"
set = { "model.kind" = "vae" }
"""


def write(tmp_path: Path, text: str, name: str = "cmp.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --------------------------------------------------------------------------- the runs of a config

def test_no_runs_section_is_one_run_in_the_build_directory():
    cfg = load_config(ROOT / "configs" / "smoke.toml")
    (spec,) = runs.expand(cfg)
    assert spec.primary and spec.name == "seed0" and spec.rel == "."
    assert spec.directory("build/smoke") == Path("build/smoke")
    assert spec.config.to_dict() == cfg.to_dict() and not cfg.runs.several


def test_seeds_make_one_run_each():
    cfg = load_config(ROOT / "configs" / "default.toml")
    specs = runs.expand(cfg)
    assert [s.name for s in specs] == ["seed0", "seed1", "seed2", "vae"] and cfg.runs.several
    assert [s.config.run.seed for s in specs] == [0, 1, 2, 0]
    assert [s.rel for s in specs] == [".", "runs/seed1", "runs/seed2", "runs/vae"]
    # the VAE control: one seed (the first), beside the seeds, never pooled with them
    assert [s.control for s in specs] == [False, False, False, True] and specs[3].config.model.kind == "vae"
    primary, other = specs[0].config, specs[1].config
    assert primary.runs.seeds == [0, 1, 2] and primary.run.name == "default"  # the build's resolved config
    assert other.runs.seeds == [] and other.run.name == "default-seed1"         # a single-run config
    assert other.generate.sweep_confidence == []  # runs.lean
    assert primary.generate.sweep_confidence == cfg.generate.sweep_confidence != []
    assert other.model == primary.model and other.claims == primary.claims and other.train == primary.train
    not_lean = runs.expand(load_config(ROOT / "configs" / "default.toml", ["runs.lean=false"]))
    assert not_lean[1].config.generate == not_lean[0].config.generate


def test_a_sweep_and_variants_times_seeds(tmp_path):
    cfg = load_config(write(tmp_path, SMALL + """\
[runs]
seeds = [3, 4]
sweep_key = "model.latent_dim"
sweep_values = [16, 8]
[[runs.variant]]
name = "wide"
set = { "model.channels" = [16, 32], train = { epochs = 1 } }
"""))
    specs = runs.expand(cfg)
    assert [s.name for s in specs] == ["latent_dim=16-seed3", "latent_dim=16-seed4", "latent_dim=8-seed3",
                                      "latent_dim=8-seed4", "wide-seed3", "wide-seed4"]
    assert [s.config.model.latent_dim for s in specs] == [16, 16, 8, 8, 16, 16]
    assert specs[4].overrides == {"model.channels": [16, 32], "train.epochs": 1}
    assert specs[4].config.model.channels == [16, 32] and specs[4].config.train.epochs == 1
    assert [s.primary for s in specs] == [True, False, False, False, False, False]
    assert specs[0].config.run.seed == 3 and specs[0].config.runs.seeds == [3, 4]
    assert len({s.rel for s in specs}) == 6


@pytest.mark.case("bad [runs] input: a duplicate seed, a sweep key that is no config key or that sets run.seed, "
                  "a variant setting an unknown key or a bad value, a run name that is a path or has a colon, "
                  "two runs of one name, --set run.seed beside runs.seeds, --run of no run",
                  "exit 2 with one line naming the key (runs.variant[0].set.model.latnt_dim, ...); nothing written")
@pytest.mark.parametrize("overrides, needle", [
    (["runs.seeds=[1, 1]"], "runs.seeds"),
    (["runs.seeds=[1, -2]"], "runs.seeds[1]"),
    (['runs.sweep_key="model.latnt_dim"', "runs.sweep_values=[4]"], "runs.sweep_key"),
    (['runs.sweep_key="run.seed"', "runs.sweep_values=[4]"], "runs.sweep_key"),
    (['runs.sweep_key="model.latent_dim"'], "runs.sweep_values"),
    (['runs.sweep_key="model.latent_dim"', "runs.sweep_values=[4, 0]"], "runs.sweep_values[1]"),
    (['runs.variant=[{name="a", set={"model.latnt_dim"=3}}]'], "runs.variant[0].set.model.latnt_dim"),
    (['runs.variant=[{name="a", set={"model.latent_dim"=0}}]'], "runs.variant[0].set"),
    (['runs.variant=[{name="a", sett={}}]'], "runs.variant[0].sett"),
    (['runs.variant=[{name="../x"}, {name="b"}]'], "runs.variant[0].name"),
    (['runs.variant=[{name="a:b"}, {name="b"}]'], "runs.variant[0].name"),
    (['runs.variant=[{name="a"}, {name="a"}]'], "runs.variant[1].name"),
    (['runs.variant=[{set={}}]'], "runs.variant[0].name"),
    (["runs.seeds=[1, 2]", "run.seed=5"], "run.seed"),
])
def test_bad_runs_input_names_the_key(tmp_path, overrides, needle):
    out = tmp_path / "out"
    args = [a for o in overrides for a in ("--set", o)]
    assert_user_error(run_cli("all", "--config", str(ROOT / "configs" / "smoke.toml"), "--out", str(out), *args),
                      needle)
    assert not out.exists()
    with pytest.raises(UserError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        runs.expand(load_config(ROOT / "configs" / "smoke.toml", overrides))


def test_run_seed_may_come_before_the_seeds(tmp_path):
    """A file's run.seed and a later --set runs.seeds: the seeds decide (smoke.toml sets run.seed)."""
    cfg = load_config(ROOT / "configs" / "smoke.toml", ["runs.seeds=[4, 5]"])
    assert [s.config.run.seed for s in runs.expand(cfg)] == [4, 5]
    assert_user_error(run_cli("train", "--config", str(ROOT / "configs" / "smoke.toml"), "--out",
                              str(tmp_path / "o"), "--set", "runs.seeds=[4, 5]", "--run", "seed9"), "--run", "seed4")


# --------------------------------------------------------------------------- the ledger across runs

def _ledger(values: dict[str, tuple[float | None, str]]) -> list[dict]:
    return [{"id": fid, "claim": f"claim {fid}", "part": "II", "unit": "share", "verdict": verdict,
             "ours": {"value": v, "low": None if v is None else v - 0.1, "high": None if v is None else v + 0.1}}
            for fid, (v, verdict) in values.items()]


def test_aggregate_gives_values_spread_and_whether_verdicts_hold():
    rows = across.aggregate([
        ("seed0", "", _ledger({"a": (0.2, "reproduced"), "b": (0.5, "partly"), "c": (None, "not testable")})),
        ("seed1", "", _ledger({"a": (0.4, "reproduced"), "b": (0.9, "reproduced"), "c": (None, "not testable")})),
        ("seed2", "", _ledger({"a": (0.3, "reproduced"), "b": (0.1, "not reproduced")})),
    ])
    a, b, c = rows
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert [v["value"] for v in a["runs"]] == [0.2, 0.4, 0.3] and [v["name"] for v in a["runs"]] == ["seed0", "seed1",
                                                                                                       "seed2"]
    assert a["spread"] == pytest.approx({"n": 3, "mean": 0.3, "min": 0.2, "max": 0.4})
    assert a["holds"] and a["verdict"] == "reproduced" and a["sentence"] == "reproduced in all 3 runs"
    assert not b["holds"] and b["verdict"] == "partly"  # the primary's
    assert b["verdicts"] == {"reproduced": 1, "partly": 1, "not reproduced": 1, "not testable": 0}
    assert b["sentence"] == "partly in seed0; reproduced in seed1; not reproduced in seed2"
    assert b["spread"] == pytest.approx({"n": 3, "mean": 0.5, "min": 0.1, "max": 0.9})
    assert c["spread"] is None and not c["holds"]  # seed2's ledger lacks the finding
    assert c["runs"][2] == {"name": "seed2", "value": None, "low": None, "high": None, "verdict": None}
    assert "absent in seed2" in c["sentence"]
    assert a["groups"] == []  # one variant: the spread is across seeds


def test_aggregate_spreads_each_variant_over_its_seeds():
    rows = across.aggregate([
        ("n16-seed0", "n16", _ledger({"a": (0.1, "partly")})), ("n16-seed1", "n16", _ledger({"a": (0.3, "partly")})),
        ("n8-seed0", "n8", _ledger({"a": (0.7, "partly")})), ("n8-seed1", "n8", _ledger({"a": (0.9, "partly")})),
    ])
    (a,) = rows
    assert a["holds"] and a["sentence"] == "partly in all 4 runs"
    assert a["spread"] == pytest.approx({"n": 4, "mean": 0.5, "min": 0.1, "max": 0.9})
    assert [g["variant"] for g in a["groups"]] == ["n16", "n8"]
    assert a["groups"][0]["runs"] == ["n16-seed0", "n16-seed1"]
    assert a["groups"][0]["spread"] == pytest.approx({"n": 2, "mean": 0.2, "min": 0.1, "max": 0.3})
    assert a["groups"][1]["spread"] == pytest.approx({"n": 2, "mean": 0.8, "min": 0.7, "max": 0.9})


# --------------------------------------------------------------------------- end to end

def make(*goals: str, config: Path, run: Path, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run(["make", "-o", "setup", "-o", ".venv/.installed", *goals, f"CONFIG={config}", f"RUN={run}",
                           *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _comparison(d: Path) -> dict:
    config, run = write(d, SWEEP), d / "build"
    p = make("all", config=config, run=run)
    assert p.returncode == 0, p.stderr[-3000:] + p.stdout[-3000:]
    return {"config": str(config), "run": str(run), "other": str(run / "runs" / "latent_dim=8"),
            "log": p.stdout + p.stderr}


@pytest.fixture(scope="module")
def comparison(tmp_path_factory) -> dict:
    """``make all`` of a comparison of two small configs (latent sizes 16 and 8) on generated images, built
    once per session (:func:`conftest.built_once`: shared by the workers). Tests only read it; a test that
    changes it works on :func:`comparison_copy`."""
    r = built_once(tmp_path_factory, "comparison", _comparison)
    return {**r, **{k: Path(r[k]) for k in ("config", "run", "other")}}


def comparison_copy(comparison: dict, tmp_path: Path) -> dict:
    """A private copy of the comparison (its config beside it, links kept: the other run's image cache)."""
    d = tmp_path / "comparison"
    d.mkdir()
    config, run = d / comparison["config"].name, d / "build"
    shutil.copy2(comparison["config"], config)
    shutil.copytree(comparison["run"], run, symlinks=True)
    return {**comparison, "config": config, "run": run, "other": run / "runs" / "latent_dim=8"}


@pytest.mark.case("a config of several runs (a sweep of model.latent_dim) made with make all",
                  "the primary run in the config's build directory, the other in runs/<name>/ with its own manifests "
                  "and config.toml, both made side by side by a second make (one thread each, lines prefixed with "
                  "the run's name); the other's image cache links the primary's (same key; its manifest says "
                  "shared_from); the across step reads both")
def test_make_builds_every_run_and_the_runs_side_by_side(comparison):
    run, other, log = comparison["run"], comparison["other"], comparison["log"]
    assert (run / "claims.manifest.json").is_file() and (other / "claims.manifest.json").is_file()
    assert "-j2" in log and "--run latent_dim=8" in log and "[latent_dim=8] train: epoch" in log
    # both runs, every step up to claims, but the primary's fetch (made first, by the first make)
    # (and the VAE control's seven: one seed, every step up to claims, its face tests linked)
    assert "[latent_dim=16] train: epoch" in log and log.count("--set run.threads=1") == 20
    assert "[vae] train: epoch" in log and (run / "runs" / "vae" / "claims.manifest.json").is_file()
    assert load_config(run / "config.toml").runs.sweep_values == [16, 8]  # the build's resolved config
    own = load_config(other / "config.toml")
    assert own.model.latent_dim == 8 and not own.runs.several and own.run.name == "cmp-latent_dim=8"
    # the image cache is the primary's: linked, vouched for by a manifest saying so
    for rel in ("data/images.npy", "data/ids.txt", "data/info.json"):
        assert (other / rel).is_symlink() and (other / rel).resolve() == (run / rel).resolve(), rel
    fetch = json.loads((other / "fetch.manifest.json").read_text())
    primary_fetch = json.loads((run / "fetch.manifest.json").read_text())
    assert fetch["shared_from"] == "../.." and fetch["outputs"] == primary_fetch["outputs"]
    assert fetch["key"] == primary_fetch["key"]
    assert fetch["config"]["model"]["latent_dim"] == 8
    train = json.loads((other / "train.manifest.json").read_text())
    assert "shared_from" not in train and not (other / "train" / "model.pt").is_symlink()
    # across: both runs, as their manifests vouch
    X = Run(run).across
    assert isinstance(X, Across) and all_fields_conform(X)
    assert X.names == ("latent_dim=16", "latent_dim=8") and X.kind == "variants"
    assert [r.N for r in X.runs] == [16, 8] and X.runs[1].overrides["model.latent_dim"] == 8
    # the control: beside the runs, not among them; compared with the headline row by row
    (V, S), = [X.control(r.name) for r in X.controls]
    assert V.name == "vae" and V.model.kind == "vae" and X.runs[0].model.kind == "ae"
    assert V.model.active == Run(run / "runs" / "vae").posterior.active
    assert S.n == len(X.ledger) and len(S.flipped) + len(S.kept) == S.n
    for row in X.ledger:
        c = row.control("vae")
        assert c.verdict == Run(run / "runs" / "vae").claims.row(row.id).verdict
        assert c.differs == (c.verdict != row.headline.verdict) and (row.id in S.kept) == (not c.differs)
    manifest = json.loads((run / "across.manifest.json").read_text())
    assert manifest["inputs"]["runs/latent_dim=8/claims/claims.json"] == \
        json.loads((other / "claims.manifest.json").read_text())["outputs"]["claims/claims.json"]
    ledger = Run(run).claims
    for c in ledger.rows:  # the per-run values are each run's own ledger's
        row = X.row(c.id)
        assert row.runs[0].value == c.ours.value and row.verdict == c.verdict
        assert row.runs[1].value == Run(other).claims.row(c.id).ours.value


def test_a_second_make_does_nothing(comparison):
    p = make("all", config=comparison["config"], run=comparison["run"])
    assert p.returncode == 0, p.stderr
    assert "-m analysis" not in p.stdout, p.stdout


@pytest.mark.case("an output of another run deleted (runs/<name>/stats/stats.json), then make",
                  "make re-runs that run's stats step (and what follows it if changed), then the across step; "
                  "nothing of the primary run")
def test_a_deleted_output_of_another_run_is_made_again(comparison, tmp_path):
    comparison = comparison_copy(comparison, tmp_path)
    run, other = comparison["run"], comparison["other"]
    before = (other / "stats" / "stats.json").read_bytes()
    (other / "stats" / "stats.json").unlink()
    p = make("all", config=comparison["config"], run=run)
    assert p.returncode == 0, p.stderr
    assert "stats --config" in p.stdout and "--run latent_dim=8" in p.stdout
    assert (other / "stats" / "stats.json").read_bytes() == before
    commands = [line for line in p.stdout.splitlines() if "-m analysis" in line]
    assert [c for c in commands if "--run" not in c and " across " not in c] == []  # nothing of the primary run
    assert "[latent_dim=16]" not in p.stderr
    p = make("all", config=comparison["config"], run=run)
    assert "-m analysis" not in p.stdout, p.stdout


def test_across_refuses_a_run_that_is_missing_or_stale(comparison, tmp_path):
    # a copy: no other test (on another worker) holds the shared build's lock meanwhile
    config, copy = comparison["config"], comparison_copy(comparison, tmp_path)["run"]
    p = run_cli("across", "--config", str(config), "--out", str(copy), "--set", "runs.sweep_values=[16, 4]")
    assert_user_error(p, "run latent_dim=4", "has not finished")
    p = run_cli("across", "--config", str(config), "--out", str(copy), "--set", "stats.bins=7")
    assert_user_error(p, "run latent_dim=16", "stats.bins")
    # a step the runs side by side do not read (decode, which make runs after across) may be stale
    assert (copy / "decode.manifest.json").is_file()
    p = run_cli("across", "--config", str(config), "--out", str(copy), "--set", "decode.grid=5")
    assert p.returncode == 0, p.stderr[-2000:]


@pytest.mark.case("a config whose second run fails (its data folder does not exist)",
                  "exit 2 with one line naming the run and its directory; the first run's results are kept")
@pytest.mark.case("the training seeds of a config: the face tests, which depend on the data alone",
                  "the seed run's faces step links the primary's outputs (its manifest says shared_from, same key, "
                  "nothing computed again); each run's generate step scores its own autoencoder's reconstructions "
                  "of its own held-out images and records that check and its rule")
def test_seed_runs_link_the_face_tests_and_check_them_on_their_own_reconstructions(tmp_path):
    import numpy as np
    from PIL import Image

    from analysis.steps import data, facecheck
    from analysis.steps.instrument import load_instrument
    from analysis.pipeline.model import load_trained
    from analysis.steps.train import split_indices

    # A folder of images (synthetic data are drawn with run.seed, so each seed would have its own) and a
    # CBCL cache of the tool's with a few non-faces, so that nothing is downloaded.
    images, cache = tmp_path / "faces", tmp_path / "cache" / "cbcl-faces"
    for d in (images, cache / "face", cache / "non-face"):
        d.mkdir(parents=True)
    for i, img in enumerate(data.synthetic_images(160, 16, 1, seed=5)):
        Image.fromarray(img[0]).save(images / f"f{i:03d}.png")
    rng = np.random.default_rng(0)
    for i in range(60):
        Image.fromarray(rng.integers(0, 256, (19, 19), dtype=np.uint8)).save(cache / "non-face" / f"n{i:03d}.pgm")
    (cache / "SHA256").write_text(data._cbcl_marker() + "\n")
    text = SMALL.replace('source = "synthetic"', f'source = "folder"\npath = "{images}"\ncache_dir = "{cache.parent}"')
    config, out = write(tmp_path, text + "[faces]\ncalibration_images = 20\n[runs]\nseeds = [0, 1]\n"), tmp_path / "build"
    logs = {}
    for name in ("seed0", "seed1"):
        for step in ("fetch", "train", "encode", "stats", "faces", "generate"):
            p = run_cli(step, "--config", str(config), "--out", str(out), "--run", name)
            assert p.returncode == 0, (name, step, p.stderr[-3000:])
            logs[name, step] = p.stderr
    primary, seed1 = out, out / "runs" / "seed1"
    assert "its outputs are linked, not computed again" in logs["seed1", "faces"]
    assert "linked" not in logs["seed0", "faces"] and "faces: " in logs["seed0", "faces"]
    mine, theirs = (json.loads((d / "faces.manifest.json").read_text()) for d in (seed1, primary))
    assert mine["shared_from"] == "../.." and mine["key"] == theirs["key"] and mine["outputs"] == theirs["outputs"]
    assert mine["config"]["run"]["seed"] == 1 and theirs["config"]["run"]["seed"] == 0
    for rel in theirs["outputs"]:
        assert (seed1 / rel).is_symlink() and (seed1 / rel).resolve() == (primary / rel).resolve(), rel
    checked = {}
    for d in (primary, seed1):
        cfg = load_config(d / "config.toml")
        recorded = json.loads((d / "generate" / "metrics.json").read_text())["faces"]
        rec = recorded["reconstructions"]
        assert rec["name"] == "reconstructions" and rec["kind"] == "positive"
        assert rec["n"] == 20
        # the same check, made again here with this run's autoencoder and latents, gives what it recorded
        model, device = load_trained(cfg, d)
        z = np.load(d / "latents.npy")
        inst, doc = facecheck.check_run(cfg, load_instrument(d), z, model, device)
        assert doc["reconstructions"] == rec and doc["tests"] == recorded["tests"]
        assert recorded["rule"] == inst.rule and recorded["rule_text"] == inst.text
        J = Run(d).face_judgement
        assert J.checked and [s.name for s in J.sets][:2] == ["real faces", "reconstructions"]
        assert J.rule == recorded["rule"] and J.rule_text == recorded["rule_text"]
        idx = facecheck.reconstruction_faces(cfg, len(z))[0]
        held_out = split_indices(len(z), cfg.data.val_fraction, cfg.run.seed)[1]
        assert set(held_out[:20]) <= set(idx)  # its own autoencoder's held-out images first
        checked[d] = set(idx)
    assert checked[primary] != checked[seed1]  # each seed held out other images


def test_a_failing_run_is_named(tmp_path):
    config = write(tmp_path, SMALL + """\
[runs]
[[runs.variant]]
name = "synthetic"
[[runs.variant]]
name = "mine"
set = { "data.source" = "folder", "data.path" = "/nonexistent/faces" }
""")
    out = tmp_path / "out"
    p = run_cli("fetch", "--config", str(config), "--out", str(out), "--run", "mine")
    assert_user_error(p, "run mine", str(out / "runs" / "mine"), "/nonexistent/faces")
    assert not (out / "runs" / "mine").exists()
    assert run_cli("fetch", "--config", str(config), "--out", str(out)).returncode == 0
    assert (out / "fetch.manifest.json").is_file()


def test_the_comparison_article(comparison, tmp_path):
    """The article of the comparison: the ledger's spread column, the Robustness chapter with every
    run, the overlay charts (index and that chapter only, to keep it fast)."""
    src = reduced_source(tmp_path / "src", ["07-robustness"])
    site = tmp_path / "site"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, str(BUILD), "--run", str(comparison["run"]), "--config",
                        str(comparison["config"]), "--site", str(site), "--formats", "html", "--source", str(src)],
                       capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    d = site / "0.1.0-cmp"
    index, chapter = page_text(d / "index.html"), page_text(d / "07-robustness.html")
    assert "mean (range) over 2 runs" in index and "one of the 2 runs of this build" in index
    assert "Robustness across runs" in index
    for name in ("latent_dim=16", "latent_dim=8"):
        assert name in chapter
    assert "which findings hold in every variant" in chapter and "The ledger in every run" in chapter
    # the VAE control: its column in the index ledger, its section beside the primary's figures
    assert "control vae: verdict" in index and "The same network as a VAE" in chapter
    X = Run(comparison["run"]).across
    _, S = X.control("vae")
    chapter = chapter.replace("\u2019", "'")  # Sphinx's smart quotes
    assert S.sentence in chapter and S.mse_sentence in chapter and S.prior_sentence in chapter
    assert "what changed" in chapter
    assert ("same verdict" in chapter) == bool(S.kept)
    html = (d / "07-robustness.html").read_text()
    for kind in ("runs-radii", "runs-bscan", "runs-occupancy", "runs-origin", "runs-generators", "vae-radii",
                 "vae-bscan"):
        assert f'data-chart="{kind}"' in html, kind
    _renders_offline(d / "07-robustness.html")
    from test_report_a11y import assert_accessible
    assert_accessible(d)  # axe-core: no WCAG 2 A/AA violation on any page of the comparison's article


def _renders_offline(page_path: Path) -> None:
    """Every chart of the page renders in Chromium from file://, with no console error."""
    from test_report_browser import ARGS, CHROMIUM, sync_playwright
    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if sync_playwright is None or not exe:
        return
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(page_path.resolve().as_uri())
        page.wait_for_function("() => Array.from(document.querySelectorAll('.flg-chart')).every("
                               "e => e.hasAttribute('data-rendered'))", timeout=60_000)
        states = page.evaluate("() => Array.from(document.querySelectorAll('.flg-chart')).map("
                               "e => e.getAttribute('data-rendered') + (e.querySelector('svg, canvas') ? 'd' : ''))")
        browser.close()
    assert problems == [] and states and all(s == "1d" for s in states), (problems, states)


@pytest.mark.case("an edited across/ledger.json, or an edited or deleted file of another run (runs/<name>/claims/"
                  "claims.json), then the report",
                  "refused before Sphinx starts: exit 2 naming the file and its manifest, with the command that "
                  "remakes it (--run NAME for another run's file)")
def test_the_report_checks_every_run(comparison, tmp_path):
    sys.path.insert(0, str(ROOT / "report"))
    import artifacts as report_checks

    copy = tmp_path / "build"
    shutil.copytree(comparison["run"], copy, symlinks=True)
    config, other = str(comparison["config"]), copy / "runs" / "latent_dim=8"
    report_checks.check_config(copy, config)
    assert "runs/latent_dim=8/claims/claims.json" in report_checks.check_artifacts(copy, config)
    with (copy / "across" / "ledger.json").open("a") as f:
        f.write(" ")
    with pytest.raises(report_checks.PublishError, match=r"across/ledger.json does not match .*across.manifest"):
        report_checks.check_artifacts(copy, config)
    shutil.copy2(comparison["run"] / "across" / "ledger.json", copy / "across" / "ledger.json")
    (other / "claims" / "claims.json").unlink()
    with pytest.raises(report_checks.PublishError, match=r"latent_dim=8/claims/claims.json is missing.*--run "
                                                          r"latent_dim=8"):
        report_checks.check_artifacts(copy, config)
    with pytest.raises(report_checks.PublishError, match=r"runs.sweep_values = \[16, 8\].*gives runs.sweep_values"):
        report_checks.check_config(copy, config, ["runs.sweep_values=[16, 4]"])
    text = (other / "config.toml").read_text()
    (other / "config.toml").write_text(text.replace("bins = 60", "bins = 7"))  # made with other settings
    with pytest.raises(report_checks.PublishError, match=r"runs/latent_dim=8/config.toml was made with stats.bins = 7.*"
                                                          r"for run latent_dim=8 gives stats.bins = 60.*--run latent_dim=8"):
        report_checks.check_config(copy, config)
