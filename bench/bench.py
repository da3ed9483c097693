"""`make bench`: run every bench/bench_*.py and print its figures.

Each script prints one line per figure with its ratio to a baseline measured in
the same run (machines are noisy: compare ratios, not absolute times). Scripts run
in their own process so peak-memory figures are not polluted by each other.
Usage: python bench/bench.py [NAME ...]   (e.g. `python bench/bench.py pipeline stats`)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in argv]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    failed = []
    for s in scripts:
        print(f"== {s.stem.removeprefix('bench_')} ==", flush=True)
        r = subprocess.run([sys.executable, str(s)], cwd=HERE.parent, env=env)
        if r.returncode:
            failed.append(s.name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
