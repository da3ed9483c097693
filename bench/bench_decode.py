"""Speed of the live decoder in the page and of the decode step (issue 15), each with a baseline.

Run: ``python bench/bench_decode.py``. The default decoder: the trained one of
``build/default/train/model.pt`` when it exists, else the default architecture
(``configs/default.toml``) with its initial weights (the forward pass costs the same,
up to the ReLU zeros it skips). Figures:

- one decode in headless Chromium (``window.flgDecode``, the page's forward pass, loaded
  from ``file://`` as the site loads it): the median over 100 decodes of different latent
  vectors, against the 50 ms target, beside PyTorch decoding one vector in this process
  (median over 100; its ratio is printed for comparison);
- the weights file the site loads once (``_static/flg-decoder-weights.js``): MiB, against
  the 20 MB limit above which the page gets no live decoder;
- the decode step on the default data (when ``build/default`` has its stats): seconds, on a
  copy of the run, against PyTorch decoding and re-encoding as many points in batches (the
  network work the step cannot avoid).

Machines are shared and noisy: compare ratios, not absolute times.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analysis.science import export  # noqa: E402
from analysis.pipeline.config import load_config  # noqa: E402
from analysis.pipeline.model import build_model, decode_array, encode_array, load_checkpoint  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from record import record  # noqa: E402

RUN = ROOT / "build" / "default"
CONFIG = ROOT / "configs" / "default.toml"
CHROMIUM = Path("/usr/bin/chromium")
DECODER_JS = ROOT / "report" / "_static" / "flg-decoder.js"
TARGET_MS, REPEAT = 50.0, 100


def default_decoder() -> tuple[torch.nn.Module, str]:
    cfg = load_config(CONFIG)
    if (RUN / "train" / "model.pt").is_file():
        model, _ = load_checkpoint(RUN / "train" / "model.pt", cfg)
        return model, "trained (build/default)"
    torch.manual_seed(0)
    return build_model(cfg).eval(), "default architecture, initial weights (no build/default/train/model.pt)"


def torch_decode_ms(model, zs: np.ndarray) -> float:
    times = []
    with torch.inference_mode():
        for z in zs[:10]:
            model.decode(torch.from_numpy(z[None]))
        for z in zs:
            t = time.perf_counter()
            model.decode(torch.from_numpy(z[None]))
            times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)


def browser_decode_ms(weights: bytes, zs: np.ndarray) -> float | None:
    from playwright.sync_api import sync_playwright

    exe = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as d:
        page_dir = Path(d)
        (page_dir / "flg-decoder-weights.js").write_bytes(weights)
        shutil.copy(DECODER_JS, page_dir / "flg-decoder.js")
        (page_dir / "index.html").write_text('<!DOCTYPE html><meta charset="utf-8"><title>decoder bench</title>'
                                             '<script src="flg-decoder-weights.js"></script>'
                                             '<script src="flg-decoder.js"></script>\n', encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto((page_dir / "index.html").as_uri())
            times = page.evaluate("""zs => {
                const vs = zs.map(z => Float32Array.from(z));
                for (let i = 0; i < 10; i++) flgDecode(vs[i]);   // load the weights, warm up the JIT
                const t = [];
                for (const v of vs) { const t0 = performance.now(); flgDecode(v); t.push(performance.now() - t0); }
                return t; }""", zs.tolist())
            browser.close()
    return statistics.median(times)


def decode_step_seconds() -> tuple[float, float, int] | None:
    """(step seconds, baseline seconds, points) on a copy of build/default, or None without its stats."""
    if not (RUN / "stats.manifest.json").is_file() or not (RUN / "train" / "model.pt").is_file():
        return None
    with tempfile.TemporaryDirectory(prefix="bench-decode-run-") as d:
        run = Path(d) / "default"
        shutil.copytree(RUN, run, ignore=shutil.ignore_patterns("decode", "decode.manifest.json", "generate",
                                                                "claims", "data"))
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "analysis", "decode", "--config", str(CONFIG), "--out", str(run)],
                           cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if p.returncode:
            print(p.stderr[-2000:])
            return None
        doc = json.loads((run / "decode" / "decode.json").read_text())
    cfg = load_config(CONFIG)
    model, _ = load_checkpoint(RUN / "train" / "model.pt", cfg)
    st = doc["settings"]
    m = doc["reference"]["n"] + len(doc["planes"]) * 2 * st["grid"] ** 2 + len(doc["paths"]) * st["path_steps"]
    z = np.random.default_rng(0).normal(size=(m, doc["N"])).astype(np.float32)
    t = time.perf_counter()
    encode_array(model, decode_array(model, z, st["batch_size"], torch.device("cpu")), st["batch_size"],
                 torch.device("cpu"))
    return seconds, time.perf_counter() - t, m


def main() -> int:
    model, what = default_decoder()
    weights = export.weights_script(model.decoder)
    N = model.decoder[0].in_features
    zs = (np.random.default_rng(0).normal(size=(REPEAT, N)) * 3).astype(np.float32)
    base = torch_decode_ms(model, zs)
    print(f"decoder: {what}, {export.weights_bytes(model.decoder) // 4:,} weights (batch norm folded)")
    ms = browser_decode_ms(weights, zs)
    if ms is None:
        print("in-browser decode: skipped (Chromium not installed; run `make setup`)")
    else:
        record("browser_decode_ms", ms, "ms", baseline=base, target=TARGET_MS, higher_is_better=False, judge="value",
               text=f"in-browser decode of the default decoder (Chromium, median of {REPEAT}): {ms:.2f} ms; "
                    f"PyTorch, one vector: {base:.2f} ms")
    record("decoder_weights_mib", len(weights) / 2 ** 20, "MiB", target=export.LIVE_MAX_BYTES / 2 ** 20,
           higher_is_better=False, text=f"live decoder weights file: {len(weights) / 2 ** 20:.2f} MiB "
                                        f"(float32 weights {export.weights_bytes(model.decoder) / 2 ** 20:.2f} MiB, "
                                        "base64)")
    step = decode_step_seconds()
    if step is None:
        print("decode step: skipped (build/default has no stats yet: make stats)")
    else:
        seconds, baseline, m = step
        record("decode_step_s", seconds, "s", baseline=baseline, higher_is_better=False,
               text=f"decode step on the default data: {seconds:.1f} s (PyTorch decode + re-encode of its "
                    f"{m:,} points: {baseline:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
