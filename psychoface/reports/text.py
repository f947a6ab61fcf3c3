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
the (corrected) p values. :func:`methods_paragraphs` assembles the method section from the kinds'
methods texts and adds CIs, p values and corrections; :func:`references` lists every work cited there
and in the texts passed to it (:mod:`psychoface.reports.references`). Parentheses inside parentheses
become brackets (APA 7, 6.10; :func:`parenthetical`).
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


def ratings_phrase(row: Mapping) -> str:
    attribute = cell(row, "attribute")
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


def with_note(*parts, note: str | None = None) -> Text:
    return Text(*parts, parenthetical(note), ".")


def delta(stat: str) -> Symbol:
    """Δr, Δρ, ...: a difference of two bounded statistics can exceed 1, so it keeps its zero."""
    return Symbol(Text(greek("Δ"), symbol(stat).text), bounded=False)


STATISTICS = {"r": "r", "rho": "rho", "tau": "tau", "tau_a": "tau_a"}


# --------------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------------


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


def param_number(x) -> Text:
    """A parameter value: integers with separators, powers of ten as 10ⁿ, others in shortest form."""
    value = float(x)
    if value > 0:
        exponent = math.log10(value)
        if abs(exponent) >= 3 and exponent == round(exponent):
            return Text("10", sup(str(int(round(exponent))).replace("-", MINUS)))
    if value == int(value) and abs(value) < 1e15:
        return fmt_int(value)
    return Text(f"{value:.6g}".replace("-", MINUS))


def series(parts: list) -> Text:
    """Texts joined with APA's serial comma."""
    if len(parts) <= 2:
        return Text(" and ").join(parts)
    return Text(Text(", ").join(parts[:-1]), ", and ", parts[-1])


def param_values(values) -> Text:
    values = list(values)
    if len(values) > 4:
        return Text(f"{len(values)} values from ", param_number(min(values)), " to ",
                    param_number(max(values)))
    return series([param_number(v) for v in values])


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
    return [Text("Each image was ", series(steps), ".")] if steps else []


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
        head += f", from layer{'s' if len(names) > 1 else ''} {and_list(names)}"
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


def _ci_clause(attrs: Mapping, cites: Citations, written: set) -> Text | None:
    """``Confidence intervals (95%) came from <method> (<resamples>; <citation>)``, or None when the
    analysis has no CI or the paragraph already stated the same CI method with the same parameters."""
    ci_method, n_boot = method_text(attrs.get("ci_method")), attrs.get("n_bootstrap")
    level = level_of(attrs)
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
    if is_permutation(attrs):
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
        out.append(Text(f"Analyses were run with {and_list(libs)}."))
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
