"""Command line: ``python -m analysis STEP --config FILE [--out DIR] [--set k=v ...]``.

Steps, in pipeline order (``all`` runs them in turn)::

    fetch     images -> <out>/data/images.npy   (uint8 cache, ids, info)
    train     -> <out>/train/model.pt           (resumes after an interruption)
    encode    -> <out>/latents.npy, ids.txt     (float32, n x latent_dim)
    stats     -> <out>/stats/                   (geometry of the latent cloud)
    decode    -> <out>/decode/                  (decoded planes and paths, the page's decoder)
    generate  -> <out>/generate/                (generators, decoded sheets, metrics)
    claims    -> <out>/claims/                  (the ledger of the published findings)

    check     list the manifests of finished steps whose outputs were edited or
              deleted since (one path per line; the Makefile re-runs those steps)

Outputs go to ``build/<config name>/`` unless ``--out`` says otherwise. Each step
writes ``<out>/<step>.manifest.json`` last and skips itself when that manifest shows
the same inputs and settings and its outputs still have the recorded sha256
(``--force`` re-runs it). A lock file (``<out>/.lock``, removed at the end) serialises
concurrent runs on one output directory. The config and the arguments are checked
before anything is created; a run that fails on bad input leaves no directory or file
behind that it created.

Exit status: 0 done, 2 bad input (one line on stderr: the problem and the fix),
130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM (``kill``, systemd, batch
schedulers). An interrupted run keeps every finished result and no partial file;
re-run the same command to resume.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import threading
from pathlib import Path

from analysis import __version__
from analysis.config import check_path, dumps_toml, load_config
from analysis.errors import Terminated, UserError
from analysis.provenance import manifest_path, stale_steps
from analysis.steps import NAMES as STEPS
from analysis.steps import SUBDIRS, declaration
from analysis.storage import atomic_write, remove_stale_temporaries


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise UserError(f"bad arguments: {message}", "see python -m analysis --help")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Steps: " + ", ".join(STEPS) + ", all; and check.")
    p.add_argument("step", choices=STEPS + ("all", "check"), help="pipeline step to run (or check)")
    p.add_argument("--config", required=True, type=Path, help="TOML config, e.g. configs/default.toml")
    p.add_argument("--out", type=Path, help="output directory (default: build/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set train.epochs=5")
    p.add_argument("--checkpoint", type=Path, help="use this trained checkpoint instead of training")
    p.add_argument("--force", action="store_true", help="re-run the step even if it is up to date")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _lock(run_dir: Path) -> int:
    """Take an exclusive lock on ``run_dir/.lock``; returns the descriptor that holds it.

    The lock file is removed by :func:`_unlock` while still locked, so a waiter may
    end up holding a lock on a file that is no longer there: it checks that the path
    still names the file it locked, and otherwise tries again.
    """
    path = run_dir / ".lock"
    waiting = False
    while True:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UserError(f"cannot write to output directory {run_dir}: {e.strerror}",
                            "choose a writable directory with --out DIR") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waiting:
                    print(f"waiting for another run on {run_dir} to finish ...", file=sys.stderr, flush=True)
                    waiting = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, path):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file before we got it: lock the new one


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fs = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fs.st_dev, fs.st_ino)


def _unlock(run_dir: Path, fd: int) -> None:
    """Remove the lock file (still holding the lock) and release it."""
    with contextlib.suppress(OSError):
        if _same_file(fd, run_dir / ".lock"):
            os.unlink(run_dir / ".lock")
    os.close(fd)


def _missing_dirs(run_dir: Path) -> list[Path]:
    """``run_dir`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for d in (run_dir, *run_dir.parents):
        if os.path.lexists(d):
            break
        missing.append(d)
    return missing


def _remove_created(run_dir: Path, created: list[Path], subdirs_before: set[str]) -> None:
    """After a failed run: remove the empty directories this run created, nothing else."""
    new_subdirs = [run_dir / s for s in SUBDIRS if s not in subdirs_before]
    for d in [*new_subdirs, *created]:
        with contextlib.suppress(OSError):  # not empty, or already gone: keep it
            d.rmdir()


def _check_args(args: argparse.Namespace, cfg, run_dir: Path) -> None:
    """Everything that can be checked before a directory or a lock is created."""
    check_path("--out", run_dir)
    if args.checkpoint is not None:
        check_path("--checkpoint", args.checkpoint)
        if not args.checkpoint.is_file():
            raise UserError(f"checkpoint {args.checkpoint} does not exist", "pass the path of a .pt file")
    if os.path.lexists(run_dir) and not run_dir.is_dir():
        raise UserError(f"cannot write to output directory {run_dir}: it is not a directory",
                        "choose a directory with --out DIR")
    uses_device = args.step == "all" or declaration(args.step).device
    if cfg.run.device not in ("auto", "cpu") and uses_device:
        from analysis.model import config_device
        config_device(cfg)


def _on_sigterm(signum, frame):
    """SIGTERM unwinds like Ctrl-C (atomic writers remove their temporaries); a second one waits for that."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)


def run_step(name: str, cfg, run_dir: Path, force: bool = False, checkpoint: Path | None = None) -> dict:
    """Run step ``name`` (:func:`analysis.steps.run`); ``checkpoint`` goes to ``train`` only."""
    from analysis import steps

    options = {"checkpoint": checkpoint} if name == "train" and checkpoint is not None else {}
    return steps.run(name, cfg, run_dir, force, **options)


def check(run_dir: Path) -> int:
    """``check``: print the manifest of every finished step whose outputs were edited or deleted."""
    for step, problem in stale_steps(run_dir, STEPS):
        print(f"check: {step}: {problem}", file=sys.stderr)
        print(manifest_path(run_dir, step))
    return 0


def main(argv: list[str] | None = None) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()  # signals need the main thread
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None  # unwinds like Ctrl-C
    try:
        args = build_parser().parse_args(argv)
        cfg = load_config(args.config, args.overrides)
        run_dir = args.out or Path("build") / cfg.run.name
        if args.step == "check":
            return check(run_dir)
        _check_args(args, cfg, run_dir)
        return _run(args, cfg, run_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    except Terminated:
        print("terminated (SIGTERM): finished results are kept; re-run the same command to resume",
              file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted: finished results are kept; re-run the same command to resume", file=sys.stderr)
        return 130
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, cfg, run_dir: Path) -> int:
    """Run the steps under the run directory's lock; undo what a run that fails on bad input created."""
    steps = STEPS if args.step == "all" else (args.step,)
    if int(os.environ.get("RANK", "0")) > 0:  # a distributed worker: rank 0 locks and writes
        for step in steps:
            run_step(step, cfg, run_dir, args.force, args.checkpoint)
        return 0
    created = _missing_dirs(run_dir)
    subdirs_before = {s for s in SUBDIRS if os.path.lexists(run_dir / s)}
    lock = _lock(run_dir)
    try:
        remove_stale_temporaries(run_dir, SUBDIRS)
        for step in steps:
            run_step(step, cfg, run_dir, args.force, args.checkpoint)
            atomic_write(run_dir / "config.toml", dumps_toml(cfg).encode())
    except UserError:
        _unlock(run_dir, lock)
        lock = None
        _remove_created(run_dir, created, subdirs_before)
        raise
    finally:
        if lock is not None:
            _unlock(run_dir, lock)
    return 0
