"""What the face tests (issue 22) add to the default ``make report``, beside the generate step's time.
Run: ``python bench/bench.py faces``. On a copy of ``build/default`` (made by ``make all``; skipped
with a note when missing), each in a fresh subprocess with one thread, as ``make`` runs the runs
of a multi-run config:
- the ``faces`` step of the primary run (the classifier's cross-fitted and final fits, the detector
  and the classifier on every calibration set): it depends on the data alone, so it runs once per
  build;
- the same step in the seed-1 run, which links the primary's outputs (``shared_from`` in its
  manifest; the figure fails when it computes them again);
- the ``generate`` step with the face tests (the baseline: the step's own time) and without
  them (the same copy without ``faces/``), printed; and the face work that generate adds in every
  run, measured directly: the check on its reconstructions and the labels of as many decoded
  images as it scores (rows x repetitions x ``faces.images_per_row``; the difference of the two
  generate runs is mostly noise on a shared machine; the face score's k-NN and pairwise distances
  on those images are not timed);
- the decode step's face tests (primary run only): the check on its reconstructions
  (:func:`analysis.steps.facecheck.check_run`) and its tiles and path steps (``planes.npz`` and
  ``paths.npz``) labelled again.
The figure: what the face tests add to a cold default ``make report`` on 2 cores: the faces step
once, the seeds' links and generate's addition in each of the 3 runs, all made two steps at a time
(so halved), plus the decode step's face tests; target <= 15 s on 2 cores.
Machines are shared and noisy: compare ratios, not absolute times; the load is printed.
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
from analysis.pipeline import steps
from analysis.pipeline.config import load_config
cfg = load_config(Path(sys.argv[2]), ["run.threads=1"])
t, c = time.perf_counter(), time.process_time()
steps.run(sys.argv[3], cfg, Path(sys.argv[1]), force=True)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c}))
"""
SHARE_CHILD = """
import json, sys, time
t, c = time.perf_counter(), time.process_time()
from pathlib import Path
from analysis.pipeline import steps
from analysis.pipeline.config import load_config
from analysis.pipeline.runs import expand
out = Path(sys.argv[1])
spec = next(s for s in expand(load_config(Path(sys.argv[2]), ["run.threads=1"])) if s.name == sys.argv[3])
m = steps.run("faces", spec.config, spec.directory(out), share=out)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "shared_from": m.get("shared_from")}))
"""
GEN_CHILD = """
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from pathlib import Path
from analysis.steps import facecheck
from analysis.pipeline.config import load_config
from analysis.steps.instrument import load_instrument
from analysis.pipeline.model import decode_array, load_trained
run_dir = Path(sys.argv[1])
cfg = load_config(Path(sys.argv[2]), ["run.threads=1"])
doc = json.loads((run_dir / "generate" / "metrics.json").read_text())
n = len(doc["table"]) * doc["settings"]["repeats"] * doc["faces"]["n_scored"]
model, device = load_trained(cfg, run_dir)
z = np.load(run_dir / "latents.npy")
rng = np.random.default_rng(0)
imgs = decode_array(model, rng.multivariate_normal(z.mean(0), np.cov(z, rowvar=False), n).astype(np.float32), 256, device)
faces = load_instrument(run_dir)
t, c = time.perf_counter(), time.process_time()
faces, _ = facecheck.check_run(cfg, faces, z, model, device)
faces.label(imgs)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "n": n}))
"""
LABEL_CHILD = """
import json, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from pathlib import Path
from analysis.steps import facecheck
from analysis.artifacts import Run
from analysis.pipeline.config import load_config
from analysis.steps.instrument import load_instrument
from analysis.pipeline.model import load_trained
run_dir = Path(sys.argv[1])
cfg = load_config(Path(sys.argv[2]), ["run.threads=1"])
run = Run(run_dir)
faces = load_instrument(run_dir)
P, Q = run.decode_planes.images, run.decode_paths.images
imgs = np.concatenate([P.reshape((-1,) + P.shape[-3:]), Q.reshape((-1,) + Q.shape[-3:])])
model, device = load_trained(cfg, run_dir)
z = np.load(run_dir / "latents.npy", mmap_mode="r")
t, c = time.perf_counter(), time.process_time()
faces, _ = facecheck.check_run(cfg, faces, z, model, device)
check = time.perf_counter() - t
faces.label(imgs)
print(json.dumps({"wall": time.perf_counter() - t, "cpu": time.process_time() - c, "n": len(imgs), "check": check}))
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
    needed = ("generate.manifest.json", "faces.manifest.json", "decode.manifest.json", "runs/seed1/fetch.manifest.json")
    if not all((DEFAULT_RUN / m).is_file() for m in needed):
        print(f"face tests on the default data: skipped ({DEFAULT_RUN} lacks a finished faces, generate or decode "
              "step or its seed-1 run; run make all)")
        return
    config = str(ROOT / "configs" / "default.toml")
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "default"
        shutil.copytree(DEFAULT_RUN, run, symlinks=True,
                        ignore=shutil.ignore_patterns("claims", "seed2", "across*", "*.tmp"))
        bare = Path(tmp) / "bare"
        shutil.copytree(run, bare, symlinks=True, ignore=shutil.ignore_patterns("faces", "faces.manifest.json", "runs"))
        faces = child(CHILD, str(run), config, "faces")
        linked = child(SHARE_CHILD, str(run), config, "seed1")
        if faces is None or linked is None:
            return
        with_faces = child(CHILD, str(run), config, "generate")
        without = child(CHILD, str(bare), config, "generate")
        labels = child(LABEL_CHILD, str(run), config)
        gen_faces = child(GEN_CHILD, str(run), config)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if None in (faces, linked, with_faces, without, labels, gen_faces):
        return
    if linked["shared_from"] != "../..":
        print(f"failed: the seed-1 run computed its faces step instead of linking the primary's ({linked})")
        return
    runs = 3  # configs/default.toml: seeds 0, 1, 2, made two steps at a time
    # generate's face work measured directly (the check and the labels of its scored decoded images):
    # the difference of two ~1-2 min generate runs on a shared machine is mostly noise; it is printed beside
    gen_added = gen_faces["wall"]
    made_side_by_side = faces["wall"] + (runs - 1) * linked["wall"] + runs * gen_added
    added = made_side_by_side / 2 + labels["wall"]
    # the same sum of CPU seconds: what each single-thread step needs of a core, whatever else runs
    # (on a loaded machine the wall figure counts the other jobs' share of the cores too)
    added_cpu = (faces["cpu"] + (runs - 1) * linked["cpu"] + runs * gen_faces["cpu"]) / 2 + labels["cpu"]
    record("face_tests_added_cpu_s", added_cpu, "s", baseline=added, target=TARGET_S, higher_is_better=False,
           judge="value",
           text=f"the same in CPU seconds (one core per step, as on an otherwise idle machine): {added_cpu:.1f} s "
                f"(faces step {faces['cpu']:.1f} s, seed link {linked['cpu']:.2f} s, generate's face work "
                f"{gen_faces['cpu']:.1f} s per run, decode's {labels['cpu']:.1f} s); baseline: the wall figure, "
                f"{added:.1f} s")
    record("face_tests_added_s", added, "s", baseline=with_faces["wall"], target=TARGET_S, higher_is_better=False,
           judge="value",
           text=f"face tests added to a cold default make report: {added:.1f} s on 2 cores (faces step once: "
                f"{faces['wall']:.1f} s wall / {faces['cpu']:.1f} s CPU; each seed run links it in "
                f"{linked['wall']:.2f} s; per run, generate's face work {gen_faces['wall']:.1f} s (its "
                f"reconstructions checked and {gen_faces['n']:,} decoded images labelled; generate with face tests "
                f"{with_faces['wall']:.1f} s against {without['wall']:.1f} s without); {runs} runs two steps at a "
                f"time; decode: its reconstructions "
                f"checked in {labels['check']:.1f} s and its {labels['n']:,} tiles and path steps labelled, "
                f"{labels['wall']:.1f} s in all); baseline: the generate step with face tests, "
                f"{with_faces['wall']:.1f} s")


if __name__ == "__main__":
    main()
