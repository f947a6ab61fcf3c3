"""The shape kind: `psychoface shape` on a synthetic study with its exact landmarks recovers the known
truth (attractive depends on facial symmetry), every table and figure is written, an analysis file with
feature RDMs reaches the report with its methods and references, and bad input is named."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from psychoface.config import write_config
from psychoface.data.synthetic import generate_study, true_shape_correlations
from psychoface.kinds.registry import get, words_for


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shape") / "study"
    generate_study(folder, n_faces=60, n_raters=20, image_size=96, seed=3)
    write_config(folder, images="images", ratings="ratings.csv", landmarks="landmarks.csv")
    return folder


def _run(*args):
    from psychoface.cli import build_app

    result = CliRunner().invoke(build_app(), [str(a) for a in args])
    return result


def test_shape_command_recovers_the_known_truth(study):
    out = study / "results"
    result = _run("shape", "--config", study / "psychoface.toml", "--groups", "dominant", "--permutations", 499,
                  "--bootstrap", 499, "--save", out)
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert "Shape asymmetry (distance from the mirror image) correlated with mean attractive ratings" in words
    asym = pd.read_csv(out / "shape_asymmetry.csv").set_index("attribute")
    truth = true_shape_correlations(n_faces=3000, image_size=96).set_index(["score", "attribute"])["r_ratings"]
    # attractive depends on the symmetry parameter: the CI holds the population correlation, and p is small
    low, high = asym.loc["attractive", ["ci_low", "ci_high"]]
    assert low <= truth["asymmetry", "attractive"] <= high and asym.loc["attractive", "p"] < 0.01
    assert truth["asymmetry", "attractive"] < -0.4
    # no other attribute depends on symmetry
    assert (asym.drop("attractive")["p_corr"] > 0.05).all()
    # dominant depends on face width, brow height and eye size: high and low dominant faces differ in shape
    groups = pd.read_csv(out / "shape_groups.csv")
    assert groups["p"].iloc[0] < 0.01 and groups["distance"].iloc[0] > 0
    dim = pd.read_csv(out / "shape_dimorphism.csv").set_index("attribute")
    assert dim.loc["dominant", "r"] > 0.5
    reg = pd.read_csv(out / "shape_regression.csv").set_index("term")
    assert reg.loc["dominant", "p"] < 0.01 and list(reg.columns[:7]) == ["df", "ss", "ms", "r2", "F", "Z", "p"]
    faces = pd.read_csv(out / "shape_faces.csv")
    assert list(faces.columns) == ["stimulus", "rho", "procrustes_distance", "asymmetry", "fluctuating_asymmetry",
                                   "dimorphism_dominant"] and len(faces) == 60
    for stem in ("shape_mean", "shape_distinctiveness", "shape_groups", "shape_change"):
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}.pdf").is_file()
    pca = pd.read_csv(out / "shape_pca.csv")
    assert pca["proportion"].sum() == pytest.approx(1.0, abs=1e-6)


def test_shape_in_an_analysis_file_with_the_shape_rdm(tmp_path):
    from psychoface.reports.report import run_analysis_file

    (tmp_path / "shape.toml").write_text("""
title = "Shape"
[study]
synthetic = { n_faces = 20, n_raters = 4, image_size = 64 }
model = "mobilenet_v3_small"
weights = "none"
layers = ["features.1"]
pooling = "avg"
seed = 2
n_permutations = 99
n_bootstrap = 99

[[analysis]]
kind = "shape"
layers = ["features.1"]
components = 2
""", encoding="utf-8")
    out = run_analysis_file(tmp_path / "shape.toml", out=tmp_path / "report", study_dir=tmp_path / "study")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Kendall&#x27;s shape space (Dryden &amp; Mardia, 2016; Kendall, 1984)" in html or \
        "Kendall's shape space (Dryden &amp; Mardia, 2016; Kendall, 1984)" in html
    assert "Collyer, M. L., Sekora, D. J., &amp; Adams, D. C. (2015)" in html
    assert "correlated with the face-shape RDM" in html
    rsa = pd.read_csv(next((out / "tables").glob("*_shape")) / "shape_rsa.csv")
    assert set(rsa["rdm"]) == {"features.1", "happy ratings", "trustworthy ratings", "dominant ratings",
                               "attractive ratings"}
    partial = pd.read_csv(next((out / "tables").glob("*_shape")) / "shape_partial_rsa.csv")
    assert (partial["covariates"] == "face shape").all()


def test_registered_with_words_and_demo():
    kind = get("shape")
    assert kind.demo is not None and words_for("shape regression") is not None
    demo = (__import__("psychoface").__path__[0] + "/demo.toml")
    assert 'kind = "shape"' in open(demo, encoding="utf-8").read()


def test_bad_input_is_named(study, tmp_path):
    result = _run("shape", "--config", study / "psychoface.toml", "--groups", "wisdom", "--no-save",
                  "--permutations", 9, "--bootstrap", 9)
    assert result.exit_code == 2 and "groups 'wisdom' is not an attribute" in " ".join(result.output.split())
    result = _run("shape", "--config", study / "psychoface.toml", "--template", "custom", "--no-save",
                  "--permutations", 9, "--bootstrap", 9)
    assert result.exit_code == 2 and "symmetry needs a left-right pairing" in " ".join(result.output.split())
    no_marks = tmp_path / "bare"
    generate_study(no_marks, n_faces=6, n_raters=2, image_size=48, seed=1)
    (no_marks / "landmarks.csv").unlink()
    write_config(no_marks, images="images", ratings="ratings.csv")
    result = _run("shape", "--config", no_marks / "psychoface.toml", "--no-save")
    words = " ".join(result.output.split())
    assert result.exit_code == 2 and "no landmark files (.tem, .pts) beside the images" in words
    assert "psychoface landmarks" in words
    # a custom pairing makes symmetry possible again
    pairs = ",".join(f"{i}-{j}" for i, j in [(0, 16), (36, 45), (48, 54)])
    result = _run("shape", "--config", study / "psychoface.toml", "--template", "custom", "--pairs", pairs,
                  "--no-save", "--permutations", 9, "--bootstrap", 9)
    assert result.exit_code == 0, result.output
