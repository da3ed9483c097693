"""Command line: ``python -m analysis STEP --config FILE [--out DIR] [--set k=v ...]``.

Steps, in pipeline order (``all`` runs them in turn)::

    fetch     images -> <out>/data/images.npy   (uint8 cache, ids, info)
    train     -> <out>/train/model.pt           (resumes after an interruption)
    encode    -> <out>/latents.npy, ids.txt     (float32, n x latent_dim)
    stats     -> <out>/stats/                   (geometry of the latent cloud)
    decode    -> <out>/decode/                  (decoded planes and paths, the page's decoder)
    generate  -> <out>/generate/                (generators, decoded sheets, metrics)
    claims    -> <out>/claims/                  (the ledger of the published findings)

    across    -> <out>/across/                  (the config's runs side by side)
    check     list the manifests of finished steps that are not current: outputs edited
              or deleted since, or a key that changed (config, inputs or code; one
              path per line, the reason on stderr; the Makefile re-runs those steps)
    runs      list the directories of the config's runs, the primary's first
    schema    the JSON Schema of every artifact (no --config; see python -m analysis schema --help)

Outputs go to ``build/<config name>/`` unless ``--out`` says otherwise. A config whose
``[runs]`` section names several runs (seeds, variants; :mod:`analysis.pipeline.runs`) keeps its
primary run there and the others in ``<out>/runs/<name>/``: ``--run NAME`` picks the
run a step works on (default: the primary), ``all`` without ``--run`` makes every run
in turn and then ``across``; each run's progress lines start with ``[<name>]`` and a
failing run is named in the error. A step of another run whose settings and inputs
are the primary's (the image cache of training seeds) links the primary's outputs
instead of computing them again. Each step
writes ``<out>/<step>.manifest.json`` last and skips itself when that manifest shows
the same inputs and settings and its outputs still have the recorded sha256
(``--force`` re-runs it). A lock file (``<out>/.lock``, removed at the end) serialises
concurrent runs on one output directory (and the report build, :mod:`analysis.pipeline.rundir`).
``--out`` must be a new or empty directory or a run directory the tool made (its marker
``.flg-run``): a directory of other files is refused, so nothing of anyone else's is
overwritten. The config and the arguments are checked
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
import os
import signal
import sys
import threading
from pathlib import Path

from analysis import __version__
from analysis.pipeline.config import check_path, dumps_toml, load_config
from analysis.errors import Terminated, UserError, set_prefix
from analysis.pipeline.provenance import manifest_path
from analysis.pipeline import rundir
from analysis.pipeline.runs import RunSpec, expand, find
from analysis.pipeline.steps import CONFIG_NAMES, SUBDIRS, declaration, status
from analysis.pipeline.steps import NAMES as STEPS
from analysis.pipeline.storage import atomic_write, remove_stale_temporaries


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise UserError(f"bad arguments: {message}", "see python -m analysis --help")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Steps: " + ", ".join(STEPS + CONFIG_NAMES) + ", all; and check, runs.")
    p.add_argument("step", choices=STEPS + CONFIG_NAMES + ("all", "check", "runs"),
                   help="pipeline step to run (or check, runs)")
    p.add_argument("--config", required=True, type=_path, help="TOML config, e.g. configs/default.toml")
    p.add_argument("--out", type=_path, help="output directory (default: build/<config name>); the config's "
                                             "other runs go to <out>/runs/<name>/; a new or empty directory, "
                                             "or a run directory the tool made")
    p.add_argument("--run", metavar="NAME", help="the run of the config's [runs] to work on (default: the primary "
                                                  "run; list them with the runs command)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set train.epochs=5")
    p.add_argument("--checkpoint", type=_path, help="use this trained checkpoint instead of training")
    p.add_argument("--force", action="store_true", help="re-run the step even if it is up to date")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _path(text: str) -> Path:
    """A path argument: an empty one would mean the current directory (``Path("")`` is ``.``)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or directory name")
    return Path(text)


def _missing_dirs(run_dir: Path) -> list[Path]:
    """``run_dir`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for d in (run_dir, *run_dir.parents):
        if os.path.lexists(d):
            break
        missing.append(d)
    return missing


def _remove_created(run_dir: Path, created: list[Path], subdirs_before: set[str], marked: bool) -> None:
    """After a failed run: remove the empty directories this run created and the run marker it
    wrote (when nothing else is there), nothing else."""
    new_subdirs = [run_dir / s for s in SUBDIRS if s not in subdirs_before]
    for d in new_subdirs:
        with contextlib.suppress(OSError):  # not empty, or already gone: keep it
            d.rmdir()
    if marked:
        rundir.unmark_if_alone(run_dir)
    for d in created:
        with contextlib.suppress(OSError):  # not empty, or already gone: keep it
            d.rmdir()


def _check_args(args: argparse.Namespace, cfg, run_dir: Path) -> None:
    """Everything that can be checked before a directory or a lock is created."""
    check_path("--out", run_dir)
    if args.checkpoint is not None:
        check_path("--checkpoint", args.checkpoint)
        if not args.checkpoint.exists():
            raise UserError(f"checkpoint {args.checkpoint} does not exist", "pass the path of a .pt file")
        if not args.checkpoint.is_file():
            raise UserError(f"checkpoint {args.checkpoint} is not a regular file", "pass the path of a .pt file")
    rundir.check_ours(run_dir)
    uses_device = args.step == "all" or declaration(args.step).device
    if cfg.run.device not in ("auto", "cpu") and uses_device:
        from analysis.pipeline.model import config_device
        config_device(cfg)


def _on_sigterm(signum, frame):
    """SIGTERM unwinds like Ctrl-C (atomic writers remove their temporaries); a second one waits for that."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated(signum)


def run_step(name: str, cfg, run_dir: Path, force: bool = False, checkpoint: Path | None = None,
             share: Path | None = None) -> dict:
    """Run step ``name`` (:func:`analysis.pipeline.steps.run`); ``checkpoint`` goes to ``train`` only;
    ``share``: the primary run's directory, whose finished outputs a step with the same key links."""
    from analysis.pipeline import steps

    options = {"checkpoint": checkpoint} if name == "train" and checkpoint is not None else {}
    return steps.run(name, cfg, run_dir, force, share=share, **options)


def check(cfg, specs: list[RunSpec], out: Path, several: bool) -> int:
    """``check``: print the manifest of every finished step (of every run, and ``across``) that is not
    current (:func:`analysis.pipeline.steps.status`: its outputs were edited or deleted, or its key
    changed: config, inputs or code), and every manifest deleted while a later step's is there. A step
    whose earlier steps are not current is judged by its outputs alone: its turn comes after theirs.
    Nothing is written but the runs' hash caches; nothing heavy runs (no step's checks of its inputs)."""
    places = [(spec.directory(out), spec.config, STEPS, f"{spec.name}: " if several else "") for spec in specs]
    if several:
        places.append((out, cfg, CONFIG_NAMES, ""))
    upstream = False  # a step of some run is not current (across reads every run)
    for run_dir, run_cfg, names, label in places:
        stale: set[str] = set()
        finished = [manifest_path(run_dir, step).is_file() for step in names]
        for i, step in enumerate(names):
            if not finished[i] and any(finished[i + 1:]):  # a manifest deleted while a later step's is there
                print(f"check: {label}{step}: its manifest was deleted", file=sys.stderr)
                print(manifest_path(run_dir, step))
                stale.add(step)
                continue
            behind = upstream if step in CONFIG_NAMES else bool(stale & set(declaration(step).needs))
            fresh = _status(step, run_cfg, run_dir, label, keyed=not behind)
            if not fresh.current and fresh.manifest is not None:
                print(f"check: {label}{step}: {fresh.problem}", file=sys.stderr)
                print(manifest_path(run_dir, step))
                stale.add(step)
        upstream = upstream or bool(stale)
    return 0


def _status(step: str, cfg, run_dir: Path, label: str, keyed: bool):
    """The step's :func:`~analysis.pipeline.steps.status` for ``check``; when its inputs cannot be hashed or
    identified (an earlier step's output changed, a data folder is gone) it is judged by its outputs."""
    try:
        return status(step, cfg, run_dir, keyed=keyed)
    except UserError as e:
        print(f"check: {label}{step}: cannot tell whether its key changed ({e.problem})", file=sys.stderr)
        return status(step, cfg, run_dir, keyed=False)


def main(argv: list[str] | None = None) -> int:
    in_main_thread = threading.current_thread() is threading.main_thread()  # signals need the main thread
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None  # unwinds like Ctrl-C
    try:
        argv = sys.argv[1:] if argv is None else argv
        if argv[:1] == ["schema"]:  # the artifacts' JSON Schemas: no config
            from analysis import schemacli
            return schemacli.main(argv[1:])
        args = build_parser().parse_args(argv)
        cfg = load_config(args.config, args.overrides)
        specs = expand(cfg)
        out = args.out or Path("build") / cfg.run.name
        many = cfg.runs.several
        if args.step == "runs":
            print("\n".join(str(spec.directory(out)) for spec in specs))
            return 0
        if args.step == "check":
            return check(cfg, specs, out, many)
        return _dispatch(args, cfg, specs, out, many)
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
        set_prefix("")
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace, cfg, specs: list[RunSpec], out: Path, many: bool) -> int:
    """Which runs and steps a command means: a step of one run (``--run``, default the primary),
    ``across`` (the config's build directory), or ``all`` (without ``--run``: every run, then
    ``across``). Each run's config and directory come from :func:`analysis.pipeline.runs.expand`."""
    rundir.check_ours(out)  # the config's build directory (the primary run's; the others are inside it)
    if args.step in CONFIG_NAMES:
        if args.run is not None:
            raise UserError(f"--run does not apply to the {args.step} step: it reads every run of the config",
                            f"leave out --run: python -m analysis {args.step} --config ...")
        if args.checkpoint is not None:
            raise UserError(f"--checkpoint does not apply to the {args.step} step", "leave it out")
        _check_args(args, cfg, out)
        return _run(args, (args.step,), cfg, out, specs[0].config, label="")
    if args.run is None and args.step == "all" and many:
        if args.checkpoint is not None:
            raise UserError(f"--checkpoint with the {len(specs)} runs of this config needs --run NAME",
                            "name the run that uses it, e.g. --run " + specs[0].name)
        for spec in specs:
            _check_args(args, spec.config, spec.directory(out))
        for spec in specs:
            _run(args, STEPS, spec.config, spec.directory(out), spec.config, label=spec.name,
                 share=None if spec.primary else out)
        return _run(args, CONFIG_NAMES, cfg, out, specs[0].config, label="")
    spec = find(specs, args.run)
    run_dir = spec.directory(out)
    _check_args(args, spec.config, run_dir)
    steps = STEPS if args.step == "all" else (args.step,)
    return _run(args, steps, spec.config, run_dir, spec.config, label=spec.name if many else "",
                share=None if spec.primary else out)


def _run(args: argparse.Namespace, steps: tuple[str, ...], cfg, run_dir: Path, run_cfg, label: str,
         share: Path | None = None) -> int:
    """Run ``steps`` under the run directory's lock; undo what a run that fails on bad input created.

    ``cfg``: the config the steps get; ``run_cfg``: the run's config, saved as ``config.toml``
    (the same but for ``across``, which gets the base config). ``label``: the run's name,
    put before its progress lines and its error when the config has several runs.
    """
    set_prefix(f"[{label}] " if label else "")
    try:
        return _locked(args, steps, cfg, run_dir, run_cfg, share)
    except UserError as e:
        if label:
            raise UserError(f"run {label} ({run_dir}): {e.problem}", e.fix) from None
        raise


def _locked(args: argparse.Namespace, steps: tuple[str, ...], cfg, run_dir: Path, run_cfg,
            share: Path | None) -> int:
    if int(os.environ.get("RANK", "0")) > 0:  # a distributed worker: rank 0 locks and writes
        for step in steps:
            run_step(step, cfg, run_dir, args.force, args.checkpoint, share)
        return 0
    created = _missing_dirs(run_dir)
    subdirs_before = {s for s in SUBDIRS if os.path.lexists(run_dir / s)}
    lock = rundir.lock(run_dir)
    marked = False
    try:
        rundir.check_ours(run_dir)  # (again, now that no other run can change it)
        marked = rundir.mark(run_dir)
        remove_stale_temporaries(run_dir, SUBDIRS)
        for step in steps:
            run_step(step, cfg, run_dir, args.force, args.checkpoint, share)
            atomic_write(run_dir / "config.toml", dumps_toml(run_cfg).encode())
    except UserError:
        rundir.unlock(run_dir, lock)
        lock = None
        _remove_created(run_dir, created, subdirs_before, marked)
        raise
    finally:
        if lock is not None:
            rundir.unlock(run_dir, lock)
    return 0
