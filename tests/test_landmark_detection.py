"""`psychoface landmarks`: dlib's HOG detector and 68-point model on a few real OMI faces (skipped when
../shared/data/omi is absent), images with no face or two faces listed and skipped, the CSV with its
provenance read back by load_landmarks, contact sheets, and the one-line error without the extra."""

from __future__ import annotations

import builtins
import json
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from psychoface.data.images import find_images
from psychoface.data.landmarks import load_landmarks
from psychoface.errors import PsychofaceError

HERE = Path(__file__).resolve()
OMI = next((p / "shared" / "data" / "omi" for p in (HERE.parents[2], HERE.parents[3])
            if (p / "shared" / "data" / "omi" / "images").is_dir()), HERE.parents[2] / "shared" / "data" / "omi")
needs_omi = pytest.mark.skipif(not (OMI / "images").is_dir(), reason="../shared/data/omi/images is absent")
dlib = pytest.importorskip("dlib", reason="the landmarks extra (dlib-bin) is not installed")


def _study(tmp_path: Path, ids=("1", "2", "3")) -> Path:
    images = tmp_path / "img"
    images.mkdir()
    for i in ids:
        (images / f"{i}.jpg").symlink_to(OMI / "images" / f"{i}.jpg")
    one, two = Image.open(OMI / "images" / "1.jpg"), Image.open(OMI / "images" / "2.jpg")
    pair = Image.new("RGB", (one.width + two.width, max(one.height, two.height)))
    pair.paste(one, (0, 0))
    pair.paste(two, (one.width, 0))
    pair.save(images / "pair.jpg")
    Image.new("RGB", (300, 300), (120, 140, 160)).save(images / "blank.png")
    return images


@needs_omi
def test_detects_one_face_per_image_and_skips_the_rest(tmp_path):
    from psychoface.features.landmark_detection import contact_sheet, detect_landmarks, write_detection

    images = _study(tmp_path)
    stimuli = find_images(images)
    found = detect_landmarks(stimuli)
    assert found.landmarks.ids == ["1", "2", "3"] and found.landmarks.template == "dlib68"
    assert found.skipped.set_index("stimulus")["reason"].to_dict() == {"blank": "no face found",
                                                                        "pair": "2 faces found"}
    for i, row in enumerate(found.faces.itertuples(index=False)):
        pts = found.landmarks.coords[i]
        # every point near its face box; the subject's right eye (36-41) left of the left eye (42-47) in the
        # image, brows above the eyes, the nose tip between the eyes and the mouth, the chin lowest of the jaw
        m = 0.3 * (row.face_right - row.face_left)  # the HOG box is tight: the chin lies below it
        assert (pts[:, 0] > row.face_left - m).all() and (pts[:, 0] < row.face_right + m).all()
        assert (pts[:, 1] > row.face_top - m).all() and (pts[:, 1] < row.face_bottom + m).all()
        assert pts[36:42, 0].mean() < pts[42:48, 0].mean()
        assert pts[17:27, 1].mean() < pts[36:48, 1].mean() < pts[30, 1] < pts[48:68, 1].mean()
        assert pts[8, 1] == pts[:17, 1].max()
    paths = write_detection(found, tmp_path / "landmarks.csv")
    table = pd.read_csv(paths["landmarks"], dtype={"stimulus": str})
    assert {"face_score", "detector", "model_sha256"} <= set(table.columns)
    meta = json.loads(paths["provenance"].read_text())
    assert len(meta["model_sha256"]) == 64 and table["model_sha256"].eq(meta["model_sha256"]).all()
    assert "300-W" in meta["licence"]
    back = load_landmarks(paths["landmarks"])
    np.testing.assert_array_equal(back.coords, found.landmarks.coords)
    pages = contact_sheet(found.landmarks, stimuli, tmp_path / "sheet", skipped=found.skipped)
    assert len(pages) == 1 and Image.open(pages[0]).size[0] > 0


@needs_omi
def test_cli_writes_csv_list_and_sheets(tmp_path):
    from psychoface.cli import app

    images = _study(tmp_path, ids=("4",))
    result = CliRunner().invoke(app, ["landmarks", "--images", str(images), "--output", str(tmp_path / "lm.csv")])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("".join(traceback.format_exception(*result.exc_info)))
    assert result.exit_code == 0, result.stdout
    assert "68 landmarks of 1 of 3 faces" in result.stdout and "skipped: pair: 2 faces found" in result.stdout
    assert (tmp_path / "lm_skipped.csv").is_file() and (tmp_path / "lm_contact" / "landmarks_contact_01.png").is_file()
    again = CliRunner().invoke(app, ["landmarks", "--images", str(images), "--output", str(tmp_path / "lm.csv")])
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_missing_extra_says_how_to_install(monkeypatch):
    from psychoface.features import landmark_detection

    real = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("No module named 'dlib'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    with pytest.raises(PsychofaceError, match=r'not installed; run pip install "psychoface\[landmarks\]"'):
        landmark_detection.detect_landmarks([])


def test_bad_upsample():
    from psychoface.features.landmark_detection import detect_landmarks

    with pytest.raises(PsychofaceError, match="upsample=5"):
        detect_landmarks([], upsample=5)


@needs_omi
def test_detected_landmarks_say_so_in_the_methods(tmp_path):
    from psychoface.features.landmark_detection import detect_landmarks, write_detection
    from psychoface.kinds.shape_words import methods
    from psychoface.reports.references import Citations

    paths = write_detection(detect_landmarks(find_images(_study(tmp_path, ids=("5",)))), tmp_path / "lm.csv")
    source = load_landmarks(paths["landmarks"]).source
    assert source.endswith("(detected: dlib HOG frontal face detector (get_frontal_face_detector))")
    text = methods({"analysis": "shape averageness", "landmark_source": source, "n_landmarks": 68,
                    "template": "dlib68"}, Citations(), set())[0].plain
    assert "detected with dlib's HOG face detector (Dalal & Triggs, 2005; King, 2009)" in text
    assert "iBUG 300-W" in text and str(tmp_path) not in text
