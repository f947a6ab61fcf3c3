"""The correlate kind: every unit of a layer correlated with every attribute, with family-wise control
over units (max-statistic permutation) or FDR; its sentences, summary and methods text."""

from __future__ import annotations

from typing import Mapping

from psychoface import workflows
from psychoface.config import StudyConfig
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import MINUS, Text, fmt_int, fmt_number, fmt_stat, italic
from psychoface.reports.columns import register_columns, subscripted
from psychoface.reports.section import Section, result_table
from psychoface.reports.text import (ci_of, cell, correction_phrase, extremes, first_cell, level_of, p_and_note,
                                     parenthetical, r_df, ratings_phrase, stat_clause, with_note)

register_columns({
    "n_units": ("integer", "Units"), "n_significant": ("integer", "Significant"),
    "proportion": ("bounded", "Proportion"), "max_abs_r": ("bounded", Text("Max |", italic("r"), "|")),
    "r_crit": ("bounded", subscripted("r", "crit")), "top_units": ("text", "Top units"),
    "n_constant": {"hidden": True},
})


def study(config: StudyConfig, layer: str, attributes=None, *, correction: str = "maxt",
          n_permutations: int | None = None):
    """Unit-wise correlations of one layer with each attribute. Returns ``(summary, units)``."""
    from psychoface.analyses.correlate import correlate_units
    from psychoface.features.store import load_features

    store = workflows.open_store(config)
    X, ids = load_features(store, layer)
    Y = workflows.aligned_means(workflows.load_ratings_from_config(config), ids, attributes)
    summary, units = correlate_units(
        X, Y, n_permutations=n_permutations, correction=correction, seed=config.seed,
    )
    for frame in (summary, units):
        frame.insert(0, "layer", layer)
    return summary, units


def build(config, *, layer: str, attributes=None, correction: str = "maxt", n_permutations: int | None = None,
          figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Unit-wise correlations with family-wise control."""
    summary, units = study(config, layer, attributes, correction=correction,
                                         n_permutations=n_permutations)
    return Section("correlate", f"Units of {layer} That Correlate With the Ratings", [result_table(summary)],
                   [(summary, 0)], [], {"correlate": summary, "units": units})


# -- words ---------------------------------------------------------------------------------------
def correlation_sentence(row: Mapping, attrs: Mapping | None = None, *, x: str | None = None,
                         y: str | None = None, n_tests: int | None = None) -> Text:
    """"The correlation between mean trustworthy ratings and unit 12 of fc7 was positive, r(498) = .34,
    95% CI [.28, .40], p < .001 (Holm-corrected across 34 attributes)." (``rho`` when the row has no
    ``r``; df = n - 2; no CI when the row has none.)"""
    attrs = attrs or {}
    name, estimate = first_cell(row, "r", "rho")
    name = name or "r"
    x = x or ratings_phrase(row)
    if y is None:
        unit, layer = cell(row, "unit"), cell(row, "layer")
        y = (f"unit {unit} of {layer}" if unit is not None and layer is not None
             else f"unit {unit}" if unit is not None else str(layer) if layer is not None
             else "the predictor")
    rounded = fmt_number(estimate, 2).plain
    direction = ("near zero" if rounded in ("0.00", "\u2014")
                 else "negative" if rounded.startswith(MINUS) else "positive")
    p, note = p_and_note(row, attrs, n_tests)
    clause = stat_clause(name, estimate, df=r_df(row) if name == "r" else None, ci=ci_of(row),
                         ci_level=level_of(attrs), p=p)
    return with_note(f"The correlation between {x} and {y} was {direction}, ", clause, note=note)


def unit_summary_sentence(row: Mapping, attrs: Mapping | None = None) -> Text:
    """"Of 4,096 units of fc7, 312 (7.6%) correlated with mean trustworthy ratings at α = .05
    (corrected by max-T (family-wise) across all non-constant units of the layer, per attribute); the
    largest |r| was .41.\""""
    attrs = attrs or {}
    layer = cell(row, "layer")
    n_units, n_sig = cell(row, "n_units"), cell(row, "n_significant")
    share = cell(row, "proportion")
    alpha = attrs.get("alpha")
    parts = [Text("Of ", fmt_int(n_units), f" units{f' of {layer}' if layer is not None else ''}, ",
                  fmt_int(n_sig))]
    if share is not None:
        parts.append(Text(" (", fmt_number(100 * share, 1), "%)"))
    parts.append(f" correlated with {ratings_phrase(row)}")
    if alpha is not None:
        parts += [" at ", fmt_stat("alpha", alpha)]
    parts.append(parenthetical(correction_phrase(attrs)))
    top = cell(row, "max_abs_r")
    if top is not None:
        parts += ["; the largest |", italic("r"), "| was ", fmt_number(top, 2, leading_zero=False)]
    return Text(*parts, ".")


def units_summary(df, attrs, where: str) -> list[Text]:
    """The attributes with the largest and smallest share of significant units, and the median share."""
    high, low = extremes(df, "proportion")
    layer = cell(df.iloc[0], "layer")
    alpha = attrs.get("alpha")

    def clause(row):
        return Text(f"{cell(row, 'attribute')}, ", fmt_int(cell(row, "n_significant")), " of ",
                    fmt_int(cell(row, "n_units")), " units (", fmt_number(100 * cell(row, "proportion"), 1), "%)")

    head = Text(f"Across the {len(df):,} attributes, the share of units{f' of {layer}' if layer else ''} that "
                "correlated with the mean ratings", Text(" at ", fmt_stat("alpha", alpha)) if alpha else "",
                parenthetical(correction_phrase(attrs)))
    return [Text(head, " was largest for ", clause(high), ", and smallest for ", clause(low), "."),
            Text("The median share was ", fmt_number(100 * df["proportion"].median(), 1), "%",
                 f" ({where})." if where.startswith("Table") else f"; see {where}.")]


def _sentence(row, attrs, n_tests):
    if cell(row, "n_units") is not None:
        return [unit_summary_sentence(row, attrs)]
    return [correlation_sentence(row, attrs, n_tests=n_tests)]


def _summary(df, attrs, where):
    return units_summary(df, attrs, where) if "n_units" in df.columns else text.sentences(df)


def methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """Unit-wise Pearson correlations and, for max-T, the family-wise control over units."""
    max_stat = "max" in str(attrs.get("p_method") or "").lower()
    return [Text("Each unit's activation was correlated (Pearson's ", italic("r"), ") with each "
                 "attribute's mean ratings" + ("; the maximum statistic over units in each "
                                               "permutation controlled the family-wise error rate"
                                               if max_stat else "") + ".")]


KIND = register(AnalysisKind(
    name="correlate",
    help=("Correlate every unit of a layer with every attribute.\n\n"
          "How many units, which ones and how strongly, with family-wise control over units by the "
          "max-statistic permutation test (or FDR)."),
    build=build,
    options=(
        Option("layer", None, "Layer whose units are correlated.", ("--layer", "-l"), required=True),
        common.ATTRIBUTES,
        Option("correction", "maxt", "maxt (max-statistic permutation), holm, fdr_bh or bonferroni."),
        Option("n_permutations", None, "Permutations for maxt [10,000; 1,000 above 10,000 units].",
               ("--permutations",), int),
        common.SEED, common.STORE,
    ),
    words=(Words(("correlate", "correlation"), _sentence, _summary,
                 methods,
                 title="Units that correlate with the mean ratings"),),
    citations=("westfall1993",),
    demo={"layer": "fc7"},
))
