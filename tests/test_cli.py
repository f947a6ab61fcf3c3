"""The command line end to end: every kind of bad input in DESIGN.md ("Bad input") gives one line on stderr
that names the file, row or value and says what to do, never a traceback, and a non-zero exit status
(2 for a user error; 1 when `psychoface check` found a blocking problem). Odd but valid images (grayscale,
RGBA, CMYK, 16-bit, EXIF-rotated) go through `check` and `extract`, and their features equal those of
plain RGB twins built independently with NumPy.

The CLI is driven in-process with Typer's CliRunner (stdout and stderr kept apart) and, for the exit
status and stderr of a real process, with ``python -m psychoface``. Extraction uses mobilenet_v3_small
with random weights (`--weights none`), the cheapest torchvision classifier, on a few tiny images.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import struct
import subprocess
import sys
import traceback
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.main import get_command
from typer.testing import CliRunner

from psychoface.cli import app
from psychoface.config import CONFIG_NAME, write_config

MODEL = "mobilenet_v3_small"
ALIASES = ("stem", "block1", "block11", "conv_last", "pool", "pre_logits", "logits")
"""Some of mobilenet_v3_small's layer aliases, which an unknown-layer error must list."""

PILLOW_LIMIT = "89,478,485 pixels"

runner = CliRunner()


# ------------------------------------------------------------------------------------------------ helpers


def cli(*args, code: int = 0):
    """Run ``psychoface ARGS`` in-process; assert the exit status and that no exception escaped."""
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            "exception escaped the CLI:\n" + "".join(traceback.format_exception(*result.exc_info))
        )
    assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.output
    return result


def error_line(stderr: str) -> str:
    """The one line of error on stderr (after `error: `)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0].removeprefix("error: ")


def noise(height: int, width: int, seed: int, channels: int | None = 3) -> np.ndarray:
    shape = (height, width) if channels is None else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(array: np.ndarray, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    buf = io.BytesIO()
    Image.new("1", (1, 1)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path) -> Path:
    """Keep the first half of a file: the header still reads, the pixels do not."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_study(root: Path, n: int = 3, ratings: str | None = None) -> Path:
    """Images 1..n (RGB noise PNGs), wide ratings of them, and psychoface.toml; returns the config path."""
    for i in range(1, n + 1):
        save(noise(40, 48, seed=i), root / "images" / f"{i}.png")
    if ratings is None:
        ratings = "stimulus,trust\n" + "".join(f"{i},{i + 2}\n" for i in range(1, n + 1))
    (root / "ratings.csv").write_text(ratings)
    return write_config(root, images="images", ratings="ratings.csv", model=MODEL, weights="none", layers=["stem"],
                        workers=0, device="cpu")


@pytest.fixture
def study(tmp_path) -> Path:
    """A valid study of 3 images with wide ratings; the value is its psychoface.toml."""
    return make_study(tmp_path)


# --------------------------------------------------------------------------------------------- help, init


def _command_paths(command, prefix=()):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, prefix + (name,))


@pytest.mark.parametrize("path", list(_command_paths(get_command(app))), ids=lambda p: " ".join(p) or "psychoface")
def test_every_help_exits_0(path):
    result = cli(*path, "--help")
    assert "Usage" in result.stdout
    assert result.stderr == ""


def test_init_writes_and_refuses_to_overwrite(tmp_path):
    assert cli("init", tmp_path, "--images", "faces", "--model", MODEL).stdout.startswith("wrote ")
    target = tmp_path / CONFIG_NAME
    text = target.read_text()
    assert 'images = "faces"' in text and f'model = "{MODEL}"' in text
    target.write_text(text + "# my edits\n")
    result = cli("init", tmp_path, code=2)
    line = error_line(result.stderr)
    assert str(target) in line and "already exists" in line and "--force" in line
    assert target.read_text().endswith("# my edits\n")  # untouched
    cli("init", tmp_path, "--force")
    assert "# my edits" not in target.read_text()


def test_bad_study_file_names_the_key(study):
    study.write_text(study.read_text() + 'modle = "vgg16"\n')
    line = error_line(cli("check", "--config", study, code=2).stderr)
    assert str(study) in line and "'modle'" in line and "did you mean 'model'" in line


# ------------------------------------------------------------------------------------ check: the images


def test_check_valid_study_exits_0(study):
    result = cli("check", "--config", study)
    assert result.stderr == ""
    assert "0 blocking, 0 other" in result.stdout


def _missing_folder(root):
    shutil.rmtree(root / "images")
    return root / "images", "images folder not found"


def _no_images(root):
    for p in (root / "images").iterdir():
        p.rename(p.with_suffix(".txt"))
    return root / "images", "no images found"


def _not_an_image(root):
    (root / "images" / "2.png").write_bytes(b"this is not a picture\n" * 10)
    return root / "images" / "2.png", "not an image Pillow can read"


def _empty_file(root):
    (root / "images" / "2.png").write_bytes(b"")
    return root / "images" / "2.png", "not an image Pillow can read"


def _dangling_link(root):
    (root / "images" / "2.png").unlink()
    (root / "images" / "2.png").symlink_to(root / "gone.png")
    return root / "images" / "2.png", "image file not found"


def _bomb(root):
    bomb_png(root / "images" / "2.png", 20_000, 20_000)
    return root / "images" / "2.png", f"exceeds the limit of {PILLOW_LIMIT}"


def _bomb_below_pillow_error(root):
    """Between Pillow's warning and its error: Pillow would only warn; psychoface refuses."""
    bomb_png(root / "images" / "2.png", 10_000, 10_000)
    return root / "images" / "2.png", f"10000 x 10000 = 100,000,000 pixels exceeds the limit of {PILLOW_LIMIT}"


def _duplicate_image_ids(root):
    save(noise(8, 8, seed=9), root / "images" / "sub" / "2.jpg")
    return root / "images" / "2.png", "the same stimulus id '2'"


@pytest.mark.parametrize(
    "breakage",
    [_missing_folder, _no_images, _not_an_image, _empty_file, _dangling_link, _bomb, _bomb_below_pillow_error,
     _duplicate_image_ids],
)
def test_check_bad_images_one_line_exit_1(study, breakage):
    culprit, problem = breakage(study.parent)
    result = cli("check", "--config", study, code=1)
    line = error_line(result.stderr)
    assert str(culprit) in line and problem in line
    assert ";" in line  # ... and what to do


def test_check_unreadable_image(study, monkeypatch):
    image = study.parent / "images" / "2.png"
    image.chmod(0)
    if getattr(os, "geteuid", lambda: -1)() == 0:  # root reads any file: make open() fail as for anyone else
        real_open = builtins.open

        def guarded_open(file, *args, **kwargs):
            if str(file) == str(image):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", guarded_open)
    line = error_line(cli("check", "--config", study, code=1).stderr)
    assert str(image) in line and "permission denied" in line and "check its permissions" in line


def test_check_truncated_image_needs_decode(study):
    image = truncate(study.parent / "images" / "2.png")
    assert cli("check", "--config", study).stderr == ""  # the header alone is fine
    line = error_line(cli("check", "--config", study, "--decode", code=1).stderr)
    assert str(image) in line and "truncated or corrupt image" in line and "re-export" in line


def test_check_prints_brackets_verbatim(tmp_path):
    """Rich markup must neither eat `[x]` in a file name nor choke on `[/]` in a value."""
    config = make_study(tmp_path)
    bad = tmp_path / "images" / "[x] face.png"
    bad.write_bytes(b"garbage")
    line = error_line(cli("check", "--config", config, code=1).stderr)
    assert str(bad) in line
    bad.unlink()
    (tmp_path / "ratings.csv").write_text("stimulus,trust\n1,[/]\n")
    line = error_line(cli("check", "--config", config, code=1).stderr)
    assert "row 2, column 'trust': '[/]' is not a number" in line


def test_user_error_with_brackets_is_printed_verbatim(study):
    study.write_text(study.read_text() + '"[/]" = 1\n')
    line = error_line(cli("check", "--config", study, code=2).stderr)
    assert f"{study}: unknown key '[/]'" in line


# ----------------------------------------------------------------------------------- check: the ratings


WIDE = "stimulus,trust\n"
LONG = "stimulus,attribute,rating\n"


@pytest.mark.parametrize(
    "ratings, problem",
    [
        (WIDE + "a,1\nb,2\nc,3\n", "no stimulus ids match"),
        (WIDE + "001,1\n002,2\n003,3\n", "leading zeros"),
        (WIDE + "1,1\n2,2\n1,3\n3,4\n", "rows 2, 4: stimulus id '1' appears 2 times"),
        (WIDE + "1,3\n2,x\n3,5\n", "row 3, column 'trust': 'x' is not a number"),
        (WIDE + "1,3\n2,4\n3,inf\n", "row 4, column 'trust': inf is not a finite number"),
        (LONG + "1,trust,3\n1,trust,4\n2,trust,NaN\n", "row 4, column 'rating': empty rating"),
        (LONG + "1,trust,3\n2,trust,seven\n", "row 3, column 'rating': 'seven' is not a number"),
        (LONG + "1,trust,3\n,trust,4\n", "row 3, column 'stimulus': empty stimulus id"),
        ("stimulus,trust,trust\n1,2,3\n", "column 'trust' appears twice"),
        ("", "is empty"),
    ],
    ids=["ids-differ", "leading-zeros", "duplicate-ids", "non-numeric", "inf", "nan-long", "non-numeric-long",
         "empty-id", "duplicate-column", "empty-file"],
)
def test_check_bad_ratings_one_line_exit_1(tmp_path, ratings, problem):
    config = make_study(tmp_path, ratings=ratings)
    line = error_line(cli("check", "--config", config, code=1).stderr)
    assert problem in line
    if "no stimulus ids match" not in problem and "leading zeros" not in problem:
        assert str(tmp_path / "ratings.csv") in line
    else:  # examples of the ids on both sides
        assert "'1'" in line and ("'a'" in line or "'001'" in line)
    assert ";" in line


def test_check_missing_and_binary_ratings_files(study):
    ratings = study.parent / "ratings.csv"
    ratings.unlink()
    line = error_line(cli("check", "--config", study, code=1).stderr)
    assert str(ratings) in line and "ratings file not found" in line
    ratings.write_bytes(bytes(range(256)) * 4)
    line = error_line(cli("check", "--config", study, code=1).stderr)
    assert str(ratings) in line and "not a text table" in line


def _warnings(stdout: str) -> list[str]:
    return [line.removeprefix("warning: ") for line in stdout.splitlines() if line.startswith("warning: ")]


def test_check_constant_ratings_warn_and_name_the_attribute(tmp_path):
    config = make_study(tmp_path, ratings="stimulus,trust,happy\n1,4,1\n2,4,2\n3,4,3\n")
    result = cli("check", "--config", config)  # a warning does not block the other attributes
    assert result.stderr == ""
    (warning,) = _warnings(result.stdout)
    assert warning.startswith("attribute 'trust': the same mean rating for every stimulus")
    assert "happy" not in warning


def test_check_nan_in_wide_ratings_means_not_rated(tmp_path):
    config = make_study(tmp_path, ratings="stimulus,trust,happy\n1,4,NaN\n2,5,\n3,6,2\n")
    result = cli("check", "--config", config)
    (warning,) = _warnings(result.stdout)
    assert warning.startswith("attribute 'happy': no ratings for 67% of the 3 matched stimuli")


def test_check_partly_matching_ids_warn_with_examples(tmp_path):
    config = make_study(tmp_path, ratings=WIDE + "1,3\n2,4\n7,5\n")
    result = cli("check", "--config", config)
    assert result.stderr == ""
    warnings = _warnings(result.stdout)
    assert any(w.startswith("1 rated stimuli have no image") and "'7'" in w for w in warnings)
    assert any(w.startswith("1 images have no ratings") and "'3'" in w for w in warnings)


def _with_path_column(config: Path, rows: str) -> None:
    config.write_text(config.read_text() + 'path_column = "file"\n')
    (config.parent / "ratings.csv").write_text("file,trust\n" + rows)


def test_check_path_column_matches_images(study):
    _with_path_column(study, "1.png,3\n2.png,4\n3.png,5\n")
    assert "matched stimuli (image and ratings) 3" in " ".join(cli("check", "--config", study).stdout.split())


@pytest.mark.parametrize(
    "value, problem",
    [("../outside.png", "points outside the images folder"), ("link.png", "points outside the images folder"),
     ("/etc/passwd", "is an absolute path")],
    ids=["dotdot", "symlink", "absolute"],
)
def test_check_ratings_paths_outside_the_images_folder(study, value, problem):
    root = study.parent
    save(noise(8, 8, seed=5), root / "outside.png")
    (root / "images" / "link.png").symlink_to(root / "outside.png")
    _with_path_column(study, f"1.png,3\n{value},4\n")
    line = error_line(cli("check", "--config", study, code=1).stderr)
    assert line.startswith(f"{root / 'ratings.csv'} row 3, column 'file': {value!r} {problem}")


# ------------------------------------------------------------------------------------ extract: bad input


def test_extract_unknown_model(study):
    line = error_line(cli("extract", "--config", study, "--model", "resnet19", code=2).stderr)
    assert "unknown model 'resnet19'" in line and "resnet18" in line
    assert not (study.parent / "features").exists()


def test_layers_unknown_model(study):
    line = error_line(cli("layers", "--model", "vgg61", code=2).stderr)
    assert "unknown model 'vgg61'" in line and "vgg16" in line


def test_extract_unknown_layer_lists_the_aliases(study):
    line = error_line(cli("extract", "--config", study, "--layers", "stem,fc7", code=2).stderr)
    assert line.startswith(f"unknown layer 'fc7' for {MODEL}")
    listed = line.split("aliases are ", 1)[1]
    assert all(alias in listed for alias in ALIASES)
    assert "psychoface layers" in line


def test_extract_ids_not_matching_the_ratings(tmp_path):
    config = make_study(tmp_path, ratings=WIDE + "a,1\nb,2\n")
    line = error_line(cli("extract", "--config", config, code=2).stderr)
    assert "no stimulus ids match" in line and str(tmp_path / "images") in line


@pytest.mark.parametrize(
    "breakage", [_not_an_image, _bomb], ids=["corrupt", "bomb"],
)
def test_extract_refuses_a_bad_image(study, breakage):
    culprit, problem = breakage(study.parent)
    line = error_line(cli("extract", "--config", study, code=2).stderr)
    assert line.startswith(f"{culprit}: ") and problem in line
    assert "features of the first 0 images are saved" in line


def test_extract_decoding_failure_mid_run_keeps_rows_and_resumes(study):
    images = study.parent / "images"
    good = (images / "3.png").read_bytes()
    truncate(images / "3.png")
    result = cli("extract", "--config", study, "--batch-size", "2", "--workers", "1", code=2)
    line = error_line(result.stderr)
    assert line.startswith(f"{images / '3.png'}: truncated or corrupt image")
    assert "features of the first 2 images are saved" in line and "run `psychoface extract` again" in line
    info = " ".join(cli("features", "info", "--config", study).stdout.split())
    assert "3 images" in info and "stem features.0 16x112x112 none 200704 no" in info  # kept, incomplete
    (images / "3.png").write_bytes(good)
    result = cli("extract", "--config", study, "--batch-size", "2", "--workers", "1")
    assert "stored stem for 3 images" in result.stdout
    info = " ".join(cli("features", "info", "--config", study).stdout.split())
    assert "stem features.0 16x112x112 none 200704 yes" in info


def test_features_without_a_store(study):
    line = error_line(cli("features", "info", "--config", study, code=2).stderr)
    assert str(study.parent / "features") in line and "run `psychoface extract`" in line


# --------------------------------------------------------- odd but valid images: check and extract succeed


@pytest.fixture(scope="module")
def odd_study(tmp_path_factory):
    """Grayscale, RGBA, CMYK, 16-bit and EXIF-rotated images, each beside an RGB twin built with NumPy.

    Returns (config path, {odd id: twin id}, {id: colour mode on disk}); features are extracted once.
    """
    root = tmp_path_factory.mktemp("odd")
    images = root / "images"
    twins, modes = {}, {}

    gray = noise(48, 40, seed=1, channels=None)
    save(gray, images / "gray.png")
    save(np.stack([gray] * 3, axis=-1), images / "gray_twin.png")
    twins["gray"], modes["gray"] = "gray_twin", "L"

    rgb, alpha = noise(48, 40, seed=2), np.where(noise(48, 40, seed=3, channels=None) > 127, 255, 0).astype(np.uint8)
    save(np.dstack([rgb, alpha]), images / "rgba.png")
    save(np.where(alpha[..., None] == 255, rgb, 255).astype(np.uint8), images / "rgba_twin.png")
    twins["rgba"], modes["rgba"] = "rgba_twin", "RGBA"

    Image.fromarray(noise(48, 40, seed=4, channels=4), mode="CMYK").save(images / "cmyk.tif")
    with Image.open(images / "cmyk.tif") as im:
        assert im.mode == "CMYK"
        im.convert("RGB").save(images / "cmyk_twin.png")  # "CMYK by Pillow's conversion"
    twins["cmyk"], modes["cmyk"] = "cmyk_twin", "CMYK"

    gray8 = noise(48, 40, seed=5, channels=None)
    Image.fromarray(gray8.astype(np.uint16) * 257).save(images / "gray16.png")  # 0..65535
    save(np.stack([gray8] * 3, axis=-1), images / "gray16_twin.png")
    twins["gray16"], modes["gray16"] = "gray16_twin", "I;16"

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    save(noise(40, 64, seed=6), images / "exif.jpg", exif=exif, quality=95)
    with Image.open(images / "exif.jpg") as im:
        stored = np.asarray(im.convert("RGB"))  # the pixels as stored, orientation not applied
    save(np.rot90(stored, k=-1), images / "exif_twin.png")
    save(stored, images / "exif_unrotated.png")
    twins["exif"], modes["exif"] = "exif_twin", "RGB"

    ids = sorted(p.stem for p in images.iterdir())
    (root / "ratings.csv").write_text("stimulus,trust\n" + "".join(f"{i},{k}\n" for k, i in enumerate(ids)))
    config = write_config(root, images="images", ratings="ratings.csv", model=MODEL, weights="none",
                          layers=["stem", "pool"], workers=0, device="cpu", batch_size=16)
    result = cli("extract", "--config", config)
    stored = " ".join(result.stdout.split()).split("stored ", 1)[1]
    assert stored.startswith(("stem, pool for 11 images", "pool, stem for 11 images")), stored
    assert (root / "features" / "manifest.json").is_file()
    return config, twins, modes


def test_check_accepts_odd_images(odd_study):
    config, _, modes = odd_study
    result = cli("check", "--config", config, "--decode")
    assert result.stderr == ""
    listed = next(line for line in result.stdout.splitlines() if "image colour modes" in line)
    for mode in set(modes.values()):
        assert f"{mode} " in listed


@pytest.mark.parametrize("layer", ["stem", "pool"])
def test_odd_images_give_the_features_of_their_rgb_twins(odd_study, tmp_path, layer):
    config, twins, _ = odd_study
    out = tmp_path / f"{layer}.npy"
    cli("features", "export", layer, out, "--config", config)
    X = np.load(out)
    ids = out.with_name(f"{layer}.ids.txt").read_text().split()
    row = {i: X[k] for k, i in enumerate(ids)}
    assert np.isfinite(X).all()
    scale = float(np.abs(X).max())  # random weights: a deep layer's values can be tiny
    assert scale > 0
    for odd, twin in twins.items():
        np.testing.assert_allclose(row[odd], row[twin], rtol=1e-4, atol=1e-4 * scale, err_msg=odd)
    # the comparisons have power: the EXIF rotation and the image content change the features
    for a, b in (("exif", "exif_unrotated"), ("gray", "gray16")):
        assert np.abs(row[a] - row[b]).max() > 0.05 * scale, (a, b)


def test_features_export_unknown_layer_names_the_present_ones(odd_study, tmp_path):
    config, _, _ = odd_study
    line = error_line(cli("features", "export", "fc7", tmp_path / "x.csv", "--config", config, code=2).stderr)
    assert "layer 'fc7' is not in the feature store" in line
    assert "stem" in line.split("present: ")[1] and "pool" in line.split("present: ")[1]


def test_features_info_describes_the_store(odd_study):
    config, _, _ = odd_study
    text = " ".join(cli("features", "info", "--config", config).stdout.split())  # undo rich's wrapping
    assert f"model {MODEL}, weights random init, seed 0, 11 images" in text
    assert "stem features.0 16x112x112 none 200704 yes" in text and "pool avgpool 576x1x1 none 576 yes" in text


# ---------------------------------------------------------------------------------- a real process


def _run(args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "default", "COLUMNS": "60"}
    return subprocess.run([sys.executable, "-m", "psychoface", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_process_init_refusal_exit_2_one_line(study):
    proc = _run(["init"], cwd=study.parent)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    line = error_line(proc.stderr)
    assert CONFIG_NAME in line and "--force" in line


def test_process_check_corrupt_image_exit_1_one_line(study):
    culprit, problem = _not_an_image(study.parent)
    proc = _run(["check", "--decode"], cwd=study.parent)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    line = error_line(proc.stderr)  # one line even at 60 columns
    assert str(culprit) in line and problem in line
    assert "1 blocking" in proc.stdout


def test_process_extract_unknown_layer_exit_2_one_line(study):
    """Through torch and torchvision: still one line on stderr, no warning, no traceback."""
    proc = _run(["extract", "--layers", "fc7"], cwd=study.parent)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    line = error_line(proc.stderr)
    assert line.startswith(f"unknown layer 'fc7' for {MODEL}") and all(a in line for a in ALIASES)
