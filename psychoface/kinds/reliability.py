"""The reliability kind: split-half reliability (Spearman-Brown) of each attribute's mean ratings, the
noise ceiling, and ICCs when the ratings carry rater ids; its sentences, summary and methods text."""

from __future__ import annotations

from typing import Mapping

from psychoface import workflows
from psychoface.config import StudyConfig
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, Words, register
from psychoface.reports import text
from psychoface.reports.apa import EN_DASH, Symbol, Text, fmt_int, fmt_number, fmt_p, fmt_stat, italic
from psychoface.reports.section import Section, result_table
from psychoface.reports.tables import register_columns
from psychoface.reports.text import and_list, ci_of, cell, extremes, level_of, ratings_phrase, stat_clause

register_columns({
    "icc": {"header": "ICC", "kind": "bounded", "ci_owner": True,
            "definition": "ICC = intraclass correlation coefficient"},
    "ratings_median": {"header": Text(italic("Mdn"), " ratings"), "kind": "unbounded", "decimals": 1,
                       "definition": Text(italic("Mdn"), " ratings = median number of ratings per stimulus")},
    "r_half": {"header": Text("Split-half ", italic("r")), "kind": "bounded",
               "definition": Text("split-half ", italic("r"), " = correlation of the two halves' mean ratings "
                                  "across stimuli, averaged over random splits")},
    "reliability": {"header": "Reliability", "kind": "bounded", "ci_owner": True,
                    "definition": Text("reliability = split-half ", italic("r"), " stepped up with the Spearman",
                                       EN_DASH, "Brown formula")},
    "type": {"header": "Form", "kind": "text"},
    "block": {"header": "Block", "kind": "integer",
              "definition": Text("Block = a set of stimuli and the raters who rated them, linked by their ratings "
                                 "(raters nested in sets of stimuli give one block per set)")},
    "dropped": {"header": "Dropped", "kind": "text",
                "definition": Text("Dropped = stimuli and raters of the attribute in blocks too small (or too "
                                   "large) for an ICC")},
    "split": {"header": "Split", "kind": "text",
              "definition": Text("Split = halves of the raters, or random halves of each stimulus's ratings "
                                 "where rater ids do not allow that")},
    **{name: {"hidden": True} for name in ("ratings_min", "ratings_max", "n_splits", "type_mw", "excluded_stimuli",
                                            "stimuli_dropped", "raters_dropped", "repeats_averaged")},
})


def study(config: StudyConfig, attributes=None, *, n_splits: int = 100, by: str | None = None):
    """Split-half reliability (and ICC per block of the design when rater ids exist) of the study's single
    ratings; with ``by`` (a rater-level column), of each of its values' raters, a ``by`` column naming the value.

    Returns ``(split_half, icc)``; ``icc`` is None without rater ids.
    """
    import pandas as pd

    from psychoface.analyses.icc import icc
    from psychoface.analyses.reliability import split_half_reliability
    from psychoface.data.ratings import split_by_raters

    ratings = workflows.load_ratings_from_config(config)
    groups = {None: ratings} if by is None else split_by_raters(ratings, by)
    tables, iccs = [], []
    for value, part in groups.items():
        names = attributes if attributes is None or value is None else [a for a in attributes if a in part.attributes]
        table = split_half_reliability(
            part, attributes=names, n_splits=n_splits, n_bootstrap=config.n_bootstrap,
            ci_level=config.ci_level, seed=config.seed,
        )
        found = icc(part.trials, attributes=names, ci_level=config.ci_level) if part.has_raters else None
        for frame in (table, found):
            if frame is not None and by is not None:
                frame.insert(1, by, value)
        tables.append(table)
        iccs.append(found)
    table = pd.concat(tables, ignore_index=True)
    table.attrs = tables[0].attrs
    found = None
    if iccs[0] is not None:
        found = pd.concat(iccs, ignore_index=True)
        found.attrs = iccs[0].attrs
    notes = list(next(iter(groups.values())).notes)
    for frame in (table, found):
        if frame is not None:
            meta = dict(frame.attrs["psychoface"])
            meta.update(by=[by] if by else [], exclusions=list(meta.get("exclusions") or []) + notes)
            frame.attrs = {"psychoface": meta}
    return table, found


ICC_SHOWN = ("ICC2", "ICC2k", "ICC3", "ICC3k")


def build(config, *, attributes=None, n_splits: int = 100, by: str | None = None, figures_dir=None,
          figure_prefix: str = "", progress=None) -> Section:
    """Split-half reliability (Spearman-Brown) of each attribute, ICC per block of the design when rater
    ids exist; with ``by`` (a rater-level column), separately for each of its values."""
    table, iccs = study(config, attributes, n_splits=n_splits, by=by)
    tables = [result_table(table)]
    described = [(table, 0)]
    data = {"reliability": table}
    if iccs is not None:
        icc_table = icc_shown(iccs)
        tables.append(result_table(icc_table, title="Intraclass correlations of the ratings"))
        described.append((icc_table, 1))
        data["icc"] = iccs
    return Section("reliability", "Reliability of the Ratings", tables, described, [], data)


def icc_shown(iccs):
    """The printed ICC table: the forms psychologists report, with block, n, k and what was dropped; its
    note says how each attribute's design was split into blocks and how each block was estimated."""
    keep = iccs[iccs["type"].isin(ICC_SHOWN)].reset_index(drop=True)
    by = [c for c in keep.columns if c in (iccs.attrs.get("psychoface", {}).get("by") or ())]
    cols = ["attribute", *by]
    if (keep.groupby(["attribute", *by])["block"].nunique() > 1).any():
        cols.append("block")
    cols += [c for c in ("type", "type_mw", "icc", "ci_low", "ci_high", "F", "df1", "df2", "p", "n", "k") if c in keep.columns]
    shown = keep[cols].copy()
    dropped = keep["stimuli_dropped"].fillna(0).astype(int).astype(bool) | keep["raters_dropped"].fillna(0).astype(int).astype(bool)
    if dropped.any():
        shown["dropped"] = [_dropped(r) for r in keep.itertuples()]
    meta = dict(iccs.attrs.get("psychoface", {}))
    meta["exclusions"] = list(meta.get("exclusions") or []) + design_statements(iccs)
    shown.attrs["psychoface"] = meta
    return shown


def _dropped(row) -> str:
    s, r = int(row.stimuli_dropped), int(row.raters_dropped)
    if not s and not r:
        return "none"
    return f"{s:,} stimul{'us' if s == 1 else 'i'}, {r:,} rater{'s' * (r != 1)}"


def design_statements(iccs) -> list[str]:
    """Per attribute: its blocks (n and k of each), the method of each kind of block, what was left out."""
    out = []
    keys = ["attribute"] + [c for c in (iccs.attrs.get("psychoface", {}).get("by") or ()) if c in iccs.columns]
    for key, rows in iccs.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        name = key[0] + "".join(f" ({k}: {v})" for k, v in zip(keys[1:], key[1:]))
        blocks = rows.drop_duplicates("block")
        if len(blocks) > 1:
            sizes = "; ".join(f"block {int(b.block)}: {int(b.n):,} stimuli, {int(b.k):,} raters"
                              for b in blocks.itertuples())
            out.append(f"{name}: the raters were nested in {len(blocks)} sets of stimuli, so ICCs were computed in "
                       f"each block ({sizes})")
        if (blocks["design"] == "incomplete").any():
            which = ", ".join(str(int(b)) for b in blocks.loc[blocks["design"] == "incomplete", "block"])
            out.append(f"{name}: raters rated different subsets of the stimuli{f' in block {which}' if len(blocks) > 1 else ''}; "
                       "ICCs from the variance components of crossed random effects of stimuli and raters (REML, "
                       "every rating kept), k forms at the harmonic mean number of ratings per stimulus, CIs Wald "
                       "intervals of the logit ICC, no F test")
        first = blocks.iloc[0]
        if first["stimuli_dropped"] or first["raters_dropped"]:
            out.append(f"{name}: {int(first['stimuli_dropped']):,} stimuli and {int(first['raters_dropped']):,} raters "
                       "in blocks too small for an ICC (fewer than 3 stimuli or 2 raters) were left out")
    return out


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
    subject = Text(f"The split-half reliability of {ratings_phrase(row, attrs)}", across)
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
    if cell(row, "dropped") not in (None, "none"):
        context.append(Text(f"{row['dropped']} left out"))
    block = f" in block {int(row['block'])}" if cell(row, "block") is not None else ""
    head = Text(f"For {ratings_phrase(row, attrs)}{block}",
                Text(" (", Text(", ").join(context), ")") if context else "", ", ")
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
    method = str(attrs.get("method") or "")
    if method.startswith("split-half by raters"):
        how = ("splitting the raters at random into two halves (within each set of faces and its raters)"
               + (f" {int(splits):,} times" if splits else "") + ", correlating the two halves' mean ratings")
    else:
        how = ("splitting each face's ratings at random into two halves" + (f" {int(splits):,} times" if splits else "")
               + (" (the raters where rater ids allowed it)" if "split = raters" in method else "")
               + ", correlating the half means")
    return [Text(
        f"The reliability of each attribute's mean ratings was estimated by {how} across faces, averaging these "
        f"correlations over splits and stepping the mean up with the Spearman{EN_DASH}Brown formula "
        f"{cites.paren('brown1910', 'spearman1910')}, the reliability being undefined when the mean "
        f"split-half correlation was not positive; the noise ceiling of each attribute was {derived}"
        + (f" {cites.paren('spearman1904')}." if derived.startswith("the square root") else "."))]


def icc_summary(df, attrs, where: str) -> list[Text]:
    """A long ICC table in words: per attribute, the range of ICC(A,k) over its blocks, with n and k."""
    out = []
    keys = ["attribute"] + [c for c in (attrs.get("by") or ()) if c in df.columns]
    for key, rows in df.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        attribute = key[0] + "".join(f", {v} raters" for v in key[1:])
        main = rows[rows["type"] == "ICC2k"] if (rows["type"] == "ICC2k").any() else rows
        pairs = [(int(r.n), int(r.k)) for r in main.itertuples()]
        if len(pairs) == 1:
            sizes = f"{pairs[0][0]:,} faces, {pairs[0][1]:,} raters"
        elif len(set(pairs)) == 1:
            sizes = f"{len(pairs)} blocks of {pairs[0][0]:,} faces and their own {pairs[0][1]:,} raters"
        else:
            sizes = f"{len(pairs)} blocks: " + and_list([f"{n:,} faces and {k:,} raters" for n, k in pairs])
        values = main["icc"].dropna()
        if values.empty:
            continue
        form = cell(main.iloc[0], "type_mw") or main.iloc[0]["type"]
        value = (Text(fmt_number(values.iloc[0], 2, leading_zero=False)) if len(values) == 1 else
                 Text("from ", fmt_number(values.min(), 2, leading_zero=False), " to ",
                      fmt_number(values.max(), 2, leading_zero=False), " across blocks"))
        out.append(Text(f"For {attribute} ({sizes}), {form} was ", value, "."))
    if out:
        out[-1] = Text(out[-1].plain[:-1], f" ({where})." if where.startswith("Table") else f"; see {where}.")
    return out


def icc_methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """The ICC forms, their source, and how blocks and incomplete designs were handled."""
    forms = attrs.get("forms") or attrs.get("icc")
    forms = and_list(forms) if isinstance(forms, (list, tuple)) else (str(forms) if forms else None)
    out = [Text("Intraclass correlations" + (f" ({forms})" if forms else "")
                + f" followed {cites.narrative('shrout1979')}, computed within each set of faces and the raters "
                "who rated them; where raters rated different subsets of a set, from the variance components of "
                "crossed random effects of faces and raters (restricted maximum likelihood), keeping every rating.")]
    return out


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
        Option("by", None, "A rater-level column (e.g. rater_sex): the reliability of each of its values' raters."),
        common.BOOTSTRAP, common.SEED, common.RATINGS,
    ),
    words=(
        Words(("reliability", "split_half_reliability"),
              lambda row, attrs, n_tests: [reliability_sentence(row, attrs)], summary, methods,
              title="Split-half reliability of the mean ratings"),
        Words(("icc",), lambda row, attrs, n_tests: [icc_sentence(row, attrs)], icc_summary, icc_methods,
              title="Intraclass correlations of the ratings"),
    ),
    citations=("brown1910", "spearman1910", "spearman1904", "shrout1979", "mcgraw1996"),
    demo={},
))
