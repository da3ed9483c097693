"""The convolutional autoencoder.

Architecture (sizes from ``[model]`` and ``[data]`` in the config; C = data.channels,
S = data.image_size, c_1..c_L = model.channels, N = model.latent_dim)::

    encoder                                   decoder (mirror image)
    x: (B, C, S, S) in [0, 1]                 z: (B, N)
    Conv(C -> c_1, k, stride 2) + BN + ReLU   Linear(N -> c_L * s * s), reshape
    Conv(c_1 -> c_2, k, stride 2) + BN + ReLU ConvT(c_L -> c_{L-1}, k, stride 2) + BN + ReLU
    ...                                       ...
    Conv(c_{L-1} -> c_L, k, stride 2)+BN+ReLU ConvT(c_1 -> C, k, stride 2)
    flatten: (B, c_L * s * s), s = S / 2^L    sigmoid: (B, C, S, S) in [0, 1]
    Linear(c_L * s * s -> N)
    z: (B, N)

Each stride-2 layer halves (encoder) or doubles (decoder) the side exactly, so S
must be a multiple of 2^L. The latent layer is linear with no activation: the
latent points are free to sit anywhere in R^N, which is what the study measures.
Same design as the deterministic AEs of Ghosh et al. (RAE, ICLR 2020), smaller.

With ``model.kind = "vae"`` the same network is a variational autoencoder (:class:`ConvVAE`):
the latent linear map gives a mean and a log-variance per component, and the latent point
of an image is its posterior mean.

Also here: loading a checkpoint safely (:func:`load_checkpoint`) and running the network
over arrays of any size in batches (:func:`encode_batches`, :func:`encode_array`,
:func:`decode_array`), with page-locked, asynchronous copies to a CUDA GPU
(:func:`to_device`) and float32 on every device.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from analysis.config import Config
from analysis.errors import UserError


def _padding(kernel_size: int) -> tuple[int, int]:
    """(padding, output_padding) so that a stride-2 conv halves and its transpose doubles."""
    # out = (S + 2p - k) // 2 + 1 == S / 2  and  (S/2 - 1) * 2 - 2p + k + op == S
    return {3: (1, 1), 4: (1, 0), 5: (2, 1)}[kernel_size]


class ConvAE(nn.Module):
    """Convolutional autoencoder with a linear latent layer.

    Parameters
    ----------
    in_channels : int
        1 (gray) or 3 (RGB).
    image_size : int
        Side S of the square input; a multiple of 2 ** len(channels).
    latent_dim : int
        Latent dimension N.
    channels : sequence of int
        Output channels of the encoder's conv layers.
    kernel_size : int
        3, 4 or 5.
    batch_norm : bool
        Batch normalisation after each hidden conv layer.
    """

    def __init__(self, in_channels: int, image_size: int, latent_dim: int,
                 channels: list[int], kernel_size: int = 4, batch_norm: bool = True):
        super().__init__()
        pad, out_pad = _padding(kernel_size)
        self.side = image_size // 2 ** len(channels)
        self.top = channels[-1]

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        enc: list[nn.Module] = []
        c_in = in_channels
        for c in channels:
            enc += [nn.Conv2d(c_in, c, kernel_size, 2, pad, bias=not batch_norm), norm(c), nn.ReLU(inplace=True)]
            c_in = c
        enc += [nn.Flatten(), nn.Linear(self.top * self.side ** 2, latent_dim)]
        self.encoder = nn.Sequential(*enc)

        dec: list[nn.Module] = [nn.Linear(latent_dim, self.top * self.side ** 2),
                                nn.Unflatten(1, (self.top, self.side, self.side))]
        rev = list(reversed(channels)) + [in_channels]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            last = i == len(rev) - 2
            dec.append(nn.ConvTranspose2d(a, b, kernel_size, 2, pad, out_pad, bias=last or not batch_norm))
            if not last:
                dec += [norm(b), nn.ReLU(inplace=True)]
        dec.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*dec)

    kind = "ae"

    @property
    def latent_dim(self) -> int:
        """N, the dimension of the latent points."""
        return self.encoder[-1].out_features

    def forward(self, x: torch.Tensor, kl: bool = False):
        """Reconstruct ``x``: (B, C, S, S) -> (B, C, S, S); with ``kl``, (reconstruction, None)
        (the training objective's form, shared with :class:`ConvVAE`)."""
        out = self.decoder(self.encoder(x))
        return (out, None) if kl else out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) in [0, 1] -> latent points (B, N)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent points (B, N) -> images (B, C, S, S) in [0, 1]."""
        return self.decoder(z)


class ConvVAE(ConvAE):
    """The same network as a variational autoencoder (Kingma & Welling, 2014): the control.

    The encoder's latent linear map gives 2N numbers per image, the mean and the log-variance
    of a diagonal Gaussian posterior q(z | x); the decoder is the AE's. Training draws
    z = mean + exp(logvar / 2) * eps with eps ~ N(0, I) from :attr:`noise` (a generator the
    trainer seeds per epoch and rank, so that a resumed run draws what an uninterrupted one
    does) and adds KL(q(z | x) || N(0, I)) (:func:`kl_divergence`). In eval mode, and in
    :meth:`encode`, the latent point of an image is its posterior mean.
    """

    kind = "vae"

    def __init__(self, in_channels: int, image_size: int, latent_dim: int,
                 channels: list[int], kernel_size: int = 4, batch_norm: bool = True):
        super().__init__(in_channels, image_size, latent_dim, channels, kernel_size, batch_norm)
        self.encoder[-1] = nn.Linear(self.top * self.side ** 2, 2 * latent_dim)
        self.noise: torch.Generator | None = None

    @property
    def latent_dim(self) -> int:
        return self.encoder[-1].out_features // 2

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, S, S) -> (mean, log-variance), each (B, N)."""
        h = self.encoder(x)
        n = self.latent_dim
        return h[:, :n], h[:, n:]

    def forward(self, x: torch.Tensor, kl: bool = False):
        """Reconstruct ``x`` from a posterior sample (training) or the posterior mean (eval); with
        ``kl``, (reconstruction, KL per image (B,))."""
        mean, logvar = self.posterior(x)
        z = mean
        if self.training:
            eps = torch.randn(mean.shape, generator=self.noise, device=mean.device, dtype=mean.dtype)
            z = mean + torch.exp(0.5 * logvar) * eps
        out = self.decoder(z)
        return (out, kl_divergence(mean, logvar)) if kl else out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, S, S) -> posterior means (B, N): the latent points."""
        return self.posterior(x)[0]


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, diag(exp(logvar))) || N(0, I)) per row, in nats: (B, N), (B, N) -> (B,)."""
    return -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=-1)


def vae_objective(out: torch.Tensor, x: torch.Tensor, kl: torch.Tensor | None, beta: float) -> torch.Tensor:
    """The training loss: the mean squared error per pixel, plus for a VAE beta x KL scaled the same way.

    For a VAE this is (0.5 x sum of squared errors + beta x KL) per image, averaged over the
    batch, divided by P / 2 (P = C x S x S pixels per image): pythae's VAE loss (MSE
    reconstruction, beta = 1) divided by P / 2, so that it stays on the AE's per-pixel scale and
    the same learning rate suits both (``make bench``: vae_loss_matches_pythae).
    """
    mse = nn.functional.mse_loss(out.float(), x)
    if kl is None:
        return mse
    pixels = x[0].numel()
    return mse + beta * kl.float().mean() * 2.0 / pixels


MODELS = {"ae": ConvAE, "vae": ConvVAE}


def build_model(cfg: Config) -> ConvAE:
    """The network described by ``cfg.model`` (its kind, AE or VAE) and ``cfg.data``."""
    m = cfg.model
    return MODELS[m.kind](cfg.data.channels, cfg.data.image_size, m.latent_dim, m.channels, m.kernel_size,
                          m.batch_norm)


def pick_device(spec: str = "auto") -> torch.device:
    """The torch device ``spec`` names, checked to be usable on this machine.

    ``auto`` picks CUDA, then Apple MPS, then CPU. Otherwise ``cpu``, ``cuda``,
    ``cuda:N`` or ``mps``.

    Raises
    ------
    ValueError
        Not a device name, a device type this project does not run on, or a device
        this machine does not have (with the reason).
    """
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"'{spec}' is not a device name (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("CUDA is not available on this machine (no GPU, driver or CUDA build of torch)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ValueError(f"there is no CUDA device {device.index}: this machine has {count} "
                             f"(cuda:0 .. cuda:{count - 1})")
        return device
    if device.type == "mps":
        if not _mps_available():
            raise ValueError("Apple MPS is not available on this machine")
        return device
    raise ValueError(f"device type '{device.type}' is not supported (use auto, cpu, cuda, cuda:N or mps)")


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def config_device(cfg: Config) -> torch.device:
    """``run.device`` as a usable device; a UserError naming the key otherwise."""
    try:
        return pick_device(cfg.run.device)
    except ValueError as e:
        raise UserError(f"config key 'run.device' = {cfg.run.device!r}: {e}",
                        'set run.device = "auto" (the best available) or "cpu"') from None


def load_trained(cfg: Config, run_dir) -> tuple[ConvAE, torch.device]:
    """The trained model of a run (``train/model.pt``) on ``run.device``, with ``run.threads`` applied.

    For the steps that run the trained network (``encode``, ``generate``).
    """
    from pathlib import Path

    if cfg.run.threads:
        torch.set_num_threads(cfg.run.threads)
    device = config_device(cfg)
    model, _ = load_checkpoint(Path(run_dir) / "train" / "model.pt", cfg, device)
    return model, device


# ---------------------------------------------------------------- checkpoints

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

    from analysis.storage import check_regular

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
    import pickle
    from pathlib import Path

    path = Path(path)
    fix = "pass a checkpoint written by 'python -m analysis train' with the same [model] and [data] settings"
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
        state, meta = obj["state_dict"], {k: v for k, v in obj.items() if k != "state_dict"}
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, meta = obj, {}
    else:
        raise UserError(f"{path} is not a model checkpoint (no state_dict inside)", fix)
    _check_state(state, path, fix)
    bad = non_finite_tensors(state)
    if bad:
        raise UserError(f"checkpoint {path} holds NaN/inf values in {len(bad)} tensor(s) "
                        f"(first: {bad[0]}); it comes from a training run that diverged",
                        "use another checkpoint, or retrain (with a lower train.lr)")
    want = architecture(cfg)
    have = meta.get("architecture")
    if have is not None:
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
    model = build_model(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, ValueError) as e:
        msg = " ".join(str(e).split())[:200]
        raise UserError(f"checkpoint {path} does not fit the architecture of the config ({msg})",
                        "use the config the checkpoint was trained with, or retrain") from None
    return model.to(device).eval(), meta


# ---------------------------------------------------------------- running the network over arrays

def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to ``device``; to a CUDA GPU from page-locked memory, asynchronously.

    Encoding stays in float32 on every device (no autocast): the latents are the measured object.
    """
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def pixels_on(block: np.ndarray, device: torch.device) -> torch.Tensor:
    """A block of images on ``device`` as float32 in [0, 1]: uint8 pixels are divided by 255."""
    x = to_device(torch.from_numpy(np.ascontiguousarray(block)), device)
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


@torch.inference_mode()
def encode_batches(model: torch.nn.Module, images, batch_size: int, device: torch.device,
                   progress: bool = True, variance: bool = False):
    """Yield the latents (k, N) of images (n, C, S, S), one batch at a time.

    ``variance`` (a VAE): yield (posterior means (k, N), posterior variances (k, N)) instead.

    Parameters
    ----------
    model : ConvAE
    images : array or :class:`~analysis.storage.NpyRows`
        uint8 pixels, or float pixels in [0, 1] (decoded images); a reader is read
        batch by batch, so memory holds one batch whatever ``n``.
    batch_size : int
    device : torch.device
    progress : bool
        Show a progress bar on stderr.

    Raises
    ------
    UserError
        The encoder produced NaN/inf (a broken checkpoint).
    """
    model.eval()
    n = len(images)
    read = images.read if hasattr(images, "read") else (lambda a, b: np.array(images[a:b]))
    with tqdm(total=n, desc="encode", unit="img", disable=None if progress else True, file=sys.stderr) as bar:
        for i in range(0, n, batch_size):
            x = pixels_on(read(i, i + batch_size), device)
            if variance:
                mean, logvar = model.posterior(x)
                z, var = mean.float().cpu().numpy(), logvar.float().exp().cpu().numpy()
            else:
                z = var = model.encode(x).float().cpu().numpy()
            if not (np.isfinite(z).all() and np.isfinite(var).all()):
                raise UserError(f"the encoder produced NaN/inf latents (images {i}..{i + len(x) - 1})",
                                "retrain: the checkpoint is broken (try a lower train.lr)")
            bar.update(len(x))
            yield (z, var) if variance else z


def encode_array(model: torch.nn.Module, images, batch_size: int, device: torch.device,
                 progress: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """The latents (n, N) float32 of images (n, C, S, S), encoded in batches (:func:`encode_batches`).

    ``out``: an (n, N) array to fill instead of a new one.
    """
    if out is None:
        out = np.empty((len(images), model.latent_dim), np.float32)
    i = 0
    for z in encode_batches(model, images, batch_size, device, progress):
        out[i:i + len(z)] = z
        i += len(z)
    return out


@torch.inference_mode()
def decode_array(model: torch.nn.Module, z: np.ndarray, batch_size: int, device: torch.device) -> np.ndarray:
    """Decode latent points (m, N) in batches: images (m, C, S, S), float32 in [0, 1]."""
    model.eval()
    out = [model.decode(to_device(torch.from_numpy(np.ascontiguousarray(z[i:i + batch_size], dtype=np.float32)),
                                  device)).float().cpu().numpy() for i in range(0, len(z), batch_size)]
    return np.concatenate(out)
