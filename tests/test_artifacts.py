"""The typed run reader (analysis/artifacts.py): every view of the smoke run, and errors naming file and key.

The smoke pipeline (fetch .. generate) is the one of ``test_report.py``, run once per
session; tests that break an artifact work on a copy of it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import re
import shutil
import types
import typing

import numpy as np
from pydantic import BaseModel
import pytest

from analysis import artifacts
from analysis.artifacts import Absent, ArtifactError, Run, Table
from analysis.prose import computed_on_text
import test_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return test_report.smoke_run(tmp_path_factory)


@pytest.fixture
def copy(run_dir, tmp_path):
    """A private copy of the smoke run to break."""
    dst = tmp_path / "run"
    shutil.copytree(run_dir, dst)
    return dst


def conforms(value, tp) -> bool:
    """Whether ``value`` has the annotated type ``tp`` (recursively, for the reader's views)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if tp is type(None):
        return value is None
    if tp is typing.Any:
        return True
    if dataclasses.is_dataclass(tp) or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return isinstance(value, tp) and all_fields_conform(value)
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(v, args[0]) for v in value)
        return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
    if origin is typing.Literal:
        return value in args
    if origin is collections.abc.Mapping:
        return isinstance(value, Table) and all(isinstance(k, str) and conforms(v, args[1]) for k, v in value.items())
    if tp is float:
        return type(value) is float and np.isfinite(value)
    if tp is int:
        return type(value) is int
    if tp in (bool, str, np.ndarray):
        return type(value) is tp
    raise AssertionError(f"no check for {tp!r}")


def all_fields_conform(view) -> bool:
    hints = typing.get_type_hints(type(view), include_extras=False)
    names = type(view).model_fields if isinstance(view, BaseModel) else [f.name for f in dataclasses.fields(view)]
    for name in names:
        v = getattr(view, name)
        assert conforms(v, hints[name]), (type(view).__name__, name, v)
    return True


# --------------------------------------------------------------------------- the smoke run

def test_every_view_of_the_smoke_run_has_its_types(run_dir):
    run = Run(run_dir)
    run.check()
    for name in ("data", "history", "timing", "network", "reconstructions", "gallery", "latents", "stats",
                 "published", "arrays", "generate"):
        view = getattr(run, name)
        assert (dataclasses.is_dataclass(view) or isinstance(view, BaseModel)) and all_fields_conform(view), name
    assert set(run.manifests) == set(artifacts.STEPS)
    for m in run.manifests.values():
        assert isinstance(m, artifacts.Manifest) and all_fields_conform(m)
    assert run.config.run.name == "smoke" and run.config_text.startswith("# Resolved configuration")
    on = run.manifests["train"].computed_on  # the smoke run trains on the CPU
    assert on.device == "cpu" and on.threads >= 1 and f"with {on.threads} thread" in computed_on_text(on.device, on.threads)
    assert run.manifests["stats"].computed_on is None
    assert set(run.sheets) == {"real", "reconstructed", *run.config.generate.generators}
    assert all(im.dtype == np.float32 and 0 <= im.min() and im.max() <= 1 for im in run.sheets.values())
    samples = run.samples
    assert set(samples["z"]) == {"real", *run.config.generate.generators}
    assert samples["images"]["gmm"].shape == (16, 1, 16, 16) and samples["z"]["gmm"].shape == (16, 16)


def test_timing_and_device_are_read_from_timing_json(run_dir):
    doc = json.loads((run_dir / "train" / "timing.json").read_text())
    t = Run(run_dir).timing
    assert t and t.device == doc["device"] == "cpu" and t.threads == doc["threads"] == 1
    assert t.total_seconds == pytest.approx(sum(e["seconds"] for e in doc["epochs"])) and t.total_seconds > 0
    assert [e.epoch for e in t.epochs] == [e.epoch for e in Run(run_dir).history.epochs]


def test_views_agree_with_the_files(run_dir):
    run = Run(run_dir)
    s = json.loads((run_dir / "stats" / "stats.json").read_text())
    assert run.stats.origin.mahalanobis.ledoit_wolf.distance == s["origin"]["mahalanobis"]["ledoit_wolf"]["distance"]
    assert run.stats.pca.axes_for_variance["0.9"] == s["pca"]["axes_for_variance"]["0.9"]
    assert [p.pair for p in run.stats.pairs] == [tuple(p["pair"]) for p in s["pairs"]]
    with np.load(run_dir / "stats" / "arrays.npz") as z:
        np.testing.assert_array_equal(run.arrays.b_grid, z["b_grid"])
        assert run.arrays.sample_z.dtype == z["sample_z"].dtype
    g = json.loads((run_dir / "generate" / "metrics.json").read_text())
    assert [r.name for r in run.generate.table] == [r["name"] for r in g["table"]]
    gens = run.generate.ranked
    assert run.generate.reference.kind == "reference" and [r.rank for r in gens] == sorted(r.rank for r in gens)
    for r in gens:  # ranked only where score intervals separate
        assert r.rank == 1 + sum(o.interval("score").low > r.interval("score").high for o in gens)
        assert r.value("score") == r.score and len(r.interval("score").repeats) == run.generate.settings.repeats
    assert all(len(names) > 1 and {run.generate.rank_of(n) for n in names} == {k}
               for k, names in run.generate.shared_ranks)
    sel, em = run.generate.gmm_selection, run.generate.gmm_em
    assert (sel.best.n_components, sel.best.covariance_type) == (sel.chosen.n_components, sel.chosen.covariance_type)
    assert em.repeats == run.generate.settings.repeats and 0 <= em.converged <= em.repeats
    assert em.n_iter_min <= em.n_iter_max
    dv = run.data_vs_published  # 160 generated 16 x 16 gray images against CelebA
    assert (dv.images, dv.size, dv.same_colour, dv.comparable) == ("fewer", "smaller", False, False)
    assert run.generate.rank_of("uniform") == next(r["rank"] for r in g["table"] if r["name"] == "uniform")
    assert run.generate.row("no-such-generator") is None and run.generate.rank_of("no-such-generator") is None
    assert run.latents == artifacts.Latents(n=160, N=16)
    assert run.versions["torch"] == json.loads((run_dir / "encode.manifest.json").read_text())["versions"]["torch"]


def test_shipped_config():
    cel = artifacts.shipped_config("celeba")
    assert cel.model.latent_dim == 256 and cel.data.channels == 3
    with pytest.raises(ArtifactError, match=r"^configs/nope\.toml: does not exist"):
        artifacts.shipped_config("nope")


# --------------------------------------------------------------------------- broken artifacts

def edit_json(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("change, view, message", [
    (lambda s: s["origin"].pop("mahalanobis"), "stats", "stats/stats.json: missing key 'origin.mahalanobis'"),
    (lambda s: s["pairs"][1]["zoom"].pop("half_width"), "stats",
     "stats/stats.json: missing key 'pairs[1].zoom.half_width'"),
    (lambda s: s["b"].update(used="1.5"), "stats",
     "stats/stats.json: key 'b.used' is the string '1.5', expected a finite number"),
    (lambda s: s["components"].update(n_off_centre=None), "stats",
     "stats/stats.json: key 'components.n_off_centre' is null, expected an integer"),
    (lambda s: s["components"].update(n_off_centre=True), "stats",
     "stats/stats.json: key 'components.n_off_centre' is true, expected an integer"),
    (lambda s: s["b"].update(used_source="guess"), "stats",
     "stats/stats.json: key 'b.used_source' is the string 'guess', expected one of 'config', 'fine b-scan'"),
    (lambda s: s.update(schema_version=1), "stats", "stats/stats.json: has schema_version 1, expected 3"),
])
def test_a_bad_key_names_file_and_key(copy, change, view, message):
    edit_json(copy / "stats" / "stats.json", change)
    with pytest.raises(ArtifactError) as e:
        getattr(Run(copy), view)
    assert str(e.value).startswith(message), str(e.value)
    assert isinstance(e.value, ValueError) and e.value.file == "stats/stats.json"


def test_a_missing_table_key_names_file_and_key(copy):
    edit_json(copy / "stats" / "stats.json", lambda s: s["pca"]["axes_for_variance"].pop("0.9"))
    afv = Run(copy).stats.pca.axes_for_variance
    assert "0.9" not in afv and afv["0.5"] >= 1
    with pytest.raises(ArtifactError, match=r"^stats/stats\.json: missing key 'pca\.axes_for_variance\.0\.9'$"):
        afv["0.9"]


def test_generator_intervals_and_ranks_are_checked(copy):
    path = copy / "generate" / "metrics.json"
    original = path.read_text()
    edit_json(path, lambda g: g["table"][2]["intervals"].pop("pixel_precision"))
    with pytest.raises(ArtifactError, match=r"^generate/metrics\.json: missing key 'table\[2\]\.intervals\.pixel_precision'$"):
        Run(copy).generate
    path.write_text(original)
    edit_json(path, lambda g: g["table"][-1].update(rank=g["table"][-1]["rank"] + 1))  # a rank no interval supports
    with pytest.raises(ArtifactError, match=r"^generate/metrics\.json: 'table' rank of .* score intervals lie wholly"):
        Run(copy).generate
    path.write_text(original)
    edit_json(path, lambda g: g.update(gmm_selection=None))
    with pytest.raises(ArtifactError, match="'gmm_selection' must be given exactly when gmm is among the generators"):
        Run(copy).generate


def test_gmm_selection_per_repetition_keys_name_file_and_key(copy):
    path = copy / "generate" / "metrics.json"
    original = path.read_text()
    sel = Run(copy).generate.gmm_selection
    R = Run(copy).generate.settings.repeats
    assert sel.repeats == len(sel.per_repeat) == R and sel.per_repeat[0].n_components == sel.chosen.n_components
    assert 1 <= sel.agreement <= R and sel.varied == (sel.agreement < R)
    assert sel.choice_text.startswith("the choice varied" if sel.varied else "the held-out log-likelihood chose")
    for change, key in [(lambda g: g["gmm_selection"].pop("per_repeat"), "gmm_selection.per_repeat"),
                        (lambda g: g["gmm_selection"]["per_repeat"][1].pop("score"), "gmm_selection.per_repeat[1].score"),
                        (lambda g: g["gmm_selection"].pop("agreement"), "gmm_selection.agreement"),
                        (lambda g: g["gmm_selection"].pop("modal"), "gmm_selection.modal"),
                        (lambda g: g["gmm_selection"].pop("repeats"), "gmm_selection.repeats"),
                        (lambda g: g["generators"]["gmm"].pop("repeat_params"), "generators.gmm.repeat_params"),
                        (lambda g: g["generators"]["mvn"].pop("varying"), "generators.mvn.varying")]:
        path.write_text(original)
        edit_json(path, change)
        with pytest.raises(ArtifactError, match=rf"^generate/metrics\.json: missing key '{re.escape(key)}'$"):
            Run(copy).generate
    for change, message in [
            (lambda g: g["gmm_selection"]["per_repeat"].pop(), r"'gmm_selection\.per_repeat' has \d+ entries"),
            (lambda g: g["gmm_selection"].update(agreement=g["gmm_selection"]["agreement"] + 1),
             r"'gmm_selection\.modal' and 'gmm_selection\.agreement' .* do not count 'gmm_selection\.per_repeat'"),
            (lambda g: g["gmm_selection"]["per_repeat"][0].update(n_components=999),
             r"'gmm_selection\.per_repeat\[0\]' is not the first repetition's choice"),
            (lambda g: g["generators"]["gmm"]["repeat_params"].pop(), r"'generators\.gmm\.repeat_params' has \d+ entries")]:
        path.write_text(original)
        edit_json(path, change)
        with pytest.raises(ArtifactError, match=rf"^generate/metrics\.json: {message}"):
            Run(copy).generate


def test_gmm_choice_text_is_chosen_from_the_counts():
    def selection(*choices):
        per = tuple(artifacts.GmmRepeatChoice(n_components=k, covariance_type=t, score=-1.0) for k, t in choices)
        return artifacts.GmmSelection(criterion="bic", validation_fraction=0.2, n_train=8, n_validation=2,
                                      reg_relative=0.01, tol=0.01, candidates=(), chosen=artifacts.GmmChoice(n_components=choices[0][0], covariance_type=choices[0][1]),
                                      per_repeat=per, modal=artifacts.GmmChoice(n_components=choices[0][0], covariance_type=choices[0][1]), agreement=0,
                                      repeats=len(choices))
    assert selection((5, "full"), (5, "full")).choice_text == "the BIC chose 5 full-covariance components in both repetitions"
    assert selection((1, "diag"), (2, "diag"), (2, "diag")).choice_text == (
        "the choice varied: the BIC chose 2 diag-covariance components in 2 of the 3 "
        "repetitions, 1 diag-covariance component in 1")


def test_other_files_name_their_keys(copy):
    edit_json(copy / "train" / "timing.json", lambda t: t.pop("device"))
    with pytest.raises(ArtifactError, match=r"^train/timing\.json: missing key 'device'$"):
        Run(copy).timing
    edit_json(copy / "generate" / "metrics.json", lambda g: g["table"][2].pop("copies"))
    with pytest.raises(ArtifactError, match=r"^generate/metrics\.json: missing key 'table\[2\]\.copies'$"):
        Run(copy).generate
    edit_json(copy / "encode" / "summary.json", lambda s: s["network"].update(parameters=1.5))
    with pytest.raises(ArtifactError, match=r"^encode/summary\.json: key 'network\.parameters' is the number 1\.5, "
                                            r"expected an integer$"):
        Run(copy).network
    edit_json(copy / "data" / "info.json", lambda d: d.update(source="ftp"))
    with pytest.raises(ArtifactError, match=r"^data/info\.json: key 'source'"):
        Run(copy).data


def test_broken_files(copy):
    (copy / "stats" / "stats.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"^stats/stats\.json: is not valid JSON .* the stats step writes it"):
        Run(copy).stats
    (copy / "encode" / "gallery.npz").unlink()
    with pytest.raises(ArtifactError, match=r"^encode/gallery\.npz: does not exist in .*python -m analysis encode"):
        Run(copy).gallery
    (copy / "data" / "info.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match=r"^data/info\.json: holds a list, expected a JSON object"):
        Run(copy).data


def test_bad_arrays_name_file_and_array(copy):
    path = copy / "stats" / "arrays.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path, **{k: v for k, v in arrays.items() if k != "b_grid"})
    with pytest.raises(ArtifactError, match=r"^stats/arrays\.npz: missing array 'b_grid'$"):
        Run(copy).arrays
    np.savez(path, **dict(arrays, corr=arrays["corr"][:5]))
    with pytest.raises(ArtifactError, match=r"^stats/arrays\.npz: array 'corr' has shape \(5, 16\), "
                                            r"expected \(N=16 × N=16\)$"):
        Run(copy).arrays
    np.savez(path, **dict(arrays, atlas_counts_all=arrays["atlas_counts_all"].astype(np.float32)))
    with pytest.raises(ArtifactError, match=r"array 'atlas_counts_all' has dtype float32"):
        Run(copy).arrays
    rec = copy / "encode" / "reconstructions.npz"
    with np.load(rec) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(rec, **dict(arrays, originals=arrays["originals"][:, :, :8]))
    with pytest.raises(ArtifactError, match=r"^encode/reconstructions\.npz: array 'originals' has shape"):
        Run(copy).reconstructions


def test_optional_artifacts_are_absent_with_a_reason(copy):
    (copy / "generate.manifest.json").unlink()
    run = Run(copy)
    assert isinstance(run.generate, Absent) and not run.generate
    assert run.generate.artifact == "generate/metrics.json" and "generate step has not run" in run.generate.reason
    assert not run.manifests["generate"] and run.manifests["stats"]
    with pytest.raises(ArtifactError, match="generate step has not run"):
        run.sheets
    run.check()  # everything else is there
    # adopted weights: the train manifest lists no timing.json, so no time is claimed
    edit_json(copy / "train.manifest.json", lambda m: m.pop("volatile"))
    t = Run(copy).timing
    assert isinstance(t, Absent) and "adopted" in t.reason
    # but a trained run whose timing.json is gone is an error, not a 0 s training on the "cpu"
    edit_json(copy / "train.manifest.json", lambda m: m.update(volatile=["train/timing.json"]))
    (copy / "train" / "timing.json").unlink()
    with pytest.raises(ArtifactError, match=r"^train/timing\.json: does not exist"):
        Run(copy).timing


def test_an_adopted_history_reads_as_such(copy):
    (copy / "train" / "history.json").write_text(json.dumps({"epochs": [], "source": "user checkpoint",
                                                             "checkpoint": "/x/model.pt"}))
    h = Run(copy).history
    assert h.adopted_from == "/x/model.pt" and h.n_train is None and h.epochs == ()
    (copy / "train" / "history.json").write_text(json.dumps({"epochs": []}))
    with pytest.raises(ArtifactError, match=r"^train/history\.json: missing key 'n_train'$"):
        Run(copy).history
