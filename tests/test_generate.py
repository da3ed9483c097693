"""The generate step end to end on a tiny model and tiny data (issue 6)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from analysis import generate, provenance, storage
from analysis.config import load_config
from analysis.errors import UserError
from analysis.model import architecture, build_model

SETTINGS = ["data.source=synthetic", "data.image_size=16", "model.channels=[8,16]", "model.latent_dim=8",
            "generate.n_samples=60", "generate.n_images=9", "generate.image_points=30", "generate.k=3",
            "generate.gmm_components=2", "generate.sweep_components=[1,3]",
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
    assert names[0] == generate.REFERENCE and sorted(names[1:]) == sorted(cfg.generate.generators)
    assert [r["rank"] for r in doc["table"]] == [None] + list(range(1, len(names)))
    scores = [r["score"] for r in doc["table"][1:]]
    assert scores == sorted(scores, reverse=True)
    for row in doc["table"]:
        for key in ("in_support", "precision", "recall", "density", "coverage", "nn_real_mean", "radius_w1",
                    "pixel_precision", "pixel_recall", "reencode_gap", "reencode_gap_rel", "copy_share", "nn_fit_ratio"):
            assert row[key] is not None and row[key] >= 0, (row["name"], key)
    s = doc["settings"]
    assert (s["n_fit"], s["n_holdout"], s["n_real"], s["n_fake"]) == (96, 24, 24, 60)
    assert s["b"] == {"value": 0.5, "source": "stats.json"}
    assert s["latents_vs_encoder"] < 1e-4 and s["copy_quantile"] == generate.COPY_QUANTILE
    assert s["copy_share_limit"] == 2 * generate.COPY_QUANTILE
    assert all(row["copies"] == (row["copy_share"] > s["copy_share_limit"]) for row in doc["table"])
    assert (s["n_image"], s["n_image_real"], s["n_images"]) == (30, 24, 9)
    assert set(doc["image_reference"]) == {"raw", "reconstructed"}
    assert doc["table"][0]["pixel_precision"] > 0.5  # reconstructions vs held-out reconstructions
    assert doc["generators"]["mvn-core"]["fitted"]["kept_fraction"] > 0.5
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
    assert set(manifest["inputs"]) == {"latents.npy", "train/model.pt", "data/images.npy", "stats/stats.json"}
    assert len(manifest["outputs"]) == 2 + 2 + len(cfg.generate.generators)


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
    cfg = _config("generate.generators=[\"uniform\",\"mvn\"]", "generate.sweep_components=[]",
                  "generate.sweep_confidence=[]")
    _make_run(tmp_path, cfg, with_stats=False)
    doc = generate.run(cfg, tmp_path)
    assert doc["settings"]["b"]["source"] == "measured" and doc["settings"]["b"]["value"] > 0
    assert any("stats.json is absent" in n for n in doc["notes"])
    assert provenance.read_manifest(tmp_path, "generate")["inputs"]["stats/stats.json"] == "absent"
    assert doc["sweeps"]["gmm_components"]["values"] == []


@pytest.mark.parametrize("overrides, needle", [
    (["generate.generators=[\"uniform\",\"pca_ellipsoid\"]"], "did you mean 'pca-ellipsoid'"),
    (["generate.generators=[]"], "is empty"),
    (["generate.generators=[\"mvn\",\"mvn\"]"], "more than once"),
    (["generate.sweep_confidence=[1.5]"], "sweep_confidence[0]"),
    (["model.latent_dim=16", "generate.holdout_fraction=0.9"], "need at least N + 1 = 17 fit points"),
    (["generate.k=50", "generate.image_points=100"], "more than k = 50"),
    (["generate.k=50"], "image_points = 30 must exceed generate.k = 50"),
])
def test_bad_config_is_a_user_error_and_writes_nothing(tmp_path, overrides, needle):
    cfg = _config(*overrides)
    _make_run(tmp_path, cfg)
    with pytest.raises(UserError) as e:
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
    a, b = generate.contact_sheet(imgs), generate.contact_sheet(imgs)
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
    cfg = _config("generate.sweep_components=[]", "generate.sweep_confidence=[]")
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
