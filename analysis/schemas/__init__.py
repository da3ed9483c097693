"""Every artifact's schema, declared once: the step that writes a file validates it against its model
before saving it, and the reader (:mod:`analysis.artifacts`) validates it into the same model.

:data:`JSON_FILES` maps each JSON artifact (relative to a run directory) to its schema,
:data:`ARRAY_FILES` each array file to the model of its arrays (name, shape, dtype kind).
``python -m analysis schema --out DIR`` exports them as JSON Schema files (``schemas/`` in the
repository holds the current export), so other tools can read a build's outputs.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from analysis.schemas import files as F
from analysis.schemas.across import AcrossClaim, AcrossRuns
from analysis.schemas.base import array_specs
from analysis.schemas.claims import Claim, ClaimsArrays, ClaimsDetails
from analysis.schemas.data import DataInfo
from analysis.schemas.decode import Decode, DecodedPaths, DecodedPlanes
from analysis.schemas.encode import EncodeSummary, Gallery, Reconstructions
from analysis.schemas.faces import FaceCalibration, FaceExamples
from analysis.schemas.generate import Generate
from analysis.schemas.provenance import Manifest
from analysis.schemas.stats import Stats, StatsArrays
from analysis.schemas.train import AdoptedHistory, Timing, TrainedHistory

#: The manifest every step writes last (``<step>.manifest.json``), by this pattern.
MANIFEST = "<step>.manifest.json"

#: Each JSON artifact and its schema (a model, or a type such as a list of rows).
JSON_FILES: dict[str, Any] = {
    F.DATA_INFO: DataInfo,
    F.HISTORY: TrainedHistory | AdoptedHistory,
    F.TIMING: Timing,
    F.ENCODE_SUMMARY: EncodeSummary,
    F.STATS: Stats,
    F.FACES: FaceCalibration,
    F.METRICS: Generate,
    F.CLAIMS: list[Claim],
    F.CLAIMS_DETAILS: ClaimsDetails,
    F.DECODE: Decode,
    F.ACROSS_LEDGER: list[AcrossClaim],
    F.ACROSS_RUNS: AcrossRuns,
    MANIFEST: Manifest,
}

#: Each array file (``.npz``) and the model of its arrays.
ARRAY_FILES: dict[str, Any] = {
    F.RECONSTRUCTIONS: Reconstructions,
    F.GALLERY: Gallery,
    F.ARRAYS: StatsArrays,
    F.FACES_EXAMPLES: FaceExamples,
    F.CLAIMS_ARRAYS: ClaimsArrays,
    F.DECODE_PLANES: DecodedPlanes,
    F.DECODE_PATHS: DecodedPaths,
}

#: JSON Schema's dialect of the exported files.
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_name(file: str) -> str:
    """The exported file's name: ``stats/stats.json`` -> ``stats.stats.schema.json``."""
    stem = file.replace("<step>", "step").replace("/", ".").rsplit(".", 1)[0]
    return f"{stem}.schema.json"


def json_schema(file: str) -> dict:
    """The JSON Schema of a JSON artifact (a key of :data:`JSON_FILES`)."""
    return document(JSON_FILES[file], file, schema_name(file))


def document(tp: Any, title: str, schema_id: str) -> dict:
    """The JSON Schema of ``tp`` (a model, or a type such as a list of rows) as an exported document:
    ``title`` the file it describes, ``schema_id`` the exported file's name, the description its docstring."""
    schema = TypeAdapter(tp).json_schema(by_alias=True)
    schema.pop("title", None)
    return {"$schema": DIALECT, "$id": schema_id, "title": title,
            "description": schema.pop("description", "").strip() or f"{title}, as the steps write it", **schema}


def array_schema(file: str) -> dict:
    """An array file's arrays as a JSON document: each name's shape (sizes, or symbols the reader
    resolves from the JSON artifacts) and dtype kinds (numpy's ``dtype.kind`` letters)."""
    cls = ARRAY_FILES[file]
    return {"file": file, "format": "numpy .npz (allow_pickle=False)", "description": (cls.__doc__ or "").strip(),
            "arrays": {name: {"shape": list(shape), "dtype_kind": kinds,
                              **({"description": d} if (d := cls.model_fields[name].description) else {})}
                       for name, (shape, kinds) in array_specs(cls).items()}}


def export() -> dict[str, dict]:
    """Every exported document, file name -> JSON document."""
    out = {schema_name(f): json_schema(f) for f in JSON_FILES}
    out.update({schema_name(f): array_schema(f) for f in ARRAY_FILES})
    return out
