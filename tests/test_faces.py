"""The face tests on small images made here: what is a face, what is not, and how they are judged."""

from __future__ import annotations

import matplotlib.cbook as cbook
import numpy as np
import pytest
from PIL import Image

from analysis.steps import data, decode, facetest, genfit, genjudge, instrument
from analysis.science import faces as F
from analysis.science import metrics as M


def hopper_crops(n: int, size: int = 24, seed: int = 0, colour: bool = False) -> np.ndarray:
    """n tight face crops (CBCL-like: brows to mouth) of the portrait matplotlib ships, jittered in position
    and scale and mirrored at random: uint8 (n, C, size, size)."""
    rng = np.random.default_rng(seed)
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as im:
        img = im.convert("RGB" if colour else "L")
        x, y, w = 145, 99, 239  # OpenCV's frontal cascade finds her face here
        out = []
        for _ in range(n):
            s = w * rng.uniform(0.72, 0.8)
            cx, cy = x + w / 2 + rng.uniform(-6, 6), y + 0.55 * w + rng.uniform(-6, 6)
            crop = img.crop((int(cx - s / 2), int(cy - s / 2), int(cx + s / 2), int(cy + s / 2)))
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            a = np.asarray(crop.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)
            out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(out)


@pytest.fixture(scope="module")
def detector():
    return F.HaarDetector().fit()


def test_any_batch_becomes_gray():
    rgb = np.zeros((2, 3, 5, 7), np.uint8)
    rgb[:, 1] = 255
    assert F.as_gray(rgb).shape == (2, 5, 7) and np.allclose(F.as_gray(rgb), 0.587)
    assert np.allclose(F.as_gray(np.full((3, 4, 4), 0.5)), 0.5)
    assert F.resize(F.as_gray(np.full((2, 1, 19, 19), 128, np.uint8)), 24).shape == (2, 24, 24)
    for bad in (np.zeros((2, 2, 4, 4)), np.zeros((4, 4)), np.full((1, 1, 4, 4), np.nan)):
        with pytest.raises(ValueError):
            F.as_gray(bad)


@pytest.mark.parametrize("size, colour", [(24, False), (19, False), (64, True)])
def test_detector_finds_real_faces_and_no_hard_negatives(detector, size, colour):
    faces = hopper_crops(24, size, colour=colour)
    assert detector.predict(faces).mean() >= 0.9
    rng = np.random.default_rng(1)
    stats = F.data_statistics(faces)
    for kind in F.HARD_NEGATIVES:
        neg = F.hard_negatives(kind, faces, 24, stats, rng)
        assert detector.predict(neg).mean() <= 0.1, kind
    assert detector.predict(np.zeros((0, 1, size, size), np.uint8)).shape == (0,)


def test_classifier_calls_held_out_faces_faces_and_hard_negatives_not():
    """Trained on synthetic faces against synthetic hard negatives (as for data without non-faces); judged
    on faces and hard negatives it did not see."""
    faces = data.synthetic_images(400, 16, 1, seed=3)
    train, held = faces[:300], faces[300:]
    rng = np.random.default_rng(0)
    stats = F.data_statistics(train)
    negs = np.concatenate([F.hard_negatives(k, train, 100, stats, rng) for k in F.HARD_NEGATIVES])
    x = np.concatenate([F.as_gray(train), negs])
    y = np.r_[np.ones(len(train), bool), np.zeros(len(negs), bool)]
    clf = F.PixelFaceClassifier(size=16, components=20).fit(x, y)
    assert clf.predict(held).mean() >= 0.9
    test_rng = np.random.default_rng(99)  # new draws
    for kind in ("flat", "noise", "shuffled"):
        assert clf.predict(F.hard_negatives(kind, held, 100, stats, test_rng)).mean() <= 0.1, kind
    with pytest.raises(ValueError, match="both faces and non-faces"):
        F.PixelFaceClassifier().fit(x[:10], np.ones(10, bool))


def test_diagnostics_are_made_from_the_data():
    faces = hopper_crops(10)
    stats = F.data_statistics(faces)
    rng = np.random.default_rng(0)
    low = F.diagnostics("low contrast", faces, 10, stats, rng)
    assert np.allclose(low.std(axis=(1, 2)), 0.1 * F.as_gray(faces).std(axis=(1, 2)), rtol=1e-4)
    half = F.diagnostics("half mean", faces, 10, stats, rng)
    assert all(np.isclose(h, stats["mean_image"]).mean() >= 0.5 for h in half)
    assert F.diagnostics("blurred mean", faces, 3, stats, rng).shape == (3, 24, 24)
    with pytest.raises(ValueError):
        F.hard_negatives("stripes", faces, 3, stats, rng)


def test_kappa_with_interval():
    rng = np.random.default_rng(0)
    a = rng.random(400) < 0.5
    same = F.kappa(a, a, 0.95, rng)
    assert same["kappa"] == pytest.approx(1.0) and same["agreement"] == 1.0
    flipped = a.copy()
    flipped[:40] = ~flipped[:40]
    k = F.kappa(a, flipped, 0.95, rng)
    assert k["low"] <= k["kappa"] <= k["high"] < 1.0 and k["only_a"] + k["only_b"] == 40
    assert F.kappa(np.zeros(5, bool), np.zeros(5, bool), 0.95, rng)["kappa"] is None


def _set(name, kind, det, clf):
    both = min(det, clf)
    return {"name": name, "kind": kind, **{t: {"rate": r} for t, r in (("detector", det), ("classifier", clf),
                                                                       ("both", both))}}


def test_a_test_with_false_positives_on_a_hard_negative_set_is_not_used():
    sets = [_set("real faces", "positive", 0.97, 0.99), _set("reconstructions", "positive", 0.96, 0.98),
            _set("noise", "negative", 0.0, 0.3), _set("flat", "negative", 0.0, 0.0),
            _set("blurred mean", "diagnostic", 1.0, 1.0)]
    tests = F_tests = instrument.judge_tests(sets, 0.9, 0.1)
    assert tests["detector"]["usable"] and not tests["classifier"]["usable"] and not tests["both"]["usable"]
    assert "false-positive rate 30 % on noise" in tests["classifier"]["reasons"][0]
    assert instrument.choose_rule(F_tests) == "detector"
    text, reason = instrument.rule_text("detector", tests, sets)
    assert reason is None and "true-positive rate is at least 96 %" in text
    sets[0] = _set("real faces", "positive", 0.85, 0.99)
    tests = instrument.judge_tests(sets, 0.9, 0.1)
    assert instrument.choose_rule(tests) is None
    text, reason = instrument.rule_text(None, tests, sets)
    assert "true-positive rate 85 % on real faces" in reason and "on noise" in reason
    ok = [_set("real faces", "positive", 0.97, 0.99), _set("reconstructions", "positive", 0.96, 0.98),
          _set("noise", "negative", 0.0, 0.02)]
    assert instrument.choose_rule(instrument.judge_tests(ok, 0.9, 0.1)) == "both"


def test_one_repeated_average_face_ranks_below_varied_reconstructions():
    """A generator that emits one blurred average face, every image called a face, cannot outrank one whose
    decoded images are varied faces: the face score needs coverage and diversity, not only faces."""
    real = F.as_gray(data.synthetic_images(300, 16, 1, seed=5))
    varied = F.as_gray(data.synthetic_images(64, 16, 1, seed=6))
    from scipy import ndimage
    average = np.repeat(ndimage.gaussian_filter(real.mean(axis=0), 1.0)[None], 64, axis=0)
    called = np.ones(64, bool)
    q_var, q_avg = M.face_quality(real, varied, called), M.face_quality(real, average, called)
    assert q_avg["face_share"] == q_var["face_share"] == 1.0
    assert q_avg["face_diversity"] < 0.05 and q_avg["face_score"] < 0.15 < 0.6 < q_var["face_score"]
    assert M.face_quality(real, varied, np.zeros(64, bool))["face_score"] == 0.0
    # ranked with the generate step's own summary over repetitions
    rng = np.random.default_rng(0)
    reps = []
    for _ in range(3):
        v = F.as_gray(data.synthetic_images(64, 16, 1, seed=int(rng.integers(1000))))
        rows = [{"name": genjudge.REFERENCE, "kind": "reference"}, {"name": "average", "kind": "generator"},
                {"name": "varied", "kind": "generator"}]
        for r, imgs in zip(rows, (v, average, v)):
            r.update({m: 0.5 for m in genjudge.METRICS}, **M.face_quality(real, imgs, called))
        reps.append(genfit.Repeat(rows=rows, generators={}))
    table = {r["name"]: r for r in genfit.table_of(reps, 0.95)}
    assert table["varied"]["face_rank"] == 1 and table["average"]["face_rank"] == 2


def test_planes_are_counted_per_anchor_never_pooled():
    def plane(ti, fi, to, fo):
        return {"inside": ti, "faces_inside": fi, "outside": to, "faces_outside": fo}
    recs = [{"centre": plane(400, 399, 100, 99), "origin": plane(100, 20, 400, 300)}]

    class Usable:
        usable, reason, text = True, None, "rule"
    ps = decode.planes_sentence(recs, 0.99, 0.95, Usable())
    a = ps["anchors"]
    assert a["centre"]["contrast"] == "about as often inside as outside"
    assert a["origin"]["contrast"] == "less often inside than outside" and a["origin"]["ratio_high"] < 1
    assert "through the cloud's centre" in ps["sentences"]["centre"] and "100 %" in ps["sentences"]["centre"]
    assert "20 %" in ps["sentences"]["origin"] and "75 %" in ps["sentences"]["origin"]
    pooled_inside = f"{100 * 419 / 500:.0f} %"
    assert pooled_inside not in ps["sentence"]
    flipped = decode.planes_sentence([{"centre": plane(400, 399, 100, 10), "origin": plane(100, 20, 400, 300)}],
                                     0.99, 0.95, Usable())
    assert flipped["anchors"]["centre"]["contrast"] == "far more often inside than outside"

    class Unusable:
        usable, reason, text = False, "no face test passed its calibration", "none"
    ps = decode.planes_sentence(recs, 0.99, 0.95, Unusable())
    assert not ps["testable"] and "cannot be told" in ps["sentence"] and "calibration" in ps["sentence"]


def test_the_classifier_file_is_deterministic_and_safe(tmp_path):
    from analysis.steps import instrument
    faces = data.synthetic_images(60, 16, 1, seed=3)
    x = np.concatenate([F.as_gray(faces), F.hard_negatives("noise", faces, 60, F.data_statistics(faces),
                                                            np.random.default_rng(0))])
    clf = F.PixelFaceClassifier(size=16, components=8).fit(x, np.r_[np.ones(60, bool), np.zeros(60, bool)])
    a, b = instrument.dump_pipeline(clf.pipeline_), instrument.dump_pipeline(clf.pipeline_)
    assert a == b
    (tmp_path / "c.skops").write_bytes(a)
    back = instrument.load_pipeline(tmp_path / "c.skops")
    assert (back.predict(clf.features(x)) == clf.pipeline_.predict(clf.features(x))).all()


def test_the_rows_face_share_follows_the_instruments_labels():
    """generate's face metrics come from the instrument's labels: flip the labels, the share flips."""
    from types import SimpleNamespace

    real = data.synthetic_images(40, 16, 1, seed=1).astype(np.float32) / 255.0
    dec = data.synthetic_images(20, 16, 1, seed=2).astype(np.float32) / 255.0

    class Stub:
        def __init__(self, face):
            self.face = face

        def label(self, images):
            n = len(images)
            return {"detector": np.full(n, self.face), "classifier": np.full(n, self.face), "face": np.full(n, self.face)}
    labels = []
    for face, share in ((True, 1.0), (False, 0.0)):
        judge = SimpleNamespace(faces=Stub(face), labels=labels, real_pix=real, k=5)
        m = genjudge.face_metrics(judge, dec)
        assert m["face_share"] == m["face_share_detector"] == m["face_share_classifier"] == share
        assert (m["face_score"] > 0) == face and m["_face_labels"].all() == face
    assert len(labels) == 2
    assert genjudge.face_metrics(SimpleNamespace(faces=None, labels=None), dec)["face_score"] is None
