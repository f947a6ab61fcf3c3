"""Analysis sections: one analysis run on a study, with its APA tables, sentences and figures.

A :class:`Section` is what both the CLI (``psychoface predict ...``) and the report runner
(``psychoface run analyses/X.toml``) produce for an analysis, so the two share one code path:
the CLI prints it to the terminal and saves it; the report collects sections into HTML and Word.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface import workflows
from psychoface.config import StudyConfig
from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_json, atomic_write_text, versions
from psychoface.reports.apa import Text, greek, italic, symbol
from psychoface.reports.tables import ApaTable, apa_table_for, title_case
from psychoface.reports.text import best_per_attribute, describe, resolution_note


@dataclass
class Figure:
    """A figure as APA 7 sets it: "Figure N" and the ``title`` (title case, italic) above the image,
    the ``note`` (what is plotted, error bars, lines) below it."""

    png: Path
    pdf: Path
    title: str
    note: Text = field(default_factory=Text)


@dataclass
class Section:
    """One analysis: its result tables (first = main), the results to put in words (a table's data and
    the position of the table it refers to), figures and raw data to save."""

    kind: str
    title: str
    tables: list[ApaTable]
    described: list[tuple[pd.DataFrame, int]] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def results(self) -> pd.DataFrame:
        return self.tables[0].data

    @property
    def sentences(self) -> list[Text]:
        """The results in words (:func:`~psychoface.reports.text.describe`): a sentence per row of a
        short table, a summary of a long one that refers to the table by its current number."""
        return [s for frame, i in self.described for s in describe(frame, self.tables[i].number)]

    @property
    def analyses(self) -> list[dict]:
        """The parameters (``attrs["psychoface"]``) of every table, in order: what the methods paragraph
        describes and provenance records (an RSA's partial and layer-comparison tables included)."""
        return [dict(t.data.attrs.get("psychoface", {}) or {}) for t in self.tables]


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def result_table(df: pd.DataFrame, title: str | None = None, identifiers=()) -> ApaTable:
    """The APA table of an analysis result, its note extended by
    :func:`~psychoface.reports.text.resolution_note` when the permutations limit the p values;
    ``identifiers`` (layer names, ...) keep their case in the title."""
    table = apa_table_for(df, title=title, identifiers=identifiers)
    extra = resolution_note(df)
    if extra is not None:
        table.note = Text(table.note, " ", extra) if table.note else extra
    return table


def _figure(fig, folder: Path | None, stem: str, title: str, note: Text) -> list[Figure]:
    """Save ``fig`` as ``<folder>/<stem>.png`` and ``.pdf`` (nothing without a folder) and close it."""
    import matplotlib.pyplot as plt

    from psychoface.reports.figures import save_figure

    try:
        if folder is None:
            return []
        png, pdf = save_figure(fig, Path(folder) / slug(stem))
        return [Figure(png, pdf, title, note)]
    finally:
        plt.close(fig)


def _titled(template: str, *names) -> str:
    """A figure title in APA title case, with the layer names (identifiers) left as written."""
    return title_case(template).format(*names)


def _ceilings(table: pd.DataFrame) -> str:
    """What a layer profile's dashed lines are, when it draws them."""
    has = "noise_ceiling" in table.columns and table["noise_ceiling"].notna().any()
    return "; dashed lines: noise ceilings" if has else ""


_RDM_STATISTICS = {"spearman": Text("Spearman's ", greek("ρ")), "pearson": Text("Pearson's ", italic("r")),
                   "tau-a": Text("Kendall's ", symbol("tau_a").text)}


# -- sections, one per analysis ------------------------------------------------------------------
# Every builder takes ``figures_dir`` (None: no figures), ``figure_prefix`` (put before each figure's
# file name, e.g. the report section's "04_") and, where the workflow reports it, ``progress(done,
# total)``; the other keyword arguments are the analysis options of the CLI and analysis files.
def reliability_section(config: StudyConfig, *, attributes=None, n_splits: int = 100, figures_dir=None,
                        figure_prefix: str = "") -> Section:
    """Split-half reliability (Spearman-Brown) of each attribute, ICC when rater ids exist."""
    table, iccs = workflows.reliability(config, attributes, n_splits=n_splits)
    tables = [result_table(table)]
    data = {"reliability": table}
    if iccs is not None:
        keep = iccs[iccs["type"].isin(["ICC2", "ICC2k", "ICC3", "ICC3k"])].reset_index(drop=True)
        keep.attrs = iccs.attrs
        cols = [c for c in ("attribute", "type", "icc", "ci_low", "ci_high", "F", "df1", "df2", "p", "n", "k")
                if c in keep.columns]
        icc_table = keep[cols].copy()
        icc_table.attrs = iccs.attrs
        tables.append(ApaTable(icc_table, "Intraclass correlations of the ratings"))
        data["icc"] = iccs
    return Section("reliability", "Reliability of the Ratings", tables, [(table, 0)], [], data)


def predict_section(config: StudyConfig, *, layers=("all",), attributes=None, folds: int = 10, repeats: int = 1,
                    n_permutations: int = 1000, figures_dir=None, figure_prefix: str = "",
                    progress=None) -> Section:
    """Cross-validated ridge prediction of each attribute from each layer."""
    from psychoface.reports.figures import layer_profile, scatter_predicted

    table, predictions = workflows.predict(
        config, layers, attributes, folds=folds, repeats=repeats, n_permutations=n_permutations,
        progress=progress,
    )
    level = round(100 * config.ci_level)
    figures = []
    if table["layer"].nunique() > 1:
        figures += _figure(
            layer_profile(table, x="layer", y="r", hue="attribute"), figures_dir,
            f"{figure_prefix}predict_profile", title_case("Cross-validated prediction accuracy across layers"),
            Text("Pearson ", italic("r"), " between out-of-fold predictions and mean ratings, with "
                 f"{level}% bootstrap confidence intervals", _ceilings(table), "."),
        )
    best = best_per_attribute(table, "r")
    for row in best.nlargest(6, "r").itertuples():  # the six best-predicted attributes, each at its best layer
        pred = predictions[row.layer]
        pred = pred[pred["attribute"] == row.attribute].groupby("stimulus")[["observed", "predicted"]].mean()
        figures += _figure(
            scatter_predicted(pred["observed"], pred["predicted"], title=f"{row.attribute} ({row.layer})"),
            figures_dir, f"{figure_prefix}predict_scatter_{row.attribute}",
            _titled("Out-of-fold predictions of mean {} ratings from {}", title_case(row.attribute), row.layer),
            Text("Each point is a stimulus; dashed line: identity; solid line: least-squares fit."),
        )
    data = {"predict": table, "predictions": pd.concat(
        [p.assign(layer=name) for name, p in predictions.items()], ignore_index=True)}
    return Section("predict", "Predicting Ratings From Layers", [result_table(table)], [(table, 0)], figures,
                   data)


def correlate_section(config: StudyConfig, *, layer: str, attributes=None, correction: str = "maxt",
                      n_permutations: int | None = None, figures_dir=None, figure_prefix: str = "") -> Section:
    """Unit-wise correlations with family-wise control."""
    summary, units = workflows.correlate(config, layer, attributes, correction=correction,
                                         n_permutations=n_permutations)
    return Section("correlate", f"Units of {layer} That Correlate With the Ratings", [result_table(summary)],
                   [(summary, 0)], [], {"correlate": summary, "units": units})


def compare_section(config: StudyConfig, *, layer_a: str, layer_b: str, attribute: str, store_b: str | None = None,
                    folds: int = 10, figures_dir=None, figure_prefix: str = "") -> Section:
    """Dependent-correlation tests and paired bootstrap of two layers' (or models') predictions."""
    table = workflows.compare(config, layer_a, layer_b, attribute, store_b=store_b, folds=folds)
    shown = table.drop(columns=[c for c in ("a", "b", "r_ab") if c in table.columns])
    shown.attrs = table.attrs
    title = f"Comparison of {table['a'].iloc[0]} (A) and {table['b'].iloc[0]} (B)"
    names = (layer_a, layer_b, str(table["a"].iloc[0]), str(table["b"].iloc[0]))
    return Section("compare", f"{layer_a} Versus {layer_b} for {attribute}",
                   [result_table(shown, title=title, identifiers=names)],
                   [(table, 0)], [], {"compare": table})


def rsa_section(config: StudyConfig, *, layers=("all",), attributes=None, metric: str = "correlation",
                method: str = "spearman", combined: bool = False, covariates=(), compare_layers=None,
                figures_dir=None, figure_prefix: str = "") -> Section:
    """RSA of layers against rating RDMs (partial RSA with covariates, a paired comparison of two
    layers); profile figure and RDM heatmaps."""
    from psychoface.reports.figures import layer_profile, rdm_heatmap

    table, partial, comparison, rdms = workflows.rsa(
        config, layers, attributes, metric=metric, method=method, combined=combined,
        covariates=tuple(covariates), compare_layers=compare_layers,
    )
    estimate = next(c for c in ("rho", "r", "tau") if c in table.columns)
    statistic = _RDM_STATISTICS.get(method, Text(method))
    figures = []
    profile = table["layer"].nunique() > 1
    if profile:
        figures += _figure(
            layer_profile(table, x="layer", y=estimate, hue="attribute"), figures_dir,
            f"{figure_prefix}rsa_profile", title_case("Representational similarity of layers and ratings"),
            Text(statistic, " between each layer's RDM and each rating RDM, with "
                 f"{round(100 * config.ci_level)}% bootstrap confidence intervals", _ceilings(table), "."),
        )
    first_attr = next(iter(rdms["ratings"]))
    order = np.argsort(rdms["means"][first_attr].to_numpy())
    last_layer = list(rdms["layers"])[-1]
    ordered = f"; stimuli ordered by their mean {first_attr} rating."
    layer_rdm, rating_rdm = rdms["layers"][last_layer], rdms["ratings"][first_attr]
    for what, name, rdm, title in (
        ("layer", last_layer, layer_rdm, _titled("RDM of layer {}", last_layer)),
        ("rating", first_attr, rating_rdm, _titled("RDM of mean {} ratings", title_case(first_attr))),
    ):
        figures += _figure(
            rdm_heatmap(rdm.dissimilarities, order=order, title=name), figures_dir,
            f"{figure_prefix}rsa_rdm_{what}_{name}", title,
            Text(f"Dissimilarity: {rdm.metric}" + (" distance between the stimuli's activation patterns"
                                                   if what == "layer" else " of the mean ratings") + ordered),
        )
    tables = [result_table(table)]
    described = [(table, 0)]
    data = {"rsa": table}
    if partial is not None:
        tables.append(result_table(partial, title="Partial RSA controlling for " + ", ".join(rdms["covariates"])))
        described.append((partial, len(tables) - 1))
        data["rsa_partial"] = partial
    if comparison is not None:
        tables.append(result_table(comparison, title=f"Paired bootstrap comparison of {compare_layers[0]} and "
                                                     f"{compare_layers[1]}"))
        described.append((comparison, len(tables) - 1))
        data["rsa_compare_layers"] = comparison
    title = ("Representational Similarity Across Layers" if profile
             else f"Representational Similarity of {table['layer'].iloc[0]}")
    return Section("rsa", title, tables, described, figures, data)


BUILDERS = {
    "reliability": reliability_section,
    "predict": predict_section,
    "correlate": correlate_section,
    "compare": compare_section,
    "rsa": rsa_section,
}


_OUTPUT_ARGUMENTS = frozenset({"config", "figures_dir", "figure_prefix", "progress"})


def build_section(kind: str, config: StudyConfig, *, figures_dir=None, figure_prefix: str = "", progress=None,
                  **options) -> Section:
    """Run the analysis ``kind`` with ``options`` and return its section. Figures go to ``figures_dir``
    (none without it), their file names prefixed with ``figure_prefix``; ``progress(done, total)`` is
    passed to the analyses that report their progress (predict: layers fitted)."""
    if kind not in BUILDERS:
        raise PsychofaceError(f"unknown analysis {kind!r}; use one of {', '.join(BUILDERS)}")
    import inspect

    parameters = set(inspect.signature(BUILDERS[kind]).parameters)
    allowed = parameters - _OUTPUT_ARGUMENTS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PsychofaceError(
            f"analysis {kind!r}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}"
        )
    if "progress" in parameters:
        options["progress"] = progress
    return BUILDERS[kind](config, figures_dir=figures_dir, figure_prefix=figure_prefix, **options)


# -- output ----------------------------------------------------------------------------------------
def save_section(section: Section, folder: Path, *, config: StudyConfig | None = None) -> list[Path]:
    """Write every table as CSV (full precision) + Markdown + LaTeX + HTML + Word, each result's raw
    data as CSV, and a JSON provenance file (parameters, seed, versions) beside them."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, table in enumerate(section.tables):
        stem = folder / (section.kind if i == 0 else f"{section.kind}_{i + 1}")
        for suffix, text in ((".md", table.to_markdown()), (".tex", table.to_latex()), (".html", table.to_html())):
            path = stem.with_suffix(suffix)
            atomic_write_text(path, text)
            written.append(path)
        written.append(table.to_docx(stem.with_suffix(".docx")))
    for name, frame in section.data.items():
        path = folder / f"{slug(name)}.csv"
        atomic_write_text(path, frame.to_csv(index=False, lineterminator="\n"))
        written.append(path)
    provenance = {
        "analysis": section.kind,
        "parameters": {name: frame.attrs.get("psychoface", {}) for name, frame in section.data.items()},
        "study": config.to_dict() if config else None,
        "versions": versions(),
    }
    path = folder / f"{section.kind}.json"
    atomic_write_json(path, json.loads(json.dumps(provenance, default=_jsonable)))
    written.append(path)
    written += [f.png for f in section.figures] + [f.pdf for f in section.figures]
    return written


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
