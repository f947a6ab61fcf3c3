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
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_bytes, atomic_write_text
from psychoface.reports.apa import (
    MISSING,
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
    analysis_kind,
    correction_of,
    correction_phrase,
    method_text,
    with_details,
)

KINDS = ("text", "bounded", "unbounded", "p", "integer", "df", "ci")
NUMERIC_KINDS = ("bounded", "unbounded", "p", "integer", "df", "ci")

#: LaTeX packages the output of :meth:`ApaTable.to_latex` needs.
LATEX_PREAMBLE = (
    "\\usepackage{booktabs,threeparttable,upgreek}\n"
    "\\usepackage[labelfont=bf,textfont=it,labelsep=newline,singlelinecheck=false]{caption}"
)


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


def title_case(text: str) -> str:
    """APA title case: capitalize major words and words of four letters or more (both parts of a
    hyphenated word), lowercase minor words of three letters or fewer (conjunctions, articles,
    prepositions) except the first word and the first word after a colon, dash, ? or !. Words that
    carry digits or inner capitals (``fc7``, ``RDM``, ``MobileNetV2``) are left as they are."""
    out = []
    first = True
    for word in text.split(" "):
        if not word:
            out.append(word)
            continue
        parts = []
        for j, part in enumerate(word.split("-")):
            m = _WORD.match(part)
            if m is None or any(c.isdigit() for c in part) or any(c.isupper() for c in m.group(2)[1:]):
                parts.append(part)
                continue
            lead, core, trail = m.groups()
            minor = core.lower() in _MINOR_WORDS and not (first and j == 0)
            parts.append(lead + (core.lower() if minor else core[0].upper() + core[1:]) + trail)
        out.append("-".join(parts))
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
_HIDDEN = frozenset({"method", "n_pairs", "alpha_median", "excluded_stimuli", "ratings_min",
                     "ratings_max", "n_splits", "type_mw", "description", "stimuli_dropped",
                     "raters_dropped", "repeats_averaged", "n_constant"})
_ABBREVIATIONS = {
    "rmse": "RMSE = root-mean-square error",
    "mae": "MAE = mean absolute error",
    "icc": "ICC = intraclass correlation coefficient",
}


def _delta_text(stat: str) -> Text:
    """Δr, Δρ, Δτ: the heading of a difference between two correlations."""
    return Text(greek("Δ"), symbol(stat).text)


def _p_corr_header(attrs: dict) -> Text:
    key, _ = correction_of(attrs)
    return Text(italic("p"), sub(_CORRECTION_SUBSCRIPTS.get(key, "corr")))


def _williams(data: pd.DataFrame) -> bool:
    """A williams_test/steiger_z table, where ``r2`` is the second correlation, not R²."""
    return "r12" in data.columns


def _standard_header(name: str, attrs: dict, data: pd.DataFrame) -> "Text | None":
    if name == "p_corr":
        return _p_corr_header(attrs)
    if name in ("difference", "diff"):
        return _delta_text({"rho": "rho", "tau": "tau"}.get(str(attrs.get("statistic")), "r"))
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


def _empty(series: pd.Series) -> bool:
    return bool(series.map(lambda v: v is None or (isinstance(v, str) and not v.strip())
                           or (isinstance(v, float) and math.isnan(v))).all())


def columns_for(data: pd.DataFrame) -> list[Column]:
    """Column specs picked from psychoface's column names: ``r``, ``rho``, ``tau``, ``r2``, ``icc``,
    ``reliability``, ``noise_ceiling`` (bounded: no leading zero), ``t``, ``z``, ``F``, ``rmse``,
    ``r_normalized``, ``difference`` (unbounded), ``p``, ``p_corr``, ``p_steiger``, ``p_bootstrap``,
    ``n``, ``df``, ``df1``, ``df2``, ... A ``ci_low``/``ci_high`` pair becomes one CI column right
    after the estimate it belongs to (the first of ``r``, ``rho``, ``tau``, partial correlations,
    ``reliability``, ``icc``, ``difference``; any ``<x>_ci_low``/``<x>_ci_high`` pair after ``x``).
    Bookkeeping columns (``method``, ``n_pairs``, ``alpha_median``, ``n_splits``, ...) and columns
    with no value stay out (the CSV keeps them); other numeric columns get two decimals with a
    leading zero, other columns are text."""
    names = [n for n in data.columns if n not in _HIDDEN and not _empty(data[n])]
    columns: list[Column] = []
    intervals: list[tuple[Column, str | None, int]] = []
    for name in names:
        if name.endswith("_high") and f"{name[:-5]}_low" in names:
            continue
        if name.endswith("_low") and f"{name[:-4]}_high" in names:
            stem = name[:-4]
            owner = (stem[:-3] if stem.endswith("_ci") and stem[:-3] in names
                     else next((o for o in _CI_OWNERS if o in names), None) if stem == "ci" else None)
            owner_kind = _kind_of(owner, data[owner]) if owner else "bounded"
            bounded = owner_kind == "bounded" and _within_one(data, (name, f"{stem}_high"))
            intervals.append((Column(stem, kind="ci", bounded=bounded), owner, len(columns)))
            continue
        spec = _STAT_COLUMNS.get(name, ())
        decimals = spec[2] if len(spec) > 2 else None
        columns.append(Column(name, kind=_kind_of(name, data[name]), decimals=decimals))
    for interval, owner, position in reversed(intervals):
        at = next((i + 1 for i, c in enumerate(columns) if c.name == owner), position)
        columns.insert(at, interval)
    return columns


# --------------------------------------------------------------------------------------------------
# notes
# --------------------------------------------------------------------------------------------------
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
    if "r_normalized" in names:
        definitions.append(Text("normalized ", italic("r"), " = ", italic("r"),
                                " divided by the noise ceiling"))
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
    return Text(" ").join(sentences)


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
    """

    def __init__(self, data: pd.DataFrame, title: str, columns: list[Column] | None = None,
                 note: "str | Text | None" = None, number: int = 1, *, stars: bool = False,
                 ci_level: float | None = None):
        if not isinstance(data, pd.DataFrame):
            raise PsychofaceError(f"ApaTable needs a pandas DataFrame, not {type(data).__name__}")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise PsychofaceError(f"table number {number!r} must be a whole number from 1")
        self.data = data
        self.attrs = data.attrs.get("psychoface", {}) or {}
        self.title = title_case(str(title).strip())
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
        """A :class:`rich.table.Table`: horizontal rules only, bold number, italic title, notes below."""
        from rich import box
        from rich.table import Table
        from rich.text import Text as RichText

        title = RichText.assemble((f"Table {self.number}", "bold"), "\n", (self.title, "italic"))
        caption = RichText("\n").join(to_rich(n) for n in self.notes()) if self.notes() else None
        table = Table(title=title, caption=caption, title_justify="left", caption_justify="left",
                      box=box.HORIZONTALS, show_edge=True, header_style="", title_style="",
                      caption_style="", pad_edge=False)
        for header, numeric in zip(self.headers(), self._numeric()):
            table.add_column(to_rich(header), justify="right" if numeric else "left",
                             no_wrap=numeric)
        for row in self._cells:
            table.add_row(*(to_rich(c) for c in row))
        return table

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
        class styles the caption by itself)."""
        spec = "".join("c" if n else "l" for n in self._numeric())
        slug = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or str(self.number)
        lines = [
            "% needs " + LATEX_PREAMBLE.replace("\n", "\n% "),
            "\\begin{table}[htbp]",
            "\\centering",
            "\\begin{threeparttable}",
            f"\\caption{{{latex_escape(self.title)}}}",
            f"\\label{{tab:{slug}}}",
            f"\\begin{{tabular}}{{{spec}}}",
            "\\toprule",
            " & ".join(h.render("latex") for h in self.headers()) + " \\\\",
            "\\midrule",
        ]
        lines += [" & ".join(c.render("latex") for c in row) + " \\\\" for row in self._cells]
        lines += ["\\bottomrule", "\\end{tabular}"]
        if self.notes():
            lines += ["\\begin{tablenotes}[flushleft]", "\\small"]
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
        borders only at the top, under the headings and at the bottom, then the notes."""
        import docx
        from docx.document import Document as DocxDocument
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
        number = document.add_paragraph()
        add_runs(number, f"Table {self.number}", bold=True)
        title = document.add_paragraph()
        add_runs(title, self.title, italic=True)
        for p in (number, title):
            p.paragraph_format.keep_with_next = True
            p.paragraph_format.space_after = Pt(0)
        title.paragraph_format.space_after = Pt(6)

        numeric = self._numeric()
        headers = self.headers()
        table = document.add_table(rows=len(self._cells) + 1, cols=len(self.columns))
        table.alignment = WD_TABLE_ALIGNMENT.LEFT
        table.autofit = False  # fixed layout: the fitted widths below hold in Word and LibreOffice
        _docx_table_borders(table)
        section = document.sections[-1]
        available = (section.page_width - section.left_margin - section.right_margin) // 635
        base = document.styles["Normal"].font.size
        base = base.pt if base else 12.0
        # a table too wide for the text block is set smaller, down to 10 pt, before any heading wraps
        # inside a word
        size = base
        while size > 10 and sum(_docx_widths(headers, self._cells, size, 0)) > available:
            size -= 1
        cell_size = Pt(size) if size != base else None
        widths = _docx_widths(headers, self._cells, size, available)
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


def apa_table_for(df: pd.DataFrame, title: str | None = None, number: int = 1, *,
                  stars: bool = False) -> ApaTable:
    """An :class:`ApaTable` for an analysis result: columns from psychoface's column names
    (:func:`columns_for`: bookkeeping and empty columns left out, the CSV keeps them), the general
    note from ``df.attrs["psychoface"]``, and a title from its ``analysis`` when none is given."""
    attrs = df.attrs.get("psychoface", {}) or {}
    if title is None:
        title = _DEFAULT_TITLES.get(analysis_kind(attrs), "Results")
    return ApaTable(df, title, number=number, stars=stars)


_DEFAULT_TITLES = {
    "reliability": "Split-half reliability of the mean ratings",
    "icc": "Intraclass correlations of the ratings",
    "predict": "Cross-validated ridge prediction of the mean ratings",
    "rsa": "Representational similarity between layers and ratings",
    "rsa_compare": "Comparison of two layers' representational similarity with the ratings",
    "correlate": "Units that correlate with the mean ratings",
    "compare": "Comparison of two layers or models",
}


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


def _em(text: str) -> float:
    """Approximate width of ``text`` in ems in a Times-like serif (digits are half an em)."""
    width = 0.0
    for c in text:
        if c.isdigit() or c in "*_":
            width += 0.5
        elif c.isspace() or c in ".,;:'|":
            width += 0.25
        elif c in "ijlrtf":
            width += 0.3
        elif c in "[]()":
            width += 0.33
        elif c.isupper() or c in "mw−<>=+—":
            width += 0.72
        else:
            width += 0.45
    return width


def _docx_widths(headers: list[Text], rows: list[list[Text]], font_pt: float,
                 available: int) -> list[int]:
    """Column widths in twips fitted to the content: the widest cell, or the widest word of the
    heading (headings may wrap between words). When the table would exceed the text width, heading
    slack goes first, then all columns shrink in proportion. Widths must be explicit: LibreOffice
    lays out by the grid, whatever Word's autofit would do."""
    twips_per_em = font_pt * 20
    padding = 2 * 115 + twips_per_em * 0.25  # Word's default cell margins and a quarter em of air
    cells = [max((_em(row[j].plain) for row in rows), default=0.0) * twips_per_em + padding
             for j in range(len(headers))]
    words = [max((_em(w) for w in h.plain.split()), default=0.0) * twips_per_em + padding
             for h in headers]
    widths = [max(c, w) for c, w in zip(cells, words)]
    excess = sum(widths) - available
    if available > 0 and excess > 0:  # available = 0: the natural widths
        slack = [w - c for w, c in zip(widths, cells)]
        if sum(slack) >= excess:
            widths = [w - excess * s / sum(slack) for w, s in zip(widths, slack)]
        else:
            widths = [c * available / sum(cells) for c in cells]
    return [int(w) for w in widths]


def _docx_fill(cell, text: Text, alignment, size=None) -> None:
    from docx.shared import Pt

    paragraph = cell.paragraphs[0]
    paragraph.alignment = alignment
    paragraph.paragraph_format.space_after = Pt(0)
    paragraph.paragraph_format.space_before = Pt(0)
    for run in add_runs(paragraph, text):
        if size is not None:
            run.font.size = size
