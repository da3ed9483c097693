"""``python -m analysis schema``: the JSON Schema of every artifact a build writes.

    python -m analysis schema                     list the artifacts and their schema files
    python -m analysis schema stats/stats.json    print one artifact's schema
    python -m analysis schema --out DIR           write every schema into DIR (new, or one this command wrote)

The schemas are exported from the models the steps write with (:mod:`analysis.schemas`) and, for the
resolved ``config.toml`` saved beside every output, from the configuration's models
(:mod:`analysis.pipeline.sections`); ``schemas/`` in the repository holds the current export.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from analysis.pipeline.config import Config, check_path
from analysis.errors import UserError
from analysis.pipeline.storage import atomic_write

MARKER = ".flg-schemas"  # in a directory this command wrote


CONFIG = "config.toml"  # the resolved config beside every output (TOML; its schema is the same as JSON's)


def config_schema() -> dict:
    """The JSON Schema of a resolved ``config.toml`` (read as TOML, the document is the same)."""
    from analysis import schemas

    return schemas.document(Config, CONFIG, "config.schema.json")


def documents() -> dict[str, dict]:
    """Every exported document, file name -> JSON document: the artifacts' and the config's."""
    from analysis import schemas

    return {**schemas.export(), "config.schema.json": config_schema()}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, like every other bad input
        raise UserError(f"bad arguments: {message}", "see python -m analysis schema --help")


def _dumps(doc: dict) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode()


def _check_out(out: Path, names: set[str]) -> None:
    """``out`` is new, empty, or a directory this command wrote (its marker, and only schema files)."""
    check_path("--out", out)
    if os.path.islink(out) or (out.exists() and not out.is_dir()):
        raise UserError(f"--out {out} is not a directory", "give a new directory, e.g. --out schemas")
    if not out.exists():
        return
    held = {p.name for p in out.iterdir()}
    if held and (MARKER not in held or held - names - {MARKER}):
        raise UserError(f"--out {out} holds files this command did not write",
                        "give a new or empty directory, or one an earlier 'schema --out' wrote")
    for name in held & names:
        if os.path.islink(out / name):
            raise UserError(f"--out {out}: {name} is a link", "remove it or give another directory")


def main(argv: list[str]) -> int:
    """Run the command; raises UserError on bad input (the caller prints it and exits 2)."""
    from analysis import schemas

    p = _Parser(prog="python -m analysis schema", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("artifact", nargs="?", help="an artifact's path in a run directory, e.g. stats/stats.json")
    p.add_argument("--out", type=Path, help="write every schema into this directory")
    args = p.parse_args(argv)
    files = {**{f: "json" for f in schemas.JSON_FILES}, **{f: "arrays" for f in schemas.ARRAY_FILES}, CONFIG: "config"}
    if args.artifact is not None and args.out is not None:
        raise UserError("give an artifact or --out, not both", "python -m analysis schema --out DIR")
    if args.artifact is not None:
        if args.artifact not in files:
            raise UserError(f"no artifact {args.artifact!r}", "one of: " + ", ".join(files))
        kind = files[args.artifact]
        doc = (config_schema() if kind == "config" else
               (schemas.json_schema if kind == "json" else schemas.array_schema)(args.artifact))
        sys.stdout.write(_dumps(doc).decode())
        return 0
    if args.out is None:
        for f in files:
            print(f"{f:<28} {'config.schema.json' if f == CONFIG else schemas.schema_name(f)}")
        return 0
    docs = documents()
    _check_out(args.out, set(docs))
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out / MARKER, b"JSON Schemas written by python -m analysis schema --out (face-latent-geometry)\n")
    for name, doc in docs.items():
        atomic_write(args.out / name, _dumps(doc))
    print(f"wrote {len(docs)} schemas to {args.out}")
    return 0
