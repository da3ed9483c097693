"""The decode step (analysis/steps/decode.py) and its library (analysis/science/probes.py, the cross-fitted
distances of analysis/science/calibration.py): decoded planes and paths, distances to the data,
re-encoding gaps, where faces stop, and the live decoder's weights.

The step's artifacts are those of the smoke pipeline of ``test_report.py`` (run once per
session); every stored value checked here is recomputed independently from the latents and
the model.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from sklearn.covariance import LedoitWolf

import test_report
from analysis.science import calibration as cal
from analysis.steps import decode, instrument
from analysis.science import export, probes
from analysis.pipeline import steps
from analysis.science import metrics as M
from analysis.artifacts import Absent, Run
from analysis.pipeline.config import load_config
from analysis.pipeline.model import load_checkpoint
from conftest import SMOKE, assert_user_error, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return test_report.smoke_run(tmp_path_factory)


@pytest.fixture(scope="module")
def run(run_dir):
    return Run(run_dir)


@pytest.fixture(scope="module")
def model(run_dir):
    m, _ = load_checkpoint(run_dir / "train" / "model.pt", load_config(SMOKE))
    return m


# --------------------------------------------------------------------------- the library

def test_crossfit_distances_are_each_folds_ledoit_wolf_fit():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)) * np.arange(1, 7) + 2.0
    d = cal.crossfit_distances(x, 4, np.random.default_rng(7))
    folds = cal.fold_ids(len(x), 4, np.random.default_rng(7))
    for f in range(4):
        lw = LedoitWolf().fit(x[folds != f])
        np.testing.assert_allclose(d[folds == f] ** 2, lw.mahalanobis(x[folds == f]), rtol=1e-8)
    fit = cal.ledoit_wolf_fit(x)
    inside = cal.fit_distances(fit, x)
    assert np.median(d) > np.median(inside)  # in-sample distances are biased towards the centre


def test_data_distance_and_rays():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5)) * [3.0, 2.0, 1.0, 0.5, 0.1] + 4.0
    dd = probes.data_distance(x, 5, 0.99, np.random.default_rng(2))
    assert dd.nn_boundary == pytest.approx(np.quantile(M.knn_radii(x, 1), 0.99))
    assert dd.boundary == pytest.approx(np.quantile(dd.held_out, 0.99))
    assert np.allclose(dd.distance(x[:10]), 0.0, atol=1e-3)  # its own nearest point (float32 distances)
    far = x.mean(axis=0) + 100.0
    assert dd.distance(far[None])[0] > 10 and dd.mahalanobis_relative(far[None])[0] > 10
    np.testing.assert_allclose(dd.principal_axis("longest") ** 2, [1, 0, 0, 0, 0], atol=0.05)
    np.testing.assert_allclose(dd.principal_axis("shortest") ** 2, [0, 0, 0, 0, 1], atol=0.05)
    centre = x.mean(axis=0)
    u = probes.outward(-dd.principal_axis("longest"), centre)
    assert u @ centre >= 0 and np.linalg.norm(u) == pytest.approx(1.0)
    length = probes.ray_length(dd, centre, u, 3.0)
    assert dd.distance((centre + length * u)[None])[0] == pytest.approx(3.0, rel=2e-3)
    assert dd.distance((centre + 0.9 * length * u)[None])[0] < 3.0
    with pytest.raises(ValueError, match="folds need at least"):
        probes.data_distance(x[:6], 5, 0.99, rng)
    with pytest.raises(ValueError, match="coincide"):
        probes.data_distance(np.ones((20, 3)), 2, 0.99, rng)


def test_planes_windows_and_pairs():
    anchor = np.arange(5.0)
    pts = probes.plane_points(anchor, 1, 3, [10.0, 11.0, 12.0], [-1.0, -2.0])
    assert pts.shape == (2, 3, 5)
    assert pts[1, 2, 1] == 12.0 and pts[1, 2, 3] == -2.0 and pts[1, 2, 0] == 0.0 and pts[0, 0, 4] == 4.0
    assert probes.window(2.0, 5.0) == (0.0, 5.0) and probes.window(-3.0, -1.0) == (-3.0, 0.0)
    assert probes.window(0.0, 0.0) == (-1.0, 1.0)
    seg = probes.segment([0.0, 0.0], [2.0, 4.0], 5)
    np.testing.assert_allclose(seg[2], [1.0, 2.0])
    x = np.random.default_rng(3).normal(size=(40, 3))
    i, j = probes.near_pair(x, np.random.default_rng(4))
    d = np.linalg.norm(x - x[i], axis=1)
    d[i] = np.inf
    assert j == int(np.argmin(d))
    a, b = probes.far_pair(x, np.random.default_rng(5))
    full = np.linalg.norm(x[:, None] - x[None], axis=2)
    assert full[a, b] == pytest.approx(full.max())
    with pytest.raises(ValueError, match="two different components"):
        probes.plane_points(anchor, 2, 2, [0.0], [0.0])


def test_face_stop():
    d = np.linspace(0, 3, 7)
    assert probes.face_stop(d, [1, 1, 1, 1, 1, 1, 1])["stop"] is None
    assert probes.face_stop(d, [0, 1, 1, 1, 1, 1, 1]) == {"start_face": False, "stop_index": None, "last_face": None,
                                                          "first_nonface": None, "stop": None}
    s = probes.face_stop(d, [1, 1, 1, 0, 1, 0, 0])  # the first non-face ends the faces
    assert s["stop_index"] == 3 and s["last_face"] == 1.0 and s["first_nonface"] == 1.5 and s["stop"] == 1.25


def _ray(label, stop, start_face=True):
    return {"kind": "ray", "label": f"centre → out {label}",
            "stop": {"start_face": start_face, "stop": stop, "mahalanobis": None if stop is None else 2 * stop}}


class _Faces:
    """A calibrated face test as the decode step sees it (usable or not)."""

    def __init__(self, usable: bool):
        self.usable, self.rule = usable, "both" if usable else None
        self.reason = None if usable else "no face test passed its calibration (noise: false-positive rate 40 %)"
        self.text = "A decoded image counts as a face when both tests call it one."


@pytest.mark.parametrize("stops, band, verdict, words", [
    ([0.9, 1.2, 1.6], "at the boundary", "reproduced", "1.2 times"),
    ([0.2, 0.3, 2.5], "inside the data", "partly", "0.3 times"),
    ([2.5, None, 2.8], "beyond the data", "not reproduced", "2.8 times"),
    ([None, None, 1.0], "beyond the data", "not reproduced", "at least 3 times"),
], ids=["boundary", "inside", "beyond", "censored"])
def test_the_verdict_follows_the_stops(stops, band, verdict, words):
    cfg = load_config(None)
    paths = [_ray(f"along axis {i}", s) for i, s in enumerate(stops)] + [{"kind": "segment", "label": "x", "stop": None}]
    v = decode.stop_verdict(paths, cfg, {"nn_boundary": 2.0}, 100, _Faces(True))
    assert (v["band"], v["verdict"]) == (band, verdict)
    assert words in v["sentence"] and "0.5 to 2 B" in v["criterion"] and "both tests call it one" in v["criterion"]
    none = decode.stop_verdict([_ray("a", None, start_face=False)], cfg, {"nn_boundary": 2.0}, 100, _Faces(True))
    assert none["band"] == none["verdict"] == "not testable" and none["median"] is None
    untested = decode.stop_verdict(paths, cfg, {"nn_boundary": 2.0}, 100, _Faces(False))
    assert untested["verdict"] == "not testable" and "false-positive rate 40 %" in untested["sentence"]


# --------------------------------------------------------------------------- the step on the smoke run

def test_planes_are_the_shown_pairs_decoded(run, model):
    D, P, A, S = run.decode, run.decode_planes, run.arrays, run.stats
    G, (C, Sz, _) = D.settings.grid, D.settings.image_shape
    assert [tuple(p.pair) for p in D.planes] == [tuple(p.pair) for p in S.pairs]
    assert P.images.shape == (len(S.pairs), 2, G, G, C, Sz, Sz) and P.images.dtype == np.uint8
    centre = np.asarray(A.component_mean)
    for p, rec in enumerate(D.planes):
        j1, j2 = rec.pair
        assert P.xs[p, 0] <= 0 <= P.xs[p, -1] and P.ys[p, 0] <= 0 <= P.ys[p, -1]
        assert P.xs[p, 0] == pytest.approx(min(0.0, A.component_min[j1]))
        assert P.ys[p, -1] == pytest.approx(max(0.0, A.component_max[j2]))
        assert rec.centre.tiles == G * G == rec.centre.inside + rec.centre.outside
        assert rec.origin.faces_inside == int((P.face[p, 1] & (P.distance[p, 1] <= 1)).sum())
    # one tile of each plane, decoded again: image, distance and face agree
    p, iy, ix = 0, 2, 7
    j1, j2 = D.planes[p].pair
    pts = np.stack([centre, np.zeros_like(centre)])
    pts[:, j1], pts[:, j2] = P.xs[p, ix], P.ys[p, iy]
    with torch.no_grad():
        img = model.decode(torch.from_numpy(pts.astype(np.float32))).numpy()
    assert np.abs(P.images[p, :, iy, ix].astype(int) - np.rint(img * 255)).max() <= 1
    z = np.asarray(run.latents_array(), dtype=np.float64)
    B = np.quantile(M.knn_radii(z, 1), D.reference.quantile)
    assert D.reference.nn_boundary == pytest.approx(B, rel=1e-5)
    np.testing.assert_allclose(P.distance[p, :, iy, ix], M.nearest_distances(pts, z) / B, rtol=1e-4)
    np.testing.assert_allclose(P.anchor_z[0], centre, rtol=1e-6)
    assert not P.anchor_z[1].any()


def test_paths_distances_gaps_and_faces(run, model, run_dir):
    D, Q = run.decode, run.decode_paths
    T, N = D.settings.path_steps, D.N
    assert [p.name for p in D.paths] == ["origin_to_centre", "near_pair", "far_pair", "longest_axis",
                                        "shortest_axis", "coordinate_axis"]
    assert Q.z.shape == (6, T, N) and T >= 16 and Q.images.shape[:2] == (6, T)
    np.testing.assert_allclose(Q.t, np.linspace(0, 1, T))
    centre = np.asarray(run.arrays.component_mean)
    z = np.asarray(run.latents_array(), dtype=np.float64)
    assert not Q.z[0, 0].any() and np.allclose(Q.z[0, -1], centre, rtol=1e-5)
    for q in (1, 2):  # between two real points
        for end in (0, -1):
            assert np.min(np.abs(z - Q.z[q, end]).max(axis=1)) < 1e-5
    for p in D.rays:
        q = [x.name for x in D.paths].index(p.name)
        assert np.allclose(Q.z[q, 0], centre, rtol=1e-5)
        assert p.distance_end == pytest.approx(D.settings.extent, rel=0.01)  # out to extent x B
        steps_ = np.diff(Q.z[q], axis=0)
        assert np.allclose(steps_, steps_[0], atol=1e-5)  # straight, evenly spaced
        assert p.stop is not None
    # re-encoding gaps and faces, recomputed for every step of one ray
    q = 3
    pts = torch.from_numpy(Q.z[q].astype(np.float32))
    with torch.no_grad():
        dec = model.decode(pts)
        back = model.encode(dec).numpy()
        real = model.decode(torch.from_numpy(z.astype(np.float32))).numpy()
    gap = np.linalg.norm(back - Q.z[q], axis=1) / D.reference.spread
    np.testing.assert_allclose(Q.gap[q], gap, rtol=1e-3, atol=1e-5)
    labels = instrument.load_instrument(run_dir).label(dec.numpy())
    for key, arr in (("face", Q.face), ("detector", Q.face_detector), ("classifier", Q.face_classifier)):
        assert (arr[q] == labels[key]).mean() >= 0.95, key  # rounding at a decision boundary may differ
    assert D.paths[q].faces == int(Q.face[q].sum())
    real_gap = np.linalg.norm(model.encode(torch.from_numpy(real)).detach().numpy() - z, axis=1) / D.reference.spread
    assert D.reference.gap_q95 == pytest.approx(np.quantile(real_gap, 0.95), rel=1e-3)


def test_stops_and_sentences_follow_the_numbers(run):
    D = run.decode
    st = D.stops
    s = D.planes_summary
    for kind, a in (("centre", s.anchors.centre), ("origin", s.anchors.origin)):
        assert a.tiles_inside + a.tiles_outside == len(D.planes) * D.settings.grid ** 2
        assert a.faces_inside == sum(getattr(p, kind).faces_inside for p in D.planes)
    if not D.faces.usable:  # the smoke data's face tests do not pass their calibration
        assert st.band == "not testable" and st.median is None and not s.testable
        reason = run.face_judgement.reason  # the run's own (its reconstructions checked), as generate recorded it
        assert run.face_judgement.checked and reason in st.sentence and reason in s.sentence
        return
    values = sorted(p.stop.stop if p.stop.stop is not None else D.settings.extent for p in D.rays if p.stop.start_face)
    assert st.median == pytest.approx(float(np.median(values)))
    lo, hi = D.settings.stop_band
    want = "inside the data" if st.median < lo else "at the boundary" if st.median <= hi else "beyond the data"
    assert st.band == want
    assert f"{st.median:.2g} times" in st.sentence or f"at least {D.settings.extent:g} times" in st.sentence
    assert f"{s.anchors.centre.tiles_inside:,} tiles inside" in s.sentences.centre


def test_live_decoder_file_and_manifest(run, run_dir, model):
    live = run.decode.live
    assert live.available and live.weights_bytes == export.weights_bytes(model.decoder) < export.LIVE_MAX_BYTES
    path = run.live_decoder_file
    assert path == run_dir / "decode" / "decoder.js"
    assert path.read_bytes() == export.weights_script(model.decoder)
    m = json.loads((run_dir / "decode.manifest.json").read_text())
    assert set(m["outputs"]) == {"decode/decode.json", "decode/planes.npz", "decode/paths.npz", "decode/decoder.js"}
    assert set(m["inputs"]) == set(steps.DECODE.inputs)


def test_too_large_a_decoder_gets_no_live_decoder(run_dir, tmp_path, monkeypatch):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    monkeypatch.setattr(export, "LIVE_MAX_BYTES", 1000)
    steps.run("decode", load_config(SMOKE), copy, force=True)
    r = Run(copy)
    live = r.decode.live
    assert not live.available and live.file is None and "MB" in live.reason and "precomputed planes" in live.reason
    assert not (copy / "decode" / "decoder.js").exists()
    assert isinstance(r.live_decoder_file, Absent)
    assert "decode/decoder.js" not in json.loads((copy / "decode.manifest.json").read_text())["outputs"]
    assert any("no live decoder" in n for n in r.decode.notes)
    assert r.decode_planes.images.shape == Run(run_dir).decode_planes.images.shape  # the precomputed grids stay


def test_decode_is_deterministic_and_skips_when_up_to_date(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = {f.name: f.read_bytes() for f in (copy / "decode").iterdir()}
    p = run_cli("decode", "--config", str(SMOKE), "--out", str(copy))
    assert p.returncode == 0 and "decode: up to date" in p.stderr, p.stderr
    p = run_cli("decode", "--config", str(SMOKE), "--out", str(copy), "--force")
    assert p.returncode == 0, p.stderr
    assert {f.name: f.read_bytes() for f in (copy / "decode").iterdir()} == before


@pytest.mark.parametrize("override, needle", [
    ("decode.stop_band=[2.0, 3.0]", "decode.stop_band"),
    ("decode.stop_band=[0.5, 4.0]", "decode.extent"),
    ("decode.path_steps=8", "decode.path_steps"),
    ("decode.grid=1", "decode.grid"),
    ("decode.reference_points=3000", None),
], ids=["band", "band-beyond-extent", "steps", "grid", "ok"])
def test_bad_decode_settings_exit_2_and_write_nothing(run_dir, tmp_path, override, needle):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    before = (copy / "decode" / "decode.json").read_bytes()
    p = run_cli("decode", "--config", str(SMOKE), "--out", str(copy), "--set", override)
    if needle is None:
        assert p.returncode == 0, p.stderr
        return
    assert_user_error(p, needle)
    assert (copy / "decode" / "decode.json").read_bytes() == before


def test_too_few_points_for_the_folds_is_a_user_error(run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    p = run_cli("decode", "--config", str(SMOKE), "--out", str(copy), "--set", "decode.folds=100")
    assert_user_error(p, "decode.folds")
