"""Matching images to ratings (load_study) and validating a study (check_study)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from psychoface.data.ratings import load_ratings
from psychoface.data.study import CheckReport, Study, check_study, load_study
from psychoface.errors import PsychofaceError

SHARED = Path(__file__).resolve().parents[2] / "shared"
OMI = SHARED / "data" / "omi"


def _images(folder: Path, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i * 20 % 256, 0, 0)).save(folder / name)
    return folder


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def study_dir(tmp_path) -> Path:
    """Images 1..5 (3 in a sub-folder); wide ratings for 1, 2, 3, 4 and 6 (no image)."""
    _images(tmp_path / "images", ["1.png", "2.jpg", "sub/3.png", "4.png", "5.png"])
    _csv(tmp_path / "means.csv", "stimulus,trust,happy\n4,1,2\n1,3,4\n6,5,6\n2,7,8\n3,9,10\n")
    return tmp_path


@pytest.fixture
def trials_dir(tmp_path) -> Path:
    """Images 1..4; trial-level ratings with raters for 1..3 (stimulus 3 rated once on 'happy')."""
    _images(tmp_path / "images", ["1.png", "2.png", "3.png", "4.png"])
    rows = ["stimulus,attribute,rating,rater"]
    rng = np.random.default_rng(0)
    for s in ("1", "2", "3"):
        for a in ("trust", "happy"):
            raters = ["a"] if (s, a) == ("3", "happy") else ["a", "b", "c"]
            rows += [f"{s},{a},{rng.integers(1, 8)},{r}" for r in raters]
    _csv(tmp_path / "trials.csv", "\n".join(rows) + "\n")
    return tmp_path


# ------------------------------------------------------------------------------------------ load_study


def test_load_study_matches_by_id_in_image_order(study_dir):
    study = load_study(study_dir / "images", study_dir / "means.csv")
    assert isinstance(study, Study)
    assert study.ids == ["1", "2", "3", "4"]
    assert [s.path.name for s in study.stimuli] == ["1.png", "2.jpg", "3.png", "4.png"]
    assert list(study.ratings.means.index) == study.ids
    assert study.ratings.means.loc["3", "trust"] == 9.0
    assert study.unrated_images == ["5"] and study.missing_images == ["6"]
    assert study.images_folder == study_dir / "images" and study.ratings_path == study_dir / "means.csv"


def test_load_study_restricts_trials(trials_dir):
    study = load_study(trials_dir / "images", trials_dir / "trials.csv")
    assert study.ids == ["1", "2", "3"] and study.unrated_images == ["4"]
    assert study.ratings.has_raters and set(study.ratings.trials["stimulus"]) == {"1", "2", "3"}


def test_images_only_study(study_dir):
    study = load_study(study_dir / "images", None, require_ratings=False)
    assert study.ids == ["1", "2", "3", "4", "5"] and study.ratings is None and study.ratings_path is None
    with pytest.raises(PsychofaceError, match="no ratings file given"):
        load_study(study_dir / "images", None)


def test_load_study_accepts_loaded_ratings(study_dir):
    ratings = load_ratings(study_dir / "means.csv")
    assert load_study(study_dir / "images", ratings).ids == ["1", "2", "3", "4"]


def test_no_match_shows_examples_and_leading_zero_hint(tmp_path):
    _images(tmp_path / "images", ["001.png", "002.png", "003.png", "004.png"])
    _csv(tmp_path / "r.csv", "stimulus,trust\n1,2\n2,3\n3,4\n")
    with pytest.raises(PsychofaceError) as err:
        load_study(tmp_path / "images", tmp_path / "r.csv")
    msg = str(err.value)
    assert "4 images, e.g. '001', '002', '003', ..." in msg and "3 ids, e.g. '1', '2', '3')" in msg
    assert "leading zeros" in msg and "\n" not in msg


@pytest.mark.parametrize(
    "ratings, hint",
    [
        ("stimulus,trust\nface_1.png,2\nface_2.png,3\n", "path_column"),
        ("stimulus,trust\nFACE_1,2\nFACE_2,3\n", "upper/lower case"),
        ("stimulus,trust\nx,2\ny,3\n", "must equal the image file name"),
    ],
)
def test_no_match_hints(tmp_path, ratings, hint):
    _images(tmp_path / "images", ["face_1.png", "face_2.png"])
    _csv(tmp_path / "r.csv", ratings)
    with pytest.raises(PsychofaceError, match=hint):
        load_study(tmp_path / "images", tmp_path / "r.csv")


def test_decimal_id_hint(tmp_path):
    _images(tmp_path / "images", ["1.png", "2.png"])
    _csv(tmp_path / "r.csv", "stimulus,trust\n1.0,2\n2.0,3\n")
    with pytest.raises(PsychofaceError, match="decimals"):
        load_study(tmp_path / "images", tmp_path / "r.csv")


def test_path_column_matching(tmp_path):
    _images(tmp_path / "images", ["a/x.png", "b/y.png", "z.png"])
    _csv(tmp_path / "r.csv", "file,trust\nb/y.png,1\na/x.png,2\n")
    study = load_study(tmp_path / "images", tmp_path / "r.csv", path_column="file")
    assert study.ids == ["x", "y"] and study.unrated_images == ["z"]
    assert study.ratings.means["trust"].tolist() == [2.0, 1.0]
    assert study.stimuli[0].path == (tmp_path / "images" / "a" / "x.png").resolve()


def test_path_column_file_that_is_not_a_found_image(tmp_path):
    _images(tmp_path / "images", ["x.png", ".hidden/y.png"])
    _csv(tmp_path / "r.csv", "file,trust\nx.png,1\n.hidden/y.png,2\n")
    study = load_study(tmp_path / "images", tmp_path / "r.csv", path_column="file")
    assert study.ids == ["x"] and study.missing_images == ["y"]


def test_load_study_passes_on_loading_errors(tmp_path):
    _images(tmp_path / "images", ["1.png"])
    _csv(tmp_path / "r.csv", "stimulus,trust\n1,abc\n")
    with pytest.raises(PsychofaceError, match="row 2, column 'trust': 'abc' is not a number"):
        load_study(tmp_path / "images", tmp_path / "r.csv")
    with pytest.raises(PsychofaceError, match="images folder not found"):
        load_study(tmp_path / "nope", tmp_path / "r.csv")


# ------------------------------------------------------------------------------------------ check_study


def test_check_clean_trial_level_study(trials_dir):
    report = check_study(trials_dir / "images", trials_dir / "trials.csv")
    assert isinstance(report, CheckReport) and report.ok
    assert (report.n_images, report.n_rated, report.n_matched) == (4, 3, 3)
    assert report.format == "long" and report.attributes == ["trust", "happy"] and report.n_raters == 3
    counts = pd.read_csv(trials_dir / "trials.csv").groupby(["stimulus", "attribute"]).size()
    assert report.ratings_per_stimulus == (counts.min(), float(counts.median()), counts.max()) == (1, 3.0, 3)
    assert report.image_modes == {"RGB": 4}
    assert any("1 images have no ratings (e.g. '4')" in p for p in report.warnings)
    assert any("1 stimulus-attribute pairs have a single rating" in p for p in report.warnings)
    summary = report.summary()
    assert list(summary.columns) == ["item", "value"]
    items = dict(zip(summary["item"], summary["value"]))
    assert items["images"] == "4" and items["matched stimuli (image and ratings)"] == "3"
    assert items["ratings per stimulus and attribute"] == "min 1, median 3, max 3"
    assert items["raters"] == "3" and items["problems"] == "0 blocking, 2 other"
    assert items["attributes"] == "2: trust, happy"


def test_check_wide_study_warnings(study_dir):
    _csv(study_dir / "means.csv", "stimulus,trust,happy,age\n1,3,4,\n2,3,5,\n3,3,,\n4,3,6,30\n6,1,1,1\n")
    report = check_study(study_dir / "images", study_dir / "means.csv")
    assert report.ok and report.format == "wide" and report.ratings_per_stimulus is None
    text = " | ".join(report.problems)
    assert "1 rated stimuli have no image" in text and "'6'" in text
    assert "1 images have no ratings (e.g. '5')" in text
    assert "attribute 'trust': the same mean rating for every stimulus" in text  # constant among matched
    assert "'age': the same" not in text  # one rated stimulus: missing, not constant
    assert "attribute 'age': no ratings for 75% of the 4 matched stimuli" in text
    assert "happy" not in text  # 25% missing is below the threshold
    assert "raters" not in report.summary()["item"].tolist()


def test_check_images_only(study_dir):
    report = check_study(study_dir / "images")
    assert report.ok and report.n_images == 5 and report.format is None and report.n_rated is None
    items = dict(zip(report.summary()["item"], report.summary()["value"]))
    assert items["ratings file"] == "none (images only)"


def test_check_reports_bad_images_as_blocking(study_dir):
    (study_dir / "images" / "7.jpg").write_text("not an image")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(study_dir / "images" / "8.jpg")
    data = (study_dir / "images" / "8.jpg").read_bytes()
    (study_dir / "images" / "8.jpg").write_bytes(data[: len(data) // 2])
    report = check_study(study_dir / "images", study_dir / "means.csv")
    assert not report.ok and len(report.errors) == 1 and "7.jpg: not an image" in report.errors[0]
    decoded = check_study(study_dir / "images", study_dir / "means.csv", decode=True)
    assert len(decoded.errors) == 2 and "8.jpg: truncated or corrupt image" in decoded.errors[1]
    assert decoded.summary()["value"].iloc[-1] == "2 blocking, 2 other"


def test_check_lists_many_failures_in_few_lines(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(14):
        (folder / f"{i}.png").write_text("x")
    report = check_study(folder)
    assert len(report.errors) == 11 and report.errors[-1].startswith("and 4 more images fail to open")


def test_check_bomb_limit(study_dir):
    report = check_study(study_dir / "images", max_pixels=32)
    assert len(report.errors) == 5 and all("decompression-bomb" in e for e in report.errors)


def test_check_never_raises_for_bad_input(tmp_path, study_dir):
    report = check_study(tmp_path / "missing", study_dir / "means.csv")
    assert not report.ok and "images folder not found" in report.errors[0] and report.n_images == 0
    assert report.format == "wide" and report.n_rated == 5  # the ratings were still checked
    _csv(study_dir / "bad.csv", "stimulus,trust\n1,2\n1,3\n")
    report = check_study(study_dir / "images", study_dir / "bad.csv")
    assert not report.ok and "stimulus id '1' appears 2 times" in report.errors[0] and report.n_images == 5
    _csv(study_dir / "other.csv", "stimulus,trust\nx,2\ny,3\n")
    report = check_study(study_dir / "images", study_dir / "other.csv")
    assert not report.ok and report.n_matched == 0 and "no stimulus ids match" in report.errors[0]


def test_check_path_column(tmp_path):
    _images(tmp_path / "images", ["a/x.png", "y.png"])
    _csv(tmp_path / "r.csv", "file,trust\na/x.png,1\ny.png,2\n")
    report = check_study(tmp_path / "images", tmp_path / "r.csv", path_column="file")
    assert report.ok and report.n_matched == 2 and not report.problems
    _csv(tmp_path / "r.csv", "file,trust\n../x.png,1\n")
    report = check_study(tmp_path / "images", tmp_path / "r.csv", path_column="file")
    assert not report.ok and "points outside the images folder" in report.errors[0]


# ------------------------------------------------------------------------------------------ OMI


def test_omi_study_and_check():
    if not (OMI / "images").is_dir() or not (OMI / "attribute_ratings.csv.gz").is_file():
        pytest.skip("../shared/data/omi is absent (a fresh clone has no shared data)")
    study = load_study(OMI / "images", OMI / "attribute_means.csv")
    assert study.ids == [str(i) for i in range(1, 501)] and study.ratings.means.shape == (500, 34)
    assert not study.unrated_images and not study.missing_images
    report = check_study(OMI / "images", OMI / "attribute_ratings.csv.gz")
    assert report.ok and not report.problems and report.n_matched == 500 and len(report.attributes) == 34
    raw = pd.read_csv(OMI / "attribute_ratings.csv.gz")
    counts = raw.groupby(["stimulus", "attribute"]).size()
    assert report.ratings_per_stimulus == (counts.min(), float(counts.median()), counts.max())
    assert report.n_raters is None and report.image_modes == {"RGB": 500}
