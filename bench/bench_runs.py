"""The cost of several runs (issue 14): concurrency of the seeds, and what three seeds add.

Run: ``python bench/bench_runs.py [EPOCHS]``. Figures:

- ``runs_concurrent_vs_sequential``: two trainings of the default config (``EPOCHS``
  epochs, default 10; seeds 1 and 2), both at once with one torch thread each, against
  one after the other with two threads each (the alternative on 2 cores); alternating
  rounds, median. The Makefile makes the other runs of a config two at a time with
  one thread each because this ratio is below 1 (target <= 1).
- ``three_seed_added_s``: a cold ``make report`` of ``configs/default.toml`` (three
  seeds: the primary run, two more runs side by side, the across step, the article with
  its Robustness chapter) against the same with one seed (``runs.seeds = [0]``), both
  from an empty build and site directory (the CBCL download cached); the figure is the
  difference, against the 120 s target; both without the VAE control (``runs.control = []``).
- ``vae_control_added_s``: the same cold ``make report`` of ``configs/default.toml`` with its VAE
  control (issue 25: one more run, every step, side by side with the seeds' runs) against the
  three seeds without it, measured in the same run: the difference, against the 60 s target.
  Set ``BENCH_RUNS_SKIP_REPORT=1`` to skip both (three cold builds, about 15 minutes on 2 cores), or
  ``BENCH_RUNS_ONLY=control`` to measure this figure alone (two cold builds).

Both work in temporary directories (``build/`` and ``_site/`` are not touched).
Machines are shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from record import record  # noqa: E402

DEFAULT = ROOT / "configs" / "default.toml"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
TARGET_ADDED_S = 120.0
TARGET_CONTROL_S = 60.0


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, env=ENV, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def train(out: Path, seed: int, threads: int, epochs: int) -> None:
    cli("train", "--config", str(DEFAULT), "--out", str(out), "--force", "--set", f"runs.seeds=[{seed}]",
        "--set", f"train.epochs={epochs}", "--set", f"run.threads={threads}")


def concurrency(tmp: Path, epochs: int, rounds: int = 3) -> None:
    outs = [tmp / f"seed{s}" for s in (1, 2)]
    for out, seed in zip(outs, (1, 2)):
        cli("fetch", "--config", str(DEFAULT), "--out", str(out), "--set", f"runs.seeds=[{seed}]")
    seq, par = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        for out, seed in zip(outs, (1, 2)):
            train(out, seed, 2, epochs)
        seq.append(time.perf_counter() - t)
        t = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda a: train(a[0], a[1], 1, epochs), zip(outs, (1, 2))))
        par.append(time.perf_counter() - t)
    s, p = statistics.median(seq), statistics.median(par)
    record("runs_concurrent_vs_sequential", p, "s", baseline=s, target=1.0, higher_is_better=False,
           text=f"two default trainings ({epochs} epochs, seeds 1 and 2), median of {rounds} alternating rounds: "
                f"side by side with 1 thread each {p:.1f} s, one after the other with 2 threads {s:.1f} s "
                f"(rounds: {', '.join(f'{a:.0f}/{b:.0f}' for a, b in zip(par, seq))} s)")


def cold_report(tmp: Path, name: str, args: str) -> float:
    run, site = tmp / name / "build", tmp / name / "site"
    cmd = ["make", "-o", "setup", "report", f"CONFIG={DEFAULT}", f"RUN={run}", f"SITE={site}",
           f"REPORT_LABEL=0.0.0-{name}"] + ([f"ARGS={args}"] if args else [])
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"make report ({name}) failed:\n{p.stderr[-3000:]}")
    return wall


def three_seeds(tmp: Path) -> float:
    """``three_seed_added_s``; returns the three seeds' cold build time (the control's baseline)."""
    one = cold_report(tmp, "one", "--set runs.seeds=[0] --set runs.control=[]")
    three = cold_report(tmp, "three", "--set runs.control=[]")
    record("three_seed_added_s", three - one, "s", target=TARGET_ADDED_S, higher_is_better=False,
           text=f"cold make report of configs/default.toml without its VAE control: three seeds {three:.0f} s, one "
                f"seed {one:.0f} s: three seeds add {three - one:.0f} s (load average {os.getloadavg()[0]:.1f} at "
                "the end)")
    return three


def vae_control(tmp: Path, three: float | None = None) -> None:
    """``vae_control_added_s``: the default config's cold build with its VAE control against ``three``
    (the same without it; built here when not given)."""
    if three is None:
        three = cold_report(tmp, "three", "--set runs.control=[]")
    load = os.getloadavg()[0]
    full = cold_report(tmp, "control", "")
    record("vae_control_added_s", full - three, "s", baseline=three, target=TARGET_CONTROL_S, judge="value",
           higher_is_better=False,
           text=f"cold make report of configs/default.toml: with its VAE control ([[runs.control]] vae, one seed, "
                f"every step) {full:.0f} s, without it (--set runs.control=[]) {three:.0f} s: the control adds "
                f"{full - three:.0f} s (load average {load:.1f} before the second build, "
                f"{os.getloadavg()[0]:.1f} at the end)")


def main(argv: list[str]) -> int:
    epochs = int(argv[0]) if argv else 10
    only = os.environ.get("BENCH_RUNS_ONLY", "")
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as d:
        if only == "control":  # the VAE control's figure alone (two cold builds)
            vae_control(Path(d))
            return 0
        concurrency(Path(d), epochs)
        if os.environ.get("BENCH_RUNS_SKIP_REPORT"):
            print("three_seed_added_s, vae_control_added_s: skipped (BENCH_RUNS_SKIP_REPORT)", flush=True)
        else:
            vae_control(Path(d), three_seeds(Path(d)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
