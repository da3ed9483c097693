"""How the reader reads a run directory's files: each checked (a regular file of the run, readable,
of the right kind) with an :class:`ArtifactError` naming the file and how to remake it; the files the
article reads (:data:`REQUIRED`, :data:`OPTIONAL`) and which step writes each; the steps' manifests.

:class:`RunFiles` is the base of the typed reader :class:`analysis.artifacts.Run`.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from analysis.pipeline.config import Config, load_config
from analysis.errors import UserError
from analysis.pipeline.provenance import manifest_file
from analysis.schemas.base import Absent, ArtifactError, describe, fix, validate
from analysis.schemas.files import (ACROSS_LEDGER, ACROSS_RUNS, ARRAYS, CLAIMS, CLAIMS_ARRAYS, CLAIMS_DETAILS, CONFIG,
                                    DATA_INFO, DECODE, DECODE_PATHS, DECODE_PLANES, ENCODE_SUMMARY, FACES,
                                    FACES_EXAMPLES, GALLERY, HISTORY, LATENTS, METRICS, RECONSTRUCTIONS, STATS,
                                    TIMING)
from analysis.schemas.provenance import Manifest
from analysis.pipeline.storage import load_json
from analysis.pipeline.steps import NAMES as STEPS
from analysis.pipeline.steps import producer

ROOT = Path(__file__).resolve().parents[1]

#: The files the article cannot do without, and those it shows as absent when a run lacks
#: them (no generate step yet; weights adopted with --checkpoint, so nothing was timed).
REQUIRED = (CONFIG, DATA_INFO, HISTORY, ENCODE_SUMMARY, RECONSTRUCTIONS, GALLERY, STATS, ARRAYS, FACES,
            FACES_EXAMPLES, CLAIMS, CLAIMS_DETAILS, CLAIMS_ARRAYS, DECODE, DECODE_PLANES, DECODE_PATHS)
OPTIONAL = (TIMING, METRICS)
#: Every file the article reads (the report's build key and checks use this list).
READS = REQUIRED + OPTIONAL
#: What the article reads besides when the config has several runs ([runs]).
ACROSS_READS = (ACROSS_LEDGER, ACROSS_RUNS)

#: The step that writes each file (for the "how to fix" part of a message); config.toml
#: is written by every CLI run, and the first step remakes it.
WRITER = {f: (STEPS[0] if f == CONFIG else producer(f)) for f in (*READS, *ACROSS_READS, LATENTS)}



_fix = fix


class RunFiles:
    """A run directory's files, read and checked (the base of :class:`analysis.artifacts.Run`).

    Parameters
    ----------
    path : path
        The run directory.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # ---- files

    def _file(self, rel: str) -> Path:
        p = self.path / rel
        if not p.is_file():
            raise ArtifactError(rel, f"does not exist in {self.path}; {_fix(rel)}")
        return p

    def _json(self, rel: str) -> dict:
        path = self._file(rel)
        try:
            data = load_json(path)
        except json.JSONDecodeError as e:
            raise ArtifactError(rel, f"is not valid JSON ({e.msg}, line {e.lineno}); {_fix(rel)}") from None
        except ValueError as e:  # not UTF-8, nested too deeply
            raise ArtifactError(rel, f"{e}; {_fix(rel)}") from None
        except OSError as e:
            raise ArtifactError(rel, f"cannot be read ({e.strerror})") from None
        if not isinstance(data, dict):
            raise ArtifactError(rel, f"holds {describe(data)}, expected a JSON object; {_fix(rel)}")
        return data

    def _versioned(self, rel: str, version: int) -> dict:
        """:meth:`_json` of a file that records the ``schema_version`` it was written with, checked."""
        doc = self._json(rel)
        if doc.get("schema_version") != version:
            raise ArtifactError(rel, f"has schema_version {doc.get('schema_version')!r}, expected {version}; "
                                     f"{_fix(rel)}")
        return doc

    def _npz(self, rel: str) -> dict[str, np.ndarray]:
        path = self._file(rel)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError) as e:
            raise ArtifactError(rel, f"is not a readable .npz archive ({e}); {_fix(rel)}") from None

    # ---- provenance

    def manifest(self, step: str) -> Manifest | Absent:
        """The step's manifest, or Absent when the step has not finished in this run."""
        rel = manifest_file(step)
        if not (self.path / rel).is_file():
            return Absent(rel, f"the {step} step has not finished in this run")
        return validate(Manifest, self._json(rel), rel)

    @cached_property
    def manifests(self) -> dict[str, Manifest | Absent]:
        """Every step's manifest (or Absent), in pipeline order."""
        return {step: self.manifest(step) for step in STEPS}

    @cached_property
    def versions(self) -> dict[str, str]:
        """Package versions the artifacts were computed with (from the manifests)."""
        out: dict[str, str] = {}
        for m in self.manifests.values():
            if m:
                out.update(m.versions)
        return out


def shipped_config(name: str) -> Config:
    """A configuration shipped with the project (``configs/<name>.toml``), checked."""
    rel = f"configs/{name}.toml"
    if not (ROOT / rel).is_file():
        raise ArtifactError(rel, f"does not exist in {ROOT}")
    try:
        return load_config(ROOT / rel)
    except UserError as e:
        raise ArtifactError(rel, e.problem) from None
