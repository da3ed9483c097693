"""`make bench`: run every bench/bench_*.py and print its figures.

Each script prints one line per figure with its ratio to a baseline measured in
the same run (machines are noisy: compare ratios, not absolute times). Scripts run
in their own process so peak-memory figures are not polluted by each other.
Usage: python bench/bench.py [NAME ...]   (e.g. `python bench/bench.py pipeline stats`)

Figures recorded with ``bench/record.py`` are also written to ``build/bench.json``
(figure name -> value, unit, baseline, ratio, target, met, text), with the package
versions and the machine, so that versions can be compared.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    failed = []
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        records = Path(f.name)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), BENCH_RECORDS=str(records))
    try:
        for s in scripts:
            print(f"== {s.stem.removeprefix('bench_')} ==", flush=True)
            r = subprocess.run([sys.executable, str(s)], cwd=HERE.parent, env=env)
            if r.returncode:
                failed.append(s.name)
        write_results(records, HERE.parent / "build" / "bench.json")
    finally:
        records.unlink(missing_ok=True)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


def write_results(records: Path, out: Path) -> None:
    """Merge the figures of this run into ``out`` (figures of scripts not run are kept)."""
    sys.path.insert(0, str(HERE.parent))
    from analysis.pipeline.provenance import package_versions
    from analysis.pipeline.storage import save_json

    figures = {}
    if out.is_file():
        try:
            figures = json.loads(out.read_text(encoding="utf-8")).get("figures", {})
        except (OSError, ValueError):
            figures = {}
    for line in records.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        figures[row.pop("name")] = row
    save_json(out, {"figures": figures, "versions": package_versions(),
                    "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    print(f"figures written to {out}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
