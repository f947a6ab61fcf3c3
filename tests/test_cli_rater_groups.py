"""`--by` a rater-level column on a generated per-rater study (raters nested in two sets of faces): the
comparison of the rater groups in `reliability` and `predict` (tables, sentences, methods text), the
noise-ceiling note worded from the split used, and the user errors of a bad `--by`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from psychoface.data.synthetic import generate_study

from test_cli import cli, error_line

N_FACES, N_RATERS = 24, 12


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rater_groups")
    generated = generate_study(root, n_faces=N_FACES, n_raters=N_RATERS, image_size=64, seed=5, layout="per_rater",
                               rater_blocks=2)
    keys = "".join(f"{k} = {str(v).lower() if isinstance(v, bool) else chr(34) + v + chr(34)}\n"
                   for k, v in generated.ratings_keys.items())
    config = root / "psychoface.toml"
    config.write_text(
        'images = "images"\n' + keys + 'model = "mobilenet_v3_small"\nweights = "none"\n'
        'layers = ["block1", "pool"]\nworkers = 0\ndevice = "cpu"\nn_bootstrap = 200\nn_permutations = 50\n'
    )
    return config


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
