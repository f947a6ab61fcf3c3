"""Landmarks: readers against files written by hand in each format, bad input, the built-in left-right
pairings, the study file key, and the demo faces' exact landmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from psychoface.config import load_config
from psychoface.data.landmarks import (
    DLIB68_MIRROR,
    WEBMORPH189_MIRROR,
    Landmarks,
    check_mirror,
    load_landmarks,
    outside_image,
    parse_pairs,
    study_landmarks,
)
from psychoface.data.images import find_images
from psychoface.data.synthetic import face_landmarks, face_parameters, generate_study, render_face
from psychoface.errors import PsychofaceError

TEM = """3
10.5 20
30\t40.25
50 60
2
0 1 2
"""

PTS = """version: 1
n_points:  3
{
1 2
3.5 4
5 6.75
}
"""


def _images(folder, names, size=(100, 80)):
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        Image.new("RGB", size, (128, 128, 128)).save(folder / f"{n}.png")
    return folder


def test_tem_and_pts_files_beside_the_images(tmp_path):
    images = _images(tmp_path / "img", ["a", "b"])
    (images / "a.tem").write_text(TEM)
    (images / "b.pts").write_text(PTS)
    lm = load_landmarks(images=images)
    assert lm.ids == ["a", "b"] and lm.template == "custom" and lm.mirror is None
    np.testing.assert_array_equal(lm.coords[0], [[10.5, 20], [30, 40.25], [50, 60]])
    np.testing.assert_array_equal(lm.coords[1], [[1, 2], [3.5, 4], [5, 6.75]])


def test_long_and_wide_csv_agree(tmp_path):
    long = tmp_path / "long.csv"
    long.write_text("stimulus,point,x,y\n"
                    "b,1,3,4\nb,0,1,2\na,0,5,6\na,1,7,8\n")
    wide = tmp_path / "wide.csv"
    wide.write_text("stimulus,x1,y1,x2,y2,detector\nb,1,2,3,4,hog\na,5,6,7,8,hog\n")
    lo, wi = load_landmarks(long), load_landmarks(wide)
    assert lo.ids == wi.ids == ["b", "a"]
    np.testing.assert_array_equal(lo.coords, wi.coords)
    np.testing.assert_array_equal(lo.coords[1], [[5, 6], [7, 8]])
    # round trip through both layouts
    for layout in ("long", "wide"):
        path = tmp_path / f"rt_{layout}.csv"
        lo.to_frame(layout).to_csv(path, index=False)
        np.testing.assert_array_equal(load_landmarks(path).coords, lo.coords)


def test_folder_of_files_from_config_in_image_order(tmp_path):
    _images(tmp_path / "img", ["face2", "face10"])
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "face10.tem").write_text(TEM)
    (marks / "face2.tem").write_text(TEM.replace("10.5", "11.5"))
    (tmp_path / "psychoface.toml").write_text('images = "img"\nlandmarks = "marks"\n')
    cfg = load_config(tmp_path)
    assert cfg.landmarks == "marks"
    lm = study_landmarks(cfg)
    assert lm.ids == ["face2", "face10"] and lm.coords[0, 0, 0] == 11.5
    assert study_landmarks(cfg, ["face10"]).ids == ["face10"]


def test_template_and_pairing_from_the_number_of_points():
    coords = np.random.default_rng(0).uniform(10, 90, (2, 68, 2))
    lm = Landmarks(["a", "b"], coords, "dlib68")
    assert lm.mirror is DLIB68_MIRROR or np.array_equal(lm.mirror, DLIB68_MIRROR)
    assert (36, 45) in lm.pairs and (0, 16) in lm.pairs and len(lm.pairs) == 29
    assert [i for i in range(68) if DLIB68_MIRROR[i] == i] == [8, 27, 28, 29, 30, 33, 51, 57, 62, 66]
    for mirror in (DLIB68_MIRROR, WEBMORPH189_MIRROR):
        np.testing.assert_array_equal(mirror[mirror], np.arange(len(mirror)))
    assert len(WEBMORPH189_MIRROR) == 189
    with pytest.raises(PsychofaceError, match="template dlib68 has 68 points"):
        Landmarks(["a"], coords[:1, :60], "dlib68")


def test_user_pairs():
    assert parse_pairs("0-2, 3:4") == [(0, 2), (3, 4)]
    np.testing.assert_array_equal(check_mirror([(0, 2), (3, 4)], 5), [2, 1, 0, 4, 3])
    with pytest.raises(PsychofaceError, match="not of the form"):
        parse_pairs("0/2")
    with pytest.raises(PsychofaceError, match="outside 0..4"):
        check_mirror([(0, 7)], 5)
    with pytest.raises(PsychofaceError, match="not a pairing"):
        check_mirror(np.array([1, 2, 0]), 3)


@pytest.mark.parametrize("files, message", [
    ({"a.tem": TEM, "b.pts": PTS.replace("n_points:  3", "n_points: 2").replace("5 6.75\n", "")},
     "has 2 points but .*a.tem has 3"),
    ({"a.tem": TEM.replace("30\t40.25", "30 nan")}, "point 1 has y = nan"),
    ({"a.tem": TEM.replace("30\t40.25", "30 inf")}, "must be finite"),
    ({"a.tem": TEM.replace("50 60", "-5 60")}, "point 2 has negative x = -5"),
    ({"a.tem": "three\n1 2\n"}, "line 1: 'three' is not the number of points"),
    ({"a.tem": "3\n1 2\n3 4\n"}, "says 3 points but has 2 lines"),
    ({"a.pts": PTS.replace("n_points:  3", "n_points: 4")}, "n_points says 4 but 3 points follow"),
    ({"a.pts": PTS.replace("}", "")}, "no closing"),
    ({"a.pts": PTS.replace("3.5 4", "3.5 four")}, "line 5: '3.5 four' is not a pair of numbers"),
])
def test_bad_files_are_named(tmp_path, files, message):
    images = _images(tmp_path / "img", [name.split(".")[0] for name in files] + ["b"] * ("b.pts" not in files))
    for name, text in files.items():
        (images / name).write_text(text)
    if "b.pts" not in files:
        (images / "b.tem").write_text(TEM)
    with pytest.raises(PsychofaceError, match=message):
        load_landmarks(images=images)


def test_images_and_landmarks_must_match(tmp_path):
    images = _images(tmp_path / "img", ["a", "b"])
    csv = tmp_path / "lm.csv"
    csv.write_text("stimulus,x0,y0\na,1,2\nc,3,4\n")
    with pytest.raises(PsychofaceError, match=r"1 stimuli have landmarks but no image \(e.g. c\)"):
        load_landmarks(csv, images=images)
    csv.write_text("stimulus,x0,y0\na,1,2\n")
    with pytest.raises(PsychofaceError, match=r"1 stimuli have no landmarks .*e.g. b.*psychoface landmarks"):
        load_landmarks(csv, images=images)
    with pytest.raises(PsychofaceError, match="no landmark files"):
        load_landmarks(images=images)
    (images / "a.tem").write_text(TEM)
    (images / "a.pts").write_text(PTS)
    with pytest.raises(PsychofaceError, match="both hold landmarks of 'a'"):
        load_landmarks(images=images)


@pytest.mark.parametrize("text, message", [
    ("stimulus,point,x,y\na,0,1,2\na,0,3,4\n", "row 3: stimulus 'a' has point 0 twice"),
    ("stimulus,point,x,y\na,0,1,2\na,1,3,4\nb,0,1,2\n", "stimulus 'b' has 1 points, 'a' has 2"),
    ("stimulus,point,x,y\na,zero,1,2\n", "row 2, column point: 'zero' is not a point number"),
    ("stimulus,x0,y0\na,1,oops\n", "row 2, column y0: 'oops' is not a number"),
    ("stimulus,x0,y0,x1\na,1,2,3\n", "column x1 or y1 has no partner"),
    ("stimulus,x0,y0,x2,y2\na,1,2,3,4\n", "columns x1, y1 are missing"),
    ("stimulus,x0,y0\na,1,2\na,3,4\n", "stimulus 'a' has two rows"),
    ("name,x0,y0\na,1,2\n", "no 'stimulus' column"),
    ("stimulus,u,v\na,1,2\n", "neither long"),
    ("stimulus,x0,y0\na,1,\n", "y = nan"),
])
def test_bad_tables_are_named(tmp_path, text, message):
    path = tmp_path / "lm.csv"
    path.write_text(text)
    with pytest.raises(PsychofaceError, match=message):
        load_landmarks(path)


def test_outside_image_is_listed(tmp_path):
    images = _images(tmp_path / "img", ["a", "b"], size=(100, 80))
    csv = tmp_path / "lm.csv"
    csv.write_text("stimulus,x0,y0\na,99,79\nb,50,81\n")
    lm = load_landmarks(csv, images=images)
    assert outside_image(lm, find_images(images)) == ["b"]


def test_demo_faces_have_their_exact_landmarks():
    """The sclera (near-white, neutral grey) lies at 0.8 of the eye's half width left and right of the eye
    centre; with the strongest asymmetry the perturbed eye is 0.03 of the image higher, so landmarks on the
    wrong side would land on (coloured) skin."""
    params = face_parameters(8, seed=5)
    for i, (_, row) in enumerate(params.iterrows()):
        row = row.copy()
        row["symmetry"] = -3.0
        img = np.asarray(render_face(row, image_size=224, seed=(5, i)), dtype=float)
        pts = face_landmarks(row, image_size=224, seed=(5, i))
        assert pts.shape == (68, 2)
        for eye in (slice(36, 42), slice(42, 48)):
            e = pts[eye]
            centre, half = e.mean(axis=0), (e[:, 0].max() - e[:, 0].min()) / 2
            for side in (-1, 1):
                x, y = int(round(centre[0] + side * 0.8 * half)), int(round(centre[1]))
                assert img[y, x].mean() > 160 and np.ptp(img[y, x]) < 12, (i, eye, side)
            assert img[int(round(centre[1])), int(round(centre[0]))].mean() < 130
        # chin (8) at the bottom of the face oval, brows above the eyes, mouth below the nose tip
        assert pts[8, 1] == pts[:17, 1].max() and pts[19, 1] < pts[37, 1] and pts[51, 1] > pts[30, 1]


def test_generated_study_writes_readable_landmarks(tmp_path):
    study = generate_study(tmp_path / "demo", n_faces=4, n_raters=2, image_size=64, seed=2)
    lm = load_landmarks(study.landmarks_path, images=study.images_dir)
    assert lm.ids == study.stimuli and lm.template == "dlib68" and lm.coords.shape == (4, 68, 2)
    expected = face_landmarks(study.parameters.iloc[2], image_size=64, seed=(2, 2))
    np.testing.assert_allclose(lm.coords[2], expected, atol=5e-5)
    assert outside_image(lm, find_images(study.images_dir)) == []
    assert pd.read_csv(study.landmarks_path).columns.tolist() == ["stimulus", "point", "x", "y"]


def test_check_reports_landmarks(tmp_path):
    from psychoface.data.study import check_study

    images = _images(tmp_path / "img", ["a", "b", "c"], size=(100, 80))
    csv = tmp_path / "lm.csv"
    csv.write_text("stimulus,x0,y0\na,1,2\nb,50,81\nz,1,1\n")
    report = check_study(images, landmarks=csv)
    assert report.landmarks.startswith("3 faces x 1 points (custom)")
    assert any("1 stimuli have landmarks but no image (e.g. 'z')" in e for e in report.errors)
    assert any("1 images have no landmarks (e.g. 'c')" in w for w in report.warnings)
    assert any("outside the image (e.g. 'b')" in w for w in report.warnings)
    (images / "a.tem").write_text(TEM)
    (images / "b.tem").write_text("2\n1 2\n3 4\n")
    report = check_study(images)
    assert report.landmarks == "unreadable" and "has 2 points but" in report.errors[0]
    assert check_study(images, landmarks=None).landmarks == "unreadable"
    (images / "a.tem").unlink(), (images / "b.tem").unlink()
    assert check_study(images).landmarks is None
