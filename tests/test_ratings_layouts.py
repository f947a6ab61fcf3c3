"""Ratings as studies export them: per-rater files, Qualtrics exports, several files, rater metadata, errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from psychoface.config import parse_config
from psychoface.data.ratings import load_ratings
from psychoface.data.ratings_files import load_ratings_source
from psychoface.data.study import check_study, load_study
from psychoface.errors import PsychofaceError


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _images(folder, ids):
    folder.mkdir(parents=True, exist_ok=True)
    for i in ids:
        Image.new("RGB", (8, 8), (10, 20, 30)).save(folder / f"{i}.png")
    return folder


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(PsychofaceError) as err:
        fn(*args, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def _source(tmp_path, text):
    return parse_config(text, root=tmp_path).ratings_source


PER_RATER = "participant,sex,age,f1,f2,f3\np1,female,23,4,5,\np2,male,31,2,,6\np3,female,40,3,4,5\n"


def test_per_rater_file_keeps_rater_metadata(tmp_path):
    r = load_ratings(_write(tmp_path / "att.csv", PER_RATER), attribute="attractive")
    assert r.format == "per_rater" and r.attributes == ["attractive"] and r.has_raters
    assert list(r.means.index) == ["f1", "f2", "f3"]
    assert r.means["attractive"].tolist() == [3.0, 4.5, 5.5]
    assert len(r.trials) == 7  # empty cells are not ratings
    assert list(r.raters.index) == ["p1", "p2", "p3"] and list(r.raters.columns) == ["sex", "age"]
    assert r.raters.loc["p2", "sex"] == "male" and int(r.raters.loc["p3", "age"]) == 40
    # rater metadata travels with every rating, so analyses can split by it
    assert set(r.trials.loc[r.trials["rater"] == "p1", "sex"]) == {"female"}
    assert r.layouts[0].layout == "per_rater" and r.layouts[0].n_raters == 3


def test_per_rater_without_rater_ids_names_raters_by_row(tmp_path):
    r = load_ratings(_write(tmp_path / "dom.csv", "f1,f2\n1,2\n3,4\n"), attribute="dominant", format="per_rater")
    assert sorted(r.trials["rater"].unique()) == ["dom row 2", "dom row 3"]
    assert r.means.loc["f2", "dominant"] == 3.0


def test_text_columns_are_rater_level_and_rater_columns_name_more(tmp_path):
    text = "condition,iq,f1,f2\nA,100,1,2\nB,120,3,4\n"
    r = load_ratings(_write(tmp_path / "a.csv", text), attribute="happy", format="per_rater")
    assert r.ids == ["iq", "f1", "f2"]  # a numeric column of unknown name is taken as a stimulus
    r = load_ratings(_write(tmp_path / "a.csv", text), attribute="happy", rater_columns=["iq"])
    assert r.ids == ["f1", "f2"] and list(r.raters.columns) == ["condition", "iq"]


def _qualtrics(questions: list[str], names: list[str], rows: list[list]) -> str:
    head = ["StartDate", "Duration (in seconds)", "Finished", "ResponseId"]
    lines = [",".join(head + names),
             ",".join(["Start Date", "Duration (in seconds)", "Finished", "Response ID"] + [f'"{q}"' for q in questions]),
             ",".join(['"{""ImportId"":""startDate""}"', '"{""ImportId"":""duration""}"',
                       '"{""ImportId"":""finished""}"', '"{""ImportId"":""_recordId""}"']
                      + [f'"{{""ImportId"":""QID{i}""}}"' for i in range(len(names))])]
    for j, row in enumerate(rows):
        lines.append(",".join(["2024-01-01 10:00:00", "300", "True", f"R_{j}"] + ["" if v is None else str(v) for v in row]))
    return "\n".join(lines) + "\n"


def test_qualtrics_export_names_stimuli_by_question_text(tmp_path):
    text = _qualtrics(
        ["How attractive is this face? - face_001", 'Rate <img src=""https://x.org/img/face_002.jpg"">', "What is your sex?"],
        ["Q1_1", "Q1_2", "Q2"],
        [[5, 6, 1], [3, None, 2], [4, 4, 1]],
    )
    r = load_ratings(_write(tmp_path / "q.csv", text), attribute="attractive")
    assert r.format == "qualtrics" and r.ids == ["face_001", "face_002"]
    assert r.means["attractive"].tolist() == [4.0, 5.0]
    assert set(r.trials["rater"]) == {"R_0", "R_1", "R_2"}
    assert "Q2" in r.raters.columns and r.raters.loc["R_1", "Q2"] == 2  # the demographic question
    # the column names as stimulus ids
    r = load_ratings(_write(tmp_path / "q.csv", text), attribute="attractive", qualtrics_ids="name",
                     rater_columns=["Q2"])
    assert r.ids == ["Q1_1", "Q1_2"]


def test_qualtrics_errors(tmp_path):
    text = _qualtrics(["Rate this face", "Rate this face too"], ["Q1", "Q2"], [[5, 6], [3, 4]])
    msg = _error(load_ratings, _write(tmp_path / "q.csv", text), attribute="trust")
    assert "question texts (row 2) name no stimulus" in msg and "'Q1'" in msg and "qualtrics_ids" in msg
    text = _qualtrics(["a - face_1", "b - face_2"], ["Q1", "Q2"], [[5, "very"], [3, 4]])
    msg = _error(load_ratings, _write(tmp_path / "q.csv", text), attribute="trust")
    assert "row 4, column 'Q2'" in msg and "'very' is not a number" in msg and "numeric values" in msg
    text = _qualtrics(["a - face_1", "b - face_1"], ["Q1", "Q2"], [[5, 6]])
    assert "both name stimulus 'face_1'" in _error(load_ratings, _write(tmp_path / "q.csv", text), attribute="t")


def test_per_rater_bad_input(tmp_path):
    path = _write(tmp_path / "a.csv", "participant,f1,f2\np1,4,x\np2,5,6\n")
    assert "row 2, column 'f2'" in (msg := _error(load_ratings, path, attribute="a")) and "'x' is not a number" in msg
    path = _write(tmp_path / "a.csv", "participant,f1,f2\np1,4,\np2,5,\n")
    msg = _error(load_ratings, path, attribute="a")
    assert "column 'f2': no rating in any row" in msg and "delete the column" in msg
    path = _write(tmp_path / "a.csv", "participant,f1,f2\np1,4,3\np1,5,2\n")
    assert "rows 2, 3: rater id 'p1' appears 2 times" in _error(load_ratings, path, attribute="a")
    path = _write(tmp_path / "a.csv", "participant,f1,f2\np1,4,3\n")
    msg = _error(load_ratings, path)
    assert "no attribute is named for this file" in msg and "{attribute}" in msg


def _two_sets(tmp_path, same_ids=True):
    """Women's and men's faces, each rated by their own raters, on attractive and one set-specific trait."""
    rng = np.random.default_rng(1)
    for sex, faces, own in (("women", ["w1", "w2", "w3"], "feminine"), ("men", ["m1", "m2", "m3"], "masculine")):
        for attribute in ("attractive", own):
            raters = [f"p{j}" if same_ids else f"{sex[0]}{j}" for j in range(4)]
            lines = ["participant,rater_sex," + ",".join(faces)]
            for j, rater in enumerate(raters):
                lines.append(f"{rater},{'female' if j % 2 else 'male'}," + ",".join(str(v) for v in rng.integers(1, 8, 3)))
            _write(tmp_path / "ratings" / f"{sex}_{attribute}.csv", "\n".join(lines) + "\n")


def test_pattern_names_attributes_and_pooling_is_explicit(tmp_path):
    _two_sets(tmp_path)
    msg = _error(load_ratings_source, _source(tmp_path, 'ratings = "ratings/*_{attribute}.csv"\n'))
    assert "attribute 'attractive' is given by two files" in msg and "pool_files = true" in msg
    r = load_ratings_source(_source(tmp_path, 'ratings = "ratings/*_{attribute}.csv"\npool_files = true\n'))
    assert sorted(r.attributes) == ["attractive", "feminine", "masculine"]
    assert r.means["attractive"].notna().sum() == 6
    assert r.means["masculine"].dropna().index.tolist() == ["m1", "m2", "m3"]
    assert r.format == "per_rater" and len(r.layouts) == 4
    # p0 ... p3 occur in every file: kept apart, prefixed with the file name, and said so
    assert r.trials["rater"].nunique() == 16 and "men_attractive:p0" in set(r.trials["rater"])
    assert any("kept apart" in note and "same_raters = true" in note for note in r.notes)
    assert len(r.raters) == 16 and "rater_sex" in r.raters.columns
    same = load_ratings_source(_source(
        tmp_path, 'ratings = "ratings/*_{attribute}.csv"\npool_files = true\nsame_raters = true\n'))
    assert same.trials["rater"].nunique() == 4 and not any("kept apart" in n for n in same.notes)


def test_unique_rater_ids_are_kept_as_they_are(tmp_path):
    _two_sets(tmp_path, same_ids=False)
    r = load_ratings_source(_source(tmp_path, 'ratings = "ratings/*_{attribute}ine.csv"\n'))
    assert r.attributes == ["mascul", "femin"] and r.trials["rater"].nunique() == 8
    assert set(r.trials["rater"]) == {"w0", "w1", "w2", "w3", "m0", "m1", "m2", "m3"} and not r.notes


def test_ratings_files_list_and_config_checks(tmp_path):
    _two_sets(tmp_path, same_ids=False)
    r = load_ratings_source(_source(tmp_path, (
        'ratings_files = [{ file = "ratings/men_masculine.csv", attribute = "masc" },'
        ' { file = "ratings/women_feminine.csv", attribute = "fem" }]\n')))
    assert r.attributes == ["masc", "fem"] and r.means.shape == (6, 2)
    for bad, words in (
        ('ratings_layout = "columns"\n', "ratings_layout = 'columns'"),
        ('ratings_files = [{ name = "a.csv" }]\n', "ratings_files entry 1"),
        ('ratings = "a.csv"\nratings_files = [{ file = "a.csv" }]\n', "both ratings and ratings_files"),
        ('qualtrics_ids = "text"\n', "qualtrics_ids"),
    ):
        assert words in _error(parse_config, bad, root=tmp_path)
    assert "no file matches" in _error(lambda: _source(tmp_path, 'ratings = "nowhere/*_{attribute}.csv"\n'))


def test_means_and_single_ratings_files_are_not_mixed(tmp_path):
    _write(tmp_path / "r" / "a_trust.csv", "stimulus,mean\nf1,3\nf2,4\n")
    _write(tmp_path / "r" / "b_happy.csv", "participant,f1,f2\np1,3,4\np2,5,5\n")
    msg = _error(load_ratings_source, _source(tmp_path, 'ratings = "r/*_{attribute}.csv"\n'))
    assert "a_trust.csv holds mean ratings" in msg and "b_happy.csv single ratings" in msg


def test_study_matches_per_rater_columns_and_names_the_closest_images(tmp_path):
    _two_sets(tmp_path, same_ids=False)
    images = _images(tmp_path / "images", ["w1", "w2", "w3", "m1", "m2", "m3"])
    src = _source(tmp_path, 'ratings = "ratings/*_{attribute}.csv"\npool_files = true\n')
    study = load_study(images, src)
    assert len(study.ids) == 6 and study.ratings.has_raters
    report = check_study(images, src)
    assert report.ok and len(report.layouts) == 4 and report.n_raters == 16
    assert "men_attractive.csv: per rater, attractive; 3 stimuli, 4 raters" in report.layouts
    summary = dict(report.summary().itertuples(index=False))
    assert summary["raters"] == "16" and summary["rater-level columns"] == "rater_sex"
    # a file whose stimulus columns name no image: one line naming the file, the columns and the closest images
    _write(tmp_path / "ratings" / "men_masculine.csv", "participant,man_1,man_2\np1,3,4\np2,5,5\n")
    msg = _error(load_study, images, src)
    assert "men_masculine.csv: none of its 2 stimulus columns ('man_1', 'man_2')" in msg
    assert "closest image names: 'm1'" in msg
    assert any("men_masculine.csv: none of" in e for e in check_study(images, src).errors)
