"""The ``decode`` step: what the decoder draws across the shown planes and on paths out of the cloud.

The other steps measure the geometry of the latent cloud; this one asks the decoder what
it makes of points inside and outside it (study parts VI-VII: moving inside the region
gives faces, leaving it gives noise), and where, relative to the data's boundary, its
images stop being faces.

Reads ``train/model.pt``, ``latents.npy``, ``ids.txt``, ``stats/stats.json`` and
``stats/arrays.npz`` (the shown pairs, the centre and the plotted windows, through
:mod:`analysis.artifacts`) and writes ``<run>/decode/`` (then ``decode.manifest.json``):

Procedure
---------
1. *Reference*: ``min(decode.reference_points, n)`` real points (a seeded random subset
   when n is larger). They define the distance to the data
   (:class:`analysis.science.probes.DataDistance`): the distance to the nearest real point in
   units of the boundary B, the ``decode.boundary_quantile`` of their own distances to
   their nearest other real point (1 = as isolated as the most isolated real points);
   and, second, the Ledoit-Wolf Mahalanobis distance from the centre in units of D, the
   same quantile of their cross-fitted Mahalanobis distances.
2. *Faces*: a decoded image is a face by the calibrated face tests of the faces step
   (:mod:`analysis.steps.facetest`, :mod:`analysis.steps.instrument`), checked on this run's
   reconstructions first (:func:`analysis.steps.facecheck.check_run`, as the generate step does):
   the run's verdict rule (both tests, or the one usable test). Both tests' labels are kept, and their agreement (Cohen's kappa
   with a bootstrap interval) over every tile and path step is reported. Without a usable
   face test (or without the faces step) the face verdicts below are ``not testable``,
   with the reason.
3. *Planes*: for each pair (j1, j2) the stats step shows, a ``decode.grid`` x
   ``decode.grid`` grid over the window a projection plots (each component's data range
   extended to include 0, :func:`analysis.science.probes.window`), in the plane through the
   cloud's centre (the other components at the centre's values) and in the plane through
   the origin (the other components 0).
4. *Paths*, ``decode.path_steps`` points each: origin -> centre; between a random real
   point and its nearest neighbour (a near pair) and between the two real points farthest
   apart (a far pair); and three *rays* from the centre until their distance to the data
   reaches ``decode.extent`` B (:func:`analysis.science.probes.ray_length`): along the longest and
   the shortest principal axis and along the coordinate axis of the first shown pair's
   first component, each oriented away from the origin.
5. Every decoded point gets its distance to the data (B units), its Mahalanobis distance
   (D units), its face flag and its re-encoding gap |E(D(z)) - z| relative to the
   reference's spread (:func:`analysis.science.metrics.reencoding_gap`).
6. *Planes, inside and outside*: per plane anchor (through the centre, through the origin,
   never pooled), the faces among the tiles inside and outside the boundary (distance <= 1),
   each share with its binomial interval, and the ratio of the shares with its interval
   (:func:`analysis.science.calibration.ratio_interval`): faces appear "far more often inside than
   outside" when its lower end exceeds 2, "more often" when it exceeds 1, "less often" when
   its upper end lies below 1, "about as often" otherwise; a sentence per anchor.
7. *Where faces stop*: on each ray, the midpoint between the last face and the first
   non-face (:func:`analysis.science.probes.face_stop`); the verdict compares the median over the
   rays with ``decode.stop_band`` (times B): ``at the boundary`` (reproduced: faces inside,
   noise outside), ``inside the data`` (partly: faces end before the data does),
   ``beyond the data`` (not reproduced: faces well outside), ``not testable`` (the
   centre itself does not decode to a face). A ray still showing faces at its end counts
   as stopping at ``decode.extent`` B.
8. *Live decoder*: the decoder's weights for the page's JavaScript forward pass
   (:func:`analysis.science.export.weights_script`), unless they exceed
   :data:`analysis.science.export.LIVE_MAX_BYTES`.

``decode.json`` (every figure), ``planes.npz`` (the decoded planes), ``paths.npz`` (the decoded paths): keys and
their meaning in :mod:`analysis.schemas.decode` (JSON Schema: ``schemas/decode.decode.schema.json``,
``schemas/decode.planes.schema.json``, ``schemas/decode.paths.schema.json``); and, only with a live decoder,
``decoder.js``, the weights script of :mod:`analysis.science.export` (the site serves it as
``_static/flg-decoder-weights.js``).

Same inputs and config give byte-identical files; the step is skipped when its manifest
matches (config sections ``decode``, ``faces.level`` and ``run.seed``, the input hashes and this code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.science import export, probes
from analysis.steps import facecheck, instrument
from analysis.pipeline import steps
from analysis.science import calibration as cal
from analysis.science import faces as FT
from analysis.science import metrics as M
from analysis.artifacts import ArtifactError, Run
from analysis.pipeline.config import Config
from analysis.errors import UserError, eprint
from analysis.science.geometry import spread
from analysis.pipeline.model import decode_array, encode_array, load_trained
from analysis.pipeline.provenance import read_manifest
from analysis.pipeline.storage import atomic_write, load_json, read_lines, save_json, save_npz
from analysis.schemas.decode import Decode

SCHEMA_VERSION = 2
STREAMS = {"reference": 31, "crossfit": 32, "pairs": 33, "anchors": 34, "kappa": 35}
PLANES = ("centre", "origin")
LIVE_FILE = "decoder.js"
BANDS = {"at the boundary": "reproduced", "inside the data": "partly", "beyond the data": "not reproduced",
         "not testable": "not testable"}


def _rng(seed: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, STREAMS[stream]])


def _u8(x: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] -> uint8, rounded (as the generate step's contact sheets)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100.0 * x:.0f} %"


# --------------------------------------------------------------------------- checks

def prepare(cfg: Config, run_dir: Path, inputs: dict) -> dict:
    """Check the latents, that the stats describe them, and that there are enough points."""
    z = steps.load_latents(run_dir / "latents.npy")
    stats_m = read_manifest(run_dir, "stats") or {}
    if stats_m.get("inputs", {}).get("latents.npy") != inputs["latents.npy"]:
        raise UserError(f"the stats in {run_dir / 'stats'} were measured on other latents than latents.npy",
                        "run the stats step again: python -m analysis stats --config ...")
    n_ref = min(z.shape[0], cfg.decode.reference_points)
    if n_ref < 2 * cfg.decode.folds or n_ref <= cfg.decode.k:
        raise UserError(f"the decode step needs more than {max(2 * cfg.decode.folds - 1, cfg.decode.k)} reference "
                        f"points (decode.folds = {cfg.decode.folds}, decode.k = {cfg.decode.k}); it has {n_ref}",
                        "encode more images, or lower decode.folds and decode.k")
    if z.shape[1] != cfg.model.latent_dim:
        raise UserError(f"{run_dir / 'latents.npy'} has N = {z.shape[1]} components but model.latent_dim = "
                        f"{cfg.model.latent_dim}", "re-run the encode step with this config")
    return {}


# --------------------------------------------------------------------------- the probes

def plane_grids(S, A, grid: int) -> tuple[list[dict], np.ndarray, np.ndarray, np.ndarray]:
    """The shown pairs' windows and grid points: (plane records, xs (P, G), ys (P, G), points (P, 2, G, G, N))."""
    centre = np.asarray(A.component_mean, dtype=np.float64)
    records, xs, ys, pts = [], [], [], []
    for p in S.pairs:
        j1, j2 = p.pair
        wx = probes.window(A.component_min[j1], A.component_max[j1])
        wy = probes.window(A.component_min[j2], A.component_max[j2])
        gx, gy = np.linspace(*wx, grid), np.linspace(*wy, grid)
        anchors = (centre, np.zeros_like(centre))
        pts.append(np.stack([probes.plane_points(a, j1, j2, gx, gy) for a in anchors]))
        xs.append(gx), ys.append(gy)
        records.append({"pair": [j1, j2], "reason": p.reason, "window_x": list(wx), "window_y": list(wy),
                        "centre_xy": [float(centre[j1]), float(centre[j2])]})
    return records, np.array(xs), np.array(ys), np.array(pts)


def path_points(S, A, dd: probes.DataDistance, x: np.ndarray, cfg: Config) -> tuple[list[dict], np.ndarray]:
    """The paths (records, points (Q, T, N)): origin -> centre, a near and a far pair, three rays."""
    d = cfg.decode
    T, centre = d.path_steps, np.asarray(A.component_mean, dtype=np.float64)
    rng = _rng(cfg.run.seed, "pairs")
    i, j = probes.near_pair(x, rng)
    a, b = probes.far_pair(x, rng)
    coord = S.pairs[0].pair[0]
    e = np.zeros_like(centre)
    e[coord] = 1.0
    spec = [
        ("origin_to_centre", "origin → centre", "segment", probes.segment(np.zeros_like(centre), centre, T)),
        ("near_pair", "a real face → its nearest neighbour", "segment", probes.segment(x[i], x[j], T)),
        ("far_pair", "the two real faces farthest apart", "segment", probes.segment(x[a], x[b], T)),
        ("longest_axis", "centre → out along the longest principal axis", "ray",
         _ray(dd, centre, dd.principal_axis("longest"), d.extent, T)),
        ("shortest_axis", "centre → out along the shortest principal axis", "ray",
         _ray(dd, centre, dd.principal_axis("shortest"), d.extent, T)),
        ("coordinate_axis", f"centre → out along coordinate axis {coord}", "ray", _ray(dd, centre, e, d.extent, T)),
    ]
    records = [{"name": nm, "label": lab, "kind": kind} for nm, lab, kind, _ in spec]
    return records, np.stack([p for *_, p in spec])


def _ray(dd: probes.DataDistance, centre: np.ndarray, u: np.ndarray, extent: float, steps: int) -> np.ndarray:
    """A ray from the centre, away from the origin along u, until the distance to the data is ``extent`` B."""
    u = probes.outward(u, centre)
    try:
        length = probes.ray_length(dd, centre, u, extent)
    except ValueError as e:
        raise UserError(f"the decode step cannot build a ray out of the cloud: {e}",
                        "lower decode.extent") from None
    return probes.segment(centre, centre + length * u, steps)


def judge(model, device, dd: probes.DataDistance, faces: instrument.Instrument | None, z: np.ndarray, cfg: Config,
          spread_: float) -> dict:
    """Decode points z (m, N) and measure each: images (uint8), distance, mahalanobis, gap, and the face
    tests' labels ``face`` (by the verdict rule), ``face_detector`` and ``face_classifier`` (all False
    without a faces step)."""
    d = cfg.decode
    dec = decode_array(model, z.astype(np.float32), d.batch_size, device)
    back = encode_array(model, dec, d.batch_size, device)
    gap = np.array([M.reencoding_gap(z[i:i + 1], back[i:i + 1], spread_)["reencode_gap_rel"] for i in range(len(z))])
    none = np.zeros(len(z), bool)
    lab = faces.label(dec) if faces is not None else {"face": none, "detector": none, "classifier": none}
    return {"images": _u8(dec), "distance": dd.distance(z).astype(np.float32),
            "mahalanobis": dd.mahalanobis_relative(z).astype(np.float32), "gap": gap.astype(np.float32),
            "face": lab["face"], "face_detector": lab["detector"], "face_classifier": lab["classifier"]}


# --------------------------------------------------------------------------- summaries and verdicts

def plane_summary(distance: np.ndarray, mahalanobis: np.ndarray, face: np.ndarray) -> dict:
    inside = distance <= 1.0
    return {"tiles": int(distance.size), "inside": int(inside.sum()), "faces_inside": int((face & inside).sum()),
            "outside": int((~inside).sum()), "faces_outside": int((face & ~inside).sum()),
            "distance_min": float(distance.min()), "distance_max": float(distance.max()),
            "mahalanobis_min": float(mahalanobis.min()), "mahalanobis_max": float(mahalanobis.max())}


ANCHOR_WORDS = {"centre": "through the cloud's centre", "origin": "through the origin"}


def anchor_summary(records: list[dict], kind: str, level: float) -> dict:
    """Faces among the tiles inside and outside the boundary in the planes of one anchor: counts, shares with
    binomial intervals, the ratio of the shares (inside over outside) with its interval, and the contrast."""
    ti = sum(r[kind]["inside"] for r in records)
    fi = sum(r[kind]["faces_inside"] for r in records)
    to = sum(r[kind]["outside"] for r in records)
    fo = sum(r[kind]["faces_outside"] for r in records)
    si, so = (fi / ti if ti else None), (fo / to if to else None)
    lo_i, hi_i = cal.binomial_interval(fi, ti, level) if ti else (None, None)
    lo_o, hi_o = cal.binomial_interval(fo, to, level) if to else (None, None)
    ratio = low = high = None
    contrast = None
    if ti and to and (fi or fo):
        ratio, low, high = cal.ratio_interval(fi, ti, fo, to, level)
        contrast = ("far more often inside than outside" if low > 2 else "more often inside than outside" if low > 1
                    else "less often inside than outside" if high < 1 else "about as often inside as outside")
    fin = (lambda x: None if x is None or not np.isfinite(x) else float(x))
    return {"anchor": kind, "planes": len(records), "tiles_inside": ti, "faces_inside": fi, "share_faces_inside": si,
            "inside_low": lo_i, "inside_high": hi_i, "tiles_outside": to, "faces_outside": fo,
            "share_faces_outside": so, "outside_low": lo_o, "outside_high": hi_o, "ratio": fin(ratio),
            "ratio_low": fin(low), "ratio_high": fin(high), "contrast": contrast}


def anchor_sentence(a: dict, quantile: float) -> str:
    """What one anchor's planes show, chosen from its own numbers (never pooled with the other anchor's)."""
    n, where = a["planes"], ANCHOR_WORDS[a["anchor"]]
    boundary = f"the data's boundary (as near to a real point as {_pct(quantile)} of the real points are to their nearest neighbour)"
    ti, to = a["tiles_inside"], a["tiles_outside"]
    if ti and to:
        if a["contrast"] is None:
            return (f"In the {n} decoded planes {where}, none of the {ti:,} tiles inside {boundary} and none of the "
                    f"{to:,} tiles outside it decode to faces.")
        return (f"In the {n} decoded planes {where}, {_pct(a['share_faces_inside'])} of the {ti:,} tiles inside "
                f"{boundary} decode to faces and {_pct(a['share_faces_outside'])} of the {to:,} tiles outside it "
                f"(ratio {a['ratio']:.2g}, interval {a['ratio_low']:.2g} to {a['ratio_high']:.2g}): faces appear "
                f"{a['contrast']}.")
    if ti:
        return f"Every tile of the {n} decoded planes {where} lies inside {boundary}; {_pct(a['share_faces_inside'])} of them decode to faces."
    return f"Every tile of the {n} decoded planes {where} lies outside {boundary}; {_pct(a['share_faces_outside'])} of them decode to faces."


def planes_sentence(records: list[dict], quantile: float, level: float, faces: instrument.Instrument | None) -> dict:
    """Faces inside and outside the boundary per plane anchor (through the centre, through the origin), each
    with its own sentence; the two anchors are never pooled. Without a usable face test: not testable."""
    anchors = {k: anchor_summary(records, k, level) for k in PLANES}
    reason = None if faces is not None and faces.usable else (
        "the faces step has not run for this build" if faces is None else faces.reason)
    if reason:
        text = f"Whether the decoded planes show faces inside or outside the data cannot be told on this build: {reason}."
        return {"testable": False, "reason": reason, "anchors": anchors, "sentence": text,
                "sentences": {k: text for k in PLANES}}
    sentences = {k: anchor_sentence(a, quantile) for k, a in anchors.items()}
    return {"testable": True, "reason": None, "anchors": anchors, "sentences": sentences,
            "sentence": " ".join(sentences[k] for k in PLANES)}


def stop_verdict(paths: list[dict], cfg: Config, ref: dict, n_ref: int, faces: instrument.Instrument | None) -> dict:
    """Where the images along the rays stop being faces, relative to the boundary: band, verdict, sentence."""
    d = cfg.decode
    lo, hi = d.stop_band
    q = _pct(d.boundary_quantile)
    rays = [p for p in paths if p["kind"] == "ray"]
    testable = [p for p in rays if p["stop"]["start_face"]]
    rule = faces.text if faces is not None else "no calibrated face test (the faces step has not run)"
    criterion = (f"a decoded image is a face by the calibrated face tests ({rule[0].lower()}{rule[1:].rstrip('.')}); "
                 f"a point's distance to the data is its distance to "
                 f"the nearest real point in units of the data's boundary B, the {q} quantile of the real points' "
                 f"distances to their nearest other real point (B = {ref['nn_boundary']:.3g}); along each ray from "
                 f"the centre (out to {d.extent:g} B) the images stop being faces midway between the last face and "
                 f"the first non-face; at the boundary if the median over the rays lies within {lo:g} to {hi:g} B, "
                 f"inside the data below, beyond the data above (a ray with faces to its end counts as {d.extent:g} B)")
    if faces is None or not faces.usable:
        reason = "the faces step has not run for this build" if faces is None else faces.reason
        return {"band": "not testable", "verdict": BANDS["not testable"], "median": None, "rays": len(rays),
                "censored": 0, "criterion": criterion,
                "sentence": f"Where the decoder's faces end cannot be told on this build: {reason}."}
    if not testable:
        return {"band": "not testable", "verdict": BANDS["not testable"], "median": None, "rays": len(rays),
                "censored": 0, "criterion": criterion,
                "sentence": ("Where the decoder's faces end cannot be told on this build: the cloud's centre itself "
                             "does not decode to an image the face tests call a face, so no ray starts among faces.")}
    values = [p["stop"]["stop"] if p["stop"]["stop"] is not None else d.extent for p in testable]
    censored = sum(p["stop"]["stop"] is None for p in testable)
    median = float(np.median(values))
    band = "inside the data" if median < lo else "at the boundary" if median <= hi else "beyond the data"

    def one(p: dict) -> str:
        st = p["stop"]
        where = p["label"].removeprefix("centre → out ")
        if st["stop"] is None:
            return f"{where}, still faces at its end ({d.extent:g} B)"
        return f"{where}, {st['stop']:.2g} B (Mahalanobis distance {st['mahalanobis']:.2g} D)"
    at = f"at least {d.extent:g} times" if 2 * censored >= len(testable) else f"at {median:.2g} times"
    nums = (f"{at} the boundary distance B (the median over {len(testable)} rays from the centre: "
            f"{'; '.join(one(p) for p in testable)}; B is how far the most isolated {_pct(1 - d.boundary_quantile)} "
            f"of real points lie from their nearest neighbour, D the Mahalanobis distance within which {q} of "
            "them lie)")
    sentence = {
        "at the boundary": (f"Leaving the data along straight rays, the decoded images stop being faces near the "
                            f"data's boundary, {nums}: near the data the decoder draws faces, away from it it does "
                            "not, as the published study found."),
        "inside the data": (f"The decoded images stop being faces before the rays leave the data, {nums}: "
                            "the decoder's faces end before the data does."),
        "beyond the data": (f"The decoder keeps drawing face-like images beyond the data's boundary: along the rays the "
                            f"images stop being faces {nums}."),
    }[band]
    untested = len(rays) - len(testable)
    if untested:
        sentence += f" ({untested} of the {len(rays)} rays start at a centre image that is not a face.)"
    return {"band": band, "verdict": BANDS[band], "median": median, "rays": len(testable), "censored": censored,
            "criterion": criterion, "sentence": sentence}


def live_decoder(model) -> tuple[dict, bytes | None]:
    """The live decoder's record for decode.json and its weights file (None when too large)."""
    size = export.weights_bytes(model.decoder)
    limit = export.LIVE_MAX_BYTES
    base = {"weights_bytes": size, "limit_bytes": limit, "parameters": size // 4}
    if size > limit:
        reason = (f"the decoder's weights take {size / 2 ** 20:.3g} MB (float32), more than the "
                  f"{limit / 2 ** 20:.3g} MB a page can reasonably load, so the page shows the precomputed planes "
                  "and paths only")
        return {"available": False, "file": None, "reason": reason, **base}, None
    return {"available": True, "file": LIVE_FILE, "reason": None, **base}, export.weights_script(model.decoder)


def anchors(cfg: Config, run_dir: Path, ref_idx: np.ndarray, x: np.ndarray, centre: np.ndarray) -> tuple[list, np.ndarray]:
    """The anchors of the page's cursor panels: the centre, the origin and ``decode.anchors`` real points."""
    ids = read_lines(run_dir / "ids.txt")
    k = min(cfg.decode.anchors, len(x))
    pick = np.sort(_rng(cfg.run.seed, "anchors").choice(len(x), k, replace=False)) if k else np.array([], int)
    recs = [{"kind": "centre", "label": "the centre of the cloud", "row": None, "id": None},
            {"kind": "origin", "label": "the origin", "row": None, "id": None}]
    for i in pick:
        row = int(ref_idx[i])
        name = ids[row] if row < len(ids) else str(row)
        recs.append({"kind": "real", "label": f"real point {row} ({name})", "row": row, "id": name})
    zs = np.vstack([centre, np.zeros_like(centre), x[pick].reshape(-1, len(centre))]).astype(np.float32)
    return recs, zs


# --------------------------------------------------------------------------- the step

def run(cfg: Config, run_dir: Path, force: bool = False) -> dict:
    """The decode step on ``run_dir`` unless it is up to date (:func:`analysis.pipeline.steps.run`); returns decode.json."""
    steps.run("decode", cfg, run_dir, force)
    return load_json(Path(run_dir) / "decode" / "decode.json")


def _summarise(records: list[dict], planes: dict, path_recs: list[dict], paths: dict, path_pts: np.ndarray) -> None:
    """Add each plane's summary (centre and origin plane) and each path's figures (and a ray's face stop)
    to their records, from the measures of their points."""
    for p, rec in enumerate(records):
        for k, kind in enumerate(PLANES):
            rec[kind] = plane_summary(planes["distance"][p, k], planes["mahalanobis"][p, k], planes["face"][p, k])
    for q, rec in enumerate(path_recs):
        dist, maha, face, gap = (paths[k][q] for k in ("distance", "mahalanobis", "face", "gap"))
        rec.update(length=float(np.linalg.norm(path_pts[q, -1] - path_pts[q, 0])),
                   distance_start=float(dist[0]), distance_end=float(dist[-1]), distance_max=float(dist.max()),
                   mahalanobis_start=float(maha[0]), mahalanobis_end=float(maha[-1]),
                   faces=int(face.sum()), gap_max=float(gap.max()), stop=None)
        if rec["kind"] == "ray":
            stop = probes.face_stop(dist, face)
            i = stop["stop_index"]
            stop["mahalanobis"] = None if i is None else float((maha[i - 1] + maha[i]) / 2.0)
            rec["stop"] = stop


def _write_live(run_dir: Path, script: bytes | None) -> list[Path]:
    """Write the live decoder's weights script (or remove the last run's, which its manifest records)."""
    out = run_dir / "decode"
    if script is not None:
        atomic_write(out / LIVE_FILE, script)
        return [out / LIVE_FILE]
    if f"decode/{LIVE_FILE}" in ((read_manifest(run_dir, "decode") or {}).get("outputs") or {}):
        (out / LIVE_FILE).unlink(missing_ok=True)  # the last run's (recorded), not someone else's file
    return []


def _geometry(run_dir: Path):
    """The stats step's figures and arrays of the run (a user error naming the file when unreadable)."""
    reader = Run(run_dir)
    try:
        return reader.stats, reader.arrays
    except ArtifactError as e:
        raise UserError(f"{run_dir / e.file}: {e.problem}", "re-run the stats step "
                        "(python -m analysis stats --config ... --force)") from None


def _notes(n_ref: int, n: int, live: dict) -> list[str]:
    """What decode.json says about its own limits: a subsampled reference, no live decoder."""
    notes = []
    if n_ref < n:
        notes.append(f"distances and the pixel reference use a random {n_ref:,} of the {n:,} points "
                     "(decode.reference_points)")
    if not live["available"]:
        notes.append(f"no live decoder: {live['reason']}")
    return notes


def _say(doc: dict, out: Path) -> None:
    """The step's one progress line."""
    st, live, G = doc["stops"], doc["live"], doc["settings"]["grid"]
    med = "n/a" if st["median"] is None else f"{st['median']:.2g} B"
    eprint(f"decode: {len(doc['planes'])} pairs x 2 planes of {G}x{G}, {len(doc['paths'])} paths of "
           f"{doc['settings']['path_steps']}; faces stop {st['band']} ({med}); "
           f"live decoder {'%.1f MB' % (live['weights_bytes'] / 2 ** 20) if live['available'] else 'none'} -> {out}")


def compute(cfg: Config, run_dir: Path, inputs: dict, key: str) -> steps.Written:
    """Decode the planes and paths, measure them, judge where faces stop; write ``decode/``."""
    d, seed = cfg.decode, cfg.run.seed
    S, A = _geometry(run_dir)
    z = steps.open_latents(run_dir / "latents.npy")
    n, N = z.shape
    n_ref = min(n, d.reference_points)
    ref_idx = np.arange(n) if n_ref == n else np.sort(_rng(seed, "reference").choice(n, n_ref, replace=False))
    x = np.asarray(z[ref_idx], dtype=np.float64)
    try:
        dd = probes.data_distance(x, d.folds, d.boundary_quantile, _rng(seed, "crossfit"))
    except ValueError as e:
        raise UserError(f"the decode step cannot measure distances to these latents: {e}",
                        "encode more (and different) images") from None
    model, device = load_trained(cfg, run_dir)
    real_pix = decode_array(model, x.astype(np.float32), d.batch_size, device)
    faces = instrument.load_instrument(run_dir)
    if faces is not None:  # the face tests on this run's own reconstructions decide its verdict rule
        faces, _ = facecheck.check_run(cfg, faces, z, model, device)
    spread_ = spread(x)
    real_gap = np.linalg.norm(encode_array(model, real_pix, d.batch_size, device) - x, axis=1) / spread_
    C, Sz = real_pix.shape[1], real_pix.shape[2]

    records, xs, ys, plane_pts = plane_grids(S, A, d.grid)
    path_recs, path_pts = path_points(S, A, dd, x, cfg)
    P, G, Q, T = len(records), d.grid, len(path_recs), d.path_steps
    flat = np.concatenate([plane_pts.reshape(-1, N), path_pts.reshape(-1, N)])
    m = judge(model, device, dd, faces, flat, cfg, spread_)
    cut = P * 2 * G * G
    planes = {k: v[:cut].reshape((P, 2, G, G) + v.shape[1:]) for k, v in m.items()}
    paths = {k: v[cut:].reshape((Q, T) + v.shape[1:]) for k, v in m.items()}

    _summarise(records, planes, path_recs, paths, path_pts)
    ref = {"n": n_ref, "subsampled": n_ref < n, "quantile": dd.quantile, "nn_boundary": dd.nn_boundary,
           "nn_median": float(np.median(dd.nn_own) / dd.nn_boundary), "mahalanobis_boundary": dd.boundary,
           "mahalanobis_median": float(np.median(dd.held_out) / dd.boundary), "spread": spread_,
           "gap_median": float(np.median(real_gap)), "gap_q95": float(np.quantile(real_gap, 0.95))}
    live, script = live_decoder(model)
    anchor_recs, anchor_z = anchors(cfg, run_dir, ref_idx, x, np.asarray(A.component_mean, dtype=np.float64))
    notes = _notes(n_ref, n, live)
    doc = {"schema_version": SCHEMA_VERSION, "n": n, "N": N, "seed": seed,
           "settings": {**vars(d), "image_shape": [C, Sz, Sz]}, "reference": ref, "planes": records,
           "planes_summary": planes_sentence(records, d.boundary_quantile, cfg.faces.level, faces),
           "paths": path_recs, "stops": stop_verdict(path_recs, cfg, ref, n_ref, faces),
           "faces": {"available": faces is not None, "usable": faces is not None and faces.usable,
                     "rule": None if faces is None else faces.rule,
                     "rule_text": None if faces is None else faces.text,
                     "agreement": FT.kappa(m["face_detector"], m["face_classifier"], cfg.faces.level,
                                           _rng(seed, "kappa")) if faces is not None else None},
           "live": live, "anchors": anchor_recs, "notes": notes}

    out = run_dir / "decode"
    save_npz(out / "planes.npz", pairs=np.array([r["pair"] for r in records], dtype=np.int32), xs=xs, ys=ys,
             anchor_z=anchor_z, **planes)
    save_npz(out / "paths.npz", t=np.linspace(0.0, 1.0, T), z=path_pts.astype(np.float32), **paths)
    written = _write_live(run_dir, script)
    save_json(out / "decode.json", doc, Decode)
    _say(doc, out)
    return steps.Written(outputs=tuple(written))
