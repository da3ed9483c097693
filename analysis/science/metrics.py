"""How close generated points are to the real ones, without downloaded networks.

No Inception weights are reachable, so no FID. Instead, k-nearest-neighbour
metrics that work in any space: the latent space itself, and pixel space
(flattened decoded images against real images).

k-NN support and precision / recall / density / coverage
    (Kynkäänniemi et al. 2019; Naeem et al. 2020, "Reliable Fidelity and Diversity
    Metrics for Generative Models"). Every real point x_i gets a ball whose radius
    r_i is the distance to its k-th nearest other real point; the union of the balls
    is the estimated real support. Likewise every generated point y_j gets the
    radius s_j to its k-th nearest other generated point. With M generated and
    R real points:

    * in support / precision = (1/M) #{j : y_j is in some real ball}
      (the share of generated points inside the real support: fidelity);
    * recall = (1/R) #{i : x_i is in some generated ball} (diversity);
    * density = (1/(k M)) sum_j #{i : y_j is in the ball of x_i}
      (about 1 for matching distributions, > 1 where generated points crowd dense
      real regions, a robust fidelity measure);
    * coverage = (1/R) #{i : the nearest generated point lies in x_i's ball}
      (a robust diversity measure).

    Identical sets give precision = recall = coverage = 1 and density = (k + 1)/k
    (each point also lies in its own ball); sets far apart give 0 everywhere.

radius distance
    The 1-D Wasserstein distance between the distributions of |z| (the study's
    radius comparison), :func:`scipy.stats.wasserstein_distance`.

nearest-real distance
    Mean over generated points of the distance to the nearest real point.

copying (memorisation)
    A generator can score perfectly on all of the above by returning its training
    points. With d(y) the distance of a point y to the nearest *fit-part* point (what
    the generator was fitted on), compare the generated points with held-out real
    points, which are genuinely new samples: ``copy_share`` is the share of generated
    points closer to the fit part than the ``quantile`` (5 %) quantile of the held-out
    points' d (about 0.05 for a generator as novel as new data, towards 1 for copies),
    and ``nn_fit_ratio`` = median d(generated) / median d(held-out) (about 1 for
    novelty like real data, near 0 for copies, above 1 for points away from the data).

re-encoding gap
    |E(D(z)) - z| for generated z, averaged, also relative to the real points' spread
    (their RMS distance from their centroid); small where the decoder and encoder
    agree, i.e. where the autoencoder has seen data.

Cost: brute force on BLAS, which beats trees in 256-D. The k-NN radii and the cross
terms stream over row blocks (about 64 MB each) of the real-real, generated-generated
and generated-real distance matrices, all computed by the same routine
(one float32 GEMM per block) on centred points, so a
point on a ball's boundary is judged consistently; memory stays flat and 10,000 vs
10,000 points in 256-D take a few seconds on two cores (``bench/bench_generate.py``).

Bad input (wrong shapes, too few points, NaN, k < 1) raises ``ValueError`` (``TypeError``
for a wrong type) with a plain message.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance


__all__ = ["knn_radii", "prdc", "support_mask", "radius_distance", "latent_metrics",
           "image_metrics", "reencoding_gap", "nearest_distances", "copy_metrics", "face_quality"]

_BLOCK_BYTES = 64 << 20  # one block of the distance matrix
# Balls are closed: a point on a ball's boundary up to float32 rounding (the same
# distance computed in another block or order) counts as inside.
_SLACK = 1.0 + 1e-5


def _as_points(x, what: str, min_points: int = 1) -> np.ndarray:
    """(n, d) float64 array, checked."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"{what} must have shape (n points, d), got {x.shape}")
    if x.shape[0] < min_points:
        raise ValueError(f"{what} has {x.shape[0]} points; at least {min_points} are needed")
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return x


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be a positive integer, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _sq_dists(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)) as |a|^2 + |b|^2 - 2 a.b, one float32 GEMM."""
    d2 = a @ b.T
    d2 *= -2.0
    d2 += np.einsum("ij,ij->i", a, a)[:, None]
    d2 += b_sq
    return np.maximum(d2, 0.0, out=d2)


def _block_rows(n: int) -> int:
    return max(1, _BLOCK_BYTES // (4 * n))


def _knn_sq_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance to the k-th nearest other point, streamed over row blocks."""
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)[None, :]
    out = np.empty(n, dtype=x.dtype)
    rows = _block_rows(n)
    for s in range(0, n, rows):
        d2 = _sq_dists(x[s:s + rows], x, sq)
        out[s:s + rows] = np.partition(d2, k, axis=1)[:, k]  # index 0 is the point itself
    return out


def knn_radii(x, k: int = 5) -> np.ndarray:
    """Distance from each point to its k-th nearest other point of the same set.

    Parameters
    ----------
    x : array of shape (n, d), n > k
    k : int

    Returns
    -------
    ndarray of shape (n,)
    """
    k = _check_k(k)
    x = _as_points(x, "point set", k + 1)
    return np.sqrt(_knn_sq_radii(_centred(x, x)[0], k))


def _cross_terms(real: np.ndarray, fake: np.ndarray, rr2: np.ndarray, rf2: np.ndarray) -> dict:
    """One streamed pass over the (M, R) generated-to-real squared distances.

    ``rr2``/``rf2`` are the squared k-NN radii of the real/generated points. Returns
    per-generated-point counts of real balls containing it and nearest-real
    distances, and per-real-point nearest-generated squared distances and recall hits.
    """
    m, n = fake.shape[0], real.shape[0]
    real_sq = np.einsum("ij,ij->i", real, real)[None, :]
    count = np.zeros(m, dtype=np.int64)
    nearest_real2 = np.empty(m, dtype=np.float32)
    nearest_fake2 = np.full(n, np.inf, dtype=np.float32)
    recalled = np.zeros(n, dtype=bool)
    rows = _block_rows(n)
    for s in range(0, m, rows):
        e = min(m, s + rows)
        d2 = _sq_dists(fake[s:e], real, real_sq)
        count[s:e] = np.count_nonzero(d2 <= rr2, axis=1)
        nearest_real2[s:e] = d2.min(axis=1)
        np.minimum(nearest_fake2, d2.min(axis=0), out=nearest_fake2)
        recalled |= np.any(d2 <= rf2[s:e, None], axis=0)
    return {"count": count, "nearest_real": np.sqrt(nearest_real2.astype(np.float64)),
            "nearest_fake2": nearest_fake2, "recalled": recalled}


def _centred(real: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets minus the real centroid, as float32: the same distances, with little
    cancellation in |a|^2 + |b|^2 - 2ab, at float32 BLAS speed."""
    c = real.mean(axis=0)
    return (real - c).astype(np.float32), (fake - c).astype(np.float32)


def prdc(real, fake, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al. 2020) plus nearest-real distance.

    Parameters
    ----------
    real : array of shape (R, d), R > k
        Real points (latents, or flattened images).
    fake : array of shape (M, d), M > k
        Generated points in the same space.
    k : int
        Neighbours defining each point's ball.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``density``, ``coverage`` (floats, see the module
        docstring) and ``nn_real_mean``, the mean distance of a generated point to its
        nearest real point.
    """
    k = _check_k(k)
    real = _as_points(real, "real points", k + 1)
    fake = _as_points(fake, "generated points", k + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real points have {real.shape[1]} dimensions but generated points {fake.shape[1]}")
    real, fake = _centred(real, fake)
    rr2, rf2 = _knn_sq_radii(real, k) * _SLACK, _knn_sq_radii(fake, k) * _SLACK
    t = _cross_terms(real, fake, rr2, rf2)
    return {
        "precision": float(np.mean(t["count"] > 0)),
        "recall": float(np.mean(t["recalled"])),
        "density": float(t["count"].sum() / (k * fake.shape[0])),
        "coverage": float(np.mean(t["nearest_fake2"] <= rr2)),
        "nn_real_mean": float(t["nearest_real"].mean()),
    }


def support_mask(real, fake, k: int = 5) -> np.ndarray:
    """Which generated points lie inside the real support (k-NN radius rule).

    Parameters
    ----------
    real : array of shape (R, d), R > k
    fake : array of shape (M, d)
    k : int

    Returns
    -------
    ndarray of bool, shape (M,)
        True where the point is within the k-NN radius of some real point; its mean
        is the precision.
    """
    k = _check_k(k)
    real = _as_points(real, "real points", k + 1)
    fake = _as_points(fake, "generated points")
    real, fake = _centred(real, fake)
    t = _cross_terms(real, fake, _knn_sq_radii(real, k) * _SLACK, np.zeros(fake.shape[0]))
    return t["count"] > 0


def _radii(x) -> np.ndarray:
    return np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)


def radius_distance(real, fake) -> float:
    """Wasserstein-1 distance between the radius distributions |z| of two point sets.

    Parameters
    ----------
    real : array of shape (R, N)
    fake : array of shape (M, N)

    Returns
    -------
    float
        In the units of the latent coordinates.
    """
    return float(wasserstein_distance(_radii(real), _radii(fake)))


def latent_metrics(real, fake, k: int = 5) -> dict[str, float]:
    """All latent-space metrics of generated points against real points.

    Parameters
    ----------
    real : array of shape (R, N)
    fake : array of shape (M, N)
    k : int

    Returns
    -------
    dict
        ``in_support`` (share of generated points inside the real k-NN support; by
        definition equal to ``precision``), ``precision``, ``recall``, ``density``,
        ``coverage``, ``nn_real_mean``, ``radius_w1`` (Wasserstein distance of the
        radius distributions) and ``radius_mean`` (mean |z| of the generated points).
    """
    out = prdc(real, fake, k)
    out["in_support"] = out["precision"]
    out["radius_w1"] = radius_distance(real, fake)
    out["radius_mean"] = float(_radii(fake).mean())
    return out


def image_metrics(real_images, fake_images, k: int = 5) -> dict[str, float]:
    """k-NN precision / recall / density / coverage on flattened pixels.

    Parameters
    ----------
    real_images : array of shape (R, C, S, S) or (R, d)
        Pixels in [0, 1].
    fake_images : array of shape (M, C, S, S) or (M, d)
        Pixels in [0, 1].
    k : int

    Returns
    -------
    dict
        ``pixel_precision``, ``pixel_recall``, ``pixel_density``, ``pixel_coverage``,
        ``pixel_nn_real_mean``.
    """
    real = np.asarray(real_images).reshape(len(real_images), -1)
    fake = np.asarray(fake_images).reshape(len(fake_images), -1)
    return {f"pixel_{key}": v for key, v in prdc(real, fake, k).items()}


def nearest_distances(query, ref) -> np.ndarray:
    """Distance from each query point to its nearest reference point, streamed over blocks.

    Parameters
    ----------
    query : array of shape (M, N)
    ref : array of shape (R, N)

    Returns
    -------
    ndarray of shape (M,)
    """
    ref = _as_points(ref, "reference set")
    query = _as_points(query, "query set")
    ref_c, query_c = _centred(ref, query)
    ref_sq = np.einsum("ij,ij->i", ref_c, ref_c)[None, :]
    out = np.empty(len(query_c), dtype=np.float64)
    rows = _block_rows(len(ref_c))
    for s in range(0, len(query_c), rows):
        out[s:s + rows] = np.sqrt(_sq_dists(query_c[s:s + rows], ref_c, ref_sq).min(axis=1))
    return out


def copy_metrics(fit, holdout, fake, quantile: float = 0.05) -> dict[str, float]:
    """How much generated points look like copies of the points the generator was fitted on.

    Parameters
    ----------
    fit : array of shape (F, N)
        The generator's training points.
    holdout : array of shape (H, N)
        Real points the generator never saw (the novelty reference).
    fake : array of shape (M, N)
        Generated points.
    quantile : float
        The held-out quantile of nearest-fit distances below which a point counts as a copy.

    Returns
    -------
    dict
        ``copy_share`` (about ``quantile`` for real-like novelty, towards 1 for copies) and
        ``nn_fit_ratio`` (median nearest-fit distance of ``fake`` over that of ``holdout``).
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"copy quantile {quantile} must lie in (0, 1)")
    d_hold = nearest_distances(holdout, fit)
    d_fake = nearest_distances(fake, fit)
    tau = float(np.quantile(d_hold, quantile))
    med = float(np.median(d_hold))
    return {"copy_share": float(np.mean(d_fake < tau)),
            "nn_fit_ratio": float(np.median(d_fake) / med) if med > 0 else float("nan")}


def reencoding_gap(z, z_reencoded, scale: float) -> dict[str, float]:
    """The re-encoding gap |E(D(z)) - z|.

    Parameters
    ----------
    z : array of shape (M, N)
        Points that were decoded.
    z_reencoded : array of shape (M, N)
        The encoder's codes of the decoded images, E(D(z)).
    scale : float
        The real points' spread (:func:`analysis.science.geometry.spread`), > 0.

    Returns
    -------
    dict
        ``reencode_gap``: mean Euclidean gap; ``reencode_gap_rel``: the same divided
        by ``scale``.
    """
    z = np.asarray(z, dtype=np.float64)
    z2 = np.asarray(z_reencoded, dtype=np.float64)
    if z.shape != z2.shape:
        raise ValueError(f"re-encoded points have shape {z2.shape}, expected {z.shape}")
    gap = float(np.linalg.norm(z2 - z, axis=1).mean())
    return {"reencode_gap": gap, "reencode_gap_rel": gap / scale if scale > 0 else float("nan")}


def face_quality(real_images, images, is_face, k: int = 5) -> dict[str, float]:
    """How good, and how varied, the decoded images that the face tests call faces are.

    A generator that emits one average face over and over can have every image called a face;
    this score does not let it win. With the images called faces as the generated set:

    * ``face_share``: the share of ``images`` called faces;
    * ``face_coverage``: the share of real images whose k-NN ball (among the real images)
      holds a face image (Naeem et al. 2020's coverage, a diversity measure; 0 without faces);
    * ``face_diversity``: the faces' mean pairwise pixel distance over that of the real images,
      capped at 1 (0 with fewer than two faces: one repeated face has 0);
    * ``face_score``: the harmonic mean of the three (0 when any is 0).

    Parameters
    ----------
    real_images : array (R, ...) with R > k, pixels in [0, 1]
    images : array (M, ...) of the same image shape
    is_face : bool array (M,)
    k : int
    """
    k = _check_k(k)
    real = _as_points(np.asarray(real_images).reshape(len(real_images), -1), "real images", k + 1)
    imgs = np.asarray(images).reshape(len(images), -1)
    face = np.asarray(is_face, dtype=bool)
    if face.shape != (len(imgs),):
        raise ValueError(f"is_face must have one label per image, got {face.shape} for {len(imgs)} images")
    if imgs.shape[1] != real.shape[1]:
        raise ValueError(f"real images have {real.shape[1]} pixels but the images {imgs.shape[1]}")
    faces = _as_points(imgs[face], "face images") if face.any() else np.zeros((0, real.shape[1]))
    share = float(face.mean()) if len(face) else 0.0
    coverage = diversity = 0.0
    if len(faces):
        radii = knn_radii(real, k) * np.sqrt(_SLACK)
        coverage = float(np.mean(nearest_distances(real, faces) <= radii))
    if len(faces) >= 2:
        diversity = min(1.0, _mean_pairwise(faces) / _mean_pairwise(real)) if _mean_pairwise(real) > 0 else 0.0
    parts = (share, coverage, diversity)
    score = 0.0 if min(parts) <= 0 else 3.0 / sum(1.0 / p for p in parts)
    return {"face_share": share, "face_coverage": coverage, "face_diversity": diversity, "face_score": score}


def _mean_pairwise(x: np.ndarray) -> float:
    """Mean Euclidean distance over all pairs of different rows of x (n >= 2)."""
    c = (x - x.mean(axis=0)).astype(np.float32)
    sq = np.einsum("ij,ij->i", c, c)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (c @ c.T), 0.0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))
