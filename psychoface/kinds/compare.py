"""The compare kind: two layers' (or models') predictions of one attribute compared on the same
stimuli: Williams' t and Steiger's z for dependent correlations, a paired bootstrap of the difference;
its sentences and methods text (the words of paired differences: :mod:`psychoface.kinds.differences`)."""

from __future__ import annotations

from typing import Mapping

from psychoface.config import StudyConfig
from psychoface.errors import PsychofaceError
from psychoface.kinds import options as common, predict
from psychoface.kinds.differences import differences_summary, paired_difference_sentence
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports.apa import Text, fmt_number, fmt_p, fmt_stat, italic
from psychoface.reports.columns import register_columns, subscripted
from psychoface.reports.section import Section, result_table
from psychoface.reports.text import cell, first_cell, p_and_note, ratings_phrase, with_note

register_columns({
    **{name: ("bounded", subscripted("r", sub)) for name, sub in (("r_a", "A"), ("r_b", "B"), ("r_ab", "AB"),
                                                                   ("r1", "1"), ("r12", "12"))},
    "p_steiger": ("p", subscripted("p", "Steiger")), "p_bootstrap": ("p", subscripted("p", "boot")),
    "a": ("text", "A"), "b": ("text", "B"),
})


def study(config: StudyConfig, layer_a: str, layer_b: str, attribute: str, *, store_b: str | None = None,
          folds: int = 10, repeats: int = 1):
    """Is layer (or model) A's cross-validated prediction of ``attribute`` better than B's, on the same
    stimuli? Williams' t, Steiger's Z and a paired bootstrap of the difference in out-of-fold r."""
    from psychoface.analyses.compare import compare_correlations

    config_b = config.with_overrides(store=store_b) if store_b else config
    preds = []
    for cfg, layer in ((config, layer_a), (config_b, layer_b)):
        _, predictions = predict.study(cfg, [layer], [attribute], folds=folds, repeats=repeats, n_permutations=0)
        preds.append(predict.mean_predictions(predictions[layer], attribute))
    a, b = preds
    common = a.index.intersection(b.index)
    exclusions = []
    if len(common) < len(a.index) or len(common) < len(b.index):
        if store_b is None:
            raise PsychofaceError("layers of one store cover different stimuli; re-extract both layers")
        exclusions.append(f"{len(a.index.union(b.index)) - len(common):,} stimuli predicted from only one of the "
                          f"two stores were excluded; {len(common):,} stimuli are compared")
    label_a = layer_a if store_b is None else f"{layer_a} ({config.store})"
    label_b = layer_b if store_b is None else f"{layer_b} ({store_b})"
    df = compare_correlations(
        a.loc[common, "observed"].to_numpy(), a.loc[common, "predicted"].to_numpy(),
        b.loc[common, "predicted"].to_numpy(), n_bootstrap=config.n_bootstrap, ci_level=config.ci_level,
        seed=config.seed, labels=(label_a, label_b),
    )
    df.insert(0, "attribute", attribute)
    df.attrs["psychoface"].update(folds=folds, repeats=repeats, prediction="cross-validated ridge (out-of-fold)",
                                  exclusions=exclusions)
    return df


def build(config, *, layer_a: str, layer_b: str, attribute: str, store_b: str | None = None, folds: int = 10,
          figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Dependent-correlation tests and paired bootstrap of two layers' (or models') predictions."""
    table = study(config, layer_a, layer_b, attribute, store_b=store_b, folds=folds)
    shown = table.drop(columns=[c for c in ("a", "b", "r_ab") if c in table.columns])
    shown.attrs = table.attrs
    title = f"Comparison of {table['a'].iloc[0]} (A) and {table['b'].iloc[0]} (B)"
    names = (layer_a, layer_b, str(table["a"].iloc[0]), str(table["b"].iloc[0]))
    return Section("compare", f"{layer_a} Versus {layer_b} for {attribute}",
                   [result_table(shown, title=title, identifiers=names)],
                   [(table, 0)], [], {"compare": table})


# -- words ---------------------------------------------------------------------------------------
def dependent_correlation_sentence(row: Mapping, attrs: Mapping | None = None, *,
                                   n_tests: int | None = None) -> Text:
    """"The correlation with mean trustworthy ratings was higher for conv5 (r = .45) than for conv4
    (r = .38), Williams's t(497) = 2.31, p = .021." (Steiger's z when the row has ``z`` and no ``t``.)"""
    attrs = attrs or {}
    if cell(row, "r12") is not None:  # williams_test / steiger_z: r1 and r2 share variable j
        r_a, r_b = cell(row, "r1"), cell(row, "r2")
    else:
        r_a, r_b = cell(row, "r_a"), cell(row, "r_b")
    a = cell(row, "a") or "the first predictor"
    b = cell(row, "b") or "the second predictor"
    ra_txt, rb_txt = fmt_number(r_a, 2, False).plain, fmt_number(r_b, 2, False).plain
    relation = ("the same" if ra_txt == rb_txt
                else "higher" if (r_a is not None and r_b is not None and r_a > r_b) else "lower")
    if cell(row, "t") is not None:
        test = Text("Williams's ", fmt_stat("t", row["t"], df=cell(row, "df")))
    elif cell(row, "z") is not None:
        test = Text("Steiger's ", fmt_stat("z", row["z"]))
    else:
        raise PsychofaceError(
            "dependent-correlation result has neither t (Williams) nor z (Steiger); "
            "pass a row of a compare() result table"
        )
    p, note = p_and_note(row, attrs, n_tests)
    parts = [f"The correlation with {ratings_phrase(row)} was {relation} for {a} (", fmt_stat("r", r_a),
             f") {'as' if relation == 'the same' else 'than'} for {b} (", fmt_stat("r", r_b), "), ",
             test]
    if p is not None:
        parts += [", ", fmt_p(p)]
    return with_note(*parts, note=note)


def _sentence(row, attrs, n_tests):
    out = []
    if cell(row, "t") is not None or cell(row, "z") is not None:
        out.append(dependent_correlation_sentence(row, attrs, n_tests=n_tests))
    if first_cell(row, "difference", "diff")[0] is not None:
        out.append(paired_difference_sentence(row, attrs, n_tests=n_tests))
    return out


def methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """Williams' t and/or Steiger's z for dependent correlations, the paired bootstrap."""
    tests = " ".join(str(attrs.get(k) or "") for k in ("test", "p_method", "p_steiger_method",
                                                        "analysis")).lower()
    out = []
    if "williams" in tests:
        out.append(Text("Correlations of two layers or models with the same ratings were compared "
                        f"with {cites.narrative('williams1959', possessive=True)} ", italic("t"),
                        f" test for dependent correlations {cites.paren('steiger1980')}"
                        + (" and Steiger's " if "steiger" in tests else ""),
                        italic("z") if "steiger" in tests else "", " test." if "steiger" in tests
                        else "."))
    elif "steiger" in tests:
        out.append(Text("Correlations of two layers or models with the same ratings were compared "
                        f"with {cites.narrative('steiger1980', possessive=True)} ", italic("z"),
                        " test for dependent correlations."))
    if "bootstrap" in tests or attrs.get("n_bootstrap"):
        out.append(Text("Differences between the two correlations were estimated with a paired "
                        "bootstrap over stimuli."))
    return out


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
                 methods,
                 title="Comparison of two layers or models"),),
    citations=("williams1959", "steiger1980"),
    demo={"layer_a": "pool3", "layer_b": "fc7", "attribute": "happy"},
))
