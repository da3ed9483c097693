"""The calibrated face tests as the later steps use them: the faces step's classifiers and verdict rule.

:func:`load_instrument` reads ``faces/calibration.json`` (through :mod:`analysis.artifacts`),
``faces/classifier.skops`` and ``faces/folds.skops`` and gives an :class:`Instrument` that labels
any image batch with both tests and with a verdict rule (:mod:`analysis.steps.facetest`); the steps that
judge a run's decoded images first check it on that run's reconstructions
(:func:`analysis.steps.facecheck.check_run`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis.science import faces as F
from analysis.pipeline.config import Config
from analysis.errors import UserError

TESTS = ("detector", "classifier")
RULES = ("both", "detector", "classifier")
DESCRIPTIONS = {
    "real faces": "real images of the data, each scored by the classifier fitted without it",
    "reconstructions": "the autoencoder's held-out images reconstructed by it, each scored by the classifier "
                       "fitted without the original",
    "CBCL non-faces": "MIT CBCL non-face crops the classifier did not see",
    "flat": "flat images, each at the mean grey of a real image",
    "noise": "Gaussian pixel noise with the data's pixel mean and standard deviation",
    "shuffled": "real images with their pixels shuffled",
    "smooth": "smooth random fields with the data's spatial spectrum",
    "blurred mean": "the mean of 50 random real images, Gaussian-blurred",
    "low contrast": "real images with their contrast cut to 10 %",
    "half mean": "real images with one half replaced by the mean face",
}

# --------------------------------------------------------------------------- the classifier file

def dump_pipeline(pipeline) -> bytes:
    """skops bytes of a fitted pipeline, made deterministic: skops names objects and their array files by
    their memory addresses (``id()``), which differ from run to run; they are renumbered in order of first
    appearance, and every zip member is dated 1980-01-01."""
    import re

    import skops.io as sio

    src = zipfile.ZipFile(io.BytesIO(sio.dumps(pipeline)))
    schema = src.read("schema.json").decode("utf-8")
    ids = re.findall(r'"__id__": (\d+)|"file": "(\d+)\.npy"', schema)
    order: dict[str, str] = {}
    for a, b in ids:
        order.setdefault(a or b, str(len(order) + 1))
    schema = re.sub(r'("__id__": |"file": ")(\d+)', lambda m: m.group(1) + order.get(m.group(2), m.group(2)), schema)
    members = {"schema.json": schema.encode("utf-8")}
    for info in src.infolist():
        if info.filename != "schema.json":
            stem = info.filename.removesuffix(".npy")
            members[f"{order.get(stem, stem)}.npy" if info.filename.endswith(".npy") else info.filename] = \
                src.read(info.filename)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(members):
            dst.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), members[name],
                         compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


MAX_CLASSIFIER_BYTES = 64 << 20


def load_pipeline(path: Path):
    """The pipeline saved by :func:`dump_pipeline` (skops: only scikit-learn's own types are loaded)."""
    import skops.io as sio

    if path.stat().st_size > MAX_CLASSIFIER_BYTES:
        raise ValueError(f"{path} is larger than {MAX_CLASSIFIER_BYTES >> 20} MB")
    data = path.read_bytes()
    untrusted = sio.get_untrusted_types(data=data)
    if untrusted:
        raise ValueError(f"{path} holds types that are not scikit-learn's: {', '.join(untrusted)}")
    return sio.loads(data)


# --------------------------------------------------------------------------- what later steps use

@dataclass
class Instrument:
    """The face tests as calibrated by the faces step, for the later steps.

    ``rule``, ``reason`` and ``text`` are the faces step's own (judged on its sets) as loaded; a step
    that judges a run's decoded images first checks them on that run's reconstructions
    (:func:`analysis.steps.facecheck.check_run`), which gives the run's rule.
    """

    detector: F.HaarDetector
    classifier: F.PixelFaceClassifier
    rule: str | None      #: the verdict rule; None: no test usable
    reason: str | None    #: why there is no verdict rule
    text: str             #: the rule in words, with its error rates
    sets: tuple = ()      #: the faces step's calibration sets (the reader's FaceSet entries)
    folds: dict | None = None  #: ``folds.skops``: face_index, face_fold, models (the cross-fitting)

    @property
    def usable(self) -> bool:
        return self.rule is not None

    def label(self, images) -> dict[str, np.ndarray]:
        """Bool labels (n,) of any image batch: ``detector``, ``classifier`` and ``face`` (by the rule;
        without a usable rule, both tests together, for display only)."""
        det, clf = self.detector.predict(images), self.classifier.predict(images)
        face = det if self.rule == "detector" else clf if self.rule == "classifier" else det & clf
        return {"detector": det, "classifier": clf, "face": face}

    def crossfit_predict(self, images, sources: np.ndarray) -> np.ndarray:
        """The classifier's labels (n,) of images made from the data's images ``sources`` (n,), each by the
        fold model that did not see its source; by the final classifier where no model saw it."""
        out = np.zeros(len(sources), bool)
        idx, fold = self.folds["face_index"], self.folds["face_fold"]
        pos = np.searchsorted(idx, sources)
        seen = (pos < len(idx)) & (idx[np.minimum(pos, len(idx) - 1)] == sources)
        which = np.where(seen, fold[np.minimum(pos, len(idx) - 1)], -1)
        feats = self.classifier.features(images)
        for k in np.unique(which):
            sel = which == k
            model = self.classifier.pipeline_ if k < 0 else self.folds["models"][k]
            out[sel] = model.decision_function(feats[sel]) > 0
        return out


def load_instrument(run_dir: Path) -> Instrument | None:
    """The faces step's instrument, or None when the step has not run (no calibration.json)."""
    from analysis.artifacts import ArtifactError, Run

    run_dir = Path(run_dir)
    if not (run_dir / "faces" / "calibration.json").is_file():
        return None
    fix = "re-run the faces step (python -m analysis faces --config ... --force)"
    try:
        cal_doc = Run(run_dir).faces
    except ArtifactError as e:
        raise UserError(f"{run_dir / e.file}: {e.problem}", fix) from None
    files = {}
    for name in ("classifier.skops", "folds.skops"):
        try:
            files[name] = load_pipeline(run_dir / "faces" / name)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise UserError(f"{run_dir / 'faces' / name} cannot be read ({e})", fix) from None
    folds = files["folds.skops"]
    if not (isinstance(folds, dict) and {"face_index", "face_fold", "models"} <= set(folds)
            and len(folds["face_index"]) == len(folds["face_fold"])
            and len(folds["models"]) == cal_doc.settings.folds):
        raise UserError(f"{run_dir / 'faces' / 'folds.skops'} does not hold the faces step's "
                        f"{cal_doc.settings.folds} fold models and their faces", fix)
    folds = {"face_index": np.asarray(folds["face_index"], np.int64), "face_fold": np.asarray(folds["face_fold"], np.int64),
             "models": list(folds["models"])}
    clf = F.PixelFaceClassifier(**dict(cal_doc.classifier.params))
    clf.pipeline_ = files["classifier.skops"]
    det = F.HaarDetector(**dict(cal_doc.detector.params)).fit()
    return Instrument(detector=det, classifier=clf, rule=cal_doc.rule, reason=cal_doc.reason, text=cal_doc.rule_text,
                      sets=cal_doc.sets, folds=folds)


# --------------------------------------------------------------------------- rates and the rule
# (Procedure 5 of :mod:`analysis.steps.facetest`: the faces step judges its own sets with it, and each run
# judges them again with its reconstructions, :func:`analysis.steps.facecheck.check_run`)

def rate(labels: np.ndarray, level: float) -> dict:
    from analysis.science import calibration as cal

    k, n = int(np.sum(labels)), len(labels)
    lo, hi = cal.binomial_interval(k, n, level)
    return {"count": k, "rate": k / n if n else None, "low": lo, "high": hi}


def set_doc(name: str, kind: str, labels: dict[str, np.ndarray], level: float) -> dict:
    """One calibration set's entry: its name, kind, size and each test's rate (and the rule "both")."""
    both = labels["detector"] & labels["classifier"]
    return {"name": name, "kind": kind, "description": DESCRIPTIONS[name], "n": len(both),
            **{t: rate(both if t == "both" else labels[t], level) for t in RULES}}


def judge_tests(set_docs: list[dict], min_tpr: float, max_fpr: float) -> dict:
    """Per test and for "both": usable or not, its worst rates and the bars it misses (Procedure 5)."""
    out = {}
    for t in RULES:
        pos = [(s["name"], s[t]["rate"]) for s in set_docs if s["kind"] == "positive"]
        neg = [(s["name"], s[t]["rate"]) for s in set_docs if s["kind"] == "negative"]
        reasons = [f"true-positive rate {_pct(r)} on {nm} (below {_pct(min_tpr)})" for nm, r in pos if r < min_tpr]
        reasons += [f"false-positive rate {_pct(r)} on {nm} (above {_pct(max_fpr)})" for nm, r in neg if r > max_fpr]
        right = [r for _, r in pos] + [1.0 - r for _, r in neg]
        out[t] = {"usable": not reasons, "tpr_min": min(r for _, r in pos), "fpr_max": max(r for _, r in neg),
                  "worst": min(right), "reasons": reasons}
    if not (out["detector"]["usable"] and out["classifier"]["usable"]) and out["both"]["usable"]:
        out["both"]["usable"] = False
        out["both"]["reasons"] = ["it needs both tests to be usable on their own"]
    return out


def choose_rule(tests: dict) -> str | None:
    """"both" when usable; else the usable single test right most often on its worst set; else None."""
    if tests["both"]["usable"]:
        return "both"
    singles = [t for t in TESTS if tests[t]["usable"]]
    return max(singles, key=lambda t: (tests[t]["worst"], t)) if singles else None


TEST_NAMES = {"detector": "the Haar-cascade face detector", "classifier": "the CBCL face/non-face classifier",
              "both": "both tests together (a face when both call it one)"}


def rule_text(rule: str | None, tests: dict, sets: list[dict]) -> tuple[str, str | None]:
    """The instrument in words with its error rates, and the reason when there is none."""
    if rule is None:
        why = "; ".join(f"{TEST_NAMES[t]}: {', '.join(tests[t]['reasons'])}" for t in TESTS)
        reason = f"no face test passed its calibration ({why})"
        return f"No face test is used for verdicts on this build: {reason}.", reason
    t = tests[rule]
    neg = [s for s in sets if s["kind"] == "negative"]
    worst = max(neg, key=lambda s: s[rule]["rate"])
    positives = " and ".join(s["name"] for s in sets if s["kind"] == "positive")
    return (f"A decoded image counts as a face when {TEST_NAMES[rule] if rule != 'both' else 'both tests call it one'}"
            f"{'' if rule == 'both' else ' calls it one'}: on held-out labelled images this rule's true-positive rate "
            f"is at least {_pct(t['tpr_min'])} ({positives}) and its false-positive rate at "
            f"most {_pct(t['fpr_max'])} (highest on {worst['name']}).", None)


def judgement(set_docs: list[dict], cfg: Config) -> dict:
    """Procedure 5 on ``set_docs``: ``tests``, ``rule``, ``usable``, ``reason`` and ``rule_text``."""
    tests = judge_tests(set_docs, cfg.faces.min_tpr, cfg.faces.max_fpr)
    rule = choose_rule(tests)
    text, reason = rule_text(rule, tests, set_docs)
    return {"tests": tests, "rule": rule, "usable": rule is not None, "reason": reason, "rule_text": text}


def _pct(x: float) -> str:
    """0.984 -> "98.4 %" (the article's style)."""
    return f"{100.0 * x:.1f} %".replace(".0 %", " %")
