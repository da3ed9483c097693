"""Speed of the generators and the k-NN metrics (issue 6), each figure with its ratio.

Run: ``python bench/bench_generate.py``. Synthetic latents of 200,000 x 256 float32
(a five-cluster mixture, correlated and off-centre, like an AE's codes). Figures:

- fit + sample 10,000 points, for every generator with its default hyper-parameters:
  seconds, against one plain mean-and-covariance pass over the same latents (the
  least any full-covariance fit must do), and the total against the 60 s target;
- the latent k-NN metrics (precision / recall / density / coverage, support, radius
  and nearest-real distances) for 10,000 generated vs 10,000 real points: seconds,
  against the 10 s target and against a brute-force baseline, scipy's ``cdist`` on
  the same three distance matrices (timed on 1,000 rows, extrapolated to all rows);
- the ``generate`` step on the default data (a copy of ``build/default``, made by ``make
  all``; skipped with a note when missing), in fresh subprocesses: with the default
  ``generate.repeats`` = 5 against 2 repetitions (the baseline), so that the cost of one
  repetition (split, the gmm's selection over all its candidates, refit, sampling, latent and pixel metrics) is their difference / 3;
  target: at most 60 s for the whole step on 2 cores (issue 13's budget for the
  calibration's extra work);
- peak resident memory of the process.

Machines are shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.science import metrics  # noqa: E402
from analysis.science.generators import GENERATORS, make_generator  # noqa: E402
from analysis.science.geometry import mean_cov  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from record import record  # noqa: E402

N_POINTS, N_DIM, N_SAMPLE, N_METRIC, K = 200_000, 256, 10_000, 10_000, 5
TARGET_GEN_S, TARGET_METRIC_S, TARGET_STEP_S = 60.0, 10.0, 60.0
DEFAULT_RUN = ROOT / "build" / "default"
STEP_CHILD = """
import json, sys, time
from pathlib import Path
from analysis.steps import generate
from analysis.pipeline.config import load_config
cfg = load_config(Path(sys.argv[2]), [f"generate.repeats={sys.argv[3]}"])
t, c = time.perf_counter(), time.process_time()
generate.run(cfg, Path(sys.argv[1]), force=True)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""


def synthetic_latents(n: int = N_POINTS, N: int = N_DIM, seed: int = 0) -> np.ndarray:
    """(n, N) float32: five correlated Gaussian clusters around an off-centre mean."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(N, N)) / np.sqrt(N) * np.exp(-np.arange(N) / 64.0)[:, None]
    centres = rng.normal(0.0, 0.6, size=(5, N)) + rng.normal(0.0, 0.4, size=N)
    z = np.empty((n, N), np.float32)
    for s in range(0, n, 20_000):
        m = min(20_000, n - s)
        z[s:s + m] = rng.standard_normal((m, N)) @ mix + centres[rng.integers(0, 5, m)]
    return z


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_generators(z: np.ndarray) -> np.ndarray:
    n, N = z.shape
    base, _ = timed(lambda: mean_cov(z, ddof=1))
    print(f"baseline: one mean+covariance pass over {n}x{N} latents: {base:.2f} s")
    total, sample = 0.0, None
    for name in GENERATORS:
        gen = make_generator(name, random_state=0)
        t_fit, _ = timed(lambda: gen.fit(z))
        t_smp, s = timed(lambda: gen.sample(N_SAMPLE))
        t = t_fit + t_smp
        total += t
        if name == "mvn":
            sample = s
        extra = f"; fitted on {gen.n_fit_points_} points, {gen.n_iter_} EM iterations" if name == "gmm" else ""
        print(f"fit + sample {N_SAMPLE} {name:22s}: {t:6.2f} s (fit {t_fit:.2f}, sample {t_smp:.3f}; "
              f"{t / base:.1f}x the covariance pass{extra})")
    record("generators_fit_sample_s", total, "s", baseline=base, target=TARGET_GEN_S, higher_is_better=False,
           judge="value", text=f"fit + sample, all {len(GENERATORS)} generators on {n}x{N}: {total:.1f} s "
                               f"(baseline: one mean+covariance pass, {base:.2f} s)")
    return sample


def bench_metrics(real: np.ndarray, fake: np.ndarray) -> None:
    t, m = timed(lambda: metrics.latent_metrics(real, fake, K))
    rows = 1000
    t_block, _ = timed(lambda: (cdist(fake[:rows], real, "sqeuclidean").min(axis=1),
                                cdist(real[:rows], real, "sqeuclidean").min(axis=1),
                                cdist(fake[:rows], fake, "sqeuclidean").min(axis=1)))
    brute = t_block * len(fake) / rows
    record("knn_metrics_s", t, "s", baseline=brute, target=TARGET_METRIC_S, higher_is_better=False, judge="value",
           text=f"k-NN metrics {len(fake)} vs {len(real)} in {real.shape[1]}-D (k = {K}): {t:.2f} s (brute-force "
                f"cdist baseline on the same 3 distance matrices, extrapolated from {rows} rows: {brute:.1f} s)")
    print(f"  values: precision {m['precision']:.3f} recall {m['recall']:.3f} density {m['density']:.3f} "
          f"coverage {m['coverage']:.3f}")


def bench_step_default() -> None:
    """The generate step on a copy of build/default with 5 and with 2 repetitions."""
    if not (DEFAULT_RUN / "stats.manifest.json").is_file():
        print(f"generate step on the default data: skipped ({DEFAULT_RUN} has no finished stats step; run make all)")
        return
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "default"
        shutil.copytree(DEFAULT_RUN, run, ignore=shutil.ignore_patterns("generate", "claims", "*.manifest.json.tmp"))
        for reps in (2, 5):
            p = subprocess.run([sys.executable, "-c", STEP_CHILD, str(run), str(ROOT / "configs" / "default.toml"),
                                str(reps)], cwd=ROOT, capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
            if p.returncode != 0:
                print(f"generate step with {reps} repetitions failed: {p.stderr.strip()[-500:]}")
                return
            times[reps] = json.loads(p.stdout.strip().splitlines()[-1])
    t2, t5 = times[2]["wall"], times[5]["wall"]
    per = (t5 - t2) / 3
    record("generate_default_s", t5, "s", baseline=t2, target=TARGET_STEP_S, higher_is_better=False, judge="value",
           text=f"generate step on the default data with 5 repetitions: {t5:.1f} s wall, {times[5]['cpu']:.1f} s CPU "
                f"(baseline 2 repetitions: {t2:.1f} s; one repetition about {per:.1f} s, so a single comparison "
                f"would take about {t2 - per:.1f} s)")


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    z = synthetic_latents()
    fake = bench_generators(z)
    bench_metrics(z[:N_METRIC], fake[:N_METRIC])
    bench_step_default()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS: {rss:.2f} GiB ({rss * 2**30 / z.nbytes:.1f}x the {z.nbytes / 2**20:.0f} MiB latents)")


if __name__ == "__main__":
    main()
