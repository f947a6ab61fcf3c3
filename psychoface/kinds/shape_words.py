"""Words of the shape kind: a sentence per result row, summaries of long tables, the methods text, and
how its new table columns render."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from psychoface.reports import text
from psychoface.reports.apa import Text, fmt_int, fmt_number, fmt_stat, greek, italic
from psychoface.reports.tables import register_columns
from psychoface.reports.text import cell, ci_of, level_of, p_and_note, stat_clause, with_note

AVERAGENESS, ASYMMETRY, DIMORPHISM = "shape averageness", "shape asymmetry", "shape dimorphism"
REGRESSION, GROUPS, DIRECTIONAL, SHAPE_RSA = ("shape regression", "shape group difference",
                                              "shape directional asymmetry", "shape rsa")
SCORES = {
    AVERAGENESS: "shape distinctiveness (distance from the mean shape)",
    ASYMMETRY: "shape asymmetry (distance from the mirror image)",
    DIMORPHISM: "the dimorphism score",
}

register_columns({
    "ss": {"header": Text(italic("SS")), "kind": "unbounded", "decimals": 4},
    "ms": {"header": Text(italic("MS")), "kind": "unbounded", "decimals": 4, "hidden": True},
    "F": {"header": "F", "kind": "unbounded"},
    "Z": {"header": Text(italic("Z")), "kind": "unbounded",
          "definition": Text(italic("Z"), " = effect size, the standard deviate of ln ", italic("F"),
                             " in its residual-randomisation distribution")},
    "df_resid": {"header": Text(italic("df"), " residual"), "kind": "df"},
    "rss": {"header": "RSS", "kind": "unbounded", "hidden": True},
    "distance": {"header": Text("Kendall ", greek("ρ")), "kind": "unbounded", "decimals": 3,
                 "definition": Text("Kendall ", greek("ρ"), " = geodesic distance between the mean shapes in "
                                    "Kendall's shape space (radians)")},
    "procrustes_distance": {"header": "Procrustes distance", "kind": "unbounded", "decimals": 3,
                            "definition": Text("Procrustes distance = 2 sin(", greek("ρ"), "/2), as geomorph "
                                               "reports it")},
    "n_a": {"header": Text(italic("n"), " A"), "kind": "integer"},
    "n_b": {"header": Text(italic("n"), " B"), "kind": "integer"},
    "group_a": {"header": "Group A", "kind": "text"},
    "group_b": {"header": "Group B", "kind": "text"},
    "term": {"header": "Term", "kind": "text"},
    "score": {"header": "Score", "kind": "text"},
    "rdm": {"header": "RDM", "kind": "text"},
    "directional_asymmetry": {"header": "Directional asymmetry", "kind": "unbounded", "decimals": 4},
    "share_directional": {"header": "Share directional", "kind": "bounded"},
    "mean_asymmetry": {"header": Text(italic("M"), " asymmetry"), "kind": "unbounded", "decimals": 4},
})


def _permutation_note(attrs: Mapping, p, correction: str | None, test: str) -> str | None:
    pieces = []
    k = attrs.get("n_permutations")
    if p is not None and k:
        pieces.append(f"{test}, {int(k):,} permutations")
    return "; ".join(pieces + ([correction] if correction else [])) or None


def score_sentence(row: Mapping, attrs: Mapping, n_tests: int | None) -> list[Text]:
    """"Distinctiveness (...) correlated with mean attractive ratings, r(146) = −.21, 95% CI [−.36, −.05],
    p = .012 (permutation test, 10,000 permutations; Holm-corrected across 4 attributes)." With
    covariates: "... controlling for age, partial r(145) = ..."."""
    analysis = str(attrs.get("analysis"))
    covariates = attrs.get("covariates") or []
    n = cell(row, "n")
    df = None if n is None else int(n) - 2 - len(covariates)
    p, correction = p_and_note(row, attrs, n_tests)
    clause = stat_clause("r", cell(row, "r"), df=df, ci=ci_of(row), ci_level=level_of(attrs), p=p)
    control = f" controlling for {text.and_list(covariates)}" if covariates else ""
    phrase = SCORES.get(analysis, "the shape score")
    if analysis == DIMORPHISM and attrs.get("groups"):
        a, b = attrs["groups"]
        phrase = f"the position between the {a} and {b} mean shapes"
    test = "Freedman–Lane permutation test" if covariates else "permutation test"
    return [with_note(f"{phrase[0].upper()}{phrase[1:]} correlated with mean {cell(row, 'attribute')} ratings"
                      f"{control}, ", "partial " if covariates else "", clause,
                      note=_permutation_note(attrs, p, correction, test))]


def score_summary(df, attrs: Mapping, where: str) -> list[Text]:
    """The attributes most and least related to the score, the median r and how many were significant."""
    phrase = SCORES.get(str(attrs.get("analysis")), "the shape score")
    covariates = attrs.get("covariates") or []
    return text.correlations_summary(
        df, df, attrs, where, column="r", subject=f"Across the {len(df):,} attributes, {phrase}",
        target=lambda row: f"mean {cell(row, 'attribute')} ratings",
        clause=lambda row, p: Text("partial " if covariates else "", stat_clause(
            "r", cell(row, "r"), ci=ci_of(row), ci_level=level_of(attrs), p=p)),
        tests="correlations")


def regression_sentence(row: Mapping, attrs: Mapping, n_tests: int | None) -> list[Text]:
    """"Face shape varied with mean dominant ratings, R² = .05, F(1, 144) = 7.21, Z = 3.10, p < .001
    (residual randomisation, 10,000 permutations; type I sums of squares; Holm-corrected across 4 terms).\""""
    p, correction = p_and_note(row, attrs, n_tests)
    df = (int(cell(row, "df")), int(cell(row, "df_resid")))
    parts = [fmt_stat("R2", cell(row, "r2")), fmt_stat("F", cell(row, "F"), df=df)]
    z = cell(row, "Z")
    if z is not None:
        parts.append(Text(italic("Z"), " = ", fmt_number(z, 2)))
    if p is not None:
        parts.append(fmt_stat("p", p))
    note = _permutation_note(attrs, p, None, "residual randomisation")
    note = "; ".join(x for x in (note, attrs.get("ss_type_label"), correction) if x) or None
    term = cell(row, "term")
    what = f"mean {term} ratings" if term in (attrs.get("rated") or ()) else str(term)
    return [with_note(f"Face shape varied with {what}, ", Text(", ").join(parts), note=note)]


def regression_summary(df, attrs: Mapping, where: str) -> list[Text]:
    top = df.loc[df["r2"].idxmax()]
    sig = text.significance(df, attrs, "terms", where)
    first = Text(f"Across the {len(df):,} terms of the shape regression, {cell(top, 'term')} explained the most "
                 "shape variation, ", fmt_stat("R2", cell(top, "r2")), ", ", fmt_stat("F", cell(top, "F"),
                 df=(int(cell(top, "df")), int(cell(top, "df_resid")))), ".")
    total = Text("Together the terms explained ", fmt_stat("R2", float(df["r2"].sum())), " of the shape variation")
    return [first, text.closing(total, sig, where)]


def group_sentence(row: Mapping, attrs: Mapping, n_tests: int | None) -> list[Text]:
    """"The mean shapes of the female (n = 74) and male (n = 76) faces differed by ρ = 0.041 rad
    (Procrustes distance 0.041), p < .001 (permutation of the group labels, 10,000 permutations).\""""
    p, correction = p_and_note(row, attrs, n_tests)
    body = Text(greek("ρ"), " = ", fmt_number(cell(row, "distance"), 3), " rad (Procrustes distance ",
                fmt_number(cell(row, "procrustes_distance"), 3), ")")
    if p is not None:
        body = Text(body, ", ", fmt_stat("p", p))
    return [with_note(Text(f"The mean shapes of the {cell(row, 'group_a')} (", italic("n"), " = ",
                           fmt_int(cell(row, "n_a")), f") and {cell(row, 'group_b')} (", italic("n"), " = ",
                           fmt_int(cell(row, "n_b")), ") faces differed by "), body,
                      note=_permutation_note(attrs, p, correction, "permutation of the group labels"))]


def directional_sentence(row: Mapping, attrs: Mapping, n_tests: int | None) -> list[Text]:
    """"Faces were asymmetric on average: the mean asymmetric component had a norm of 0.0136 rad, 7.6% of
    the asymmetric variation, p = .001 (random mirror swaps, 10,000 permutations).\""""
    p = cell(row, "p")
    share = cell(row, "share_directional")
    head = "Faces were asymmetric in the same direction on average" if p is not None and p < 0.05 else \
        "Faces showed no reliable directional asymmetry"
    parts = [Text(head, ": the mean asymmetric component had a norm of ",
                  fmt_number(cell(row, "directional_asymmetry"), 4), " rad, ",
                  fmt_number(100 * share, 1), "% of the asymmetric variation")]
    if p is not None:
        parts.append(Text(", ", fmt_stat("p", p)))
    return [with_note(*parts, note=_permutation_note(attrs, p, None, "random swaps with the mirror image"))]


def rsa_sentence(row: Mapping, attrs: Mapping, n_tests: int | None) -> list[Text]:
    """"The fc7 RDM correlated with the face-shape RDM, ρ = .21, 95% CI [.15, .27], p = .003 (Mantel
    test, 10,000 permutations; Holm-corrected across 6 RDMs).\""""
    p, correction = p_and_note(row, attrs, n_tests)
    name, estimate = text.first_cell(row, "rho", "r")
    clause = stat_clause(name or "rho", estimate, ci=ci_of(row), ci_level=level_of(attrs), p=p)
    rdm = str(cell(row, "rdm"))
    subject = f"The {rdm} RDM" if not rdm.endswith(" ratings") else f"The RDM of mean {rdm}"
    return [with_note(f"{subject} correlated with the face-shape RDM, ", clause,
                      note=_permutation_note(attrs, p, correction, "Mantel test"))]


def methods(attrs: Mapping, cites, written: set) -> list[Text]:
    """The shape methods, each said once per paragraph."""
    out = []
    analysis = str(attrs.get("analysis"))
    if "shape: space" not in written:
        written.add("shape: space")
        source = str(attrs.get("landmark_source") or "landmark files")
        detected = "detected: dlib" in source
        source = Path(source.split(" (detected")[0]).name or source
        k, template = attrs.get("n_landmarks"), attrs.get("template")
        where = (f"detected with dlib's HOG face detector {cites.paren('dalal2005', 'king2009')} and 68-point "
                 f"shape predictor {cites.paren('kazemi2014')}, trained on the iBUG 300-W faces "
                 f"{cites.paren('sagonas2016')}" if detected else f"read from {source}")
        out.append(Text(f"Face shape was described by {k} landmarks ({template} template) {where}. The "
                        "configurations were centred and scaled to unit size and analysed in Kendall's shape "
                        f"space {cites.paren('kendall1984', 'dryden2016')} with geomstats "
                        f"{cites.paren('miolane2020')}: the mean shape was the Fréchet mean "
                        f"{cites.paren('karcher1977')}, each face's distance from it the geodesic distance ",
                        greek("ρ"), " (its Procrustes distance, 2 sin(", greek("ρ"), "/2), as in geomorph; "
                        f"{cites.inner('adams2013')}), and shape variation was summarised by principal "
                        f"components of the tangent coordinates at the mean {cites.paren('fletcher2004')}."))
    if analysis == AVERAGENESS:
        out.append(Text("Averageness was tested as the correlation of distinctiveness (", greek("ρ"),
                        f" from the mean shape; {cites.inner('langlois1990', 'rhodes2006')}) with each "
                        "attribute's mean ratings; the bootstrap over faces re-estimated the mean shape in every "
                        "resample."))
    if analysis in (AVERAGENESS, ASYMMETRY, DIMORPHISM) and attrs.get("covariates") and "shape: fl" not in written:
        written.add("shape: fl")
        out.append(Text(f"Covariates ({text.and_list(attrs['covariates'])}) were partialled out, and p values "
                        "came from permuting the ratings' residuals from the covariates "
                        f"{cites.paren('freedman1983')}."))
    if analysis == REGRESSION:
        out.append(Text("The tangent coordinates were regressed on the predictors "
                        f"(a Procrustes linear model; {cites.inner('goodall1991')}) with "
                        f"{attrs.get('ss_type_label', 'type I sums of squares')}; each term was tested by "
                        f"residual randomisation {cites.paren('collyer2015')}, its effect size ", italic("Z"),
                        " being the standard deviate of ln ", italic("F"), " in that distribution."))
    if analysis == GROUPS:
        out.append(Text("Group mean shapes were the groups' Fréchet means, compared by their geodesic distance "
                        "with the group labels permuted; a face's dimorphism score was its position along the "
                        "geodesic from one group's mean (0) to the other's (1)."))
    if analysis in (ASYMMETRY, DIRECTIONAL) and "shape: symmetry" not in written:
        written.add("shape: symmetry")
        out.append(Text("A face's asymmetry was the geodesic distance between its configuration and its mirror "
                        "image with left and right landmarks relabelled; symmetric and asymmetric components "
                        f"followed {cites.narrative('klingenberg2002')}, and directional asymmetry was tested by "
                        "randomly swapping faces with their mirror images."))
    if analysis == SHAPE_RSA:
        out.append(Text("The face-shape RDM held the geodesic distances between every pair of faces and was "
                        "compared with the layer and rating RDMs."))
    return out
