"""Analysis files and reports end to end: one tiny synthetic study, every output written and readable."""

import json
import os
from pathlib import Path

import docx
import pytest

from psychoface.errors import PsychofaceError
from psychoface.reports.report import expand_env, load_analysis_file, run_analysis_file

REPO = Path(__file__).resolve().parents[1]

TINY = """
title = "Tiny synthetic study"
[study]
synthetic = { n_faces = 12, n_raters = 6, image_size = 64 }
model = "mobilenet_v3_small"
weights = "none"
layers = ["features.1", "features.3"]
pooling = "avg"
seed = 3
n_permutations = 99
n_bootstrap = 50

[[analysis]]
kind = "reliability"
n_splits = 10

[[analysis]]
kind = "predict"
layers = ["all"]
folds = 3
n_permutations = 19

[[analysis]]
kind = "rsa"
layers = ["all"]
attributes = ["happy", "trustworthy"]
combined = true
compare_layers = ["features.1", "features.3"]
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    spec = folder / "tiny.toml"
    spec.write_text(TINY)
    messages = []
    out = run_analysis_file(spec, out=folder / "out", progress=messages.append)
    return out, messages


def test_report_folder_holds_every_output(report):
    out, messages = report
    assert (out / "report.html").stat().st_size > 10_000  # figures are embedded
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "<h2>Method</h2>" in html and "Table 1" in html
    assert "random" in html.lower()  # random weights are stated
    for kind in ("01_reliability", "02_predict", "03_rsa"):
        folder = out / "tables" / kind
        stem = kind.split("_", 1)[1]
        for suffix in (".md", ".tex", ".html", ".docx", ".json"):
            assert (folder / f"{stem}{suffix}").is_file(), (kind, suffix)
    assert list((out / "figures").glob("*.png")) and list((out / "figures").glob("*.pdf"))
    assert any("extracting" in m for m in messages)


def test_provenance_records_seed_versions_parameters_and_hashes(report):
    out, _ = report
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 3
    assert prov["versions"]["torch"] and prov["versions"]["numpy"]
    assert len(prov["inputs"]["images"]) == 12 and all(len(s["sha256"]) == 64 for s in prov["inputs"]["images"])
    assert len(prov["inputs"]["ratings"]["sha256"]) == 64
    assert [a.get("seed") for a in prov["analyses"]] == [3, 3, 3]
    assert "random" in json.dumps(prov["store"]["weights"]).lower()


def test_word_report_opens_and_numbers_tables(report):
    out, _ = report
    document = docx.Document(str(out / "report.docx"))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Method" in text and "References" in text
    assert len(document.tables) >= 3
    numbers = [p.text for p in document.paragraphs if p.text.startswith("Table ")]
    assert numbers[:3] == ["Table 1", "Table 2", "Table 3"]


def test_synthetic_study_folder_is_a_usable_study(report):
    out, _ = report
    study = out / "study"
    assert (study / "psychoface.toml").is_file() and (study / "ratings.csv").is_file()


def test_env_expansion():
    os.environ["PF_TEST_DIR"] = "/data"
    assert expand_env("${PF_TEST_DIR}/x", "f") == "/data/x"
    assert expand_env("${PF_TEST_UNSET_VAR:-fallback}/x", "f") == "fallback/x"
    with pytest.raises(PsychofaceError, match="PF_TEST_UNSET_VAR is not set"):
        expand_env("${PF_TEST_UNSET_VAR}", "f")


def test_bad_analysis_files_are_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[study]\nmodel = "vgg16"\n[[analysis]]\nkind = "anova"\n')
    with pytest.raises(PsychofaceError, match="bad.toml: analysis 1 has kind 'anova'"):
        load_analysis_file(bad)
    bad.write_text('[study]\nmodel = "vgg16"\n')
    with pytest.raises(PsychofaceError, match="no \\[\\[analysis\\]\\]"):
        load_analysis_file(bad)


def test_shipped_analysis_files_parse():
    for name in ("demo.toml", "omi.toml"):
        spec = load_analysis_file(REPO / "analyses" / name)
        assert spec.analyses
    assert (REPO / "analyses" / "demo.toml").resolve() == (REPO / "psychoface" / "demo.toml").resolve()
