"""The APA 7 rule engine: every number and statistic psychoface writes goes through this module.

A formatted result is a :class:`Text`, an abstract list of :class:`Segment` s (plain text, an italic
Latin symbol, an upright Greek symbol, a superscript, a subscript), rendered by one renderer per output
format. Tables, sentences, methods paragraphs and figure labels are all built from these pieces, so a
rule is applied once and holds in every format.

Rules (American Psychological Association, 2020, *Publication Manual*, 7th ed., sections 6.36-6.46):

- No leading zero for statistics that cannot exceed 1 in absolute value (*r*, ρ, τ, *p*, *R*², η², α,
  ICC): ``r = .34``; a leading zero for the others: ``t(48) = 2.10``, ``M = 0.52``. A bounded value that
  rounds to 1 keeps its integer digit: ``r = 1.00``.
- Rounding is half away from zero on the shortest decimal representation of the value (``2.675``
  gives ``2.68``, ``0.125`` gives ``0.13``), never on its binary expansion; a value that rounds to zero
  loses its sign (``r = .00``, never ``r = −.00``).
- *p* exactly, to three decimals (APA 6.36), with two limits so that neither ``p = .000`` nor
  ``p = 1.000`` is printed: ``p < .001`` exactly when the value is below .001 (p = .0005, which would
  round to .001, still gives ``p < .001``), and ``p > .999`` exactly when the value rounds to 1.000,
  that is p ≥ .9995 (p = .9993 gives ``p = .999``; p = .9995 and p = 1 give ``p > .999``).
- Latin statistical symbols italic, Greek symbols and identifying subscripts upright; a space on both
  sides of =, < and >.
- Confidence intervals in brackets after their level: ``95% CI [.28, .40]``.
- Degrees of freedom: integers without decimals, corrected (non-integer) df with two decimals.
- Numbers of 1,000 or more take thousands separators (not df); magnitudes of 10⁹ or more are written in
  scientific notation (``1.23 × 10⁹``); a missing value (NaN, None) is an em dash (APA's empty cell).

One minus sign per output format (the abstract text always holds U+2212 MINUS SIGN); italics and
Greek per format:

- plain: U+2212; symbols unmarked; Greek as Unicode (ρ).
- terminal: U+2212; rich markup ``[italic]r[/italic]`` (or :func:`to_rich` for a rich Text).
- markdown: hyphen-minus ``-`` (what Markdown readers and converters expect); ``*r*``; Unicode Greek.
- latex: ``$-$`` (a true minus in text mode); ``\\textit{r}``; upright Greek ``$\\uprho$`` (package
  upgreek; a lowercase Greek letter in plain math mode would be italic); URLs and DOIs in ``\\url{}``
  (package xurl, which lets them break anywhere instead of running into the margin).
- html: ``&minus;``; ``<i>r</i>``; ``&rho;``.
- csv: hyphen-minus ``-`` (so that spreadsheets read the numbers); no markup.
- matplotlib: U+2212; mathtext ``$\\mathit{r}$``; Unicode Greek.
- Word (:func:`add_runs`): U+2212; italic runs; Greek as upright Unicode runs.

Superscripts and subscripts made only of digits and signs use Unicode super/subscript characters where
the format has no markup (``R²``); others fall back to ``^x`` / ``_x`` (plain, terminal, csv) or
``<sup>``/``<sub>`` (Markdown).
"""

from __future__ import annotations

import html
import html.entities
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Iterable


from psychoface.errors import PsychofaceError

MINUS = "\u2212"
EN_DASH = "\u2013"
EM_DASH = "\u2014"
TIMES = "\u00d7"
INFINITY = "\u221e"
MISSING = EM_DASH

STYLES = ("plain", "italic", "greek", "sup", "sub")
FORMATS = ("plain", "terminal", "markdown", "latex", "html", "csv", "matplotlib")

#: Magnitudes at or above this are written in scientific notation.
SCIENTIFIC_FROM = Decimal("1e9")
#: Significance levels of the probability note, from the weakest to the strongest.
STAR_LEVELS = (0.05, 0.01, 0.001)


# --------------------------------------------------------------------------------------------------
# the abstract representation
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """A run of text in one style: ``plain``, ``italic``, ``greek``, ``sup`` or ``sub``."""

    text: str
    style: str = "plain"

    def __post_init__(self):
        if self.style not in STYLES:
            raise PsychofaceError(
                f"text style {self.style!r} is unknown; use one of {', '.join(STYLES)}"
            )


class Text:
    """Formatted text: an immutable sequence of :class:`Segment` s.

    Built from strings (plain), segments and other Texts; ``+`` concatenates, :meth:`join` joins,
    :meth:`render` writes one output format and ``str()`` gives the plain Unicode rendering.
    """

    __slots__ = ("segments",)

    def __init__(self, *parts: "str | Segment | Text"):
        segments: list[Segment] = []
        for part in parts:
            if isinstance(part, Text):
                items = part.segments
            elif isinstance(part, Segment):
                items = (part,)
            elif isinstance(part, str):
                items = (Segment(part),)
            else:
                raise TypeError(f"cannot make Text from {type(part).__name__}")
            for seg in items:
                if not seg.text:
                    continue
                if segments and segments[-1].style == seg.style:
                    segments[-1] = Segment(segments[-1].text + seg.text, seg.style)
                else:
                    segments.append(seg)
        self.segments: tuple[Segment, ...] = tuple(segments)

    def __add__(self, other: "str | Segment | Text") -> "Text":
        return Text(self, other)

    def __radd__(self, other: "str | Segment") -> "Text":
        return Text(other, self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Text) and self.segments == other.segments

    def __hash__(self) -> int:
        return hash(self.segments)

    def __bool__(self) -> bool:
        return bool(self.segments)

    def __str__(self) -> str:
        return self.render("plain")

    def __repr__(self) -> str:
        return f"Text({self.render('plain')!r})"

    @property
    def plain(self) -> str:
        """The text without any markup (Unicode minus and scripts)."""
        return self.render("plain")

    def join(self, parts: Iterable["str | Segment | Text"]) -> "Text":
        """``Text(", ").join([a, b])`` like :meth:`str.join`."""
        out: list = []
        for i, part in enumerate(parts):
            if i:
                out.append(self)
            out.append(part)
        return Text(*out)

    def render(self, fmt: str) -> str:
        """This text in an output format, one of :data:`FORMATS` (Word: :func:`add_runs`)."""
        try:
            renderer = _RENDERERS[fmt]
        except KeyError:
            raise PsychofaceError(
                f"output format {fmt!r} is unknown; use one of {', '.join(FORMATS)}"
            ) from None
        return renderer(self.segments)


def italic(text: str) -> Text:
    """An italic (Latin symbol) segment."""
    return Text(Segment(text, "italic"))


def greek(text: str) -> Text:
    """An upright Greek symbol segment."""
    return Text(Segment(text, "greek"))


def sup(text: str) -> Text:
    """A superscript segment."""
    return Text(Segment(text, "sup"))


def sub(text: str) -> Text:
    """A subscript segment (identifiers such as ``norm`` are upright, APA 6.45)."""
    return Text(Segment(text, "sub"))


# --------------------------------------------------------------------------------------------------
# renderers
# --------------------------------------------------------------------------------------------------
_SCRIPT_CHARS = "0123456789+-=()" + MINUS
_SUPERSCRIPT = str.maketrans(_SCRIPT_CHARS, "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾⁻")
_SUBSCRIPT = str.maketrans(_SCRIPT_CHARS, "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎₋")


def _script(text: str, style: str) -> str | None:
    """Unicode super/subscript characters when every character of ``text`` has one, else None."""
    if all(c in _SCRIPT_CHARS for c in text):
        return text.translate(_SUPERSCRIPT if style == "sup" else _SUBSCRIPT)
    return None


def _render_plain(segments, minus: str = MINUS) -> str:
    out = []
    for seg in segments:
        if seg.style in ("sup", "sub"):
            marker = "^" if seg.style == "sup" else "_"
            out.append(_script(seg.text, seg.style) or marker + seg.text)
        else:
            out.append(seg.text)
    return "".join(out).replace(MINUS, minus)


def _render_csv(segments) -> str:
    return _render_plain(segments, minus="-")


def _render_terminal(segments) -> str:
    from rich.markup import escape

    out = []
    for seg in segments:
        text = escape(_render_plain((seg,)))
        out.append(f"[italic]{text}[/italic]" if seg.style == "italic" else text)
    return "".join(out)


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*_`|"})


def _render_markdown(segments) -> str:
    out = []
    for seg in segments:
        text = seg.text.translate(_MARKDOWN_SPECIAL).replace(MINUS, "-")
        if seg.style == "italic":
            core = text.strip()
            lead = text[: len(text) - len(text.lstrip())]
            trail = text[len(text.rstrip()):]
            out.append(f"{lead}*{core}*{trail}" if core else text)
        elif seg.style in ("sup", "sub"):
            out.append(_script(seg.text, seg.style) or f"<{seg.style}>{text}</{seg.style}>")
        else:
            out.append(text)
    return "".join(out)


_GREEK_LATEX = {
    "α": r"\upalpha", "β": r"\upbeta", "γ": r"\upgamma", "δ": r"\updelta", "ε": r"\upepsilon",
    "η": r"\upeta", "θ": r"\uptheta", "κ": r"\upkappa", "λ": r"\uplambda", "μ": r"\upmu",
    "ν": r"\upnu", "π": r"\uppi", "ρ": r"\uprho", "σ": r"\upsigma", "τ": r"\uptau",
    "φ": r"\upphi", "χ": r"\upchi", "ψ": r"\uppsi", "ω": r"\upomega",
    "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda", "Σ": r"\Sigma",
    "Φ": r"\Phi", "Ψ": r"\Psi", "Ω": r"\Omega",
}
_LATEX_CHARS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": "$<$", ">": "$>$", "|": r"\textbar{}", MINUS: "$-$", EN_DASH: "--", EM_DASH: "---",
    "\u2026": r"\ldots{}", TIMES: r"$\times$", INFINITY: r"$\infty$", "≤": r"$\leq$",
    "≥": r"$\geq$", "±": r"$\pm$",
    **{k: f"${v}$" for k, v in _GREEK_LATEX.items()},
}
_LATEX_TABLE = str.maketrans(_LATEX_CHARS)


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (``_ % & $ # { } ~ ^ \\ < > |``) and map minus, dashes, Greek."""
    return text.translate(_LATEX_TABLE)


#: A URL or DOI link; trailing punctuation stays outside.
_URL = re.compile(r"https?://\S*[^\s.,;:)\]]")


def _latex_escape_urls(text: str) -> str:
    """:func:`latex_escape`, with URLs in ``\\url{}`` (package xurl: breaks anywhere, no overfull
    line); a URL with a character ``\\url`` cannot take inside another command's argument
    (``% # { } \\ ^``) stays escaped text."""
    out, pos = [], 0
    for m in _URL.finditer(text):
        if any(c in m.group() for c in "%#{}\\^"):
            continue
        out += [latex_escape(text[pos:m.start()]), rf"\url{{{m.group()}}}"]
        pos = m.end()
    out.append(latex_escape(text[pos:]))
    return "".join(out)


def _wrapped(segments, escape, wrappers: dict) -> str:
    """Each segment escaped and put in its style's wrapper (``%s`` marks the text; none: as it is)."""
    return "".join(wrappers.get(seg.style, "%s") % escape(seg.text) for seg in segments)


def _render_latex(segments) -> str:
    out = _wrapped(segments, _latex_escape_urls,
                   {"italic": r"\textit{%s}", "sup": r"\textsuperscript{%s}", "sub": r"\textsubscript{%s}"})
    # adjacent math pieces merge: "$-$$\infty$" becomes "$-\infty$" (an escaped \$ is left alone)
    return re.sub(r"(?<!\\)\$\$", "", out)


_HTML_ENTITIES = str.maketrans({MINUS: "&minus;", EM_DASH: "&mdash;", EN_DASH: "&ndash;", TIMES: "&times;",
                                **{c: f"&{html.entities.codepoint2name[ord(c)]};" for c in _GREEK_LATEX}})


def _html_escape(text: str) -> str:
    return html.escape(text, quote=False).translate(_HTML_ENTITIES)


def _render_html(segments) -> str:
    return _wrapped(segments, _html_escape, {"italic": "<i>%s</i>", "sup": "<sup>%s</sup>", "sub": "<sub>%s</sub>"})


def _render_matplotlib(segments) -> str:
    """Matplotlib mathtext: italic symbols and scripts in ``$...$``, everything else as text."""
    pieces: list[tuple[bool, str]] = []
    for seg in segments:
        if seg.style == "italic":
            pieces.append((True, r"\mathit{%s}" % seg.text.replace(" ", r"\ ")))
        elif seg.style == "sup":
            pieces.append((True, "^{%s}" % seg.text))
        elif seg.style == "sub":
            pieces.append((True, r"_{\mathrm{%s}}" % seg.text))
        else:
            pieces.append((False, seg.text.replace("$", r"\$")))
    out = []
    for is_math, text in pieces:
        if is_math and out and out[-1][0]:
            out[-1] = (True, out[-1][1] + text)
        else:
            out.append((is_math, text))
    return "".join(f"${t}$" if m else t for m, t in out)


_RENDERERS = {
    "plain": _render_plain,
    "terminal": _render_terminal,
    "markdown": _render_markdown,
    "latex": _render_latex,
    "html": _render_html,
    "csv": _render_csv,
    "matplotlib": _render_matplotlib,
}


def to_rich(text: "Text | str", style: str | None = None):
    """A :class:`rich.text.Text` with italic symbols (for rich tables and consoles)."""
    from rich.text import Text as RichText

    out = RichText(style=style or "")
    for seg in Text(text).segments:
        out.append(_render_plain((seg,)), style="italic" if seg.style == "italic" else None)
    return out


def add_runs(paragraph, text: "Text | str", *, bold: bool | None = None, italic: bool | None = None):
    """Append ``text`` to a python-docx paragraph as runs: italic symbols, super/subscripts, U+2212.

    ``bold``/``italic`` apply to every run (e.g. an italic table title); returns the runs.
    """
    runs = []
    for seg in Text(text).segments:
        run = paragraph.add_run(seg.text)
        if seg.style == "italic" or italic:
            run.italic = True
        if seg.style == "sup":
            run.font.superscript = True
        elif seg.style == "sub":
            run.font.subscript = True
        if bold is not None:
            run.bold = bold
        runs.append(run)
    return runs


# --------------------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------------------
def _as_float(x, what: str = "value") -> float:
    """``x`` as a float; None, NaN and pandas' NA are NaN; anything else non-numeric is an error."""
    import pandas as pd
    if isinstance(x, (str, bytes, bool)):
        raise PsychofaceError(f"{what} {x!r} is not a number; pass a number (or NaN for missing)")
    try:
        if x is None or pd.isna(x):
            return math.nan
        return float(x)
    except (TypeError, ValueError):
        raise PsychofaceError(
            f"{what} {x!r} is not a number; pass a number (or NaN for missing)"
        ) from None


def _check_decimals(decimals) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 15:
        raise PsychofaceError(f"decimals={decimals!r} must be a whole number from 0 to 15")
    return decimals


def _fixed(x: float, decimals: int, leading_zero: bool, thousands: bool) -> str:
    """Round half away from zero on the shortest repr of ``x``; no negative zero; optional '0.' strip."""
    with localcontext() as ctx:
        ctx.prec = 60
        q = Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    negative = q < 0
    body = format(abs(q), f"{',' if thousands else ''}.{decimals}f")
    if not leading_zero and body.startswith("0.") and len(body) > 2:
        body = body[1:]
    return (MINUS if negative else "") + body


def fmt_number(x, decimals: int = 2, leading_zero: bool = True, thousands: bool = True) -> Text:
    """A number in APA style: ``0.52``, ``.34`` (``leading_zero=False``), ``1,234.50``, ``1.23 × 10⁹``.

    Negative values take U+2212 (rendered per format); NaN/None is an em dash; ±inf is ``±∞``.
    """
    decimals = _check_decimals(decimals)
    value = _as_float(x)
    if math.isnan(value):
        return Text(MISSING)
    if math.isinf(value):
        return Text((MINUS if value < 0 else "") + INFINITY)
    d = Decimal(repr(value))
    if abs(d) >= SCIENTIFIC_FROM:
        with localcontext() as ctx:
            ctx.prec = 60
            exponent = d.adjusted()
            q = Decimal(1).scaleb(-max(decimals, 2))
            mantissa = d.scaleb(-exponent).quantize(q, rounding=ROUND_HALF_UP)
            if abs(mantissa) >= 10:
                exponent += 1
                mantissa = (mantissa / 10).quantize(q, rounding=ROUND_HALF_UP)
        head = _fixed(float(mantissa), max(decimals, 2), True, False)
        return Text(f"{head} {TIMES} 10", sup(str(exponent).replace("-", MINUS)))
    return Text(_fixed(value, decimals, leading_zero, thousands))


def fmt_int(x) -> Text:
    """A count: ``500``, ``663,678`` (rounded half away from zero; NaN is an em dash)."""
    return fmt_number(x, decimals=0)


def _check_p(p) -> float:
    value = _as_float(p, "p value")
    if not math.isnan(value) and not (-1e-9 <= value <= 1 + 1e-9):
        raise PsychofaceError(
            f"p value {value!r} lies outside [0, 1]; pass a probability (check the p column)"
        )
    return value


def fmt_p(p, *, symbol: bool = True) -> Text:
    """``p = .034``, ``p < .001``, ``p > .999`` (``symbol=False``: ``.034``, ``< .001`` for table cells).

    Exact p to three decimals (APA, 2020, 6.36), rounded half away from zero like every number here,
    within two limits: a value below .001 gives ``< .001`` (so p = .0005, which would round to .001,
    still reads ``p < .001``), and a value that rounds to 1.000 (p ≥ .9995) gives ``> .999``; p = .9993
    is ``p = .999``. The printed value is thus never ``.000`` nor ``1.000``. Values within 1e-9 outside
    [0, 1] (floating-point error) are clipped; others raise :class:`PsychofaceError`.
    """
    value = _check_p(p)
    if math.isnan(value):
        rel, num = "=", MISSING
    elif value < 0.001:
        rel, num = "<", ".001"
    else:
        num = _fixed(min(value, 1.0), 3, leading_zero=False, thousands=False)
        rel, num = (">", ".999") if num == "1.000" else ("=", num)
    if symbol:
        return Text(italic("p"), f" {rel} {num}")
    return Text(num if rel == "=" else f"{rel} {num}")


def fmt_df(df) -> Text:
    """Degrees of freedom: ``48``; corrected ``47.32``; a pair ``(2, 97)`` gives ``2, 97``."""
    if isinstance(df, (tuple, list)):
        return Text(", ").join(fmt_df(d) for d in df)
    value = _as_float(df, "degrees of freedom")
    if math.isnan(value):
        return Text(MISSING)
    if value < 0:
        raise PsychofaceError(f"degrees of freedom {value!r} are negative; check the df column")
    if abs(value - round(value)) < 1e-6:
        return Text(_fixed(float(round(value)), 0, True, False))
    return Text(_fixed(value, 2, True, False))


def fmt_level(level) -> str:
    """A confidence level as a percentage: 0.95 gives ``95%``, 0.999 gives ``99.9%``."""
    value = _as_float(level, "confidence level")
    if not 0 < value < 1:
        raise PsychofaceError(
            f"confidence level {level!r} must lie between 0 and 1 (e.g. 0.95 for a 95% CI)"
        )
    return f"{value * 100:.10g}%"


def fmt_ci(low, high, *, level=0.95, bounded: bool = True, decimals: int = 2,
           label: bool = True) -> Text:
    """``95% CI [.28, .40]`` (``bounded=False``: ``[0.28, 1.40]``; ``label=False``: brackets only)."""
    lo, hi = _as_float(low, "CI lower bound"), _as_float(high, "CI upper bound")
    if lo > hi + 1e-12 * max(1.0, abs(hi)):
        raise PsychofaceError(
            f"CI lower bound {lo!r} exceeds the upper bound {hi!r}; pass (low, high) in that order"
        )
    body = Text("[", fmt_number(lo, decimals, not bounded), ", ",
                fmt_number(hi, decimals, not bounded), "]")
    return Text(f"{fmt_level(level)} CI ", body) if label else body


# --------------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Symbol:
    """A statistical symbol: how it is written, whether it is bounded by 1 (no leading zero),
    its default decimals and what it means (for table notes)."""

    text: Text
    bounded: bool
    decimals: int = 2
    meaning: str = ""


SYMBOLS: dict[str, Symbol] = {
    "r": Symbol(italic("r"), True, meaning="Pearson correlation"),
    "R2": Symbol(Text(italic("R"), sup("2")), True, meaning="proportion of variance explained"),
    "rho": Symbol(greek("ρ"), True, meaning="Spearman rank correlation"),
    "tau": Symbol(greek("τ"), True, meaning="Kendall rank correlation"),
    "tau_a": Symbol(Text(greek("τ"), sub("A")), True, meaning="Kendall's tau-a"),
    "eta2": Symbol(Text(greek("η"), sup("2")), True, meaning="eta squared"),
    "alpha": Symbol(greek("α"), True, meaning="Cronbach's alpha"),
    "ICC": Symbol(Text("ICC"), True, meaning="intraclass correlation coefficient"),
    "r_sb": Symbol(Text(italic("r"), sub("SB")), True,
                   meaning="split-half reliability, Spearman-Brown corrected"),
    "p": Symbol(italic("p"), True, decimals=3, meaning="p value"),
    "t": Symbol(italic("t"), False),
    "z": Symbol(italic("z"), False),
    "F": Symbol(italic("F"), False),
    "chi2": Symbol(Text(greek("χ"), sup("2")), False),
    "M": Symbol(italic("M"), False, meaning="mean"),
    "SD": Symbol(italic("SD"), False, meaning="standard deviation"),
    "SE": Symbol(italic("SE"), False, meaning="standard error"),
    "Mdn": Symbol(italic("Mdn"), False, meaning="median"),
    "b": Symbol(italic("b"), False, meaning="unstandardized regression coefficient"),
    "beta": Symbol(greek("β"), False, meaning="standardized regression coefficient"),
    "d": Symbol(italic("d"), False, meaning="Cohen's d"),
    "n": Symbol(italic("n"), False, decimals=0, meaning="number of stimuli"),
    "N": Symbol(italic("N"), False, decimals=0, meaning="total number"),
    "df": Symbol(italic("df"), False, decimals=0, meaning="degrees of freedom"),
    "r_norm": Symbol(Text(italic("r"), sub("norm")), False,
                     meaning="correlation divided by the noise ceiling"),
    "delta_r": Symbol(Text(greek("Δ"), italic("r")), False,
                      meaning="difference between two correlations"),
    "RMSE": Symbol(Text("RMSE"), False, meaning="root-mean-square error"),
}
_ALIASES = {"r2": "R2", "icc": "ICC", "rmse": "RMSE", "tau-a": "tau_a", "chi-square": "chi2"}


def symbol(name: "str | Symbol") -> Symbol:
    """Look up a statistical symbol by name (``"r"``, ``"rho"``, ``"R2"``/``"r2"``, ``"t"``, ...)."""
    if isinstance(name, Symbol):
        return name
    key = _ALIASES.get(name, name)
    if key not in SYMBOLS:
        raise PsychofaceError(
            f"statistical symbol {name!r} is unknown; use one of {', '.join(SYMBOLS)}"
        )
    return SYMBOLS[key]


def fmt_stat(name: "str | Symbol", value, *, df=None, n=None, decimals: int | None = None) -> Text:
    """A statistic with its symbol: ``r = .34``, ``t(48) = 2.10``, ``χ²(2, N = 100) = 3.20``.

    The symbol decides italics and the leading zero; ``df`` (number or pair) and ``n`` (total N, as
    APA writes for chi-square) go in parentheses after the symbol. ``"p"`` delegates to :func:`fmt_p`.
    """
    sym = symbol(name)
    if sym is SYMBOLS["p"]:
        return fmt_p(value)
    head = Text(sym.text)
    inside = []
    if df is not None:
        inside.append(fmt_df(df))
    if n is not None:
        inside.append(Text(italic("N"), " = ", fmt_int(n)))
    if inside:
        head = Text(head, "(", Text(", ").join(inside), ")")
    dec = sym.decimals if decimals is None else decimals
    return Text(head, " = ", fmt_number(value, dec, leading_zero=not sym.bounded))


def stars(p, levels=STAR_LEVELS) -> str:
    """``"*"``, ``"**"``, ``"***"``: how many of ``levels`` p lies below (``""`` for NaN)."""
    value = _check_p(p)
    if math.isnan(value):
        return ""
    return "*" * sum(value < level for level in levels)


def probability_note(levels=STAR_LEVELS) -> Text:
    """The APA probability note for stars: ``*p < .05. **p < .01. ***p < .001.``"""
    parts = []
    for k, level in enumerate(levels, start=1):
        value = _check_p(level)
        digits = format(Decimal(repr(value)).normalize(), "f")
        parts.append(Text("*" * k, italic("p"), f" < {digits.removeprefix('0')}."))
    return Text(" ").join(parts)
