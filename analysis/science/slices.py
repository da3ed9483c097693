"""Coordinate planes of the latent space: flat-cuboid slices and 2-D projections.

A *flat cuboid* (the study's slice) for a pair of components (j1, j2) and a
threshold b > 0 is the set of points x in R^N with ``|x_j| <= b`` for every j other
than j1 and j2: a slab around the (j1, j2) coordinate plane. Unlike the projection
onto that plane it shows only points that are actually near the plane.

Membership rule
---------------
A point lies in the slice of (j1, j2, b) iff every component with ``|x_j| > b`` is
among {j1, j2}. So a point with no component beyond b lies in every slice, a point
with exactly one (j) lies in the slices of all pairs (j, *), a point with exactly two
(j1, j2) only in that pair's slice, and a point with three or more in none. This is
why :func:`pair_counts` needs only one pass over the data for all N(N-1)/2 pairs.

With the largest absolute values of a point sorted in descending order,
``v[0] >= v[1] >= v[2] >= v[3]``, and their component indices ``i[0], i[1], ...``
(as returned by :func:`top_abs`), membership is decided exactly for any b::

    in slice (j1, j2, b)  <=>  v[2] <= b
                               and (v[0] <= b or i[0] in {j1, j2})
                               and (v[1] <= b or i[1] in {j1, j2})

(:func:`in_slice`). ``v[3]`` is not needed for pairs; with it the same rule decides
3-D flat cuboids (j1, j2, j3). Comparisons are strict (``|x| > b`` is outside) and
are made in the precision of the values given. Points with fewer than four
components are padded with value 0 and index 0 (never outside any b > 0).

Artificial points "inside a slice": points with all N components uniform in
[-b, b] lie in *every* slice for that b (no component exceeds b), so one set of
uniform points in [-b, b]^N serves all pairs (:func:`uniform_cube`).

All functions take the latents as an (n, N) float array (a ``np.memmap`` is fine) and
work in chunks of rows (:func:`analysis.science.geometry.chunk_rows`), so the extra memory stays far below the size of the input.
"""

from __future__ import annotations

import numpy as np

from analysis.science.geometry import chunk_rows


def _check_b(b: float) -> float:
    b = float(b)
    if not b > 0 or not np.isfinite(b):
        raise ValueError(f"b must be a finite number > 0, got {b}")
    return b


def _assemble(N: int, n_zero: int, singles: np.ndarray, doubles: np.ndarray) -> np.ndarray:
    """Pair counts from the three kinds of points (see the module docstring)."""
    d = doubles.reshape(N, N)
    counts = n_zero + singles[:, None] + singles[None, :] + d + d.T
    np.fill_diagonal(counts, 0)
    return counts.astype(np.int64, copy=False)


def pair_counts(z: np.ndarray, b: float) -> np.ndarray:
    """Number of points in the flat-cuboid slice of every component pair.

    One pass over the data: each point is classified by how many of its components
    exceed b in absolute value (0, 1 or 2; three or more put it in no slice).

    Parameters
    ----------
    z : (n, N) float array
        Latent points.
    b : float
        Slice half-thickness, > 0.

    Returns
    -------
    counts : (N, N) int64 array
        ``counts[j1, j2]`` = number of points with ``|z[:, j]| <= b`` for all
        j not in {j1, j2}; symmetric, diagonal 0 (unused).
    """
    b = _check_b(b)
    n, N = z.shape
    rows = chunk_rows(N)
    n_zero = 0
    singles = np.zeros(N, np.int64)
    doubles = np.zeros(N * N, np.int64)
    buf = np.empty((min(rows, n), N), dtype=z.dtype if z.dtype.kind == "f" else np.float64)
    out = np.empty(buf.shape, dtype=bool)
    for s in range(0, n, rows):
        chunk = z[s:s + rows]
        k = len(chunk)
        outside = np.greater(np.abs(chunk, out=buf[:k]), b, out=out[:k])
        n_out = np.count_nonzero(outside, axis=1)
        n_zero += int(np.count_nonzero(n_out == 0))
        one = outside[n_out == 1]
        singles += np.bincount(one.argmax(axis=1), minlength=N)
        two = outside[n_out == 2]
        first = two.argmax(axis=1)
        last = N - 1 - two[:, ::-1].argmax(axis=1)
        doubles += np.bincount(first * N + last, minlength=N * N)
    return _assemble(N, n_zero, singles, doubles)


def top_abs(z: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Indices and absolute values of each point's k largest ``|z_j|``.

    Parameters
    ----------
    z : (n, N) float array
        Latent points.
    k : int
        How many to keep (4: enough for the membership rule of the module docstring).

    Returns
    -------
    index : (n, k) uint16 array (uint32 if N > 65536)
        Component indices, largest ``|z_j|`` first (ties: the lower index first).
    value : (n, k) array of z's float dtype
        The matching ``|z_j|``, descending. If N < k the missing columns are
        value 0, index 0.
    """
    n, N = z.shape
    rows = chunk_rows(N)
    index = np.zeros((n, k), np.uint16 if N <= 65536 else np.uint32)
    dtype = z.dtype if z.dtype.kind == "f" else np.float64
    value = np.zeros((n, k), dtype)
    buf = np.empty((min(rows, n), N), dtype)
    for s in range(0, n, rows):
        chunk = z[s:s + rows]
        m = len(chunk)
        a = np.abs(chunk, out=buf[:m])
        r = np.arange(m)
        for t in range(min(k, N)):
            i = a.argmax(axis=1)
            index[s:s + m, t] = i
            value[s:s + m, t] = a[r, i]
            a[r, i] = -1.0  # below every |x|: the next argmax finds the next largest
    return index, value


def in_slice(index: np.ndarray, value: np.ndarray, j1: int, j2: int, b: float) -> np.ndarray:
    """Which points lie in the slice of (j1, j2, b), from their :func:`top_abs` data.

    Parameters
    ----------
    index, value : (n, k) arrays, k >= 3
        Output of :func:`top_abs`.
    j1, j2 : int
        The pair.
    b : float
        Slice half-thickness.

    Returns
    -------
    (n,) bool array
    """
    index, value = np.asarray(index), np.asarray(value)
    ok = value[:, 2] <= b
    for t in (0, 1):
        ok &= (value[:, t] <= b) | (index[:, t] == j1) | (index[:, t] == j2)
    return ok


def pair_counts_from_top(index: np.ndarray, value: np.ndarray, b: float, N: int) -> np.ndarray:
    """:func:`pair_counts` from precomputed :func:`top_abs` data (O(n) for each b).

    Parameters
    ----------
    index, value : (n, k) arrays, k >= 3
        Output of :func:`top_abs`.
    b : float
        Slice half-thickness, > 0.
    N : int
        Number of components.

    Returns
    -------
    counts : (N, N) int64 array
        As :func:`pair_counts`.
    """
    b = _check_b(b)
    v0, v1, v2 = value[:, 0], value[:, 1], value[:, 2]
    n_zero = int(np.count_nonzero(v0 <= b))
    one = (v0 > b) & (v1 <= b)
    two = (v1 > b) & (v2 <= b)
    singles = np.bincount(index[one, 0], minlength=N).astype(np.int64)
    i0 = index[two, 0].astype(np.int64)
    i1 = index[two, 1].astype(np.int64)
    doubles = np.bincount(np.minimum(i0, i1) * N + np.maximum(i0, i1), minlength=N * N)
    return _assemble(N, n_zero, singles, doubles.astype(np.int64))


def upper(matrix: np.ndarray) -> np.ndarray:
    """The strictly upper triangle of an (N, N) matrix as a flat array (pair order i < j).

    Parameters
    ----------
    matrix : (N, N) array

    Returns
    -------
    (N * (N - 1) / 2,) array, in the order of ``np.triu_indices(N, 1)``.
    """
    return matrix[np.triu_indices(matrix.shape[0], 1)]


def occupancy(index: np.ndarray, value: np.ndarray, b_grid: np.ndarray, N: int) -> np.ndarray:
    """Share of points in the emptiest, median and fullest pair's slice, for each b.

    Parameters
    ----------
    index, value : (n, k) arrays, k >= 3
        :func:`top_abs` data of all points.
    b_grid : (G,) float array
        Thresholds.
    N : int
        Number of components (>= 2).

    Returns
    -------
    (G, 3) float64 array
        Columns: min, median, max over all N(N-1)/2 pairs of count / n.
    """
    n = len(index)
    out = np.zeros((len(b_grid), 3))
    for g, b in enumerate(b_grid):
        c = upper(pair_counts_from_top(index, value, b, N))
        out[g] = (c.min() / n, np.median(c) / n, c.max() / n)
    return out


def projection_overlap(z: np.ndarray, b: float) -> np.ndarray:
    """For every pair, the number of points whose projection falls in [-b, b]^2.

    In the (j1, j2) projection these points sit in the square that uniform points in
    [-b, b]^N fill, so a large count *looks* like real and artificial points overlap
    (whether they do is what the slice shows).

    Parameters
    ----------
    z : (n, N) float array
        Latent points.
    b : float
        Half-width of the square.

    Returns
    -------
    (N, N) int64 array
        ``out[j1, j2]`` = #points with ``|z_j1| <= b`` and ``|z_j2| <= b``;
        the diagonal holds #points with ``|z_j| <= b``.
    """
    b = _check_b(b)
    n, N = z.shape
    rows = min(chunk_rows(N), 1 << 16)  # float32 products stay exact below 2**24
    out = np.zeros((N, N), np.int64)
    for s in range(0, n, rows):
        inside = (np.abs(z[s:s + rows]) <= b).astype(np.float32)
        out += np.rint(inside.T @ inside).astype(np.int64)
    return out


def origin_mahalanobis_2d(mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """2-D Mahalanobis distance of the origin from the centre of every pair's projection.

    Parameters
    ----------
    mean : (N,) array
        Centre of the cloud.
    cov : (N, N) array
        Covariance of the cloud.

    Returns
    -------
    (N, N) float64 array
        ``d[j1, j2]`` for the 2-D marginal (j1, j2); diagonal 0; NaN where the 2x2
        covariance is singular.
    """
    m, v = np.asarray(mean, float), np.diag(cov).astype(float)
    c = np.asarray(cov, float)
    det = v[:, None] * v[None, :] - c ** 2
    q = (m[:, None] ** 2 * v[None, :] - 2 * m[:, None] * m[None, :] * c + m[None, :] ** 2 * v[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.sqrt(np.where(det > 1e-12 * np.maximum(v[:, None] * v[None, :], 1e-300), q / det, np.nan))
    np.fill_diagonal(d, 0.0)
    return d


def uniform_cube(rng: np.random.Generator, m: int, N: int, b: float = 1.0) -> np.ndarray:
    """m points with iid components uniform in [-b, b].

    They lie in every flat-cuboid slice of threshold b. Drawn as ``b * U[-1, 1]``, so
    with the same generator state the points for different b are scaled copies.

    Returns
    -------
    (m, N) float64 array
    """
    return b * rng.uniform(-1.0, 1.0, size=(m, N))


def pair_chebyshev(z: np.ndarray, pair: tuple[int, int]) -> np.ndarray:
    """``max(|z_j1|, |z_j2|)`` of every point: the half-width of the smallest square
    [-w, w]^2 around the origin that holds its projection onto the pair's plane.

    Its ``share``-quantile is the half-width of the window holding that share of the
    points (the zoom of the projection charts).

    Parameters
    ----------
    z : (n, N) float array
    pair : (j1, j2)

    Returns
    -------
    (n,) float64 array
    """
    return np.abs(np.asarray(z[:, list(pair)], dtype=np.float64)).max(axis=1)


def choose_pairs(count_all: np.ndarray, count_sample: np.ndarray, overlap: np.ndarray,
                 origin_2d: np.ndarray, n_pairs: int) -> list[dict]:
    """Pick component pairs to show, reproducibly, with the reason for each.

    Reasons, in this order, ``n_pairs`` each (a pair chosen for an earlier reason is
    skipped; ties go to the lower (j1, j2)):

    - ``emptiest``: fewest points (all points, then sample) in the slice; among equal
      counts, the pair with the most points projecting into [-b, b]^2 (the void that
      a projection hides best).
    - ``fullest``: most points in the slice.
    - ``origin_at_border``: largest 2-D Mahalanobis distance of the origin from the
      centre of the projected cloud (origin farthest out at its edge).
    - ``overlap_but_empty``: largest ``(projection overlap + 1) / (slice count + 1)``:
      many points project into the square [-b, b]^2 but few lie in the slice.

    Parameters
    ----------
    count_all, count_sample : (N, N) int arrays
        Slice counts for all points and for the sample (:func:`pair_counts`).
    overlap : (N, N) int array
        :func:`projection_overlap` of all points.
    origin_2d : (N, N) float array
        :func:`origin_mahalanobis_2d`.
    n_pairs : int
        Pairs per reason.

    Returns
    -------
    list of dict
        ``{"pair": [j1, j2], "reason": str}`` in the order chosen.
    """
    N = count_all.shape[0]
    j1, j2 = np.triu_indices(N, 1)
    ca, cs, ov = upper(count_all), upper(count_sample), upper(overlap)
    o2 = np.nan_to_num(upper(origin_2d), nan=-1.0)
    score = (ov + 1.0) / (ca + 1.0)
    # np.lexsort: last key is primary; pair order (j1, j2) = position in the triangle.
    pos = np.arange(len(j1))
    orders = {
        "emptiest": np.lexsort((pos, -ov, cs, ca)),
        "fullest": np.lexsort((pos, -cs, -ca)),
        "origin_at_border": np.lexsort((pos, -o2)),
        "overlap_but_empty": np.lexsort((pos, -score)),
    }
    chosen: list[dict] = []
    taken: set[int] = set()
    for reason, order in orders.items():
        picked = 0
        for p in order:
            if picked == n_pairs:
                break
            if int(p) in taken:
                continue
            taken.add(int(p))
            picked += 1
            chosen.append({"pair": [int(j1[p]), int(j2[p])], "reason": reason})
    return chosen
