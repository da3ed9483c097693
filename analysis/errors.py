"""What the user is told: the one exception type for problems the user can fix, and progress lines.

Anything raised as :class:`UserError` is printed by the CLI as a single line
``error: <what is wrong> -- <how to fix it>`` and the process exits with status 2.
Library code (generators, metrics, slices, geometry) raises ``ValueError`` or
``TypeError`` with a plain message; only the step and CLI layer turns those into a
UserError naming the config key to change. Every other exception is a bug and keeps
its traceback. Progress and warnings go to stderr with :func:`eprint`.
"""

import sys


class UserError(Exception):
    """Bad input: a config, a data folder, a checkpoint or an argument the user can fix.

    Parameters
    ----------
    problem : str
        What is wrong, naming the file, key or value.
    fix : str, optional
        What to do about it.
    """

    def __init__(self, problem: str, fix: str = ""):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} -- {fix}" if fix else problem)


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler, so that a ``kill`` unwinds like Ctrl-C.

    A BaseException (like KeyboardInterrupt): ``except Exception`` does not swallow it,
    and the atomic writers remove their temporary files on the way out.
    """


_PREFIX = [""]


def set_prefix(prefix: str) -> None:
    """Begin every later :func:`eprint` line with ``prefix`` (the CLI: ``[seed1] `` while it works on
    run seed1 of a config with several runs, so that interleaved logs stay readable)."""
    _PREFIX[0] = prefix


def eprint(*args) -> None:
    """Print a progress line or a warning to stderr (stdout stays free for results)."""
    text = " ".join(str(a) for a in args)
    # one write per message, so that the lines of runs made side by side do not interleave
    sys.stderr.write(_PREFIX[0] + text.replace("\n", "\n" + _PREFIX[0]) + "\n")
    sys.stderr.flush()
