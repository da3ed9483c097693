"""The report build's child processes: each in a session of its own, killed with the build (Linux
``PR_SET_PDEATHSIG``), and the whole tree (notebook kernels included) ended on a signal or at the end."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from buildlog import STOP_SIGNALS, Interrupted


def _die_with_parent() -> None:
    """In a child process: get SIGKILL when the build process dies (Linux), so a killed
    build leaves no orphan Sphinx writing into its temporary directory."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def on_signal(signum, frame):
    raise Interrupted(signum)


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux): a notebook kernel
    whose Sphinx has ended becomes our child, so :func:`end_children` still finds it."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1)  # 36 = PR_SET_CHILD_SUBREAPER


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT/SIGTERM/SIGHUP back (they arrive after the block), e.g. while publishing."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def end_children(timeout: float = 5.0) -> None:
    """End every process this build started and everything they started, including
    processes in sessions of their own (Jupyter starts kernels so) and processes that
    ignore SIGTERM: the tree is frozen (SIGSTOP; a stopped process cannot start another),
    gathered again until no new process appears, then killed (SIGKILL) and reaped."""
    me = psutil.Process()
    procs: dict[int, psutil.Process] = {}
    for _ in range(50):
        found = {p.pid: p for p in me.children(recursive=True) if p.pid not in procs}
        if not found:
            break
        for p in found.values():
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGSTOP)
        procs.update(found)
    for p in procs.values():
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(list(procs.values()), timeout=timeout)


def run_logged(cmd: list[str], logfile: Path, env: dict, cwd: Path | None = None) -> tuple[int, str]:
    """Run ``cmd`` in a session of its own (a Ctrl-C in the terminal reaches it only through
    the build, which ends it with :func:`end_children`), output to ``logfile``; returns
    (exit status, output)."""
    with open(logfile, "w", encoding="utf-8") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                             cwd=cwd, start_new_session=True,
                             preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            code = p.wait()
        finally:
            end_children()  # on a signal: the whole tree; else whatever it left behind
    text = logfile.read_text(encoding="utf-8", errors="replace")
    return code, text


