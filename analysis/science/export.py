"""The trained decoder as a static file of the article's site, for a forward pass in the browser.

The page decodes the latent point under the reader's cursor with a small JavaScript
forward pass of our decoder (``report/_static/flg-decoder.js``, ``window.flgDecode``).
This module turns the decoder of a :class:`~analysis.pipeline.model.ConvAE` into the data that
pass needs (:func:`decoder_layers`) and into the site's file (:func:`weights_script`): a
script that assigns the architecture and the float32 weights, base64-encoded, to the
global ``FLG_DECODER_WEIGHTS``. A script, because the site works from ``file://``, where
``<script src>`` loads and ``fetch`` does not; a file of its own, so that it is loaded
once and no page grows by its size.

Why a hand-written forward pass and not onnxruntime-web (measured, onnxruntime-web 1.30.0
from npm): its WebAssembly backend needs ``ort-wasm-simd-threaded.wasm``, 14.2 MB, which it
fetches, so from ``file://`` it would have to ship inlined as about 19 MB of base64 beside
its 50 kB loader; its 0.47 MB WebGL backend needs a GPU context (deprecated upstream, and
absent in headless Chromium with ``--disable-gpu``). The default decoder is 0.46 M
weights (1.8 MB): our forward pass is a few kB of JavaScript and decodes one vector in a
few milliseconds (``make bench``), and ``tests/test_webdecoder.py`` checks it against
PyTorch for every layer kind and option of :mod:`analysis.pipeline.model`.

Layout of ``FLG_DECODER_WEIGHTS`` (format :data:`FORMAT`)
    ``format``, ``latent_dim`` N, ``channels`` C, ``image_size`` S, ``parameters``,
    ``layers`` (in order) and ``data``: base64 of all weights as little-endian float32,
    each layer's arrays at ``[offset, length]`` (in floats). Activations are kept as
    (height, width, channels) arrays (HWC), so every inner loop runs over contiguous
    channels:

    * ``{"kind": "linear", "in": N, "out": M, "side": s, "channels": c, "w": [o, M*N],
      "b": [o, M], "act": null}``: ``w`` row-major (M, N); its rows are permuted so that
      the output is the HWC layout of PyTorch's (c, s, s) unflattened output;
    * ``{"kind": "convT", "in": I, "out": O, "k": k, "stride": 2, "pad": p, "out_pad": q,
      "in_side": h, "out_side": (h - 1) * stride - 2 p + k + q, "w": [o, k*k*I*O],
      "b": [o, O], "act": "relu" | "sigmoid" | null}``: ``w`` as (k, k, I, O) (PyTorch's
      (I, O, k, k) transposed); batch normalisation (eval mode) folded in: each output
      channel's weights scaled by gamma / sqrt(var + eps) and its bias set to
      (b - mean) gamma / sqrt(var + eps) + beta.

    The last layer's output (S, S, C) is returned as C x S x S values, row-major (C, H, W).

Library code: a decoder it does not know raises ``ValueError``.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import torch
from torch import nn

FORMAT = "flg-decoder-v1"
#: Decoders whose weights (float32) exceed this get no live decoder in the page.
LIVE_MAX_BYTES = 20 * 1024 * 1024
#: The global the weights script assigns.
GLOBAL = "FLG_DECODER_WEIGHTS"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def _fold(layer: dict, bn: nn.BatchNorm2d) -> None:
    """Fold an eval-mode batch normalisation into the preceding transposed convolution (in place)."""
    var, mean = _np(bn.running_var), _np(bn.running_mean)
    gamma = _np(bn.weight) if bn.weight is not None else np.ones_like(var)
    beta = _np(bn.bias) if bn.bias is not None else np.zeros_like(var)
    scale = gamma / np.sqrt(var + bn.eps)
    layer["w"] = layer["w"] * scale              # (k, k, I, O): O is the last axis
    layer["b"] = (layer["b"] - mean) * scale + beta


def decoder_layers(decoder: nn.Sequential) -> list[dict]:
    """The layers of a decoder (``ConvAE.decoder``) with numpy float64 weights in the layout above.

    Raises
    ------
    ValueError
        A module this forward pass does not implement, or one in an unexpected place.
    """
    layers: list[dict] = []
    shape: tuple[int, int] | None = None  # (channels, side) of the current activation
    for m in decoder:
        if isinstance(m, nn.Linear):
            if layers:
                raise ValueError("a Linear layer is supported only as the decoder's first layer")
            layers.append({"kind": "linear", "in": m.in_features, "out": m.out_features,
                           "w": _np(m.weight), "b": _np(m.bias) if m.bias is not None else np.zeros(m.out_features),
                           "act": None})
        elif isinstance(m, nn.Unflatten):
            c, h, w = m.unflattened_size
            lin = layers[-1] if layers else None
            if lin is None or lin["kind"] != "linear" or h != w or c * h * w != lin["out"]:
                raise ValueError(f"Unflatten to {tuple(m.unflattened_size)} must follow the Linear layer")
            # output m = ch * s*s + y*s + x (PyTorch's CHW) -> HWC order (y*s + x) * c + ch
            perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
            lin["w"], lin["b"] = lin["w"][perm], lin["b"][perm]
            lin.update(side=h, channels=c)
            shape = (c, h)
        elif isinstance(m, nn.ConvTranspose2d):
            if shape is None or m.in_channels != shape[0]:
                raise ValueError("a ConvTranspose2d must follow the Unflatten or another ConvTranspose2d with "
                                 "matching channels")
            k, s, p, q = m.kernel_size[0], m.stride[0], m.padding[0], m.output_padding[0]
            if m.kernel_size[0] != m.kernel_size[1] or m.stride[0] != m.stride[1] or m.padding[0] != m.padding[1] \
                    or m.output_padding[0] != m.output_padding[1] or m.dilation != (1, 1) or m.groups != 1:
                raise ValueError("only square, ungrouped, undilated transposed convolutions are supported")
            out_side = (shape[1] - 1) * s - 2 * p + k + q
            layers.append({"kind": "convT", "in": m.in_channels, "out": m.out_channels, "k": k, "stride": s, "pad": p,
                           "out_pad": q, "in_side": shape[1], "out_side": out_side,
                           "w": _np(m.weight).transpose(2, 3, 0, 1).copy(),
                           "b": _np(m.bias) if m.bias is not None else np.zeros(m.out_channels), "act": None})
            shape = (m.out_channels, out_side)
        elif isinstance(m, nn.BatchNorm2d):
            if not layers or layers[-1]["kind"] != "convT" or layers[-1]["act"] is not None:
                raise ValueError("a BatchNorm2d must follow a ConvTranspose2d directly")
            _fold(layers[-1], m)
        elif isinstance(m, (nn.ReLU, nn.Sigmoid)):
            if not layers or layers[-1]["act"] is not None:
                raise ValueError(f"{type(m).__name__} must follow a layer without an activation")
            layers[-1]["act"] = "relu" if isinstance(m, nn.ReLU) else "sigmoid"
        elif isinstance(m, nn.Identity):
            continue
        else:
            raise ValueError(f"the browser decoder does not implement {type(m).__name__}")
    if not layers or layers[-1]["kind"] != "convT" or layers[-1]["act"] != "sigmoid":
        raise ValueError("the decoder must end with a ConvTranspose2d and a Sigmoid")
    return layers


def weights_bytes(decoder: nn.Sequential) -> int:
    """Bytes of the decoder's weights as float32 once batch normalisation is folded in."""
    return 4 * sum(layer[a].size for layer in decoder_layers(decoder) for a in ("w", "b"))


def weights_script(decoder: nn.Sequential) -> bytes:
    """The site's weights file: ``window.FLG_DECODER_WEIGHTS = {...};`` (see the module docstring)."""
    layers = decoder_layers(decoder)
    chunks, offset, meta = [], 0, []
    for layer in layers:
        entry = {k: v for k, v in layer.items() if k not in ("w", "b")}
        for a in ("w", "b"):
            flat = np.ascontiguousarray(layer[a], dtype="<f4").ravel()
            entry[a] = [offset, int(flat.size)]
            chunks.append(flat)
            offset += int(flat.size)
        meta.append(entry)
    first, last = layers[0], layers[-1]
    doc = {"format": FORMAT, "latent_dim": first["in"], "channels": last["out"], "image_size": last["out_side"],
           "parameters": offset, "layers": meta,
           "data": base64.b64encode(np.concatenate(chunks).tobytes()).decode("ascii")}
    text = (f"/* The decoder of face-latent-geometry ({FORMAT}, {offset:,} float32 weights): read by "
            "flg-decoder.js (window.flgDecode). Written by analysis/science/export.py. */\n"
            f"window.{GLOBAL} = {json.dumps(doc, separators=(',', ':'), sort_keys=True)};\n")
    return text.encode("ascii")
