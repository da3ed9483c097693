"""Is this image a face? Two independent face tests, and the labelled sets they are measured on.

The decoder's images are judged by instruments that owe nothing to our own autoencoder:

:class:`HaarDetector`
    A published face detector used as it is: OpenCV's Viola-Jones frontal-face cascade
    (``haarcascade_frontalface_alt.xml``, trained by Lienhart et al. on faces of 20 x 20 px
    and larger), whose trained weights ship inside the ``opencv-python-headless`` 4.x wheel
    (the 5.x line ships none). Our images are tight face crops of a few dozen pixels, so
    each is turned to gray, upscaled (bicubic) to ``face_px`` pixels and given a replicated
    border of ``border`` times that size on every side (without it the detector, which
    scans windows that include some context, finds almost nothing); an image is a face
    when the cascade finds at least one face whose size lies between ``min_size`` and
    ``max_size`` times ``face_px``. The scale search is limited to that range, so one image
    costs a fraction of a millisecond.
:class:`PixelFaceClassifier`
    A face/non-face classifier (scikit-learn: standardised gray pixels at ``size`` x ``size``,
    PCA, an RBF support vector machine), trained on labelled faces and non-faces: for the MIT CBCL
    data the database's own 4,548 non-face crops against its faces.

Both take any batch of images, gray or colour, of any size: an array (n, C, H, W) or
(n, H, W), uint8 (0-255) or float (0-1).

The labelled sets (:func:`hard_negatives`, :func:`diagnostics`) are built from real images
and statistics of the data:

* hard negatives (never faces): ``flat`` images, each at the mean grey of a real image;
  Gaussian pixel ``noise`` with the data's pixel mean and standard deviation; real images
  with their pixels ``shuffled``; ``smooth`` random fields with the data's spatial spectrum
  (the mean amplitude spectrum of the real images with random phases), scaled to the
  data's pixel mean and spread;
* diagnostics (reported, not scored as right or wrong): the ``blurred mean`` face (the mean
  of random subsets of real images, Gaussian-blurred); faces with their contrast cut to
  10 % (``low contrast``); faces with one half (left, right, top or bottom) replaced by the
  mean face (``half mean``).

Agreement (:func:`kappa`): Cohen's kappa of two tests' labels with a bootstrap interval.

Library code: arrays in, arrays out; bad input raises ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import cohen_kappa_score

#: ITU-R BT.601 luma weights: colour images are judged in gray.
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
HARD_NEGATIVES = ("flat", "noise", "shuffled", "smooth")
DIAGNOSTICS = ("blurred mean", "low contrast", "half mean")


# --------------------------------------------------------------------------- images in

def as_gray(images) -> np.ndarray:
    """Any image batch -> float32 gray (n, H, W) in [0, 1].

    Parameters
    ----------
    images : array (n, C, H, W) with C = 1 or 3, or (n, H, W); uint8 (0-255) or float (0-1)
    """
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or min(x.shape[2:], default=0) < 1:
        raise ValueError(f"images must have shape (n, C, H, W) with C = 1 or 3, or (n, H, W); got {np.shape(images)}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    elif np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32)
        if x.size and not np.all(np.isfinite(x)):
            raise ValueError("images contain NaN or infinite values")
    else:
        raise ValueError(f"images must be uint8 or float, got {x.dtype}")
    gray = x[:, 0] if x.shape[1] == 1 else np.einsum("nchw,c->nhw", x, GRAY_WEIGHTS)
    return np.clip(gray, 0.0, 1.0)


def resize(gray: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Gray images (n, H, W) float -> (n, height, width) float32 in [0, 1]: bicubic, antialiased when
    shrinking (PyTorch's ``interpolate``, one call for the whole batch)."""
    import torch

    width = height if width is None else width
    n, H, W = gray.shape
    if (H, W) == (height, width):
        return gray.astype(np.float32, copy=False)
    if not n:
        return np.zeros((0, height, width), np.float32)
    x = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[:, None]
    with torch.no_grad():
        y = torch.nn.functional.interpolate(x, size=(height, width), mode="bicubic", align_corners=False,
                                            antialias=height < H or width < W)
    return np.clip(y[:, 0].numpy(), 0.0, 1.0)


# --------------------------------------------------------------------------- the published detector

class HaarDetector(BaseEstimator):
    """OpenCV's frontal-face Haar cascade on tight face crops (see the module docstring).

    Parameters
    ----------
    cascade : str
        A cascade file of ``cv2.data.haarcascades``.
    face_px : int
        Size in pixels an image is upscaled to before detection.
    border : float
        Replicated border on each side, as a share of ``face_px``.
    min_neighbors : int
        ``detectMultiScale``'s minNeighbors (overlapping detections needed).
    scale_factor : float
        ``detectMultiScale``'s scaleFactor.
    min_size, max_size : float
        The face sizes searched, as shares of ``face_px``.
    """

    def __init__(self, cascade: str = "haarcascade_frontalface_alt2.xml", face_px: int = 32, border: float = 0.4,
                 min_neighbors: int = 2, scale_factor: float = 1.1, min_size: float = 0.8, max_size: float = 2.0):
        self.cascade = cascade
        self.face_px = face_px
        self.border = border
        self.min_neighbors = min_neighbors
        self.scale_factor = scale_factor
        self.min_size = min_size
        self.max_size = max_size

    def fit(self, X=None, y=None) -> "HaarDetector":
        """Load the cascade (the detector is used as published: nothing is trained). Returns self."""
        import cv2

        if not (self.face_px >= 20 and self.border >= 0 and 0 < self.min_size < self.max_size
                and self.scale_factor > 1 and self.min_neighbors >= 0):
            raise ValueError("HaarDetector needs face_px >= 20, border >= 0, 0 < min_size < max_size, "
                             "scale_factor > 1 and min_neighbors >= 0")
        path = cv2.data.haarcascades + self.cascade
        cc = cv2.CascadeClassifier(path)
        if cc.empty():
            raise ValueError(f"OpenCV could not load the cascade {path}")
        cv2.setNumThreads(1)  # one image at a time is cheap; the pipeline's runs share the cores
        self.cascade_ = cc
        self.opencv_version_ = cv2.__version__
        return self

    def prepare(self, images) -> list[np.ndarray]:
        """The uint8 canvases the cascade scans: gray, upscaled to ``face_px``, with a replicated border."""
        import cv2

        g = resize(as_gray(images), self.face_px)
        pad = int(round(self.border * self.face_px))
        u8 = np.clip(np.rint(g * 255.0), 0, 255).astype(np.uint8)
        return [cv2.copyMakeBorder(im, pad, pad, pad, pad, cv2.BORDER_REPLICATE) for im in u8]

    def predict(self, images) -> np.ndarray:
        """Whether each image holds a face: bool (n,)."""
        if not len(images):
            return np.zeros(0, bool)
        if not hasattr(self, "cascade_"):
            self.fit()
        lo = int(round(self.min_size * self.face_px))
        hi = int(round(self.max_size * self.face_px))
        out = []
        for canvas in self.prepare(images):
            found = self.cascade_.detectMultiScale(canvas, scaleFactor=self.scale_factor,
                                                   minNeighbors=self.min_neighbors, minSize=(lo, lo),
                                                   maxSize=(hi, hi))
            out.append(len(found) > 0)
        return np.array(out, dtype=bool)


# --------------------------------------------------------------------------- the trained classifier

class PixelFaceClassifier(ClassifierMixin, BaseEstimator):
    """A face/non-face classifier on gray pixels: standardised pixels, PCA, an RBF support vector machine.

    Parameters
    ----------
    size : int
        Images are turned to gray and resized to size x size.
    components : int
        PCA components kept (eigenfaces) before the SVM.
    C : float
        The SVM's regularisation (scikit-learn ``SVC``).
    random_state : int
        Kept for scikit-learn's conventions; the fit is deterministic (exact PCA, libsvm).
    """

    def __init__(self, size: int = 16, components: int = 40, C: float = 3.0, random_state: int = 0):
        self.size = size
        self.components = components
        self.C = C
        self.random_state = random_state

    def features(self, images) -> np.ndarray:
        """(n, size * size) float32: gray pixels at size x size."""
        g = resize(as_gray(images), self.size)
        return g.reshape(len(g), -1)

    def fit(self, images, y) -> "PixelFaceClassifier":
        """Fit on images and labels y (1 / True = face). Returns self."""
        from sklearn.decomposition import PCA
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        y = np.asarray(y).astype(bool)
        x = self.features(images)
        if len(x) != len(y):
            raise ValueError(f"{len(x)} images but {len(y)} labels")
        if y.all() or not y.any():
            raise ValueError("a face/non-face classifier needs both faces and non-faces to learn from")
        k = min(self.components, x.shape[1], len(x) - 1)
        self.pipeline_ = make_pipeline(StandardScaler(), PCA(k, svd_solver="covariance_eigh"),
                                       SVC(C=self.C, gamma="scale", kernel="rbf"))
        self.pipeline_.fit(x, y.astype(np.int8))
        self.classes_ = np.array([False, True])
        self.n_features_in_ = x.shape[1]
        return self

    def decision_function(self, images) -> np.ndarray:
        """Signed distance to the boundary (> 0: face), (n,)."""
        if not len(images):
            return np.zeros(0)
        return self.pipeline_.decision_function(self.features(images))

    def predict(self, images) -> np.ndarray:
        """Whether each image is a face: bool (n,)."""
        return self.decision_function(images) > 0


# --------------------------------------------------------------------------- labelled sets

def data_statistics(real) -> dict:
    """What the hard negatives borrow from the real images: pixel mean and standard deviation, the mean
    image and the mean amplitude spectrum. ``real``: an image batch (n >= 1)."""
    g = as_gray(real)
    if not len(g):
        raise ValueError("need at least one real image")
    return {"mean": float(g.mean()), "std": float(g.std()), "mean_image": g.mean(axis=0),
            "amplitude": np.abs(np.fft.rfft2(g - g.mean(axis=(1, 2), keepdims=True))).mean(axis=0)}


def hard_negatives(kind: str, real, n: int, stats: dict, rng: np.random.Generator) -> np.ndarray:
    """``n`` images that are not faces, float32 (n, H, W) in [0, 1] (see the module docstring).

    Parameters
    ----------
    kind : one of :data:`HARD_NEGATIVES`
    real : image batch the ``flat`` and ``shuffled`` images are made from (cycled when shorter than n)
    stats : :func:`data_statistics` of the data
    rng : numpy Generator
    """
    g = as_gray(real)
    H, W = stats["mean_image"].shape
    src = g[np.arange(n) % len(g)] if len(g) else None
    if kind == "flat":
        return np.broadcast_to(src.mean(axis=(1, 2))[:, None, None], (n, H, W)).astype(np.float32).copy()
    if kind == "noise":
        return np.clip(rng.normal(stats["mean"], stats["std"], (n, H, W)), 0.0, 1.0).astype(np.float32)
    if kind == "shuffled":
        flat = src.reshape(n, -1)
        return np.take_along_axis(flat, rng.permuted(np.tile(np.arange(H * W), (n, 1)), axis=1), axis=1) \
                 .reshape(n, H, W).astype(np.float32)
    if kind == "smooth":
        phase = rng.uniform(0.0, 2.0 * math.pi, (n,) + stats["amplitude"].shape)
        field = np.fft.irfft2(stats["amplitude"][None] * np.exp(1j * phase), s=(H, W))
        field = (field - field.mean(axis=(1, 2), keepdims=True)) / (field.std(axis=(1, 2), keepdims=True) + 1e-12)
        return np.clip(stats["mean"] + stats["std"] * field, 0.0, 1.0).astype(np.float32)
    raise ValueError(f"unknown hard negative {kind!r}; one of {', '.join(HARD_NEGATIVES)}")


def diagnostics(kind: str, real, n: int, stats: dict, rng: np.random.Generator, subset: int = 50) -> np.ndarray:
    """``n`` diagnostic images, float32 (n, H, W): one of :data:`DIAGNOSTICS` (see the module docstring)."""
    g = as_gray(real)
    H, W = stats["mean_image"].shape
    src = g[np.arange(n) % len(g)]
    mean = stats["mean_image"]
    if kind == "blurred mean":
        sigma = max(H, W) / 24.0
        means = np.stack([g[rng.choice(len(g), min(subset, len(g)), replace=False)].mean(axis=0) for _ in range(n)])
        return np.stack([ndimage.gaussian_filter(m, sigma) for m in means]).astype(np.float32)
    if kind == "low contrast":
        mu = src.mean(axis=(1, 2), keepdims=True)
        return (mu + 0.1 * (src - mu)).astype(np.float32)
    if kind == "half mean":
        out = src.copy()
        for i, side in enumerate(rng.integers(0, 4, n)):
            sl = [(slice(None), slice(0, W // 2)), (slice(None), slice(W // 2, None)),
                  (slice(0, H // 2), slice(None)), (slice(H // 2, None), slice(None))][side]
            out[i][sl] = mean[sl]
        return out
    raise ValueError(f"unknown diagnostic {kind!r}; one of {', '.join(DIAGNOSTICS)}")


# --------------------------------------------------------------------------- agreement

def kappa(a, b, level: float, rng: np.random.Generator, bootstrap: int = 200) -> dict:
    """Cohen's kappa of two bool label vectors with a percentile bootstrap interval (images resampled).

    Returns ``kappa`` (None when undefined: both tests give one label to everything), ``low``, ``high``,
    ``agreement`` (share of equal labels), ``n`` and ``both``, ``only_a``, ``only_b``, ``neither`` (counts).
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"two label vectors of one length are needed, got {a.shape} and {b.shape}")
    n = len(a)
    out = {"n": int(n), "agreement": float(np.mean(a == b)) if n else None, "both": int(np.sum(a & b)),
           "only_a": int(np.sum(a & ~b)), "only_b": int(np.sum(~a & b)), "neither": int(np.sum(~a & ~b)),
           "kappa": None, "low": None, "high": None}

    def k(x, y):
        if len(np.unique(np.concatenate([x, y]))) < 2 or (x.all() and y.all()):
            return math.nan
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(cohen_kappa_score(x, y))
    if n < 2:
        return out
    point = k(a, b)
    if not math.isfinite(point):
        return out
    draws = np.array([k(a[i], b[i]) for i in (rng.integers(0, n, n) for _ in range(bootstrap))])
    draws = draws[np.isfinite(draws)]
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if len(draws) else (point, point)
    out.update(kappa=point, low=float(min(lo, point)), high=float(max(hi, point)))
    return out
