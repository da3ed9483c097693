import pytest

from analysis.pipeline.config import Config, dumps_toml, load_config, parse_override
from analysis.errors import UserError


def write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_defaults_and_name_from_file(tmp_path):
    cfg = load_config(write(tmp_path, "[model]\nlatent_dim = 32\n"))
    assert cfg.model.latent_dim == 32
    assert cfg.data.source == "cbcl-faces"
    assert cfg.run.name == "c"


def test_shipped_configs_load():
    for name in ("default", "smoke", "celeba", "compare"):
        cfg = load_config(f"configs/{name}.toml")
        assert cfg.run.name == name
    assert load_config("configs/default.toml").model.latent_dim == 256
    celeba = load_config("configs/celeba.toml")
    assert (celeba.data.image_size, celeba.data.channels, celeba.data.source) == (64, 3, "folder")
    assert load_config("configs/default.toml").runs.seeds == [0, 1, 2]  # three seeds side by side
    compare = load_config("configs/compare.toml")
    assert (compare.runs.sweep_key, compare.runs.sweep_values) == ("model.latent_dim", [256, 64, 16])
    assert compare.data == load_config("configs/default.toml").data


def test_overrides_are_typed():
    cfg = load_config(None, ["train.epochs=5", "model.channels=[4, 8]", "data.path=/x/y", "train.lr=0.01",
                             "model.batch_norm=false", "data.image_size=16"])
    assert cfg.train.epochs == 5 and cfg.model.channels == [4, 8] and cfg.data.path == "/x/y"
    assert cfg.train.lr == 0.01 and cfg.model.batch_norm is False
    assert isinstance(load_config(None, ["train.lr=1"]).train.lr, float)  # int accepted for float


@pytest.mark.parametrize("override, needle", [
    ("train.epochs=five", "train.epochs"),
    ("train.epochs=1.5", "train.epochs"),
    ("model.batch_norm=1", "model.batch_norm"),
    ("model.channels=8", "model.channels"),
    ("model.latent_dim=0", "model.latent_dim"),
    ("model.latent_dim=-3", "model.latent_dim"),
    ("train.lr=0", "train.lr"),
    ("train.batch_size=0", "train.batch_size"),
    ("data.channels=2", "data.channels"),
    ("data.image_size=4", "data.image_size"),
    ("data.image_size=20", "image_size"),  # not divisible by 2**3
    ("stats.pairs=[[0, 300]]", "stats.pairs"),
    ("stats.b_grid=[0.5, -1]", "stats.b_grid"),
    ("stats.b=-1", "stats.b"),
    ("stats.sample_size=0", "stats.sample_size"),
    ("epochs=3", "section.key"),
])
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(UserError) as e:
        load_config(None, [override])
    assert needle in str(e.value)


def test_typos_suggest_the_closest_key(tmp_path):
    with pytest.raises(UserError, match=r"model.latnt_dim.*did you mean 'latent_dim'"):
        load_config(write(tmp_path, "[model]\nlatnt_dim = 3\n"))
    with pytest.raises(UserError, match=r"\[trian\].*did you mean 'train'"):
        load_config(write(tmp_path, "[trian]\nepochs = 3\n"))


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(write(tmp_path, "[model\nlatent_dim = "))
    with pytest.raises(UserError, match="must be a \\[section\\] table"):
        load_config(write(tmp_path, "epochs = 3\n"))
    with pytest.raises(UserError, match="needs data.path"):
        load_config(write(tmp_path, "[data]\nsource = 'folder'\n"))


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config("configs/smoke.toml", ["train.epochs=7"])
    p = tmp_path / "resolved.toml"
    p.write_text(dumps_toml(cfg))
    again = load_config(p)
    assert again.to_dict() == cfg.to_dict()
    assert isinstance(Config().to_dict()["model"]["channels"], list)


def test_parse_override_reads_toml_values():
    assert parse_override("a.b=[1,2]") == ("a", "b", [1, 2])
    assert parse_override("a.b=hello") == ("a", "b", "hello")
    assert parse_override('a.b="x=y"') == ("a", "b", "x=y")


def _keys_of_type(tp):
    from configfields import config_keys

    return [k.key for k in config_keys() if k.type is tp]


@pytest.mark.case("every float key of every section set to nan, inf or -inf; every int key set to 2**70 or -2**70",
                  "a UserError naming that key, for each of them (the checks are generic, not per key)")
def test_every_numeric_key_rejects_non_finite_and_huge_values():
    floats, ints = list(_keys_of_type(float)), list(_keys_of_type(int))
    assert "train.lr" in floats and "stats.k_sigma" in floats and "run.seed" in ints
    for key in floats:
        for bad in ("nan", "inf", "-inf"):
            with pytest.raises(UserError, match=rf"'{key}' = .*(not a finite number|below its minimum)"):
                load_config(None, [f"{key}={bad}"])
    for key in ints:
        for bad in (2 ** 70, -2 ** 70):
            with pytest.raises(UserError, match=rf"'{key}' = "):
                load_config(None, [f"{key}={bad}"])
    for key in ("stats.b_grid", "generate.sweep_confidence"):
        with pytest.raises(UserError, match=rf"'{key}\[1\]' = nan is not a finite number"):
            load_config(None, [f"{key}=[0.5, nan]"])


def test_every_key_is_documented_and_every_list_bounded():
    """The section models are the configuration's documentation (the exported JSON Schema shows it):
    each key says what it does, and each list has a length limit (a config cannot hold a million items)."""
    import annotated_types as at
    import typing

    from analysis.pipeline.config import SECTIONS

    for section, cls in SECTIONS.items():
        assert (cls.__doc__ or "").strip(), section
        for name, f in cls.model_fields.items():
            assert f.description and len(f.description) > 10, f"{section}.{name}"
            if typing.get_origin(f.annotation) is list:
                assert any(isinstance(m, at.MaxLen) for m in f.metadata), f"{section}.{name} has no max_length"
