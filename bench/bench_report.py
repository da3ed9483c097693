"""Speed of the report build (issue 5), each figure with its ratio to its target.

Run: ``python bench/bench_report.py [RUN_DIR]``. Builds the article from existing
artifacts: the run given, else ``build/default`` if its stats (and ideally generate)
step has run, else ``build/smoke``, else a fresh smoke run in a temporary directory.
The site goes to a temporary directory, so ``_site/`` is not touched. Figures:

- HTML build (all chapters executed, site written): seconds, against the 60 s target;
- PDF build (LaTeX from the same Sphinx environment, then latexmk): seconds, against
  the 60 s target;
- no-change rebuild: ``make report`` with nothing changed (the marker is up to date,
  so only the set-up check runs), and the build script's own up-to-date check:
  seconds, against the 15 s target;
- the largest HTML page: bytes, against the 5 MB limit.

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
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
from record import record  # noqa: E402
TARGET_HTML_S, TARGET_PDF_S, TARGET_NOCHANGE_S, MAX_PAGE = 60.0, 60.0, 15.0, 5 * 1024 * 1024


def _ratio(value: float, target: float) -> str:
    return f"{value / target:.2f} of the target ({'ok' if value <= target else 'OVER'})"


def complete(name: str) -> bool:
    """Whether build/<name> has every run its config names ([runs]: the across step has run)."""
    from analysis.pipeline.config import load_config
    return not load_config(ROOT / "configs" / f"{name}.toml").runs.several or \
        (ROOT / "build" / name / "across.manifest.json").is_file()


def pick_run(argv: list[str], tmp: Path) -> tuple[Path, Path]:
    """(run directory, config file) to build the report from."""
    if argv:
        run = Path(argv[0]).resolve()
        return run, ROOT / "configs" / f"{run.name}.toml"
    for name in ("default", "smoke"):
        run = ROOT / "build" / name
        if (run / "stats.manifest.json").is_file() and (run / "generate.manifest.json").is_file() and complete(name):
            return run, ROOT / "configs" / f"{name}.toml"
    for name in ("default", "smoke"):
        run = ROOT / "build" / name
        if (run / "stats.manifest.json").is_file() and complete(name):
            return run, ROOT / "configs" / f"{name}.toml"
    run = tmp / "smoke"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "analysis", "all", "--config", str(ROOT / "configs" / "smoke.toml"),
                    "--out", str(run)], check=True, env=env, cwd=ROOT)
    return run, ROOT / "configs" / "smoke.toml"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmpd:
        tmp = Path(tmpd)
        run, config = pick_run(argv, tmp)
        site = tmp / "_site"
        formats = "html,pdf" if shutil.which("latexmk") else "html"
        cmd = [sys.executable, str(ROOT / "report" / "build.py"), "--run", str(run), "--site", str(site),
               "--formats", formats, "--jobs", os.environ.get("REPORT_JOBS", "2"), "--force"]
        t = time.perf_counter()
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        total = time.perf_counter() - t
        if p.returncode:
            print(p.stderr[-3000:])
            return 1
        rec = json.loads(next(site.glob("*/.build.json")).read_text())
        label = rec["label"]
        print(f"report build from {run} ({label}), {formats}: {total:.1f} s in total")
        record("report_html_s", rec["html_seconds"], "s", target=TARGET_HTML_S, higher_is_better=False,
               text=f"report HTML build: {rec['html_seconds']:.1f} s")
        if "pdf_seconds" in rec:
            record("report_pdf_s", rec["pdf_seconds"], "s", target=TARGET_PDF_S, higher_is_better=False,
                   text=f"report PDF build: {rec['pdf_seconds']:.1f} s")
        else:
            print("report PDF build: skipped (latexmk not installed)")

        t = time.perf_counter()
        p = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True)  # without --force
        script = time.perf_counter() - t
        ok = p.returncode == 0 and "up to date" in p.stderr
        record("report_nochange_s", script, "s", target=TARGET_NOCHANGE_S, higher_is_better=False,
               text=f"report no-change rebuild (build script): {script:.2f} s"
                    + ("" if ok else " [did not detect 'up to date']"))

        make = shutil.which("make")
        if make and config.is_file():
            args = [make, "report", f"CONFIG={config}", f"RUN={run}", f"SITE={site}", f"REPORT_LABEL={label}",
                    f"REPORT_FORMATS={formats}"]
            dry = subprocess.run(args + ["-n"], cwd=ROOT, capture_output=True, text=True)
            if "report/build.py" in dry.stdout or "-m analysis" in dry.stdout:
                print("report no-change rebuild (make report): skipped, the run's artifacts are not up to date "
                      "for make (it would run analysis steps)")
            else:
                t = time.perf_counter()
                m = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
                wall = time.perf_counter() - t
                print(f"report no-change rebuild (make report): {wall:.2f} s, {_ratio(wall, TARGET_NOCHANGE_S)}"
                      + ("" if m.returncode == 0 else f" [make failed: {m.stderr.strip()[-200:]}]"))
        biggest = max((p for p in (site / label).glob("*.html")), key=lambda q: q.stat().st_size)
        size = biggest.stat().st_size
        record("report_largest_page_mib", size / 2**20, "MiB", target=MAX_PAGE / 2**20, higher_is_better=False,
               text=f"report largest page: {biggest.name} {size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
