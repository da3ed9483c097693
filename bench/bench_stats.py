"""Speed and memory of the stats step (issue 4), each figure with its ratio.

Run: ``python bench/bench_stats.py``. Synthetic latents of 200,000 x 256 float32
(correlated Gaussian, off-centre, like an AE's codes) are written to a temporary
directory; the figures are:

- ``pair_counts`` (all N(N-1)/2 slice counts, one pass) against a per-pair loop timed on
  a few pairs and extrapolated to all pairs, and its peak extra memory (tracemalloc)
  against the size of the input array;
- the whole ``stats`` step (``analysis.steps.stats.run`` with the default [stats] config) in a
  fresh subprocess: wall time and peak RSS against the 60 s / 2 GB targets and against
  one plain pass over the latents.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.science import slices  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from record import record  # noqa: E402

N_POINTS, N_DIM, B = 200_000, 256, 1.5
TARGET_PAIR_S, TARGET_SPEEDUP, TARGET_STEP_S, TARGET_RSS_GB = 0.3, 1000.0, 60.0, 2.0

CHILD = """
import json, resource, sys, time
from pathlib import Path
from analysis.steps import stats
from analysis.pipeline.config import Config
t = time.perf_counter()
stats.run(Config(), Path(sys.argv[1]), force=True)
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def synthetic_latents(n: int = N_POINTS, N: int = N_DIM, seed: int = 0) -> np.ndarray:
    """(n, N) float32: correlated Gaussian components with per-component offsets."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(N, N)) / np.sqrt(N)
    offset = rng.normal(0.0, 0.4, size=N)
    z = np.empty((n, N), np.float32)
    for s in range(0, n, 20_000):
        k = min(20_000, n - s)
        z[s:s + k] = rng.standard_normal((k, N)) @ mix + offset
    return z


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def per_pair_loop(z: np.ndarray, b: float, pairs) -> float:
    """Seconds per pair of the naive count: all |z_j| <= b outside the pair."""
    t = time.perf_counter()
    for j1, j2 in pairs:
        keep = np.ones(z.shape[1], bool)
        keep[[j1, j2]] = False
        np.count_nonzero(np.all(np.abs(z[:, keep]) <= b, axis=1))
    return (time.perf_counter() - t) / len(pairs)


def bench_pair_counts(z: np.ndarray) -> None:
    n, N = z.shape
    n_pairs = N * (N - 1) // 2
    fast = best_of(lambda: slices.pair_counts(z, B))
    slow = per_pair_loop(z, B, [(0, 1), (17, 200), (100, 255)]) * n_pairs
    record("pair_counts_speedup", slow / fast, "x", target=TARGET_SPEEDUP,
           text=f"pair_counts {n}x{N}, b = {B}: {fast:.3f} s (baseline per-pair loop extrapolated to "
                f"{n_pairs} pairs: {slow:.0f} s; speed-up {slow / fast:.0f}x)")
    # Larger b: more points have one or two components beyond b (the slow path).
    for b in (3.0, 4.5):
        t = best_of(lambda: slices.pair_counts(z, b))
        share = np.mean(np.count_nonzero(np.abs(z[:20_000]) > b, axis=1) <= 2)
        print(f"pair_counts {n}x{N}, b = {b} ({share:.0%} of points in some slice): {t:.3f} s "
              f"(speed-up {slow / t:.0f}x; {t / TARGET_PAIR_S:.2f} of the {TARGET_PAIR_S} s budget)")
    tracemalloc.start()
    slices.pair_counts(z, 4.5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"pair_counts peak extra memory: {peak / 2**20:.1f} MiB "
          f"({peak / z.nbytes:.3f} x the {z.nbytes / 2**20:.0f} MiB input; target <= 1x)")
    idx, val = slices.top_abs(z)
    t_top = best_of(lambda: slices.top_abs(z), repeat=1)
    t_from = best_of(lambda: slices.pair_counts_from_top(idx, val, B, N))
    print(f"top_abs {n}x{N}: {t_top:.3f} s, then pair_counts_from_top per b: {t_from:.4f} s "
          f"({fast / t_from:.0f}x faster than pair_counts for each further b)")


def bench_step(z: np.ndarray) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-stats-") as tmp:
        run_dir = Path(tmp)
        np.save(run_dir / "latents.npy", z)
        zm = np.load(run_dir / "latents.npy", mmap_mode="r")
        one_pass = best_of(lambda: sum(float(np.asarray(zm[s:s + 8192]).sum())
                                       for s in range(0, len(zm), 8192)), repeat=2)
        out = subprocess.run([sys.executable, "-c", CHILD, str(run_dir)], cwd=ROOT,
                             capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        size = (run_dir / "stats" / "arrays.npz").stat().st_size
    wall, rss = res["wall"], res["maxrss_kb"] / 2**20
    n, N = z.shape
    record("stats_step_s", wall, "s", baseline=one_pass, target=TARGET_STEP_S, higher_is_better=False, judge="value",
           text=f"stats step {n}x{N}: {wall:.1f} s ({wall / one_pass:.0f}x one plain read-and-sum pass over "
                f"the memory-mapped latents, {one_pass:.3f} s)")
    record("stats_step_rss_gib", rss, "GiB", target=TARGET_RSS_GB, higher_is_better=False,
           text=f"stats step peak RSS: {rss:.2f} GiB ({rss * 2**30 / z.nbytes:.1f}x the latents file)")
    print(f"stats arrays.npz: {size / 2**20:.1f} MiB")


def main() -> None:
    z = synthetic_latents()
    bench_pair_counts(z)
    bench_step(z)


if __name__ == "__main__":
    main()
