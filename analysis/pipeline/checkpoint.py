"""Checkpoints of the network: their format, their size limits and loading them safely.

:func:`load_checkpoint` reads a checkpoint with ``weights_only=True`` (nothing in the file is
executed) after checking the sizes it declares (:func:`check_checkpoint_file`), then checks
its weights and its recorded architecture against the config before building the network.
:mod:`analysis.pipeline.model` re-exports every public name here.
"""

from __future__ import annotations

import os

import torch

from analysis.pipeline.config import Config
from analysis.errors import UserError
from analysis.pipeline.network import ConvAE, build_model

CHECKPOINT_FORMAT = "face-latent-geometry/checkpoint-v1"


def architecture(cfg: Config) -> dict:
    """The config keys that fix the network's shape (a checkpoint must match them)."""
    m = cfg.model
    return {"in_channels": cfg.data.channels, "image_size": cfg.data.image_size,
            "latent_dim": m.latent_dim, "channels": list(m.channels),
            "kernel_size": m.kernel_size, "batch_norm": m.batch_norm, "kind": m.kind}


KIND_NAMES = {"ae": "an autoencoder (AE)", "vae": "a variational autoencoder (VAE)"}


def _kind_of(have: dict) -> object:
    """The kind a checkpoint's architecture records; checkpoints written before VAEs existed are AEs."""
    return have.get("kind", "ae")


def non_finite_tensors(state: dict) -> list[str]:
    """Names of the floating-point tensors in ``state`` that hold NaN or inf."""
    return [k for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not bool(torch.isfinite(v).all())]


#: Bytes a checkpoint may hold beyond its tensors (the pickled structure, history, config).
CHECKPOINT_EXTRA_BYTES = 64 << 20
#: The pickled structure inside a checkpoint (``data.pkl``): a few KB for ours; unpickling can
#: make objects many times larger than their bytes, so it is kept small.
CHECKPOINT_PICKLE_BYTES = 8 << 20


def state_bytes(cfg: Config) -> int:
    """Bytes of the state_dict of the network ``cfg`` describes (built on the meta device: no memory)."""
    with torch.device("meta"):
        model = build_model(cfg)
    return sum(v.numel() * v.element_size() for v in model.state_dict().values())


def checkpoint_limit(cfg: Config, copies: int = 2) -> int:
    """The most bytes a checkpoint for ``cfg`` may hold (uncompressed): ``copies`` times its
    weights in float64 (a trainer's optimizer state, a wider dtype) plus :data:`CHECKPOINT_EXTRA_BYTES`."""
    return copies * 2 * state_bytes(cfg) + CHECKPOINT_EXTRA_BYTES


def check_checkpoint_file(path, limit: int) -> None:
    """Check the sizes a checkpoint declares before anything of it is loaded; ValueError saying why.

    The file must be a regular file; a zip archive (PyTorch's format) must declare at most
    ``limit`` uncompressed bytes in all and :data:`CHECKPOINT_PICKLE_BYTES` for its pickle (a
    compressed entry may inflate to its declared size, a zip bomb: 1.6 MB of file to 4.5 GB of
    memory); any other file (the legacy format) must be at most ``limit`` bytes.
    """
    import zipfile

    from analysis.pipeline.storage import check_regular

    st = os.stat(path)
    try:
        check_regular(st, limit)
    except OSError as e:
        raise ValueError(f"is {e.strerror}") from None
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ValueError(f"is not a readable zip archive ({e})") from None
    total = sum(i.file_size for i in infos)
    if total > limit:
        raise ValueError(f"declares {total:,} bytes uncompressed, more than the {limit:,} that the "
                         "config's network needs (with room to spare)")
    pickles = [i for i in infos if i.filename.endswith(".pkl")]
    if any(i.file_size > CHECKPOINT_PICKLE_BYTES for i in pickles):
        raise ValueError(f"holds a pickle of more than {CHECKPOINT_PICKLE_BYTES:,} bytes")


def read_checkpoint(path, limit: int):
    """``torch.load`` of a checkpoint after :func:`check_checkpoint_file`, safely (``weights_only=True``:
    nothing in the file is executed). Raises ValueError (sizes, not a checkpoint) or
    pickle.UnpicklingError (objects that are not plain weights), each saying why."""
    import pickle

    check_checkpoint_file(path, limit)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise
    except MemoryError:
        raise ValueError("does not fit in memory") from None
    except Exception as e:  # noqa: BLE001 -- a damaged or foreign file may fail anywhere in the loader
        raise ValueError(f"is not a readable PyTorch checkpoint ({type(e).__name__})") from None


def plain(value, depth: int = 0):
    """``value`` if it is plain data (dicts with str keys, lists, str, int, float, bool, None; at most
    32 levels), else raise TypeError naming what is not (a tensor, bytes ...)."""
    if depth > 32:
        raise TypeError("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: plain(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"holds {type(value).__name__}")


def _check_state(state: dict, path, fix: str) -> None:
    """A state_dict of dense real tensors: sparse, quantized, complex or non-tensor entries are refused."""
    for name, v in state.items():
        if not isinstance(name, str) or not isinstance(v, torch.Tensor):
            raise UserError(f"checkpoint {path}: its state_dict entry {str(name)[:60]!r} is not a named tensor", fix)
        if v.layout != torch.strided or v.is_quantized or v.is_complex() or v.is_meta:
            kind = "sparse" if v.layout != torch.strided else "quantized" if v.is_quantized else \
                "complex" if v.is_complex() else "meta"
            raise UserError(f"checkpoint {path}: tensor {name[:60]!r} is {kind}; a network's weights are dense "
                            "real tensors", fix)


def _read_object(path, cfg: Config, fix: str) -> tuple[dict, dict]:
    """The checkpoint's state_dict and its other entries, read safely; UserError saying why not."""
    import pickle

    if not os.path.lexists(path):
        raise UserError(f"checkpoint {path} does not exist", fix)
    try:
        obj = read_checkpoint(path, checkpoint_limit(cfg))
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        raise UserError(f"checkpoint {path} holds objects that are not plain weights and was refused "
                        f"(nothing was executed){': ' + first[:120] if first else ''}", fix) from None
    except ValueError as e:  # "is not a readable PyTorch checkpoint (...)", "declares ... bytes ...", ...
        raise UserError(f"checkpoint {path} {e}", fix) from None
    except OSError as e:
        raise UserError(f"cannot read checkpoint {path}: {e.strerror or e}", fix) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}
    raise UserError(f"{path} is not a model checkpoint (no state_dict inside)", fix)


def _check_weights(state: dict, path, fix: str) -> None:
    """Dense real tensors (:func:`_check_state`), all finite."""
    _check_state(state, path, fix)
    bad = non_finite_tensors(state)
    if bad:
        raise UserError(f"checkpoint {path} holds NaN/inf values in {len(bad)} tensor(s) "
                        f"(first: {bad[0]}); it comes from a training run that diverged",
                        "use another checkpoint, or retrain (with a lower train.lr)")


def _check_architecture(have, want: dict, path, fix: str) -> None:
    """The checkpoint's ``architecture`` entry (plain values, the same kind) is the config's ``want``."""
    try:
        have = plain(have)
    except TypeError as e:
        have = e
    if not isinstance(have, dict):
        shown = f"{have!r}"[:60] if not isinstance(have, TypeError) else f"an entry that {have}"
        raise UserError(f"checkpoint {path} has an architecture entry that is not a table of the network's "
                        f"settings ({shown})", fix)
    kind = _kind_of(have)
    if kind != want["kind"]:
        what = KIND_NAMES.get(kind, f"of the unknown kind {str(kind)[:20]!r}")
        raise UserError(f"checkpoint {path} holds {what}, but model.kind = {want['kind']!r} asks for "
                        f"{KIND_NAMES[want['kind']]}",
                        f"set model.kind = {kind!r} to use it" if kind in KIND_NAMES else
                        "pass a checkpoint written by 'python -m analysis train'")
    have = {**have, "kind": kind}
    if have != want:
        diff = ", ".join(f"{k}: checkpoint {have.get(k)!r} vs config {want[k]!r}"
                         for k in want if have.get(k) != want[k])
        raise UserError(f"checkpoint {path} does not fit the config ({diff or 'other keys'})",
                        "use the config the checkpoint was trained with, or retrain")


def load_checkpoint(path, cfg: Config, device: torch.device | str = "cpu") -> tuple[ConvAE, dict]:
    """Load a checkpoint safely (``weights_only=True``) into the model ``cfg`` describes.

    Accepts this project's checkpoints (a dict with ``state_dict``, ``config``,
    ``architecture``, ...) and bare ``state_dict`` s of the same architecture.
    Nothing in the file is ever executed: arbitrary pickled objects are refused. The
    sizes it declares are checked before it is read (:func:`check_checkpoint_file`), so a
    compressed archive cannot inflate in memory; its state_dict must hold dense real
    tensors and its ``architecture`` plain values.

    Returns
    -------
    model : ConvAE
        In eval mode, on ``device``.
    meta : dict
        The checkpoint's other entries (empty for a bare state_dict), as found: read them
        with :func:`plain` before use.

    Raises
    ------
    UserError
        Missing file, too large, not a checkpoint, unsafe content, or a different architecture.
    """
    from pathlib import Path

    path = Path(path)
    fix = "pass a checkpoint written by 'python -m analysis train' with the same [model] and [data] settings"
    state, meta = _read_object(path, cfg, fix)
    _check_weights(state, path, fix)
    if meta.get("architecture") is not None:
        _check_architecture(meta["architecture"], architecture(cfg), path, fix)
    model = build_model(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as e:
        msg = " ".join(str(e).split())[:200]
        raise UserError(f"checkpoint {path} does not fit the architecture of the config ({msg})",
                        "use the config the checkpoint was trained with, or retrain") from None
    return model.to(device).eval(), meta
