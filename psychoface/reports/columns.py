"""Table columns: how a result column is shown in an APA table (its header, its number format, which
estimate a CI belongs to, which columns stay in the CSV only) and the general note a table's columns
and ``df.attrs["psychoface"]`` call for.

Column kinds (:class:`Column`): ``text``; ``bounded`` (a statistic that cannot exceed 1: no leading
zero); ``unbounded`` (leading zero); ``p``; ``integer``; ``df``; ``ci`` (from the two columns
``<name>_low`` and ``<name>_high``, rendered ``[.28, .40]``; ``bounded`` says which leading-zero rule).
An analysis kind declares its own statistic columns with :func:`register_columns`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import Segment, Text, fmt_int, greek, italic, sub, symbol
from psychoface.reports.text import correction_of, correction_phrase, method_text, with_details

if TYPE_CHECKING:  # annotations only: pandas is imported where it is used (fast CLI start-up)
    import pandas as pd

KINDS = ("text", "bounded", "unbounded", "p", "integer", "df", "ci")
NUMERIC_KINDS = ("bounded", "unbounded", "p", "integer", "df", "ci")


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


_CORRECTION_SUBSCRIPTS = {"holm": "Holm", "fdr_bh": "BH", "bonferroni": "Bonf"}
_TEXT_HEADERS = {"attribute": "Attribute", "layer": "Layer", "model": "Model", "unit": "Unit"}


def subscripted(name: str, subscript: str) -> Text:
    """A header such as r_A or p_boot: the symbol ``name`` with a roman subscript."""
    return Text(symbol(name).text, sub(subscript))


# name: (kind, header: a symbol name, a header string or a Text[, decimals]): the statistics any analysis
# reports; an analysis kind adds its own with register_columns
_STAT_COLUMNS = {
    "n": ("integer", "n"), "k": ("integer", Text(italic("k"))),
    "r": ("bounded", "r"), "rho": ("bounded", "rho"), "tau": ("bounded", "tau"),
    "r2": ("bounded", "R2"),
    "t": ("unbounded", "t"), "z": ("unbounded", "z"), "F": ("unbounded", "F"),
    "df": ("df", "df"), "df1": ("df", subscripted("df", "1")), "df2": ("df", subscripted("df", "2")),
    "p": ("p", "p"),
    "noise_ceiling": ("bounded", "Noise ceiling"),
    "r_normalized": ("unbounded", Text("Normalized ", italic("r"))),
    "rmse": ("unbounded", "RMSE"), "mae": ("unbounded", "MAE"),
}
#: Estimates a ``ci_low``/``ci_high`` pair belongs to, in order of precedence: the CI column goes
#: right after the first one present (registered owners come before the differences).
_CI_OWNERS = ("r", "rho", "tau", "difference", "diff")
#: Bookkeeping columns that stay in the CSV but not in an automatic APA table.
_HIDDEN = frozenset({"method", "n_pairs", "description"})
_ABBREVIATIONS = {
    "rmse": "RMSE = root-mean-square error",
    "mae": "MAE = mean absolute error",
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
    ``(header, kind, ci_owner)``, ``(kind, header)`` or ``(kind, header, decimals)``. ``{"hidden": True}``
    alone hides a bookkeeping column."""
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
        if spec.get("hidden") and kind is None:
            _HIDDEN = _HIDDEN | {name}
            continue
        if kind not in KINDS or header is None:
            raise PsychofaceError(f"register_columns: column {name!r} has kind {kind!r}; use one of "
                                  f"{', '.join(KINDS)} and give a header")
        if kind == "text":
            _TEXT_HEADERS[name] = header.plain if isinstance(header, Text) else str(header)
        elif spec.get("decimals") is not None:
            _STAT_COLUMNS[name] = (kind, header, int(spec["decimals"]))
        else:
            _STAT_COLUMNS[name] = (kind, header)
        if spec.get("ci_owner") and name not in _CI_OWNERS:  # before the differences, which come last
            at = _CI_OWNERS.index("difference")
            _CI_OWNERS = _CI_OWNERS[:at] + (name,) + _CI_OWNERS[at:]
        if spec.get("hidden"):
            _HIDDEN = _HIDDEN | {name}
        if spec.get("definition") is not None:
            _REGISTERED_DEFINITIONS[name] = Text(spec["definition"])


def _whole_numbers(values: pd.Series) -> bool:
    import pandas as pd
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


def two_lines(header: Text) -> "tuple[Text, Text] | None":
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


def standard_header(name: str, attrs: dict, data: pd.DataFrame) -> "Text | None":
    if name == "p_corr":
        return _p_corr_header(attrs)
    if name in ("difference", "diff"):
        return _delta_text(_statistic(attrs))
    if name == "r_normalized":
        return Text("Normalized ", symbol(_statistic(attrs)).text)
    if name == "r2" and _williams(data):
        return subscripted("r", "2")
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
    import pandas as pd
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
    import pandas as pd
    values = pd.concat([pd.to_numeric(data[n], errors="coerce") for n in names])
    return bool((values.dropna().abs() <= 1).all())


def names_in(data: pd.DataFrame) -> set[str]:
    """The names in the text columns of ``data`` (layer, attribute, covariate names), which a title
    keeps as written: each value or comma-separated part of a value that is one word (a sentence,
    such as a note, names nothing)."""
    import pandas as pd
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
    from psychoface.kinds.registry import kinds

    kinds()  # the built-in kinds register their columns when first needed
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
            sentences.append(Text(standard_header(column, attrs, data), f": {method}."))
    ceiling = method_text(attrs.get("noise_ceiling_method") or attrs.get("noise_ceiling"))
    if "noise_ceiling" in names and ceiling:
        sentences.append(Text(f"Noise ceiling: {ceiling}."))
    if "p" in names and "p_corr" not in names and phrase:
        sentences.append(Text(italic("p"), " values are uncorrected for multiple comparisons."))
    if "note" in data.columns and _shared_note(data, "note"):
        sentences.append(Text(_sentence_case(_shared_note(data, "note")), "."))
    sentences += [Text(_sentence_case(line), ".")
                  for line in [*(attrs.get("exclusions") or ()), *(attrs.get("caveats") or ())]]
    return Text(" ").join(sentences)


def _sentence_case(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:]
