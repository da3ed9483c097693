"""Hostile input files for the reliability tests and `make bench` (its `limits` group)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import torch


def dds_named_png(path: Path) -> None:
    """A DirectDraw Surface file with unknown pixel format flags (the image library raises
    NotImplementedError for it), saved under a .png name."""
    header = struct.pack("<3I", 0, 32, 32) + bytes(108)
    path.write_bytes(b"DDS " + struct.pack("<I", 124) + header + bytes(4096))


def zip_bomb_checkpoint(path: Path, state: dict, mib: int) -> None:
    """A checkpoint of the weights ``state`` whose first tensor record is ``mib`` MiB of deflated zeros
    (about 1 KB per MiB on disk: a zip bomb); the entry's CRC is not computed (0)."""
    buf = io.BytesIO()
    torch.save({"state_dict": state}, buf)
    zin = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    victim = next(n for n in zin.namelist() if n.endswith("/data/0"))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    mb = bytes(1 << 20)
    first, mid = c.compress(mb) + c.flush(zlib.Z_FULL_FLUSH), c.compress(mb) + c.flush(zlib.Z_FULL_FLUSH)
    bomb = first + mid * (mib - 1) + c.flush(zlib.Z_FINISH)
    out, central = io.BytesIO(), []
    for info in zin.infolist():
        if info.filename == victim:
            body, method, size, crc = bomb, 8, mib << 20, 0
        else:
            body = zin.read(info.filename)
            method, size, crc = 0, len(body), zlib.crc32(body)
        name, offset = info.filename.encode(), out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(body), size, len(name), 0))
        out.write(name + body)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(body),
                                   size, len(name), 0, 0, 0, 0, 0, offset) + name)
    start = out.tell()
    out.write(b"".join(central))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    path.write_bytes(out.getvalue())
