"""Probes of the latent space for the decoder: plane grids, straight paths, distance to the data.

The ``decode`` step (:mod:`analysis.steps.decode`) decodes latent points laid out by these
functions and judges each one by how far it lies from the data. Everything here is
library code on arrays: no files, no config, no model; bad arguments raise ``ValueError``.

Distance to the data (:class:`DataDistance`)
    Two measures, each in units of a *boundary* that real points themselves define:

    * the **distance to the nearest real point** (:func:`analysis.science.metrics.nearest_distances`)
      in units of B, the ``quantile`` (e.g. 99 %) of the real points' own distances to
      their nearest *other* real point (:func:`analysis.science.metrics.knn_radii`, k = 1): 1 means
      "as isolated as the most isolated 1 % of real points". This is the primary measure:
      it says whether the decoder has seen data near a point, in any direction;
    * the **Mahalanobis distance** from the cloud's centre with the Ledoit-Wolf shrunk
      covariance (:func:`analysis.science.calibration.ledoit_wolf_fit`), in units of D, the
      ``quantile`` of the real points' own distances, each measured *cross-fitted*, i.e.
      with centre and covariance fitted on the other folds
      (:func:`analysis.science.calibration.crossfit_distances`); a probe point is never part of the
      fit either (in-sample distances would put the boundary too close to the centre). It
      describes the ellipsoid: in many dimensions its inside is not all data (along a
      single principal axis, real points reach only a few standard deviations, far less
      than D), so it serves as the second measure.

Plane grids (:func:`plane_points`)
    A grid over the window of two components (j1, j2), all other components taken from
    an anchor point (the centre of the cloud, or the origin): ``points[iy, ix]`` has
    ``z[j1] = xs[ix]`` and ``z[j2] = ys[iy]``. :func:`window` gives the range a
    projection plots: the data's range of a component, extended to include 0.

Paths (:func:`segment`, :func:`ray_length`)
    Straight lines in ``steps`` evenly spaced points. A *ray* starts at the centre and
    runs along a unit direction u until its distance to the data reaches a target
    (:func:`ray_length`). :func:`outward` orients a direction away from the origin;
    :func:`near_pair` and :func:`far_pair` pick two real points.

Where faces stop (:func:`face_stop`)
    Along a ray with a face flag per step, the stop is the midpoint of the distances of the
    last face before the first non-face and of that non-face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from analysis.science import calibration as cal
from analysis.science import metrics as M
from analysis.science.geometry import numerical_rank


def _points(x, what: str, min_points: int = 1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1 or len(x) < min_points:
        raise ValueError(f"{what} must have shape (n >= {min_points}, N), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return x


# --------------------------------------------------------------------------- distance to the data

@dataclass(frozen=True, eq=False)
class DataDistance:
    """How far latent points lie from a set of real points (see the module docstring).

    Attributes
    ----------
    reference : (n, N) array
        The real points.
    quantile : float
        Share of real points within each boundary.
    nn_own : (n,) array
        Each real point's distance to its nearest other real point.
    nn_boundary : float
        B, the ``quantile`` of ``nn_own``.
    fit : dict
        :func:`analysis.science.calibration.ledoit_wolf_fit` of the real points.
    held_out : (n,) array
        The real points' cross-fitted Mahalanobis distances.
    boundary : float
        D, the ``quantile`` of ``held_out``.
    """

    reference: np.ndarray
    quantile: float
    nn_own: np.ndarray
    nn_boundary: float
    fit: dict
    held_out: np.ndarray
    boundary: float

    def distance(self, z) -> np.ndarray:
        """Distance to the nearest real point in units of B (1 = as isolated as the most isolated real points)."""
        return M.nearest_distances(_points(z, "points"), self.reference) / self.nn_boundary

    def mahalanobis(self, z) -> np.ndarray:
        """Ledoit-Wolf Mahalanobis distances (m,) of points z (m, N) from the centre."""
        return cal.fit_distances(self.fit, _points(z, "points"))

    def mahalanobis_relative(self, z) -> np.ndarray:
        """Mahalanobis distances in units of D."""
        return self.mahalanobis(z) / self.boundary

    def principal_axis(self, which: str) -> np.ndarray:
        """The unit principal axis with the ``"longest"`` or the ``"shortest"`` non-zero variance."""
        eig, vec = self.fit["eig"], self.fit["vec"]
        if which == "longest":
            return vec[:, 0].copy()
        if which == "shortest":
            return vec[:, max(numerical_rank(eig), 1) - 1].copy()
        raise ValueError(f"which must be 'longest' or 'shortest', got {which!r}")


def data_distance(x, folds: int, quantile: float, rng: np.random.Generator) -> DataDistance:
    """Fit :class:`DataDistance` to real points x (n, N).

    Parameters
    ----------
    x : (n, N) array, n >= 2 * folds
    folds : int >= 2
        Folds of the cross-fitted Mahalanobis boundary.
    quantile : float in (0, 1]
        Share of real points within the boundaries.
    rng : numpy Generator (the fold split)
    """
    x = _points(x, "real points", 2)
    if not 2 <= folds <= len(x) // 2:
        raise ValueError(f"{folds} folds need at least {2 * folds} real points, got {len(x)}")
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must lie in (0, 1], got {quantile}")
    nn = M.knn_radii(x, 1)
    nn_boundary = float(np.quantile(nn, quantile))
    with threadpool_limits(1, user_api="blas"):  # N x N eigendecompositions: one thread is far faster than two
        held = cal.crossfit_distances(x, folds, rng)
        fit = cal.ledoit_wolf_fit(x)
    boundary = float(np.quantile(held, quantile))
    if not (nn_boundary > 0 and boundary > 0):
        raise ValueError("the real points coincide: their distances to each other and to their centre are 0")
    return DataDistance(reference=x, quantile=float(quantile), nn_own=nn, nn_boundary=nn_boundary,
                        fit=fit, held_out=held, boundary=boundary)


# --------------------------------------------------------------------------- planes

def window(lo: float, hi: float) -> tuple[float, float]:
    """The range a projection plots for a component with data range [lo, hi]: extended to include 0
    (and widened to [-1, 1] around a component that is constant at 0)."""
    a, b = min(0.0, float(lo)), max(0.0, float(hi))
    if not (np.isfinite(a) and np.isfinite(b)):
        raise ValueError(f"the component's range [{lo}, {hi}] is not finite")
    return (a, b) if b > a else (a - 1.0, b + 1.0)


def plane_points(anchor, j1: int, j2: int, xs, ys) -> np.ndarray:
    """Grid points (len(ys), len(xs), N): the anchor with ``z[j1] = xs[ix]`` and ``z[j2] = ys[iy]``."""
    anchor = np.asarray(anchor, dtype=np.float64)
    N = anchor.shape[0]
    if anchor.ndim != 1 or not (0 <= j1 < N and 0 <= j2 < N) or j1 == j2:
        raise ValueError(f"need two different components in 0..{N - 1} of an (N,) anchor, got {j1}, {j2}")
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    pts = np.broadcast_to(anchor, (len(ys), len(xs), N)).copy()
    pts[:, :, j1] = xs[None, :]
    pts[:, :, j2] = ys[:, None]
    return pts


# --------------------------------------------------------------------------- paths

def segment(a, b, steps: int) -> np.ndarray:
    """``steps`` evenly spaced points (steps, N) from a to b, both included."""
    if steps < 2:
        raise ValueError(f"a path needs at least 2 steps, got {steps}")
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"end points must be two (N,) vectors, got {a.shape} and {b.shape}")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    return a[None, :] + t * (b - a)[None, :]


def outward(u, centre) -> np.ndarray:
    """The unit direction ±u that points away from the origin as seen from the centre (u . centre >= 0)."""
    u = np.asarray(u, dtype=np.float64)
    norm = float(np.linalg.norm(u))
    if not norm > 0:
        raise ValueError("a direction must be a non-zero vector")
    u = u / norm
    return -u if float(u @ np.asarray(centre, dtype=np.float64)) < 0 else u


def ray_length(dd: DataDistance, start, u, target: float, iterations: int = 40) -> float:
    """How far to go from ``start`` along the unit direction u until the distance to the data
    (:meth:`DataDistance.distance`) reaches ``target``: doubling from B, then bisection (to 0.1 %
    of the length; the distance is continuous, so it crosses the target there).

    Raises
    ------
    ValueError
        The distance does not reach the target within 2^60 B.
    """
    start = np.asarray(start, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)

    def dist(length: float) -> float:
        return float(dd.distance((start + length * u)[None, :])[0])

    lo, hi = 0.0, dd.nn_boundary
    for _ in range(60):
        if dist(hi) >= target:
            break
        lo, hi = hi, 2.0 * hi
    else:
        raise ValueError(f"the distance to the data does not reach {target} along this direction")
    for _ in range(iterations):
        if hi - lo <= 1e-3 * hi:
            break
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if dist(mid) < target else (lo, mid)
    return hi


def near_pair(x, rng: np.random.Generator) -> tuple[int, int]:
    """A random real point and its nearest other real point (rows of x, n >= 2)."""
    x = _points(x, "real points", 2)
    i = int(rng.integers(len(x)))
    d = np.linalg.norm(x - x[i], axis=1)
    d[i] = np.inf
    return i, int(np.argmin(d))


def far_pair(x, rng: np.random.Generator, max_points: int = 2000) -> tuple[int, int]:
    """The two real points farthest apart (among a random ``max_points`` of them when n is larger)."""
    x = _points(x, "real points", 2)
    idx = np.arange(len(x)) if len(x) <= max_points else np.sort(rng.choice(len(x), max_points, replace=False))
    c = x[idx] - x[idx].mean(axis=0)
    sq = np.einsum("ij,ij->i", c, c)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (c @ c.T)
    i, j = np.unravel_index(int(np.argmax(d2)), d2.shape)
    return int(idx[min(i, j)]), int(idx[max(i, j)])


# --------------------------------------------------------------------------- where faces stop

def face_stop(distance, face) -> dict:
    """Where the images along a ray stop being faces.

    Parameters
    ----------
    distance : (T,) distances of the steps (increasing along the ray)
    face : (T,) bool, whether each step's image is a face

    Returns
    -------
    dict
        ``start_face`` (the first step is a face); ``stop_index``: the first step that is
        not a face, after faces from the start (None if every step is a face, or the start
        is not); ``last_face`` and ``first_nonface``: the distances around it; ``stop``:
        their midpoint (None without a stop).
    """
    d = np.asarray(distance, dtype=np.float64)
    f = np.asarray(face, dtype=bool)
    if d.ndim != 1 or d.shape != f.shape or not len(d):
        raise ValueError(f"distance and face must be two (T,) arrays, got {d.shape} and {f.shape}")
    out = {"start_face": bool(f[0]), "stop_index": None, "last_face": None, "first_nonface": None, "stop": None}
    if not f[0] or f.all():
        return out
    s = int(np.argmin(f))  # the first False
    out.update(stop_index=s, last_face=float(d[s - 1]), first_nonface=float(d[s]),
               stop=float((d[s - 1] + d[s]) / 2.0))
    return out
