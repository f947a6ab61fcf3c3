"""The reliability kind: split-half reliability (Spearman-Brown) of each attribute's mean ratings, the
noise ceiling, and ICCs when the ratings carry rater ids; its sentences, summary and methods text."""

from __future__ import annotations

from typing import Mapping

from psychoface import workflows
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import EN_DASH, Symbol, Text, fmt_int, fmt_number, fmt_p, fmt_stat, italic
from psychoface.reports.section import Section, result_table
from psychoface.reports.tables import ApaTable
from psychoface.reports.text import and_list, ci_of, cell, extremes, level_of, ratings_phrase, stat_clause


def build(config, *, attributes=None, n_splits: int = 100, figures_dir=None, figure_prefix: str = "",
          progress=None) -> Section:
    """Split-half reliability (Spearman-Brown) of each attribute, ICC when rater ids exist."""
    table, iccs = workflows.reliability(config, attributes, n_splits=n_splits)
    tables = [result_table(table)]
    data = {"reliability": table}
    if iccs is not None:
        keep = iccs[iccs["type"].isin(["ICC2", "ICC2k", "ICC3", "ICC3k"])].reset_index(drop=True)
        keep.attrs = iccs.attrs
        cols = [c for c in ("attribute", "type", "icc", "ci_low", "ci_high", "F", "df1", "df2", "p", "n", "k")
                if c in keep.columns]
        icc_table = keep[cols].copy()
        icc_table.attrs = iccs.attrs
        tables.append(ApaTable(icc_table, "Intraclass correlations of the ratings"))
        data["icc"] = iccs
    return Section("reliability", "Reliability of the Ratings", tables, [(table, 0)], [], data)


# -- words ---------------------------------------------------------------------------------------
def _split_half_how(splits) -> str:
    """How a split-half reliability was estimated: the mean split-half r, then Spearman-Brown."""
    over = f" over {int(splits):,} random splits" if splits else ""
    return f"mean split-half correlation{over}, Spearman{EN_DASH}Brown corrected"


def reliability_sentence(row: Mapping, attrs: Mapping | None = None) -> Text:
    """"The split-half reliability of mean trustworthy ratings across 500 faces (mean split-half
    correlation over 1,000 random splits, Spearman–Brown corrected) was r_SB = .89, 95% CI [.86, .91];
    the noise ceiling was .95." When the reliability is undefined the row's ``note`` says why."""
    attrs = attrs or {}
    n = cell(row, "n")
    splits = cell(row, "n_splits") or attrs.get("n_splits")
    how = _split_half_how(splits)
    across = Text(" across ", fmt_int(n), " faces") if n is not None else Text()
    subject = Text(f"The split-half reliability of {ratings_phrase(row)}", across)
    reliability = cell(row, "reliability")
    if reliability is None:
        why = cell(row, "note")
        return Text(subject, " could not be estimated", f": {why}" if why else "", ".")
    clause = stat_clause("r_sb", reliability, ci=ci_of(row), ci_level=level_of(attrs))
    parts = [subject, f" ({how}) was ", clause]
    ceiling = cell(row, "noise_ceiling")
    if ceiling is not None:
        parts += ["; the noise ceiling was ", fmt_number(ceiling, 2, leading_zero=False)]
    return Text(*parts, ".")


def icc_sentence(row: Mapping, attrs: Mapping | None = None) -> Text:
    """"For mean trustworthy ratings (n = 500 faces, k = 20 raters), ICC(A,1) = .45, 95% CI [.40, .50],
    F(499, 9481) = 17.20, p < .001." (McGraw & Wong's name of the form, ``type_mw``, when given.)"""
    attrs = attrs or {}
    form = cell(row, "type_mw") or cell(row, "type") or "ICC"
    context = []
    if cell(row, "n") is not None:
        context.append(Text(fmt_stat("n", row["n"]), " faces"))
    if cell(row, "k") is not None:
        context.append(Text(italic("k"), " = ", fmt_int(row["k"]), " raters"))
    head = Text(f"For {ratings_phrase(row)}", Text(" (", Text(", ").join(context), ")") if context else "",
                ", ")
    sym = Symbol(Text(str(form)), bounded=True)
    parts = [stat_clause(sym, cell(row, "icc"), ci=ci_of(row), ci_level=level_of(attrs))]
    if cell(row, "F") is not None:
        parts.append(fmt_stat("F", row["F"], df=(cell(row, "df1"), cell(row, "df2"))))
    if cell(row, "p") is not None:
        parts.append(fmt_p(row["p"]))
    return Text(head, Text(", ").join(parts), ".")


def summary(df, attrs, where: str) -> list[Text]:
    """The range and median of the reliabilities (and noise ceilings) of a long table."""
    rows = df[df["reliability"].notna()] if "reliability" in df.columns else df.iloc[0:0]
    if rows.empty:
        return text.sentences(df)
    high, low = extremes(rows, "reliability")
    ns = df["n"].dropna().unique() if "n" in df.columns else []
    across = Text(" across ", fmt_int(ns[0]), " faces") if len(ns) == 1 else Text()
    splits = attrs.get("n_splits")
    how = _split_half_how(splits)

    def clause(row):
        return Text(f"{cell(row, 'attribute')}, ", stat_clause("r_sb", cell(row, "reliability"), ci=ci_of(row),
                                                               ci_level=level_of(attrs)))

    out = [Text(f"Across the {len(df):,} attributes, the split-half reliability of the mean ratings",
                across, f" ({how}) was highest for ", clause(high), ", and lowest for ", clause(low), ".")]
    second = [Text("The median reliability was ", fmt_number(rows["reliability"].median(), 2,
                                                            leading_zero=False))]
    if "noise_ceiling" in df.columns and df["noise_ceiling"].notna().any():
        ceilings = df["noise_ceiling"].dropna()
        second.append(Text(", and noise ceilings ranged from ", fmt_number(ceilings.min(), 2, leading_zero=False),
                           " to ", fmt_number(ceilings.max(), 2, leading_zero=False)))
    undefined = len(df) - len(rows)
    if undefined:
        second.append(f"; the reliability of {undefined:,} attribute{'s' if undefined > 1 else ''} "
                      "could not be estimated")
    out.append(Text(*second, f" ({where})." if where.startswith("Table") else f"; see {where}."))
    return out



def methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """How the split-half reliability and the noise ceiling were estimated, with their sources."""
    splits = attrs.get("n_splits")
    ceiling = str(attrs.get("noise_ceiling") or "")
    derived = ("the square root of this reliability" if ceiling.startswith(("sqrt(reliability)", "square root"))
               else "derived from this reliability")
    return [Text(
        "The reliability of each attribute's mean ratings was estimated by splitting each face's "
        "ratings at random into two halves" + (f" {int(splits):,} times" if splits else "")
        + ", correlating the half means across faces, averaging these correlations over splits and "
        f"stepping the mean up with the Spearman{EN_DASH}Brown formula "
        f"{cites.paren('brown1910', 'spearman1910')}, the reliability being undefined when the mean "
        f"split-half correlation was not positive; the noise ceiling of each attribute was {derived}"
        + (f" {cites.paren('spearman1904')}." if derived.startswith("the square root") else "."))]


def icc_methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """The ICC forms and their source."""
    forms = attrs.get("forms") or attrs.get("icc")
    forms = and_list(forms) if isinstance(forms, (list, tuple)) else (str(forms) if forms else None)
    return [Text("Intraclass correlations" + (f" ({forms})" if forms else "")
                 + f" followed {cites.narrative('shrout1979')}.")]


KIND = register(AnalysisKind(
    name="reliability",
    help=("Reliability of the ratings: split-half, ICC and noise ceilings.\n\n"
          "Split-half reliability of each attribute's mean rating (the split-half correlation averaged over "
          "random splits, then Spearman-Brown corrected; bootstrap CI over stimuli), its noise ceiling, and "
          "ICCs when the ratings carry rater ids. Needs trial-level ratings."),
    build=build,
    options=(
        common.ATTRIBUTES,
        Option("n_splits", 100, "Random split-halves averaged per attribute.", ("--splits",), int),
        common.BOOTSTRAP, common.SEED, common.RATINGS,
    ),
    words=(
        Words(("reliability", "split_half_reliability"),
              lambda row, attrs, n_tests: [reliability_sentence(row, attrs)], summary, methods,
              title="Split-half reliability of the mean ratings"),
        Words(("icc",), lambda row, attrs, n_tests: [icc_sentence(row, attrs)], None, icc_methods,
              title="Intraclass correlations of the ratings"),
    ),
    citations=("brown1910", "spearman1910", "spearman1904", "shrout1979", "mcgraw1996"),
    demo={},
))
