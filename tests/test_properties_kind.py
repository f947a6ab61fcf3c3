"""The properties kind end to end on a small synthetic study: an analysis file with metadata, landmarks and
interventions reaches the report (tables, sentences, methods, references, figures); the CLI's properties
command and predict --control; one-line errors."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from psychoface.errors import PsychofaceError

SPEC = """
title = "Props"
[study]
synthetic = { n_faces = 30, n_raters = 4, image_size = 64 }
model = "mobilenet_v3_small"
weights = "none"
layers = ["features.3"]
pooling = "avg"
seed = 1
n_permutations = 49
n_bootstrap = 100
landmarks = "landmarks.csv"
metadata = "face_parameters.csv"
metadata_columns = ["skin_tone", "symmetry"]

[[analysis]]
kind = "properties"
folds = 5
attributes = ["happy", "attractive"]
properties = ["skin_tone", "symmetry", "luminance", "asymmetry", "fwhr"]
interventions = ["luminance", "mirror"]
strengths = [-0.2, 0.2]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from psychoface.reports.report import run_analysis_file

    folder = tmp_path_factory.mktemp("props")
    (folder / "props.toml").write_text(SPEC, encoding="utf-8")
    out = run_analysis_file(folder / "props.toml", out=folder / "report", study_dir=folder / "study")
    return folder, out


def test_the_report_holds_the_tables_words_and_figures(report):
    folder, out = report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Face Properties and the Network" in html
    assert "Freedman &amp; Lane, 1983" in html and "Büchner, T., Penzel, N." in html
    tables = out / "tables" / "01_properties"
    beyond = pd.read_csv(tables / "property_beyond_humans.csv")
    assert set(beyond["property"]) == {"skin_tone", "symmetry", "luminance", "asymmetry", "fwhr"}
    assert len(beyond) == 2 * 5 and beyond["p"].between(1 / 50, 1).all()
    # the humans' own dependence equals Pearson r of the mean ratings with the property
    means = pd.read_csv(folder / "study" / "ratings.csv", dtype={"stimulus": str})
    means = means.groupby(["stimulus", "attribute"])["rating"].mean().unstack()
    params = pd.read_csv(folder / "study" / "face_parameters.csv", dtype={"stimulus": str}).set_index("stimulus")
    row = beyond[(beyond.attribute == "attractive") & (beyond.property == "symmetry")].iloc[0]
    assert row["r_humans"] == pytest.approx(np.corrcoef(means["attractive"], params["symmetry"].reindex(
        means.index))[0, 1])
    changes = pd.read_csv(tables / "intervention_changes.csv")
    assert set(changes["intervention"]) == {"luminance", "mirror"} and len(changes) == 30 * 2 * 3
    assert (out / "figures" / "01_properties_heatmap.png").is_file()
    assert (out / "figures" / "01_properties_dose_response.png").is_file()
    # landmark asymmetry tracks the generator's symmetry parameter (higher symmetry: lower asymmetry)
    props = pd.read_csv(tables / "properties_table.csv")
    assert np.corrcoef(props["symmetry"], props["asymmetry"])[0, 1] < -0.5


def test_cli_properties_and_predict_control(report):
    from psychoface.cli import build_app

    folder, _ = report
    study = folder / "study"
    toml = study / "psychoface.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\nmetadata = "face_parameters.csv"\n', encoding="utf-8")
    runner = CliRunner()
    app = build_app()
    assert "--interventions" in runner.invoke(app, ["properties", "--help"]).output
    result = runner.invoke(app, ["predict", "--config", str(toml), "--control", "skin_tone,symmetry",
                                 "--attributes", "attractive", "--permutations", "19", "--bootstrap", "50",
                                 "--no-save"])
    assert result.exit_code == 0, result.output
    assert "With skin_tone, symmetry regressed out inside each training fold" in result.output
    # a face without landmarks (as detection leaves them) is left out of a control by a landmark measure
    marks = pd.read_csv(study / "landmarks.csv", dtype={"stimulus": str})
    marks[marks["stimulus"] != marks["stimulus"].iloc[0]].to_csv(study / "partial.csv", index=False)
    text = re.sub(r"^landmarks = .*$", "", toml.read_text(encoding="utf-8"), flags=re.M)
    toml.write_text(text + 'landmarks = "partial.csv"\n', encoding="utf-8")
    result = runner.invoke(app, ["predict", "--config", str(toml), "--control", "asymmetry", "--attributes",
                                 "attractive", "--permutations", "19", "--bootstrap", "50", "--save",
                                 str(folder / "ctrl")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(folder / "ctrl" / "predict_controlled.csv")
    assert table["n"].tolist() == [29] and table["r_without_control"].notna().all()
    bad = runner.invoke(app, ["properties", "--config", str(toml), "--properties", "skin_tones", "--no-save"])
    assert bad.exit_code == 2 and "closest: skin_tone" in bad.output


def test_an_intervention_needing_landmarks_without_them_is_one_line(tmp_path):
    from psychoface.analyses.properties import edits, interventions

    with pytest.raises(PsychofaceError, match="needs landmarks and the study has none"):
        interventions.run_interventions(lambda i: None, ["a"], lambda ims: np.zeros((1, 1)),
                                        [edits.make_edit("occlude", region="mouth")])
