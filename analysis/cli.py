"""Command line: ``python -m analysis STEP --config FILE [--out DIR] [--set k=v ...]``.

Steps, in pipeline order (``all`` runs them in turn)::

    fetch     images -> <out>/data/images.npy   (uint8 cache, ids, info)
    train     -> <out>/train/model.pt           (resumes after an interruption)
    encode    -> <out>/latents.npy, ids.txt     (float32, n x latent_dim)
    stats     -> <out>/stats/                   (geometry of the latent cloud)
    generate  -> <out>/generate/                (generators, decoded sheets, metrics)

Outputs go to ``build/<config name>/`` unless ``--out`` says otherwise. Each step
writes ``<out>/<step>.manifest.json`` last and skips itself when that manifest shows
the same inputs and settings (``--force`` re-runs it). A lock file serialises
concurrent runs on one output directory.

Exit status: 0 done, 2 bad input (one line on stderr: the problem and the fix),
130 interrupted (re-run the same command to resume).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
from pathlib import Path

from analysis import __version__
from analysis.config import dumps_toml, load_config
from analysis.errors import UserError
from analysis.io import atomic_write

STEPS = ("fetch", "train", "encode", "stats", "generate")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise UserError(f"bad arguments: {message}", "see python -m analysis --help")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Steps: " + ", ".join(STEPS) + ", all.")
    p.add_argument("step", choices=STEPS + ("all",), help="pipeline step to run")
    p.add_argument("--config", required=True, type=Path, help="TOML config, e.g. configs/default.toml")
    p.add_argument("--out", type=Path, help="output directory (default: build/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set train.epochs=5")
    p.add_argument("--checkpoint", type=Path, help="use this trained checkpoint instead of training")
    p.add_argument("--force", action="store_true", help="re-run the step even if it is up to date")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _lock(run_dir: Path) -> int:
    """Take an exclusive lock on ``run_dir/.lock``; returns the descriptor that holds it."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserError(f"cannot write to output directory {run_dir}: {e.strerror}",
                        "choose a writable directory with --out DIR") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another run on {run_dir} to finish ...", file=sys.stderr, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _clean_stale_temporaries(run_dir: Path) -> None:
    """Remove temporary files left by a killed run (we hold the lock, so none is live)."""
    for tmp in run_dir.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _remove_if_empty(run_dir: Path) -> None:
    (run_dir / ".lock").unlink(missing_ok=True)
    for d in sorted((p for p in run_dir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    if not any(run_dir.iterdir()):
        run_dir.rmdir()


def run_step(step: str, cfg, run_dir: Path, force: bool = False, checkpoint: Path | None = None) -> dict:
    if step == "fetch":
        from analysis import data
        return data.run(cfg, run_dir, force)
    if step == "train":
        from analysis import train
        return train.run(cfg, run_dir, force, checkpoint)
    if step == "encode":
        from analysis import encode
        return encode.run(cfg, run_dir, force)
    if step == "stats":
        from analysis import stats
        return stats.run(cfg, run_dir, force)
    if step == "generate":
        from analysis import generate
        return generate.run(cfg, run_dir, force)
    raise ValueError(step)


def main(argv: list[str] | None = None) -> int:
    lock = None
    try:
        args = build_parser().parse_args(argv)
        cfg = load_config(args.config, args.overrides)
        run_dir = args.out or Path("build") / cfg.run.name
        if args.checkpoint is not None and not args.checkpoint.is_file():
            raise UserError(f"checkpoint {args.checkpoint} does not exist", "pass the path of a .pt file")
        created = not run_dir.exists()
        distributed_worker = int(os.environ.get("RANK", "0")) > 0
        if not distributed_worker:
            lock = _lock(run_dir)
            _clean_stale_temporaries(run_dir)
        steps = STEPS if args.step == "all" else (args.step,)
        try:
            for step in steps:
                run_step(step, cfg, run_dir, args.force, args.checkpoint)
                if not distributed_worker:
                    atomic_write(run_dir / "config.toml", dumps_toml(cfg).encode())
        except UserError:
            if created and not distributed_worker:  # leave nothing behind for a run that did nothing
                _remove_if_empty(run_dir)
            raise
        return 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished results are kept; re-run the same command to resume", file=sys.stderr)
        return 130
    finally:
        if lock is not None:
            os.close(lock)  # releases the flock
