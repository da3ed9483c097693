"""What every artifact schema shares: the pydantic base, the error that names file and key, the
read-only mapping, the array specification, and validation of a document or a set of arrays.

A schema is a frozen pydantic model validated in strict JSON mode: a float key takes a finite
number (an integer too), an integer key an integer (not 2.0, not true), a list becomes a tuple,
nothing is converted from a string, and nothing is filled in with a default (a key is optional
only where its field says ``= None``: a key the writer adds in some cases only). Keys the model
does not name are ignored, so an artifact may carry more than its schema describes.

A validation error becomes one :class:`ArtifactError` naming the file and the dotted key::

    ArtifactError: stats/stats.json: missing key 'origin.mahalanobis'
    ArtifactError: stats/stats.json: key 'b.used' is the string '1.5', expected a finite number
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Mapping, TypeVar

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = ["Schema", "TableOf", "Arrays", "ArtifactError", "Absent", "Table", "array", "array_specs", "check_arrays",
           "validate", "validate_json", "fix", "writer", "describe"]


class ArtifactError(ValueError):
    """An artifact is missing, unreadable, or lacks a key or has one of the wrong type.

    Parameters
    ----------
    file : str
        The file, relative to the run directory (``stats/stats.json``).
    problem : str
        What is wrong with it, naming the key (``missing key 'b.used'``).
    """

    def __init__(self, file: str, problem: str):
        self.file, self.problem = file, problem
        super().__init__(f"{file}: {problem}")


@dataclass(frozen=True)
class Absent:
    """An optional artifact that this run does not have, and why. False in a boolean test."""

    artifact: str
    reason: str

    def __bool__(self) -> bool:
        return False


class Table(dict):
    """A read-only JSON object of an artifact; a missing key raises :class:`ArtifactError` naming the
    file and the dotted key (the file and key are bound after validation, see :func:`validate`)."""

    _file, _path = "an artifact", "?"

    def __missing__(self, key):
        raise ArtifactError(self._file, f"missing key '{self._path}.{key}'")

    def _readonly(self, *args, **kwargs):
        raise TypeError("an artifact's table is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Table({dict.__repr__(self)})"


def _table(d: dict) -> Table:
    return Table(d)


class Schema(BaseModel):
    """The base of every artifact schema: frozen, strict, unknown keys ignored, no NaN or infinity."""

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore", allow_inf_nan=False,
                              populate_by_name=True, arbitrary_types_allowed=True)


V = TypeVar("V")
#: A JSON object of string keys and ``V`` values, read as a :class:`Table`.
TableOf = Annotated[Mapping[str, V], AfterValidator(_table)]


class Arrays(BaseModel):
    """The base of an array file's schema: each field an :func:`array` of a declared shape and dtype kind."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    def __eq__(self, other) -> bool:  # arrays have no single truth value: identity only
        return self is other

    __hash__ = object.__hash__


def array(*shape: str | int, kinds: str = "f", description: str | None = None) -> Any:
    """A field holding an array of ``shape`` (sizes, or symbols the reader resolves) and dtype kind in ``kinds``;
    ``description`` says what it holds (exported with the shape)."""
    return Field(description=description, json_schema_extra={"shape": [str(d) for d in shape], "kinds": kinds})


def array_specs(cls: type[BaseModel]) -> dict[str, tuple[tuple, str]]:
    """The array fields of ``cls``: name -> (shape, kinds)."""
    out = {}
    for name, f in cls.model_fields.items():
        extra = f.json_schema_extra
        if isinstance(extra, dict) and "shape" in extra:
            shape = tuple(int(d) if d.isdigit() else d for d in extra["shape"])
            out[name] = (shape, extra["kinds"])
    return out


def check_arrays(specs: dict[str, tuple[tuple, str]], arrays: Mapping[str, np.ndarray], file: str,
                 dims: dict[str, int]) -> dict[str, np.ndarray]:
    """The arrays named in ``specs`` (name -> (shape, dtype kinds)), checked; shapes may use ``dims`` symbols."""
    out = {}
    for name, (shape, kinds) in specs.items():
        if name not in arrays:
            raise ArtifactError(file, f"missing array '{name}'")
        a = arrays[name]
        want = tuple(dims[d] if isinstance(d, str) else d for d in shape)
        if a.shape != want:
            spec = " × ".join(f"{d}={dims[d]}" if isinstance(d, str) else str(d) for d in shape)
            raise ArtifactError(file, f"array '{name}' has shape {a.shape}, expected ({spec})")
        if a.dtype.kind not in kinds:
            raise ArtifactError(file, f"array '{name}' has dtype {a.dtype}, expected kind {' or '.join(kinds)}")
        out[name] = a
    return out


# --------------------------------------------------------------------------- validation

def describe(v: Any) -> str:
    """A JSON value in words, for messages: ``null``, ``the number 2.0``, ``the string 'x'``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    return "a list" if isinstance(v, list) else "an object"


_EXPECTED = {"float_type": "a finite number", "finite_number": "a finite number", "int_type": "an integer",
             "bool_type": "true or false", "string_type": "a string", "model_type": "an object",
             "dict_type": "an object", "tuple_type": "a list", "list_type": "a list",
             "too_long": "a shorter list", "too_short": "a longer list"}


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(err: dict, prefix: str) -> str:
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "missing" and loc and isinstance(loc[-1], int):  # a fixed-length list is too short
        return f"key '{prefix}{_dotted(loc[:-1])}' is a list, expected a list of more items"
    if kind == "missing":
        return f"missing key '{prefix}{_dotted(loc)}'"
    if kind == "literal_error":
        expected = "one of " + err["ctx"]["expected"].replace(" or ", ", ")
    else:
        expected = _EXPECTED.get(kind, err["msg"].lower())
    return f"key '{prefix}{_dotted(loc)}' is {describe(err['input'])}, expected {expected}"


def _bind(value: Any, file: str, path: str) -> None:
    """Tell every :class:`Table` inside a validated ``value`` its file and dotted key."""
    if isinstance(value, Table):
        value._file, value._path = file, path
        for k, v in dict.items(value):
            _bind(v, file, f"{path}.{k}")
    elif isinstance(value, BaseModel):
        for name, f in type(value).model_fields.items():
            _bind(getattr(value, name), file, f"{path}.{f.alias or name}" if path else (f.alias or name))
    elif isinstance(value, tuple):
        for i, v in enumerate(value):
            _bind(v, file, f"{path}[{i}]")


def validate_json(schema: Any, text: str | bytes, file: str, prefix: str = "") -> Any:
    """``text`` (JSON) validated into ``schema`` (a model class or a type such as ``list[Claim]``).

    Raises :class:`ArtifactError` naming ``file`` and the first wrong key (``prefix`` + dotted key).
    """
    adapter = schema if isinstance(schema, TypeAdapter) else _adapter(schema)
    try:
        value = adapter.validate_json(text, strict=True)
    except ValidationError as e:
        raise ArtifactError(file, _problem(e.errors(include_url=False)[0], prefix)) from None
    _bind(value, file, prefix.rstrip("."))
    return value


def validate(schema: Any, doc: Any, file: str, prefix: str = "") -> Any:
    """The parsed JSON ``doc`` validated into ``schema`` (see :func:`validate_json`)."""
    try:
        text = json.dumps(doc, allow_nan=True)
    except (TypeError, ValueError) as e:
        raise ArtifactError(file, f"holds a value JSON cannot hold ({e})") from None
    return validate_json(schema, text, file, prefix)


_ADAPTERS: dict[Any, TypeAdapter] = {}


def _adapter(schema: Any) -> TypeAdapter:
    if schema not in _ADAPTERS:
        _ADAPTERS[schema] = TypeAdapter(schema)
    return _ADAPTERS[schema]


# --------------------------------------------------------------------------- words the views share

#: The step of each artifact folder whose name is not its step's.
_FOLDER_STEP = {"data": "fetch", "latents.npy": "encode", "ids.txt": "encode", "config.toml": "fetch"}


def writer(file: str) -> str:
    """The step that writes ``file`` (run-relative): its folder's name, or the step of a manifest."""
    top = file.split("/")[0]
    return _FOLDER_STEP.get(top, top.removesuffix(".manifest.json"))


def fix(file: str) -> str:
    """How to get ``file`` (a run-relative artifact path) written again."""
    step = writer(file)
    return f"the {step} step writes it (python -m analysis {step} --config ...)"


