"""What every part of the report build shares: its errors, the signals that stop it, its log line."""

from __future__ import annotations

import signal
import sys


class BuildError(Exception):
    """The build failed (exit status 1)."""


class InputError(BuildError):
    """Bad input: a run, an artifact, a config or an option the user can fix (exit status 2)."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def log(msg: str) -> None:
    print(f"report: {msg}", file=sys.stderr, flush=True)
