"""`psychoface geometry` end to end on a small synthetic study (known generator), and its bad input.

30 synthetic faces (4 attributes, 8 raters), features from mobilenet_v3_small with random weights, two
layers; few permutations. The generator's truth is found beside the images and compared.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from psychoface.config import write_config
from psychoface.data.synthetic import generate_study

from test_cli import cli, error_line


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("geometry") / "study"
    generate_study(root, n_faces=30, n_raters=8, image_size=64, seed=1)
    config = write_config(root, images="images", ratings="ratings.csv", model="mobilenet_v3_small", weights="none",
                          layers=["block6", "pool"], workers=0, device="cpu", n_bootstrap=100, n_permutations=100)
    cli("extract", "--config", config)
    return config


def test_geometry_saves_every_table_and_recovers_the_generator(study, tmp_path):
    out = tmp_path / "geo"
    result = cli("geometry", "--config", study, "--group-by", "happy", "--riemannian-permutations", "50",
                 "--save", out)
    assert "Distinctiveness" in result.stdout
    for name in ("distinctiveness", "distinctiveness_truth", "attribute_space", "attribute_space_truth",
                 "shape_metric", "riemannian_rsa", "map_quality", "map_scores", "group_means", "map_coordinates"):
        assert (out / f"{name}.csv").stat().st_size > 0, name
    truth = pd.read_csv(out / "attribute_space_truth.csv").set_index("layer")
    # people's attribute space (mean ratings of 8 raters, 30 faces) recovers the generator's weight geometry
    assert truth.loc["people", "rho"] > 0.5
    people = pd.read_csv(out / "attribute_angles_people.csv", index_col="attribute")
    generator = pd.read_csv(out / "attribute_angles_generator.csv", index_col="attribute")
    assert (people - generator.loc[people.index, people.columns]).abs().to_numpy().mean() < 0.3
    faces = pd.read_csv(out / "distinctiveness_faces.csv")
    assert len(faces) == 60 and faces["distinctiveness"].between(0, 3.1416).all()
    assert list(out.glob("geometry_attribute_spaces.png"))


def test_geometry_bad_input(study):
    assert "map 'isomap': use pca, tsne or umap" in error_line(cli("geometry", "--config", study, "--map", "isomap",
                                                                   code=2).stderr)
    line = error_line(cli("geometry", "--config", study, "--group-by", "height", "--permutations", "10",
                          "--bootstrap", "10", code=2).stderr)
    assert "group_by 'height': not a rated attribute" in line
