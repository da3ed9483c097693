"""The config's keys as the tests see them: each key's plain type and the ranges pydantic checks,
read from the section models (so that generic tests cover every key, present and future)."""

from __future__ import annotations

import typing
from dataclasses import dataclass

import annotated_types as at
from pydantic.fields import FieldInfo

from analysis.pipeline import config as C
from analysis.pipeline.configtypes import Name, PathText


def _strip(tp):
    """``tp`` without Annotated metadata, in list and dict arguments too; Literal stays."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _strip(typing.get_args(tp)[0])
    if origin in (list, dict):
        return origin[tuple(_strip(a) for a in typing.get_args(tp))] if origin is dict else list[_strip(typing.get_args(tp)[0])]
    return tp


def _range(metadata) -> dict:
    out = {}
    for m in metadata:
        if isinstance(m, FieldInfo):
            out.update(_range(m.metadata))
        for name, cls in (("min", at.Ge), ("max", at.Le), ("gt", at.Gt)):
            if isinstance(m, cls):
                out[name] = getattr(m, {"min": "ge", "max": "le", "gt": "gt"}[name])
    return out


@dataclass
class Key:
    key: str
    type: object          # int, float, str, bool, list[int], list[list[int]], Literal[...], ...
    range: dict           # min / max / gt of the value
    item: dict            # min / max / gt of a list's items
    validators: set       # the kinds of text it holds: "path", "name" (checked by configtypes)
    choices: tuple | None


def config_keys() -> list[Key]:
    out = []
    for section, cls in C.SECTIONS.items():
        for name, f in cls.model_fields.items():
            tp = _strip(f.annotation)
            item_meta = {}
            if typing.get_origin(tp) is list:
                inner = f.annotation
                while typing.get_origin(inner) is list:
                    inner = typing.get_args(inner)[0]
                if typing.get_origin(inner) is typing.Annotated:
                    item_meta = _range(inner.__metadata__)
            validators = {kind for kind, alias in (("path", PathText), ("name", Name))
                          if set(typing.get_args(alias)[1:]) & set(f.metadata)}
            choices = typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else None
            out.append(Key(f"{section}.{name}", tp, _range(f.metadata), item_meta, validators, choices))
    return out
