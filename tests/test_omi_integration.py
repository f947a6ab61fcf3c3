"""The study workflow end to end on 16 real faces of the One Million Impressions dataset (OMI; Peterson et
al., 2022, PNAS 119(17), e2115228119): `psychoface init`, `check` and `extract` through the command line,
then `load_features`. The images are symlinked and the ratings of those 16 faces written into a temporary
folder; nothing from ../shared is copied into the repository. Random weights (mobilenet_v2, `--weights
none`) keep it fast and offline."""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from typer.testing import CliRunner

from psychoface.cli import app
from psychoface.config import load_config
from psychoface.features.layers import layer_aliases, trace_modules
from psychoface.features.store import load_features

OMI = Path(__file__).resolve().parents[2] / "shared" / "data" / "omi"
IDS = [str(i) for i in range(1, 17)]

pytestmark = pytest.mark.skipif(
    not ((OMI / "attribute_means.csv").is_file() and (OMI / "images").is_dir()),
    reason="../shared/data/omi (attribute_means.csv and images/) is absent")


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("".join(traceback.format_exception(*result.exc_info)))
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_init_check_extract_load_on_16_omi_faces(tmp_path, monkeypatch, one_thread):
    faces = tmp_path / "faces"
    faces.mkdir()
    for i in IDS:
        os.symlink(OMI / "images" / f"{i}.jpg", faces / f"{i}.jpg")
    means = pd.read_csv(OMI / "attribute_means.csv", dtype={"stimulus": str})
    ratings = means[means["stimulus"].isin(IDS)]
    assert len(ratings) == 16 and ratings.shape[1] == 35
    ratings.to_csv(tmp_path / "ratings.csv", index=False)

    study = tmp_path / "study"
    cli("init", study, "--images", faces, "--ratings", tmp_path / "ratings.csv", "--model", "mobilenet_v2",
        "--weights", "none", "--layers", "block7,pool")
    monkeypatch.chdir(study)
    cfg = load_config()
    assert (cfg.model, cfg.weights, cfg.layers) == ("mobilenet_v2", "none", ["block7", "pool"])

    out = cli("check").stdout
    summary = {line.split("  ")[0].strip(): line for line in out.splitlines() if line.strip()}
    assert summary["images"].split()[-1] == "16"
    assert summary["matched stimuli (image and ratings)"].split()[-1] == "16"
    assert summary["attributes"].split()[1] == "34:"
    assert "0 blocking" in summary["problems"]

    cli("extract", "--device", "cpu", "--workers", "0", "--batch-size", "8")
    with torch.device("meta"):
        net = torchvision.models.mobilenet_v2()
    traces = {t.name: t.shape for t in trace_modules(net, 224)}
    aliases = layer_aliases(net)
    for layer in ("block7", "pool"):
        X, ids = load_features(study / "features", layer)
        assert ids == IDS  # the images' natural order
        assert X.dtype == np.float32 and X.shape == (16, int(np.prod(traces[aliases[layer]])))
        assert np.isfinite(X).all() and len(np.unique(X, axis=0)) == 16  # 16 different faces
    assert X.shape == (16, 1280)
