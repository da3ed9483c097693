"""Issue 21 figures: peak memory of reading hostile input, beside a baseline read in the same run.

* fetch of one image, in a fresh process: a 16 x 16 PNG (the baseline: the process itself),
  a 300 KB 16-bit PNG of 12,000 x 12,000 pixels (skipped from its header), the largest image
  fetch decodes (data.MAX_IMAGE_PIXELS, RGBA, the costliest mode to convert) and a 12,000 x
  12,000 JPEG (decoded at a reduced scale). Target: at most 1 GiB each.
* loading a checkpoint of the default network, in a fresh process: a real one (the baseline)
  and a 3 MB zip bomb declaring 2.5 GB (refused from its declared sizes). Target: at most 2 GiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis.steps import data  # noqa: E402
from analysis.pipeline.config import load_config  # noqa: E402
from analysis.pipeline.model import build_model  # noqa: E402
from hostile_files import zip_bomb_checkpoint  # noqa: E402
from record import record  # noqa: E402

SMOKE = ROOT / "configs" / "smoke.toml"
DEFAULT = ROOT / "configs" / "default.toml"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
GIB = 1024.0  # MiB


def peak_mib(cmd: list[str]) -> tuple[int, float, str]:
    """(exit status, peak RSS in MiB, stderr) of ``cmd`` in a fresh process.

    It is started by a small interpreter that reports its child's peak: a child forked from this
    process directly would count this process's pages (the images made here) until its exec."""
    code = ("import json, resource, subprocess, sys\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
            "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.stderr[-500:]]))")
    r = subprocess.run([sys.executable, "-c", code, *cmd], cwd=ROOT, env=ENV, capture_output=True, text=True)
    rc, kb, err = json.loads(r.stdout)
    return rc, kb / 1024, err


def fetch_one(tmp: Path, name: str, image: Image.Image, suffix: str = ".png") -> tuple[float, str]:
    folder = tmp / name
    folder.mkdir()
    image.save(folder / f"{name}{suffix}")
    if name != "baseline":  # a small image beside it: the fetch has something to keep
        Image.new("L", (16, 16), 7).save(folder / "small.png")
    code, mib, err = peak_mib([sys.executable, "-m", "analysis", "fetch", "--config", str(SMOKE), "--out",
                               str(tmp / f"out-{name}"), "--set", "data.source=folder", "--set",
                               f"data.path={folder}"])
    if code:
        raise SystemExit(f"fetch of {name} failed: {err}")
    return mib, err


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        base, _ = fetch_one(tmp, "baseline", Image.new("L", (16, 16), 3))
        side = int(data.MAX_IMAGE_PIXELS ** 0.5)
        cases = {"fetch_peak_16bit_12000px": (Image.new("I;16", (12_000, 12_000), 300), ".png",
                                              "a 16-bit PNG of 12,000 x 12,000 pixels (skipped from its header)"),
                 "fetch_peak_rgba_at_limit": (Image.new("RGBA", (side, side), (10, 20, 30, 128)), ".png",
                                              f"an RGBA PNG of {side} x {side} pixels (the largest decoded)"),
                 "fetch_peak_jpeg_12000px": (Image.new("RGB", (12_000, 12_000), (90, 80, 70)), ".jpg",
                                             "a JPEG of 12,000 x 12,000 pixels (decoded at 1/4 scale)")}
        for name, (image, suffix, what) in cases.items():
            mib, _ = fetch_one(tmp, name, image, suffix)
            record(name, mib, "MiB", baseline=base, target=GIB, higher_is_better=False, judge="value",
                   text=f"fetch of {what}: peak RSS {mib:.0f} MiB against {base:.0f} MiB for a 16x16 image "
                        f"(target <= {GIB:.0f} MiB)")
        cfg = load_config(DEFAULT)
        state = build_model(cfg).state_dict()
        real, bomb = tmp / "real.pt", tmp / "bomb.pt"
        torch.save({"state_dict": state}, real)
        zip_bomb_checkpoint(bomb, state, 2500)
        load = ("import sys; from analysis.pipeline.config import load_config; from analysis.pipeline.model import load_checkpoint; "
                "from analysis.errors import UserError\n"
                "try:\n    load_checkpoint(sys.argv[1], load_config(sys.argv[2]))\n"
                "except UserError as e:\n    print(e, file=sys.stderr); sys.exit(2)\n")
        code, base_ck, err = peak_mib([sys.executable, "-c", load, str(real), str(DEFAULT)])
        if code:
            raise SystemExit(f"the real checkpoint was refused: {err}")
        code, mib, err = peak_mib([sys.executable, "-c", load, str(bomb), str(DEFAULT)])
        if code != 2:
            raise SystemExit(f"the zip bomb was not refused (exit {code}): {err}")
        record("checkpoint_peak_zip_bomb", mib, "MiB", baseline=base_ck, target=2 * GIB, higher_is_better=False,
               judge="value", text=f"refusing a {bomb.stat().st_size / 2**20:.1f} MiB checkpoint declaring 2.5 GB "
                                   f"(default network): peak RSS {mib:.0f} MiB against {base_ck:.0f} MiB loading "
                                   f"the real {real.stat().st_size / 2**20:.1f} MiB checkpoint "
                                   f"(target <= {2 * GIB:.0f} MiB)")


if __name__ == "__main__":
    main()
