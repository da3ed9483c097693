"""What the train step writes: resume states while it trains, ``model.pt`` and the histories at the
end, or an adopted checkpoint (``train --checkpoint``) in their place.
"""

from __future__ import annotations

import io
import json
import math
import re
import time
from pathlib import Path

import torch
from torch import nn

from analysis import __version__
from analysis.pipeline import steps
from analysis.pipeline.config import Config
from analysis.errors import eprint
from analysis.pipeline.model import architecture, load_checkpoint
from analysis.pipeline.storage import atomic_write, dumps_json, save_json
from analysis.schemas.base import validate_json
from analysis.schemas.train import AdoptedHistory, Timing, TrainedHistory

LOSS = "mean squared error per pixel, pixels in [0, 1]"
#: A VAE's training loss (:func:`analysis.pipeline.model.vae_objective`); its held-out error is the AE's (LOSS).
VAE_LOSS = ("mean squared error per pixel, pixels in [0, 1], plus beta x KL(posterior || N(0, I)) per image "
            "divided by half the pixels per image")


def loss_text(cfg: Config) -> str:
    """What the training loss of ``cfg``'s network is, in words (history.json's ``loss``)."""
    return LOSS if cfg.model.kind == "ae" else f"{VAE_LOSS} (beta = {cfg.model.beta:g})"


class Checkpointer:
    """Keeps ``train/resume.pt`` at most ``interval`` seconds behind, and saves on interruption.

    After every epoch the state (weights, optimizer, history) is either written atomically
    (when ``interval`` seconds have passed since the last write, or ``interval`` is 0) or
    kept as an in-memory copy that :meth:`flush` writes when the run is interrupted
    (Ctrl-C, SIGTERM). A ``kill -9`` therefore loses at most ``interval`` seconds; any
    resume continues from an epoch boundary and ends with the same weights.
    """

    def __init__(self, path: Path, key: str, interval: float, enabled: bool = True):
        self.path, self.key, self.interval, self.enabled = path, key, interval, enabled
        self.last = time.monotonic()
        self.pending: dict | None = None

    def epoch_done(self, progress: dict, model: nn.Module, opt: torch.optim.Optimizer, last: bool = False) -> None:
        if not self.enabled:
            return
        if last:  # the final model follows at once; a resume file would be removed anyway
            self.pending = None
            return
        if time.monotonic() - self.last >= self.interval:
            _save(self.path, {"key": self.key, **progress, "state_dict": _cpu_state(model),
                              "optimizer": opt.state_dict()})
            self.last, self.pending = time.monotonic(), None
        else:
            import copy
            self.pending = {"key": self.key, **copy.deepcopy(progress), "state_dict": _cpu_state(model, copy=True),
                            "optimizer": copy.deepcopy(opt.state_dict())}

    def flush(self) -> None:
        if self.enabled and self.pending is not None:
            _save(self.path, self.pending)
            self.pending = None


def _cpu_state(model: nn.Module, copy: bool = False) -> dict:
    """The weights on the CPU (``copy``: never sharing memory with the live model)."""
    return {k: (v.detach().cpu().clone() if copy else v.detach().cpu().contiguous())
            for k, v in model.state_dict().items()}


def _canonical(obj):
    """``obj`` rebuilt so that equal values pickle to equal bytes: tensors as fresh contiguous copies,
    everything else through JSON (a resumed run's history, read back from resume.pt, shares no
    object that a live run's shares, and pickle writes shared objects once)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().clone(memory_format=torch.contiguous_format)
    if isinstance(obj, dict) and _has_tensor(obj):
        return {k: _canonical(v) for k, v in obj.items()}
    return json.loads(json.dumps(obj, allow_nan=True))


def _has_tensor(obj) -> bool:
    if isinstance(obj, torch.Tensor):
        return True
    if isinstance(obj, dict):
        return any(_has_tensor(v) for v in obj.values())
    return isinstance(obj, (list, tuple)) and any(_has_tensor(v) for v in obj)


def _serialise(obj: dict) -> bytes:
    """torch.save of :func:`_canonical` ``obj`` in memory: the same values give the same bytes, however
    the run got to them (uninterrupted, or resumed after a kill -9)."""
    buf = io.BytesIO()
    torch.save(_canonical(obj), buf)
    return buf.getvalue()


def _save(path: Path, obj: dict) -> None:
    """torch.save atomically (serialised in memory first, so write errors are plain OSErrors)."""
    atomic_write(path, _serialise(obj))


def _finish(cfg: Config, run_dir: Path, data_sha: str, model: nn.Module, history: list[dict],
            timing: list[dict], n_train: int, n_val: int, device: torch.device) -> steps.Written:
    hist = {"epochs": history, "n_train": n_train, "n_val": n_val, "loss": loss_text(cfg),
            "parameters": sum(p.numel() for p in model.parameters())}
    _save(run_dir / "train" / "model.pt", {
        "format": "face-latent-geometry/checkpoint-v1", "state_dict": _cpu_state(model),
        "architecture": architecture(cfg), "config": cfg.to_dict(), "data_sha256": data_sha,
        "version": __version__, "epochs": len(history), "history": hist})
    save_json(run_dir / "train" / "history.json", hist, TrainedHistory)
    # Wall-clock figures differ from run to run: a separate file, not hashed in the manifest.
    save_json(run_dir / "train" / "timing.json", {"epochs": timing, "device": device.type,
                                                  "threads": torch.get_num_threads()}, Timing)
    # CPU weights are bit-identical for the same thread count only: the manifest says which.
    computed_on = {"device": device.type, "threads": torch.get_num_threads() if device.type == "cpu" else None}
    return steps.Written(remove=(run_dir / "train" / "resume.pt",), extra={"computed_on": computed_on})


def adopt_checkpoint(cfg: Config, run_dir: Path, path: Path, inputs: dict) -> steps.Written:
    """Use a user's checkpoint instead of training: check it, then store it as model.pt.

    The checkpoint must fit the config and hold finite weights (else a UserError, and
    the current model.pt stays). Its provenance is kept, not rewritten: ``data_sha256``
    is the fingerprint of the data it was trained on (None if it does not say; a
    warning if it differs from the current images), and its training history goes into
    history.json (which says so when the checkpoint has none).
    """
    model, meta = load_checkpoint(path, cfg)
    data_sha, src_sha = inputs["data/images.npy"], inputs["checkpoint"]
    found = meta.get("data_sha256")
    trained_on = found if isinstance(found, str) and re.fullmatch(r"[0-9a-f]{64}", found) else None
    if trained_on is not None and trained_on != data_sha:
        eprint(f"train: warning: the checkpoint {path} was trained on other images (sha256 {trained_on[:12]}...) "
               f"than data/images.npy (sha256 {data_sha[:12]}...); its provenance is kept as it is")
    hist = _checkpoint_history(meta, path, src_sha)
    # everything is checked and serialised before anything is written: a refused checkpoint
    # leaves model.pt and history.json as they were
    model_bytes = _serialise({
        "format": "face-latent-geometry/checkpoint-v1", "state_dict": _cpu_state(model),
        "architecture": architecture(cfg), "config": cfg.to_dict(), "data_sha256": trained_on,
        "version": __version__, "source": str(path), "source_sha256": src_sha,
        "epochs": len(hist["epochs"]), "history": hist})
    hist_bytes = dumps_json(hist)
    validate_json(AdoptedHistory, hist_bytes, "train/history.json")  # what the reader will read
    atomic_write(run_dir / "train" / "model.pt", model_bytes)
    atomic_write(run_dir / "train" / "history.json", hist_bytes)
    eprint(f"train: using the checkpoint {path} (not training)")
    return steps.Written(extra={"checkpoint": {"source": str(path), "sha256": src_sha,
                                               "trained_on_data_sha256": trained_on,
                                               "same_data": trained_on == data_sha if trained_on else None}})


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _checkpoint_history(meta: dict, path: Path, src_sha: str) -> dict:
    """history.json for an adopted checkpoint: its own training history, or a note that it has none.

    Only plain values are kept (the checkpoint is foreign input: a history may hold tensors or
    bytes): each epoch's number and finite losses, and n_train, n_val, parameters (integers) and
    loss (text) when they are such."""
    hist = meta.get("history")
    if isinstance(hist, list):  # a bare list of epochs (older or foreign checkpoints)
        hist = {"epochs": hist}
    epochs = hist.get("epochs") if isinstance(hist, dict) else None
    ok = isinstance(epochs, list) and all(
        isinstance(e, dict) and isinstance(e.get("epoch"), int) and not isinstance(e.get("epoch"), bool) and
        _number(e.get("train_loss")) and (e.get("val_loss") is None or _number(e.get("val_loss")))
        for e in epochs)
    src = {"source": "user checkpoint", "checkpoint": str(path), "checkpoint_sha256": src_sha}
    if ok and epochs:
        types = {"n_train": int, "n_val": int, "parameters": int, "loss": str}
        keep = {k: hist[k] for k, t in types.items()
                if isinstance(hist.get(k), t) and not isinstance(hist.get(k), bool)}
        if isinstance(keep.get("loss"), str):
            keep["loss"] = " ".join(keep["loss"].split())[:200]
        epochs = [{"epoch": int(e["epoch"]), "train_loss": float(e["train_loss"]),
                   "val_loss": None if e.get("val_loss") is None else float(e["val_loss"])} for e in epochs]
        return {**keep, "epochs": epochs, **src, "history_recorded": True}
    eprint(f"train: note: the checkpoint {path} records no training history; history.json says so")
    return {"epochs": [], **src, "history_recorded": False,
            "note": "the checkpoint does not record its training history (per-epoch losses unknown)"}
