"""Reading ratings: wide and long layouts, CSV/TSV/XLSX/gz, path columns, and every bad-input message."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from psychoface.data.ratings import Ratings, constant_attributes, load_ratings
from psychoface.errors import PsychofaceError

SHARED = Path(__file__).resolve().parents[2] / "shared"
OMI = SHARED / "data" / "omi"


def _write(tmp_path: Path, text: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(path, **kwargs) -> str:
    with pytest.raises(PsychofaceError) as err:
        load_ratings(path, **kwargs)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def long_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {"stimulus": s, "attribute": a, "rating": float(rng.integers(1, 8)), "rater": f"r{r}", "block": r % 2}
        for s in ("1", "2", "10") for a in ("trustworthy", "happy") for r in range(4)
    ]
    df = pd.DataFrame(rows)
    return df.drop(index=[3, 13]).sample(frac=1, random_state=1)  # unbalanced and shuffled


# ------------------------------------------------------------------------------------------ wide


def test_wide_csv(tmp_path):
    path = _write(tmp_path, "stimulus,trustworthy,happy\n1,4.5,3\n2,,6\n10,5.25,NA\n")
    r = load_ratings(path)
    assert r.format == "wide" and not r.has_trials and not r.has_raters and r.trials is None
    assert r.source == path and r.attributes == ["trustworthy", "happy"]
    assert r.means.index.name == "stimulus" and list(r.means.index) == ["1", "2", "10"]
    assert all(isinstance(i, str) for i in r.means.index)
    assert (r.means.dtypes == np.float64).all()
    expected = pd.DataFrame(
        {"trustworthy": [4.5, np.nan, 5.25], "happy": [3.0, 6.0, np.nan]},
        index=pd.Index(["1", "2", "10"], name="stimulus"),
    )
    pd.testing.assert_frame_equal(r.means, expected, check_index_type=False)


def test_wide_id_column_detection(tmp_path):
    # no stimulus-like name: the first column is the id, read as text (leading zeros kept)
    r = load_ratings(_write(tmp_path, "code,trust\n001,1\n002,2\n"))
    assert list(r.means.index) == ["001", "002"] and r.attributes == ["trust"]
    # a stimulus-like column anywhere, in any case and spelling
    r = load_ratings(_write(tmp_path, "trust,Image ID,happy\n1,face_1,2\n3,face_2,4\n"))
    assert list(r.means.index) == ["face_1", "face_2"] and r.attributes == ["trust", "happy"]
    # an explicit id column
    r = load_ratings(_write(tmp_path, "a,b,c\n1,x,3\n2,y,4\n"), id_column="b")
    assert list(r.means.index) == ["x", "y"] and r.attributes == ["a", "c"]


def test_r_write_csv_with_row_names(tmp_path):
    r = load_ratings(_write(tmp_path, '"","trust","happy"\n"1",2.5,NA\n"2",3,4\n'))
    assert list(r.means.index) == ["1", "2"] and r.attributes == ["trust", "happy"]
    assert np.isnan(r.means.loc["1", "happy"])


def test_trailing_delimiters_and_blank_lines(tmp_path):
    r = load_ratings(_write(tmp_path, "stimulus,trust,\n1,2,\n\n2,3,\n\n"))
    assert r.attributes == ["trust"] and r.means["trust"].tolist() == [2.0, 3.0]
    r = load_ratings(_write(tmp_path, "stimulus,trust,\n1,2\n2,3\n"))
    assert r.attributes == ["trust"] and r.means["trust"].tolist() == [2.0, 3.0]


def test_surplus_value_is_refused_not_dropped(tmp_path):
    msg = _error(_write(tmp_path, "stimulus,trust\n1,2,\n2,3,7\n"))
    assert "more values than the header has column names" in msg


def test_tsv_by_extension_and_by_sniffing(tmp_path):
    text = "stimulus\ttrust\thappy\n1\t2.5\t3\n2\t4\t5\n"
    for name in ("r.tsv", "r.txt", "r.csv", "r.dat"):
        r = load_ratings(_write(tmp_path, text, name))
        assert r.attributes == ["trust", "happy"] and r.means.loc["1", "trust"] == 2.5, name


def test_semicolon_csv_with_decimal_comma(tmp_path):
    r = load_ratings(_write(tmp_path, "stimulus;trust;happy\n1;2,5;3\n2;4.25;5\n"))
    assert r.means["trust"].tolist() == [2.5, 4.25] and r.means["happy"].tolist() == [3.0, 5.0]


def test_encodings_bom_and_windows_1252(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffstimulus,düster\n1,2\n".encode("utf-8"))
    assert load_ratings(path).attributes == ["düster"]
    path = tmp_path / "cp1252.csv"
    path.write_bytes("stimulus,düster\n1,2\n".encode("cp1252"))
    assert load_ratings(path).attributes == ["düster"]


def test_xlsx_wide_integer_ids(tmp_path):
    path = tmp_path / "r.xlsx"
    pd.DataFrame({"stimulus": [1, 2, 10], "trust": [1.5, np.nan, 3.0], "happy": [1, 2, 3]}).to_excel(path, index=False)
    r = load_ratings(path)
    assert list(r.means.index) == ["1", "2", "10"]
    assert r.means["trust"].tolist()[0] == 1.5 and np.isnan(r.means.loc["2", "trust"])
    assert r.means["happy"].tolist() == [1.0, 2.0, 3.0]


def test_xlsx_float_ids_and_text_cells(tmp_path):
    path = tmp_path / "r.xlsx"
    df = pd.DataFrame({"id": [1.0, 2.0], "trust": ["NA", 2.5], "note": [" 3 ", "4"]}, dtype=object)
    df.to_excel(path, index=False)
    r = load_ratings(path)
    assert list(r.means.index) == ["1", "2"]
    assert np.isnan(r.means.loc["1", "trust"]) and r.means["note"].tolist() == [3.0, 4.0]


def test_xlsx_non_numeric_cell(tmp_path):
    path = tmp_path / "r.xlsx"
    pd.DataFrame({"stimulus": [1, 2, 3], "trust": [1, "abc", 3]}).to_excel(path, index=False)
    assert _error(path).endswith(
        "row 3, column 'trust': 'abc' is not a number; ratings must be numbers (leave the cell empty when not "
        "rated; remove columns that are not ratings)"
    )


def test_constant_attributes(tmp_path):
    r = load_ratings(_write(tmp_path, "stimulus,a,b,c,d,e\n1,3,1,,5,2\n2,3,2,,,\n3,3,1,,,2\n"))
    assert constant_attributes(r) == ["a", "e"]  # c has no values, d a single one: missing, not constant


# ------------------------------------------------------------------------------------------ long


def test_long_csv_means_and_counts_match_pandas(tmp_path, long_table):
    path = tmp_path / "long.csv"
    long_table.to_csv(path, index=False)
    r = load_ratings(path)
    assert r.format == "long" and r.has_trials and r.has_raters
    assert list(r.trials.columns) == ["stimulus", "attribute", "rating", "rater", "block"]
    assert len(r.trials) == len(long_table)
    assert r.trials["rating"].dtype == np.float64
    reference = long_table.pivot_table(index="stimulus", columns="attribute", values="rating", aggfunc="mean")
    got = r.means.loc[sorted(reference.index), sorted(reference.columns)]
    np.testing.assert_allclose(got.to_numpy(), reference.loc[sorted(reference.index)].to_numpy(), rtol=0, atol=1e-12)
    counts = pd.crosstab(long_table["stimulus"], long_table["attribute"])
    np.testing.assert_array_equal(
        r.n_ratings().loc[sorted(counts.index), sorted(counts.columns)].to_numpy(), counts.to_numpy()
    )
    # order of first appearance, not sorted
    assert list(r.means.index) == list(pd.unique(long_table["stimulus"]))
    assert r.attributes == list(pd.unique(long_table["attribute"]))


def test_long_synonyms_and_no_rater(tmp_path):
    text = "Face,Trait,Response,rating_type\nf1,happy,3,normal\nf1,happy,5,repeat\nf2,happy,4,normal\n"
    r = load_ratings(_write(tmp_path, text))
    assert r.format == "long" and not r.has_raters
    assert r.means.loc["f1", "happy"] == 4.0 and r.means.loc["f2", "happy"] == 4.0
    assert r.trials["rating_type"].tolist() == ["normal", "repeat", "normal"]


def test_long_with_participant_synonym(tmp_path):
    text = "stimulus_id,dimension,score,Participant\n1,trust,3,p1\n1,trust,4,p2\n"
    r = load_ratings(_write(tmp_path, text))
    assert r.has_raters and r.trials["rater"].tolist() == ["p1", "p2"]
    assert r.trials["stimulus"].tolist() == ["1", "1"]


def test_long_gzip_and_xlsx(tmp_path, long_table):
    reference = load_ratings(_write(tmp_path, long_table.to_csv(index=False)))
    gz = tmp_path / "long.csv.gz"
    with gzip.open(gz, "wt") as f:
        f.write(long_table.to_csv(index=False))
    xlsx = tmp_path / "long.xlsx"
    frame = long_table.assign(stimulus=long_table["stimulus"].astype(int))  # numbers in the sheet
    frame.to_excel(xlsx, index=False)
    for path in (gz, xlsx):
        r = load_ratings(path)
        assert r.format == "long" and r.has_raters
        pd.testing.assert_frame_equal(r.means, reference.means)
        assert r.trials["stimulus"].tolist() == reference.trials["stimulus"].tolist()


def test_format_override(tmp_path):
    # detected as long, read as wide on request (a wide table that happens to have these column names)
    path = _write(tmp_path, "stimulus,attribute,rating\n1,2,3\n2,4,5\n")
    assert load_ratings(path).format == "long"
    r = load_ratings(path, format="wide")
    assert r.format == "wide" and r.attributes == ["attribute", "rating"]
    msg = _error(_write(tmp_path, "stimulus,trust\n1,2\n"), format="long")
    assert "long layout needs a attribute and a rating column" in msg
    assert "unknown ratings layout" in _error(path, format="tidy")


def test_ratings_constructed_directly():
    means = pd.DataFrame({"x": [1.0, 2.0]}, index=[1, 2])
    r = Ratings(means)
    assert r.format == "wide" and list(r.means.index) == ["1", "2"] and r.means.index.name == "stimulus"
    with pytest.raises(PsychofaceError, match="trial-level"):
        r.n_ratings()
    sub = r.restrict(["2"])
    assert list(sub.means.index) == ["2"]


def test_restrict_filters_trials(tmp_path, long_table):
    path = tmp_path / "long.csv"
    long_table.to_csv(path, index=False)
    r = load_ratings(path).restrict(["10", "1"])
    assert list(r.means.index) == ["10", "1"]
    assert set(r.trials["stimulus"]) == {"1", "10"}
    assert len(r.trials) == int(long_table["stimulus"].isin(["1", "10"]).sum())


# ------------------------------------------------------------------------------------------ bad input


def test_missing_file_and_folder(tmp_path):
    assert "ratings file not found" in _error(tmp_path / "nope.csv")
    assert "is a folder" in _error(tmp_path)


def test_empty_file_and_header_only(tmp_path):
    assert "is empty" in _error(_write(tmp_path, ""))
    assert "no rows of ratings" in _error(_write(tmp_path, "stimulus,trust\n"))
    assert "blank line" in _error(_write(tmp_path, "\n\nstimulus,trust\n1,2\n"))


def test_unknown_binary_format(tmp_path):
    path = tmp_path / "ratings.sav"
    path.write_bytes(b"$FL2\x00\x00\x00\x01binary spss data")
    assert "unknown format" in _error(path)
    bad_xlsx = _write(tmp_path, "stimulus,trust\n1,2\n", "fake.xlsx")
    assert "not a valid Excel .xlsx workbook" in _error(bad_xlsx)


def test_wide_non_numeric_names_row_column_value(tmp_path):
    lines = ["stimulus,trustworthy"] + [f"{i},{i % 7}" for i in range(1, 16)] + ["16,abc", "17,3"]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    assert _error(path).startswith(f"{path} row 17, column 'trustworthy': 'abc' is not a number")


def test_long_non_numeric_and_empty_rating(tmp_path):
    path = _write(tmp_path, "stimulus,attribute,rating\n1,trust,3\n1,trust,x\n")
    assert _error(path).startswith(f"{path} row 3, column 'rating': 'x' is not a number")
    path = _write(tmp_path, "stimulus,attribute,rating\n1,trust,3\n1,trust,4\n2,trust,\n")
    assert _error(path).startswith(f"{path} row 4, column 'rating': empty rating")
    path = _write(tmp_path, "stimulus,attribute,rating\n1,trust,NA\n")
    assert _error(path).startswith(f"{path} row 2, column 'rating': empty rating")


def test_long_empty_ids(tmp_path):
    path = _write(tmp_path, "stimulus,attribute,rating,rater\n1,trust,3,a\n,trust,4,a\n")
    assert _error(path).startswith(f"{path} row 3, column 'stimulus': empty stimulus id")
    path = _write(tmp_path, "stimulus,attribute,rating,rater\n1,trust,3,a\n2, ,4,a\n")
    assert _error(path).startswith(f"{path} row 3, column 'attribute': empty attribute")
    path = _write(tmp_path, "stimulus,attribute,rating,rater\n1,trust,3,a\n2,trust,4,\n")
    assert _error(path).startswith(f"{path} row 3, column 'rater': empty rater id")


def test_infinite_values(tmp_path):
    path = _write(tmp_path, "stimulus,trust\n1,2\n2,inf\n")
    assert _error(path).startswith(f"{path} row 3, column 'trust': inf is not a finite number")
    path = _write(tmp_path, "stimulus,attribute,rating\n1,trust,-inf\n")
    assert "row 2, column 'rating': -inf is not a finite number" in _error(path)


def test_duplicate_ids_in_wide_table_name_the_rows(tmp_path):
    path = _write(tmp_path, "stimulus,trust\n1,2\n7,3\n2,1\n7,4\n")
    msg = _error(path)
    assert msg.startswith(f"{path} rows 3, 5: stimulus id '7' appears 2 times") and "long layout" in msg


def test_no_attribute_columns(tmp_path):
    assert "no attribute columns" in _error(_write(tmp_path, "stimulus\n1\n2\n"))


def test_duplicate_column_names(tmp_path):
    msg = _error(_write(tmp_path, "stimulus,trust,trust\n1,2,3\n"))
    assert "column 'trust' appears twice (columns 2 and 3)" in msg


def test_malformed_row(tmp_path):
    msg = _error(_write(tmp_path, "stimulus,trust\n1,2\n2,3,4,5\n"))
    assert "malformed table" in msg and "line 3" in msg


def test_unknown_columns_and_conflicting_options(tmp_path):
    path = _write(tmp_path, "stimulus,trust\n1,2\n")
    assert "id_column 'face' is not a column; columns are 'stimulus', 'trust'" in _error(path, id_column="face")
    assert "not both" in _error(path, id_column="stimulus", path_column="stimulus")


def test_bool_column_is_not_a_rating(tmp_path):
    msg = _error(_write(tmp_path, "stimulus,trust,smiling\n1,2,True\n2,3,False\n"))
    assert "row 2, column 'smiling': 'True' is not a number" in msg


# ------------------------------------------------------------------------------------------ path column


@pytest.fixture
def image_tree(tmp_path) -> Path:
    root = tmp_path / "images"
    for rel in ("sub/a.jpg", "b.png", "other/c.jpg"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(root / rel)
    return root


def test_path_column_ids_are_stems(tmp_path, image_tree):
    path = _write(tmp_path, "id,file,trust\n9,sub/a.jpg,1\n8,b.png,2\n7,other\\c.jpg,3\n")
    r = load_ratings(path, path_column="file", images_root=image_tree)
    assert list(r.means.index) == ["a", "b", "c"] and r.attributes == ["trust"]  # the id column is not a rating
    assert r.image_paths == {
        "a": image_tree / "sub" / "a.jpg", "b": image_tree / "b.png", "c": image_tree / "other" / "c.jpg"
    }


def test_path_column_long_layout(tmp_path, image_tree):
    path = _write(tmp_path, "image,attribute,rating\nsub/a.jpg,trust,1\nsub/a.jpg,trust,3\nb.png,trust,2\n")
    r = load_ratings(path, path_column="image", images_root=image_tree)
    assert r.trials["stimulus"].tolist() == ["a", "a", "b"] and r.means.loc["a", "trust"] == 2.0


def test_path_column_defaults_to_ratings_folder(tmp_path, image_tree):
    path = _write(tmp_path, "file,trust\nimages/b.png,2\n")
    assert list(load_ratings(path, path_column="file").means.index) == ["b"]


@pytest.mark.parametrize("value", ["../secret.jpg", "sub/../../secret.jpg", "/etc/passwd", "C:\\faces\\x.jpg"])
def test_path_column_refuses_escapes(tmp_path, image_tree, value):
    (tmp_path / "secret.jpg").write_bytes(b"x")
    path = _write(tmp_path, f"file,trust\nb.png,1\n\"{value}\",2\n")
    msg = _error(path, path_column="file", images_root=image_tree)
    assert msg.startswith(f"{path} row 3, column 'file': {value!r}")
    assert "outside the images folder" in msg or "absolute path" in msg


def test_path_column_refuses_symlink_escape(tmp_path, image_tree):
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (4, 4)).save(outside / "x.jpg")
    (image_tree / "link").symlink_to(outside, target_is_directory=True)
    path = _write(tmp_path, "file,trust\nlink/x.jpg,1\n")
    msg = _error(path, path_column="file", images_root=image_tree)
    assert msg.startswith(f"{path} row 2, column 'file': 'link/x.jpg' points outside the images folder")


def test_path_column_missing_file_and_same_stem(tmp_path, image_tree):
    path = _write(tmp_path, "file,trust\nb.png,1\nnope.jpg,2\nnope2.jpg,2\n")
    msg = _error(path, path_column="file", images_root=image_tree)
    assert msg.startswith(f"{path} row 3, column 'file': 'nope.jpg' not found") and "2 paths in all" in msg
    Image.new("RGB", (4, 4)).save(image_tree / "other" / "b.jpg")
    path = _write(tmp_path, "file,trust\nb.png,1\nother/b.jpg,2\n")
    msg = _error(path, path_column="file", images_root=image_tree)
    assert "row 3, column 'file': 'other/b.jpg' and 'b.png' give the same stimulus id 'b'" in msg


# ------------------------------------------------------------------------------------------ OMI


def _omi():
    if not (OMI / "attribute_means.csv").is_file() or not (OMI / "attribute_ratings.csv.gz").is_file():
        pytest.skip("../shared/data/omi is absent (a fresh clone has no shared data)")


def test_omi_means():
    _omi()
    r = load_ratings(OMI / "attribute_means.csv")
    assert r.format == "wide" and r.means.shape == (500, 34)
    assert list(r.means.index[:3]) == ["1", "2", "3"] and r.means.index[-1] == "500"
    assert r.attributes[:3] == ["trustworthy", "attractive", "dominant"]
    assert constant_attributes(r) == []


def test_omi_trials_mean_equals_published_means():
    _omi()
    start = time.perf_counter()
    r = load_ratings(OMI / "attribute_ratings.csv.gz")
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"loading 663,678 ratings took {elapsed:.1f} s; it must be vectorised"
    assert r.format == "long" and len(r.trials) == 663_678 and not r.has_raters
    assert list(r.trials.columns) == ["stimulus", "attribute", "rating", "rating_type"]
    assert set(r.trials["rating_type"]) == {"normal", "repeat", "fill-in"}
    published = pd.read_csv(OMI / "attribute_means.csv", dtype={"stimulus": str}).set_index("stimulus")
    assert sorted(r.means.index, key=int) == list(published.index)
    for attribute in ("trustworthy", "attractive", "dominant", "happy", "age", "gender"):
        np.testing.assert_allclose(
            r.means.loc[published.index, attribute].to_numpy(), published[attribute].to_numpy(), rtol=0, atol=1e-8
        )
    raw = pd.read_csv(OMI / "attribute_ratings.csv.gz", dtype={"stimulus": str})
    counts = raw.groupby(["stimulus", "attribute"]).size().unstack()
    np.testing.assert_array_equal(
        r.n_ratings().loc[counts.index, counts.columns].to_numpy(), counts.to_numpy()
    )
