"""`psychoface explain` end to end on a small synthetic study (random-weight MobileNetV3-small, 16 faces with their
exact landmarks): tables, figures and maps saved; bad input gives one line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from psychoface.config import write_config
from psychoface.data.synthetic import generate_study

from test_cli import cli, error_line


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    generate_study(root, n_faces=16, n_raters=6, image_size=64)
    config = write_config(root, images="images", ratings="ratings.csv", model="mobilenet_v3_small", weights="none",
                          layers=["block6"], pooling="avg", workers=0, device="cpu", n_bootstrap=100,
                          n_permutations=99)
    text = config.read_text()
    config.write_text(text.replace("# landmarks = \"landmarks.csv\"", "landmarks = \"landmarks.csv\""))
    cli("extract", "--config", config)
    return config


def test_explain_saves_tables_figures_and_maps(study, tmp_path):
    out = tmp_path / "ex"
    result = cli("explain", "--config", study, "--layer", "block6", "-a", "happy,trustworthy", "--folds", "4",
                 "--batch-size", "8", "--method", "cam", "--region-baseline", "reference", "--n-null", "1", "--faithfulness-faces", "4", "--sanity-faces", "2", "--cluster-permutations",
                 "64", "--map-size", "48", "--save", out)
    assert "Share of Attribution by Face Region Against the Permuted-Ratings Readout" in result.stdout
    regions = pd.read_csv(out / "explain_regions.csv")
    assert set(regions["attribute"]) == {"happy", "trustworthy"} and len(regions) == 16
    assert regions["reference_share"].between(0, 1).all()
    assert {"explain_clusters.csv", "explain_faithfulness.csv", "explain_sanity.csv",
            "explain_contrasts.csv"} <= {p.name for p in out.iterdir()}
    assert len(list(out.rglob("*explain_maps*.png"))) == 1
    assert len(list(out.rglob("block6_happy.npy"))) == 1


def test_explain_bad_input_is_one_line(study):
    assert "run `psychoface extract --layer block5`" in error_line(
        cli("explain", "--config", study, "--layer", "block5", code=2).stderr)
    assert "unknown attribute" in error_line(
        cli("explain", "--config", study, "--layer", "block6", "-a", "sleepy", code=2).stderr)
    assert "method lrp" not in error_line(
        cli("explain", "--config", study, "--layer", "block6", "--method", "deeplift", code=2).stderr)
    assert "region_baseline 'mean': use area or reference" in error_line(
        cli("explain", "--config", study, "--layer", "block6", "--region-baseline", "mean", code=2).stderr)


def test_region_ablation_of_a_users_mask_on_aligned_faces(study, tmp_path):
    import numpy as np
    from PIL import Image

    img = np.zeros((32, 32), dtype=np.uint8)
    img[18:26, 8:24] = 128  # a mouth band
    img[8:14, 6:26] = 255   # an eye band
    Image.fromarray(img).save(tmp_path / "mask.png")
    out = tmp_path / "ex"
    cli("explain", "--config", study, "--layer", "block6", "-a", "happy", "--method", "regions", "--aligned",
        "--mask", tmp_path / "mask.png", "--folds", "3", "--batch-size", "8", "--n-null", "1",
        "--faithfulness-faces", "3", "--sanity-faces", "2", "--cluster-permutations", "32", "--map-size", "32",
        "--save", out)
    regions = pd.read_csv(out / "explain_regions.csv")
    assert set(regions["region"]) == {"background", "region 128", "region 255"}
    assert np.isclose(regions.set_index("region").loc["region 128", "area_share"], 8 * 16 / 32 ** 2)


def test_maps_without_any_cluster_leave_the_cluster_tables_out_and_say_so(study, tmp_path, monkeypatch):
    """A map where no pixel passes the threshold (common with TFCE) gives an empty cluster table: it is left
    out of the report, its CSV kept, and the region table's note says why."""
    import psychoface.analyses.explain as analyses_explain

    real = analyses_explain.cluster_test

    def no_clusters(*args, **kwargs):
        table, t_map, _ = real(*args, **kwargs)
        return table.iloc[:0], t_map, []

    monkeypatch.setattr(analyses_explain, "cluster_test", no_clusters)
    out = tmp_path / "ex"
    result = cli("explain", "--config", study, "--layer", "block6", "-a", "happy,trustworthy", "--folds", "3",
                 "--batch-size", "8", "--n-null", "1", "--faithfulness-faces", "2", "--sanity-faces", "2",
                 "--cluster-permutations", "16", "--map-size", "24", "--tfce", "--save", out)
    text = " ".join(result.stdout.split())
    assert "Clusters of the Pixel Maps" not in text and "Clusters of the Differences" not in text
    assert "No cluster formed in any attribute's map: no pixel reached p < .05 under threshold-free" in text
    assert "No cluster formed in any contrast's map" in text
    assert pd.read_csv(out / "explain_clusters.csv").empty


def test_faces_without_landmarks_are_left_out_and_named(study, tmp_path):
    """A face the detector skipped (no landmarks) is left out of the explanations, by name, not an error."""
    root = study.parent
    landmarks = pd.read_csv(root / "landmarks.csv")
    dropped = str(landmarks["stimulus"].iloc[0])
    partial = root / "landmarks_partial.csv"
    landmarks[landmarks["stimulus"].astype(str) != dropped].to_csv(partial, index=False)
    config = tmp_path / "psychoface.toml"
    config.write_text(study.read_text().replace('landmarks = "landmarks.csv"', f'landmarks = "{partial}"')
                      .replace('images = "images"', f'images = "{root / "images"}"')
                      .replace('ratings = "ratings.csv"', f'ratings = "{root / "ratings.csv"}"')
                      .replace('store = "', f'store = "{root}/'))
    out = tmp_path / "ex"
    result = cli("explain", "--config", config, "--layer", "block6", "-a", "happy", "--folds", "3",
                 "--batch-size", "8", "--n-null", "1", "--faithfulness-faces", "3", "--sanity-faces", "2",
                 "--cluster-permutations", "32", "--map-size", "32", "--save", out)
    assert "1 of 16 faces had no landmarks" in result.stdout and dropped in result.stdout
    regions = pd.read_csv(out / "explain_regions.csv")
    assert (regions["n"] == 15).all() and len(regions) == 8
