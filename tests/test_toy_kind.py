"""A new analysis kind needs nothing but its own module: a toy kind (the mean rating of each attribute
with a percentile bootstrap CI) registered from this test module alone reaches the CLI, an analysis file,
the methods paragraph, the reference list and a report, without touching the package.

Its mean and CI are checked against NumPy on the same ratings and the same bootstrap resamples."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from psychoface import workflows
from psychoface.analyses.inference import percentile_ci
from psychoface.kinds.registry import AnalysisKind, Option, Words, get, kinds, register, words_for
from psychoface.kinds import options as common
from psychoface.errors import PsychofaceError
from psychoface.reports.apa import Text, italic
from psychoface.reports.references import add_bibliography
from psychoface.reports.section import Section, result_table
from psychoface.reports.tables import register_columns
from psychoface.reports.text import ci_of, level_of, stat_clause

TOY_BIB = """@book{toy2001,
  author = {Doe, Jane and Roe, Richard},
  year = {2001},
  title = {Averages of ratings},
  publisher = {Toy Press}
}
"""


def mean_ratings(means: pd.DataFrame, *, n_bootstrap: int = 200, ci_level: float = 0.95, seed: int = 0):
    """The pure function: each attribute's mean rating over stimuli, percentile bootstrap CI over stimuli."""
    rng = np.random.default_rng(seed)
    rows = []
    for attribute in means.columns:
        values = means[attribute].dropna().to_numpy()
        boot = values[rng.integers(0, len(values), size=(n_bootstrap, len(values)))].mean(axis=1)
        low, high = percentile_ci(boot, ci_level)
        rows.append({"attribute": attribute, "n": len(values), "mean": values.mean(), "ci_low": float(low),
                     "ci_high": float(high)})
    out = pd.DataFrame(rows)
    out.attrs["psychoface"] = {"analysis": "toy_mean", "seed": seed, "ci_level": ci_level,
                               "ci_method": "percentile bootstrap over stimuli", "n_bootstrap": n_bootstrap,
                               "p_method": None, "correction": "none", "family": None}
    return out


def build(config, *, attributes=None, figures_dir=None, figure_prefix="", progress=None) -> Section:
    ratings = workflows.load_ratings_from_config(config)
    means = ratings.means if attributes is None else ratings.means[list(attributes)]
    table = mean_ratings(means, n_bootstrap=config.n_bootstrap, ci_level=config.ci_level, seed=config.seed)
    return Section("toymean", "Mean Ratings", [result_table(table)], [(table, 0)], [], {"toymean": table})


def sentence(row, attrs, n_tests):
    return [Text(f"Mean {row['attribute']} ratings were ",
                 stat_clause("M", row["mean"], ci=ci_of(row), ci_level=level_of(attrs)), ".")]


def methods(attrs, cites, written):
    return [Text(f"Each attribute's ratings were averaged over faces {cites.paren('toy2001')}.")]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from psychoface.kinds import registry
    from psychoface.reports import references

    registry.kinds()
    saved = list(references._FILES), dict(registry._KINDS), dict(registry._WORDS)
    folder = tmp_path_factory.mktemp("toy")
    bib = folder / "toy.bib"
    bib.write_text(TOY_BIB, encoding="utf-8")
    add_bibliography(bib)  # a kind's own works: its module would ship this file
    register_columns({"mean": {"header": Text(italic("M")), "kind": "unbounded", "ci_owner": True}})
    kind = register(AnalysisKind(
        name="toymean",
        help="Mean rating of each attribute.\n\nPercentile bootstrap CI over stimuli.",
        build=build,
        options=(common.ATTRIBUTES, common.BOOTSTRAP, common.SEED),
        words=(Words(("toy_mean",), sentence, methods=methods, title="Mean ratings"),),
        citations=("toy2001",),
    ))
    yield folder, kind
    # leave the process as it was: later test modules see neither the toy kind nor its works
    references._FILES[:] = saved[0]
    references._CACHE.clear()
    registry._KINDS.clear()
    registry._KINDS.update(saved[1])
    registry._WORDS.clear()
    registry._WORDS.update(saved[2])


TOY_FILE = """
title = "Toy"
bibliography = "toy.bib"
[study]
synthetic = { n_faces = 10, n_raters = 4, image_size = 48 }
model = "mobilenet_v3_small"
weights = "none"
layers = ["features.1"]
pooling = "avg"
seed = 5
n_bootstrap = 300

[[analysis]]
kind = "toymean"
attributes = ["happy", "trustworthy"]
"""


def test_a_toy_kind_reaches_the_cli_an_analysis_file_the_methods_and_the_report(toy):
    from psychoface.cli import build_app
    from psychoface.reports.report import run_analysis_file

    folder, kind = toy
    assert get("toymean") is kind and kinds()[-1] is kind and words_for("toy_mean") is kind.words[0]
    (folder / "toy.toml").write_text(TOY_FILE, encoding="utf-8")
    out = run_analysis_file(folder / "toy.toml", out=folder / "report", study_dir=folder / "study")

    # the report: its section, table, sentence, methods and reference
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Mean Ratings" in html and "Mean happy ratings were <i>M</i> = " in html
    assert "averaged over faces (Doe &amp; Roe, 2001)" in html
    assert "Doe, J., &amp; Roe, R. (2001). <i>Averages of ratings</i>. Toy Press." in html
    table = pd.read_csv(out / "tables" / "01_toymean" / "toymean.csv")
    assert list(table["attribute"]) == ["happy", "trustworthy"]

    # the same numbers from NumPy: the means and the bootstrap resamples drawn with the same seed
    means = pd.read_csv(folder / "study" / "ratings.csv", dtype={"stimulus": str})
    means = means.groupby(["stimulus", "attribute"])["rating"].mean().unstack()
    rng = np.random.default_rng(5)
    for attribute, row in zip(("happy", "trustworthy"), table.itertuples()):
        values = means[attribute].dropna().to_numpy()
        boot = values[rng.integers(0, len(values), size=(300, len(values)))].mean(axis=1)
        assert row.mean == pytest.approx(values.mean())
        assert (row.ci_low, row.ci_high) == pytest.approx(tuple(np.percentile(boot, [2.5, 97.5])))

    # the CLI: a command built from the registry, with the kind's options
    runner = CliRunner()
    app = build_app()
    help_text = runner.invoke(app, ["toymean", "--help"]).output
    assert "Mean rating of each attribute." in help_text and "--bootstrap" in help_text
    result = runner.invoke(app, ["toymean", "--config", str(folder / "study" / "psychoface.toml"),
                                 "--attributes", "happy", "--bootstrap", "300", "--seed", "5", "--no-save"])
    assert result.exit_code == 0, result.output
    assert "Mean happy ratings were M = " in result.output
    bad = runner.invoke(app, ["toymean", "--config", str(folder / "study" / "psychoface.toml"), "--bootstrap",
                              "x"])
    assert bad.exit_code == 2


def test_an_unknown_kind_or_option_names_the_known_ones(toy, tmp_path):
    from psychoface.reports.report import load_analysis_file
    from psychoface.reports.section import build_section

    with pytest.raises(PsychofaceError, match=r"unknown analysis 'nope'; use one of reliability, .*toymean"):
        get("nope")
    spec = tmp_path / "a.toml"
    spec.write_text('[[analysis]]\nkind = "nope"\n', encoding="utf-8")
    with pytest.raises(PsychofaceError, match=r"analysis 1 has kind 'nope'; use one of reliability, .*toymean"):
        load_analysis_file(spec)
    with pytest.raises(PsychofaceError, match=r"analysis 'toymean': unknown option\(s\) folds; valid: "
                                              r"attributes, n_bootstrap, seed"):
        build_section("toymean", None, folds=3)
    with pytest.raises(PsychofaceError, match=r"toymean': attributes = 3.5j is not a list"):
        build_section("toymean", None, attributes=3.5j)


def test_a_kind_citing_an_unknown_work_is_refused(toy):
    with pytest.raises(PsychofaceError, match="citation key\\(s\\) nobody1900 are not in the bibliography"):
        register(AnalysisKind("toy2", "Toy.", build, citations=("nobody1900",)))
    with pytest.raises(PsychofaceError, match="type <class 'dict'> is not one of"):
        Option("x", type=dict)
