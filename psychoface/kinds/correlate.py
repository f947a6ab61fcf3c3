"""The correlate kind: every unit of a layer correlated with every attribute, with family-wise control
over units (max-statistic permutation) or FDR."""

from __future__ import annotations

from psychoface import workflows
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.section import Section, result_table


def build(config, *, layer: str, attributes=None, correction: str = "maxt", n_permutations: int | None = None,
          figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Unit-wise correlations with family-wise control."""
    summary, units = workflows.correlate(config, layer, attributes, correction=correction,
                                         n_permutations=n_permutations)
    return Section("correlate", f"Units of {layer} That Correlate With the Ratings", [result_table(summary)],
                   [(summary, 0)], [], {"correlate": summary, "units": units})


def _sentence(row, attrs, n_tests):
    if text._get(row, "n_units") is not None:
        return [text.unit_summary_sentence(row, attrs)]
    return [text.correlation_sentence(row, attrs, n_tests=n_tests)]


def _summary(df, attrs, where):
    return text._summary_units(df, attrs, where) if "n_units" in df.columns else text.sentences(df)


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
                 lambda attrs, cites, written: text._describe(attrs, "correlate", cites, cites.paragraph, written),
                 title="Units that correlate with the mean ratings"),),
    citations=("westfall1993",),
    demo={"layer": "fc7"},
))
