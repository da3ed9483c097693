"""The generate step's yardstick: how the latent points are split, what every row of the table is
measured against (:class:`Judge`), one row's metrics (:func:`evaluate`) and the contact sheets.

Procedure steps 1-4 and 7 of :mod:`analysis.steps.generate`; the generators' fitting, the repetitions'
summary and the sweeps are in :mod:`analysis.steps.genfit`.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from analysis.science import geometry
from analysis.steps import instrument
from analysis.science import metrics as M
from analysis.pipeline.config import GenerateConfig
from analysis.errors import UserError
from analysis.science.generators import GENERATORS
from analysis.pipeline.model import decode_array, encode_array

REFERENCE = "real (held-out)"
COPY_QUANTILE = 0.05  # held-out quantile of nearest-fit distances below which a point is a copy
COPY_SHARE_LIMIT = 2 * COPY_QUANTILE  # a row whose copy share exceeds this copies its fit points
#: Every metric of a table row, with its range (lower, upper; None = unbounded), to which
#: its interval is clipped.
METRICS = {"score": (0.0, 1.0), "in_support": (0.0, 1.0), "precision": (0.0, 1.0), "recall": (0.0, 1.0),
           "density": (0.0, None), "coverage": (0.0, 1.0), "nn_real_mean": (0.0, None), "radius_w1": (0.0, None),
           "radius_mean": (0.0, None), "pixel_precision": (0.0, 1.0), "pixel_recall": (0.0, 1.0),
           "pixel_density": (0.0, None), "pixel_coverage": (0.0, 1.0), "pixel_nn_real_mean": (0.0, None),
           "reencode_gap": (0.0, None), "reencode_gap_rel": (0.0, None), "copy_share": (0.0, 1.0),
           "nn_fit_ratio": (0.0, None), "face_share": (0.0, 1.0), "face_share_detector": (0.0, 1.0),
           "face_share_classifier": (0.0, 1.0), "face_coverage": (0.0, 1.0), "face_diversity": (0.0, 1.0),
           "face_score": (0.0, 1.0)}
#: The metrics of the face tests (None in every row when the faces step has not run).
FACE_METRICS = ("face_share", "face_share_detector", "face_share_classifier", "face_coverage", "face_diversity",
                "face_score")


# ---------------------------------------------------------------- contact sheets

def to_uint8(x: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] -> uint8 (rounded)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def contact_sheet(images: np.ndarray, min_tile: int = 64, pad: int = 2) -> bytes:
    """A grid of images as PNG bytes (deterministic: no timestamps or metadata).

    Parameters
    ----------
    images : uint8 array of shape (n, C, S, S), C = 1 or 3
    min_tile : int
        Tiles are upscaled (nearest neighbour) by an integer factor to at least this size.
    pad : int
        White gap between tiles, in pixels.

    Returns
    -------
    bytes
    """
    n, C, S, _ = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = max(1, math.ceil(min_tile / S))
    t = S * scale
    canvas = np.full((rows * (t + pad) + pad, cols * (t + pad) + pad, C), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        y, x = pad + r * (t + pad), pad + c * (t + pad)
        canvas[y:y + t, x:x + t] = im.transpose(1, 2, 0).repeat(scale, axis=0).repeat(scale, axis=1)
    img = Image.fromarray(canvas[:, :, 0] if C == 1 else canvas)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- 1. the split

@dataclass(frozen=True)
class Split:
    """How the n latent points are used (see the module docstring, Procedure 1-4).

    ``fit`` and ``hold`` are row indices in the seeded permutation's order; the other
    fields are the set sizes every row of the table shares.
    """

    fit: np.ndarray
    hold: np.ndarray
    n_real: int
    n_fake: int
    n_image: int
    n_image_real: int
    n_sheet: int

    @property
    def real_idx(self) -> np.ndarray:
        """Rows of the real set: the first ``n_real`` held-out points."""
        return self.hold[:self.n_real]

    @property
    def ref_idx(self) -> np.ndarray:
        """Rows of the reference row's points: the first ``n_fake`` fit-part points."""
        return self.fit[:self.n_fake]


def split_points(n: int, N: int, g: GenerateConfig, seed: int) -> Split:
    """Split n points into a fit and a held-out part and fix the set sizes (a UserError if too few)."""
    n_hold = min(max(int(round(g.holdout_fraction * n)), 1), n - 1) if n > 1 else 0
    n_fit = n - n_hold
    n_real, n_fake = min(n_hold, g.n_samples), min(g.n_samples, n_fit)
    if min(n_real, n_fake) <= g.k:
        raise UserError(f"{n} latent points give {n_fit} fit and {n_hold} held-out points, but the k-NN "
                        f"metrics need more than k = {g.k} points in each set (and n_samples = {g.n_samples})",
                        "encode more images, lower generate.k, or adjust generate.holdout_fraction")
    full = [x for x in g.generators if GENERATORS[x].needs_full_cov]
    if full and n_fit < N + 1:
        raise UserError(f"generators {', '.join(full)} fit a full {N}x{N} covariance and need at least "
                        f"N + 1 = {N + 1} fit points, got {n_fit}",
                        "encode more images, lower generate.holdout_fraction, or drop those generators")
    perm = np.random.default_rng(seed).permutation(n)
    n_image = min(g.image_points, n_fake)
    return Split(fit=perm[n_hold:], hold=perm[:n_hold], n_real=n_real, n_fake=n_fake, n_image=n_image,
                 n_image_real=min(n_image, n_real), n_sheet=min(g.n_images, n_fake, n_real))


def split_notes(sp: Split, g: GenerateConfig) -> list[str]:
    """Sentences on the sizes that were clipped."""
    notes = []
    if sp.n_fake < g.n_samples:
        notes.append(f"n_samples clipped from {g.n_samples} to the {len(sp.fit)} fit-part points so that every row, "
                     "the reference included, compares the same number of points")
    if sp.n_real < g.n_samples:
        notes.append(f"the real set has only {sp.n_real} held-out points (n_samples = {g.n_samples})")
    if sp.n_image < g.image_points:
        notes.append(f"image_points clipped from {g.image_points} to {sp.n_image}")
    if sp.n_sheet < g.n_images:
        notes.append(f"contact sheets show {sp.n_sheet} images (n_images = {g.n_images})")
    if sp.n_image_real < sp.n_image:
        notes.append(f"pixel metrics compare {sp.n_image} decoded points with {sp.n_image_real} held-out "
                     "reconstructions")
    return notes


# ---------------------------------------------------------------- 3. evaluating a row

@dataclass(frozen=True)
class Judge:
    """What every row of the table is measured against, and how points are decoded."""

    model: torch.nn.Module
    device: torch.device
    batch_size: int
    k: int
    z_fit: np.ndarray      # the fit part (what the generators see)
    z_real: np.ndarray     # the real set
    real_pix: np.ndarray   # reconstructions of the first n_image_real points of the real set
    spread: float          # RMS distance of the fit part from its centroid
    n_image: int
    n_sheet: int
    faces: instrument.Instrument | None = None  # the calibrated face tests (None: no faces step)
    n_face: int = 0        # decoded images per row the face tests score
    labels: list | None = None  # (detector, classifier) labels of every scored image, for the agreement

    def decode(self, z: np.ndarray) -> np.ndarray:
        return decode_array(self.model, z, self.batch_size, self.device)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return encode_array(self.model, x, self.batch_size, self.device)


def make_judge(model, device, g: GenerateConfig, z: np.ndarray, sp: Split,
               faces: instrument.Instrument | None = None, images_per_row: int = 0,
               labels: list | None = None) -> Judge:
    z_fit = np.asarray(z[np.sort(sp.fit)], dtype=np.float32)
    z_real = np.asarray(z[sp.real_idx], dtype=np.float32)
    real_pix = decode_array(model, z_real[:sp.n_image_real], g.batch_size, device)
    n_face = min(max(images_per_row, sp.n_sheet), max(sp.n_image, sp.n_sheet)) if faces is not None else 0
    return Judge(model=model, device=device, batch_size=g.batch_size, k=g.k, z_fit=z_fit, z_real=z_real,
                 real_pix=real_pix, spread=geometry.spread(z_fit), n_image=sp.n_image, n_sheet=sp.n_sheet,
                 faces=faces, n_face=n_face, labels=labels)


def evaluate(judge: Judge, name: str, kind: str, pts: np.ndarray,
             copy_probe: np.ndarray | None = None) -> tuple[dict, np.ndarray, np.ndarray | None]:
    """One row of the table for the points ``pts``, the uint8 images of its contact sheet and their
    face labels by the verdict rule (None without face tests).

    Copying is judged against the real set's even rows (the novelty reference); for the
    reference row, whose own points are fit-part points (trivially copies), its odd rows
    (``copy_probe``) stand in for the generated points.
    """
    row = {"name": name, "kind": kind, **M.latent_metrics(judge.z_real, pts, judge.k)}
    row.update(M.copy_metrics(judge.z_fit, judge.z_real[0::2], pts if copy_probe is None else copy_probe,
                              COPY_QUANTILE))
    dec = judge.decode(pts[:max(judge.n_image, judge.n_sheet)])
    row.update(M.image_metrics(judge.real_pix, dec[:judge.n_image], judge.k))
    row.update(M.reencoding_gap(pts[:judge.n_image], judge.encode(dec[:judge.n_image]), judge.spread))
    row["score"] = _score(row)
    row.update(face_metrics(judge, dec[:judge.n_face]))
    sheet_faces = row.pop("_face_labels")
    return row, to_uint8(dec[:judge.n_sheet]), None if sheet_faces is None else sheet_faces[:judge.n_sheet]


def face_metrics(judge: Judge, dec: np.ndarray) -> dict:
    """The face tests on decoded images ``dec``: the rule's share and each test's, and the collapse-proof
    face score (:func:`analysis.science.metrics.face_quality` against the held-out reconstructions); all None
    without a faces step. ``_face_labels``: the rule's labels (for the contact sheets)."""
    if judge.faces is None:
        return {**{m: None for m in FACE_METRICS}, "_face_labels": None}
    lab = judge.faces.label(dec)
    if judge.labels is not None:
        judge.labels.append((lab["detector"], lab["classifier"]))
    q = M.face_quality(judge.real_pix, dec, lab["face"], judge.k)
    return {**q, "face_share_detector": float(lab["detector"].mean()),
            "face_share_classifier": float(lab["classifier"].mean()), "_face_labels": lab["face"]}


def _score(row: dict) -> float:
    p, c = row["precision"], row["coverage"]
    return 2 * p * c / (p + c) if p + c > 0 else 0.0


def real_examples(judge: Judge, images, z: np.ndarray, sp: Split) -> tuple[dict, dict, float, dict]:
    """The real images, their reconstructions and the raw-pixel reference.

    Returns
    -------
    samples : dict
        ``z_real``, ``images_real``, ``images_reconstructed`` (samples.npz).
    sheets : dict
        PNG bytes of the ``real`` and ``reconstructed`` contact sheets.
    encoder_gap : float
        max |E(x) - z| over the sheet's real images (0 when latents.npy came from this model).
    image_reference : dict
        Pixel metrics of raw and reconstructed fit-part images against the raw held-out ones.
    """
    sheet_idx = sp.real_idx[:sp.n_sheet]
    real_u8 = images.take(sheet_idx)
    z_sheet = np.asarray(z[sheet_idx], dtype=np.float32)
    recon_u8 = to_uint8(judge.decode(z_sheet))
    gap = float(np.abs(judge.encode(real_u8) - z_sheet).max())
    n = sp.n_image_real
    raw_real = images.take(sp.real_idx[:n]).astype(np.float32) / 255.0
    raw_fit = images.take(sp.ref_idx[:n]).astype(np.float32) / 255.0
    rec_fit = judge.decode(np.asarray(z[sp.ref_idx[:n]], dtype=np.float32))
    reference = {"raw": M.image_metrics(raw_real, raw_fit, judge.k),
                 "reconstructed": M.image_metrics(raw_real, rec_fit, judge.k)}
    samples = {"z_real": z_sheet, "images_real": real_u8, "images_reconstructed": recon_u8}
    if judge.faces is not None:
        samples["face_real"] = judge.faces.label(real_u8)["face"]
        samples["face_reconstructed"] = judge.faces.label(recon_u8)["face"]
    sheets = {"real": contact_sheet(real_u8), "reconstructed": contact_sheet(recon_u8)}
    return samples, sheets, gap, reference


