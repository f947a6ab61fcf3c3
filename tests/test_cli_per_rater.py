"""End to end on a generated study exported as labs export it: raters nested in two sets of faces, one
per-rater file per set and attribute, attributes rated on disjoint subsets (happy: set 1 only; dominant: set
2 only). `check`, `extract`, `reliability`, `predict` and `rsa` run and report the right n per row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from psychoface.data.synthetic import generate_study

from test_cli import cli, error_line

N_FACES, N_RATERS = 24, 8


def per_rater_study(root: Path, *, n_faces: int, n_raters: int, seed: int, n_permutations: int, **generate) -> Path:
    """A generated per-rater study in two rater blocks (random-weight MobileNetV3-small) and its study file."""
    generated = generate_study(root, n_faces=n_faces, n_raters=n_raters, image_size=64, seed=seed,
                               layout="per_rater", rater_blocks=2, **generate)
    keys = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else chr(34) + v + chr(34)}\n"
                   for k, v in generated.ratings_keys.items())
    config = root / "psychoface.toml"
    config.write_text(
        'images = "images"\n' + keys + 'model = "mobilenet_v3_small"\nweights = "none"\n'
        'layers = ["block1", "pool"]\nworkers = 0\ndevice = "cpu"\nn_bootstrap = 200\n'
        f"n_permutations = {n_permutations}\n"
    )
    return config


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return per_rater_study(tmp_path_factory.mktemp("per_rater"), n_faces=N_FACES, n_raters=N_RATERS, seed=3,
                           n_permutations=200, block_attributes={"happy": [1], "dominant": [2]})


RATED = {"happy": N_FACES // 2, "dominant": N_FACES // 2, "trustworthy": N_FACES, "attractive": N_FACES}


def test_check_reports_the_layouts(study):
    out = " ".join(cli("check", "--config", study).stdout.split())
    assert "ratings/*_{attribute}.csv" in out and out.count(": per rater, ") == 6
    assert "set1_happy.csv: per rater, happy; 12 stimuli, 8 raters" in out and "set2_dominant.csv" in out
    assert "raters 16" in out and "rater_sex, rater_age" in out and "min 8, median 8, max 8" in out
    assert "were pooled from 2 files" in out and "0 blocking, 0 other" in out


def test_reliability_reports_n_k_and_blocks(study, tmp_path):
    cli("extract", "--config", study)
    result = cli("reliability", "--config", study, "--splits", "20", "--save", tmp_path / "rel")
    table = pd.read_csv(tmp_path / "rel" / "reliability.csv").set_index("attribute")
    assert table["n"].to_dict() == RATED and (table["split"] == "raters").all()
    iccs = pd.read_csv(tmp_path / "rel" / "icc.csv")
    blocks = iccs.groupby("attribute")["block"].nunique().to_dict()
    assert blocks == {"attractive": 2, "trustworthy": 2, "happy": 1, "dominant": 1}
    assert (iccs["n"] == N_FACES // 2).all() and (iccs["k"] == N_RATERS).all() and (iccs["design"] == "complete").all()
    out = " ".join(result.stdout.split())
    assert "Block" in out and "nested in 2 sets of stimuli" in out and "block 2: 12 stimuli, 8 raters" in out
    by = cli("reliability", "--config", study, "--splits", "10", "--by", "rater_sex", "--save", tmp_path / "by")
    split = pd.read_csv(tmp_path / "by" / "reliability.csv")
    assert set(split["rater_sex"]) == {"female", "male"} and len(split) == 8
    assert "rater_sex" in by.stdout


def test_predict_states_n_per_attribute_and_compares_rater_groups(study, tmp_path):
    cli("predict", "--config", study, "--layer", "pool", "--permutations", "20", "--folds", "4",
        "--save", tmp_path / "pred")
    table = pd.read_csv(tmp_path / "pred" / "predict.csv").set_index("attribute")
    assert table["n"].to_dict() == RATED
    cli("predict", "--config", study, "--layer", "pool", "--permutations", "0", "--folds", "4", "-a",
        "trustworthy,happy", "--by", "rater_sex", "--save", tmp_path / "by")
    by = pd.read_csv(tmp_path / "by" / "predict_by.csv").set_index("attribute")
    assert by.loc["trustworthy", "n"] == N_FACES and by.loc["happy", "n"] == N_FACES // 2
    assert {by.loc["happy", "a"], by.loc["happy", "b"]} == {"female", "male"}


def test_rsa_uses_each_attributes_stimuli_and_says_what_limits_the_combined_rdm(study, tmp_path):
    cli("rsa", "--config", study, "--layer", "pool", "--save", tmp_path / "rsa")
    table = pd.read_csv(tmp_path / "rsa" / "rsa.csv").set_index("attribute")
    assert table["n"].to_dict() == RATED
    result = cli("rsa", "--config", study, "--layer", "pool", "--combined", "-a", "attractive,trustworthy,happy",
                 "--save", tmp_path / "combined")
    table = pd.read_csv(tmp_path / "combined" / "rsa.csv").set_index("attribute")
    assert table.loc["attractive+trustworthy+happy", "n"] == N_FACES // 2 and table.loc["attractive", "n"] == N_FACES
    assert "limited by happy" in " ".join(result.stdout.split())
    # all four attributes: happy and dominant share no stimulus, so no combined RDM
    message = error_line(cli("rsa", "--config", study, "--layer", "pool", "--combined", code=2).stderr)
    assert "the combined rating RDM of attractive, happy, trustworthy, dominant: 0 of the 24 stimuli" in message
    assert "happy, dominant are rated on other stimuli" in message and "--attributes" in message
    # one attribute rated on half the faces: its RDM and the layer's over those faces
    cli("rsa", "--config", study, "--layer", "pool", "-a", "dominant", "--save", tmp_path / "dom")
    assert pd.read_csv(tmp_path / "dom" / "rsa.csv")["n"].tolist() == [N_FACES // 2]


def test_correlate_uses_each_attributes_stimuli(study, tmp_path):
    cli("correlate", "--config", study, "--layer", "pool", "--permutations", "20", "--save", tmp_path / "cor")
    table = pd.read_csv(tmp_path / "cor" / "correlate.csv").set_index("attribute")
    assert table["n"].to_dict() == RATED
