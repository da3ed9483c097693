"""What the face tests (issue 22) add to the default ``make report``, beside the generate step's time.
Run: ``python bench/bench.py faces``. On a copy of ``build/default`` (made by ``make all``; skipped
with a note when missing), each in a fresh subprocess with one thread, as ``make`` runs the runs
of a multi-run config:
- the ``faces`` step (the classifier's cross-fitted and final fits, the detector and the
  classifier on every calibration set);
- the ``generate`` step with the face tests (the baseline: the step's own time) and without
  them (the same copy without ``faces/``): the difference is what labelling each row's
  decoded images and the face score cost;
- the face tests on the decode step's tiles and path steps (its ``planes.npz`` and
  ``paths.npz`` images labelled again).
The figure: what the face tests add to a cold default ``make report``: (faces step + generate's
addition) for each of its runs, divided by the two runs made side by side, plus the decode
step's labelling (the primary run only); target <= 15 s on 2 cores.
Machines are shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from record import record  # noqa: E402

DEFAULT_RUN = ROOT / "build" / "default"
TARGET_S = 15.0
CHILD = """
import json, sys, time
from pathlib import Path
from analysis import steps
from analysis.config import load_config
cfg = load_config(Path(sys.argv[2]), ["run.threads=1"])
t, c = time.perf_counter(), time.process_time()
steps.run(sys.argv[3], cfg, Path(sys.argv[1]), force=True)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""
LABEL_CHILD = """
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from pathlib import Path
from analysis.artifacts import Run
from analysis.instrument import load_instrument
run = Run(Path(sys.argv[1]))
faces = load_instrument(Path(sys.argv[1]))
P, Q = run.decode_planes.images, run.decode_paths.images
imgs = np.concatenate([P.reshape((-1,) + P.shape[-3:]), Q.reshape((-1,) + Q.shape[-3:])])
t, c = time.perf_counter(), time.process_time()
faces.label(imgs)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "n": len(imgs)}))
"""


def child(code: str, *args: str) -> dict | None:
    p = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    if p.returncode != 0:
        print(f"failed: {p.stderr.strip()[-500:]}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    needed = ("generate.manifest.json", "faces.manifest.json", "decode.manifest.json")
    if not all((DEFAULT_RUN / m).is_file() for m in needed):
        print(f"face tests on the default data: skipped ({DEFAULT_RUN} lacks a finished faces, generate or decode "
              "step; run make all)")
        return
    config = str(ROOT / "configs" / "default.toml")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "default"
        shutil.copytree(DEFAULT_RUN, run, ignore=shutil.ignore_patterns("claims", "runs", "across*", "*.tmp"))
        bare = Path(tmp) / "bare"
        shutil.copytree(run, bare, ignore=shutil.ignore_patterns("faces", "faces.manifest.json"))
        faces = child(CHILD, str(run), config, "faces")
        with_faces = child(CHILD, str(run), config, "generate")
        without = child(CHILD, str(bare), config, "generate")
        labels = child(LABEL_CHILD, str(run))
    if None in (faces, with_faces, without, labels):
        return
    runs = 3  # configs/default.toml: seeds 0, 1, 2, made two at a time
    per_run = faces["wall"] + max(with_faces["wall"] - without["wall"], 0.0)
    added = per_run * runs / 2 + labels["wall"]
    record("face_tests_added_s", added, "s", baseline=with_faces["wall"], target=TARGET_S, higher_is_better=False,
           judge="value",
           text=f"face tests added to a cold default make report: {added:.1f} s on 2 cores (per run: faces step "
                f"{faces['wall']:.1f} s wall / {faces['cpu']:.1f} s CPU, generate with face tests "
                f"{with_faces['wall']:.1f} s against {without['wall']:.1f} s without; {runs} runs two at a time; "
                f"decode's {labels['n']:,} tiles and path steps labelled in {labels['wall']:.1f} s); baseline: the "
                f"generate step with face tests, {with_faces['wall']:.1f} s")


if __name__ == "__main__":
    main()
