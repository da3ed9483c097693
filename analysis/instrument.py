"""The calibrated face tests as the later steps use them: the faces step's verdict rule and classifier.

:func:`load_instrument` reads ``faces/calibration.json`` (through :mod:`analysis.artifacts`) and
``faces/classifier.skops`` and gives an :class:`Instrument` that labels any image batch with both
tests and with the verdict rule the faces step chose (:mod:`analysis.facetest`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analysis import faces as F
from analysis.errors import UserError

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
    """The face tests as calibrated by this step, for the later steps."""

    detector: F.HaarDetector
    classifier: F.PixelFaceClassifier
    rule: str | None      #: the verdict rule; None: no test usable
    reason: str | None    #: why there is no verdict rule
    text: str             #: the rule in words, with its error rates

    @property
    def usable(self) -> bool:
        return self.rule is not None

    def label(self, images) -> dict[str, np.ndarray]:
        """Bool labels (n,) of any image batch: ``detector``, ``classifier`` and ``face`` (by the rule;
        without a usable rule, both tests together, for display only)."""
        det, clf = self.detector.predict(images), self.classifier.predict(images)
        face = det if self.rule == "detector" else clf if self.rule == "classifier" else det & clf
        return {"detector": det, "classifier": clf, "face": face}


def load_instrument(run_dir: Path) -> Instrument | None:
    """The faces step's instrument, or None when the step has not run (no calibration.json)."""
    from analysis.artifacts import ArtifactError, Run

    run_dir = Path(run_dir)
    if not (run_dir / "faces" / "calibration.json").is_file():
        return None
    fix = "re-run the faces step (python -m analysis faces --config ... --force)"
    try:
        cal_doc = Run(run_dir).faces
        pipeline = load_pipeline(run_dir / "faces" / "classifier.skops")
    except ArtifactError as e:
        raise UserError(f"{run_dir / e.file}: {e.problem}", fix) from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise UserError(f"{run_dir / 'faces' / 'classifier.skops'} cannot be read ({e})", fix) from None
    p = dict(cal_doc.classifier.params)
    clf = F.PixelFaceClassifier(**p)
    clf.pipeline_ = pipeline
    det = F.HaarDetector(**dict(cal_doc.detector.params)).fit()
    return Instrument(detector=det, classifier=clf, rule=cal_doc.rule, reason=cal_doc.reason, text=cal_doc.rule_text)
