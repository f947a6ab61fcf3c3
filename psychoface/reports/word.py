"""Word (OOXML) helpers of APA tables: borders, cell margins, repeated header rows and column widths
measured in Times New Roman (python-docx offers none of them; child elements keep the schema's order)."""

from __future__ import annotations

import math
import re

from psychoface.reports.apa import Segment, Text, add_runs

_DOCX_RULE = {"val": "single", "sz": "8", "space": "0", "color": "000000"}


# --------------------------------------------------------------------------------------------------
# Word helpers (OOXML: child elements must keep the schema's order)
# --------------------------------------------------------------------------------------------------
def w_tag(tag: str) -> str:
    from docx.oxml.ns import qn

    return qn(f"w:{tag}")


def _insert_ordered(parent, child, successors: tuple[str, ...]) -> None:
    """Insert ``child`` before the first existing element named in ``successors`` (schema order)."""
    for name in successors:
        found = parent.find(w_tag(name))
        if found is not None:
            found.addprevious(child)
            return
    parent.append(child)


def _border(tag: str, rule: bool):
    from docx.oxml import OxmlElement

    el = OxmlElement(f"w:{tag}")
    if rule:
        for key, value in _DOCX_RULE.items():
            el.set(w_tag(key), value)
    else:
        el.set(w_tag("val"), "nil")
    return el


def docx_table_borders(table) -> None:
    """Table-level borders: a rule at top and bottom, nothing else (no vertical rules)."""
    from docx.oxml import OxmlElement

    tbl_pr = table._tbl.tblPr
    for old in tbl_pr.findall(w_tag("tblBorders")):
        tbl_pr.remove(old)
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_border(edge, edge in ("top", "bottom")))
    _insert_ordered(tbl_pr, borders, ("shd", "tblLayout", "tblCellMar", "tblLook", "tblCaption",
                                      "tblDescription"))


def docx_cell_margins(table, margin: int) -> None:
    """Left and right cell margins of ``margin`` twips, none at top and bottom, for the whole table."""
    from docx.oxml import OxmlElement

    tbl_pr = table._tbl.tblPr
    for old in tbl_pr.findall(w_tag("tblCellMar")):
        tbl_pr.remove(old)
    margins = OxmlElement("w:tblCellMar")
    for edge in ("top", "left", "bottom", "right"):
        el = OxmlElement(f"w:{edge}")
        el.set(w_tag("w"), str(margin if edge in ("left", "right") else 0))
        el.set(w_tag("type"), "dxa")
        margins.append(el)
    _insert_ordered(tbl_pr, margins, ("tblLook", "tblCaption", "tblDescription"))


def docx_cell_bottom_rule(cell) -> None:
    """A rule under a heading cell."""
    from docx.oxml import OxmlElement

    tc_pr = cell._tc.get_or_add_tcPr()
    borders = OxmlElement("w:tcBorders")
    borders.append(_border("bottom", True))
    _insert_ordered(tc_pr, borders, ("shd", "noWrap", "tcMar", "textDirection", "tcFitText", "vAlign",
                                     "hideMark"))


def docx_repeat_header(row) -> None:
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
DOCX_CELL_MARGINS = (115, 58)
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


def docx_columns(headers: list[Text], rows: list[list[Text]], numeric: list[bool],
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


def docx_fit(headers: list[Text], rows: list[list[Text]], numeric: list[bool], font_pt: float,
              margin: int, available: int) -> list[int] | None:
    """Column widths in twips within ``available`` twips at ``font_pt``, or None when the minima
    (:func:`docx_columns`) do not fit. Every column gets its minimum; the rest of the text width
    goes to the text columns first, up to their natural widths (labels and notes unwrapped), then to
    the numeric columns (headings on one line); what is still left stays outside the table."""
    minimum, natural = docx_columns(headers, rows, numeric, font_pt, margin)
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


def docx_fill(cell, text: Text, alignment, size=None) -> None:
    from docx.shared import Pt

    paragraph = cell.paragraphs[0]
    paragraph.alignment = alignment
    paragraph.paragraph_format.space_after = Pt(0)
    paragraph.paragraph_format.space_before = Pt(0)
    for run in add_runs(paragraph, text):
        if size is not None:
            run.font.size = size
