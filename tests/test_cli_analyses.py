"""The analysis commands end to end on a small study: `reliability`, `predict`, `correlate`, `compare` and
`rsa` run, save their tables, and every kind of bad input the issues name (unknown attribute or layer,
a layer missing from the store, fewer stimuli than folds, means-only ratings where trials are needed, a
covariate that is itself analysed) gives one line on stderr and exit status 2, never a traceback.

The study: 24 noise images whose brightness drives the "bright" rating (so that the features do carry
it) and an unrelated "noise" rating, 6 ratings per stimulus and attribute from 6 raters; features from
mobilenet_v3_small with random weights, two layers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from psychoface.config import write_config

from test_cli import cli, error_line

MODEL = "mobilenet_v3_small"
N = 24


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """The study's psychoface.toml, with features extracted once."""
    root = tmp_path_factory.mktemp("analyses")
    rng = np.random.default_rng(7)
    brightness = np.linspace(40, 215, N)
    rows = []
    for i, level in enumerate(brightness, start=1):
        pixels = np.clip(level + rng.normal(0, 25, (40, 40, 3)), 0, 255).astype(np.uint8)
        (root / "images").mkdir(exist_ok=True)
        Image.fromarray(pixels).save(root / "images" / f"{i}.png")
        for rater in range(6):
            rows.append((str(i), "bright", level / 2.55 + rng.normal(0, 8), f"r{rater}"))
            rows.append((str(i), "noise", 50 + rng.normal(0, 10), f"r{rater}"))
    pd.DataFrame(rows, columns=["stimulus", "attribute", "rating", "rater"]).to_csv(root / "trials.csv", index=False)
    means = pd.DataFrame(rows, columns=["stimulus", "attribute", "rating", "rater"]).pivot_table(
        index="stimulus", columns="attribute", values="rating")
    means.to_csv(root / "means.csv")
    config = write_config(root, images="images", ratings="trials.csv", model=MODEL, weights="none",
                          layers=["block1", "pool"], workers=0, device="cpu", n_bootstrap=200, n_permutations=200)
    cli("extract", "--config", config)
    return config


def _error(*args) -> str:
    return error_line(cli(*args, code=2).stderr)


def test_reliability_saves_its_table(study, tmp_path):
    cli("reliability", "--config", study, "--splits", "20", "--save", tmp_path / "rel")
    table = pd.read_csv(tmp_path / "rel" / "reliability.csv")
    assert set(table["attribute"]) == {"bright", "noise"}
    assert table.set_index("attribute").loc["bright", "reliability"] > 0.9


def test_reliability_of_means_only_ratings_says_trials_are_needed(study):
    message = _error("reliability", "--config", study, "--ratings", study.parent / "means.csv")
    assert "means.csv" in message and "trial" in message


def test_predict_runs_and_finds_the_brightness_rating(study, tmp_path):
    cli("predict", "--config", study, "--layer", "pool", "--folds", "4", "--permutations", "99",
        "--save", tmp_path / "pred")
    table = pd.read_csv(tmp_path / "pred" / "predict.csv").set_index("attribute")
    assert table.loc["bright", "r"] > 0.5 and table.loc["bright", "p"] == pytest.approx(1 / 100)
    assert (tmp_path / "pred" / "predictions.csv").is_file()


@pytest.mark.parametrize("args, named", [
    (("--attributes", "trust"), "'trust'"),
    (("--layer", "fc7"), "fc7"),
    (("--folds", "30"), "30"),
])
def test_predict_bad_input_one_line(study, args, named):
    message = _error("predict", "--config", study, "--no-save", "--permutations", "0", *args)
    assert named in message


def test_correlate_unknown_layer_names_it(study):
    assert "conv5" in _error("correlate", "--config", study, "--no-save", "--layer", "conv5")


def test_compare_runs_on_two_layers(study, tmp_path):
    cli("compare", "block1", "pool", "--config", study, "--attribute", "bright",
        "--folds", "4", "--save", tmp_path / "cmp")
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert len(table) == 1 and np.isfinite(table["p_bootstrap"]).all()


def test_rsa_partial_leaves_out_the_covariate_layer(study, tmp_path):
    """Controlling for a layer that is also analysed tests the other layer only, and says so."""
    from psychoface.config import load_config
    from psychoface.kinds.rsa import study as rsa

    cfg = load_config(study, n_permutations=99, n_bootstrap=50)
    table, partial, _, _ = rsa(cfg, ["block1", "pool"], covariates=("layer:pool",))
    assert set(table["layer"]) == {"block1", "pool"}
    assert set(partial["layer"]) == {"block1"}
    assert any("pool" in line and "covariate" in line for line in partial.attrs["psychoface"]["exclusions"])
    cli("rsa", "--config", study, "--layer", "block1,pool", "--control", "layer:pool,pixels",
        "--permutations", "99", "--bootstrap", "50", "--save", tmp_path / "rsa")
    assert any(p.suffix == ".csv" for p in (tmp_path / "rsa").iterdir())


def test_rsa_bad_input_one_line(study):
    assert "faces" in _error("rsa", "--config", study, "--no-save", "--control", "faces")
    assert "'trust'" in _error("rsa", "--config", study, "--no-save", "--attributes", "trust")
    assert "exactly two" in _error("rsa", "--config", study, "--no-save", "--compare-layers", "pool")
    message = _error("rsa", "--config", study, "--no-save", "--layer", "pool", "--attributes", "bright",
                     "--control", "attribute:bright")
    assert "covariate" in message
