"""The reliability kind: split-half reliability (Spearman-Brown) of each attribute's mean ratings, the
noise ceiling, and ICCs when the ratings carry rater ids."""

from __future__ import annotations

from psychoface import workflows
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.section import Section, result_table
from psychoface.reports.tables import ApaTable


def build(config, *, attributes=None, n_splits: int = 100, figures_dir=None, figure_prefix: str = "",
          progress=None) -> Section:
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


KIND = register(AnalysisKind(
    name="reliability",
    help=("Reliability of the ratings: split-half, ICC and noise ceilings.\n\n"
          "Split-half reliability of each attribute's mean rating (the split-half correlation averaged over "
          "random splits, then Spearman-Brown corrected; bootstrap CI over stimuli), its noise ceiling, and "
          "ICCs when the ratings carry rater ids. Needs trial-level ratings."),
    build=build,
    options=(
        common.ATTRIBUTES,
        Option("n_splits", 100, "Random split-halves averaged per attribute.", ("--splits",), int),
        common.BOOTSTRAP, common.SEED, common.RATINGS,
    ),
    words=(
        Words(("reliability", "split_half_reliability"),
              lambda row, attrs, n_tests: [text.reliability_sentence(row, attrs)],
              lambda df, attrs, where: text._summary_reliability(df, attrs, where),
              lambda attrs, cites, written: text._describe(attrs, "reliability", cites, cites.paragraph, written),
              title="Split-half reliability of the mean ratings"),
        Words(("icc",), lambda row, attrs, n_tests: [text.icc_sentence(row, attrs)], None,
              lambda attrs, cites, written: text._describe(attrs, "icc", cites, cites.paragraph, written),
              title="Intraclass correlations of the ratings"),
    ),
    citations=("brown1910", "spearman1910", "spearman1904", "shrout1979", "mcgraw1996"),
    demo={},
))
