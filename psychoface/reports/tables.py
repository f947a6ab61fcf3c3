"""APA 7 tables: one :class:`ApaTable`, rendered to the terminal (rich), Markdown, LaTeX, HTML, Word
and CSV.

APA 7 table rules (Publication Manual, 7.8-7.21): a bold table number ("Table 1"), an italic title in
title case on the line below, horizontal rules only (top, under the column headings, bottom), column
headings in sentence case, numbers with the same decimals in a column (centered under their heading in
HTML, Word and LaTeX as in APA's sample tables; right-aligned, hence decimal-aligned, in the monospaced
terminal and Markdown), and notes under the table: a general note ("*Note.* ...") that defines
abbreviations and states the methods and the correction with its family, then a probability note when
stars are used. Every cell is formatted by :mod:`psychoface.reports.apa`.

Which columns a result shows and how (:class:`~psychoface.reports.columns.Column`, the general note,
:func:`~psychoface.reports.columns.register_columns` for a kind's own statistics) is
:mod:`psychoface.reports.columns`; the Word details are :mod:`psychoface.reports.word`.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

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
    italic,
    latex_escape,
    probability_note,
    stars,
    to_rich,
)
from psychoface.reports.columns import (  # noqa: F401  (register_columns: the kinds' entry point)
    NUMERIC_KINDS,
    Column,
    columns_for,
    general_note,
    names_in,
    register_columns,
    standard_header,
    two_lines,
)
from psychoface.reports.word import (
    DOCX_CELL_MARGINS,
    docx_cell_bottom_rule,
    docx_cell_margins,
    docx_columns,
    docx_fill,
    docx_fit,
    docx_repeat_header,
    docx_table_borders,
    w_tag,
)

if TYPE_CHECKING:  # annotations only: pandas is imported where it is used (fast CLI start-up)
    import pandas as pd

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


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------

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
        import pandas as pd
        if not isinstance(data, pd.DataFrame):
            raise PsychofaceError(f"ApaTable needs a pandas DataFrame, not {type(data).__name__}")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise PsychofaceError(f"table number {number!r} must be a whole number from 1")
        self.data = data
        self.attrs = data.attrs.get("psychoface", {}) or {}
        extra = [identifiers] if isinstance(identifiers, str) else identifiers
        self.title = title_case(str(title).strip(), names_in(data) | {str(n) for n in extra})
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
                out.append(standard_header(col.name, self.attrs, self.data)
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
            lines = two_lines(header) if is_numeric and len(header.plain) > m else None
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
        and fitted by :func:`docx_fit`: no column is narrower than its widest number or its longest
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
            normal.element.get_or_add_rPr().get_or_add_rFonts().set(w_tag("eastAsia"), "Times New Roman")
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
                for margin in DOCX_CELL_MARGINS:
                    widths = docx_fit(headers, self._cells, numeric, size, margin, available)
                    if widths is not None:
                        plan = landscape, size, margin, widths
                        break
                size -= 1
            if plan is not None:
                break
        if plan is None:  # too wide even turned and at the smallest size: shrink in proportion
            landscape, available, size = options[-1]
            margin = DOCX_CELL_MARGINS[-1]
            minimum, _ = docx_columns(headers, self._cells, numeric, size, margin)
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
        docx_table_borders(table)
        docx_cell_margins(table, margin)
        cell_size = Pt(size) if size != base else None
        for j, width in enumerate(widths):
            table.columns[j].width = Twips(width)
            for cell in table.columns[j].cells:
                cell.width = Twips(width)
        for j, header in enumerate(headers):
            cell = table.rows[0].cells[j]
            docx_fill(cell, header,
                       WD_ALIGN_PARAGRAPH.CENTER if numeric[j] else WD_ALIGN_PARAGRAPH.LEFT, cell_size)
            docx_cell_bottom_rule(cell)
        docx_repeat_header(table.rows[0])
        for i, row in enumerate(self._cells, start=1):
            cells = table.rows[i].cells
            for j, value in enumerate(row):
                docx_fill(cells[j], value,
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
