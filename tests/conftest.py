"""Shared fixtures: the smoke pipeline, run once per test session, and CLI helpers."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable

import pytest
from filelock import FileLock

# One BLAS thread per test process, as run_cli's fresh processes have (the suite runs a worker per
# core): the CLI run in this process then computes exactly what a fresh process computes.
os.environ["OMP_NUM_THREADS"] = "1"

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.toml"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
            fresh: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m analysis ARGS`` as a user would; returns the completed process.

    It runs in this process (:func:`analysis.cli.main`, its modules already imported: seconds faster
    than starting Python and torch again), with its output captured and an unexpected exception printed
    as Python would (a traceback, exit status 1). ``fresh`` (or ``env``) runs it in a new process: for
    what only a process shows (its environment, its memory, signals)."""
    if fresh or env is not None:
        e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        e.update(env or {})
        return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=cwd or ROOT, env=e,
                              capture_output=True, text=True, timeout=timeout)
    return _in_process([str(a) for a in args], cwd or ROOT)


def _in_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    from analysis.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as e:  # argparse's --help
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:  # a bug: what Python prints and its exit status
                traceback.print_exc()
                code = 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["python", "-m", "analysis", *args], code, out.getvalue(), err.getvalue())


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, exactly one line on stderr starting with 'error:', no traceback, mentioning needles."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert " -- " in errors[0], f"no fix given: {errors[0]}"
    for n in needles:
        assert n.lower() in errors[0].lower(), (n, errors[0])


def built_once(tmp_path_factory, name: str, build: Callable[[Path], dict]) -> dict:
    """What ``build(directory)`` returns (a JSON-able dict), built once per test session.

    Under pytest-xdist the workers of one session share it: the first worker that asks builds it
    in the session's temporary directory while holding a file lock, the others wait and read the
    record. Tests only read what is built here (a test that changes it works on a copy, keeping its
    files' times too), so sharing it is the same as building it once in a serial run. A build runs
    the CLI in fresh processes (``run_cli(..., fresh=True)``): the test that happens to ask first may
    have patched this process.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's directory, above each worker's own
    directory, record = base / f"shared-{name}", base / f"shared-{name}.json"
    with FileLock(str(base / f"shared-{name}.lock")):
        if not record.is_file():
            if directory.exists():  # an earlier attempt failed half-way: start again
                shutil.rmtree(directory)
            directory.mkdir(parents=True)
            record.write_text(json.dumps(build(directory), default=str))
        return json.loads(record.read_text())


def _smoke_encoded(directory: Path) -> dict:
    out = directory / "run"
    for step in ("fetch", "train", "encode"):
        p = run_cli(step, "--config", str(SMOKE), "--out", str(out), fresh=True)  # shared: no test's patches
        assert p.returncode == 0, p.stderr[-3000:]
    return {"run": str(out)}


def encoded_run(tmp_path_factory) -> Path:
    """A run directory with fetch, train and encode done on the smoke config, built once per session
    (shared by the workers; ``test_report.smoke_run`` goes on from a copy of it)."""
    return Path(built_once(tmp_path_factory, "smoke-encoded", _smoke_encoded)["run"])


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """A run directory with fetch, train and encode done on the smoke config (shared by the workers)."""
    return encoded_run(tmp_path_factory)


# ---------------------------------------------------------------- the README's reliability table

README = ROOT / "README.md"
TABLE_START, TABLE_END = "<!-- reliability-table:start -->", "<!-- reliability-table:end -->"


def pytest_addoption(parser):
    parser.addoption("--write-reliability-table", action="store_true",
                     help="rewrite the README's reliability table from the tests' case markers")
    parser.addoption("--reliability-table-to", metavar="PATH",
                     help="write the reliability table generated from the collected tests to PATH")


def reliability_table(items) -> str:
    """Markdown table of every test's ``case`` marker, in collection order, one row per test function."""
    rows, seen = [], set()
    for item in items:
        mark = item.get_closest_marker("case")
        func = f"{item.path.name}::{item.originalname}"
        if mark is None or func in seen:
            continue
        seen.add(func)
        case, outcome = mark.args
        rows.append(f"| {case} | {outcome} | `{func}` |")
    head = "| case | outcome (asserted by the test) | test |\n| --- | --- | --- |"
    return "\n".join([head, *rows])


def readme_with_table(text: str, table: str) -> str:
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    return text[:start] + "\n" + table + "\n" + text[end:]


#: Whether the session deselected tests (-k, -m, --deselect): then it did not run the whole suite.
DESELECTED = pytest.StashKey[bool]()


def pytest_deselected(items):
    if items:
        items[0].config.stash[DESELECTED] = True


def whole_suite_items(session) -> list | None:
    """The session's collected tests when it collected the whole suite (``tests/``, by name or as
    testpaths, nothing deselected: ``make test``), else None. Each pytest-xdist worker collects every
    test, so the table can be made from a worker's session as from a collect-only run."""
    here = Path(session.config.invocation_params.dir)
    whole = [(here / a).resolve() for a in session.config.args] == [ROOT / "tests"]
    if not whole or session.config.stash.get(DESELECTED, False):
        return None
    return list(session.items)


def pytest_collection_finish(session):
    if session.config.getoption("--write-reliability-table"):
        README.write_text(readme_with_table(README.read_text(), reliability_table(session.items)))
    if session.config.getoption("--reliability-table-to"):
        Path(session.config.getoption("--reliability-table-to")).write_text(reliability_table(session.items))
