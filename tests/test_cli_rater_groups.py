"""`--by` a rater-level column on a generated per-rater study (raters nested in two sets of faces): the
comparison of the rater groups in `reliability` and `predict` (tables, sentences, methods text), the
noise-ceiling note worded from the split used, and the user errors of a bad `--by`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from test_cli import cli, error_line
from test_cli_per_rater import per_rater_study

N_FACES, N_RATERS = 24, 12


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return per_rater_study(tmp_path_factory.mktemp("rater_groups"), n_faces=N_FACES, n_raters=N_RATERS, seed=5,
                           n_permutations=50)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_by_a_column_that_is_not_rater_level_names_the_rater_columns(study):
    message = error_line(cli("reliability", "--config", study, "--by", "stimulus", code=2).stderr)
    assert message.startswith("--by stimulus: not a rater-level column of")
    assert "rater-level columns: rater_sex, rater_age" in message
    message = error_line(cli("predict", "--config", study, "--by", "handedness", code=2).stderr)
    assert "--by handedness: not a rater-level column" in message and "rater_sex, rater_age" in message


def test_by_a_column_with_fewer_than_two_raters_per_stimulus(study):
    # each age is held by one or a few raters: some stimulus gets fewer than 2 ratings from an age's raters
    message = error_line(cli("reliability", "--config", study, "--by", "rater_age", code=2).stderr)
    assert message.startswith("--by rater_age: the ") and "fewer than 2" in message
    assert "choose another rater-level column or merge its rarer values" in message


def test_noise_ceiling_note_names_the_split_used(study, tmp_path):
    out = flat(cli("reliability", "--config", study, "--splits", "10").stdout)
    assert "Noise ceiling: square root of the split-half by raters (Spearman–Brown) reliability" in out
    assert "random split-half" not in out


def test_reliability_by_compares_the_groups(study, tmp_path):
    out = flat(cli("reliability", "--config", study, "--splits", "10", "--by", "rater_sex",
                   "--save", tmp_path / "rel").stdout)
    comparison = pd.read_csv(tmp_path / "rel" / "reliability_by.csv")
    assert set(comparison["attribute"]) == {"happy", "trustworthy", "attractive", "dominant"}
    assert (comparison["n"] == N_FACES).all() and set(comparison[["a", "b"]].iloc[0]) == {"female", "male"}
    assert comparison["reliability_difference"].to_numpy() == pytest.approx(
        (comparison["reliability_a"] - comparison["reliability_b"]).to_numpy())
    assert comparison["p_corr"].notna().all() and (comparison["p_corr"] >= comparison["p"]).all()
    assert "Reliability Compared Between Values of rater_sex" in out and "Δr_SB" in out
    assert "p_Holm = p value Holm-corrected across 4 comparisons of rater groups" in out
    assert "Each group's ratings were split into halves of its raters" in out and "covered about 90%" in out
    assert out.count("With raters grouped by rater_sex, the split-half reliability of mean") == 4
    assert "(paired bootstrap over stimuli, 200 resamples; Holm-corrected across 4 comparisons of rater groups)" in out


def test_predict_by_describes_the_comparison_and_draws_a_profile_per_group(study, tmp_path):
    cli("extract", "--config", study)
    out = flat(cli("predict", "--config", study, "--permutations", "0", "--folds", "4", "--by", "rater_sex",
                   "--save", tmp_path / "pred").stdout)
    comparison = pd.read_csv(tmp_path / "pred" / "predict_by.csv")
    assert len(comparison) == 8 and (comparison["n"] == N_FACES).all()  # 2 layers x 4 attributes
    assert "Prediction Accuracy Compared Between Values of rater_sex" in out
    # 8 rows: a summary of the comparison table instead of a sentence per row
    assert "Across the 8 comparisons (raters grouped by rater_sex), the difference in prediction accuracy (r) " \
           "between female and male raters was largest for" in out
    assert "the 8 differences in Table 2 were significant at α = .05" in out
    assert (tmp_path / "pred" / "predict_profile_rater_sex_female.png").exists()
    assert (tmp_path / "pred" / "predict_profile_rater_sex_male.png").exists()
    assert "Noise ceiling: square root of the split-half by raters" in out
    # two layers and one attribute: a sentence per comparison
    out = flat(cli("predict", "--config", study, "--permutations", "0", "--folds", "4", "--by", "rater_sex",
                   "-a", "happy", "--layer", "pool").stdout)
    assert out.count("With raters grouped by rater_sex, cross-validated predictions from pool correlated") == 1


def test_predict_by_methods_text():
    from psychoface.reports.methods import methods_paragraph

    attrs = {"analysis": "compare_groups", "by": ["rater_sex"], "n_bootstrap": 200, "ci_level": 0.95,
             "ci_method": "paired percentile bootstrap over stimuli", "correction": "Holm",
             "family": "8 comparisons of rater groups", "p_method": "two-sided paired bootstrap"}
    text = " ".join(methods_paragraph({"analyses": [attrs]}).plain.split())
    assert "The mean ratings of each value of rater_sex were predicted separately" in text
    assert "paired bootstrap over stimuli (Efron & Tibshirani, 1993)" in text
    assert "Holm-corrected (Holm, 1979) across 8 comparisons of rater groups" in text
