"""The contract between the analysis and the article (issue 12).

* The chapters only narrate: their code imports nothing but the reader (through
  ``flg.run`` or :mod:`analysis.artifacts`), ``flg``'s display helpers and the public
  chart builders, reads no file, loads no model and computes no figure (no
  arithmetic, no ordering comparisons, no ``.get`` with a default, no private helpers).
* Every value a chapter reads comes through the typed reader, which checks every view
  of the smoke run on construction (``test_artifacts.py`` walks their types).
* A missing key or file fails the build with one line naming the chapter, the file and
  the key; a run without timing never claims "0 s on the cpu".
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import sys

import numpy as np
import pytest

from test_report import (ALL_CHAPTERS, BUILD, CHAPTERS, REPORT, page_text, reduced_source, report, run,  # noqa: F401
                         smoke_run)

ALLOWED_IMPORTS = {"flg", "analysis.charts", "analysis.artifacts", "analysis.words",  # words: number formats, no I/O
                   "analysis.prose"}  # prose: the article's own sentences, no I/O
FORBIDDEN_NAMES = {"open", "Path", "np", "numpy", "torch", "math", "json", "tomllib", "os", "io", "pickle",
                   "load_config", "sum", "min", "max", "abs", "round", "eval", "exec", "__import__", "getattr"}
FORBIDDEN_METHODS = {"get", "load", "loads", "read_text", "read_bytes", "open", "imread", "mean", "sum", "min",
                     "max", "argmin", "argmax", "argsort", "quantile", "sqrt", "astype", "cumsum", "std"}
FORBIDDEN_OPS = (ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Pow, ast.Mod, ast.MatMult)
ORDERINGS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def code_cells(chapter: str) -> list[str]:
    from myst_nb.core.read import read_myst_markdown_notebook
    nb = read_myst_markdown_notebook((REPORT / f"{chapter}.md").read_text(encoding="utf-8"))
    return [c.source for c in nb.cells if c.cell_type == "code"]


def narration_problems(source: str) -> list[str]:
    """What in ``source`` (a chapter's code) is more than narration."""
    out = []
    for node in ast.walk(ast.parse(source)):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            out += [f"{where}: import {a.name}" for a in node.names if a.name not in ALLOWED_IMPORTS]
        elif isinstance(node, ast.ImportFrom):
            mods = {f"{node.module}.{a.name}" for a in node.names} if node.module == "analysis" else {node.module}
            out += [f"{where}: from {node.module} import ..." for m in mods if m not in ALLOWED_IMPORTS]
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            out.append(f"{where}: uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            out.append(f"{where}: uses .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in FORBIDDEN_METHODS:
            out.append(f"{where}: calls .{node.func.attr}()")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, FORBIDDEN_OPS):
            out.append(f"{where}: computes ({type(node.op).__name__})")
        elif isinstance(node, ast.Compare) and any(isinstance(op, ORDERINGS) for op in node.ops):
            out.append(f"{where}: compares against a threshold")
    return out


@pytest.mark.parametrize("chapter", ["index", *ALL_CHAPTERS])
def test_chapters_only_narrate(chapter):
    problems = [f"cell {i}, {p}" for i, src in enumerate(code_cells(chapter), 1) for p in narration_problems(src)]
    assert not problems, f"{chapter}.md does more than narrate: " + "; ".join(problems)


def test_the_narration_check_catches_analysis_in_a_chapter():
    bad = {
        "import numpy as np": "import numpy",
        "from analysis.steps.train import split_indices": "from analysis.steps.train",
        "from analysis import stats": "from analysis import",
        "x = open('stats/stats.json').read()": "uses open",
        "z = run.arrays.corr.mean()": "calls .mean()",
        "ratio = S.components.std_max / S.components.std_min": "computes (Div)",
        "v = S.components.__dict__": "uses .__dict__",
        "plt = charts._plt()": "uses ._plt",
        "x = run.stats.b.get('used', 0)": "calls .get()",
        "p = run.path / 'stats' / 'stats.json'": "computes (Div)",
        "big = S.components.share_off_centre >= 0.5": "compares against a threshold",
        "t = sum(e.seconds for e in run.timing.epochs)": "uses sum",
    }
    for src, needle in bad.items():
        assert any(needle in p for p in narration_problems(src)), (src, narration_problems(src))
    assert narration_problems("import flg\nfrom flg import g, run\nfrom analysis import charts\n"
                              "g('x', run.stats.components.std_ratio, '.3g')") == []


@pytest.mark.parametrize("module", ["flg.py", "ledgertables.py"])
def test_flg_reads_no_files_and_runs_no_model(module):
    tree = ast.parse((REPORT / module).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {f"{n.module}.{a.name}" if n.module == "analysis" else n.module
                 for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not {m for m in imported if m.startswith(("torch", "analysis"))} - ALLOWED_IMPORTS, imported
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not calls & {"open", "load", "read_text", "read_bytes", "imread", "load_config", "load_checkpoint"}, calls


# --------------------------------------------------------------------------- the build keeps the contract

def _break(rundir, what):
    """Remove one value, as a step of older code would have left it: the manifests vouch for
    the new file (so the report's provenance check passes and the chapter meets the gap)."""
    rel = {"stats-key": "stats/stats.json", "timing-file": None, "array": "stats/arrays.npz",
           "metrics-key": "generate/metrics.json", "decode-array": "decode/planes.npz"}[what]
    old = hashlib.sha256((rundir / rel).read_bytes()).hexdigest() if rel else None
    _remove(rundir, what)
    if rel:
        new = hashlib.sha256((rundir / rel).read_bytes()).hexdigest()
        for m in rundir.glob("*.manifest.json"):
            m.write_text(m.read_text().replace(old, new))


def _remove(rundir, what):
    if what == "stats-key":
        p = rundir / "stats" / "stats.json"
        s = json.loads(p.read_text())
        del s["components"]["std_ratio"]
        p.write_text(json.dumps(s))
    elif what == "timing-file":
        (rundir / "train" / "timing.json").unlink()
    elif what == "array":
        p = rundir / "stats" / "arrays.npz"
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files if k != "corr"}
        np.savez(p, **arrays)
    elif what == "decode-array":
        p = rundir / "decode" / "planes.npz"
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files if k != "face"}
        np.savez(p, **arrays)
    elif what == "metrics-key":
        p = rundir / "generate" / "metrics.json"
        g = json.loads(p.read_text())
        del g["settings"]["copy_share_limit"]
        p.write_text(json.dumps(g))


@pytest.mark.case("an artifact lacking a key, an array or a file a chapter reads",
                  "the report build fails (exit 1, nothing published) with one line naming the chapter, the cell, "
                  "the file and the key")
@pytest.mark.parametrize("chapter, what, message", [
    ("02-components", "stats-key", "ArtifactError: stats/stats.json: missing key 'components.std_ratio'"),
    ("01-setup", "timing-file", "ArtifactError: train/timing.json: does not exist in"),
    ("03-correlations", "array", "ArtifactError: stats/arrays.npz: missing array 'corr'"),
    ("05-generating", "metrics-key", "ArtifactError: generate/metrics.json: missing key 'settings.copy_share_limit'"),
    ("06-decoder", "decode-array", "ArtifactError: decode/planes.npz: missing array 'face'"),
], ids=["stats-key", "timing-file", "array", "metrics-key", "decode-array"])
def test_a_missing_value_fails_the_build_naming_chapter_file_and_key(tmp_path_factory, tmp_path, chapter, what,
                                                                     message):
    rundir = tmp_path / "run"
    shutil.copytree(smoke_run(tmp_path_factory), rundir)
    _break(rundir, what)
    src = reduced_source(tmp_path / "src", [chapter])
    site = tmp_path / "site"
    p = run([sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", "html", "--source", src])
    assert p.returncode == 1, p.stderr[-3000:]
    line = next(ln for ln in p.stderr.splitlines() if ln.startswith("report: error:"))
    assert f"chapter {chapter}.md (" in line and " failed in code cell " in line, line
    assert message in line, line
    assert not any(site.glob("0*")), "a failed build was published"


def test_training_time_and_device_are_stated_truly(report):
    timing = json.loads((report["run"] / "train" / "timing.json").read_text())
    seconds = sum(e["seconds"] for e in timing["epochs"])
    assert timing["device"] == "cpu" and timing["threads"] == 1 and seconds > 0
    text = page_text(report["dir"] / "01-setup.html")
    assert f"Training took {seconds:.3g} s on the CPU (1 thread)." in text, text[:3000]
    assert "0 s on the cpu" not in text


def test_generating_chapter_says_how_the_repetitions_chose_the_mixture(tmp_path_factory, tmp_path):
    """The chapter's sentence on the gmm's selection follows the per-repetition choices (here made to differ,
    with the manifests vouching for the edited file), and their table appears only then."""
    from analysis.artifacts import Run

    rundir = tmp_path / "run"
    shutil.copytree(smoke_run(tmp_path_factory), rundir)
    p = rundir / "generate" / "metrics.json"
    old = hashlib.sha256(p.read_bytes()).hexdigest()
    g = json.loads(p.read_text())
    sel = g["gmm_selection"]
    other = next(c for c in sel["candidates"] if c["heldout_loglik"] is not None
                 and (c["n_components"], c["covariance_type"]) != (sel["chosen"]["n_components"],
                                                                   sel["chosen"]["covariance_type"]))
    for entry in sel["per_repeat"][1:3]:
        entry.update(n_components=other["n_components"], covariance_type=other["covariance_type"])
    counts = [(e["n_components"], e["covariance_type"]) for e in sel["per_repeat"]]
    modal = max(counts, key=lambda c: (counts.count(c), -counts.index(c)))
    sel.update(modal={"n_components": modal[0], "covariance_type": modal[1]}, agreement=counts.count(modal))
    p.write_text(json.dumps(g))
    new = hashlib.sha256(p.read_bytes()).hexdigest()
    for m in rundir.glob("*.manifest.json"):
        m.write_text(m.read_text().replace(old, new))
    view = Run(rundir).generate.gmm_selection
    assert view.varied and view.choice_text.startswith("the choice varied")
    src = reduced_source(tmp_path / "src", ["05-generating"])
    site = tmp_path / "site"
    proc = run([sys.executable, BUILD, "--run", rundir, "--site", site, "--formats", "html", "--source", src])
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = page_text(next(site.glob("*/05-generating.html")))
    assert f"across the {view.repeats} repetitions, {view.choice_text}." in " ".join(text.split())
    assert "of the choice" in text  # the per-repetition table
