"""The engine of results in words: shared sentence pieces, a table in words, the methods paragraph.

Every number goes through :mod:`psychoface.reports.apa`, so a sentence renders to any format
(``sentence.render("markdown")``, :func:`~psychoface.reports.apa.add_runs` for Word). This module names
no analysis: each analysis kind (:mod:`psychoface.kinds`) registers the words of its results (a
sentence per row, a summary of a long table, its methods text) and this engine applies them.

**A result** is one row of an analysis DataFrame (a :class:`pandas.Series` or a dict) with psychoface's
column names (``attribute``, ``layer``, ``n``, ``r``, ``ci_low``, ``ci_high``, ``p``, ``p_corr``, ...).
**Analysis parameters** (``attrs``) are the analysis's ``df.attrs["psychoface"]``; the engine reads
``analysis`` (which kind's words apply), ``ci_level`` (default .95), ``ci_method`` and ``p_method``
(short names such as ``"percentile bootstrap"``/``"permutation"`` or full descriptions;
``None``/``"none..."`` mean none), ``n_bootstrap``, ``n_permutations``, ``alpha``; ``correction``: a key
(``"holm"``, ``"fdr_bh"``, ``"bonferroni"``, ``"none"``), its label (``"Holm"``, ...) or another
method's name (``"max-T (family-wise)"``); ``family``: what the corrected family consists of, with its
size (``"34 attributes predicted from this layer"``) or as a plural noun (``"attributes"``, counted
from ``family_size`` or the DataFrame's ``p_corr``); ``seed``.

A whole result table in words is :func:`describe`: a sentence per row up to :data:`MAX_SENTENCES` rows,
a summary that refers to the table beyond (:func:`correlations_summary` is the summary of a long table
of correlations any kind can use). :func:`resolution_note` says when the number of permutations bounds
the (corrected) p values. :mod:`psychoface.reports.methods` assembles the method section from the
kinds' methods texts, adding CIs, p values and corrections (:func:`with_details`, :func:`correction_phrase`).
Parentheses inside parentheses become brackets (APA 7, 6.10; :func:`parenthetical`).
"""

from __future__ import annotations

import math
import re
from typing import Mapping

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import (
    EN_DASH,
    Segment,
    Symbol,
    Text,
    fmt_ci,
    fmt_int,
    fmt_number,
    fmt_p,
    fmt_stat,
    greek,
    italic,
    symbol,
)


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def cell(row: Mapping, key: str):
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


def first_cell(row: Mapping, *keys: str):
    """(key, value) of the first of ``keys`` with a value in ``row``, else (None, None)."""
    for key in keys:
        value = cell(row, key)
        if value is not None:
            return key, value
    return None, None


def and_list(items) -> str:
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
    from psychoface.analyses.inference import CORRECTIONS  # scipy and statsmodels: not at CLI start-up

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


def p_and_note(row: Mapping, attrs: Mapping, n_tests: int | None, p_key: str = "p"):
    """The p value to report (corrected when there is a correction) and the phrase naming it."""
    p_corr = cell(row, "p_corr")
    phrase = correction_phrase(attrs, n_tests)
    if p_corr is not None and phrase:
        return p_corr, phrase
    return cell(row, p_key), None


def stat_clause(name: "str | Symbol", estimate, *, df=None, ci=None, ci_level=0.95, p=None) -> Text:
    """``r(498) = .34, 95% CI [.28, .40], p < .001``: the statistic, its CI and p, each optional."""
    sym = symbol(name)
    parts = [fmt_stat(sym, estimate, df=df)]
    if ci is not None and not all(v is None for v in ci):
        parts.append(fmt_ci(ci[0], ci[1], level=ci_level, bounded=sym.bounded))
    if p is not None:
        parts.append(fmt_p(p))
    return Text(", ").join(parts)


def ci_of(row: Mapping):
    low, high = cell(row, "ci_low"), cell(row, "ci_high")
    return None if low is None and high is None else (low, high)


def level_of(attrs: Mapping) -> float:
    return attrs.get("ci_level") or 0.95


def r_df(row: Mapping):
    n = cell(row, "n")
    return None if n is None else int(n) - 2


def ratings_phrase(row: Mapping, attrs: Mapping | None = None) -> str:
    """"mean trustworthy ratings"; with a rater-level split (``attrs["by"]``, e.g. ``rater_sex``) "mean
    trustworthy ratings of female raters (rater_sex)"."""
    attribute = cell(row, "attribute")
    phrase = f"mean {attribute} ratings" if attribute is not None else "the mean ratings"
    for column in (attrs or {}).get("by") or ():
        value = cell(row, column)
        if value is not None:
            phrase += f" of {value} raters ({column})"
    return phrase


_BRACKETS = str.maketrans("()", "[]")


def bracketed(text: "str | Text") -> Text:
    """``text`` with its parentheses turned into brackets, for use inside parentheses (APA 7, 6.10:
    "(Holm-corrected across 170 tests [5 layers × 34 attributes])"); symbols keep their style."""
    return Text(*(Segment(seg.text.translate(_BRACKETS), seg.style) if seg.style == "plain" else seg
                  for seg in Text(text).segments))


def parenthetical(text: "str | Text | None") -> Text:
    """`` (text)`` with nested parentheses as brackets; empty for no text."""
    return Text(" (", bracketed(text), ")") if text else Text()


def with_note(*parts, note: str | None = None) -> Text:
    return Text(*parts, parenthetical(note), ".")


def delta(stat: str) -> Symbol:
    """Δr, Δρ, ...: a difference of two bounded statistics can exceed 1, so it keeps its zero."""
    return Symbol(Text(greek("Δ"), symbol(stat).text), bounded=False)


STATISTICS = {"r": "r", "rho": "rho", "tau": "tau", "tau_a": "tau_a"}


# --------------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------------


def registry():
    """The registry of analysis kinds (imported when first needed: the kinds import this engine)."""
    from psychoface.kinds import registry

    return registry


def _words(attrs: Mapping):
    words = registry().words_for(attrs.get("analysis"))
    if words is None:
        raise PsychofaceError(
            f"no sentence template for analysis {attrs.get('analysis')!r}; "
            f"pass a result whose attrs['psychoface']['analysis'] is one of {', '.join(registry().analyses())}"
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
    if not n_perm or not is_permutation(attrs) or not ({"p", "p_corr"} & set(df.columns)):
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


def significance(df, attrs: Mapping, noun: str, where: str) -> Text | None:
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


def extremes(rows, column: str):
    values = rows[column].astype(float)
    return rows.loc[values.idxmax()], rows.loc[values.idxmin()]


def two_clauses(first: Text, second: Text, notes: list) -> Text:
    """``first, and second (note)``: one parenthetical when both share the note, else one each."""
    if notes[0] == notes[1]:
        return Text(first, ", and ", second, parenthetical(notes[0]))
    return Text(first, parenthetical(notes[0]), ", and ", second, parenthetical(notes[1]))


def closing(median: Text, significance: Text | None, where: str) -> Text:
    """``median; significance.`` or ``median (Table 2).``"""
    if significance is not None:
        return Text(median, "; ", significance, ".")
    return Text(median, f" ({where})" if where.startswith("Table") else f"; see {where}", ".")


def is_profile(df) -> bool:
    """A layer profile: a table with more than one layer."""
    return "layer" in df.columns and df["layer"].nunique() > 1


def correlations_summary(df, best, attrs: Mapping, where: str, *, column: str, subject: str, target,
                         clause, note=None, tests: str) -> list[Text]:
    """Two sentences on a long table of correlations, for any analysis: the rows of ``best`` (a layer
    profile: each attribute at its best layer) with the highest and the lowest ``column``, each with
    its full statistics, then the median and how many tests of ``df`` were significant after the
    correction (:func:`significance`).

    ``subject``: the words before "correlated most strongly with" ("Across the 34 attributes,
    cross-validated ridge predictions from fc7"); ``target(row)``: what that row correlated with
    ("mean happy ratings"); ``clause(row, p)``: the statistic clause of the row with the p value it
    reports; ``note(p, correction)``: its parenthetical (default: the correction phrase); ``tests``: the
    plural noun the significance count uses ("correlations")."""
    profile = is_profile(df)
    n_tests = family_size(attrs, df)
    high, low = extremes(best, column)
    clauses, notes = [], []
    for row in (high, low):
        p, correction = p_and_note(row, attrs, n_tests)
        clauses.append(clause(row, p))
        notes.append(note(p, correction) if note is not None else correction)

    def layer(row):
        name = cell(row, "layer")
        return f" (layer {name})" if profile and name is not None else ""

    first = Text(f"{subject} correlated most strongly with {target(high)}{layer(high)}, ", clauses[0])
    second = Text(f"least with {target(low)}{layer(low)}, ", clauses[1])
    median = Text("The median of these correlations was " if profile else "The median correlation was ",
                  fmt_number(best[column].median(), 2, leading_zero=False))
    return [Text(two_clauses(first, second, notes), "."),
            closing(median, significance(df, attrs, tests.replace("–", EN_DASH), where), where)]


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
# methods descriptions
# --------------------------------------------------------------------------------------------------
def is_permutation(attrs: Mapping) -> bool:
    p_method = str(attrs.get("p_method") or "").lower()
    return "permut" in p_method or "mantel" in p_method


def with_details(method: str, extra: list) -> Text:
    """``method (a; b)``, or ``method (x; a; b)`` when the method already ends in parentheses."""
    if not extra:
        return Text(method)
    if re.search(r"[A-Za-z]\s\([^()]*\)$", method):  # ends with a remark, "... stimuli (pairs ...)"
        return Text(method[:-1], "; ", Text("; ").join(extra), ")")
    return Text(method, " (", Text("; ").join(extra), ")")
