"""The compare kind: two layers' (or models') predictions of one attribute compared on the same
stimuli: Williams' t and Steiger's z for dependent correlations, a paired bootstrap of the difference."""

from __future__ import annotations

from psychoface import workflows
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.section import Section, result_table


def build(config, *, layer_a: str, layer_b: str, attribute: str, store_b: str | None = None, folds: int = 10,
          figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Dependent-correlation tests and paired bootstrap of two layers' (or models') predictions."""
    table = workflows.compare(config, layer_a, layer_b, attribute, store_b=store_b, folds=folds)
    shown = table.drop(columns=[c for c in ("a", "b", "r_ab") if c in table.columns])
    shown.attrs = table.attrs
    title = f"Comparison of {table['a'].iloc[0]} (A) and {table['b'].iloc[0]} (B)"
    names = (layer_a, layer_b, str(table["a"].iloc[0]), str(table["b"].iloc[0]))
    return Section("compare", f"{layer_a} Versus {layer_b} for {attribute}",
                   [result_table(shown, title=title, identifiers=names)],
                   [(table, 0)], [], {"compare": table})


def _sentence(row, attrs, n_tests):
    out = []
    if text._get(row, "t") is not None or text._get(row, "z") is not None:
        out.append(text.dependent_correlation_sentence(row, attrs, n_tests=n_tests))
    if text._first(row, "difference", "diff")[0] is not None:
        out.append(text.paired_difference_sentence(row, attrs, n_tests=n_tests))
    return out


def differences_summary(df, attrs, where):
    """The summary of a long table of paired differences (one per attribute); the sentences of each row
    otherwise."""
    if ({"difference", "diff"} & set(df.columns)) and "attribute" in df.columns and not ({"t", "z"} & set(df.columns)):
        return text._summary_difference(df, attrs, where)
    return text.sentences(df)


KIND = register(AnalysisKind(
    name="compare",
    help=("Compare two layers or models for one attribute (paired, same stimuli).\n\n"
          "Williams' t and Steiger's Z for dependent correlations, and a paired bootstrap CI of the difference "
          "in out-of-fold r."),
    build=build,
    options=(
        Option("layer_a", None, "First layer.", required=True, argument=True),
        Option("layer_b", None, "Second layer (of --store-b when comparing models).", required=True, argument=True),
        Option("attribute", None, "The attribute both layers predict.", ("--attribute", "-a"), required=True),
        Option("store_b", None, "Feature store of a second model.", ("--store-b",)),
        Option("folds", 10, "Cross-validation folds.", type=int),
        common.BOOTSTRAP, common.SEED, common.STORE,
    ),
    words=(Words(("compare", "comparison", "compare_correlations", "williams_test", "steiger_z"), _sentence,
                 differences_summary,
                 lambda attrs, cites, written: text._describe(attrs, "compare", cites, cites.paragraph, written),
                 title="Comparison of two layers or models"),),
    citations=("williams1959", "steiger1980"),
    demo={"layer_a": "pool3", "layer_b": "fc7", "attribute": "happy"},
))
