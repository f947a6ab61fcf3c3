"""Words of paired differences between two correlations (two layers' or models' correlations with the
same ratings, two layers' RDM correlations): shared by the compare and rsa kinds; registers nothing."""

from __future__ import annotations

from typing import Mapping

from psychoface.reports import text
from psychoface.reports.apa import Text, fmt_number
from psychoface.reports.text import (STATISTICS, ci_of, cell, closing, delta, extremes, family_size, first_cell,
                                     level_of, p_and_note, ratings_phrase, significance, stat_clause, two_clauses,
                                     with_note)


def paired_difference_sentence(row: Mapping, attrs: Mapping | None = None, *,
                               n_tests: int | None = None) -> Text:
    """"The difference between conv5 and conv4 in their correlation with mean trustworthy ratings was
    Δr = 0.07, 95% CI [0.02, 0.12], p = .004 (paired bootstrap over stimuli, 5,000 resamples)."
    Two layers' RDM correlations (``layer_a``, ``layer_b``, ``attrs["statistic"]``) read "in their RDM
    correlation with the trustworthy rating RDM was Δρ = ...". The p value is ``p_bootstrap`` when the
    row has one, else ``p``. (A difference can exceed 1 in absolute value: it keeps its leading zero.)"""
    attrs = attrs or {}
    rdm = cell(row, "layer_a") is not None
    a = cell(row, "a") or cell(row, "layer_a") or "the first predictor"
    b = cell(row, "b") or cell(row, "layer_b") or "the second predictor"
    stat = STATISTICS.get(str(attrs.get("statistic", "r")), "r") if rdm else "r"
    attribute = cell(row, "attribute")
    target = (f"RDM correlation with the {attribute} rating RDM" if rdm and attribute is not None
              else "RDM correlation with the rating RDM" if rdm
              else f"correlation with {ratings_phrase(row)}")
    _, difference = first_cell(row, "difference", "diff")
    p, note = p_and_note(row, attrs, n_tests, "p_bootstrap" if cell(row, "p_bootstrap") is not None
                          else "p")
    k = attrs.get("n_bootstrap")
    notes = [f"paired bootstrap over stimuli, {int(k):,} resamples" if k
             else "paired bootstrap over stimuli"] + ([note] if note else [])
    clause = stat_clause(delta(stat), difference, ci=ci_of(row), ci_level=level_of(attrs), p=p)
    return with_note(f"The difference between {a} and {b} in their {target} was ", clause,
                     note="; ".join(notes))


def _differences(df, attrs, where: str) -> list[Text]:
    column = "difference" if "difference" in df.columns else "diff"
    row0 = df.iloc[0]
    a = cell(row0, "a") or cell(row0, "layer_a") or "the first predictor"
    b = cell(row0, "b") or cell(row0, "layer_b") or "the second predictor"
    rdm = cell(row0, "layer_a") is not None
    stat = STATISTICS.get(str(attrs.get("statistic", "r")), "r") if rdm else "r"
    n_tests = family_size(attrs, df)
    high, low = extremes(df, column)
    clauses, notes = [], []
    k = attrs.get("n_bootstrap")
    for row in (high, low):
        p_key = "p_bootstrap" if cell(row, "p_bootstrap") is not None else "p"
        p, note = p_and_note(row, attrs, n_tests, p_key)
        clauses.append(Text(f"{cell(row, 'attribute')}, ",
                            stat_clause(delta(stat), cell(row, column), ci=ci_of(row), ci_level=level_of(attrs),
                                        p=p)))
        notes.append("; ".join([f"paired bootstrap over stimuli, {int(k):,} resamples" if k
                                else "paired bootstrap over stimuli"] + ([note] if note else [])))
    target = "RDM correlation with the rating RDM" if rdm else "correlation with the mean ratings"
    first = Text(f"Across the {len(df):,} attributes, the difference between {a} and {b} in their {target} "
                 "was largest for ", clauses[0])
    second = Text("smallest for ", clauses[1])
    median = Text("The median difference was ", fmt_number(df[column].median(), 2))
    return [Text(two_clauses(first, second, notes), "."),
            closing(median, significance(df, attrs, "differences", where), where)]


def differences_summary(df, attrs, where):
    """The summary of a long table of paired differences (one per attribute); the sentences of each row
    otherwise."""
    if ({"difference", "diff"} & set(df.columns)) and "attribute" in df.columns and not ({"t", "z"} & set(df.columns)):
        return _differences(df, attrs, where)
    return text.sentences(df)
