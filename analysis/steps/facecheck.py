"""Each run's check of the face tests on its own autoencoder: Procedure 6 of :mod:`analysis.steps.facetest`.

The faces step measures the two face tests on labelled images made from the data alone, so the
training seeds of one config share it. What depends on a run's autoencoder, how the tests treat its
reconstructions, is checked here by the steps that judge that run's decoded images (generate,
decode), before any of them is labelled: the run's autoencoder reconstructs
``faces.calibration_images`` of its held-out images (its validation images, ``data.val_fraction``,
topped up with others when there are fewer), each scored by the classifier of the fold that did not
see the original (by the final classifier when no fold model saw it); the set joins the positives
of the faces step's sets, and the faces step's rule (:func:`analysis.steps.instrument.judgement`) decides
the run's verdict rule. The generate step records the set, the judgement and the rule
(``generate/metrics.json``, ``faces``; the reader's :attr:`analysis.artifacts.Run.face_judgement`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import BaseModel

from analysis.science import faces as F
from analysis.pipeline.config import Config
from analysis.steps.instrument import Instrument, judgement, set_doc
from analysis.pipeline.model import decode_array
from analysis.steps.train import split_indices

CHECK_STREAM = 47  #: the random stream of the held-out images' order (beside analysis.steps.facetest.STREAMS)
#: Images per decoder pass: one value for every step that checks a run (generate, decode), so that both
#: decode the same reconstructions and reach the same rule.
BATCH = 256


def reconstruction_faces(cfg: Config, n: int) -> tuple[np.ndarray, list[str]]:
    """The run's images whose reconstructions are scored: its autoencoder's held-out images first (in a
    random order drawn with ``run.seed``), topped up with others; and a note when topped up."""
    m = min(cfg.faces.calibration_images, n)
    _, val = split_indices(n, cfg.data.val_fraction, cfg.run.seed)
    rng = np.random.default_rng([cfg.run.seed, CHECK_STREAM])
    rest = rng.permutation(np.setdiff1d(np.arange(n), val))
    idx = np.concatenate([rng.permutation(val), rest])[:m].astype(np.int64)
    notes = []
    if len(val) < m:
        notes.append(f"the autoencoder held out {len(val)} images (data.val_fraction); the reconstructions' set is "
                     f"topped up with {m - len(val)} images it trained on")
    return idx, notes


def check_run(cfg: Config, inst: Instrument, z: np.ndarray, model, device) -> tuple[Instrument, dict]:
    """Procedure 6: the face tests on this run's reconstructions, and the run's verdict rule.

    Parameters
    ----------
    cfg : the run's Config
    inst : :class:`analysis.steps.instrument.Instrument` of the faces step
    z : (n, N) the run's latents, one row per image of the data
    model, device : the run's trained autoencoder and where it runs (:func:`analysis.pipeline.model.load_trained`)

    Returns
    -------
    (Instrument, dict)
        The instrument with the run's rule (``rule``, ``reason``, ``text``), and what the generate
        step records: ``reconstructions`` (the set's entry, as in ``calibration.json``), ``tests``,
        ``rule``, ``usable``, ``reason``, ``rule_text`` (Procedure 5 over the faces step's sets and
        this one) and ``notes``.
    """
    idx, notes = reconstruction_faces(cfg, len(z))
    idx = np.sort(idx)  # the set is the same in any order; rows are read in increasing order (memory maps)
    recon = F.as_gray(decode_array(model, np.asarray(z[idx], dtype=np.float32), BATCH, device))
    det = inst.detector.predict(recon)
    clf = inst.crossfit_predict(recon, idx)
    doc = set_doc("reconstructions", "positive", {"detector": det, "classifier": clf}, cfg.faces.level)
    sets = [s.model_dump() if isinstance(s, BaseModel) else dict(s) for s in inst.sets]
    sets = sets[:1] + [doc] + sets[1:]
    judged = judgement(sets, cfg)
    out = dataclasses.replace(inst, rule=judged["rule"], reason=judged["reason"], text=judged["rule_text"])
    return out, {"reconstructions": doc, **judged, "notes": notes}
