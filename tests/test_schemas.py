"""Each artifact's schema is declared once (analysis/schemas/): the steps write with it, the reader
reads with it, and its JSON Schema export (schemas/ in the repository) describes every file a build writes."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from analysis import schemacli, schemas
from analysis.pipeline import steps
from analysis.schemas.base import ArtifactError, validate_json
from analysis.schemas.stats import Stats
from analysis.pipeline.storage import save_json
from conftest import ROOT, assert_user_error, run_cli
import test_report

SHIPPED = ROOT / "schemas"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return test_report.smoke_run(tmp_path_factory)


def _files(run_dir: Path) -> dict[str, Path]:
    """Every JSON artifact of the run (manifests under the ``<step>.manifest.json`` pattern)."""
    out = {f: run_dir / f for f in schemas.JSON_FILES if (run_dir / f).is_file()}
    out.update({f"{s}.manifest.json": run_dir / f"{s}.manifest.json" for s in steps.NAMES})
    return out


def test_every_artifact_of_a_build_validates_against_its_exported_json_schema(run_dir):
    docs = schemas.export()
    found = _files(run_dir)
    # every JSON artifact the smoke build writes (across/ only with several runs: tests/test_runs.py)
    assert set(schemas.JSON_FILES) - set(found) == {schemas.F.ACROSS_LEDGER, schemas.F.ACROSS_RUNS, schemas.MANIFEST}
    for file, path in found.items():
        key = schemas.MANIFEST if file.endswith(".manifest.json") else file
        schema = docs[schemas.schema_name(key)]
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(json.loads(path.read_text()), schema, cls=jsonschema.Draft202012Validator)
    for file, cls in schemas.ARRAY_FILES.items():  # and every array file has the arrays its schema names
        spec = docs[schemas.schema_name(file)]["arrays"]
        with np.load(run_dir / file, allow_pickle=False) as z:
            assert set(spec) <= set(z.files), file
            for name, want in spec.items():
                assert z[name].ndim == len(want["shape"]) and z[name].dtype.kind in want["dtype_kind"], (file, name)


def test_the_exported_schema_refuses_what_the_reader_refuses(run_dir):
    schema = schemas.json_schema(schemas.F.STATS)
    doc = json.loads((run_dir / schemas.F.STATS).read_text())
    del doc["origin"]["mahalanobis"]
    with pytest.raises(jsonschema.ValidationError, match="mahalanobis"):
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(ArtifactError, match=r"^stats/stats\.json: missing key 'origin\.mahalanobis'$"):
        validate_json(Stats, json.dumps(doc), "stats/stats.json")


def test_the_resolved_config_validates_against_its_exported_json_schema(run_dir):
    import tomllib

    schema = schemacli.config_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = tomllib.loads((run_dir / "config.toml").read_text())
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    doc["stats"]["bins"] = 1  # below its minimum: the schema refuses it as the config does
    with pytest.raises(jsonschema.ValidationError, match="minimum"):
        jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    assert schema["$defs"]["StatsConfig"]["properties"]["bins"]["description"]  # the keys are documented


def test_the_shipped_schemas_are_the_current_export():
    """schemas/ is what `python -m analysis schema --out schemas` writes from the models (regenerate it)."""
    docs = schemacli.documents()
    shipped = {p.name for p in SHIPPED.glob("*.schema.json")}
    assert shipped == set(docs), "run: python -m analysis schema --out schemas"
    for name, doc in docs.items():
        assert json.loads((SHIPPED / name).read_text()) == doc, f"{name} is stale: python -m analysis schema --out schemas"


def _imports(module: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis.schemas"):
            names |= {a.name for a in node.names}
    return names


@pytest.mark.parametrize("file", [f for f in schemas.JSON_FILES if f != schemas.MANIFEST])
def test_the_writer_and_the_reader_import_the_same_model(file):
    model = schemas.JSON_FILES[file]
    names = {getattr(m, "__name__", "") for m in getattr(model, "__args__", (model,))}
    reader = ("artifacts", "runfiles", "runviews")
    step = steps.declaration(steps.producer(file))
    writer = [ROOT / "analysis" / f"{m.replace('.', '/')}.py" for m in step.code if m not in reader and not m.startswith("schemas.")]
    assert names & set().union(*map(_imports, writer)), (file, step.name, names)  # the step or one of its parts
    assert names <= set().union(*(_imports(ROOT / "analysis" / f"{m}.py") for m in reader)), (file, names)


def test_a_writer_cannot_save_what_its_reader_would_refuse(tmp_path):
    path = tmp_path / "stats" / "stats.json"
    path.parent.mkdir()
    with pytest.raises(ArtifactError, match=r"^stats/stats\.json: missing key 'n'$"):
        save_json(path, {"N": 3}, Stats)
    assert not path.exists() and list(path.parent.iterdir()) == []  # nothing written, no temporary left


@pytest.mark.case("python -m analysis schema with an artifact it does not know, or --out a directory of other files",
                  "exit 2, one line naming the problem and the fix; nothing written into the user's directory")
def test_the_schema_command(tmp_path):
    p = run_cli("schema")
    assert p.returncode == 0 and "stats/stats.json" in p.stdout and "stats.stats.schema.json" in p.stdout
    p = run_cli("schema", "stats/stats.json")
    assert p.returncode == 0 and json.loads(p.stdout) == schemas.json_schema("stats/stats.json")
    assert_user_error(run_cli("schema", "stats/nope.json"), "no artifact", "stats/stats.json")
    out = tmp_path / "out"
    p = run_cli("schema", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert {q.name for q in out.glob("*.schema.json")} == set(schemacli.documents())
    p = run_cli("schema", "config.toml")
    assert p.returncode == 0 and json.loads(p.stdout) == schemacli.config_schema()
    assert run_cli("schema", "--out", str(out)).returncode == 0  # its own directory: written again
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert_user_error(run_cli("schema", "--out", str(mine)), "did not write")
    assert [q.name for q in mine.iterdir()] == ["notes.txt"]
    shutil.rmtree(out)
