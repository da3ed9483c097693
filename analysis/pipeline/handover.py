"""Reading what steps hand over: the image cache and the latents, checked on the way in.

The steps open them through :mod:`analysis.pipeline.steps` (``steps.load_latents``), which re-exports
these functions beside the declarations.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from analysis.errors import UserError
from analysis.pipeline.storage import NpyRows


def load_images(run_dir: Path) -> NpyRows:
    """A reader of the image cache ``data/images.npy``, uint8 (n, C, S, S), that reads rows on demand.

    Memory stays at the rows asked for (plain reads, no memory map), whatever the data size.
    """
    path = Path(run_dir) / "data" / "images.npy"
    fix = "run the fetch step first: python -m analysis fetch --config ..."
    try:
        return NpyRows(path)
    except FileNotFoundError:
        raise UserError(f"image cache {path} does not exist", fix) from None
    except (OSError, ValueError) as e:
        raise UserError(f"image cache {path} is not a readable .npy array ({e})", fix) from None


def open_latents(path: str | os.PathLike) -> np.ndarray:
    """``latents.npy`` memory-mapped, (n, N), after :func:`load_latents` checked it."""
    return np.load(path, mmap_mode="r", allow_pickle=False)


def load_latents(path: str | os.PathLike) -> np.ndarray:
    """Open and check a latents file: a finite 2-D float array (n points x N components), memory-mapped.

    Raises
    ------
    UserError
        Missing, unreadable, wrong-shaped, non-float or non-finite latents, or points
        that are all the same (zero variance in every component: nothing to measure or
        fit; :func:`is_constant`).
    """
    path = Path(path)
    fix = "re-run the encode step (python -m analysis encode --config ...)"
    try:
        z = open_latents(path)
    except FileNotFoundError:
        raise UserError(f"latents file {path} does not exist", fix) from None
    except (OSError, ValueError) as e:
        raise UserError(f"latents file {path} is not a readable .npy array ({e})", fix) from None
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
        raise UserError(f"latents file {path} has shape {z.shape}, expected (n points, N components)", fix)
    if not np.issubdtype(z.dtype, np.floating):
        raise UserError(f"latents file {path} has dtype {z.dtype}, expected float", fix)
    bad, lo, hi = 0, np.full(z.shape[1], np.inf), np.full(z.shape[1], -np.inf)
    for i in range(0, z.shape[0], 65536):
        block = np.asarray(z[i:i + 65536])
        bad += int(np.count_nonzero(~np.isfinite(block)))
        np.minimum(lo, block.min(axis=0), out=lo)
        np.maximum(hi, block.max(axis=0), out=hi)
    if bad:
        raise UserError(f"latents file {path} contains {bad} NaN/inf values", fix)
    if z.shape[0] > 1 and is_constant(lo, hi):
        raise UserError(f"latents file {path}: the {z.shape[0]} latent points have zero variance in all "
                        f"{z.shape[1]} components (they are all the same point): the images are identical "
                        "or the encoder collapsed",
                        "use a data set of different images (data.path), or retrain (e.g. with a lower "
                        "train.lr) and encode again")
    return z


def is_constant(lo: np.ndarray, hi: np.ndarray, rtol: float = 1e-6) -> bool:
    """True if every component's range ``hi - lo`` is zero up to float32 round-off.

    ``lo`` and ``hi`` are per-component minima and maxima; the tolerance is ``rtol``
    times the largest magnitude of any coordinate (identical images can give latents
    differing in the last bits when encoded at different positions in a batch).
    """
    scale = float(max(np.abs(lo).max(initial=0.0), np.abs(hi).max(initial=0.0)))
    return bool(np.all(hi - lo <= rtol * scale))
