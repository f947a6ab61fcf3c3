"""Words of comparisons between groups of raters (``--by rater_sex``): the difference of two groups'
prediction accuracies (predict) and of their split-half reliabilities (reliability), each with a paired
bootstrap over stimuli; shared by the predict and reliability kinds, registers nothing but its columns."""

from __future__ import annotations

from typing import Mapping

from psychoface.reports import text
from psychoface.reports.apa import Symbol, Text, fmt_number, fmt_stat, greek, italic, sub
from psychoface.reports.columns import register_columns
from psychoface.reports.text import (ci_of, cell, closing, extremes, family_size, level_of, p_and_note, significance,
                                     stat_clause, two_clauses, with_note)

_R_SB = Text(italic("r"), sub("SB"))
DELTA_SB = Symbol(Text(greek("Δ"), _R_SB), bounded=False)

register_columns({
    "reliability_a": {"header": Text(_R_SB, " A"), "kind": "bounded",
                      "definition": Text(_R_SB, " A, ", _R_SB, " B = split-half (Spearman–Brown) reliability of "
                                         "the mean ratings of the raters of value A and of value B")},
    "reliability_b": {"header": Text(_R_SB, " B"), "kind": "bounded"},
    "reliability_difference": {"header": Text(greek("Δ"), _R_SB), "kind": "unbounded", "ci_owner": True,
                               "definition": Text(greek("Δ"), _R_SB, " = ", _R_SB, " A − ", _R_SB, " B")},
    **{name: {"hidden": True} for name in ("split_a", "split_b")},
})


def _groups(row: Mapping, attrs: Mapping) -> tuple[str, str, str]:
    """The two values compared and the rater-level column (empty without ``by``)."""
    return str(cell(row, "a")), str(cell(row, "b")), str((attrs.get("by") or [""])[0])


def _lead(by: str, sentence: str) -> str:
    """``sentence`` led by "With raters grouped by rater_sex, "."""
    return f"With raters grouped by {by}, {sentence[0].lower()}{sentence[1:]}" if by else sentence


def _notes(attrs: Mapping, note: str | None) -> str:
    k = attrs.get("n_bootstrap")
    return "; ".join([f"paired bootstrap over stimuli, {int(k):,} resamples" if k else "paired bootstrap over stimuli"]
                     + ([note] if note else []))


def _relation(x, y) -> str:
    if x is None or y is None or fmt_number(x, 2, False).plain == fmt_number(y, 2, False).plain:
        return "as"
    return "more" if x > y else "less"


# -- predict --by -------------------------------------------------------------------------------------
def accuracy_sentence(row: Mapping, attrs: Mapping | None = None, n_tests: int | None = None) -> list[Text]:
    """"Predictions from pool were as accurate for the mean trustworthy ratings of female raters (r = .45) as
    for those of male raters (r = .38) (rater_sex), Δr = 0.07, 95% CI [−0.02, 0.16], p = .12 (paired bootstrap
    over stimuli, 5,000 resamples; Holm-corrected across 8 comparisons of rater groups)."""
    attrs = attrs or {}
    a, b, by = _groups(row, attrs)
    r_a, r_b = cell(row, "r_a"), cell(row, "r_b")
    if cell(row, "difference") is None:
        return [Text(_lead(by, f"The prediction accuracies of {a} and {b} raters for {cell(row, 'attribute')} could "
                               f"not be compared ({cell(row, 'n') or 0} stimuli rated by both, or constant "
                               "predictions)."))]
    layer = cell(row, "layer")
    source = f" from {layer}" if layer is not None else ""
    p, note = p_and_note(row, attrs, n_tests)
    relation = _relation(r_a, r_b)
    clause = stat_clause(text.delta("r"), cell(row, "difference"), ci=ci_of(row), ci_level=level_of(attrs), p=p)
    return [with_note(_lead(by, f"Cross-validated predictions{source} correlated {relation} strongly with the mean "
                                f"{cell(row, 'attribute')} ratings of {a} raters ("), fmt_stat("r", r_a),
                      f") {'as' if relation == 'as' else 'than'} with those of {b} raters (", fmt_stat("r", r_b),
                      f") across {int(cell(row, 'n')):,} faces, ", clause, note=_notes(attrs, note))]


def accuracy_summary(df, attrs, where: str) -> list[Text]:
    """A long comparison table: the largest and smallest differences, the median and how many were significant."""
    return _summary(df, attrs, where, "difference", text.delta("r"), "prediction accuracy (r)")


def accuracy_methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """The paired bootstrap over stimuli of two rater groups' accuracies, and the correction."""
    by = (attrs.get("by") or ["a rater-level column"])[0]
    return [Text(f"The mean ratings of each value of {by} were predicted separately, and the accuracies of each "
                 "two values' raters were compared on the stimuli both rated by a paired bootstrap over stimuli "
                 f"{cites.paren('efron1993')}: each resample drew stimuli with replacement, the same for both "
                 "groups, and recomputed both correlations between out-of-fold predictions (held fixed) and mean "
                 "ratings, and the difference of the two correlations was taken.")]


# -- reliability --by ---------------------------------------------------------------------------------
def reliability_sentence(row: Mapping, attrs: Mapping | None = None, n_tests: int | None = None) -> list[Text]:
    """"The split-half reliability of mean trustworthy ratings was higher for female raters (r_SB = .68) than
    for male raters (r_SB = .54) (rater_sex) across 24 faces, Δr_SB = 0.14, 95% CI [−0.24, 0.57], p > .999
    (paired bootstrap over stimuli, 200 resamples; Holm-corrected across 4 comparisons of rater groups)."""
    attrs = attrs or {}
    a, b, by = _groups(row, attrs)
    attribute = cell(row, "attribute")
    if cell(row, "reliability_difference") is None:
        why = cell(row, "note")
        return [Text(_lead(by, f"The reliabilities of {a} and {b} raters for {attribute} could not be compared"),
                     f": {why}" if why else "", ".")]
    x, y = cell(row, "reliability_a"), cell(row, "reliability_b")
    relation = {"more": "higher", "less": "lower", "as": "the same"}[_relation(x, y)]
    p, note = p_and_note(row, attrs, n_tests)
    clause = stat_clause(DELTA_SB, cell(row, "reliability_difference"), ci=ci_of(row), ci_level=level_of(attrs),
                         p=p)
    return [with_note(_lead(by, f"The split-half reliability of mean {attribute} ratings was {relation} for {a} "
                                "raters ("),
                      fmt_stat("r_sb", x), f") {'as' if relation == 'the same' else 'than'} for {b} raters (",
                      fmt_stat("r_sb", y), f") across {int(cell(row, 'n')):,} faces, ", clause,
                      note=_notes(attrs, note))]


def reliability_summary(df, attrs, where: str) -> list[Text]:
    """A long comparison table: the largest and smallest differences, the median and how many were significant."""
    return _summary(df, attrs, where, "reliability_difference", DELTA_SB, "split-half reliability")


def reliability_methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """Which splits, the paired bootstrap over stimuli and the correction."""
    by = (attrs.get("by") or ["a rater-level column"])[0]
    splits = attrs.get("bootstrap_splits")
    return [Text(f"The split-half reliabilities of each two values of {by} were compared on the faces both groups "
                 "rated by a paired bootstrap over stimuli "
                 f"{cites.paren('efron1993')}: each group's splits into halves were held fixed, and each resample "
                 "drew faces with replacement, the same for both groups, recomputed each group's mean split-half "
                 f"correlation over the first {int(splits) if splits else 'few'} splits, stepped it up with the "
                 "Spearman–Brown formula (truncated at 0) and took the difference.")]


# -- shared -------------------------------------------------------------------------------------------
def _summary(df, attrs, where, column, symbol, what) -> list[Text]:
    rows = df[df[column].notna()]
    if rows.empty:
        return text.sentences(df)
    a, b, by = _groups(rows.iloc[0], attrs)
    n_tests = family_size(attrs, df)
    high, low = extremes(rows, column)
    clauses, notes = [], []
    for row in (high, low):
        p, note = p_and_note(row, attrs, n_tests)
        label = cell(row, "attribute") + (f" ({cell(row, 'layer')})" if cell(row, "layer") is not None else "")
        clauses.append(Text(f"{label}, ", stat_clause(symbol, cell(row, column), ci=ci_of(row),
                                                       ci_level=level_of(attrs), p=p)))
        notes.append(_notes(attrs, note))
    grouped = f" (raters grouped by {by})" if by else ""
    first = Text(f"Across the {len(rows):,} comparisons{grouped}, the difference in {what} between {a} and {b} "
                 "raters was largest for ", clauses[0])
    median = Text("The median difference was ", fmt_number(rows[column].median(), 2))
    return [Text(two_clauses(first, Text("smallest for ", clauses[1]), notes), "."),
            closing(median, significance(rows, attrs, "differences", where), where)]
