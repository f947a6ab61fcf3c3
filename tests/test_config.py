"""The study file: template, parsing, validation and overrides."""

import pytest

from psychoface.config import CONFIG_NAME, load_config, parse_config, render_template, write_config
from psychoface.errors import PsychofaceError


def test_template_parses_and_keeps_values(tmp_path):
    path = write_config(tmp_path, images="faces", ratings="r.xlsx", model="resnet18", layers=["conv5", "fc"])
    assert path.name == CONFIG_NAME
    cfg = load_config(tmp_path)
    assert (cfg.images, cfg.ratings, cfg.model, cfg.layers) == ("faces", "r.xlsx", "resnet18", ["conv5", "fc"])
    assert cfg.images_path == tmp_path.resolve() / "faces"
    assert cfg.source == path
    assert "# " in path.read_text()  # the file explains itself


def test_refuses_to_overwrite_without_force(tmp_path):
    write_config(tmp_path)
    with pytest.raises(PsychofaceError, match="already exists"):
        write_config(tmp_path)
    write_config(tmp_path, force=True, model="alexnet")
    assert load_config(tmp_path).model == "alexnet"


def test_flags_override_file(tmp_path):
    write_config(tmp_path, model="vgg16")
    cfg = load_config(tmp_path, model="alexnet", seed=7, layers=None)
    assert cfg.model == "alexnet" and cfg.seed == 7 and cfg.layers == ["conv5", "fc7"]


def test_unknown_key_is_named_with_suggestion(tmp_path):
    with pytest.raises(PsychofaceError, match=r"'modle'.*did you mean 'model'"):
        parse_config('modle = "vgg16"\n', root=tmp_path)


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(PsychofaceError, match="`seed` must be int"):
        parse_config('seed = "zero"\n', root=tmp_path)


def test_invalid_toml_names_file(tmp_path):
    f = tmp_path / CONFIG_NAME
    f.write_text("model = \n")
    with pytest.raises(PsychofaceError, match=str(f.name)):
        load_config(f)


def test_missing_images_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    with pytest.raises(PsychofaceError, match="--images"):
        cfg.images_path


@pytest.mark.parametrize(
    "weights, expected",
    [("DEFAULT", "DEFAULT"), ("IMAGENET1K_V1", "IMAGENET1K_V1"), ("none", "none"), ("ckpt/m.pth", "REL")],
)
def test_weights_spec(tmp_path, weights, expected):
    cfg = parse_config(render_template(weights=weights), root=tmp_path)
    assert cfg.weights_spec == (str(tmp_path / "ckpt/m.pth") if expected == "REL" else expected)
