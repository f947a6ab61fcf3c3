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
from psychoface.reports.apa import Text
from psychoface.reports.tables import ApaTable, apa_table_for
from psychoface.reports.text import sentences


@dataclass
class Figure:
    png: Path
    pdf: Path
    caption: str


@dataclass
class Section:
    """One analysis: its result tables (first = main), sentences, figures and raw data to save."""

    kind: str
    title: str
    tables: list[ApaTable]
    sentences: list[Text] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def results(self) -> pd.DataFrame:
        return self.tables[0].data

    @property
    def params(self) -> dict:
        return dict(self.results.attrs.get("psychoface", {}))


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def best_rows(table: pd.DataFrame, estimate: str) -> pd.DataFrame:
    """The layer with the highest estimate for each attribute (what a paper's text reports of a profile),
    keeping the table's attrs and the size of its correction family."""
    if "layer" not in table.columns or table["layer"].nunique() < 2:
        return table
    best = table.loc[table.groupby("attribute", sort=False)[estimate].idxmax()].reset_index(drop=True)
    meta = dict(table.attrs.get("psychoface", {}))
    if "p_corr" in table.columns:
        meta.setdefault("family_size", int(table["p_corr"].notna().sum()))
    best.attrs = {**table.attrs, "psychoface": meta}
    return best


def _figure(fig, folder: Path | None, stem: str, caption: str) -> list[Figure]:
    import matplotlib.pyplot as plt

    from psychoface.reports.figures import save_figure

    try:
        if folder is None:
            return []
        png, pdf = save_figure(fig, Path(folder) / stem)
        return [Figure(png, pdf, caption)]
    finally:
        plt.close(fig)


# -- sections, one per analysis ------------------------------------------------------------------
def reliability_section(config: StudyConfig, *, attributes=None, n_splits: int = 100, figures_dir=None) -> Section:
    """Split-half reliability (Spearman-Brown) of each attribute, ICC when rater ids exist."""
    table, iccs = workflows.reliability(config, attributes, n_splits=n_splits)
    tables = [apa_table_for(table)]
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
    return Section("reliability", "Reliability of the ratings", tables, sentences(table), [], data)


def predict_section(config: StudyConfig, *, layers=("all",), attributes=None, folds: int = 10, repeats: int = 1,
                    n_permutations: int = 1000, figures_dir=None) -> Section:
    """Cross-validated ridge prediction of each attribute from each layer."""
    from psychoface.reports.figures import layer_profile, scatter_predicted

    table, predictions = workflows.predict(
        config, layers, attributes, folds=folds, repeats=repeats, n_permutations=n_permutations
    )
    figures = []
    if table["layer"].nunique() > 1:
        figures += _figure(
            layer_profile(table, x="layer", y="r", hue="attribute"), figures_dir, "predict_profile",
            "Cross-validated prediction accuracy (Pearson r of out-of-fold predictions) across layers, with "
            f"{round(100 * config.ci_level)}% bootstrap CIs; dashed lines: noise ceilings.",
        )
    best = table.loc[table.groupby("attribute", sort=False)["r"].idxmax()]
    for row in best.head(6).itertuples():
        pred = predictions[row.layer]
        pred = pred[pred["attribute"] == row.attribute].groupby("stimulus")[["observed", "predicted"]].mean()
        figures += _figure(
            scatter_predicted(pred["observed"], pred["predicted"], title=f"{row.attribute} ({row.layer})"),
            figures_dir, f"predict_scatter_{slug(row.attribute)}",
            f"Out-of-fold predicted against observed mean ratings of {row.attribute} from layer {row.layer}.",
        )
    data = {"predict": table, "predictions": pd.concat(
        [p.assign(layer=name) for name, p in predictions.items()], ignore_index=True)}
    return Section("predict", "Predicting ratings from layers", [apa_table_for(table)],
                   sentences(best_rows(table, "r")), figures, data)


def correlate_section(config: StudyConfig, *, layer: str, attributes=None, correction: str = "maxt",
                      n_permutations: int | None = None, figures_dir=None) -> Section:
    """Unit-wise correlations with family-wise control."""
    summary, units = workflows.correlate(config, layer, attributes, correction=correction,
                                         n_permutations=n_permutations)
    return Section("correlate", f"Units of {layer} that correlate with the ratings", [apa_table_for(summary)],
                   sentences(summary), [], {"correlate": summary, "units": units})


def compare_section(config: StudyConfig, *, layer_a: str, layer_b: str, attribute: str, store_b: str | None = None,
                    folds: int = 10, figures_dir=None) -> Section:
    """Dependent-correlation tests and paired bootstrap of two layers' (or models') predictions."""
    table = workflows.compare(config, layer_a, layer_b, attribute, store_b=store_b, folds=folds)
    shown = table.drop(columns=[c for c in ("a", "b", "r_ab") if c in table.columns])
    shown.attrs = table.attrs
    title = f"Comparison of {table['a'].iloc[0]} (A) and {table['b'].iloc[0]} (B)"
    return Section("compare", f"{layer_a} versus {layer_b} for {attribute}", [apa_table_for(shown, title=title)],
                   sentences(table), [], {"compare": table})


def rsa_section(config: StudyConfig, *, layers=("all",), attributes=None, metric: str = "correlation",
                method: str = "spearman", combined: bool = False, covariates=(), compare_layers=None,
                figures_dir=None) -> Section:
    """RSA of layers against rating RDMs; profile figure and RDM heatmaps."""
    from psychoface.reports.figures import layer_profile, rdm_heatmap

    table, partial, comparison, rdms = workflows.rsa(
        config, layers, attributes, metric=metric, method=method, combined=combined,
        covariates=tuple(covariates), compare_layers=compare_layers,
    )
    estimate = next(c for c in ("rho", "r", "tau") if c in table.columns)
    figures = []
    if table["layer"].nunique() > 1:
        figures += _figure(
            layer_profile(table, x="layer", y=estimate, hue="attribute"), figures_dir, "rsa_profile",
            f"RSA profile: correlation ({method}) of each layer's RDM with each rating RDM, with "
            f"{round(100 * config.ci_level)}% bootstrap CIs; dashed lines: noise ceilings.",
        )
    first_attr = next(iter(rdms["ratings"]))
    order = np.argsort(rdms["means"][first_attr].to_numpy())
    last_layer = list(rdms["layers"])[-1]
    for name, rdm, what in ((last_layer, rdms["layers"][last_layer], f"layer {last_layer} ({metric} distance)"),
                            (first_attr, rdms["ratings"][first_attr], f"{first_attr} ratings (absolute difference)")):
        figures += _figure(
            rdm_heatmap(rdm.dissimilarities, order=order, title=name), figures_dir, f"rdm_{slug(name)}",
            f"RDM of {what}; stimuli ordered by their mean {first_attr} rating.",
        )
    tables = [apa_table_for(table)]
    data = {"rsa": table}
    out_sentences = sentences(best_rows(table, estimate))
    if partial is not None:
        tables.append(apa_table_for(partial, title="Partial RSA controlling for " + ", ".join(rdms["covariates"])))
        data["rsa_partial"] = partial
        out_sentences += sentences(partial)
    if comparison is not None:
        tables.append(apa_table_for(comparison, title=f"Paired bootstrap comparison of {compare_layers[0]} and "
                                                      f"{compare_layers[1]}"))
        data["rsa_compare_layers"] = comparison
    return Section("rsa", "Representational similarity analysis", tables, out_sentences, figures, data)


BUILDERS = {
    "reliability": reliability_section,
    "predict": predict_section,
    "correlate": correlate_section,
    "compare": compare_section,
    "rsa": rsa_section,
}


def build_section(kind: str, config: StudyConfig, **options) -> Section:
    """Run the analysis ``kind`` with ``options`` and return its section."""
    if kind not in BUILDERS:
        raise PsychofaceError(f"unknown analysis {kind!r}; use one of {', '.join(BUILDERS)}")
    import inspect

    allowed = set(inspect.signature(BUILDERS[kind]).parameters) - {"config"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise PsychofaceError(
            f"analysis {kind!r}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(allowed))}"
        )
    return BUILDERS[kind](config, **options)


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
