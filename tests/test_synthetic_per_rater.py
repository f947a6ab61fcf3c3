"""The synthetic study written per rater, in several files, with raters nested in sets of faces."""

from __future__ import annotations

import numpy as np
import pytest

from psychoface.analyses.icc import icc
from psychoface.analyses.reliability import split_half_reliability
from psychoface.config import parse_config
from psychoface.data.ratings_files import load_ratings_source
from psychoface.data.synthetic import generate_study, simulate_nested_ratings, face_parameters
from psychoface.errors import PsychofaceError


def _toml(keys: dict) -> str:
    return "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v).replace(chr(39), chr(34))}\n"
                   for k, v in keys.items())


def test_per_rater_study_files_read_back_as_the_simulated_ratings(tmp_path):
    study = generate_study(tmp_path / "s", n_faces=12, n_raters=6, image_size=32, layout="per_rater",
                           rater_blocks=2, block_attributes={"happy": [1], "dominant": [2]})
    files = sorted(p.name for p in (tmp_path / "s" / "ratings").iterdir())
    assert files == ["set1_attractive.csv", "set1_happy.csv", "set1_trustworthy.csv", "set2_attractive.csv",
                     "set2_dominant.csv", "set2_trustworthy.csv"]
    assert not (tmp_path / "s" / "ratings.csv").exists()
    config = parse_config(_toml(study.ratings_keys), root=tmp_path / "s")
    ratings = load_ratings_source(config.ratings_source)
    assert ratings.format == "per_rater" and len(ratings.layouts) == 6
    assert ratings.means["happy"].notna().sum() == 6 and ratings.means["attractive"].notna().sum() == 12
    assert list(ratings.means["happy"].dropna().index) == study.stimuli[:6]
    assert set(ratings.raters.columns) == {"rater_sex", "rater_age"} and len(ratings.raters) == 12
    expected = simulate_nested_ratings(study.parameters, n_blocks=2, n_raters=6,
                                       block_attributes={"happy": [1], "dominant": [2]}, seed=0)
    got = ratings.trials.set_index(["stimulus", "attribute", "rater"])["rating"].sort_index()
    want = expected.set_index(["stimulus", "attribute", "rater"])["rating"].sort_index()
    np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert list(got.index) == list(want.index)
    # two complete blocks for attributes of both sets, one for the others
    res = icc(ratings.trials, forms=["ICC3k"])
    assert res.groupby("attribute")["block"].nunique().to_dict() == {
        "attractive": 2, "trustworthy": 2, "happy": 1, "dominant": 1}
    assert (res["n"] == 6).all() and (res["k"] == 6).all() and (res["design"] == "complete").all()
    with pytest.raises(PsychofaceError, match="block_attributes"):
        simulate_nested_ratings(study.parameters, n_blocks=2, block_attributes={"happy": [3]})


def test_nested_raters_recover_the_true_reliability():
    params = face_parameters(240, seed=2)
    trials = simulate_nested_ratings(params, n_blocks=2, n_raters=20, attributes=["happy", "attractive"], seed=2)
    from psychoface.data.synthetic import true_reliability

    truth = true_reliability(["happy", "attractive"], n_raters=20).set_index("attribute")
    rel = split_half_reliability(trials, n_splits=20, n_bootstrap=0, seed=2).set_index("attribute")
    assert (rel["split"] == "raters").all()
    for attribute in ("happy", "attractive"):
        assert rel.loc[attribute, "reliability"] == pytest.approx(truth.loc[attribute, "icc_ck"], abs=0.05)
        got = icc(trials, attributes=[attribute], forms=["ICC3k"])
        # one ICC per set of 120 faces: each within sampling error, their mean closer
        assert got["icc"].to_numpy() == pytest.approx([truth.loc[attribute, "icc_ck"]] * 2, abs=0.12)
        assert got["icc"].mean() == pytest.approx(truth.loc[attribute, "icc_ck"], abs=0.06)


def test_analysis_file_with_a_per_rater_synthetic_study(tmp_path):
    from psychoface.config import load_config
    from psychoface.reports.report import _study_config, load_analysis_file

    path = tmp_path / "a.toml"
    path.write_text(
        '[study]\nsynthetic = { n_faces = 12, n_raters = 4, image_size = 32, layout = "per_rater", rater_blocks = 2 }\n'
        '[[analysis]]\nkind = "reliability"\n', encoding="utf-8")
    config = _study_config(load_analysis_file(path), tmp_path / "out", tmp_path / "study")
    source = config.ratings_source
    assert len(source.files) == 8 and source.pool_files and source.same_raters
    local = load_config(tmp_path / "study")  # the study folder's own psychoface.toml reads the same files
    assert local.pool_files and len(local.ratings_source.files) == 8
    ratings = load_ratings_source(source)
    assert ratings.means.notna().all().all() and ratings.trials["rater"].nunique() == 8
