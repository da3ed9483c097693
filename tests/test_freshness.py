"""Freshness decided once (issue 24, item 4): ``steps.status`` says whether a step's outputs are current,
and the runner, ``python -m analysis check`` (hence the Makefile) and the report's gate all ask it; a
step's key covers the code it runs, not the article's own sentences."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from analysis import cli
from analysis.pipeline import provenance, steps
from analysis.pipeline.config import load_config
from analysis.pipeline.provenance import CURRENT, KEY_CHANGED, NEVER_RUN, OUTPUTS_CHANGED

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS = ROOT / "analysis"
SMOKE = ROOT / "configs" / "smoke.toml"
ALL = (*steps.STEPS, steps.ADOPT, *steps.CONFIG_STEPS)


@pytest.fixture
def run(smoke_run, tmp_path) -> Path:
    """A copy of the smoke run (fetch, train and encode done)."""
    return Path(shutil.copytree(smoke_run, tmp_path / "run", symlinks=True))


@pytest.fixture
def source(tmp_path, monkeypatch) -> Path:
    """An editable copy of the analysis package's sources, which the keys are now computed from."""
    copy = Path(shutil.copytree(ANALYSIS, tmp_path / "src" / "analysis", ignore=shutil.ignore_patterns("__pycache__")))
    monkeypatch.setattr(provenance, "SOURCE", copy)
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _code_keys() -> dict[str, tuple[str, dict]]:
    """Each step's code as its key and its manifest cover it."""
    return {s.name + ("/adopt" if s is steps.ADOPT else ""): (provenance.code_hash(*s.code),
                                                               provenance.module_hashes(*s.code)) for s in ALL}


# --------------------------------------------------------------------------- the one decision

def test_status_says_current_never_run_key_changed_or_outputs_changed(run, source):
    cfg = load_config(SMOKE)
    assert steps.status("encode", cfg, run).state == CURRENT
    assert steps.status("stats", cfg, run).state == NEVER_RUN
    other = steps.status("encode", load_config(SMOKE, ["encode.batch_size=7"]), run)
    assert other.state == KEY_CHANGED and other.changed == ("config",), other
    assert "encode.batch_size" in other.problem and not other.current
    assert steps.status("encode", load_config(SMOKE, ["run.threads=1"]), run).current  # where it runs: no part
    _edit(source / "steps" / "encode.py", '"""', '"""(edited) ', )
    edited = steps.status("encode", cfg, run)
    assert edited.state == KEY_CHANGED and edited.changed == ("code",), edited
    assert "analysis/steps/encode.py" in edited.problem and "trainparts" not in edited.problem
    assert steps.status("fetch", cfg, run).current  # fetch does not run encode's code


def test_status_names_changed_inputs_and_outputs(run):
    cfg = load_config(SMOKE)
    manifest = run / "encode.manifest.json"
    m = json.loads(manifest.read_text())
    m["inputs"]["data/ids.txt"] = "0" * 64  # as if it had read another ids.txt
    manifest.write_text(json.dumps(m))
    got = steps.status("encode", cfg, run)
    assert got.state == KEY_CHANGED and got.changed == ("inputs",) and "data/ids.txt" in got.problem, got
    (run / "train" / "history.json").unlink()
    got = steps.status("train", cfg, run)
    assert got.state == OUTPUTS_CHANGED and got.problem == "train/history.json was deleted", got
    assert steps.status("train", cfg, run, outputs=False).current  # (the report's gate checks outputs itself)


def test_manifests_record_the_code_their_key_covers(smoke_run):
    for name in ("fetch", "train", "encode"):
        m = provenance.read_manifest(smoke_run, name)
        assert m["code"] == provenance.module_hashes(*steps.declaration(name).code), name


def test_a_manifest_without_code_hashes_falls_back_on_its_key(run, source):
    """Manifests of older versions record no code: the key alone says whether it changed."""
    cfg = load_config(SMOKE)
    manifest = run / "encode.manifest.json"
    m = json.loads(manifest.read_text())
    del m["code"]
    manifest.write_text(json.dumps(m))
    assert steps.status("encode", cfg, run).current
    _edit(source / "steps" / "trainsave.py", '"""', '"""(edited) ')
    got = steps.status("encode", cfg, run)
    assert got.changed == ("code",) and "analysis/steps/encode.py or another of its" in got.problem, got


def test_the_runner_decides_with_status_and_says_why(run, capsys):
    cfg = load_config(SMOKE)
    before = (run / "encode.manifest.json").read_bytes()
    steps.run("encode", cfg, run)
    assert "encode: up to date" in capsys.readouterr().err
    assert (run / "encode.manifest.json").read_bytes() == before
    steps.run("encode", load_config(SMOKE, ["encode.batch_size=7"]), run)
    err = capsys.readouterr().err
    assert "encode: its key changed since it ran: config (encode.batch_size); running the step again" in err, err
    assert steps.status("encode", load_config(SMOKE, ["encode.batch_size=7"]), run).current


# --------------------------------------------------------------------------- check, hence make

def _check(capsys, run, *args) -> tuple[list[str], str]:
    assert cli.main(["check", "--config", str(SMOKE), "--out", str(run), *args]) == 0
    out = capsys.readouterr()
    return [Path(line).name for line in out.out.splitlines()], out.err


def test_check_lists_steps_whose_key_changed(run, source, capsys):
    assert _check(capsys, run) == ([], "")
    listed, err = _check(capsys, run, "--set", "encode.batch_size=7")  # make's ARGS: no file time shows it
    assert listed == ["encode.manifest.json"], err
    assert "check: encode: its key changed since it ran: config (encode.batch_size)" in err
    _edit(source / "steps" / "trainsave.py", '"""', '"""(edited) ')  # train's code (and encode's)
    listed, err = _check(capsys, run)
    assert listed == ["train.manifest.json"], err  # encode's turn comes after train's
    assert "check: train: its key changed since it ran: code (analysis/steps/trainsave.py)" in err
    (run / "encode" / "gallery.npz").unlink()  # a later step's edited outputs are still listed
    listed, err = _check(capsys, run)
    assert listed == ["train.manifest.json", "encode.manifest.json"], err
    assert "check: encode: encode/gallery.npz was deleted" in err


@pytest.mark.case("make with ARGS='--set encode.batch_size=7' after a finished run (no file is newer than its "
                  "manifest)",
                  "python -m analysis check lists the step whose key changed (naming the config entry) and make "
                  "re-runs that step, not the ones before it")
def test_make_reruns_a_step_whose_key_changed_without_a_newer_file(run):
    """``--set`` in make's ARGS changes no file time: make learns it from check, which asks status."""
    def dry_run(*args: str) -> str:
        p = subprocess.run(["make", "-n", "-o", "setup", "-o", ".venv/.installed", "encode", f"CONFIG={SMOKE}",
                            f"RUN={run}", *args], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        return p.stdout

    now = time.time()  # a finished run: each manifest newer than the one before it (and than the code)
    for i, step in enumerate(("fetch", "train", "encode")):
        os.utime(run / f"{step}.manifest.json", (now - 3 + i, now - 3 + i))
    assert "-m analysis" not in dry_run()
    out = dry_run("ARGS=--set encode.batch_size=7")
    assert "-m analysis encode" in out and "-m analysis train" not in out, out


# --------------------------------------------------------------------------- the report's gate

@pytest.mark.case("the report's gate (report/artifacts.py, run by report/build.py before Sphinx) on a run whose "
                  "step's code was edited since it ran",
                  "refused with one line (build.py: exit 2) naming the step's manifest, the changed files and the "
                  "command that remakes the run")
def test_the_report_gate_refuses_a_step_whose_code_changed(run, source, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "report"))
    import artifacts as gate  # report/artifacts.py

    gate.check_config(run)
    _edit(source / "steps" / "encode.py", '"""', '"""(edited) ')
    with pytest.raises(gate.PublishError) as e:
        gate.check_config(run, str(SMOKE))
    line = str(e.value)
    assert "\n" not in line and str(run / "encode.manifest.json") in line, line
    assert "the encode step is not current: its key changed since it ran: code (analysis/steps/encode.py)" in line
    assert " -- re-run the analysis with that config: python -m analysis all" in line


# --------------------------------------------------------------------------- what a key covers

def test_editing_a_sentence_helper_reruns_no_step(source):
    """The article's own sentences (analysis/prose.py) are in no step's key; the words steps write into
    artifacts (analysis/words.py) are in the keys of exactly the steps that use them."""
    before = _code_keys()
    _edit(source / "prose.py", 'suffix = "th"', 'suffix = "-th"')
    _edit(source / "prose.py", "The weights were computed", "The weights were made")
    assert _code_keys() == before
    _edit(source / "words.py", 'return f"{v:.{digits}f} %"', 'return f"{v:.{digits}f}%"')  # pct, in the ledger
    after = _code_keys()
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {s.name for s in ALL if "words" in s.code} == {"faces", "generate", "claims", "decode", "across"}
    assert not any(m.startswith("report") or m == "prose" for s in ALL for m in s.code)


def _imported_from(module: str) -> set[str]:
    """The names imported from ``analysis.<module>`` by the modules any step's key covers."""
    names = set()
    for m in {m for s in ALL for m in s.code}:
        tree = ast.parse((ANALYSIS / f"{m.replace('.', '/')}.py").read_text(encoding="utf-8"))
        names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == f"analysis.{module}"
                  for a in n.names}
    return names


def _functions(module: str) -> set[str]:
    tree = ast.parse((ANALYSIS / f"{module}.py").read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}


def test_words_holds_only_what_reaches_artifacts():
    """Every function of analysis/words.py is used by a step (so its words reach an artifact, and the
    step's key covers them); a helper only the report uses belongs in analysis/prose.py."""
    assert _functions("words") == _imported_from("words")
    assert _functions("prose") and not _imported_from("prose")
