"""Cost of the claims ledger (issue 13): the ``claims`` step on the default data and on 200,000 x 256 latents.

Run: ``python bench/bench_claims.py``. Each figure is the wall time of the whole step
(``analysis.steps.claims.run`` with the default [claims] config, forced) in a fresh
subprocess, with its peak RSS, next to the ``stats`` step on the same latents measured
in the same run (the baseline: the ledger's extra work relative to the geometry it
calibrates).

- ``claims_default_s``: on a copy of ``build/default`` (made by ``make all``; skipped
  with a note when it is missing). Target: at most 60 s on 2 cores (issues 13 and 23: the
  ledger's support test of uniform points, the origin in five metrics and the simulated
  nulls included).
- ``claims_200k_s``: on synthetic latents of 200,000 x 256 (as ``bench_stats.py``), the
  stats step first. Cross-fitting, bootstraps and normality tests use at most
  ``claims.max_points`` points, so the cost grows with n only through the passes over
  all points (moments, slice counts).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from record import record  # noqa: E402

TARGET_DEFAULT_S = 60.0
DEFAULT_RUN = ROOT / "build" / "default"
COPY = ("latents.npy", "ids.txt", "data", "stats", "generate", "fetch.manifest.json", "stats.manifest.json",
        "generate.manifest.json", "encode.manifest.json", "config.toml")  # data/: the cube observation's contrast

CHILD = """
import json, resource, sys, time
from pathlib import Path
from analysis.steps import claims, stats
from analysis.pipeline import storage
from analysis.pipeline.config import Config
from analysis.errors import UserError
step = {"stats": stats.run, "claims": claims.run}[sys.argv[2]]
t = time.perf_counter()
try:
    step(Config(), Path(sys.argv[1]), force=True)
except UserError as e:  # e.g. a build/default made by older code: one line, not a traceback
    sys.exit(f"{e}")
wall = time.perf_counter() - t
print(json.dumps({"wall": wall, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def timed(run_dir: Path, step: str) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, str(run_dir), step], capture_output=True, text=True,
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if p.returncode:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"{step} failed on {run_dir}: {last}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def bench_default(tmp: Path) -> None:
    if not (DEFAULT_RUN / "stats.manifest.json").is_file():
        print(f"claims_default_s: skipped, {DEFAULT_RUN} has no finished stats step (run `make all` first)")
        return
    run = tmp / "default"
    run.mkdir()
    for name in COPY:
        src = DEFAULT_RUN / name
        if src.is_dir():
            shutil.copytree(src, run / name)
        elif src.is_file():
            shutil.copy2(src, run / name)
    base = timed(run, "stats")
    res = timed(run, "claims")
    record("claims_default_s", res["wall"], "s", baseline=base["wall"], target=TARGET_DEFAULT_S,
           higher_is_better=False, judge="value",
           text=f"claims step on the default data: {res['wall']:.1f} s, peak RSS {res['maxrss_kb'] / 1e6:.2f} GB "
                f"(stats step: {base['wall']:.1f} s)")


def bench_200k(tmp: Path) -> None:
    from analysis.pipeline import storage
    from bench_stats import synthetic_latents

    run = tmp / "200k"
    run.mkdir()
    storage.save_npy(run / "latents.npy", synthetic_latents())
    base = timed(run, "stats")
    res = timed(run, "claims")
    record("claims_200k_s", res["wall"], "s", baseline=base["wall"], higher_is_better=False,
           text=f"claims step on 200,000 x 256 latents: {res['wall']:.1f} s, peak RSS "
                f"{res['maxrss_kb'] / 1e6:.2f} GB (stats step: {base['wall']:.1f} s)")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        bench_default(Path(d))
        bench_200k(Path(d))


if __name__ == "__main__":
    main()
