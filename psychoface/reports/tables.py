"""APA 7 tables: one :class:`ApaTable`, rendered to the terminal (rich), Markdown, LaTeX, HTML, Word
and CSV.

APA 7 table rules (Publication Manual, 7.8-7.21): a bold table number ("Table 1"), an italic title in
title case on the line below, horizontal rules only (top, under the column headings, bottom), column
headings in sentence case, numbers with the same decimals in a column (centered under their heading in
HTML, Word and LaTeX as in APA's sample tables; right-aligned, hence decimal-aligned, in the monospaced
terminal and Markdown), and notes under the table: a general note ("*Note.* ...") that defines
abbreviations and states the methods and the correction with its family, then a probability note when
stars are used. Every cell is formatted by :mod:`psychoface.reports.apa`.

Column kinds (:class:`Column`): ``text``; ``bounded`` (a statistic that cannot exceed 1: no leading
zero); ``unbounded`` (leading zero); ``p``; ``integer``; ``df``; ``ci`` (from the two columns
``<name>_low`` and ``<name>_high``, rendered ``[.28, .40]``; ``bounded`` says which leading-zero rule).
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_bytes, atomic_write_text
from psychoface.reports.apa import (
    MISSING,
    Segment,
    Text,
    add_runs,
    fmt_ci,
    fmt_df,
    fmt_int,
    fmt_level,
    fmt_number,
    fmt_p,
    greek,
    italic,
    latex_escape,
    probability_note,
    stars,
    sub,
    symbol,
    to_rich,
)
from psychoface.reports.text import (
    correction_of,
    correction_phrase,
    method_text,
    with_details,
)

KINDS = ("text", "bounded", "unbounded", "p", "integer", "df", "ci")
NUMERIC_KINDS = ("bounded", "unbounded", "p", "integer", "df", "ci")

#: LaTeX packages the output of :meth:`ApaTable.to_latex` needs.
LATEX_PREAMBLE = (
    "\\usepackage{array,booktabs,tabularx,threeparttable,upgreek,xurl}\n\\urlstyle{same}\n"
    "\\usepackage[labelfont=bf,textfont=it,labelsep=newline,singlelinecheck=false]{caption}"
)

#: LaTeX: a table with more columns than this is set in ``\\footnotesize``.
LATEX_SMALL_FROM = 8
#: LaTeX: a text column with a cell longer than this (characters) wraps, in a ``tabularx`` ``X``
#: column taking the rest of the text width.
LATEX_WRAP_FROM = 40


@dataclass(frozen=True)
class Column:
    """One table column: the DataFrame column ``name`` (for ``ci``: the stem of ``<name>_low`` and
    ``<name>_high``), its ``header`` (str or :class:`Text`; default from the standard column names),
    its ``kind`` (see :data:`KINDS`), ``decimals`` (default 2, 3 for p) and, for ``ci``, whether the
    interval's statistic is ``bounded`` by 1."""

    name: str
    header: "str | Text | None" = None
    kind: str = "text"
    decimals: int | None = None
    bounded: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise PsychofaceError(
                f"table column {self.name!r}: kind {self.kind!r} is unknown; use one of {', '.join(KINDS)}"
            )

    @property
    def sources(self) -> tuple[str, ...]:
        """The DataFrame columns this column reads."""
        return (f"{self.name}_low", f"{self.name}_high") if self.kind == "ci" else (self.name,)


# --------------------------------------------------------------------------------------------------
# title case and standard columns
# --------------------------------------------------------------------------------------------------
_MINOR_WORDS = frozenset(
    "a an the and as but for if nor or so yet at by in of off on per to up via vs vs.".split()
)
_WORD = re.compile(r"^([^A-Za-z]*)([A-Za-z][A-Za-z'’]*)(.*)$")
#: Punctuation around a word that is not part of a name: ``(fc7)``, ``conv5:``, ``"pool",``.
_AROUND = "()[]{}\"'“”‘’,;:!?"


def _is_identifier(part: str, names: frozenset) -> bool:
    """A name to leave as written: one of ``names``, or a token with ``_``, an inner ``.``, a digit
    or an inner capital (``conv_last``, ``features.28``, ``fc7``, ``MobileNetV2``), or a bracketed
    capital label (``(A)``)."""
    core = part.strip(_AROUND)
    inner = core.rstrip(".")
    if core in names or inner in names:
        return True
    return ("_" in core or "." in inner or any(c.isdigit() for c in core)
            or any(c.isupper() for c in inner[1:]) or (part[:1] in "([" and core.isupper()))


def title_case(text: str, identifiers=()) -> str:
    """APA title case (Publication Manual, 6.17): capitalize major words and words of four letters or
    more (both parts of a hyphenated word), lowercase minor words of three letters or fewer
    (conjunctions, articles, prepositions) except the first word and the first word after a colon,
    dash, ? or !.

    Names are left exactly as written: the ``identifiers`` given (layer, attribute and model names,
    matched as whole words, surrounding punctuation ignored: ``hair-color``, ``pool``), and any word
    that carries ``_``, an inner ``.``, a digit or an inner capital (``conv_last``, ``features.28``,
    ``fc7``, ``RDM``, ``MobileNetV2``), a hyphenated word included when one of its parts is such a
    name (``conv5-pool``)."""
    names = frozenset(str(n) for n in identifiers)
    out = []
    first = True
    for word in text.split(" "):
        if not word:
            out.append(word)
            continue
        parts = word.split("-")
        if _is_identifier(word, names) or any(_is_identifier(part, names) for part in parts):
            out.append(word)
            first = word.endswith((":", "\u2014", "?", "!"))
            continue
        cased = []
        for j, part in enumerate(parts):
            m = _WORD.match(part)
            if m is None:
                cased.append(part)
                continue
            lead, core, trail = m.groups()
            minor = core.lower() in _MINOR_WORDS and not (first and j == 0)
            cased.append(lead + (core.lower() if minor else core[0].upper() + core[1:]) + trail)
        out.append("-".join(cased))
        first = word.endswith((":", "\u2014", "?", "!"))
    return " ".join(out)


_CORRECTION_SUBSCRIPTS = {"holm": "Holm", "fdr_bh": "BH", "bonferroni": "Bonf"}
_TEXT_HEADERS = {"attribute": "Attribute", "layer": "Layer", "model": "Model", "unit": "Unit",
                 "a": "A", "b": "B", "layer_a": "Layer A", "layer_b": "Layer B", "type": "Form",
                 "covariates": "Covariates", "top_units": "Top units"}


def _sub(name: str, subscript: str) -> Text:
    return Text(symbol(name).text, sub(subscript))


# name: (kind, header: a symbol name, a header string or a Text[, decimals])
_STAT_COLUMNS = {
    "n": ("integer", "n"), "k": ("integer", Text(italic("k"))),
    "n_units": ("integer", "Units"), "n_significant": ("integer", "Significant"),
    "r": ("bounded", "r"), "rho": ("bounded", "rho"), "tau": ("bounded", "tau"),
    "r2": ("bounded", "R2"),
    "partial_r": ("bounded", Text("Partial ", italic("r"))),
    "partial_rho": ("bounded", Text("Partial ", symbol("rho").text)),
    "partial_tau": ("bounded", Text("Partial ", symbol("tau").text)),
    "r_a": ("bounded", _sub("r", "A")), "r_b": ("bounded", _sub("r", "B")),
    "rho_a": ("bounded", _sub("rho", "A")), "rho_b": ("bounded", _sub("rho", "B")),
    "tau_a": ("bounded", _sub("tau", "A")), "tau_b": ("bounded", _sub("tau", "B")),
    "r_ab": ("bounded", _sub("r", "AB")),
    "r1": ("bounded", _sub("r", "1")), "r12": ("bounded", _sub("r", "12")),
    "t": ("unbounded", "t"), "z": ("unbounded", "z"), "F": ("unbounded", "F"),
    "df": ("df", "df"), "df1": ("df", _sub("df", "1")), "df2": ("df", _sub("df", "2")),
    "p": ("p", "p"), "p_steiger": ("p", _sub("p", "Steiger")), "p_bootstrap": ("p", _sub("p", "boot")),
    "icc": ("bounded", "ICC"), "reliability": ("bounded", "Reliability"),
    "r_half": ("bounded", Text("Split-half ", italic("r"))),
    "noise_ceiling": ("bounded", "Noise ceiling"),
    "r_normalized": ("unbounded", Text("Normalized ", italic("r"))),
    "rmse": ("unbounded", "RMSE"), "mae": ("unbounded", "MAE"),
    "proportion": ("bounded", "Proportion"),
    "max_abs_r": ("bounded", Text("Max |", italic("r"), "|")),
    "r_crit": ("bounded", _sub("r", "crit")),
    "ratings_median": ("unbounded", Text(italic("Mdn"), " ratings"), 1),
}
#: Estimates a ``ci_low``/``ci_high`` pair belongs to, in order of precedence: the CI column goes
#: right after the first one present.
_CI_OWNERS = ("r", "rho", "tau", "partial_rho", "partial_r", "partial_tau", "reliability", "icc",
              "difference", "diff")
#: Bookkeeping columns that stay in the CSV but not in an automatic APA table.
_HIDDEN = frozenset({"method", "n_pairs", "alpha_relative_median", "excluded_stimuli", "ratings_min",
                     "ratings_max", "n_splits", "type_mw", "description", "stimuli_dropped",
                     "raters_dropped", "repeats_averaged", "n_constant"})
_ABBREVIATIONS = {
    "rmse": "RMSE = root-mean-square error",
    "mae": "MAE = mean absolute error",
    "icc": "ICC = intraclass correlation coefficient",
}
_DEFINITIONS = {  # column headings that need a word of explanation in the note
    "ratings_median": Text(italic("Mdn"), " ratings = median number of ratings per stimulus"),
    "r_half": Text("split-half ", italic("r"), " = correlation of the two halves' mean ratings across stimuli, "
                   "averaged over random splits"),
    "reliability": Text("reliability = split-half ", italic("r"), " stepped up with the Spearman", "\u2013",
                        "Brown formula"),
}


#: Definitions of registered columns (:func:`register_columns`), written in the note when shown.
_REGISTERED_DEFINITIONS: dict[str, Text] = {}


def register_columns(columns: Mapping[str, object]) -> None:
    """Declare how new result columns render (an analysis kind calls it in its own module).

    Each value is a mapping with ``header`` (a :class:`Text`, a symbol name such as ``"rho"``, or a
    word), ``kind`` (``"bounded"``, ``"unbounded"``, ``"p"``, ``"integer"``, ``"df"``, ``"ci"`` or
    ``"text"``) and optionally ``decimals``, ``ci_owner`` (True: a ``ci_low``/``ci_high`` pair belongs
    to this estimate, after the built-in owners), ``definition`` (a :class:`Text` for the table note)
    and ``hidden`` (True: kept in the CSV, left out of the APA table); or a tuple ``(header, kind)``,
    ``(header, kind, ci_owner)``, ``(kind, header)`` or ``(kind, header, decimals)``."""
    global _CI_OWNERS, _HIDDEN
    for name, spec in columns.items():
        if not isinstance(spec, Mapping):
            items = tuple(spec)
            if len(items) < 2:
                raise PsychofaceError(f"register_columns: column {name!r} needs a header and a kind")
            if isinstance(items[0], str) and items[0] in KINDS and not (isinstance(items[1], str) and items[1] in KINDS):
                spec = {"kind": items[0], "header": items[1], "decimals": items[2] if len(items) > 2 else None}
            else:
                spec = {"header": items[0], "kind": items[1], "ci_owner": bool(items[2]) if len(items) > 2 else False}
        kind, header = spec.get("kind"), spec.get("header")
        if kind not in KINDS or header is None:
            raise PsychofaceError(f"register_columns: column {name!r} has kind {kind!r}; use one of "
                                  f"{', '.join(KINDS)} and give a header")
        if kind == "text":
            _TEXT_HEADERS[name] = header.plain if isinstance(header, Text) else str(header)
        elif spec.get("decimals") is not None:
            _STAT_COLUMNS[name] = (kind, header, int(spec["decimals"]))
        else:
            _STAT_COLUMNS[name] = (kind, header)
        if spec.get("ci_owner") and name not in _CI_OWNERS:
            _CI_OWNERS = _CI_OWNERS + (name,)
        if spec.get("hidden"):
            _HIDDEN = _HIDDEN | {name}
        if spec.get("definition") is not None:
            _REGISTERED_DEFINITIONS[name] = Text(spec["definition"])


def _whole_numbers(values: pd.Series) -> bool:
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    return bool(len(numbers)) and bool((numbers == numbers.round()).all())


def _delta_text(stat: str) -> Text:
    """Δr, Δρ, Δτ: the heading of a difference between two correlations."""
    return Text(greek("Δ"), symbol(stat).text)


def _statistic(attrs: dict) -> str:
    """The correlation a table reports (``attrs["statistic"]``: rho, tau or r)."""
    return {"rho": "rho", "tau": "tau"}.get(str(attrs.get("statistic")), "r")


def _p_corr_header(attrs: dict) -> Text:
    key, _ = correction_of(attrs)
    return Text(italic("p"), sub(_CORRECTION_SUBSCRIPTS.get(key, "corr")))


def _williams(data: pd.DataFrame) -> bool:
    """A williams_test/steiger_z table, where ``r2`` is the second correlation, not R²."""
    return "r12" in data.columns


def _two_lines(header: Text) -> "tuple[Text, Text] | None":
    """A heading broken at the space nearest its middle (None without a space), styles kept."""
    raw = "".join(seg.text for seg in header.segments)
    spaces = [i for i, c in enumerate(raw) if c == " "]
    if not spaces:
        return None
    cut = min(spaces, key=lambda i: abs(len(raw) - 2 * i - 1))
    first, second, pos = [], [], 0
    for seg in header.segments:
        end = pos + len(seg.text)
        first.append(Segment(seg.text[:max(0, cut - pos)], seg.style))
        second.append(Segment(seg.text[max(0, cut + 1 - pos):], seg.style))
        pos = end
    return Text(*first), Text(*second)


def _standard_header(name: str, attrs: dict, data: pd.DataFrame) -> "Text | None":
    if name == "p_corr":
        return _p_corr_header(attrs)
    if name in ("difference", "diff"):
        return _delta_text(_statistic(attrs))
    if name == "r_normalized":
        return Text("Normalized ", symbol(_statistic(attrs)).text)
    if name == "r2" and _williams(data):
        return _sub("r", "2")
    if name in _TEXT_HEADERS:
        return Text(_TEXT_HEADERS[name])
    if name in _STAT_COLUMNS:
        label = _STAT_COLUMNS[name][1]
        if isinstance(label, Text):
            return label
        try:
            return symbol(label).text
        except PsychofaceError:
            return Text(label)
    return None


def _kind_of(name: str, series: pd.Series) -> str:
    if name in _STAT_COLUMNS:
        return _STAT_COLUMNS[name][0]
    if name == "p_corr":
        return "p"
    if name in ("difference", "diff"):
        return "unbounded"
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "text"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    return "unbounded"


def _within_one(data: pd.DataFrame, names) -> bool:
    values = pd.concat([pd.to_numeric(data[n], errors="coerce") for n in names])
    return bool((values.dropna().abs() <= 1).all())


def _names_in(data: pd.DataFrame) -> set[str]:
    """The names in the text columns of ``data`` (layer, attribute, covariate names), which a title
    keeps as written: each value or comma-separated part of a value that is one word (a sentence,
    such as a note, names nothing)."""
    names: set[str] = set()
    for name in data.columns:
        if not (pd.api.types.is_numeric_dtype(data[name]) or pd.api.types.is_bool_dtype(data[name])):
            for value in data[name].dropna().unique():
                names.update(part for part in re.split(r"[,;]\s*", str(value).strip())
                             if part and not any(c.isspace() for c in part))
    return names


def _empty(series: pd.Series) -> bool:
    return bool(series.map(lambda v: v is None or (isinstance(v, str) and not v.strip())
                           or (isinstance(v, float) and math.isnan(v))).all())


def columns_for(data: pd.DataFrame) -> list[Column]:
    """Column specs picked from psychoface's column names: ``r``, ``rho``, ``tau``, ``r2``, ``icc``,
    ``reliability``, ``noise_ceiling`` (bounded: no leading zero), ``t``, ``z``, ``F``, ``rmse``,
    ``r_normalized``, ``difference`` (unbounded), ``p``, ``p_corr``, ``p_steiger``, ``p_bootstrap``,
    ``n``, ``df``, ``df1``, ``df2``, ... A ``ci_low``/``ci_high`` pair becomes one CI column right
    after the estimate it belongs to (the first of ``r``, ``rho``, ``tau``, partial correlations,
    ``reliability``, ``icc``, ``difference``; any ``<x>_ci_low``/``<x>_ci_high`` pair after ``x``)
    and takes its leading-zero rule (a reliability of .90 has the CI [.80, .96], even where another
    row's bound lies below −1).
    Bookkeeping columns (``method``, ``n_pairs``, ``alpha_relative_median``, ``n_splits``, ...) and columns
    with no value stay out (the CSV keeps them); other numeric columns get two decimals with a
    leading zero, other columns are text."""
    names = [n for n in data.columns if n not in _HIDDEN and not _empty(data[n]) and not _shared_note(data, n)]
    columns: list[Column] = []
    intervals: list[tuple[Column, str | None, int]] = []
    for name in names:
        if name.endswith("_high") and f"{name[:-5]}_low" in names:
            continue
        if name.endswith("_low") and f"{name[:-4]}_high" in names:
            stem = name[:-4]
            owner = (stem[:-3] if stem.endswith("_ci") and stem[:-3] in names
                     else next((o for o in _CI_OWNERS if o in names), None) if stem == "ci" else None)
            # an interval is written like its estimate (APA 6.36: no leading zero for a statistic
            # that cannot exceed 1, bounds beyond 1 in magnitude keep their integer digit anyway);
            # an interval without an estimate is bounded when all its bounds lie within [-1, 1]
            bounded = (_kind_of(owner, data[owner]) == "bounded" if owner
                       else _within_one(data, (name, f"{stem}_high")))
            intervals.append((Column(stem, kind="ci", bounded=bounded), owner, len(columns)))
            continue
        spec = _STAT_COLUMNS.get(name, ())
        decimals = spec[2] if len(spec) > 2 else None
        if name.startswith("ratings_") and _whole_numbers(data[name]):  # counts of ratings: 31, not 31.0
            decimals = 0
        columns.append(Column(name, kind=_kind_of(name, data[name]), decimals=decimals))
    for interval, owner, position in reversed(intervals):
        at = next((i + 1 for i, c in enumerate(columns) if c.name == owner), position)
        columns.insert(at, interval)
    return columns


# --------------------------------------------------------------------------------------------------
# notes
# --------------------------------------------------------------------------------------------------
def _shared_note(data: pd.DataFrame, name: str) -> str | None:
    """The text of a ``note`` column that says the same for every row: it belongs in the table note."""
    if name != "note" or len(data) < 2:
        return None
    values = data[name].fillna("").astype(str).str.strip().unique()
    return values[0] if len(values) == 1 and values[0] else None


def general_note(data: pd.DataFrame, columns: list[Column] | None = None) -> Text:
    """The general note: abbreviations of the columns shown, the correction with its family, then the
    methods of the CIs, p values and noise ceilings, read from ``data.attrs["psychoface"]`` (keys:
    ``ci_method``, ``n_bootstrap``, ``p_method``, ``n_permutations``, ``p_steiger_method``,
    ``p_bootstrap_method``, ``noise_ceiling`` or ``noise_ceiling_method``, ``correction``, ``family``,
    ``family_size``; see :mod:`psychoface.reports.text`)."""
    attrs = data.attrs.get("psychoface", {}) or {}
    columns = columns_for(data) if columns is None else columns
    names = {c.name for c in columns}
    kinds = {c.kind for c in columns}
    definitions: list[Text] = []
    if "ci" in kinds:
        definitions.append(Text("CI = confidence interval"))
    definitions += [Text(text) for name, text in _ABBREVIATIONS.items() if name in names]
    if attrs.get("analysis") == "split_half_reliability":
        definitions += [text for name, text in _DEFINITIONS.items() if name in names]
    definitions += [text for name, text in _REGISTERED_DEFINITIONS.items() if name in names]
    if "r_normalized" in names:
        stat = symbol(_statistic(attrs)).text
        definitions.append(Text("normalized ", stat, " = ", stat, " divided by the noise ceiling"))
    n_tests = int(data["p_corr"].notna().sum()) if "p_corr" in data.columns else None
    phrase = correction_phrase(attrs, n_tests)
    if "p_corr" in names:
        definitions.append(Text(_p_corr_header(attrs), " = ", italic("p"), " value ",
                                phrase or "corrected for multiple comparisons"))
    sentences: list[Text] = []
    if definitions:
        sentences.append(Text(Text("; ").join(definitions), "."))
    ci_method, n_boot = method_text(attrs.get("ci_method")), attrs.get("n_bootstrap")
    if "ci" in kinds and ci_method:
        extra = [Text(fmt_int(n_boot), " resamples")] if n_boot and "resampl" not in ci_method else []
        sentences.append(Text("CIs: ", with_details(ci_method, extra), "."))
    p_method, n_perm = method_text(attrs.get("p_method")), attrs.get("n_permutations")
    if ("p" in names or "p_corr" in names) and p_method:
        extra = []
        if "permut" in p_method.lower() or "mantel" in p_method.lower():
            if n_perm and "permutations" not in p_method:
                extra.append(Text(fmt_int(n_perm), " permutations"))
            if "(b" not in p_method.replace(" ", ""):
                extra.append(Text(italic("p"), " = (", italic("b"), " + 1)/(", italic("N"), " + 1)"))
        sentences.append(Text(italic("p"), " values: ", with_details(p_method, extra), "."))
    for column, key in (("p_steiger", "p_steiger_method"), ("p_bootstrap", "p_bootstrap_method")):
        method = method_text(attrs.get(key))
        if column in names and method:
            sentences.append(Text(_standard_header(column, attrs, data), f": {method}."))
    ceiling = method_text(attrs.get("noise_ceiling_method") or attrs.get("noise_ceiling"))
    if "noise_ceiling" in names and ceiling:
        sentences.append(Text(f"Noise ceiling: {ceiling}."))
    if "p" in names and "p_corr" not in names and phrase:
        sentences.append(Text(italic("p"), " values are uncorrected for multiple comparisons."))
    if "note" in data.columns and _shared_note(data, "note"):
        sentences.append(Text(_sentence_case(_shared_note(data, "note")), "."))
    sentences += [Text(_sentence_case(line), ".") for line in attrs.get("exclusions") or ()]
    return Text(" ").join(sentences)


def _sentence_case(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:]


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------
_DOCX_RULE = {"val": "single", "sz": "8", "space": "0", "color": "000000"}

_HTML_TEMPLATE = """\
{% if standalone %}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Table {{ number }}</title>
<style>
.apa-table { font-family: "Times New Roman", Times, serif; font-size: 12pt; line-height: 1.5;
  margin: 1.5em 0; display: inline-block; }
.apa-table p { margin: 0; }
.apa-table .apa-table-number { font-weight: bold; }
.apa-table .apa-table-title { font-style: italic; margin-bottom: 0.5em; }
.apa-table table { border-collapse: collapse; border-spacing: 0; border: none;
  border-top: 1px solid #000; border-bottom: 1px solid #000; }
.apa-table th, .apa-table td { border: none; padding: 0.1em 0.75em; vertical-align: top;
  white-space: nowrap; }
.apa-table thead th { border-bottom: 1px solid #000; font-weight: normal; text-align: center; }
.apa-table .text { text-align: left; }
.apa-table td.num { text-align: center; }
.apa-table .apa-table-note { margin-top: 0.5em; width: 0; min-width: 100%; }
</style>
</head>
<body>
{% endif %}<div class="apa-table">
<p class="apa-table-number">Table {{ number }}</p>
<p class="apa-table-title">{{ title }}</p>
<table>
<thead>
<tr>{% for h in headers %}<th class="{{ h.cls }}" scope="col">{{ h.html }}</th>{% endfor %}</tr>
</thead>
<tbody>
{% for row in rows %}<tr>{% for c in row %}<td class="{{ c.cls }}">{{ c.html }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% for n in notes %}<p class="apa-table-note">{{ n }}</p>
{% endfor %}</div>
{% if standalone %}</body>
</html>
{% endif %}"""


class ApaTable:
    """An APA 7 table of a DataFrame.

    ``columns`` default to :func:`columns_for` (standard column names); ``note`` defaults to
    :func:`general_note` (pass ``""`` for none, or your own text); ``stars=True`` appends significance
    stars (from ``p_corr`` when present, else ``p``) to the first estimate column and adds the
    probability note. ``ci_level`` (default: ``attrs["ci_level"]``, else .95) labels the CI heading.
    The title is set in title case (:func:`title_case`) leaving names as written: the text values of
    ``data`` (layer, attribute, covariate names) and any further ``identifiers`` (e.g. the layers of
    a comparison whose name columns are not shown).
    """

    def __init__(self, data: pd.DataFrame, title: str, columns: list[Column] | None = None,
                 note: "str | Text | None" = None, number: int = 1, *, stars: bool = False,
                 ci_level: float | None = None, identifiers=()):
        if not isinstance(data, pd.DataFrame):
            raise PsychofaceError(f"ApaTable needs a pandas DataFrame, not {type(data).__name__}")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise PsychofaceError(f"table number {number!r} must be a whole number from 1")
        self.data = data
        self.attrs = data.attrs.get("psychoface", {}) or {}
        extra = [identifiers] if isinstance(identifiers, str) else identifiers
        self.title = title_case(str(title).strip(), _names_in(data) | {str(n) for n in extra})
        self.columns = columns_for(data) if columns is None else list(columns)
        self.number = number
        self.ci_level = ci_level if ci_level is not None else (self.attrs.get("ci_level") or 0.95)
        fmt_level(self.ci_level)  # validates
        missing = [s for c in self.columns for s in c.sources if s not in data.columns]
        if missing:
            raise PsychofaceError(
                f"table {title!r}: column(s) {', '.join(map(repr, missing))} not in the data "
                f"(it has {', '.join(map(str, data.columns))}); pass columns that exist"
            )
        if not self.columns:
            raise PsychofaceError(f"table {title!r} has no columns; pass a DataFrame with columns")
        self.stars = stars
        self._star_p = self._star_target = None
        if stars:
            self._star_p = "p_corr" if "p_corr" in data.columns else "p" if "p" in data.columns else None
            self._star_target = next((c.name for c in self.columns
                                      if c.kind in ("bounded", "unbounded")), None)
            if self._star_p is None or self._star_target is None:
                raise PsychofaceError(
                    f"table {title!r}: stars need a p or p_corr column and an estimate column; "
                    "pass stars=False or add them"
                )
        self.note = general_note(data, self.columns) if note is None else Text(note)
        self._cells = self._format_cells()

    # -- content ----------------------------------------------------------------------------------
    def headers(self) -> list[Text]:
        """The column headings as :class:`Text`."""
        out = []
        for col in self.columns:
            if col.header is not None:
                out.append(Text(col.header))
            elif col.kind == "ci":
                out.append(Text(f"{fmt_level(self.ci_level)} CI"))
            else:
                words = col.name.replace("_", " ")
                out.append(_standard_header(col.name, self.attrs, self.data)
                           or Text(words[:1].upper() + words[1:]))
        return out

    def _format_cells(self) -> list[list[Text]]:
        rows = []
        for i in range(len(self.data)):
            row = []
            for col in self.columns:
                try:
                    cell = self._cell(col, i)
                except PsychofaceError as exc:
                    raise PsychofaceError(f"table column {col.name!r}, row {i + 1}: {exc}") from None
                if self.stars and col.name == self._star_target:
                    cell = Text(cell, stars(self.data[self._star_p].iloc[i]))
                row.append(cell)
            rows.append(row)
        return rows

    def _cell(self, col: Column, i: int) -> Text:
        value = self.data[col.sources[0]].iloc[i]
        decimals = col.decimals
        if col.kind == "text":
            return Text(MISSING if value is None or (isinstance(value, float) and math.isnan(value))
                        else str(value))
        if col.kind == "bounded":
            return fmt_number(value, 2 if decimals is None else decimals, leading_zero=False)
        if col.kind == "unbounded":
            return fmt_number(value, 2 if decimals is None else decimals)
        if col.kind == "p":
            return fmt_p(value, symbol=False)
        if col.kind == "integer":
            return fmt_int(value)
        if col.kind == "df":
            return fmt_df(value)
        return fmt_ci(value, self.data[col.sources[1]].iloc[i], bounded=col.bounded,
                      decimals=2 if decimals is None else decimals, label=False)

    def rows(self) -> list[list[Text]]:
        """The formatted cells, one list per row."""
        return [list(r) for r in self._cells]

    def notes(self) -> list[Text]:
        """``Note.`` + general note, then the probability note when stars are used."""
        out = []
        if self.note:
            out.append(Text(italic("Note."), " ", self.note))
        if self.stars:
            out.append(probability_note())
        return out

    def _numeric(self) -> list[bool]:
        return [c.kind in NUMERIC_KINDS for c in self.columns]

    # -- renderers -----------------------------------------------------------------------------------
    def to_terminal(self):
        """A rich renderable: bold number, italic title, horizontal rules only, notes below, laid out
        for the console's width when printed (:func:`_terminal_layout`): numbers and row labels are
        never cut or wrapped, headings wrap only between words, and a table too wide for the console
        is split into panels that repeat the row-label columns ("Table 1 (continued)")."""
        return _TerminalTable(self)

    def __rich__(self):
        return self.to_terminal()

    def to_markdown(self) -> str:
        """Pipe-table Markdown with the number in bold, the title in italics and the notes below."""
        lines = [f"**Table {self.number}**", "", italic(self.title).render("markdown"), ""]
        lines.append("| " + " | ".join(h.render("markdown") for h in self.headers()) + " |")
        lines.append("| " + " | ".join("---:" if n else ":---" for n in self._numeric()) + " |")
        for row in self._cells:
            lines.append("| " + " | ".join(c.render("markdown") for c in row) + " |")
        for note in self.notes():
            lines += ["", note.render("markdown")]
        return "\n".join(lines) + "\n"

    def to_latex(self) -> str:
        """A ``table`` with booktabs rules (``\\toprule``, ``\\midrule``, ``\\bottomrule``) in a
        ``threeparttable`` whose ``tablenotes`` hold the notes. Needs :data:`LATEX_PREAMBLE` (the apa7
        class styles the caption by itself).

        Kept within the text block without scaling: no outer column padding (``@{}``); a table of more
        than :data:`LATEX_SMALL_FROM` columns (and its notes) in ``\\footnotesize`` with 4 pt column
        padding; a numeric column's multi-word heading wider than its cells stacked on two lines; a
        text column with cells longer than :data:`LATEX_WRAP_FROM` characters wrapped ragged right
        in a ``tabularx`` as wide as the text; URLs in the notes in ``\\url`` (which breaks them)."""
        numeric = self._numeric()
        headers = self.headers()
        longest = [max((len(row[j].plain) for row in self._cells), default=0) for j in range(len(numeric))]
        wrap = [not n and m > LATEX_WRAP_FROM for n, m in zip(numeric, longest)]
        spec = "".join("c" if n else ">{\\raggedright\\arraybackslash}X" if w else "l"
                       for n, w in zip(numeric, wrap))
        env, width = ("tabularx", "{\\linewidth}") if any(wrap) else ("tabular", "")
        begin, end = f"\\begin{{{env}}}{width}{{@{{}}{spec}@{{}}}}", f"\\end{{{env}}}"
        heads = []
        for header, is_numeric, m in zip(headers, numeric, longest):
            lines = _two_lines(header) if is_numeric and len(header.plain) > m else None
            heads.append(header.render("latex") if lines is None else
                         "\\begin{tabular}[b]{@{}c@{}}" + "\\\\".join(t.render("latex") for t in lines)
                         + "\\end{tabular}")
        size = (["\\footnotesize", "\\setlength{\\tabcolsep}{4pt}"] if len(numeric) > LATEX_SMALL_FROM
                else [])
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or str(self.number)
        lines = [
            "% needs " + LATEX_PREAMBLE.replace("\n", "\n% "),
            "\\begin{table}[htbp]",
            "\\centering",
            "\\begin{threeparttable}",
            f"\\caption{{{latex_escape(self.title)}}}",
            f"\\label{{tab:{slug}}}",
            *size,
            begin,
            "\\toprule",
            " & ".join(heads) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join(c.render("latex") for c in row) + " \\\\" for row in self._cells]
        lines += ["\\bottomrule", end]
        if self.notes():
            lines += ["\\begin{tablenotes}[flushleft]", size[0] if size else "\\small"]
            lines += [f"\\item[] {n.render('latex')}" for n in self.notes()]
            lines.append("\\end{tablenotes}")
        lines += ["\\end{threeparttable}", "\\end{table}"]
        return "\n".join(lines) + "\n"

    def to_html(self, standalone: bool = True) -> str:
        """HTML with APA CSS (horizontal rules only, italic title, notes); ``standalone=False`` gives
        the ``<div class="apa-table">`` fragment without the page and its style sheet."""
        import jinja2
        from markupsafe import Markup

        env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
        classes = ["num" if n else "text" for n in self._numeric()]
        return env.from_string(_HTML_TEMPLATE).render(
            standalone=standalone,
            number=self.number,
            title=Markup(Text(self.title).render("html")),
            headers=[{"cls": c, "html": Markup(h.render("html"))}
                     for h, c in zip(self.headers(), classes)],
            rows=[[{"cls": c, "html": Markup(cell.render("html"))} for cell, c in zip(row, classes)]
                  for row in self._cells],
            notes=[Markup(n.render("html")) for n in self.notes()],
        )

    def _repr_html_(self) -> str:
        return self.to_html(standalone=False)

    def to_docx(self, target):
        """Write the table into Word: ``target`` a path (a new document in Times New Roman 12 pt,
        written atomically; returns the path) or a :class:`docx.document.Document` (appended in the
        document's own font; returns the document). "Table 1" bold, the title italic, horizontal
        borders only at the top, under the headings and at the bottom, then the notes.

        Column widths are fixed (LibreOffice lays out by the grid, whatever Word's autofit would do)
        and fitted by :func:`_docx_fit`: no column is narrower than its widest number or its longest
        heading word, so headings wrap only between words. A table that does not fit the text width
        gets narrower cell margins (0.04 in instead of Word's 0.08 in), then a smaller size, down to
        10 pt; then a landscape page (a section of its own in an existing document, portrait again
        after it), down to 8 pt; only a table too wide even then is shrunk in proportion."""
        import docx
        from docx.document import Document as DocxDocument
        from docx.enum.section import WD_ORIENT, WD_SECTION
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Inches, Pt, Twips

        path = None
        if isinstance(target, DocxDocument):
            document = target
        elif isinstance(target, (str, Path)):
            path = Path(target)
            document = docx.Document()
            normal = document.styles["Normal"]
            normal.font.name = "Times New Roman"
            normal.font.size = Pt(12)
            normal.element.get_or_add_rPr().get_or_add_rFonts().set(_w("eastAsia"), "Times New Roman")
            for section in document.sections:  # APA 7: 1-in margins on every side
                section.left_margin = section.right_margin = Inches(1)
                section.top_margin = section.bottom_margin = Inches(1)
        else:
            raise PsychofaceError(
                f"to_docx needs a file path or a python-docx Document, not {type(target).__name__}"
            )
        numeric = self._numeric()
        headers = self.headers()
        section = document.sections[-1]
        base = document.styles["Normal"].font.size
        base = base.pt if base else 12.0
        margins = section.left_margin + section.right_margin
        portrait = section.page_width <= section.page_height
        options = [(False, (section.page_width - margins) // 635, 10)]
        if portrait:  # the text width of the page turned, same margins
            options.append((True, (section.page_height - margins) // 635, 8))
        plan = None
        for landscape, available, smallest in options:
            size = base
            while plan is None and size >= smallest:
                for margin in _DOCX_CELL_MARGINS:
                    widths = _docx_fit(headers, self._cells, numeric, size, margin, available)
                    if widths is not None:
                        plan = landscape, size, margin, widths
                        break
                size -= 1
            if plan is not None:
                break
        if plan is None:  # too wide even turned and at the smallest size: shrink in proportion
            landscape, available, size = options[-1]
            margin = _DOCX_CELL_MARGINS[-1]
            minimum, _ = _docx_columns(headers, self._cells, numeric, size, margin)
            plan = landscape, size, margin, [int(m * available / sum(minimum)) for m in minimum]
        landscape, size, margin, widths = plan

        def orient(sec, turned: bool) -> None:
            width, height = sorted((sec.page_width, sec.page_height), reverse=turned)
            sec.orientation = WD_ORIENT.LANDSCAPE if turned else WD_ORIENT.PORTRAIT
            sec.page_width, sec.page_height = width, height

        own_section = landscape and (path is None)
        if landscape:
            orient(document.add_section(WD_SECTION.NEW_PAGE) if own_section else section, True)

        number = document.add_paragraph()
        add_runs(number, f"Table {self.number}", bold=True)
        title = document.add_paragraph()
        add_runs(title, self.title, italic=True)
        for p in (number, title):
            p.paragraph_format.keep_with_next = True
            p.paragraph_format.space_after = Pt(0)
        title.paragraph_format.space_after = Pt(6)

        table = document.add_table(rows=len(self._cells) + 1, cols=len(self.columns))
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        table.autofit = False  # fixed layout: the fitted widths below hold in Word and LibreOffice
        _docx_table_borders(table)
        _docx_cell_margins(table, margin)
        cell_size = Pt(size) if size != base else None
        for j, width in enumerate(widths):
            table.columns[j].width = Twips(width)
            for cell in table.columns[j].cells:
                cell.width = Twips(width)
        for j, header in enumerate(headers):
            cell = table.rows[0].cells[j]
            _docx_fill(cell, header,
                       WD_ALIGN_PARAGRAPH.CENTER if numeric[j] else WD_ALIGN_PARAGRAPH.LEFT, cell_size)
            _docx_cell_bottom_rule(cell)
        _docx_repeat_header(table.rows[0])
        for i, row in enumerate(self._cells, start=1):
            cells = table.rows[i].cells
            for j, value in enumerate(row):
                _docx_fill(cells[j], value,
                           WD_ALIGN_PARAGRAPH.CENTER if numeric[j] else WD_ALIGN_PARAGRAPH.LEFT,
                           cell_size)
        for note in self.notes():
            paragraph = document.add_paragraph()
            paragraph.paragraph_format.space_before = Pt(6)
            add_runs(paragraph, note)
        if own_section:  # what follows the table is portrait again
            orient(document.add_section(WD_SECTION.NEW_PAGE), False)
        if path is None:
            return document
        buffer = io.BytesIO()
        document.save(buffer)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def to_csv(self, path=None) -> str:
        """The raw numbers behind the table (full precision, the original column names, CI bounds as
        two columns, empty for missing); written atomically to ``path`` when given."""
        sources = [s for c in self.columns for s in c.sources]
        text = self.data[sources].to_csv(index=False, lineterminator="\n")
        if path is not None:
            atomic_write_text(path, text)
        return text


#: Terminal layout: a cell's right padding and the blank column separator; the two table edges.
_TERM_GAP, _TERM_EDGES = 2, 2
#: A wrapped text column (a note) keeps at least this many characters.
_TERM_TEXT_MIN = 16
#: Row labels are cut (…) only when one column beside them would not fit otherwise, and to no fewer
#: characters than this.
_TERM_LABEL_MIN = 12


def _stub_columns(numeric: list[bool]) -> list[int]:
    """The row-label columns: the leading text columns (only the first when all are text)."""
    stub = list(itertools.takewhile(lambda j: not numeric[j], range(len(numeric))))
    return stub[:1] if len(stub) == len(numeric) else stub


def _terminal_layout(headers: list[str], cells: list[list[str]], numeric: list[bool],
                     width: int) -> list[tuple[list[int], list[int]]]:
    """Columns and their widths (characters) for a console ``width`` characters wide: a list of
    panels, each ``(column indices, widths)``; one panel when the table fits.

    Every column first gets its natural width (widest cell, heading on one line). When the table is
    wider than the console, numeric headings wrap between words (a numeric column stays as wide as
    its widest cell and its longest heading word), then other text columns wrap (down to their
    longest heading word or ``_TERM_TEXT_MIN``). When that is not enough, the other columns are
    dealt, in order, into panels that each repeat the row labels (the leading text columns, never
    wrapped); only a panel of one column that still does not fit cuts its labels, down to
    ``_TERM_LABEL_MIN``."""
    from rich.cells import cell_len

    n = len(headers)
    body = [max((cell_len(row[j]) for row in cells), default=0) for j in range(n)]
    natural = [max(body[j], cell_len(headers[j]), 1) for j in range(n)]
    heading_word = [max((cell_len(w) for w in h.split()), default=0) for h in headers]
    stub = _stub_columns(numeric)
    minimum = [max(body[j], heading_word[j]) if numeric[j]
               else max(heading_word[j], min(natural[j], _TERM_LABEL_MIN if j in stub else _TERM_TEXT_MIN))
               for j in range(n)]
    wrapping = ([j for j in range(n) if numeric[j]],
                [j for j in range(n) if not numeric[j] and j not in stub])

    def fit(columns: list[int], cut_labels: bool = False) -> list[int] | None:
        widths = {j: natural[j] for j in columns}
        excess = sum(widths.values()) + _TERM_GAP * (len(columns) - 1) + _TERM_EDGES - width
        for group in wrapping + ((stub,) if cut_labels else ()):
            while excess > 0:
                slack = [j for j in group if j in widths and widths[j] > minimum[j]]
                if not slack:
                    break
                widest = max(slack, key=lambda j: widths[j])  # water-filling: narrow the widest
                widths[widest] -= 1
                excess -= 1
        return None if excess > 0 else [widths[j] for j in columns]

    every = list(range(n))
    if fit(every) is not None:
        return [(every, fit(every))]
    panels: list[list[int]] = [[]]
    for j in (j for j in every if j not in stub):
        if panels[-1] and fit(stub + panels[-1] + [j]) is None:
            panels.append([])
        panels[-1].append(j)
    return [(stub + cols, fit(stub + cols) or fit(stub + cols, cut_labels=True)
             or [minimum[j] for j in stub + cols]) for cols in panels]


class _TerminalTable:
    """An :class:`ApaTable` as a rich renderable, laid out at print time for the console's width."""

    def __init__(self, table: "ApaTable"):
        self.table = table

    def __rich_console__(self, console, options):
        from rich import box
        from rich.table import Table
        from rich.text import Text as RichText

        apa = self.table
        headers, numeric = apa.headers(), apa._numeric()
        panels = _terminal_layout([h.plain for h in headers], [[c.plain for c in row] for row in apa._cells],
                                  numeric, options.max_width)
        stub = _stub_columns(numeric)
        yield RichText.assemble((f"Table {apa.number}", "bold"), "\n", (apa.title, "italic"))
        for k, (columns, widths) in enumerate(panels):
            if k:
                yield RichText("")
                yield RichText(f"Table {apa.number} (continued)", "bold")
            table = Table(box=box.HORIZONTALS, show_edge=True, header_style="", padding=(0, 1, 0, 0),
                          pad_edge=False)
            for j, width in zip(columns, widths):
                label = j in stub
                table.add_column(to_rich(headers[j]), justify="right" if numeric[j] else "left",
                                 width=width, no_wrap=label, overflow="ellipsis" if label else "fold")
            for row in apa._cells:
                table.add_row(*(to_rich(row[j]) for j in columns))
            yield table
        for note in apa.notes():
            yield to_rich(note)


def apa_table_for(df: pd.DataFrame, title: str | None = None, number: int = 1, *,
                  stars: bool = False, identifiers=()) -> ApaTable:
    """An :class:`ApaTable` for an analysis result: columns from psychoface's column names
    (:func:`columns_for`: bookkeeping and empty columns left out, the CSV keeps them), the general
    note from ``df.attrs["psychoface"]``, and a title from its ``analysis`` when none is given
    (names in it kept as written: the data's text values and ``identifiers``)."""
    attrs = df.attrs.get("psychoface", {}) or {}
    if title is None:
        from psychoface.kinds.registry import words_for

        words = words_for(attrs.get("analysis"))
        title = words.title if words is not None and words.title else "Results"
    return ApaTable(df, title, number=number, stars=stars, identifiers=identifiers)


# --------------------------------------------------------------------------------------------------
# Word helpers (OOXML: child elements must keep the schema's order)
# --------------------------------------------------------------------------------------------------
def _w(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(f"w:{tag}")


def _insert_ordered(parent, child, successors: tuple[str, ...]) -> None:
    """Insert ``child`` before the first existing element named in ``successors`` (schema order)."""
    for name in successors:
        found = parent.find(_w(name))
        if found is not None:
            found.addprevious(child)
            return
    parent.append(child)


def _border(tag: str, rule: bool):
    from docx.oxml import OxmlElement

    el = OxmlElement(f"w:{tag}")
    if rule:
        for key, value in _DOCX_RULE.items():
            el.set(_w(key), value)
    else:
        el.set(_w("val"), "nil")
    return el


def _docx_table_borders(table) -> None:
    """Table-level borders: a rule at top and bottom, nothing else (no vertical rules)."""
    from docx.oxml import OxmlElement

    tbl_pr = table._tbl.tblPr
    for old in tbl_pr.findall(_w("tblBorders")):
        tbl_pr.remove(old)
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_border(edge, edge in ("top", "bottom")))
    _insert_ordered(tbl_pr, borders, ("shd", "tblLayout", "tblCellMar", "tblLook", "tblCaption",
                                      "tblDescription"))


def _docx_cell_margins(table, margin: int) -> None:
    """Left and right cell margins of ``margin`` twips, none at top and bottom, for the whole table."""
    from docx.oxml import OxmlElement

    tbl_pr = table._tbl.tblPr
    for old in tbl_pr.findall(_w("tblCellMar")):
        tbl_pr.remove(old)
    margins = OxmlElement("w:tblCellMar")
    for edge in ("top", "left", "bottom", "right"):
        el = OxmlElement(f"w:{edge}")
        el.set(_w("w"), str(margin if edge in ("left", "right") else 0))
        el.set(_w("type"), "dxa")
        margins.append(el)
    _insert_ordered(tbl_pr, margins, ("tblLook", "tblCaption", "tblDescription"))


def _docx_cell_bottom_rule(cell) -> None:
    """A rule under a heading cell."""
    from docx.oxml import OxmlElement

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = OxmlElement("w:tcBorders")
    borders.append(_border("bottom", True))
    _insert_ordered(tc_pr, borders, ("shd", "noWrap", "tcMar", "textDirection", "tcFitText", "vAlign",
                                     "hideMark"))


def _docx_repeat_header(row) -> None:
    """Repeat the heading row on every page the table spans."""
    from docx.oxml import OxmlElement

    tr_pr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    _insert_ordered(tr_pr, header, ("tblCellSpacing", "jc", "hidden"))


#: Advance widths (thousandths of an em) of printable ASCII, U+0020 to U+007E, in Times: the larger of
#: Times-Roman and Times-Italic in Adobe's core-font metrics (ptmr8a.afm, ptmri8a.afm), which Times
#: New Roman and Liberation Serif share.
_TIMES_WIDTHS = (
    250, 333, 420, 500, 500, 833, 778, 333, 333, 333, 500, 675, 250, 333, 250, 278, 500, 500, 500, 500,
    500, 500, 500, 500, 500, 500, 333, 333, 675, 675, 675, 500, 921, 722, 667, 667, 722, 611, 611, 722,
    722, 333, 444, 722, 611, 889, 722, 722, 611, 722, 667, 556, 611, 722, 722, 944, 722, 722, 611, 389,
    278, 389, 469, 500, 333, 500, 500, 444, 500, 444, 333, 500, 500, 278, 278, 500, 278, 778, 500, 500,
    500, 500, 389, 389, 278, 500, 500, 722, 500, 500, 444, 480, 275, 480, 541,
)
#: Other characters psychoface writes (Times New Roman); any other character counts 0.65 em.
_OTHER_WIDTHS = {"\u2212": 564, "\u00d7": 564, "\u00b1": 564, "\u2014": 1000, "\u2013": 500,
                 "\u2026": 1000, "\u2264": 549, "\u2265": 549, "\u221e": 713}
#: Word and LibreOffice set super- and subscripts at about two thirds of the font size.
_SCRIPT_SCALE = 0.67
#: Left and right cell margins in twips: Word's default 0.08 in, then 0.04 in for a tight table.
_DOCX_CELL_MARGINS = (115, 58)
#: Air beyond the estimated text width in a cell, in ems.
_DOCX_AIR = 0.25


def _em(text: "Text | str") -> float:
    """Width of ``text`` in ems in Times New Roman (scripts at two thirds of the size)."""
    total = 0.0
    for seg in Text(text).segments:
        width = sum(_TIMES_WIDTHS[ord(c) - 32] if " " <= c <= "~" else _OTHER_WIDTHS.get(c, 650)
                    for c in seg.text)
        total += width * (_SCRIPT_SCALE if seg.style in ("sup", "sub") else 1.0)
    return total / 1000


def _words(text: Text) -> list[Text]:
    """The words of ``text`` (split at white space, styles kept: ``p`` + subscript ``Holm`` is one)."""
    words: list[Text] = []
    current: list[Segment] = []
    for seg in text.segments:
        for part in re.split(r"(\s+)", seg.text):
            if part.isspace():
                if current:
                    words.append(Text(*current))
                current = []
            elif part:
                current.append(Segment(part, seg.style))
    if current:
        words.append(Text(*current))
    return words


def _docx_columns(headers: list[Text], rows: list[list[Text]], numeric: list[bool],
                  font_pt: float, margin: int) -> tuple[list[float], list[float]]:
    """Each column's minimum and natural width in twips at ``font_pt``: the minimum holds the longest
    heading word and the widest number (a text column: its longest word), the natural width its
    widest cell and the heading on one line; both with the cell margins (``margin`` twips on each
    side) and a quarter em of air."""
    twips = font_pt * 20

    def width(text: Text) -> float:
        return (_em(text) + _DOCX_AIR) * twips + 2 * margin

    empty = width(Text())
    minimum, natural = [], []
    for j, header in enumerate(headers):
        cells = [row[j] for row in rows]
        full = max((width(c) for c in cells), default=empty)
        word = max((width(w) for c in cells for w in _words(c)), default=empty)
        head = max((width(w) for w in _words(header)), default=empty)
        minimum.append(max(head, full if numeric[j] else word))
        natural.append(max(minimum[-1], full, width(header)))
    return minimum, natural


def _docx_fit(headers: list[Text], rows: list[list[Text]], numeric: list[bool], font_pt: float,
              margin: int, available: int) -> list[int] | None:
    """Column widths in twips within ``available`` twips at ``font_pt``, or None when the minima
    (:func:`_docx_columns`) do not fit. Every column gets its minimum; the rest of the text width
    goes to the text columns first, up to their natural widths (labels and notes unwrapped), then to
    the numeric columns (headings on one line); what is still left stays outside the table."""
    minimum, natural = _docx_columns(headers, rows, numeric, font_pt, margin)
    spare = available - sum(minimum) - len(minimum)  # a twip a column for rounding up
    if spare < 0:
        return None
    widths = list(minimum)
    for group in ([j for j, n in enumerate(numeric) if not n], [j for j, n in enumerate(numeric) if n]):
        wanted = {j: natural[j] - widths[j] for j in group}
        total = sum(wanted.values())
        if total > 0:
            share = min(1.0, spare / total)
            for j in group:
                widths[j] += wanted[j] * share
            spare -= total * share
    return [math.ceil(w) for w in widths]


def _docx_fill(cell, text: Text, alignment, size=None) -> None:
    from docx.shared import Pt

    paragraph = cell.paragraphs[0]
    paragraph.alignment = alignment
    paragraph.paragraph_format.space_after = Pt(0)
    paragraph.paragraph_format.space_before = Pt(0)
    for run in add_runs(paragraph, text):
        if size is not None:
            run.font.size = size
