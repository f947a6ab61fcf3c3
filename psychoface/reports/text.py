"""Results in words: one APA 7 sentence per result, and a methods paragraph with its references.

Every number goes through :mod:`psychoface.reports.apa`, so a sentence renders to any format
(``sentence.render("markdown")``, :func:`~psychoface.reports.apa.add_runs` for Word).

**A result** is one row of an analysis DataFrame (a :class:`pandas.Series` or a dict) with psychoface's
column names: ``attribute``, ``layer``, ``unit``, ``n``, ``r``, ``rho``, ``tau``, ``partial_rho`` (...),
``ci_low``, ``ci_high``, ``p``, ``p_corr``, ``noise_ceiling``, ``r_normalized``, ``reliability``, ``note``;
ICC rows ``type``, ``icc``, ``F``, ``df1``, ``df2``, ``k``; comparisons of two layers or models ``a``, ``b``
(or ``layer_a``, ``layer_b``), ``r_a``, ``r_b`` (or ``rho_a``, ...; ``r1``, ``r2`` from
:func:`~psychoface.analyses.compare.williams_test`), ``t`` and ``df`` (Williams) and/or ``z`` (Steiger),
``difference`` with its ``ci_low``/``ci_high`` (paired bootstrap) and ``p_bootstrap``; unit summaries
``n_units``, ``n_significant``, ``proportion``, ``max_abs_r``.

**Analysis parameters** (``attrs``) are the analysis's ``df.attrs["psychoface"]``; every key is optional:

- ``analysis``: ``predict``, ``rsa``, ``partial_rsa``, ``compare_layers``, ``split_half_reliability``
  (or ``reliability``), ``icc``, ``correlate``, ``compare_correlations`` (or ``compare``),
  ``williams_test``, ``steiger_z``;
- ``ci_level`` (default .95), ``ci_method`` and ``p_method`` (short names such as ``"percentile
  bootstrap"``/``"permutation"`` or full descriptions; ``None``/``"none..."`` mean none),
  ``n_bootstrap``, ``n_permutations``;
- ``correction``: a key (``"holm"``, ``"fdr_bh"``, ``"bonferroni"``, ``"none"``) or its label
  (``"Holm"``, ...) or another method's name (``"max-T (family-wise)"``); ``family``: what the corrected
  family consists of, either with its size (``"34 attributes predicted from this layer"``) or as a
  plural noun (``"attributes"``, then counted from ``family_size`` or the DataFrame's ``p_corr``);
- ``seed``; for the methods paragraph also ``n_splits``, ``noise_ceiling`` (reliability), ``forms``
  (icc), ``folds``, ``repeats``, ``inner_folds`` (number or e.g. ``"leave-one-out"``), ``alphas``,
  ``alpha_scale``, ``standardize`` (predict), ``method``/``comparison`` (``spearman``, ``pearson``,
  ``tau-a``), ``metric``/``distance``, ``rating_metric``, ``covariates`` (rsa), ``statistic``,
  ``test`` (compare).

:func:`methods_paragraph` documents its own keys.

A whole result table in words is :func:`describe`: a sentence per row up to :data:`MAX_SENTENCES` rows,
a summary that refers to the table beyond. :func:`resolution_note` says when the number of permutations
bounds the (corrected) p values. :func:`references` lists every work cited in the methods paragraph and
in the texts passed to it (table notes, sentences), found by first author and year (:func:`citations`).
Parentheses inside parentheses become brackets (APA 7, 6.10; :func:`parenthetical`).
"""

from __future__ import annotations

import math
import re
from pathlib import PurePath
from typing import Mapping

from psychoface.analyses.inference import CORRECTIONS
from psychoface.errors import PsychofaceError
from psychoface.reports.references import Citations, citations, reference_list
from psychoface.reports.apa import (
    EN_DASH,
    MINUS,
    Segment,
    Symbol,
    Text,
    fmt_ci,
    fmt_int,
    fmt_level,
    fmt_number,
    fmt_p,
    fmt_stat,
    greek,
    italic,
    sup,
    symbol,
)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _get(row: Mapping, key: str):
    """``row[key]``, or None when the key is absent or the value missing (NaN, None, "")."""
    try:
        value = row[key]
    except (KeyError, IndexError):
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if math.isnan(value):
            return None
    except TypeError:
        pass
    return value


def _first(row: Mapping, *keys: str):
    """(key, value) of the first of ``keys`` with a value in ``row``, else (None, None)."""
    for key in keys:
        value = _get(row, key)
        if value is not None:
            return key, value
    return None, None


def _and(items) -> str:
    """``a``, ``a and b``, ``a, b, and c`` (APA's serial comma)."""
    items = [str(i) for i in items]
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def method_text(value) -> str | None:
    """A method description, or None when it says there is none."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.lower().startswith(("none", "not computed")):
        return None
    return text


def correction_of(attrs: Mapping) -> tuple[str | None, str | None]:
    """(key, label) of the correction: ``("holm", "Holm")``; ``(None, "max-T (family-wise)")`` for a
    method psychoface's corrections do not name; ``(None, None)`` for none."""
    value = attrs.get("correction")
    if value is None or str(value).strip().lower() in ("", "none"):
        return None, None
    value = str(value).strip()
    for key, (_, label) in CORRECTIONS.items():
        if value.lower() in (key, label.lower(), label.lower().replace("-", EN_DASH)):
            return key, label.replace("Benjamini-Hochberg", f"Benjamini{EN_DASH}Hochberg")
    return None, value


def _countable(family: str) -> bool:
    """A bare plural noun phrase ("attributes", "attribute-layer pairs") that a count can precede;
    not a family already counted or described ("34 attributes", "all units of the layer")."""
    words = family.split()
    return (bool(re.fullmatch(r"[A-Za-z][A-Za-z -]*s", family)) and len(words) <= 4
            and words[0].lower() not in ("all", "each", "every", "the", "any"))


def correction_phrase(attrs: Mapping, n_tests: int | None = None) -> str | None:
    """``"Holm-corrected across 34 attributes"`` from ``correction`` and ``family`` (a family named
    with its size is used as is; a plural noun is counted from ``family_size`` or ``n_tests``);
    None when there is no correction."""
    key, label = correction_of(attrs)
    if label is None:
        return None
    head = f"{label}-corrected" if key else f"corrected by {label}"
    family = attrs.get("family")
    family = str(family).replace(" x ", " × ") if family else None
    k = attrs.get("family_size") or n_tests
    if family and k and _countable(family):
        return f"{head} across {int(k):,} {family}"
    if family:
        return f"{head} across {family}"
    return f"{head} across {int(k):,} tests" if k else head


def _p_and_note(row: Mapping, attrs: Mapping, n_tests: int | None, p_key: str = "p"):
    """The p value to report (corrected when there is a correction) and the phrase naming it."""
    p_corr = _get(row, "p_corr")
    phrase = correction_phrase(attrs, n_tests)
    if p_corr is not None and phrase:
        return p_corr, phrase
    return _get(row, p_key), None


def stat_clause(name: "str | Symbol", estimate, *, df=None, ci=None, ci_level=0.95, p=None) -> Text:
    """``r(498) = .34, 95% CI [.28, .40], p < .001``: the statistic, its CI and p, each optional."""
    sym = symbol(name)
    parts = [fmt_stat(sym, estimate, df=df)]
    if ci is not None and not all(v is None for v in ci):
        parts.append(fmt_ci(ci[0], ci[1], level=ci_level, bounded=sym.bounded))
    if p is not None:
        parts.append(fmt_p(p))
    return Text(", ").join(parts)


def _ci(row: Mapping):
    low, high = _get(row, "ci_low"), _get(row, "ci_high")
    return None if low is None and high is None else (low, high)


def _level(attrs: Mapping) -> float:
    return attrs.get("ci_level") or 0.95


def _r_df(row: Mapping):
    n = _get(row, "n")
    return None if n is None else int(n) - 2


def _ratings(row: Mapping) -> str:
    attribute = _get(row, "attribute")
    return f"mean {attribute} ratings" if attribute is not None else "the mean ratings"


_BRACKETS = str.maketrans("()", "[]")


def bracketed(text: "str | Text") -> Text:
    """``text`` with its parentheses turned into brackets, for use inside parentheses (APA 7, 6.10:
    "(Holm-corrected across 170 tests [5 layers × 34 attributes])"); symbols keep their style."""
    return Text(*(Segment(seg.text.translate(_BRACKETS), seg.style) if seg.style == "plain" else seg
                  for seg in Text(text).segments))


def parenthetical(text: "str | Text | None") -> Text:
    """`` (text)`` with nested parentheses as brackets; empty for no text."""
    return Text(" (", bracketed(text), ")") if text else Text()


def _sentence(*parts, note: str | None = None) -> Text:
    return Text(*parts, parenthetical(note), ".")


def _delta(stat: str) -> Symbol:
    """Δr, Δρ, ...: a difference of two bounded statistics can exceed 1, so it keeps its zero."""
    return Symbol(Text(greek("Δ"), symbol(stat).text), bounded=False)


_STATISTICS = {"r": "r", "rho": "rho", "tau": "tau", "tau_a": "tau_a"}


def _rsa_statistic(attrs: Mapping, column: str) -> str:
    """Symbol name of an RDM comparison statistic (Kendall's tau-a written τ_A)."""
    comparison = str(attrs.get("comparison") or attrs.get("method") or "").lower()
    name = _STATISTICS.get(column, "r")
    return "tau_a" if name == "tau" and ("tau_a" in comparison or "tau-a" in comparison) else name


# --------------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------------
def correlation_sentence(row: Mapping, attrs: Mapping | None = None, *, x: str | None = None,
                         y: str | None = None, n_tests: int | None = None) -> Text:
    """"The correlation between mean trustworthy ratings and unit 12 of fc7 was positive, r(498) = .34,
    95% CI [.28, .40], p < .001 (Holm-corrected across 34 attributes)." (``rho`` when the row has no
    ``r``; df = n - 2; no CI when the row has none.)"""
    attrs = attrs or {}
    name, estimate = _first(row, "r", "rho")
    name = name or "r"
    x = x or _ratings(row)
    if y is None:
        unit, layer = _get(row, "unit"), _get(row, "layer")
        y = (f"unit {unit} of {layer}" if unit is not None and layer is not None
             else f"unit {unit}" if unit is not None else str(layer) if layer is not None
             else "the predictor")
    rounded = fmt_number(estimate, 2).plain
    direction = ("near zero" if rounded in ("0.00", "\u2014")
                 else "negative" if rounded.startswith(MINUS) else "positive")
    p, note = _p_and_note(row, attrs, n_tests)
    clause = stat_clause(name, estimate, df=_r_df(row) if name == "r" else None, ci=_ci(row),
                         ci_level=_level(attrs), p=p)
    return _sentence(f"The correlation between {x} and {y} was {direction}, ", clause, note=note)


def prediction_sentence(row: Mapping, attrs: Mapping | None = None, *,
                        n_tests: int | None = None) -> Text:
    """"Cross-validated ridge predictions from fc7 correlated with mean trustworthy ratings, r(498) = .34,
    95% CI [.28, .40], p < .001 (Holm-corrected across 34 attributes); the noise ceiling was .76, and
    the noise-normalized correlation was r_norm = 0.45.\""""
    attrs = attrs or {}
    layer, model = _get(row, "layer"), _get(row, "model")
    source = (f" from {layer} of {model}" if layer is not None and model is not None
              else f" from {layer}" if layer is not None else "")
    p, note = _p_and_note(row, attrs, n_tests)
    clause = stat_clause("r", _get(row, "r"), df=_r_df(row), ci=_ci(row), ci_level=_level(attrs), p=p)
    parts = [f"Cross-validated ridge predictions{source} correlated with {_ratings(row)}, ", clause,
             parenthetical(note)]
    ceiling = _get(row, "noise_ceiling")
    if ceiling is not None:
        parts += ["; the noise ceiling was ", fmt_number(ceiling, 2, leading_zero=False)]
        normalized = _get(row, "r_normalized")
        if normalized is not None:
            parts += [", and the noise-normalized correlation was ", fmt_stat("r_norm", normalized)]
    return Text(*parts, ".")


def rsa_sentence(row: Mapping, attrs: Mapping | None = None, *, n_tests: int | None = None) -> Text:
    """"The fc7 RDM correlated with the trustworthy rating RDM, ρ = .21, 95% CI [.15, .27], p = .003
    (Mantel test, 10,000 permutations; Holm-corrected across 34 attributes)." Partial RSA
    (``partial_rho``, ...) reads "... controlling for the pixel RDM, partial ρ = ..."."""
    attrs = attrs or {}
    column, estimate = _first(row, "rho", "tau", "r", "partial_rho", "partial_tau", "partial_r")
    if column is None:
        raise PsychofaceError(
            "RSA result has no rho, tau or r value; pass a row of an rsa() result table"
        )
    partial = column.startswith("partial_")
    name = _rsa_statistic(attrs, column.removeprefix("partial_"))
    layer, attribute = _get(row, "layer"), _get(row, "attribute")
    model_rdm = f"The {layer} RDM" if layer is not None else "The model RDM"
    rating_rdm = f"the {attribute} rating RDM" if attribute is not None else "the rating RDM"
    covariates = _get(row, "covariates")
    control = f" controlling for the {covariates} RDM" if partial and covariates else ""
    if partial and covariates and ("," in str(covariates) or " and " in str(covariates)):
        control += "s"
    p, note = _p_and_note(row, attrs, n_tests)
    notes = []
    p_method = str(attrs.get("p_method") or "").lower()
    if p is not None and ("mantel" in p_method or "permut" in p_method):
        k = attrs.get("n_permutations")
        notes.append(f"Mantel test, {int(k):,} permutations" if k else "Mantel test")
    if note:
        notes.append(note)
    clause = stat_clause(name, estimate, ci=_ci(row), ci_level=_level(attrs), p=p)
    return _sentence(f"{model_rdm} correlated with {rating_rdm}{control}, ",
                     "partial " if partial else "", clause, note="; ".join(notes) or None)


def _split_half_how(splits) -> str:
    """How a split-half reliability was estimated: the mean split-half r, then Spearman-Brown."""
    over = f" over {int(splits):,} random splits" if splits else ""
    return f"mean split-half correlation{over}, Spearman{EN_DASH}Brown corrected"


def reliability_sentence(row: Mapping, attrs: Mapping | None = None) -> Text:
    """"The split-half reliability of mean trustworthy ratings across 500 faces (mean split-half
    correlation over 1,000 random splits, Spearman–Brown corrected) was r_SB = .89, 95% CI [.86, .91];
    the noise ceiling was .95." When the reliability is undefined the row's ``note`` says why."""
    attrs = attrs or {}
    n = _get(row, "n")
    splits = _get(row, "n_splits") or attrs.get("n_splits")
    how = _split_half_how(splits)
    across = Text(" across ", fmt_int(n), " faces") if n is not None else Text()
    subject = Text(f"The split-half reliability of {_ratings(row)}", across)
    reliability = _get(row, "reliability")
    if reliability is None:
        why = _get(row, "note")
        return Text(subject, " could not be estimated", f": {why}" if why else "", ".")
    clause = stat_clause("r_sb", reliability, ci=_ci(row), ci_level=_level(attrs))
    parts = [subject, f" ({how}) was ", clause]
    ceiling = _get(row, "noise_ceiling")
    if ceiling is not None:
        parts += ["; the noise ceiling was ", fmt_number(ceiling, 2, leading_zero=False)]
    return Text(*parts, ".")


def icc_sentence(row: Mapping, attrs: Mapping | None = None) -> Text:
    """"For mean trustworthy ratings (n = 500 faces, k = 20 raters), ICC(A,1) = .45, 95% CI [.40, .50],
    F(499, 9481) = 17.20, p < .001." (McGraw & Wong's name of the form, ``type_mw``, when given.)"""
    attrs = attrs or {}
    form = _get(row, "type_mw") or _get(row, "type") or "ICC"
    context = []
    if _get(row, "n") is not None:
        context.append(Text(fmt_stat("n", row["n"]), " faces"))
    if _get(row, "k") is not None:
        context.append(Text(italic("k"), " = ", fmt_int(row["k"]), " raters"))
    head = Text(f"For {_ratings(row)}", Text(" (", Text(", ").join(context), ")") if context else "",
                ", ")
    sym = Symbol(Text(str(form)), bounded=True)
    parts = [stat_clause(sym, _get(row, "icc"), ci=_ci(row), ci_level=_level(attrs))]
    if _get(row, "F") is not None:
        parts.append(fmt_stat("F", row["F"], df=(_get(row, "df1"), _get(row, "df2"))))
    if _get(row, "p") is not None:
        parts.append(fmt_p(row["p"]))
    return Text(head, Text(", ").join(parts), ".")


def dependent_correlation_sentence(row: Mapping, attrs: Mapping | None = None, *,
                                   n_tests: int | None = None) -> Text:
    """"The correlation with mean trustworthy ratings was higher for conv5 (r = .45) than for conv4
    (r = .38), Williams's t(497) = 2.31, p = .021." (Steiger's z when the row has ``z`` and no ``t``.)"""
    attrs = attrs or {}
    if _get(row, "r12") is not None:  # williams_test / steiger_z: r1 and r2 share variable j
        r_a, r_b = _get(row, "r1"), _get(row, "r2")
    else:
        r_a, r_b = _get(row, "r_a"), _get(row, "r_b")
    a = _get(row, "a") or "the first predictor"
    b = _get(row, "b") or "the second predictor"
    ra_txt, rb_txt = fmt_number(r_a, 2, False).plain, fmt_number(r_b, 2, False).plain
    relation = ("the same" if ra_txt == rb_txt
                else "higher" if (r_a is not None and r_b is not None and r_a > r_b) else "lower")
    if _get(row, "t") is not None:
        test = Text("Williams's ", fmt_stat("t", row["t"], df=_get(row, "df")))
    elif _get(row, "z") is not None:
        test = Text("Steiger's ", fmt_stat("z", row["z"]))
    else:
        raise PsychofaceError(
            "dependent-correlation result has neither t (Williams) nor z (Steiger); "
            "pass a row of a compare() result table"
        )
    p, note = _p_and_note(row, attrs, n_tests)
    parts = [f"The correlation with {_ratings(row)} was {relation} for {a} (", fmt_stat("r", r_a),
             f") {'as' if relation == 'the same' else 'than'} for {b} (", fmt_stat("r", r_b), "), ",
             test]
    if p is not None:
        parts += [", ", fmt_p(p)]
    return _sentence(*parts, note=note)


def paired_difference_sentence(row: Mapping, attrs: Mapping | None = None, *,
                               n_tests: int | None = None) -> Text:
    """"The difference between conv5 and conv4 in their correlation with mean trustworthy ratings was
    Δr = 0.07, 95% CI [0.02, 0.12], p = .004 (paired bootstrap over stimuli, 5,000 resamples)."
    Two layers' RDM correlations (``layer_a``, ``layer_b``, ``attrs["statistic"]``) read "in their RDM
    correlation with the trustworthy rating RDM was Δρ = ...". The p value is ``p_bootstrap`` when the
    row has one, else ``p``. (A difference can exceed 1 in absolute value: it keeps its leading zero.)"""
    attrs = attrs or {}
    rdm = _get(row, "layer_a") is not None
    a = _get(row, "a") or _get(row, "layer_a") or "the first predictor"
    b = _get(row, "b") or _get(row, "layer_b") or "the second predictor"
    stat = _STATISTICS.get(str(attrs.get("statistic", "r")), "r") if rdm else "r"
    attribute = _get(row, "attribute")
    target = (f"RDM correlation with the {attribute} rating RDM" if rdm and attribute is not None
              else "RDM correlation with the rating RDM" if rdm
              else f"correlation with {_ratings(row)}")
    _, difference = _first(row, "difference", "diff")
    p, note = _p_and_note(row, attrs, n_tests, "p_bootstrap" if _get(row, "p_bootstrap") is not None
                          else "p")
    k = attrs.get("n_bootstrap")
    notes = [f"paired bootstrap over stimuli, {int(k):,} resamples" if k
             else "paired bootstrap over stimuli"] + ([note] if note else [])
    clause = stat_clause(_delta(stat), difference, ci=_ci(row), ci_level=_level(attrs), p=p)
    return _sentence(f"The difference between {a} and {b} in their {target} was ", clause,
                     note="; ".join(notes))


def unit_summary_sentence(row: Mapping, attrs: Mapping | None = None) -> Text:
    """"Of 4,096 units of fc7, 312 (7.6%) correlated with mean trustworthy ratings at α = .05
    (corrected by max-T (family-wise) across all non-constant units of the layer, per attribute); the
    largest |r| was .41.\""""
    attrs = attrs or {}
    layer = _get(row, "layer")
    n_units, n_sig = _get(row, "n_units"), _get(row, "n_significant")
    share = _get(row, "proportion")
    alpha = attrs.get("alpha")
    parts = [Text("Of ", fmt_int(n_units), f" units{f' of {layer}' if layer is not None else ''}, ",
                  fmt_int(n_sig))]
    if share is not None:
        parts.append(Text(" (", fmt_number(100 * share, 1), "%)"))
    parts.append(f" correlated with {_ratings(row)}")
    if alpha is not None:
        parts += [" at ", fmt_stat("alpha", alpha)]
    parts.append(parenthetical(correction_phrase(attrs)))
    top = _get(row, "max_abs_r")
    if top is not None:
        parts += ["; the largest |", italic("r"), "| was ", fmt_number(top, 2, leading_zero=False)]
    return Text(*parts, ".")


def _registry():
    """The registry of analysis kinds (imported when first needed: the kinds import this engine)."""
    from psychoface.kinds import registry

    return registry


def _words(attrs: Mapping):
    words = _registry().words_for(attrs.get("analysis"))
    if words is None:
        raise PsychofaceError(
            f"no sentence template for analysis {attrs.get('analysis')!r}; "
            f"pass a result whose attrs['psychoface']['analysis'] is one of {', '.join(_registry().analyses())}"
        )
    return words


def sentences(df) -> list[Text]:
    """One or more sentences per row of an analysis result, written by the words its analysis kind
    registered for ``df.attrs["psychoface"]["analysis"]``."""
    attrs = df.attrs.get("psychoface", {}) or {}
    words = _words(attrs)
    n_tests = int(df["p_corr"].notna().sum()) if "p_corr" in df.columns else None
    return [s for _, row in df.iterrows() for s in words.sentence(row, attrs, n_tests)]


# --------------------------------------------------------------------------------------------------
# a table in words: every row, or a summary that refers to the table
# --------------------------------------------------------------------------------------------------
#: Tables with more rows to describe than this are summarised (best and worst, median, how many
#: significant) instead of one sentence per row.
MAX_SENTENCES = 6


def family_size(attrs: Mapping, df=None) -> int | None:
    """The number of tests in the correction family: ``family_size``; else the count the ``family``
    names (``"34 attributes, within each layer"``: 34; ``"5 layers x 7 rating RDMs"``: 35); else the
    number of corrected p values in ``df``; None when unknown."""
    if attrs.get("family_size"):
        return int(attrs["family_size"])
    family = str(attrs.get("family") or "")
    product = re.fullmatch(r"\s*(\d[\d,]*) [^\d()]+? [x×] (\d[\d,]*) [^\d()]+", family)
    if product:
        return int(product.group(1).replace(",", "")) * int(product.group(2).replace(",", ""))
    count = re.match(r"\s*(\d[\d,]*)\s", family)
    if count:
        return int(count.group(1).replace(",", ""))
    if df is not None and "p_corr" in df.columns and df["p_corr"].notna().any():
        return int(df["p_corr"].notna().sum())
    return None


def best_per_attribute(table, estimate: str):
    """The layer with the highest ``estimate`` for each attribute (what a paper's text reports of a
    layer profile), keeping the table's attrs and the size of its correction family; a table of one
    layer is returned as it is."""
    if "layer" not in table.columns or "attribute" not in table.columns or table["layer"].nunique() < 2:
        return table
    best = table.loc[table.groupby("attribute", sort=False)[estimate].idxmax().dropna()]
    best = best.reset_index(drop=True)
    meta = dict(table.attrs.get("psychoface", {}))
    size = family_size(meta, table)
    if size is not None:
        meta.setdefault("family_size", size)
    best.attrs = {**table.attrs, "psychoface": meta}
    return best


def _permutation_floor(df) -> tuple[float, int, int, str | None] | None:
    """(smallest attainable p, permutations N, family size m, correction label) of a table's
    permutation p values: 1/(N + 1) uncorrected, m/(N + 1) (at most 1) after Holm or Bonferroni,
    which multiply the smallest p by the family size; 1/(N + 1) after Benjamini-Hochberg or max-T.
    None without permutation p values."""
    attrs = df.attrs.get("psychoface", {}) or {}
    n_perm = attrs.get("n_permutations")
    if not n_perm or not _is_permutation(attrs) or not ({"p", "p_corr"} & set(df.columns)):
        return None
    key, label = correction_of(attrs)
    corrected = label is not None and "p_corr" in df.columns and df["p_corr"].notna().any()
    m = (family_size(attrs, df) or 1) if corrected else 1
    scaled = corrected and key in ("holm", "bonferroni")
    floor = min(1.0, (m if scaled else 1) / (int(n_perm) + 1))
    return floor, int(n_perm), m, label if scaled else None


def resolution_note(df) -> Text | None:
    """A table-note sentence when the number of permutations limits the p values: with N permutations
    the smallest attainable permutation p is 1/(N + 1) (Phipson & Smyth, 2010), and Holm or Bonferroni
    over m tests cannot go below m/(N + 1). Written when that floor exceeds α (``attrs["alpha"]``,
    default .05), or when it is .001 or more and some p value of the table sits on it (the table's
    smallest p values then show the resolution, not the evidence). None otherwise."""
    found = _permutation_floor(df)
    if found is None:
        return None
    floor, n_perm, m, label = found
    attrs = df.attrs.get("psychoface", {}) or {}
    alpha = attrs.get("alpha") or 0.05
    column = "p_corr" if label else "p"
    values = df[column].dropna() if column in df.columns else df["p"].dropna()
    on_floor = bool((values <= floor * (1 + 1e-9)).any())
    if not (floor > alpha or (floor >= 0.001 and on_floor)):
        return None
    parts = [Text("With ", fmt_int(n_perm), f" permutation{'s' if n_perm != 1 else ''} the smallest "
                  "attainable ", italic("p"), " is 1/", fmt_int(n_perm + 1))]
    if 1 / (n_perm + 1) >= 0.001:
        parts.append(Text(" = ", fmt_p(1 / (n_perm + 1), symbol=False)))
    if label is not None and floor >= 1:
        parts.append(Text(f"; every {label}-corrected ", italic("p"), " value in this family of ",
                          fmt_int(m), " tests is therefore 1"))
    elif label is not None:
        parts.append(Text(f"; {label}-corrected ", italic("p"), " values cannot fall below ",
                          fmt_int(m), "/", fmt_int(n_perm + 1), " = ", fmt_p(floor, symbol=False),
                          " in this family of ", fmt_int(m), " tests"))
    if floor > alpha:
        parts.append(Text(", so no test can be significant at ", fmt_stat("alpha", alpha)))
    return Text(*parts, "; use more permutations for a stricter test.")


def _correction_label(attrs: Mapping) -> str | None:
    key, label = correction_of(attrs)
    return None if label is None else (label if key else f"correction by {label}")


def _significance(df, attrs: Mapping, noun: str, where: str) -> Text | None:
    """"after Holm correction, 12 of the 34 correlations in Table 2 were significant at α = .05" (from
    ``p_corr``; ``p`` when uncorrected); None without p values."""
    label = _correction_label(attrs)
    column = "p_corr" if label and "p_corr" in df.columns and df["p_corr"].notna().any() else "p"
    if column not in df.columns or not df[column].notna().any():
        return None
    alpha = attrs.get("alpha") or 0.05
    values = df[column].dropna()
    k, m = int((values < alpha).sum()), len(values)
    count = (f"all {m:,} {noun}" if k == m and m > 1 else f"none of the {m:,} {noun}" if k == 0
             else f"{k:,} of the {m:,} {noun}")
    head = (f"after {label} correction, " if column == "p_corr" and correction_of(attrs)[0]
            else f"after {label}, " if column == "p_corr" else "")
    out = [f"{head}{count} in {where} {'was' if m == 1 else 'were'} significant at ",
           fmt_stat("alpha", alpha)]
    if column == "p" and m > 1:
        out.append(" (uncorrected)")
    found = _permutation_floor(df)
    if found is not None and found[0] > alpha:
        floor, n_perm = found[0], found[1]
        which = f"{found[3]}-corrected " if found[3] else ""
        out += [Text(f"; with {n_perm:,} permutations no {which}", italic("p"), " value could fall below ",
                     fmt_p(floor, symbol=False) if floor < 1 else "1"),
                f" (see the note to {where})" if where.startswith("Table") else ""]
    return Text(*out)


def _extremes(rows, column: str):
    values = rows[column].astype(float)
    return rows.loc[values.idxmax()], rows.loc[values.idxmin()]


def _two_clauses(first: Text, second: Text, notes: list) -> Text:
    """``first, and second (note)``: one parenthetical when both share the note, else one each."""
    if notes[0] == notes[1]:
        return Text(first, ", and ", second, parenthetical(notes[0]))
    return Text(first, parenthetical(notes[0]), ", and ", second, parenthetical(notes[1]))


def _layer_of(row, profile: bool) -> str:
    layer = _get(row, "layer")
    return f" (layer {layer})" if profile and layer is not None else ""


def _close(median: Text, significance: Text | None, where: str) -> Text:
    """``median; significance.`` or ``median (Table 2).``"""
    if significance is not None:
        return Text(median, "; ", significance, ".")
    return Text(median, f" ({where})" if where.startswith("Table") else f"; see {where}", ".")


def _summary_predict(df, best, attrs, where: str) -> list[Text]:
    profile = "layer" in df.columns and df["layer"].nunique() > 1
    n_tests = family_size(attrs, df)
    high, low = _extremes(best, "r")
    clauses, notes = [], []
    for row in (high, low):
        p, note = _p_and_note(row, attrs, n_tests)
        clauses.append(stat_clause("r", _get(row, "r"), df=_r_df(row), ci=_ci(row), ci_level=_level(attrs),
                                   p=p))
        notes.append(note)
    layer = _get(df.iloc[0], "layer")
    source = (" from each attribute's most accurate layer" if profile
              else f" from {layer}" if layer is not None else "")
    first = Text(f"Across the {len(best):,} attributes, cross-validated ridge predictions{source} "
                 f"correlated most strongly with {_ratings(high)}{_layer_of(high, profile)}, ", clauses[0])
    second = Text(f"least with {_ratings(low)}{_layer_of(low, profile)}, ", clauses[1])
    median = Text("The median of these correlations was " if profile else "The median correlation was ",
                  fmt_number(best["r"].median(), 2, leading_zero=False))
    tests = "layer–attribute correlations" if profile else "correlations"
    return [Text(_two_clauses(first, second, notes), "."),
            _close(median, _significance(df, attrs, tests.replace("–", EN_DASH), where), where)]


def _rsa_column(df) -> str | None:
    """The estimate column of an RSA table (``rho``, ..., ``partial_rho``, ...)."""
    return next((c for c in ("rho", "tau", "r", "partial_rho", "partial_tau", "partial_r") if c in df.columns),
                None)


def _summary_rsa(df, best, attrs, where: str) -> list[Text]:
    column = _rsa_column(df)
    partial = column.startswith("partial_")
    name = _rsa_statistic(attrs, column.removeprefix("partial_"))
    profile = "layer" in df.columns and df["layer"].nunique() > 1
    n_tests = family_size(attrs, df)
    high, low = _extremes(best, column)
    clauses, notes = [], []
    p_method = str(attrs.get("p_method") or "").lower()
    for row in (high, low):
        p, note = _p_and_note(row, attrs, n_tests)
        clauses.append(Text("partial " if partial else "",
                            stat_clause(name, _get(row, column), ci=_ci(row), ci_level=_level(attrs), p=p)))
        pieces = []
        if p is not None and ("mantel" in p_method or "permut" in p_method):
            k = attrs.get("n_permutations")
            pieces.append(f"Mantel tests, {int(k):,} permutations" if k else "Mantel tests")
        notes.append("; ".join(pieces + ([note] if note else [])) or None)
    layer = _get(df.iloc[0], "layer")
    model = "the most similar layer's RDM" if profile else (f"the {layer} RDM" if layer is not None
                                                              else "the model RDM")
    covariates = _get(df.iloc[0], "covariates")
    control = f" controlling for the {covariates} RDM" if partial and covariates else ""
    if control and ("," in str(covariates) or " and " in str(covariates)):
        control += "s"

    def rating(row):
        return f"the {_get(row, 'attribute')} rating RDM" if _get(row, "attribute") is not None else "the rating RDM"

    first = Text(f"Across the {len(best):,} rating RDMs{' and' if control else ''}{control}, {model} correlated "
                 f"most strongly with {rating(high)}{_layer_of(high, profile)}, ", clauses[0])
    second = Text(f"least with {rating(low)}{_layer_of(low, profile)}, ", clauses[1])
    median = Text("The median of these correlations was " if profile else "The median correlation was ",
                  fmt_number(best[column].median(), 2, leading_zero=False))
    tests = "layer–rating RDM correlations" if profile else "RDM correlations"
    return [Text(_two_clauses(first, second, notes), "."),
            _close(median, _significance(df, attrs, tests.replace("–", EN_DASH), where), where)]


def _summary_reliability(df, attrs, where: str) -> list[Text]:
    rows = df[df["reliability"].notna()] if "reliability" in df.columns else df.iloc[0:0]
    if rows.empty:
        return sentences(df)
    high, low = _extremes(rows, "reliability")
    ns = df["n"].dropna().unique() if "n" in df.columns else []
    across = Text(" across ", fmt_int(ns[0]), " faces") if len(ns) == 1 else Text()
    splits = attrs.get("n_splits")
    how = _split_half_how(splits)

    def clause(row):
        return Text(f"{_get(row, 'attribute')}, ", stat_clause("r_sb", _get(row, "reliability"), ci=_ci(row),
                                                               ci_level=_level(attrs)))

    out = [Text(f"Across the {len(df):,} attributes, the split-half reliability of the mean ratings",
                across, f" ({how}) was highest for ", clause(high), ", and lowest for ", clause(low), ".")]
    second = [Text("The median reliability was ", fmt_number(rows["reliability"].median(), 2,
                                                            leading_zero=False))]
    if "noise_ceiling" in df.columns and df["noise_ceiling"].notna().any():
        ceilings = df["noise_ceiling"].dropna()
        second.append(Text(", and noise ceilings ranged from ", fmt_number(ceilings.min(), 2, leading_zero=False),
                           " to ", fmt_number(ceilings.max(), 2, leading_zero=False)))
    undefined = len(df) - len(rows)
    if undefined:
        second.append(f"; the reliability of {undefined:,} attribute{'s' if undefined > 1 else ''} "
                      "could not be estimated")
    out.append(Text(*second, f" ({where})." if where.startswith("Table") else f"; see {where}."))
    return out


def _summary_difference(df, attrs, where: str) -> list[Text]:
    column = "difference" if "difference" in df.columns else "diff"
    row0 = df.iloc[0]
    a = _get(row0, "a") or _get(row0, "layer_a") or "the first predictor"
    b = _get(row0, "b") or _get(row0, "layer_b") or "the second predictor"
    rdm = _get(row0, "layer_a") is not None
    stat = _STATISTICS.get(str(attrs.get("statistic", "r")), "r") if rdm else "r"
    n_tests = family_size(attrs, df)
    high, low = _extremes(df, column)
    clauses, notes = [], []
    k = attrs.get("n_bootstrap")
    for row in (high, low):
        p_key = "p_bootstrap" if _get(row, "p_bootstrap") is not None else "p"
        p, note = _p_and_note(row, attrs, n_tests, p_key)
        clauses.append(Text(f"{_get(row, 'attribute')}, ",
                            stat_clause(_delta(stat), _get(row, column), ci=_ci(row), ci_level=_level(attrs),
                                        p=p)))
        notes.append("; ".join([f"paired bootstrap over stimuli, {int(k):,} resamples" if k
                                else "paired bootstrap over stimuli"] + ([note] if note else [])))
    target = "RDM correlation with the rating RDM" if rdm else "correlation with the mean ratings"
    first = Text(f"Across the {len(df):,} attributes, the difference between {a} and {b} in their {target} "
                 "was largest for ", clauses[0])
    second = Text("smallest for ", clauses[1])
    median = Text("The median difference was ", fmt_number(df[column].median(), 2))
    return [Text(_two_clauses(first, second, notes), "."),
            _close(median, _significance(df, attrs, "differences", where), where)]


def _summary_units(df, attrs, where: str) -> list[Text]:
    high, low = _extremes(df, "proportion")
    layer = _get(df.iloc[0], "layer")
    alpha = attrs.get("alpha")

    def clause(row):
        return Text(f"{_get(row, 'attribute')}, ", fmt_int(_get(row, "n_significant")), " of ",
                    fmt_int(_get(row, "n_units")), " units (", fmt_number(100 * _get(row, "proportion"), 1), "%)")

    head = Text(f"Across the {len(df):,} attributes, the share of units{f' of {layer}' if layer else ''} that "
                "correlated with the mean ratings", Text(" at ", fmt_stat("alpha", alpha)) if alpha else "",
                parenthetical(correction_phrase(attrs)))
    return [Text(head, " was largest for ", clause(high), ", and smallest for ", clause(low), "."),
            Text("The median share was ", fmt_number(100 * df["proportion"].median(), 1), "%",
                 f" ({where})." if where.startswith("Table") else f"; see {where}.")]


def describe(df, table: int | None = None, *, max_sentences: int = MAX_SENTENCES) -> list[Text]:
    """A result table in words. Up to ``max_sentences`` rows (the rows its words select: for a layer
    profile, the attributes, each at its best layer) get their sentences (:func:`sentences`); a longer
    table is summarised by its words' ``summary``, which refers to the table (``table``: its number)."""
    attrs = df.attrs.get("psychoface", {}) or {}
    words = _words(attrs)
    where = f"Table {table}" if table is not None else "the table"
    rows = words.select(df) if words.select is not None else df
    if len(rows) <= max_sentences:
        return sentences(rows)
    if words.summary is None:
        return sentences(df)
    return words.summary(df, attrs, where)


# --------------------------------------------------------------------------------------------------
# methods paragraph
# --------------------------------------------------------------------------------------------------
_MODEL_CITATIONS = (("vgg", "simonyan2015"), ("mobilenet_v2", "sandler2018"), ("resnet", "he2016"))
_MODEL_NAMES = {"mobilenet_v2": "MobileNetV2", "mobilenet_v3_large": "MobileNetV3-Large",
                "mobilenet_v3_small": "MobileNetV3-Small", "alexnet": "AlexNet"}
_LIBRARIES = (("psychoface", "psychoface", None), ("python", "Python", None),
              ("torch", "PyTorch", "paszke2019"), ("torchvision", "torchvision", None),
              ("numpy", "NumPy", "harris2020"), ("scipy", "SciPy", "virtanen2020"),
              ("scikit-learn", "scikit-learn", "pedregosa2011"),
              ("statsmodels", "statsmodels", "seabold2010"), ("pandas", "pandas", None))
_CORRECTION_CITATIONS = {"holm": "holm1979", "fdr_bh": "benjamini1995"}


def _model_name(model: str) -> str:
    key = model.lower()
    if key in _MODEL_NAMES:
        return _MODEL_NAMES[key]
    m = re.fullmatch(r"vgg(\d+)(_bn)?", key)
    if m:
        return f"VGG{m.group(1)}" + (" with batch normalization" if m.group(2) else "")
    m = re.fullmatch(r"resnet(\d+)", key)
    if m:
        return f"ResNet-{m.group(1)}"
    return model


def _param_number(x) -> Text:
    """A parameter value: integers with separators, powers of ten as 10ⁿ, others in shortest form."""
    value = float(x)
    if value > 0:
        exponent = math.log10(value)
        if abs(exponent) >= 3 and exponent == round(exponent):
            return Text("10", sup(str(int(round(exponent))).replace("-", MINUS)))
    if value == int(value) and abs(value) < 1e15:
        return fmt_int(value)
    return Text(f"{value:.6g}".replace("-", MINUS))


def _series(parts: list) -> Text:
    """Texts joined with APA's serial comma."""
    if len(parts) <= 2:
        return Text(" and ").join(parts)
    return Text(Text(", ").join(parts[:-1]), ", and ", parts[-1])


def _values(values) -> Text:
    values = list(values)
    if len(values) > 4:
        return Text(f"{len(values)} values from ", _param_number(min(values)), " to ",
                    _param_number(max(values)))
    return _series([_param_number(v) for v in values])


def _stimuli(params: Mapping, cites: Citations) -> list:
    n, dataset = params.get("n_images"), params.get("dataset")
    if n is None and isinstance(params.get("stimuli"), (list, tuple)):  # a store manifest
        n = len(params["stimuli"])
    attributes = params.get("attributes")
    k = len(attributes) if isinstance(attributes, (list, tuple)) else attributes
    if n is None and dataset is None and not k:
        return []
    parts = ["The stimuli were ", Text(fmt_int(n), " face images") if n is not None else "face images"]
    if dataset:
        if str(dataset).lower() in ("omi", "one million impressions"):
            parts.append(f" from the One Million Impressions dataset {cites.paren('peterson2022')}")
        else:
            parts.append(f" from {dataset}")
    if k:
        parts.append(Text(", rated on ", fmt_int(k), f" attribute{'s' if k != 1 else ''}"))
        scale = params.get("rating_scale")
        if scale:
            parts.append(" on a " + re.sub(r"(?<=\d)-(?=\d)", EN_DASH, str(scale)) + " scale")
    counts = []
    if params.get("n_ratings"):
        counts.append(Text(fmt_int(params["n_ratings"]), " ratings"))
    if params.get("n_raters"):
        counts.append(Text(fmt_int(params["n_raters"]), " raters"))
    if counts:
        parts.append(Text(" (", Text(" from ").join(counts), ")"))
    out = [Text(*parts, ".")]
    if params.get("trials_where"):
        out.append(Text(f"Only the rating rows with {params['trials_where']} were analysed; mean ratings, "
                        "reliabilities and noise ceilings come from those rows."))
    return out


def _weights_phrase(params: Mapping, cites: Citations) -> str:
    weights = params.get("weights")
    if weights is None:
        return ""
    description = None
    digest = params.get("weights_sha256")
    if isinstance(weights, Mapping):  # a store manifest: {"spec", "description", "sha256"}
        description, digest = weights.get("description"), weights.get("sha256") or digest
        weights = weights.get("spec")
    w = str(weights)
    if w.lower() in ("none", "random"):
        seed = params.get("seed")
        return " with random, untrained weights" + (f" drawn with seed {seed}" if seed is not None else "")
    if w.upper() == "DEFAULT" or "IMAGENET" in w.upper():
        which = description or ("torchvision's default weights" if w.upper() == "DEFAULT"
                                else f"torchvision weights {w}")
        hash_txt = f", SHA-256 {digest[:12]}…" if digest else ""
        return f" pretrained on ImageNet ({cites.inner('russakovsky2015')}; {which}{hash_txt})"
    hash_txt = f" (SHA-256 {digest[:12]}…)" if digest else ""
    return f" with weights from the checkpoint file {PurePath(w).name}{hash_txt}"


def _preprocessing(pre) -> list:
    if not pre:
        return []
    if isinstance(pre, str):
        return [Text(f"Preprocessing: {pre.rstrip('.')}.")]
    steps = []
    resize = pre.get("resize")
    if isinstance(resize, (list, tuple)) and len(resize) == 1:
        resize = resize[0]
    if isinstance(resize, (list, tuple)) and len(resize) == 2:
        steps.append(Text("resized to ", fmt_int(resize[0]), " × ", fmt_int(resize[1]), " pixels"))
    elif isinstance(resize, (int, float)):
        steps.append(Text("resized to ", fmt_int(resize), " pixels on the shorter side"))
    if steps and pre.get("interpolation"):
        steps[-1] = Text(steps[-1], f" ({str(pre['interpolation']).lower()} interpolation)")
    crop = pre.get("crop")
    if crop:
        h, w = (crop, crop) if isinstance(crop, (int, float)) else tuple(crop)
        steps.append(Text("center-cropped to ", fmt_int(h), " × ", fmt_int(w), " pixels"))
    if pre.get("mean") is not None and pre.get("std") is not None:
        def triple(values):
            return Text("(", Text(", ").join(fmt_number(v, 3) for v in values), ")")
        steps.append(Text("normalized with channel means ", triple(pre["mean"]),
                          " and standard deviations ", triple(pre["std"])))
    return [Text("Each image was ", _series(steps), ".")] if steps else []


_POOLED = {"avg": "averaged", "average": "averaged", "mean": "averaged", "max": "max-pooled"}


def _features(params: Mapping, cites: Citations) -> list:
    model = params.get("model")
    if not model:
        return []
    cite = next((k for prefix, k in _MODEL_CITATIONS if str(model).lower().startswith(prefix)), None)
    head = f"Features were extracted with {_model_name(str(model))}"
    head += (f" {cites.paren(cite)}" if cite else "") + _weights_phrase(params, cites)
    layers = params.get("layers")
    poolings = set()
    if layers:
        if isinstance(layers, Mapping):  # alias -> module name, or a store manifest's layer specs
            specs = {alias: spec if isinstance(spec, Mapping) else {"module": spec}
                     for alias, spec in layers.items()}
            poolings = {str(spec.get("pooling") or "").lower() for spec in specs.values()}
            names = []
            for alias, spec in specs.items():
                notes = [str(spec["module"])] if spec.get("module") and spec["module"] != alias else []
                pooled = _POOLED.get(str(spec.get("pooling") or "").lower())
                if len(poolings) > 1 and pooled:  # pooling differs between layers: say which
                    notes.append(f"{pooled} over space")
                names.append(f"{alias} ({'; '.join(notes)})" if notes else str(alias))
        else:
            names = [str(x) for x in ([layers] if isinstance(layers, str) else layers)]
        head += f", from layer{'s' if len(names) > 1 else ''} {_and(names)}"
        head += " in one forward pass per image" if len(names) > 1 else ""
    out = [Text(head, ".")]
    out += _preprocessing(params.get("preprocessing"))
    pooling = str(params.get("pooling") or (poolings.pop() if len(poolings) == 1 else "")).lower()
    if pooling in _POOLED:
        out.append(Text(f"Convolutional feature maps were {_POOLED[pooling]} over spatial positions."))
    elif pooling == "none":
        out.append(Text("Convolutional feature maps were kept at full spatial resolution "
                        "(no pooling)."))
    return out


def _is_permutation(attrs: Mapping) -> bool:
    p_method = str(attrs.get("p_method") or "").lower()
    return "permut" in p_method or "mantel" in p_method


def _comparison_phrase(comparisons: list[str], cites: Citations) -> list:
    """"Spearman's ρ", "Kendall's τ_A (Nili et al., 2014)", ... for the RDM comparison statistics used."""
    out = []
    for comparison in comparisons:
        if "tau" in comparison:
            out.append(Text("Kendall's ", symbol("tau_a").text, f" {cites.paren('nili2014')}"))
        elif "pearson" in comparison:
            out.append(Text("Pearson's ", italic("r")))
        elif "spearman" in comparison:
            out.append(Text("Spearman's ", greek("ρ")))
    return out


def _covariate_name(name: str) -> str:
    return "a pixel RDM (grayscale pixel values)" if name == "pixels" else f"the {name} RDM"


def _describe_rsa(attrs: Mapping, kind: str, cites: Citations, rsa_family: list, written: set) -> list:
    """RSA methods, each said once in the paragraph: how the RDMs were built and compared (over every
    RSA of the paragraph), the Mantel test, the covariates of a partial RSA, the layer comparison."""
    out = []
    if "rsa: rdms" not in written:
        written.add("rsa: rdms")
        distances = [d for a in rsa_family for d in _metric_values(a, "distance", "metric")]
        rating = [d for a in rsa_family for d in _metric_values(a, "rating_distance", "rating_metric")]
        comparisons = [str(a.get("comparison") or a.get("method") or "").lower() for a in rsa_family
                       if str(a.get("analysis", "")).lower() in ("rsa", "partial_rsa")]
        sentence = ["Representational dissimilarity matrices "
                    f"(RDMs; {cites.inner('kriegeskorte2008')}) of each layer were computed"]
        if distances:
            sentence.append(f" with {_and(dict.fromkeys(distances))} distance between stimuli")
        if rating:
            sentence.append(f", rating RDMs with {_and(dict.fromkeys(rating))} distance")
        compared = _comparison_phrase(list(dict.fromkeys(comparisons)), cites)
        if compared:
            sentence += [", and model and rating RDMs were compared with ", _series(compared)]
        out.append(Text(*sentence, "."))
    if kind == "rsa" and _is_permutation(attrs) and "rsa: mantel" not in written:
        written.add("rsa: mantel")
        out.append(Text(f"Mantel tests {cites.paren('mantel1967')} permuted the stimulus labels of "
                        "one RDM."))
    covariates = attrs.get("covariates")
    if covariates:
        names = [covariates] if isinstance(covariates, str) else list(covariates)
        comparison = str(attrs.get("comparison") or attrs.get("method") or "").lower()
        ranked = " of the rank-transformed dissimilarities" if "spearman" in comparison else ""
        out.append(Text(f"Partial RSA controlled for {_and(_covariate_name(c) for c in names)}: each layer "
                        "RDM was correlated with each rating RDM after both were regressed on the covariate "
                        f"RDM{'s' if len(names) > 1 else ''} (a partial correlation{ranked})."))
    if kind == "rsa_compare":
        metric = attrs.get("metric")
        pair = f" ({_and(metric)})" if isinstance(metric, Mapping) and len(metric) == 2 else ""
        out.append(Text(f"The RDM correlations of two layers{pair} with each rating RDM were compared by "
                        "a paired bootstrap over stimuli, the same resamples for both layers."))
    return out


def _metric_values(attrs: Mapping, *keys: str) -> list[str]:
    """The distinct distance names of ``metric``/``distance`` (a string or a dict per RDM)."""
    for key in keys:
        value = attrs.get(key)
        if isinstance(value, Mapping):
            return list(dict.fromkeys(str(v) for v in value.values() if v))
        if value:
            return [str(value)]
    return []


def _describe(attrs: Mapping, kind: str, cites: Citations, rsa_family: list, written: set) -> list:
    """The method of one analysis, in its own sentences (``rsa_family``: the attrs of every RSA in
    the paragraph; ``written``: what the paragraph already says)."""
    if kind == "reliability":
        splits = attrs.get("n_splits")
        ceiling = str(attrs.get("noise_ceiling") or "")
        derived = ("the square root of this reliability" if ceiling.startswith(("sqrt(reliability)", "square root"))
                   else "derived from this reliability")
        return [Text(
            "The reliability of each attribute's mean ratings was estimated by splitting each face's "
            "ratings at random into two halves" + (f" {int(splits):,} times" if splits else "")
            + ", correlating the half means across faces, averaging these correlations over splits and "
            f"stepping the mean up with the Spearman{EN_DASH}Brown formula "
            f"{cites.paren('brown1910', 'spearman1910')}, the reliability being undefined when the mean "
            f"split-half correlation was not positive; the noise ceiling of each attribute was {derived}"
            + (f" {cites.paren('spearman1904')}." if derived.startswith("the square root") else "."))]
    if kind == "icc":
        forms = attrs.get("forms") or attrs.get("icc")
        forms = _and(forms) if isinstance(forms, (list, tuple)) else (str(forms) if forms else None)
        return [Text("Intraclass correlations" + (f" ({forms})" if forms else "")
                     + f" followed {cites.narrative('shrout1979')}.")]
    if kind == "predict":
        folds, repeats = attrs.get("folds"), attrs.get("repeats")
        inner, alphas = attrs.get("inner_folds"), attrs.get("alphas")
        cv = f" in {int(folds)}-fold cross-validation" if folds else " with cross-validation"
        if repeats and int(repeats) > 1:
            cv += f" repeated {int(repeats)} times"
        sentence = [f"Each attribute's mean ratings were predicted from each layer by ridge regression "
                    f"{cites.paren('hoerl1970')}{cv}"]
        if alphas is not None:
            alphas = [alphas] if isinstance(alphas, (int, float)) else list(alphas)
            sentence += ["; the penalty was chosen from ", _values(alphas)]
            scale = str(attrs.get("alpha_scale") or "").split(";")[0].strip()
            if scale:
                sentence.append(f", in {scale}" if scale.startswith("multiples") else f" ({scale})")
            if inner:
                inner_cv = f"{int(inner)}-fold" if isinstance(inner, (int, float)) else str(inner)
                sentence.append(f"{',' if scale.startswith('multiples') else ''} by {inner_cv} "
                                "cross-validation within each training set")
        if attrs.get("standardize"):
            sentence.append(", and features were standardized with statistics of the training folds only")
        return [Text(*sentence, ". Accuracy was the Pearson correlation between cross-validated "
                     "predictions and mean ratings.")]
    if kind in ("rsa", "rsa_compare"):
        return _describe_rsa(attrs, kind, cites, rsa_family, written)
    if kind == "correlate":
        max_stat = "max" in str(attrs.get("p_method") or "").lower()
        return [Text("Each unit's activation was correlated (Pearson's ", italic("r"), ") with each "
                     "attribute's mean ratings" + ("; the maximum statistic over units in each "
                                                   "permutation controlled the family-wise error rate"
                                                   if max_stat else "") + ".")]
    # compare
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


def with_details(method: str, extra: list) -> Text:
    """``method (a; b)``, or ``method (x; a; b)`` when the method already ends in parentheses."""
    if not extra:
        return Text(method)
    if re.search(r"[A-Za-z]\s\([^()]*\)$", method):  # ends with a remark, "... stimuli (pairs ...)"
        return Text(method[:-1], "; ", Text("; ").join(extra), ")")
    return Text(method, " (", Text("; ").join(extra), ")")


def _ci_clause(attrs: Mapping, cites: Citations, written: set) -> Text | None:
    """``Confidence intervals (95%) came from <method> (<resamples>; <citation>)``, or None when the
    analysis has no CI or the paragraph already stated the same CI method with the same parameters."""
    ci_method, n_boot = method_text(attrs.get("ci_method")), attrs.get("n_bootstrap")
    level = _level(attrs)
    if not ci_method or ("ci", ci_method, level, n_boot) in written:
        return None
    written.add(("ci", ci_method, level, n_boot))
    extra = []
    if n_boot and "resampl" not in ci_method:
        extra.append(Text(fmt_int(n_boot), " resamples"))
    if "bootstrap" in ci_method.lower() and "efron1993" not in cites.keys:
        extra.append(cites.inner("efron1993"))
    return Text(f"Confidence intervals ({fmt_level(level)}) came from ", with_details(ci_method, extra))


def _p_group(attrs: Mapping) -> tuple:
    """What a p-value sentence says apart from the correction family: analyses of one paragraph with the
    same key share one sentence, which lists their families."""
    phrase = correction_phrase(attrs)
    return (method_text(attrs.get("p_method")), attrs.get("n_permutations"),
            correction_of(attrs)[0] if phrase else None, phrase is None)


def _families(phrases: list[str], key: str | None, cites: Citations) -> str:
    """``Holm-corrected (Holm, 1979) across A and, separately, across B``: the corrections of analyses
    that share a p-value method, the correction cited where first named."""
    out = []
    for i, phrase in enumerate(phrases):
        head, _, tail = phrase.partition(" across ")
        cite = _CORRECTION_CITATIONS.get(key) if i == 0 else None
        if cite and cite not in cites.keys:
            head = f"{head} {cites.paren(cite)}"
        out.append(f"across {tail}" if i and tail and head == phrases[0].partition(" across ")[0]
                   else head + (f" across {tail}" if tail else ""))
    return " and, separately, ".join(out)


def _p_clause(attrs: Mapping, phrases: list[str], cites: Citations, alone: bool) -> Text:
    """``p values from <method> (<permutations>; <citation>), <corrections>`` (``The p values came from
    ...`` when the sentence starts with it); ``phrases``: the correction of every analysis sharing it."""
    p_method, n_perm = method_text(attrs.get("p_method")), attrs.get("n_permutations")
    families = _families(phrases, correction_of(attrs)[0], cites) if phrases else ""
    if not p_method:
        return Text("The " if alone else "", italic("p"), f" values were {families}")
    extra = []
    formula = Text()
    if _is_permutation(attrs):
        if n_perm and "permutations" not in p_method:
            extra.append(Text(fmt_int(n_perm), " permutations"))
        if "(b" not in p_method.replace(" ", ""):  # outside the parentheses: no nesting
            formula = Text(", computed as (", italic("b"), " + 1)/(", italic("N"), " + 1)")
        if "phipson2010" not in cites.keys:
            extra.append(cites.inner("phipson2010"))
    return Text("The " if alone else "", italic("p"), " values came from " if alone else " values from ",
                with_details(p_method, extra), formula, f", {families}" if families else "")


def _families_of(group: list[Mapping], written: set) -> dict:
    """The p-value sentences of one paragraph: :func:`_p_group` key -> the correction phrases of the
    analyses sharing it (a method and correction the text already stated are left out)."""
    families: dict = {}
    for attrs in group:
        key = _p_group(attrs)
        phrase = correction_phrase(attrs)
        if (key[0] or phrase) and ("p", key, phrase) not in written:
            phrases = families.setdefault(key, [])
            if phrase and phrase not in phrases:
                phrases.append(phrase)
            written.add(("p", key, phrase))
    return families


def _inference(attrs: Mapping, families: dict, cites: Citations, written: set) -> Text | None:
    """The sentence on an analysis's CIs and p values, or None: a CI method already stated (identical
    parameters) is not repeated, and the p values of analyses that share a method (``families``, from
    :func:`_families_of`, emptied as written) are said once, at the first, with each one's family."""
    ci = _ci_clause(attrs, cites, written)
    key = _p_group(attrs)
    p = _p_clause(attrs, families.pop(key), cites, alone=ci is None) if key in families else None
    if ci is not None and p is not None:
        return Text(ci, "; ", p, ".")
    if ci is not None or p is not None:
        return Text(ci if ci is not None else p, ".")
    return None


def _software(params: Mapping, cites: Citations) -> list:
    out = []
    seed = params.get("seed")
    if seed is not None:
        weights = ", random weights" if str(params.get("weights", "")).lower() == "none" else ""
        out.append(Text(f"Every random step (splits, permutations, bootstrap resamples{weights}) "
                        f"used seed {seed}."))
    versions = params.get("versions") or {}
    libs = [f"{name} {versions[key]}" + (f" {cites.paren(cite)}" if cite else "")
            for key, name, cite in _LIBRARIES if key in versions]
    if libs:
        out.append(Text(f"Analyses were run with {_and(libs)}."))
    return out


def _build(params: Mapping) -> tuple[list[Text], list[str]]:
    cites = Citations()
    paragraphs: list[list] = [_stimuli(params, cites), _features(params, cites)]
    written: set = set()
    analyses = list(params.get("analyses") or [])
    kind_for = _registry().kind_for
    for attrs in analyses:
        if kind_for(attrs.get("analysis")) is None:
            raise PsychofaceError(
                f"methods paragraph: analysis {attrs.get('analysis')!r} is unknown; "
                f"use one of {', '.join(_registry().analyses())}"
            )
    # one paragraph per topic, in the order the kinds were registered
    for topic in dict.fromkeys(kind.paragraph for kind in _registry().kinds()):
        group = [a for a in analyses if kind_for(a.get("analysis"))[0].paragraph == topic]
        cites.paragraph = group
        parts: list = []
        families = _families_of(group, written)
        for attrs in group:
            # a description identical to one already written (the same RSA twice) is not repeated
            methods = kind_for(attrs.get("analysis"))[1].methods
            described = methods(attrs, cites, written) if methods is not None else []
            parts += [t for t in described if t.plain not in written]
            written.update(t.plain for t in parts)
            inference = _inference(attrs, families, cites, written)
            if inference is not None:
                parts.append(inference)
        paragraphs.append(parts)
    paragraphs.append(_software(params, cites))
    paragraphs = [Text(" ").join(parts) for parts in paragraphs if parts]
    if not paragraphs:
        raise PsychofaceError(
            "methods paragraph: params hold none of n_images, dataset, attributes, model, analyses, "
            "seed or versions; pass the feature store manifest and the analyses' attrs"
        )
    return paragraphs, cites.keys


def methods_paragraphs(params: Mapping) -> list[Text]:
    """The method section as paragraphs, one per topic: the stimuli and ratings; the network and its
    features (model, weights, layers, preprocessing); one per kind of analysis present (reliability,
    prediction, unit-wise correlations, RSA with partial RSA and layer comparisons, comparisons of
    correlations), each with its CIs, p values and corrections; the seed and software. ``params`` as
    in :func:`methods_paragraph`."""
    return _build(params)[0]


def methods_paragraph(params: Mapping) -> Text:
    """A methods paragraph written from the parameters actually used, citing the methods.

    ``params`` keys (all optional, but at least one must be present):

    - ``n_images`` (int), ``dataset`` (``"omi"`` cites Peterson et al., 2022; any other string is
      named as is), ``attributes`` (list of names or their number), ``n_ratings``, ``n_raters``,
      ``rating_scale`` (e.g. ``"0-100"``), ``trials_where`` (the condition that selected the rating rows);
    - from the feature store manifest (the manifest dict itself can be merged in): ``model``
      (torchvision name), ``weights`` (``"DEFAULT"``, a torchvision weights name such as
      ``"IMAGENET1K_V1"``, ``"none"`` or a checkpoint path; or the manifest's dict with ``spec``,
      ``description``, ``sha256``), ``weights_sha256``, ``layers`` (list of names, a dict alias ->
      module name, or the manifest's dict alias -> {``module``, ``pooling``, ...}), ``stimuli`` (the
      manifest's list: its length is ``n_images`` when that is absent), ``pooling`` (``"none"``,
      ``"avg"``, ``"max"``), ``preprocessing`` (a description string, or a dict with ``resize`` (int:
      shorter side, or [h, w]), ``crop`` (int or [h, w]), ``interpolation``, ``mean``, ``std``);
    - ``analyses``: a list of analysis parameter dicts (each an ``df.attrs["psychoface"]``, keys in this
      module's docstring), each described in its own sentences with its CIs, p values and correction;
    - ``seed`` (int) and ``versions`` (:func:`psychoface.provenance.versions`).

    Methods cited where used: Spearman-Brown (Brown, 1910; Spearman, 1910), ICC (Shrout & Fleiss,
    1979), ridge regression (Hoerl & Kennard, 1970), RSA (Kriegeskorte et al., 2008), Kendall's tau-a
    (Nili et al., 2014), Mantel (1967), permutation p = (b + 1)/(N + 1) (Phipson & Smyth, 2010),
    bootstrap (Efron & Tibshirani, 1993), Holm (1979), Benjamini & Hochberg (1995), Williams (1959),
    Steiger (1980), the network (VGG: Simonyan & Zisserman, 2015; MobileNetV2: Sandler et al., 2018;
    ResNet: He et al., 2016), ImageNet (Russakovsky et al., 2015) and the software (PyTorch, NumPy,
    SciPy, scikit-learn, statsmodels). :func:`references` lists the works cited.
    """
    return Text(" ").join(_build(params)[0])


def references(params: Mapping, texts=()) -> list[Text]:
    """The APA reference list (alphabetical) of the works cited in the methods paragraph written for
    ``params`` (by the paragraph itself and by the method descriptions it quotes) and in ``texts``
    (table notes, result sentences, figure notes: str or :class:`Text`), found by :func:`citations`."""
    paragraphs, keys = _build(params)
    keys = list(dict.fromkeys(keys + citations(*paragraphs, *texts)[0]))
    return reference_list(keys)
