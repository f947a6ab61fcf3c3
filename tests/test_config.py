"""The study file: template, parsing, validation and overrides."""

import pytest
from PIL import Image

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


@pytest.mark.parametrize("weights", [
    "DEFAULT", "default", "IMAGENET1K_V1", "imagenet1k_features", "VGG16_Weights.IMAGENET1K_V1",
    "vgg16_weights.default", "none", "None"])
def test_torchvision_weights_names_in_any_case_are_names(tmp_path, weights):
    (tmp_path / weights).write_text("a file of that name does not shadow the weights name")
    cfg = parse_config(render_template(model="vgg16", weights=weights), root=tmp_path)
    assert cfg.weights_spec == weights


def test_weights_path_resolved_against_study_folder(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "m.pth").write_bytes(b"")
    cfg = parse_config(render_template(weights="ckpt/m.pth"), root=tmp_path)
    assert cfg.weights_spec == str(tmp_path / "ckpt" / "m.pth")


def test_weights_neither_name_nor_file_lists_the_names(tmp_path):
    cfg = parse_config(render_template(model="vgg16", weights="IMAGENET2K"), root=tmp_path)
    with pytest.raises(PsychofaceError) as info:
        cfg.weights_spec
    message = str(info.value)
    assert message == (f"weights 'IMAGENET2K' for vgg16: neither a torchvision weights name nor an existing "
                       f"checkpoint file ({tmp_path / 'IMAGENET2K'}); use one of DEFAULT, IMAGENET1K_V1, "
                       "IMAGENET1K_FEATURES, none, or a checkpoint path")
    cfg = parse_config(render_template(model="vgg61", weights="default"), root=tmp_path)
    assert cfg.weights_spec == "default"  # the unknown model is build_model's error to report


# --- the command line: one line, never a traceback ------------------------------------------------------

def _cli_error(args):
    from typer.testing import CliRunner

    from psychoface.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


def test_init_into_a_file_or_an_unwritable_place_is_one_line(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    message = _cli_error(["init", target])
    assert message == (f"{target}: is a file, not a folder; give `psychoface init` the study folder "
                       f"(it writes {CONFIG_NAME} there)")
    assert target.read_text() == "mine"
    message = _cli_error(["init", target / "study"])
    assert message.startswith(f"{target / 'study'}: is a file, not a folder") or \
        message.startswith(f"{target / 'study' / CONFIG_NAME}: cannot be written (Not a directory)")
    write_config(tmp_path)
    assert _cli_error(["init", tmp_path]).startswith(f"{tmp_path / CONFIG_NAME} already exists")


def test_extract_with_lowercase_default_weights_is_not_a_path(tmp_path, monkeypatch):
    from psychoface import workflows

    seen = {}
    monkeypatch.setattr("psychoface.features.extract.extract", lambda *a, **k: seen.update(k))
    write_config(tmp_path, images="images", model="vgg16", weights="default")
    (tmp_path / "images").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "face.png")
    workflows.extract_features(load_config(tmp_path))
    assert seen["weights"] == "default"
