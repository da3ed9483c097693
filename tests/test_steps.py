"""The step declarations (analysis/pipeline/steps.py) drive the keys, the CLI, the report's checks and the Makefile."""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from analysis import artifacts, cli
from analysis.pipeline import steps
from analysis.pipeline.config import load_config
from analysis.pipeline.provenance import read_manifest
from conftest import SMOKE

ROOT = Path(__file__).resolve().parents[1]
ANALYSIS = ROOT / "analysis"
#: Modules every step uses that hold no computation of their outputs: editing them does
#: not re-run a step (the key's own hashing and the files' sha256 cover what they do).
INFRASTRUCTURE = {"pipeline.config", "errors", "pipeline.storage", "pipeline.provenance", "pipeline.steps", "__init__",
                  "science.__init__", "steps.__init__", "pipeline.__init__"}


#: The subpackages of analysis whose modules a step may import by name (``from analysis.science import geometry``).
PACKAGES = ("schemas", "science", "steps", "pipeline")


def _analysis_imports(module: str) -> set[str]:
    """The analysis modules ``module`` imports (``schemas.stats`` for ``analysis/schemas/stats.py``)."""
    tree = ast.parse((ANALYSIS / f"{module.replace('.', '/')}.py").read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("analysis", *(f"analysis.{p}" for p in PACKAGES)):
            prefix = node.module.removeprefix("analysis").lstrip(".")
            out |= {f"{prefix}.{a.name}".lstrip(".") for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis."):
            out.add(node.module.removeprefix("analysis."))
        elif isinstance(node, ast.Import):
            out |= {a.name.removeprefix("analysis.") for a in node.names if a.name.startswith("analysis.")}
    return {m for m in out if (ANALYSIS / f"{m.replace('.', '/')}.py").is_file()} - INFRASTRUCTURE


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += sorted(_analysis_imports(m))
    return seen


ALL_STEPS = steps.STEPS + steps.CONFIG_STEPS


@pytest.mark.parametrize("step", ALL_STEPS, ids=[s.name for s in ALL_STEPS])
def test_declared_code_is_what_the_step_imports(step):
    """A step's key hashes exactly the modules its computation runs (all it imports from analysis)."""
    assert set(step.code) == _closure(step.module), step.name
    assert len(set(step.code)) == len(step.code)


@pytest.mark.parametrize("step", ALL_STEPS, ids=[s.name for s in ALL_STEPS])
def test_the_key_follows_the_declared_config_entries(step):
    base = load_config(None, [])
    inputs = {"x": "0" * 64}
    key = steps.step_key(step, base, inputs)
    assert steps.step_key(step, load_config(None, []), inputs) == key
    assert steps.step_key(step, base, {"x": "1" * 64}) != key  # inputs count
    changes = {"data.limit=7": "data", "model.latent_dim=8": "model", "train.epochs=2": "train",
               "encode.batch_size=7": "encode", "stats.bins=7": "stats", "generate.k=7": "generate",
               "run.seed=7": "run.seed", "data.val_fraction=0.3": "data.val_fraction",
               "report.title=\"x\"": "report", "runs.seeds=[0,1]": "runs", "runs.lean=false": "runs"}
    for override, entry in changes.items():
        other = steps.step_key(step, load_config(None, [override]), inputs)
        declared = steps.depends_on(step, override.split("=")[0])
        assert (other != key) == declared, (step.name, override, entry)
    for override in ("run.threads=1", "data.workers=2", "train.checkpoint_interval=5", "run.device=\"cpu\""):
        assert steps.step_key(step, load_config(None, [override]), inputs) == key, (step.name, override)


def test_inputs_come_from_earlier_steps():
    names = list(steps.NAMES)
    for step in steps.STEPS:
        for need in step.needs:
            assert names.index(need) < names.index(step.name), (step.name, need)
        assert set(step.optional) <= set(step.inputs)
    assert steps.ADOPT.outputs == steps.TRAIN.outputs and steps.ADOPT.volatile == ()


def test_one_list_of_steps():
    assert cli.STEPS == steps.NAMES == artifacts.STEPS
    assert set(steps.SUBDIRS) == {"data", "train", "encode", "stats", "faces", "decode", "generate", "claims", "across"}
    assert steps.CONFIG_NAMES == ("across",) and not set(steps.CONFIG_NAMES) & set(steps.NAMES)
    for file, writer in artifacts.WRITER.items():
        assert file == artifacts.CONFIG or file in steps.declaration(writer).outputs + steps.declaration(writer).volatile


def test_manifests_list_the_declared_outputs(smoke_run):
    for name in ("fetch", "train", "encode"):
        m = read_manifest(smoke_run, name)
        s = steps.declaration_of(name, m)
        assert set(m["outputs"]) == set(s.outputs), name
        assert m.get("volatile", []) == list(s.volatile), name
        assert set(m["inputs"]) >= set(s.inputs), name


@pytest.mark.parametrize("threads", [1, 0])
def test_a_step_computes_with_run_threads_blas_threads(smoke_run, tmp_path, monkeypatch, threads):
    """run.threads limits the BLAS pools of numpy, scipy and scikit-learn while a step computes (make's
    runs side by side set 1); 0 leaves the libraries' defaults (here the suite's OMP_NUM_THREADS)."""
    import shutil

    from threadpoolctl import threadpool_info, threadpool_limits

    from analysis.steps import stats

    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    seen = []

    class Stop(Exception):
        pass

    def compute(*a, **k):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        raise Stop

    monkeypatch.setattr(stats, "compute", compute)
    cfg = load_config(SMOKE, [f"run.threads={threads}"])
    with threadpool_limits(2, user_api="blas"):  # as in a process on 2 cores
        with pytest.raises(Stop):
            steps.run("stats", cfg, run)
        after = {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}
    assert seen == [{1} if threads == 1 else {2}], seen
    assert after == {2}  # restored when the step ends


def test_an_up_to_date_step_is_decided_before_its_module_is_imported(tmp_path_factory, tmp_path):
    """A current step says so without importing its module and what it needs (torch, scikit-learn: two to
    three seconds of every such process, as when make asks a finished run's steps again)."""
    import shutil
    import sys

    from test_report import smoke_run as finished_run

    run = tmp_path / "run"
    shutil.copytree(finished_run(tmp_path_factory), run)
    heavy = ("torch", "sklearn", "analysis.steps.generate", "analysis.steps.decode")
    code = ("import sys; from analysis.pipeline import steps; from analysis.pipeline.config import load_config; "
            f"cfg = load_config({str(SMOKE)!r}); [steps.run(s, cfg, {str(run)!r}) for s in ('generate', 'decode')]; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr[-2000:]
    assert "generate: up to date" in p.stderr and "decode: up to date" in p.stderr, p.stderr
    assert p.stdout.strip() == "[]", p.stdout


def _make_database(run: str, config: str, *variables: str, order_only: bool = False) -> dict[str, set[str]]:
    """Targets and prerequisites of make's database (rules of the Makefile and report/report.mk),
    pattern rules included; with ``order_only``, their order-only prerequisites instead."""
    p = subprocess.run(["make", "-pn", "-o", "setup", "-o", ".venv/.installed", f"RUN={run}", f"CONFIG={config}",
                        *variables, "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rules = {}
    for line in p.stdout.splitlines():
        if line.startswith(run + "/") and ": " in line and not line.startswith("#"):
            target, _, prereqs = line.partition(": ")
            target = target.removesuffix(":")  # a grouped target (&:)
            normal, _, after = prereqs.partition("|")
            rules[target] = set((after if order_only else normal).split())
    return rules


def _wanted(step, run: str, where: str, config: str, first_extra: set[str]) -> set[str]:
    """The prerequisites the declaration of ``step`` asks of its rule for the run in ``where``."""
    want = {f"{where}/{need}.manifest.json" for need in step.needs}
    want |= {f"analysis/{module.replace('.', '/')}.py" for module in step.code}
    if step is steps.STEPS[0]:
        want |= first_extra
    if step.shared and where != run:  # another run links the primary's outputs: its rule waits for them
        want.add(f"{run}/{step.name}.manifest.json")
    return want


def test_makefile_rules_follow_the_declarations():
    run, config = "/nonexistent/run", "configs/smoke.toml"
    p = subprocess.run(["make", "-s", "--eval", "print-steps: ; @echo $(STEPS)", "print-steps"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert tuple(p.stdout.split()) == steps.NAMES, p.stdout + p.stderr
    rules = _make_database(run, config)
    for step in steps.STEPS:
        want = _wanted(step, run, run, config, {config})  # no outputs: `analysis check` finds deleted ones
        assert rules[f"{run}/{step.name}.manifest.json"] == want, step.name
        assert not {f"{run}/{out}" for out in step.outputs} & set(rules), step.name  # outputs have no rules
    assert f"{run}/across.manifest.json" not in rules  # one run: no across step


@pytest.mark.case("make report of several runs: a run's face tests, the one step off its chain, scheduled while "
                  "its training holds the run's lock",
                  "in the second make (RUNS_SUBMAKE=1) every run's face tests come after its stats (order-only), so "
                  "no job slot waits on a lock; `make faces` alone still needs nothing but the data")
def test_the_face_tests_wait_for_their_runs_chain_only_in_the_second_make():
    run, config = "/nonexistent/run", "configs/smoke.toml"
    others = f"RUN_DIRS={run} {run}/runs/seed1"
    first = _make_database(run, config, others, order_only=True)
    second = _make_database(run, config, others, "RUNS_SUBMAKE=1", order_only=True)
    for where in (run, f"{run}/runs/%"):
        faces = f"{where}/faces.manifest.json"
        assert not first.get(faces) and second[faces] == {f"{where}/stats.manifest.json"}, where
        for step in steps.NAMES:  # nothing else changes order
            target = f"{where}/{step}.manifest.json"
            assert step == "faces" or first.get(target) == second.get(target), target


def test_makefile_rules_of_the_other_runs_follow_the_declarations():
    """The pattern rule of each step of the other runs (runs/<name>/), the across rule and the
    one rule that makes the other runs by a second make."""
    run, config = "/nonexistent/run", "configs/smoke.toml"
    others = [f"{run}/runs/seed1", f"{run}/runs/latent_dim=16"]
    rules = _make_database(run, config, f"RUN_DIRS={run} {' '.join(others)}")
    where = f"{run}/runs/%"
    for step in steps.STEPS:
        want = _wanted(step, run, where, config, {f"{run}/fetch.manifest.json"})  # the primary's image cache first
        assert rules[f"{where}/{step.name}.manifest.json"] == want, step.name
    across = steps.ACROSS
    want = {f"{run}/{need}.manifest.json" for need in across.needs} | {f"analysis/{m.replace('.', '/')}.py" for m in across.code}
    want |= {f"{d}/claims.manifest.json" for d in others}
    assert rules[f"{run}/across.manifest.json"] == want
    code = {f"analysis/{m.replace('.', '/')}.py" for step in steps.STEPS for m in step.code}  # every step's code
    for d in others:  # made together by the second make, with the primary run, once its image cache is there
        assert rules[f"{d}/claims.manifest.json"] == {f"{run}/fetch.manifest.json"} | code
