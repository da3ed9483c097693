"""The generate step end to end on a tiny model and tiny data (issue 6)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from scipy import stats

from analysis.science import calibration as cal
from analysis.steps import generate, genfit, genjudge
from analysis.pipeline import provenance, storage
from analysis.pipeline.config import GenerateConfig, load_config
from analysis.artifacts import Run
from analysis.errors import UserError
from analysis.science.generators import GMMSelector
from analysis.pipeline.model import architecture, build_model

SETTINGS = ["data.source=synthetic", "data.image_size=16", "model.channels=[8,16]", "model.latent_dim=8",
            "generate.n_samples=60", "generate.n_images=9", "generate.image_points=30", "generate.k=3",
            "generate.gmm_components=[1,2]", "generate.repeats=3",
            "generate.sweep_confidence=[0.5,0.99]", "generate.batch_size=16", "run.device=cpu"]
N_POINTS = 120


def _config(*extra: str):
    return load_config(None, SETTINGS + list(extra))


def _make_run(run_dir, cfg, with_stats: bool = True) -> None:
    """A run directory as the earlier steps would leave it: images, checkpoint, latents, stats."""
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    (run_dir / "train").mkdir(parents=True)
    torch.save({"state_dict": model.state_dict(), "architecture": architecture(cfg)},
               run_dir / "train" / "model.pt")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N_POINTS, 1, 16, 16), dtype=np.uint8)
    storage.save_npy(run_dir / "data" / "images.npy", images)
    with torch.inference_mode():
        z = model.encode(torch.from_numpy(images.astype(np.float32) / 255)).numpy()
    storage.save_npy(run_dir / "latents.npy", z.astype(np.float32))
    if with_stats:
        storage.save_json(run_dir / "stats" / "stats.json", {"b": {"used": 0.5, "best": 0.5}})


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """One finished generate run: (run_dir, cfg, returned metrics)."""
    run_dir = tmp_path_factory.mktemp("gen") / "run"
    cfg = _config()
    _make_run(run_dir, cfg)
    return run_dir, cfg, generate.run(cfg, run_dir)


def test_writes_table_samples_sheets_and_manifest(done):
    run_dir, cfg, doc = done
    out = run_dir / "generate"
    assert doc == storage.load_json(out / "metrics.json")
    names = [r["name"] for r in doc["table"]]
    assert names[0] == genjudge.REFERENCE and sorted(names[1:]) == sorted(cfg.generate.generators)
    gens = doc["table"][1:]
    assert doc["table"][0]["rank"] is None and doc["table"][0]["tied_with"] == []
    for r in gens:  # ranked only where score intervals separate; ties are named both ways
        lo, hi = r["intervals"]["score"]["low"], r["intervals"]["score"]["high"]
        assert r["rank"] == 1 + sum(o["intervals"]["score"]["low"] > hi for o in gens)
        overlapping = {o["name"] for o in gens if o is not r and o["intervals"]["score"]["low"] <= hi
                       and lo <= o["intervals"]["score"]["high"]}
        assert set(r["tied_with"]) == overlapping
    assert [(r["rank"], -r["score"]) for r in gens] == sorted((r["rank"], -r["score"]) for r in gens)
    for row in doc["table"]:
        assert set(row["intervals"]) == set(genjudge.METRICS)
        for key in genjudge.METRICS:
            iv = row["intervals"][key]
            if key in genjudge.FACE_METRICS:  # no faces step in this run directory
                assert row[key] is None and iv["low"] is None and row["face_rank"] is None, (row["name"], key)
                continue
            assert row[key] is not None and row[key] >= 0, (row["name"], key)
            assert len(iv["repeats"]) == 3 and iv["low"] <= row[key] <= iv["high"], (row["name"], key)
            assert row[key] == pytest.approx(np.mean(iv["repeats"]))
    assert doc["faces"]["available"] is False and "faces step has not run" in doc["faces"]["reason"]
    assert len({tuple(r) for r in doc["settings"]["repeat_seeds"]}) == 3  # a new split and seed each time
    # the repetitions differ (new split, refit, new samples), so a real interval has width
    assert len(set(doc["table"][1]["intervals"]["nn_real_mean"]["repeats"])) == 3
    s = doc["settings"]
    assert (s["n_fit"], s["n_holdout"], s["n_real"], s["n_fake"]) == (96, 24, 24, 60)
    assert (s["repeats"], s["level"], s["interval"]) == (3, 0.95, "student-t")
    assert s["b"] == {"value": 0.5, "source": "stats.json"}
    assert s["latents_vs_encoder"] < 1e-4 and s["copy_quantile"] == genjudge.COPY_QUANTILE
    assert s["copy_share_limit"] == 2 * genjudge.COPY_QUANTILE
    assert all(row["copies"] == (row["copy_share"] > s["copy_share_limit"]) for row in doc["table"])
    assert (s["n_image"], s["n_image_real"], s["n_images"]) == (30, 24, 9)
    assert set(doc["image_reference"]) == {"raw", "reconstructed"}
    assert doc["table"][0]["pixel_precision"] > 0.5  # reconstructions vs held-out reconstructions
    assert doc["generators"]["mvn-core"]["fitted"]["kept_fraction"] > 0.5
    sel = doc["gmm_selection"]
    assert [(c["covariance_type"], c["n_components"]) for c in sel["candidates"]] == \
        [("full", 1), ("full", 2), ("diag", 1), ("diag", 2)]
    scored = [c for c in sel["candidates"] if c["heldout_loglik"] is not None]
    best = max(scored, key=lambda c: c["heldout_loglik"])
    assert sel["chosen"] == {"n_components": best["n_components"], "covariance_type": best["covariance_type"]}
    assert sel["criterion"] == "heldout" and sel["n_train"] + sel["n_validation"] == 96
    gmm = doc["generators"]["gmm"]
    assert sel["tol"] == gmm["params"]["tol"] == GenerateConfig().gmm_tol  # one EM tolerance: selection and refit
    first = {k: gmm["repeat_params"][0].get(k, gmm["params"][k]) for k in ("n_components", "covariance_type")}
    assert first == sel["chosen"]
    for name, info in doc["generators"].items():  # params claim only what every repetition shares
        assert "random_state" in info["varying"] and info["params"]["random_state"] is None, name
        assert [p["random_state"] for p in info["repeat_params"]] == [s for _, s in doc["settings"]["repeat_seeds"]]
        assert all(set(p) == set(info["varying"]) for p in info["repeat_params"])
        assert all(info["params"][k] is None for k in info["varying"])
    assert len(gmm["repeats"]) == 3 and gmm["repeats"][0] == gmm["fitted"]
    for fit in gmm["repeats"]:  # EM convergence reported for every repetition
        assert isinstance(fit["converged"], bool) and fit["n_iter"] >= 1 and np.isfinite(fit["lower_bound"])
    for sweep, param in (("gmm_components", "n_components"), ("pca_confidence", "confidence")):
        sw = doc["sweeps"][sweep]
        assert sw["parameter"] == param and len(sw["precision"]) == len(sw["values"]) == 2
    with np.load(out / "samples.npz") as npz:
        assert npz["z_gmm"].shape == (9, 8) and npz["z_gmm"].dtype == np.float32
        assert npz["images_gmm"].shape == (9, 1, 16, 16) and npz["images_gmm"].dtype == np.uint8
        assert npz["images_real"].shape == npz["images_reconstructed"].shape == (9, 1, 16, 16)
    for png in doc["files"]["sheets"].values():
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = provenance.read_manifest(run_dir, "generate")
    assert set(manifest["inputs"]) == {"latents.npy", "train/model.pt", "data/images.npy", "stats/stats.json",
                                       "faces/calibration.json", "faces/classifier.skops", "faces/folds.skops"}
    assert manifest["inputs"]["faces/calibration.json"] == "absent"
    assert len(manifest["outputs"]) == 2 + 2 + len(cfg.generate.generators)


def _fit_parts(run_dir, cfg) -> list[tuple[np.ndarray, int]]:
    """Every repetition's fit part and generator seed, as the step draws them."""
    z = np.load(run_dir / "latents.npy")
    out = []
    for split_seed, gen_seed in genfit.repeat_seeds(cfg.run.seed, cfg.generate.repeats):
        sp = genjudge.split_points(*z.shape, cfg.generate, split_seed)
        out.append((z[np.sort(sp.fit)], gen_seed))
    return out


def test_every_repetition_selects_the_gmm_on_its_own_fit_part(done):
    run_dir, cfg, doc = done
    sel = doc["gmm_selection"]
    assert sel["repeats"] == len(sel["per_repeat"]) == cfg.generate.repeats == 3
    assert {k: sel["per_repeat"][0][k] for k in ("n_components", "covariance_type")} == sel["chosen"]
    for entry, (z_fit, seed) in zip(sel["per_repeat"], _fit_parts(run_dir, cfg)):
        again = genfit.select_gmm(cfg, z_fit, seed)  # that repetition's selection, made afresh
        best = again.results_[again.best_index_]
        assert entry == {**again.best_params_, "score": best["heldout_loglik"]}
    # a selection made once would give every repetition the first one's figure
    assert len({e["score"] for e in sel["per_repeat"]}) == 3
    choices = [(e["n_components"], e["covariance_type"]) for e in sel["per_repeat"]]
    assert (sel["modal"]["n_components"], sel["modal"]["covariance_type"]) in choices
    assert sel["agreement"] == max(choices.count(c) for c in choices)


def test_repetitions_that_choose_differently_are_reported_as_such(tmp_path, monkeypatch):
    """Each repetition's selector sees its own fit part; where the choices differ, nothing claims one
    configuration: the selector offers 1 diagonal component in the first repetition, 2 in the others."""
    cfg = _config('generate.generators=["mvn","gmm"]', "generate.sweep_confidence=[]")
    _make_run(tmp_path, cfg)
    seen = []

    def selector(**kw):
        seen.append(kw["random_state"])
        return RecordingSelector(**{**kw, "n_components": (1,) if len(seen) == 1 else (2,),
                                    "covariance_types": ("diag",)})

    class RecordingSelector(GMMSelector):
        def fit(self, z, y=None):
            seen.append(np.array(z))
            return super().fit(z)

    monkeypatch.setattr(genfit, "GMMSelector", selector)
    doc = generate.run(cfg, tmp_path)
    parts = _fit_parts(tmp_path, cfg)
    assert [x for x in seen if isinstance(x, int)] == [seed for _, seed in parts]
    for got, (z_fit, _) in zip([x for x in seen if isinstance(x, np.ndarray)], parts, strict=True):
        np.testing.assert_array_equal(got, z_fit)
    sel = doc["gmm_selection"]
    assert [(e["n_components"], e["covariance_type"]) for e in sel["per_repeat"]] == [(1, "diag"), (2, "diag"),
                                                                                        (2, "diag")]
    assert sel["chosen"] == {"n_components": 1, "covariance_type": "diag"}  # the first repetition's, as before
    assert (sel["modal"], sel["agreement"], sel["repeats"]) == ({"n_components": 2, "covariance_type": "diag"}, 2, 3)
    gmm = doc["generators"]["gmm"]
    assert gmm["varying"] == ["n_components", "random_state"]
    assert gmm["params"]["n_components"] is None and gmm["params"]["covariance_type"] == "diag"
    assert [p["n_components"] for p in gmm["repeat_params"]] == [1, 2, 2]
    assert doc["sweeps"]["gmm_components"]["values"] == [1]  # the sweep stays on the first repetition
    view = Run(tmp_path).generate.gmm_selection
    assert view.varied and view.choice_text == (
        "the choice varied: the held-out log-likelihood chose 2 diag-covariance "
        "components in 2 of the 3 repetitions, 1 diag-covariance component in 1")


def test_modal_choice_counts_and_breaks_ties_by_first_repetition():
    c = [{"n_components": k, "covariance_type": t} for k, t in ((5, "full"), (2, "diag"), (2, "diag"), (5, "full"))]
    assert genfit.modal_choice(c) == ({"n_components": 5, "covariance_type": "full"}, 2)
    assert genfit.modal_choice(c[1:]) == ({"n_components": 2, "covariance_type": "diag"}, 2)
    assert genfit.modal_choice(c[:1]) == ({"n_components": 5, "covariance_type": "full"}, 1)


def test_rerun_skips_and_forced_rerun_is_byte_identical(done):
    run_dir, cfg, _ = done
    files = sorted((run_dir / "generate").iterdir())
    before = {p.name: p.read_bytes() for p in files}
    manifest = (run_dir / "generate.manifest.json").read_bytes()
    mtimes = {p.name: p.stat().st_mtime_ns for p in files}
    generate.run(cfg, run_dir)  # up to date: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in files} == mtimes
    generate.run(cfg, run_dir, force=True)
    assert {p.name: p.read_bytes() for p in sorted((run_dir / "generate").iterdir())} == before
    assert (run_dir / "generate.manifest.json").read_bytes() == manifest


def test_without_stats_b_is_measured_and_noted(tmp_path):
    cfg = _config("generate.generators=[\"uniform\",\"mvn\"]", "generate.sweep_confidence=[]")
    _make_run(tmp_path, cfg, with_stats=False)
    doc = generate.run(cfg, tmp_path)
    assert doc["settings"]["b"]["source"] == "measured" and doc["settings"]["b"]["value"] > 0
    assert any("stats.json is absent" in n for n in doc["notes"])
    assert provenance.read_manifest(tmp_path, "generate")["inputs"]["stats/stats.json"] == "absent"
    assert doc["sweeps"]["gmm_components"]["values"] == [] and doc["gmm_selection"] is None


@pytest.mark.parametrize("overrides, needle", [
    (["generate.generators=[\"uniform\",\"pca_ellipsoid\"]"], "did you mean 'pca-ellipsoid'"),
    (["generate.generators=[]"], "is empty"),
    (["generate.generators=[\"mvn\",\"mvn\"]"], "more than once"),
    (["generate.sweep_confidence=[1.5]"], "sweep_confidence[0]"),
    (['generate.gmm_covariance=["full","tied"]'], "gmm_covariance[1]"),
    (["generate.gmm_components=[]"], "'generate.gmm_components' is empty"),
    (["generate.gmm_components=[2,2]"], "more than once"),
    (["model.latent_dim=16", "generate.holdout_fraction=0.9"], "need at least N + 1 = 17 fit points"),
    (["generate.k=50", "generate.image_points=100"], "more than k = 50"),
    (["generate.k=50"], "image_points = 30 must exceed generate.k = 50"),
])
def test_bad_config_is_a_user_error_and_writes_nothing(tmp_path, overrides, needle):
    with pytest.raises(UserError) as e:
        cfg = _config(*overrides)  # (an item out of its range is refused as the config is read)
        _make_run(tmp_path, cfg)
        generate.run(cfg, tmp_path)
    assert needle in str(e.value) and " -- " in str(e.value)
    assert not (tmp_path / "generate").exists() and not (tmp_path / "generate.manifest.json").exists()


def test_missing_or_mismatched_inputs_are_user_errors(tmp_path):
    cfg = _config()
    _make_run(tmp_path, cfg)
    shutil.move(tmp_path / "train" / "model.pt", tmp_path / "model.bak")
    with pytest.raises(UserError, match="does not exist"):
        generate.run(cfg, tmp_path)
    shutil.move(tmp_path / "model.bak", tmp_path / "train" / "model.pt")
    storage.save_npy(tmp_path / "data" / "images.npy", np.zeros((N_POINTS - 1, 1, 16, 16), np.uint8))
    with pytest.raises(UserError, match="one image per latent point"):
        generate.run(cfg, tmp_path)
    storage.save_json(tmp_path / "stats" / "stats.json", {"b": {}})
    storage.save_npy(tmp_path / "data" / "images.npy", np.zeros((N_POINTS, 1, 16, 16), np.uint8))
    with pytest.raises(UserError, match="no b.used"):
        generate.run(cfg, tmp_path)
    assert not (tmp_path / "generate").exists()


def test_contact_sheet_is_deterministic_png():
    imgs = np.random.default_rng(0).integers(0, 256, size=(5, 3, 8, 8), dtype=np.uint8)
    a, b = genjudge.contact_sheet(imgs), genjudge.contact_sheet(imgs)
    assert a == b and a[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image
    import io as _io
    im = Image.open(_io.BytesIO(a))
    assert im.mode == "RGB" and im.size == (3 * 64 + 4 * 2, 2 * 64 + 3 * 2)


def test_cli_bad_generator_exits_2_with_one_line(tmp_path):
    from conftest import SMOKE, assert_user_error, run_cli
    proc = run_cli("generate", "--config", str(SMOKE), "--out", str(tmp_path / "run"),
                   "--set", 'generate.generators=["uniform","indepndent-normal"]')
    assert_user_error(proc, "unknown generator 'indepndent-normal'", "did you mean 'independent-normal'")


def test_pipeline_run_needs_a_finished_stats_step(tmp_path):
    cfg = _config("generate.sweep_confidence=[]")
    _make_run(tmp_path, cfg, with_stats=False)
    provenance.write_manifest(tmp_path, "encode", "k", inputs={}, outputs=[tmp_path / "latents.npy"])
    with pytest.raises(UserError, match="stats step has not finished"):
        generate.run(cfg, tmp_path)
    stats = tmp_path / "stats" / "stats.json"
    storage.save_json(stats, {"b": {"used": 0.5}})
    provenance.write_manifest(tmp_path, "stats", "k", inputs={"latents.npy": provenance.sha256_file(tmp_path / "latents.npy")},
                      outputs=[stats])
    storage.save_json(stats, {"b": {"used": 0.7}})  # changed after the stats step finished
    with pytest.raises(UserError, match="differs from what the stats step recorded"):
        generate.run(cfg, tmp_path)
    provenance.write_manifest(tmp_path, "stats", "k", inputs={"latents.npy": "0" * 64}, outputs=[stats])
    with pytest.raises(UserError, match="other latents"):
        generate.run(cfg, tmp_path)
    provenance.write_manifest(tmp_path, "stats", "k", inputs={"latents.npy": provenance.sha256_file(tmp_path / "latents.npy")},
                      outputs=[stats])
    assert generate.run(cfg, tmp_path)["settings"]["b"] == {"value": 0.7, "source": "stats.json"}


# --------------------------------------------------------------------------- intervals and ranks from synthetic tables

def _repeats(scores: dict[str, list[float]]) -> list[genfit.Repeat]:
    """Repetitions whose rows (reference first) have the given scores and every other metric 0.5."""
    names = [genjudge.REFERENCE, *scores]
    ref = [0.95, 0.96, 0.94, 0.95, 0.97]
    out = []
    for i in range(len(ref)):
        rows = []
        for nm in names:
            row = {m: 0.5 for m in genjudge.METRICS}
            row.update(name=nm, kind="reference" if nm == genjudge.REFERENCE else "generator",
                       score=ref[i] if nm == genjudge.REFERENCE else scores[nm][i])
            rows.append(row)
        out.append(genfit.Repeat(rows=rows, generators={}))
    return out


def test_overlapping_score_intervals_share_a_rank_and_separated_ones_are_ranked():
    table = genfit.table_of(_repeats({
        "best": [0.85, 0.86, 0.84, 0.85, 0.87],
        "b": [0.60, 0.58, 0.61, 0.59, 0.60],     # overlaps c: a tie
        "c": [0.59, 0.60, 0.58, 0.60, 0.61],
        "zero-1": [0.0] * 5, "zero-2": [0.0] * 5, "zero-3": [0.0] * 5,  # all 0: a three-way tie, not ranks 5/6/7
    }), 0.95)
    by = {r["name"]: r for r in table}
    assert table[0]["name"] == genjudge.REFERENCE and table[0]["rank"] is None
    assert by["best"]["rank"] == 1 and by["best"]["tied_with"] == []
    assert by["b"]["rank"] == by["c"]["rank"] == 2
    assert by["b"]["tied_with"] == ["c"] and by["c"]["tied_with"] == ["b"]
    assert {by[f"zero-{i}"]["rank"] for i in (1, 2, 3)} == {4}
    assert by["zero-1"]["tied_with"] == ["zero-2", "zero-3"]
    assert [r["name"] for r in table[1:]] == ["best", "b", "c", "zero-1", "zero-2", "zero-3"]
    iv = by["b"]["intervals"]["score"]
    assert iv["repeats"] == [0.60, 0.58, 0.61, 0.59, 0.60] and iv["low"] < by["b"]["score"] < iv["high"]
    assert by["zero-1"]["intervals"]["score"] == {"low": 0.0, "high": 0.0, "repeats": [0.0] * 5}


def test_close_means_with_wide_intervals_tie_and_with_narrow_intervals_rank():
    wide = genfit.table_of(_repeats({"a": [0.62, 0.55, 0.60, 0.52, 0.63], "b": [0.58, 0.61, 0.50, 0.64, 0.59]}),
                             0.95)
    assert [r["rank"] for r in wide[1:]] == [1, 1]
    narrow = genfit.table_of(_repeats({"a": [0.596, 0.597, 0.595, 0.596, 0.596],
                                         "b": [0.584, 0.585, 0.583, 0.584, 0.584]}), 0.95)
    assert [(r["name"], r["rank"], r["tied_with"]) for r in narrow[1:]] == [("a", 1, []), ("b", 2, [])]


def test_separated_ranks_count_only_intervals_wholly_above():
    # a overlaps b, b overlaps c, a does not overlap c: rank = 1 + intervals wholly above
    ranks, ties = cal.separated_ranks([0.8, 0.6, 0.4], [1.0, 0.85, 0.65])
    assert ranks == [1, 1, 2] and ties == [[1], [0, 2], [1]]
    with pytest.raises(ValueError, match="low <= high"):
        cal.separated_ranks([0.5], [0.4])


def test_mean_interval_is_students_t_and_respects_the_metric_range():
    v = [0.2, 0.25, 0.3, 0.22, 0.28]
    mean, lo, hi = cal.mean_interval(v, 0.95)
    ref = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert mean == pytest.approx(np.mean(v)) and (lo, hi) == pytest.approx(ref)
    assert cal.mean_interval([0.0, 0.0, 0.01], 0.95, 0.0, 1.0)[1] == 0.0  # clipped at the range
    assert cal.mean_interval([0.4] * 5, 0.95) == pytest.approx((0.4, 0.4, 0.4))
    with pytest.raises(ValueError, match="at least 2"):
        cal.mean_interval([0.3], 0.95)
