"""APA tables in every format: cells, rules, notes, escaping, and Word files parsed back."""

import re
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import MINUS, fmt_number, fmt_p
from psychoface.reports.tables import ApaTable, Column, apa_table_for, columns_for, general_note, title_case

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture
def result():
    df = pd.DataFrame({
        "attribute": ["trustworthy", "attractive", "well_groomed"],
        "layer": ["fc7"] * 3,
        "n": [500, 500, 498],
        "r": [0.3412, 0.9996, -0.04],
        "ci_low": [0.28, 0.99, -0.13],
        "ci_high": [0.40, 1.0, 0.05],
        "p": [0.0004, 0.0005, 0.9995],
        "p_corr": [0.0012, 0.0015, 1.0],
        "noise_ceiling": [0.76, 0.88, 0.5],
        "r_normalized": [0.449, 1.136, -0.08],
    })
    df.attrs["psychoface"] = {
        "analysis": "predict", "seed": 0, "ci_level": 0.95, "ci_method": "percentile bootstrap",
        "n_bootstrap": 5000, "p_method": "refitting permutation", "n_permutations": 1000,
        "correction": "holm", "family": "attributes",
    }
    return df


ROWS_PLAIN = [
    ["trustworthy", "fc7", "500", ".34", "[.28, .40]", "< .001", ".001", ".76", "0.45"],
    ["attractive", "fc7", "500", "1.00", "[.99, 1.00]", "< .001", ".002", ".88", "1.14"],
    ["well_groomed", "fc7", "498", f"{MINUS}.04", f"[{MINUS}.13, .05]", "> .999", "> .999", ".50",
     f"{MINUS}0.08"],
]
HEADERS_PLAIN = ["Attribute", "Layer", "n", "r", "95% CI", "p", "p_Holm", "Noise ceiling", "Normalized r"]
NOTE_PLAIN = (
    "Note. CI = confidence interval; normalized r = r divided by the noise ceiling; p_Holm = p value "
    "Holm-corrected across 3 attributes. CIs: percentile bootstrap (5,000 resamples). p values: "
    "refitting permutation (1,000 permutations; p = (b + 1)/(N + 1))."
)


def test_columns_cells_and_note(result):
    table = apa_table_for(result)
    assert [(c.name, c.kind) for c in table.columns] == [
        ("attribute", "text"), ("layer", "text"), ("n", "integer"), ("r", "bounded"), ("ci", "ci"),
        ("p", "p"), ("p_corr", "p"), ("noise_ceiling", "bounded"), ("r_normalized", "unbounded")]
    assert [h.plain for h in table.headers()] == HEADERS_PLAIN
    assert [[c.plain for c in row] for row in table.rows()] == ROWS_PLAIN
    assert [n.plain for n in table.notes()] == [NOTE_PLAIN]
    assert table.title == "Cross-Validated Ridge Prediction of the Mean Ratings"


def test_ci_columns_follow_their_estimate():
    df = pd.DataFrame({"rmse": [3.2], "ci_low": [0.1], "ci_high": [0.3], "r": [0.2],
                       "nc": [1.2], "nc_ci_low": [0.9], "nc_ci_high": [1.5], "count": [3], "label": ["x"],
                       "method": ["spearman"], "note": [""]})
    cols = columns_for(df)
    assert [(c.name, c.kind, c.bounded) for c in cols] == [
        ("rmse", "unbounded", True), ("r", "bounded", True), ("ci", "ci", True),
        ("nc", "unbounded", True), ("nc_ci", "ci", False), ("count", "integer", True),
        ("label", "text", True)]  # bookkeeping ("method") and empty ("note") columns stay out
    table = ApaTable(df, "t")
    assert [c.plain for c in table.rows()[0]] == [
        "3.20", ".20", "[.10, .30]", "1.20", "[0.90, 1.50]", "3", "x"]
    assert [h.plain for h in table.headers()] == ["RMSE", "r", "95% CI", "Nc", "95% CI", "Count", "Label"]
    # a difference of correlations can exceed 1: its CI keeps the leading zero
    diff = columns_for(pd.DataFrame({"a": ["x"], "r_a": [0.4], "difference": [0.1], "ci_low": [0.05],
                                     "ci_high": [0.2]}))
    assert [(c.name, c.bounded) for c in diff][-2:] == [("difference", True), ("ci", False)]
    # the interval of a bounded estimate is written like it, whatever its other rows hold: a
    # Spearman-Brown reliability can fall below -1, and .90 still has [.80, .96], not [0.80, 0.96]
    rel = pd.DataFrame({"attribute": ["a", "b"], "reliability": [0.9, -0.5], "ci_low": [0.8, -3.2],
                        "ci_high": [0.96, 0.4]})
    assert [[c.plain for c in row] for row in ApaTable(rel, "t").rows()] == [
        ["a", ".90", "[.80, .96]"], ["b", f"{MINUS}.50", f"[{MINUS}3.20, .40]"]]
    # an interval without an estimate is bounded when all its bounds lie within [-1, 1]
    assert columns_for(pd.DataFrame({"ci_low": [-0.5], "ci_high": [0.5]}))[0].bounded
    assert not columns_for(pd.DataFrame({"ci_low": [0.5], "ci_high": [1.5]}))[0].bounded


def test_markdown_exact(result):
    md = ApaTable(result.iloc[[0, 2]], "prediction of ratings from fc7",
                  columns=[Column("attribute"), Column("r", kind="bounded"), Column("ci", kind="ci"),
                           Column("p_corr", kind="p")], note="Example note.").to_markdown()
    assert md == (
        "**Table 1**\n\n*Prediction of Ratings From fc7*\n\n"
        "| Attribute | *r* | 95% CI | *p*<sub>Holm</sub> |\n"
        "| :--- | ---: | ---: | ---: |\n"
        "| trustworthy | .34 | [.28, .40] | .001 |\n"
        "| well\\_groomed | -.04 | [-.13, .05] | > .999 |\n\n"
        "*Note.* Example note.\n"
    )


def test_latex_booktabs_escaping_and_notes(result):
    tex = apa_table_for(result, stars=True).to_latex()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{threeparttable}",
                 "\\begin{tablenotes}[flushleft]", "\\caption{Cross-Validated Ridge Prediction of the Mean Ratings}"):
        assert tex.count(rule) == 1, rule
    # no vertical rules, no outer padding; more than eight columns are set smaller
    assert "\\footnotesize\n\\setlength{\\tabcolsep}{4pt}\n\\begin{tabular}{@{}llccccccc@{}}" in tex
    assert "|" not in tex.split("\\begin{tabular}")[1].split("\n")[0]
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].splitlines()
    assert body[2] == ("well\\_groomed & fc7 & 498 & $-$.04 & [$-$.13, .05] & $>$ .999 & $>$ .999 & "
                       ".50 & $-$0.08 \\\\")
    assert body[0].startswith("trustworthy & fc7 & 500 & .34** & [.28, .40] & $<$ .001 & .001")
    header = tex.split("\\toprule\n")[1].splitlines()[0]
    # multi-word headings wider than their numbers are stacked on two lines
    assert header == ("Attribute & Layer & \\textit{n} & \\textit{r} & 95\\% CI & \\textit{p} & "
                      "\\textit{p}\\textsubscript{Holm} & \\begin{tabular}[b]{@{}c@{}}Noise\\\\ceiling\\end{tabular} & "
                      "\\begin{tabular}[b]{@{}c@{}}Normalized\\\\\\textit{r}\\end{tabular} \\\\")
    assert "\\item[] \\textit{Note.} CI = confidence interval;" in tex
    assert "\\item[] *\\textit{p} $<$ .05. **\\textit{p} $<$ .01. ***\\textit{p} $<$ .001." in tex
    escaped = ApaTable(pd.DataFrame({"name": ["50% & a_b #1"]}), "Costs & Benefits", note="").to_latex()
    assert "50\\% \\& a\\_b \\#1 \\\\" in escaped and "\\caption{Costs \\& Benefits}" in escaped
    assert "tablenotes" not in escaped
    assert "\\begin{tabular}{@{}l@{}}" in escaped and "footnotesize" not in escaped
    # a long text column wraps in a tabularx as wide as the text; a URL in a note is breakable
    long = ApaTable(pd.DataFrame({"attribute": ["a"], "r": [0.5], "note": ["x " * 30]}), "t",
                    note="See https://doi.org/10.1000/a_b.").to_latex()
    assert "\\begin{tabularx}{\\linewidth}{@{}lc>{\\raggedright\\arraybackslash}X@{}}" in long
    assert "\\end{tabularx}" in long and "\\url{https://doi.org/10.1000/a_b}." in long


class _Balance(HTMLParser):
    """Checks that every opened element is closed in order and collects styles and attributes."""

    VOID = {"meta", "br", "hr", "img", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.attrs, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.attrs.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def test_html_valid_and_horizontal_rules_only(result):
    page = apa_table_for(result, stars=True).to_html()
    parser = _Balance()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
    css = page.split("<style>")[1].split("</style>")[0]
    assert "border-left" not in css and "border-right" not in css
    assert "border-top: 1px solid #000" in css and "border-bottom: 1px solid #000" in css
    assert ".apa-table-title { font-style: italic" in css
    assert all("border" not in a and "style" not in a for _, a in parser.attrs)
    assert '<p class="apa-table-number">Table 1</p>' in page
    assert "<td class=\"num\">&minus;.04</td>" in page and "<td class=\"num\">&lt; .001</td>" in page
    assert "<th class=\"num\" scope=\"col\"><i>p</i><sub>Holm</sub></th>" in page
    assert '<p class="apa-table-note"><i>Note.</i> CI = confidence interval;' in page
    assert "<td class=\"num\">.34**</td>" in page
    fragment = apa_table_for(result).to_html(standalone=False)
    assert fragment.startswith('<div class="apa-table">') and "<style>" not in fragment
    import lxml.html

    tree = lxml.html.fromstring(page)
    cells = [td.text_content() for td in tree.xpath("//tbody/tr[3]/td")]
    assert cells == ROWS_PLAIN[2]


def _borders(element, tag):
    from docx.oxml.ns import qn

    found = element.find(qn(f"w:{tag}"))
    if found is None:
        return None
    return {child.tag.split("}")[1]: child.get(qn("w:val")) for child in found}


def test_docx_parsed_back(result, tmp_path):
    import docx
    from docx.oxml.ns import qn

    path = apa_table_for(result, stars=True).to_docx(tmp_path / "table.docx")
    assert path == tmp_path / "table.docx"
    document = docx.Document(str(path))
    normal = document.styles["Normal"].font
    assert normal.name == "Times New Roman" and normal.size.pt == 12
    paragraphs = document.paragraphs
    assert paragraphs[0].text == "Table 1" and all(r.bold for r in paragraphs[0].runs)
    assert paragraphs[1].text == "Cross-Validated Ridge Prediction of the Mean Ratings"
    assert all(r.italic for r in paragraphs[1].runs) and not any(r.bold for r in paragraphs[1].runs)
    table = document.tables[0]
    cells = [[c.text for c in row.cells] for row in table.rows]
    assert cells[0] == HEADERS_PLAIN[:6] + ["pHolm"] + HEADERS_PLAIN[7:]
    expected = [list(r) for r in ROWS_PLAIN]
    expected[0][3] += "**"
    expected[1][3] += "**"
    assert cells[1:] == expected
    # the symbol runs are italic, the subscript is a subscript
    header_runs = {c.text: [(r.text, bool(r.italic), bool(r.font.subscript)) for r in c.paragraphs[0].runs]
                   for c in table.rows[0].cells}
    assert header_runs["pHolm"] == [("p", True, False), ("Holm", False, True)]
    assert header_runs["Normalized r"] == [("Normalized ", False, False), ("r", True, False)]
    # horizontal rules only: top and bottom of the table, under the heading cells
    tbl_borders = _borders(table._tbl.tblPr, "tblBorders")
    assert tbl_borders == {"top": "single", "left": "nil", "bottom": "single", "right": "nil",
                           "insideH": "nil", "insideV": "nil"}
    for cell in table.rows[0].cells:
        assert _borders(cell._tc.tcPr, "tcBorders") == {"bottom": "single"}
    for row in table.rows[1:]:
        for cell in row.cells:
            assert _borders(cell._tc.tcPr, "tcBorders") is None
    assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    # APA margins of 1 in; fixed column widths fitted to the content within the text block: the nine
    # columns keep 12 pt with cell margins of 0.04 in (with Word's 0.08 in a heading would break
    # inside a word)
    _headings_fit(document)
    section = document.sections[0]
    assert section.left_margin.inches == section.right_margin.inches == 1
    text_width = (section.page_width - section.left_margin - section.right_margin) // 635
    grid = [int(col.get(qn("w:w"))) for col in table._tbl.tblGrid]
    assert sum(grid) <= text_width and min(grid) > 500
    assert table._tbl.tblPr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
    assert {r.font.size for c in table.rows[1].cells for r in c.paragraphs[0].runs} == {None}
    assert table._tbl.tblPr.find(qn("w:tblCellMar")).find(qn("w:left")).get(qn("w:w")) == "58"
    narrow = docx.Document(str(ApaTable(result[["attribute", "r"]], "t").to_docx(tmp_path / "n.docx")))
    assert {r.font.size for c in narrow.tables[0].rows[1].cells for r in c.paragraphs[0].runs} == {None}
    assert narrow.tables[0]._tbl.tblPr.find(qn("w:tblCellMar")).find(qn("w:left")).get(qn("w:w")) == "115"
    note, stars_note = paragraphs[2], paragraphs[3]
    assert note.runs[0].text == "Note." and note.runs[0].italic
    assert note.text == NOTE_PLAIN.replace("p_Holm", "pHolm")  # a real subscript in Word
    assert stars_note.text == "*p < .05. **p < .01. ***p < .001."


def _afm_widths(name: str) -> dict:
    """Advance widths (1/1000 em) from one of Adobe's core-font metric files shipped with matplotlib."""
    import matplotlib

    widths = {}
    for line in (Path(matplotlib.get_data_path()) / "fonts" / "afm" / name).read_text(errors="replace").splitlines():
        m = re.match(r"C (\d+) ; WX (\d+) ;", line)
        if m and 32 <= int(m[1]) <= 126:
            widths[chr(int(m[1]))] = int(m[2])
    return widths


def _headings_fit(document) -> None:
    """Every heading word of every table fits inside its column less its cell margins, so that Word
    and LibreOffice wrap headings only between words. Widths from the Times metrics (Times New
    Roman and Liberation Serif share them; italic runs in Times-Italic), scripts at 2/3 of the size,
    any other character (Greek, minus, ²) a full em."""
    from docx.oxml.ns import qn

    roman, italic_ = _afm_widths("ptmr8a.afm"), _afm_widths("ptmri8a.afm")
    normal = document.styles["Normal"].font.size.pt
    for table in document.tables:
        grid = [int(col.get(qn("w:w"))) for col in table._tbl.tblGrid]
        margins = table._tbl.tblPr.find(qn("w:tblCellMar"))
        margin = sum(int(margins.find(qn(f"w:{edge}")).get(qn("w:w"))) for edge in ("left", "right"))
        for width, cell in zip(grid, table.rows[0].cells):
            words, current = [], 0.0
            for run in cell.paragraphs[0].runs:
                size = (run.font.size.pt if run.font.size else normal) * (
                    2 / 3 if run.font.subscript or run.font.superscript else 1)
                metrics = italic_ if run.italic else roman
                for c in run.text:
                    if c.isspace():
                        words.append(current)
                        current = 0.0
                    else:
                        current += metrics.get(c, 1000) / 1000 * size
            words.append(current)
            assert max(words) * 20 + margin <= width, (cell.text, max(words) * 20, width)


def test_docx_wide_tables_fit_without_breaking_headings(tmp_path):
    """An eleven-column prediction table (as the predict section writes it) fits a portrait page at
    a smaller size; a sixteen-column one goes onto a landscape page of its own; headings never break
    inside a word, numbers never wrap."""
    import docx
    from docx.enum.section import WD_ORIENT
    from docx.oxml.ns import qn
    from docx.shared import Pt

    rng = np.random.default_rng(0)
    attrs = ["trustworthy", "middle-eastern", "looks-like-you", "well-groomed", "age"]
    predict = pd.DataFrame({"layer": "conv_last", "attribute": attrs, "n": 500, "r": rng.uniform(0, 1, 5),
                            "r2": rng.uniform(-0.1, 0.9, 5), "rmse": rng.uniform(5, 20, 5),
                            "ci_low": 0.1, "ci_high": 0.95, "p": 0.000999, "p_corr": 0.17,
                            "alpha_relative_median": 10.0, "noise_ceiling": 0.9, "r_normalized": rng.uniform(0, 1.2, 5)})
    predict.attrs["psychoface"] = {"analysis": "predict", "correction": "holm", "family": "attributes"}
    table = apa_table_for(predict)
    assert len(table.columns) == 11
    document = docx.Document(str(table.to_docx(tmp_path / "predict.docx")))
    _headings_fit(document)
    section = document.sections[0]
    assert section.orientation == WD_ORIENT.PORTRAIT
    grid = [int(col.get(qn("w:w"))) for col in document.tables[0]._tbl.tblGrid]
    assert sum(grid) <= (section.page_width - section.left_margin - section.right_margin) // 635
    sizes = {r.font.size.pt for c in document.tables[0].rows[1].cells for r in c.paragraphs[0].runs}
    assert len(sizes) == 1 and 10 <= sizes.pop() < 12
    margins = document.tables[0]._tbl.tblPr.find(qn("w:tblCellMar"))
    assert margins.find(qn("w:left")).get(qn("w:w")) == "58"  # narrower cell margins first

    compare = pd.DataFrame([{"a": "features.28_relu", "b": "classifier.4_fc7", "attribute": "looks-like-you",
                             "n": 500, "r_a": 0.45, "r_b": 0.38, "r_ab": 0.6, "difference": 0.07,
                             "ci_low": -0.02, "ci_high": 0.12, "t": 2.31, "df": 497, "p": 0.021, "z": 2.3,
                             "p_steiger": 0.022, "p_bootstrap": 0.004, "p_corr": 0.5}] * 3)
    compare.attrs["psychoface"] = {"analysis": "compare_correlations", "correction": "holm"}
    document = docx.Document()
    document.styles["Normal"].font.size = Pt(12)
    document.add_paragraph("Before.")
    apa_table_for(compare).to_docx(document)
    document.add_paragraph("After.")
    document.save(tmp_path / "compare.docx")
    back = docx.Document(str(tmp_path / "compare.docx"))
    assert [s.orientation for s in back.sections] == [WD_ORIENT.PORTRAIT, WD_ORIENT.LANDSCAPE,
                                                      WD_ORIENT.PORTRAIT]
    turned = back.sections[1]
    assert turned.page_width > turned.page_height and turned.left_margin == back.sections[0].left_margin
    # the table lies in the landscape section: the first section break after it is landscape
    body = list(back.element.body)
    after = next(el for el in body[body.index(back.tables[0]._tbl):] if el.findall(".//" + qn("w:sectPr")))
    assert after.find(".//" + qn("w:pgSz")).get(qn("w:orient")) == "landscape"
    assert back.paragraphs[-1].text == "After."
    _headings_fit(back)
    grid = [int(col.get(qn("w:w"))) for col in back.tables[0]._tbl.tblGrid]
    assert sum(grid) <= (turned.page_width - turned.left_margin - turned.right_margin) // 635
    cells = [c.text for c in back.tables[0].rows[1].cells]
    assert cells[:3] == ["features.28_relu", "classifier.4_fc7", "looks-like-you"]
    assert f"[{MINUS}0.02, 0.12]" in cells


def test_docx_missing_values_are_dashes(tmp_path):
    import docx

    df = pd.DataFrame({"attribute": ["x", "y"], "r": [np.nan, 0.5], "ci_low": [np.nan, 0.1],
                       "ci_high": [np.nan, 0.8], "p": [np.nan, 0.2]})
    table = docx.Document(str(ApaTable(df, "t").to_docx(tmp_path / "nan.docx"))).tables[0]
    assert [c.text for c in table.rows[1].cells] == ["x", "\u2014", "[\u2014, \u2014]", "\u2014"]
    assert [c.text for c in table.rows[2].cells] == ["y", ".50", "[.10, .80]", ".200"]


def test_docx_into_an_existing_document_keeps_its_font(result):
    import docx
    from docx.shared import Pt

    document = docx.Document()
    document.styles["Normal"].font.name = "Calibri"
    document.styles["Normal"].font.size = Pt(11)
    document.add_paragraph("Results")
    returned = ApaTable(result, "first", number=1).to_docx(document)
    ApaTable(result, "second", number=2).to_docx(document)
    assert returned is document and len(document.tables) == 2
    assert document.styles["Normal"].font.name == "Calibri"
    assert [p.text for p in document.paragraphs if p.text.startswith("Table")] == ["Table 1", "Table 2"]


def test_terminal_rich_table(result):
    from rich.console import Console

    console = Console(record=True, width=140, color_system=None)
    console.print(apa_table_for(result))
    text = console.export_text()
    lines = text.splitlines()
    assert lines[0].strip() == "Table 1"
    assert lines[1].strip() == "Cross-Validated Ridge Prediction of the Mean Ratings"
    assert "│" not in text and "|" not in text  # no vertical rules
    rules = [i for i, line in enumerate(lines) if set(line.strip()) == {"─"}]
    assert len(rules) == 3  # top, under the headings, bottom
    assert lines[rules[1] + 3].split() == ["well_groomed", "fc7", "498", f"{MINUS}.04",
                                           f"[{MINUS}.13,", ".05]", ">", ".999", ">", ".999", ".50",
                                           f"{MINUS}0.08"]
    assert "Note. CI = confidence interval" in text


def test_terminal_at_80_columns(result):
    """A table too wide for an 80-column terminal is split into panels that repeat the row labels:
    no number, label or heading word is cut ("…"), no line is longer than the console."""
    from rich.console import Console

    wide = result.assign(layer="conv_last", r2=[0.1, 0.2, -0.01], rmse=7.48,
                         note=["", "", "reliability is low; 3 stimuli were excluded"])
    table = apa_table_for(wide)
    assert len(table.columns) == 12
    console = Console(record=True, width=80, color_system=None)
    console.print(table)
    text = console.export_text()
    lines = text.splitlines()
    assert "\u2026" not in text and max(map(len, lines)) <= 80
    assert lines[:2] == ["Table 1", "Cross-Validated Ridge Prediction of the Mean Ratings"]
    panels = text.count("Table 1 (continued)") + 1
    assert panels >= 2
    # the row labels (attribute, the first column) are repeated whole in every panel, on one line
    assert sum(line.split()[0] == "well_groomed" for line in lines if line.split()) == panels
    # every number is whole on one line; every heading word is whole
    numeric = [j for j, c in enumerate(table.columns) if c.kind != "text"]
    for row in table.rows():
        for j in numeric:
            assert any(row[j].plain in line for line in lines), row[j].plain
    for header in table.headers():
        for word in header.plain.split():
            assert re.search(rf"(^|\s){re.escape(word)}(\s|$)", text), word
    assert "reliability is low; 3 stimuli were excluded" in " ".join(" ".join(lines).split())
    # a table that fits stays one panel
    console = Console(record=True, width=140, color_system=None)
    console.print(apa_table_for(result))
    assert "continued" not in console.export_text()


def test_csv_raw_numbers(result, tmp_path):
    table = apa_table_for(result)
    text = table.to_csv(tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == text
    back = pd.read_csv(StringIO(text))
    assert list(back.columns) == list(result.columns)
    pd.testing.assert_frame_equal(back, result, check_dtype=False)


def test_stars_and_probability_note(result):
    table = apa_table_for(result, stars=True)
    assert [row[3].plain for row in table.rows()] == [".34**", "1.00**", f"{MINUS}.04"]
    assert table.notes()[-1].plain == "*p < .05. **p < .01. ***p < .001."
    with pytest.raises(PsychofaceError, match="stars need"):
        ApaTable(result[["attribute", "r"]], "x", stars=True)


def test_notes_for_uncorrected_and_custom():
    df = pd.DataFrame({"rho": [0.2], "p": [0.03], "rmse": [1.5]})
    df.attrs["psychoface"] = {"correction": "holm", "p_method": "Mantel permutation",
                              "n_permutations": 10000}
    note = general_note(df)
    assert note.plain == ("RMSE = root-mean-square error. p values: Mantel permutation (10,000 "
                          "permutations; p = (b + 1)/(N + 1)). p values are uncorrected for multiple "
                          "comparisons.")
    assert ApaTable(df, "t", note="").notes() == []
    assert [n.plain for n in ApaTable(df, "t", note="Own.").notes()] == ["Note. Own."]


def test_bad_input_is_a_user_error(result):
    with pytest.raises(PsychofaceError, match="'missing'"):
        ApaTable(result, "t", columns=[Column("missing", kind="bounded")])
    with pytest.raises(PsychofaceError, match="'r', row 2"):
        bad = result.astype({"r": object})
        bad.loc[1, "r"] = "n/a"
        ApaTable(bad, "t", columns=[Column("r", kind="bounded")])
    with pytest.raises(PsychofaceError, match="row 3.*outside"):
        ApaTable(result.assign(p=[0.1, 0.2, 1.7]), "t", columns=[Column("p", kind="p")])
    with pytest.raises(PsychofaceError, match="kind"):
        Column("r", kind="percent")
    with pytest.raises(PsychofaceError, match="DataFrame"):
        ApaTable([[1]], "t")
    with pytest.raises(PsychofaceError, match="number"):
        ApaTable(result, "t", number=0)
    with pytest.raises(PsychofaceError, match="path or a python-docx Document"):
        ApaTable(result, "t").to_docx(42)


def test_title_case_leaves_names_alone():
    assert title_case("Paired bootstrap comparison of block6 and conv_last") == (
        "Paired Bootstrap Comparison of block6 and conv_last")
    assert title_case("comparison of pool and fc7 (A)") == "Comparison of Pool and fc7 (A)"
    assert title_case("comparison of pool and fc7 (A)", identifiers=["pool"]) == (
        "Comparison of pool and fc7 (A)")
    assert title_case("RSA of features.28, conv5-pool and layer4.1 for hair-color", identifiers={"hair-color"}) == (
        "RSA of features.28, conv5-pool and layer4.1 for hair-color")
    assert title_case("ratings of hair-color.") == "Ratings of Hair-Color."  # not a name: a compound
    assert title_case("a test of the end.") == "A Test of the End."
    # a table keeps the names in its data's text columns (one word each, or comma-separated) and the
    # identifiers it is given; sentences in a text column name nothing
    df = pd.DataFrame({"layer": ["block6"], "covariates": ["pixels, gist"], "note": ["reliability is low"],
                       "rho": [0.2]})
    assert ApaTable(df, "partial RSA of block6 controlling for pixels and gist: reliability").title == (
        "Partial RSA of block6 Controlling for pixels and gist: Reliability")
    assert apa_table_for(df[["rho"]], "comparison of pool and fc7", identifiers=["pool"]).title == (
        "Comparison of pool and fc7")


def test_title_case():
    assert title_case("cross-validated prediction of ratings from fc7 and conv5: a test of the RDM") == (
        "Cross-Validated Prediction of Ratings From fc7 and conv5: A Test of the RDM")
    assert title_case("the self-report of MobileNetV2 in a study vs. humans") == (
        "The Self-Report of MobileNetV2 in a Study vs. Humans")
    assert title_case("reliability (split-half) with 95% CIs") == "Reliability (Split-Half) With 95% CIs"


def test_missing_values_are_dashes():
    df = pd.DataFrame({"attribute": ["x", None], "r": [np.nan, 0.5], "ci_low": [np.nan, 0.1],
                       "ci_high": [np.nan, 0.8], "p": [np.nan, 0.2]})
    rows = [[c.plain for c in r] for r in ApaTable(df, "t").rows()]
    assert rows == [["x", "\u2014", "[\u2014, \u2014]", "\u2014"], ["\u2014", ".50", "[.10, .80]", ".200"]]


@pytest.mark.omi
def test_real_ratings_table_matches_scipy_and_statsmodels(tmp_path):
    """Correlations of OMI attribute means with trustworthiness: every Word cell equals the APA
    rounding of scipy's r and p and statsmodels' Holm-corrected p."""
    means = SHARED / "data" / "omi" / "attribute_means.csv"
    if not means.is_file():
        pytest.skip(f"{means} is absent (the shared OMI data lives beside the repository)")
    import docx

    data = pd.read_csv(means)
    attributes = ["attractive", "smart", "happy", "dominant", "age", "outgoing"]
    rows = []
    for a in attributes:
        res = stats.pearsonr(data["trustworthy"], data[a])
        ci = res.confidence_interval(0.95)
        rows.append({"attribute": a, "n": len(data), "r": res.statistic, "ci_low": ci.low,
                     "ci_high": ci.high, "p": res.pvalue})
    df = pd.DataFrame(rows)
    df["p_corr"] = multipletests(df["p"], method="holm")[1]
    df.attrs["psychoface"] = {"analysis": "correlate", "correction": "holm", "family": "attributes",
                              "ci_method": "Fisher z", "p_method": "t test"}
    path = ApaTable(df, "Correlations with trustworthiness").to_docx(tmp_path / "omi.docx")
    table = docx.Document(str(path)).tables[0]
    for i, row in enumerate(table.rows[1:]):
        cells = [c.text for c in row.cells]
        ref = df.iloc[i]
        assert cells[0] == ref["attribute"] and cells[1] == "500"
        assert cells[2] == fmt_number(ref["r"], leading_zero=False).plain
        lo, hi = (float(v.replace(MINUS, "-")) for v in cells[3].strip("[]").split(", "))
        for printed, exact in ((float(cells[2].replace(MINUS, "-")), ref["r"]), (lo, ref["ci_low"]),
                               (hi, ref["ci_high"])):
            assert printed == pytest.approx(exact, abs=0.005 + 1e-12)
        for printed, exact in ((cells[4], ref["p"]), (cells[5], ref["p_corr"])):
            assert printed == fmt_p(exact, symbol=False).plain
            if printed == "< .001":
                assert exact < 0.001
            else:
                assert float(printed) == pytest.approx(exact, abs=0.0005 + 1e-12)
    note = docx.Document(str(path)).paragraphs[-1].text
    assert "Holm-corrected across 6 attributes" in note


def test_latex_compiles(result, tmp_path):
    """The tables (an eleven-column one, one with a long text column) and a methods paragraph with
    its references (DOIs) compile with pdflatex and the documented preamble on an APA page (12 pt,
    1-in margins), without missing characters and without any line running into the margin."""
    import shutil
    import subprocess

    from psychoface.reports.tables import LATEX_PREAMBLE
    from psychoface.reports.methods import methods_paragraph, references

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    params = {"n_images": 500, "dataset": "omi", "attributes": 34, "model": "vgg16",
              "weights": "none", "seed": 0, "analyses": [result.attrs["psychoface"]],
              "versions": {"numpy": "2.3.5", "torch": "2.5.1"}}
    wide = result.assign(layer="conv_last", r2=0.1, rmse=7.48)
    noted = result[["attribute", "r", "ci_low", "ci_high"]].assign(
        note=["", "", "3 stimuli with fewer than 2 ratings were excluded before splitting the raters"])
    body = "\n\n".join([apa_table_for(result, stars=True).to_latex(), apa_table_for(wide).to_latex(),
                        ApaTable(noted, "Noted", note="Data: https://doi.org/10.1073/pnas.2115228119").to_latex(),
                        methods_paragraph(params).render("latex")]
                       + [r.render("latex") for r in references(params)])
    # \emergencystretch: a justified reference line may otherwise stick out over a long word
    # ("nonorthogonal"); what is checked is that no table, note or URL is wider than the text
    source = ("\\documentclass[12pt]{article}\n\\usepackage[margin=1in]{geometry}\n"
              "\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
              f"{LATEX_PREAMBLE}\n\\emergencystretch=1em\n\\begin{{document}}\n{body}\n\\end{{document}}\n")
    (tmp_path / "t.tex").write_text(source, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Missing character" not in log and "Undefined control sequence" not in log
    assert "Overfull \\hbox" not in log, log[log.find("Overfull"):][:500]
    assert (tmp_path / "t.pdf").read_bytes()[:4] == b"%PDF"


def test_tables_of_psychoface_analyses():
    """The column layouts and attrs psychoface's analyses write (copied here) give readable tables."""
    predict = pd.DataFrame({
        "attribute": ["trustworthy"], "n": [500], "r": [0.41], "r2": [-0.012], "rmse": [7.123],
        "ci_low": [0.33], "ci_high": [0.48], "p": [0.000999], "p_corr": [0.034], "alpha_relative_median": [10.0],
        "noise_ceiling": [0.9], "r_normalized": [0.456], "layer": ["fc7"]})
    predict.attrs["psychoface"] = {
        "analysis": "predict", "correction": "Holm", "family": "34 attributes predicted from this layer",
        "n_bootstrap": 5000, "n_permutations": 1000,
        "ci_method": "percentile bootstrap over stimuli of (observed, predicted) pairs, predictions fixed",
        "p_method": "one-sided permutation test (r > 0) refitting the pipeline; p = (b + 1) / (N + 1)"}
    table = apa_table_for(predict)
    assert [h.plain for h in table.headers()] == [
        "Attribute", "n", "r", "95% CI", "R²", "RMSE", "p", "p_Holm", "Noise ceiling", "Normalized r",
        "Layer"]
    assert [c.plain for c in table.rows()[0]] == [
        "trustworthy", "500", ".41", "[.33, .48]", f"{MINUS}.01", "7.12", "< .001", ".034", ".90",
        "0.46", "fc7"]
    assert table.notes()[0].plain == (
        "Note. CI = confidence interval; RMSE = root-mean-square error; normalized r = r divided by "
        "the noise ceiling; p_Holm = p value Holm-corrected across 34 attributes predicted from this "
        "layer. CIs: percentile bootstrap over stimuli of (observed, predicted) pairs, predictions "
        "fixed (5,000 resamples). p values: one-sided permutation test (r > 0) refitting the "
        "pipeline; p = (b + 1) / (N + 1) (1,000 permutations).")
    compare = pd.DataFrame([{"a": "conv5", "b": "fc7", "n": 500, "r_a": 0.45, "r_b": 0.38, "r_ab": 0.6,
                             "difference": 0.07, "ci_low": 0.02, "ci_high": 0.12, "t": 2.31, "df": 497,
                             "p": 0.021, "z": 2.3, "p_steiger": 0.022, "p_bootstrap": 0.004}])
    compare.attrs["psychoface"] = {"analysis": "compare_correlations", "correction": "none",
                                   "p_steiger_method": "Steiger's (1980) Z"}
    table = apa_table_for(compare)
    assert [h.plain for h in table.headers()] == [
        "A", "B", "n", "r_A", "r_B", "r_AB", "Δr", "95% CI", "t", "df", "p", "z", "p_Steiger", "p_boot"]
    assert [c.plain for c in table.rows()[0]][6:8] == ["0.07", "[0.02, 0.12]"]
    assert table.notes()[0].plain == "Note. CI = confidence interval. p_Steiger: Steiger's (1980) Z."
    williams = pd.DataFrame({"r1": [0.45], "r2": [0.38], "r12": [0.6], "n": [500], "t": [2.31],
                             "df": [497], "p": [0.021]})
    assert [h.plain for h in apa_table_for(williams).headers()] == [
        "r₁", "r₂", "r₁₂", "n", "t", "df", "p"]  # digits as Unicode subscripts
    reliability = pd.DataFrame([{
        "attribute": "trustworthy", "n": 500, "ratings_min": 20, "ratings_median": 25.5,
        "ratings_max": 40, "n_splits": 100, "r_half": 0.71, "reliability": 0.83, "ci_low": 0.8,
        "ci_high": 0.86, "noise_ceiling": 0.91, "excluded_stimuli": 0, "note": ""}])
    reliability.attrs["psychoface"] = {"analysis": "split_half_reliability", "correction": "none",
                                       "ci_method": "percentile bootstrap over stimuli",
                                       "n_bootstrap": 5000, "noise_ceiling": "sqrt(reliability)"}
    table = apa_table_for(reliability)
    assert [h.plain for h in table.headers()] == [
        "Attribute", "n", "Mdn ratings", "Split-half r", "Reliability", "95% CI", "Noise ceiling"]
    assert [c.plain for c in table.rows()[0]] == [
        "trustworthy", "500", "25.5", ".71", ".83", "[.80, .86]", ".91"]
    assert table.title == "Split-Half Reliability of the Mean Ratings"
    assert table.notes()[0].plain.endswith("(5,000 resamples). Noise ceiling: sqrt(reliability).")
    icc = pd.DataFrame([{"attribute": "a", "type": "ICC2", "icc": 0.45, "ci_low": 0.4, "ci_high": 0.5,
                         "F": 17.2, "df1": 499, "df2": 9481.0, "p": 1e-9, "n": 500, "k": 20}])
    table = ApaTable(icc, "Intraclass correlations of the ratings")
    assert [h.plain for h in table.headers()] == [
        "Attribute", "Form", "ICC", "95% CI", "F", "df₁", "df₂", "p", "n", "k"]
    assert [c.plain for c in table.rows()[0]] == [
        "a", "ICC2", ".45", "[.40, .50]", "17.20", "499", "9481", "< .001", "500", "20"]


def test_a_note_shared_by_every_row_and_the_exclusions_go_into_the_table_note():
    df = pd.DataFrame({"attribute": ["a", "b"], "r": [0.3, 0.4], "noise_ceiling": [np.nan, np.nan],
                       "note": ["no noise ceiling given", "no noise ceiling given"]})
    df.attrs["psychoface"] = {"exclusions": ["3 of 40 stimuli in the feature store were excluded"],
                              "caveats": ["grad-CAM leaves out the readout's spatial weights"]}
    table = apa_table_for(df)
    assert "note" not in [c.name for c in table.columns]
    note = table.to_markdown()
    assert "No noise ceiling given." in note and "3 of 40 stimuli in the feature store were excluded." in note
    assert note.index("were excluded.") < note.index("Grad-CAM leaves out the readout's spatial weights.")
    df.loc[1, "note"] = "something else"
    assert "note" in [c.name for c in apa_table_for(df).columns]
