"""The APA 7 rule engine: every edge case of the issue, in every output format, as exact strings."""

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import (
    FORMATS,
    MINUS,
    Segment,
    Text,
    add_runs,
    fmt_ci,
    fmt_df,
    fmt_int,
    fmt_level,
    fmt_number,
    fmt_p,
    fmt_stat,
    greek,
    italic,
    latex_escape,
    probability_note,
    stars,
    sub,
    sup,
    symbol,
    to_rich,
)

NAN = float("nan")


def all_formats(text: Text) -> dict:
    return {fmt: text.render(fmt) for fmt in FORMATS}


# -- p values: every format, exact -------------------------------------------------------------------
P_CASES = {
    # p: (relation, number) as printed
    1.0: (">", ".999"),
    1.0 + 1e-12: (">", ".999"),  # floating-point error above 1 is clipped
    0.9995: (">", ".999"),  # rounds to 1.000: the first value that is "> .999"
    0.99949999: ("=", ".999"),
    0.9993: ("=", ".999"),  # exact p to three decimals (APA 6.36), not "> .999"
    0.99900001: ("=", ".999"),
    0.999: ("=", ".999"),
    0.9985: ("=", ".999"),  # half away from zero on the decimal value
    0.5: ("=", ".500"),
    0.0345: ("=", ".035"),
    0.05: ("=", ".050"),
    0.001: ("=", ".001"),
    0.0010000001: ("=", ".001"),
    0.00099999: ("<", ".001"),
    0.0005: ("<", ".001"),  # rounds to .001 but the value is below .001
    0.0004999: ("<", ".001"),
    0.0: ("<", ".001"),
    1e-300: ("<", ".001"),
}


@pytest.mark.parametrize("p", list(P_CASES))
def test_p_every_format(p):
    rel, num = P_CASES[p]
    html_rel = {"<": "&lt;", ">": "&gt;", "=": "="}[rel]
    latex_rel = {"<": "$<$", ">": "$>$", "=": "="}[rel]
    assert all_formats(fmt_p(p)) == {
        "plain": f"p {rel} {num}",
        "terminal": f"[italic]p[/italic] {rel} {num}",
        "markdown": f"*p* {rel} {num}",
        "latex": f"\\textit{{p}} {latex_rel} {num}",
        "html": f"<i>p</i> {html_rel} {num}",
        "csv": f"p {rel} {num}",
        "matplotlib": f"$\\mathit{{p}}$ {rel} {num}",
    }
    cell = fmt_p(p, symbol=False).plain
    assert cell == (num if rel == "=" else f"{rel} {num}")


def test_p_never_prints_zero_or_one_and_stays_true():
    """Over a dense grid and the rounding boundaries: never .000 or 1.000, never a leading zero, and
    the printed statement is true of the value (exact values within half a unit of the last digit;
    "> .999" exactly for the values that would round to 1.000, p >= .9995)."""
    grid = np.concatenate([
        np.linspace(0, 1, 20001),
        [k / 1000 + d for k in range(1001) for d in (-5e-4, -4.999e-4, 4.999e-4, 5e-4, -1e-12, 1e-12)],
    ])
    for p in grid[(grid >= 0) & (grid <= 1)]:
        text = fmt_p(float(p)).plain
        assert ".000" not in text.replace("< .001", "") and "1.000" not in text and "0." not in text
        rel, num = text.split(" ")[1:]
        if rel == "<":
            assert p < 0.001
        elif rel == ">":
            assert Decimal(repr(float(p))) >= Decimal("0.9995")
        else:
            assert 0.001 <= p < 0.9995 and abs(float(num) - p) <= 0.0005 + 1e-12


def test_p_missing_and_invalid():
    assert fmt_p(NAN).plain == "p = \u2014"
    assert fmt_p(None).render("latex") == "\\textit{p} = ---"
    assert fmt_p(NAN, symbol=False).render("html") == "&mdash;"
    for bad in (1.5, -0.01, 1.0000001):
        with pytest.raises(PsychofaceError, match="outside"):
            fmt_p(bad)
    with pytest.raises(PsychofaceError, match="not a number"):
        fmt_p("0.03")


# -- correlations: every format, exact -----------------------------------------------------------------
R_CASES = {
    -0.04: f"{MINUS}.04",
    0.34: ".34",
    1.0: "1.00",
    -1.0: f"{MINUS}1.00",
    0.9996: "1.00",  # rounds to 1: keeps its integer digit
    -0.9996: f"{MINUS}1.00",
    0.995: "1.00",
    -0.004: ".00",  # no negative zero
    0.125: ".13",  # half away from zero, not to even
}


@pytest.mark.parametrize("r", list(R_CASES))
def test_r_every_format(r):
    body = R_CASES[r]
    md = body.replace(MINUS, "-")
    assert all_formats(fmt_stat("r", r)) == {
        "plain": f"r = {body}",
        "terminal": f"[italic]r[/italic] = {body}",
        "markdown": f"*r* = {md}",
        "latex": f"\\textit{{r}} = {body.replace(MINUS, '$-$')}",
        "html": f"<i>r</i> = {body.replace(MINUS, '&minus;')}",
        "csv": f"r = {md}",
        "matplotlib": f"$\\mathit{{r}}$ = {body}",
    }


def test_missing_statistic_every_format():
    assert all_formats(fmt_stat("r", NAN)) == {
        "plain": "r = \u2014", "terminal": "[italic]r[/italic] = \u2014", "markdown": "*r* = \u2014",
        "latex": "\\textit{r} = ---", "html": "<i>r</i> = &mdash;", "csv": "r = \u2014",
        "matplotlib": "$\\mathit{r}$ = \u2014",
    }


def test_greek_is_upright_latin_italic():
    assert all_formats(fmt_stat("rho", -0.215)) == {
        "plain": f"ρ = {MINUS}.22", "terminal": f"ρ = {MINUS}.22", "markdown": "ρ = -.22",
        "latex": "$\\uprho$ = $-$.22", "html": "&rho; = &minus;.22", "csv": "ρ = -.22",
        "matplotlib": f"ρ = {MINUS}.22",
    }
    assert fmt_stat("tau_a", 0.2).render("html") == "&tau;<sub>A</sub> = .20"
    assert fmt_stat("tau_a", 0.2).render("plain") == "τ_A = .20"
    assert fmt_stat("eta2", 0.06).render("latex") == "$\\upeta$\\textsuperscript{2} = .06"
    assert fmt_stat("R2", 0.5).render("markdown") == "*R*² = .50"
    assert fmt_stat("R2", 0.5).render("html") == "<i>R</i><sup>2</sup> = .50"
    assert fmt_stat("delta_r", 0.07).render("html") == "&Delta;<i>r</i> = 0.07"
    assert fmt_stat("r_norm", 1.136).render("markdown") == "*r*<sub>norm</sub> = 1.14"


def test_unbounded_statistics_keep_the_leading_zero_and_df():
    assert fmt_stat("t", 2.1, df=48).plain == "t(48) = 2.10"
    assert fmt_stat("t", -0.5, df=47.3216).render("latex") == "\\textit{t}(47.32) = $-$0.50"
    assert fmt_stat("M", 0.52).plain == "M = 0.52"
    assert fmt_stat("SD", 12.345).plain == "SD = 12.35"
    assert fmt_stat("F", 4.5, df=(2, 97)).render("html") == "<i>F</i>(2, 97) = 4.50"
    assert fmt_stat("chi2", 3.2, df=2, n=1000).plain == "χ²(2, N = 1,000) = 3.20"
    assert fmt_stat("chi2", 3.2, df=2, n=1000).render("latex") == (
        "$\\upchi$\\textsuperscript{2}(2, \\textit{N} = 1,000) = 3.20")
    assert fmt_stat("n", 663678).plain == "n = 663,678"
    assert fmt_stat("p", 0.02).plain == "p = .020"
    assert fmt_stat("r", 0.3456, decimals=3).plain == "r = .346"


def test_df():
    assert fmt_df(48).plain == "48"
    assert fmt_df(48.0).plain == "48"
    assert fmt_df(np.float32(498)).plain == "498"
    assert fmt_df(47.99999999).plain == "48"
    assert fmt_df(47.3216).plain == "47.32"
    assert fmt_df(12345).plain == "12345"  # no thousands separator in df
    assert fmt_df((2, 97)).plain == "2, 97"
    assert fmt_df(NAN).plain == "\u2014"
    with pytest.raises(PsychofaceError, match="negative"):
        fmt_df(-1)


# -- numbers ---------------------------------------------------------------------------------------
def test_numbers_rounding_signs_and_separators():
    assert fmt_number(2.675).plain == "2.68"  # the decimal value, not its binary expansion
    assert fmt_number(0.125).plain == "0.13"
    assert fmt_number(-0.125).plain == f"{MINUS}0.13"
    assert fmt_number(-0.004).plain == "0.00"
    assert fmt_number(0.34, leading_zero=False).plain == ".34"
    assert fmt_number(1.2, leading_zero=False).plain == "1.20"
    assert fmt_number(0.4, decimals=0, leading_zero=False).plain == "0"
    assert fmt_number(1234.5).plain == "1,234.50"
    assert fmt_number(1234.5, thousands=False).plain == "1234.50"
    assert fmt_number(np.float32(0.1)).plain == "0.10"
    assert fmt_number(np.int64(7), 0).plain == "7"
    assert fmt_int(499.5).plain == "500"
    assert fmt_int(663678).render("latex") == "663,678"


def test_huge_tiny_and_infinite_values():
    assert fmt_number(1.234e12).plain == "1.23 × 10¹²"
    assert fmt_number(1.234e12).render("html") == "1.23 &times; 10<sup>12</sup>"
    assert fmt_number(1.234e12).render("latex") == "1.23 $\\times$ 10\\textsuperscript{12}"
    assert fmt_number(-1e300).plain == f"{MINUS}1.00 × 10³⁰⁰"
    assert fmt_number(-1e300).render("markdown") == "-1.00 × 10³⁰⁰"
    assert fmt_number(9.9999e9).plain == "1.00 × 10¹⁰"  # mantissa rounding carries into the exponent
    assert fmt_number(999_999_999.0).plain == "999,999,999.00"
    assert fmt_number(1e-300).plain == "0.00"
    assert fmt_number(-1e-300).plain == "0.00"
    assert fmt_number(-3e-12, 3, leading_zero=False).plain == ".000"
    assert fmt_number(float("inf")).plain == "∞"
    assert fmt_number(float("-inf")).render("latex") == "$-\\infty$"
    assert Text("\\$", greek("ρ")).render("latex") == "\\textbackslash{}\\$$\\uprho$"
    assert fmt_stat("r", 1e-300).plain == "r = .00"


def test_rounding_matches_decimal_half_up_on_random_values():
    rng = np.random.default_rng(1)
    for x in rng.normal(0, 10, 2000):
        expected = Decimal(repr(float(x))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        assert fmt_number(x, thousands=False).plain.replace(MINUS, "-") == (
            str(abs(expected)) if expected == 0 else str(expected))


def test_non_numbers_and_bad_decimals_are_user_errors():
    for bad in ("abc", b"1", True, object()):
        with pytest.raises(PsychofaceError):
            fmt_number(bad)
    for decimals in (-1, 16, 2.0, True):
        with pytest.raises(PsychofaceError, match="decimals"):
            fmt_number(1.0, decimals)


# -- confidence intervals --------------------------------------------------------------------------
def test_ci_every_format():
    assert all_formats(fmt_ci(-0.15, 0.9)) == {
        "plain": f"95% CI [{MINUS}.15, .90]", "terminal": f"95% CI [{MINUS}.15, .90]",
        "markdown": "95% CI [-.15, .90]", "latex": "95\\% CI [$-$.15, .90]",
        "html": "95% CI [&minus;.15, .90]", "csv": "95% CI [-.15, .90]",
        "matplotlib": f"95% CI [{MINUS}.15, .90]",
    }
    assert fmt_ci(0.28, 0.40, label=False).plain == "[.28, .40]"
    assert fmt_ci(0.28, 1.4, bounded=False).plain == "95% CI [0.28, 1.40]"
    assert fmt_ci(0.28, 0.40, level=0.9).plain == "90% CI [.28, .40]"
    assert fmt_ci(0.28, 0.40, level=0.999).plain == "99.9% CI [.28, .40]"
    assert fmt_ci(NAN, NAN).plain == "95% CI [\u2014, \u2014]"
    assert fmt_ci(0.9996, 1.0).plain == "95% CI [1.00, 1.00]"
    with pytest.raises(PsychofaceError, match="exceeds"):
        fmt_ci(0.4, 0.28)
    with pytest.raises(PsychofaceError, match="between 0 and 1"):
        fmt_ci(0.28, 0.4, level=95)
    assert fmt_level(0.95) == "95%"


# -- stars, probability note ----------------------------------------------------------------------
def test_stars_and_probability_note():
    assert [stars(p) for p in (0.2, 0.05, 0.049, 0.01, 0.009, 0.001, 0.0009, NAN)] == [
        "", "", "*", "*", "**", "**", "***", ""]
    note = probability_note()
    assert note.plain == "*p < .05. **p < .01. ***p < .001."
    assert note.render("markdown") == "\\**p* < .05. \\*\\**p* < .01. \\*\\*\\**p* < .001."
    assert note.render("html") == "*<i>p</i> &lt; .05. **<i>p</i> &lt; .01. ***<i>p</i> &lt; .001."
    assert probability_note((0.1, 0.0001)).plain == "*p < .1. **p < .0001."


# -- the representation and its renderers ----------------------------------------------------------
def test_text_composition():
    t = Text("a ", italic("r"), italic("x"), " b")
    assert t.segments == (Segment("a "), Segment("rx", "italic"), Segment(" b"))
    assert ("(" + t + ")").plain == "(a rx b)"
    assert Text(", ").join(["a", italic("b"), "c"]).render("markdown") == "a, *b*, c"
    assert str(fmt_stat("r", 0.3)) == "r = .30" and repr(fmt_stat("r", 0.3)) == "Text('r = .30')"
    assert fmt_stat("r", 0.3) == fmt_stat("r", 0.3) and not Text()
    with pytest.raises(PsychofaceError, match="format"):
        t.render("rtf")
    with pytest.raises(PsychofaceError, match="style"):
        Segment("x", "bold")


def test_escaping_per_format():
    raw = "a_b 95% & #1 {x} ~ ^ \\ <y> | $"
    assert latex_escape(raw) == (
        "a\\_b 95\\% \\& \\#1 \\{x\\} \\textasciitilde{} \\textasciicircum{} \\textbackslash{} "
        "$<$y$>$ \\textbar{} \\$")
    assert Text("a*b_c|d").render("markdown") == "a\\*b\\_c\\|d"
    assert Text("<b> & x").render("html") == "&lt;b&gt; &amp; x"
    assert Text("[tag]").render("terminal") == "\\[tag]"
    assert Text("cost $5").render("matplotlib") == "cost \\$5"
    assert Text(italic("n"), " ", italic("obs")).render("markdown") == "*n* *obs*"
    assert Text(italic("a b")).render("matplotlib") == "$\\mathit{a\\ b}$"


def test_scripts_fall_back_when_unicode_has_none():
    assert Text("10", sup(f"{MINUS}3")).plain == "10⁻³"
    assert Text("10", sup(f"{MINUS}3")).render("markdown") == "10⁻³"
    assert Text(italic("p"), sub("Holm")).plain == "p_Holm"
    assert Text(italic("p"), sub("Holm")).render("latex") == "\\textit{p}\\textsubscript{Holm}"
    assert Text(greek("x"), sup("ab")).plain == "x^ab"


def test_rich_text_has_italic_spans():
    rich = to_rich(fmt_stat("r", 0.34))
    assert rich.plain == "r = .34"
    spans = [(s.start, s.end, str(s.style)) for s in rich.spans]
    assert spans == [(0, 1, "italic")]


def test_word_runs_carry_italics_and_scripts():
    import docx

    document = docx.Document()
    paragraph = document.add_paragraph()
    add_runs(paragraph, Text(fmt_stat("R2", 0.5), ", ", fmt_stat("r", -0.04)))
    runs = [(r.text, bool(r.italic), bool(r.font.superscript)) for r in paragraph.runs]
    assert runs == [("R", True, False), ("2", False, True), (" = .50, ", False, False),
                    ("r", True, False), (f" = {MINUS}.04", False, False)]


def test_word_runs_carry_the_rules_through_a_saved_docx(tmp_path):
    """The rule engine's edge cases written with add_runs, saved and parsed back with python-docx: the
    p limits, U+2212 (Word's minus: never a hyphen), the em dash for a missing value, CI brackets,
    italic Latin symbols and upright Greek ones."""
    import docx

    cases = {
        "p = 1": (fmt_p(1.0), "p > .999", [("p", True), (" > .999", False)]),
        "p = .0004999": (fmt_p(0.0004999), "p < .001", [("p", True), (" < .001", False)]),
        "p = .9993": (fmt_p(0.9993), "p = .999", [("p", True), (" = .999", False)]),
        "r = -.04": (fmt_stat("r", -0.04), f"r = {MINUS}.04", [("r", True), (f" = {MINUS}.04", False)]),
        "NaN": (fmt_stat("r", NAN), "r = \u2014", [("r", True), (" = \u2014", False)]),
        "CI": (Text(fmt_stat("r", -0.04), ", ", fmt_ci(-0.13, 0.05)),
               f"r = {MINUS}.04, 95% CI [{MINUS}.13, .05]",
               [("r", True), (f" = {MINUS}.04, 95% CI [{MINUS}.13, .05]", False)]),
        "missing CI": (fmt_ci(NAN, NAN, label=False), "[\u2014, \u2014]", [("[\u2014, \u2014]", False)]),
        "Greek": (Text(fmt_stat("rho", 0.2), ", ", fmt_stat("tau", -0.1), ", ", fmt_p(0.034)),
                  f"ρ = .20, τ = {MINUS}.10, p = .034",
                  [("ρ", False), (" = .20, ", False), ("τ", False), (f" = {MINUS}.10, ", False),
                   ("p", True), (" = .034", False)]),
    }
    document = docx.Document()
    for text, _, _ in cases.values():
        add_runs(document.add_paragraph(), text)
    document.save(tmp_path / "runs.docx")
    paragraphs = docx.Document(str(tmp_path / "runs.docx")).paragraphs
    for (name, (_, plain, runs)), paragraph in zip(cases.items(), paragraphs):
        assert paragraph.text == plain, name
        assert "-" not in paragraph.text, name  # U+2212, not a hyphen-minus
        got = [(r.text, bool(r.italic)) for r in paragraph.runs]
        assert got == runs, name
        for run in paragraph.runs:  # Greek letters are never italic
            if any(c in run.text for c in "ρτ"):
                assert run.italic is not True and run.font.superscript is not True


def test_symbol_table():
    assert symbol("r").bounded and symbol("rho").bounded and symbol("p").bounded
    assert symbol("r2") is symbol("R2") and symbol("icc").bounded
    assert not symbol("t").bounded and not symbol("M").bounded and not symbol("r_norm").bounded
    with pytest.raises(PsychofaceError, match="unknown"):
        symbol("omega")
