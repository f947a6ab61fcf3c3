"""How the geometry kind's results are put in words: a sentence per row, a summary of a long table, and
the methods text of each analysis (the engine adds the CI, p and correction clauses from the attrs)."""

from __future__ import annotations

import pandas as pd

from psychoface.reports import text
from psychoface.reports.apa import Symbol, Text, fmt_number, fmt_p, greek, italic, sub
from psychoface.reports.tables import register_columns

THETA = Symbol(greek("θ"), False, meaning="angle in radians")
D_R = Symbol(Text(italic("d"), sub("R")), False, meaning="Riemannian distance")
RHO = "rho"

register_columns({
    "mean_distinctiveness": {"header": Text(italic("M"), " distinctiveness (rad)"), "kind": "unbounded",
                             "definition": Text("mean angle of the faces' feature directions to their "
                                                "Fréchet mean on the sphere, in radians")},
    "open_hemisphere": {"header": "Open hemisphere", "kind": "text"},
    "reference": {"header": "Reference", "kind": "text"},
    "n_attributes": {"header": "Attributes", "kind": "integer"},
    "target": {"header": "Target", "kind": "text"},
    "distance": {"header": "Distance", "kind": "unbounded",
                 "definition": Text("geodesic distance: angle in radians (sphere, Procrustes) or "
                                    "Riemannian distance between second-moment matrices")},
    "distance_tangent": {"header": "Tangent distance", "kind": "unbounded"},
    "group_a": {"header": "Group A", "kind": "text"},
    "group_b": {"header": "Group B", "kind": "text"},
    "n_a": {"header": Text(italic("n"), sub("A")), "kind": "integer"},
    "n_b": {"header": Text(italic("n"), sub("B")), "kind": "integer"},
    "test": {"header": "Test", "kind": "text"},
    "metric": {"header": "Metric", "kind": "text"},
    "shrinkage_a": {"header": "Shrinkage A", "kind": "bounded"},
    "shrinkage_b": {"header": "Shrinkage B", "kind": "bounded"},
    "map": {"header": "Map", "kind": "text"},
    "trustworthiness": {"header": "Trustworthiness", "kind": "bounded"},
    "continuity": {"header": "Continuity", "kind": "bounded"},
})


def _rows_clause(row, attrs, n_tests, name, estimate, *, df=None):
    p, note = text.p_and_note(row, attrs, n_tests)
    clause = text.stat_clause(name, estimate, df=df, ci=text.ci_of(row), ci_level=text.level_of(attrs), p=p)
    return clause, note


def _direction(value) -> str:
    rounded = fmt_number(value, 2).plain
    return "near zero" if rounded in ("0.00", "\u2014") else "negative" if rounded.startswith("\u2212") else "positive"


def distinctiveness_sentence(row, attrs, n_tests):
    clause, note = _rows_clause(row, attrs, n_tests, "r", row["r"], df=text.r_df(row))
    layer, attribute = row["layer"], row["attribute"]
    target = ("the faces' known distinctiveness in the generator's parameter space" if attribute ==
              "generator distinctiveness" else f"mean {attribute} ratings")
    hemisphere = ("" if row.get("open_hemisphere", True) else
                  f"; the directions in {layer} do not lie in an open hemisphere, so their Fréchet mean need "
                  "not be unique")
    return [Text(f"The correlation between distinctiveness in {layer} and {target} was {_direction(row['r'])}, ",
                 clause, text.parenthetical(note), hemisphere, ".")]


def attribute_space_sentence(row, attrs, n_tests):
    stat = attrs.get("statistic") or RHO
    clause, note = _rows_clause(row, attrs, n_tests, stat, row[stat])
    reference = row.get("reference", "people")
    whose = "people's" if reference == "people" else f"the {reference}'s"
    what = ("The attribute space of people" if row["layer"] == "people"
            else "The attribute space of random features (the baseline)" if row["layer"] == "random features"
            else f"The attribute space of {row['layer']}")
    return [Text(f"{what} (angles between {int(row['n_attributes'])} attributes) correlated with {whose}, ", clause,
                 text.parenthetical(note), ".")]


def shape_sentence(row, attrs, n_tests):
    p, note = text.p_and_note(row, attrs, n_tests)
    clause = text.stat_clause(THETA, row["distance"], p=p)
    return [Text(f"The Procrustes angular distance between {row['layer']} and the {row['target']} was ", clause,
                 text.parenthetical(note), ".")]


def riemannian_sentence(row, attrs, n_tests):
    p, note = text.p_and_note(row, attrs, n_tests)
    metric = "affine-invariant" if row["metric"] == "affine" else "log-Euclidean"
    parts = [text.stat_clause(D_R, row["distance"])]
    if pd.notna(row.get("z")):
        parts.append(text.stat_clause("z", row["z"], p=p))
    return [Text(f"The {metric} Riemannian distance between the second-moment matrices of {row['layer_a']} and "
                 f"{row['layer_b']} was ", Text(", ").join(parts), text.parenthetical(note), ".")]


def map_quality_sentence(row, attrs, n_tests):
    return [Text(f"The map {row['map']} kept trustworthiness ", fmt_number(row["trustworthiness"], 2, False),
                 " and continuity ", fmt_number(row["continuity"], 2, False), f" at {int(row['k'])} neighbours.")]


def map_scores_sentence(row, attrs, n_tests):
    clause, note = _rows_clause(row, attrs, n_tests, "r", row["r"], df=text.r_df(row))
    return [Text(f"Nearest-neighbour predictions of mean {row['attribute']} ratings from the map {row['map']} "
                 "correlated with the ratings, ", clause, text.parenthetical(note), ".")]


def group_sentence(row, attrs, n_tests):
    p, note = text.p_and_note(row, attrs, n_tests)
    return [Text(f"In {row['layer']}, the Fréchet means of the {row['group_a']} ({int(row['n_a'])} faces) and "
                 f"{row['group_b']} ({int(row['n_b'])}) groups were ", text.stat_clause(THETA, row["distance"]),
                 " rad apart", Text(", ", fmt_p(p)) if p is not None and pd.notna(p) else "", f" ({row['test']} permutation test)",
                 text.parenthetical(note), ".")]


def summary(estimate: str, noun: str, sentence):
    """Words for a long table: the count significant after correction and the strongest rows."""
    def build(df, attrs, where):
        out = []
        significance = text.significance(df, attrs, noun, where)
        if significance is not None:
            out.append(Text(significance.plain[:1].upper(), significance.plain[1:], "."))
        strongest = df.reindex(df[estimate].abs().sort_values(ascending=False).index).head(3)
        for _, row in strongest.iterrows():
            out += sentence(row, attrs, len(df))
        return out
    return build


# -- methods ---------------------------------------------------------------------------------------


def _once(written, key):
    if key in written:
        return False
    written.add(key)
    return True


def methods_distinctiveness(attrs, cites, written):
    if not _once(written, "geometry: distinctiveness"):
        return []
    out = [Text(
        f"Following the face-space model {cites.paren('valentine1991')}, each face's layer vector was normalised "
        "to unit length, a point on the unit sphere; the Fréchet (Karcher) mean of the faces' directions was "
        f"found by Riemannian gradient descent {cites.paren('karcher1977')} in the span of the data, and a face's "
        "distinctiveness was its geodesic distance (angle) to that mean. The mean is unique when the directions "
        f"lie in an open hemisphere {cites.paren('buss2001')}, checked by a linear program"
    )]
    missing = attrs.get("not_in_open_hemisphere") or []
    out[0] = Text(out[0], f"; it failed in {text.and_list(missing)}." if missing else "; it held in every layer.")
    how = {"pearson": "Pearson", "spearman": "Spearman"}.get(attrs.get("method"), "Pearson")
    out.append(Text(f"Distinctiveness was correlated with each attribute's mean ratings ({how} correlation); "
                    "every bootstrap resample re-estimated the Fréchet mean."))
    return out


def methods_attribute_space(attrs, cites, written):
    if not _once(written, "geometry: attribute space"):
        return []
    return [Text(
        "Each attribute's readout direction in a layer was the weight vector of a ridge regression "
        f"{cites.paren('hoerl1970')} of its mean ratings on the layer's centred features, refitted on all faces "
        "with the penalty chosen by leave-one-out cross-validation; the angles between these directions formed "
        "the layer's attribute space, and the angles arccos(r) between the attributes' mean ratings across faces "
        f"the human one. The spaces were compared with Mantel tests {cites.paren('mantel1967')} over attributes "
        f"and drawn as classical MDS maps {cites.paren('torgerson1952')}, each rotated onto people's by "
        f"orthogonal Procrustes {cites.paren('schonemann1966')}. Because the readout directions are built from "
        "the ratings, a kernel without structure (2,048 random Gaussian features, reported as a baseline) "
        "reproduces people's space up to sampling; a layer's departure from people's space is what its "
        "features add."
    )]


def methods_shape(attrs, cites, written):
    if not _once(written, "geometry: shape"):
        return []
    return [Text(
        f"The Procrustes angular distance {cites.paren('williams2021')} between each layer and the ratings is the "
        "angle between the two centred representations after the best rotation of one onto the other, equal to "
        f"the Bures angle between their stimulus Gram matrices {cites.paren('bhatia2019')}; its permutation test "
        "shuffled the faces of the ratings, with the max-statistic correction across layers "
        f"{cites.paren('westfall1993')}."
    )]


def methods_riemannian(attrs, cites, written):
    if not _once(written, "geometry: riemannian"):
        return []
    shrink = str(attrs.get("shrinkage_method") or "")
    how = {"Ledoit-Wolf": f"by the Ledoit{chr(8211)}Wolf estimator {cites.paren('ledoit2004')}",
           "OAS": f"by the oracle approximating shrinkage estimator {cites.paren('chen2010')}"}.get(
        shrink, f"by a fixed amount ({attrs.get('shrinkage')})")
    metric = ("affine-invariant distance " + cites.paren("pennec2006") if attrs.get("metric") == "affine"
              else "log-Euclidean distance " + cites.paren("arsigny2007"))
    scale = ", minimised over a scale factor" if attrs.get("scale") == "free" else ""
    return [Text(
        f"Riemannian RSA {cites.paren('shahbazi2021')} compared the layers' stimulus second-moment matrices, "
        f"computed in the stimulus-centred subspace and shrunk towards a multiple of the identity {how}, with the "
        f"{metric}{scale}; z is the distance standardised by its permutation distribution."
    )]


def methods_maps(attrs, cites, written):
    if not _once(written, "geometry: maps"):
        return []
    method = str(attrs.get("map_method") or "pca")
    how = {"pca": "principal component analysis",
           "tsne": f"t-SNE {cites.paren('vandermaaten2008')} with openTSNE {cites.paren('policar2024')}",
           "umap": f"UMAP {cites.paren('mcinnes2018')}"}[method]
    k = attrs.get("k", 10)
    return [Text(
        f"Two-dimensional maps of each layer's features and of the cross-validated predicted attribute vectors were "
        f"drawn by {how} and scored by trustworthiness and continuity at {k} neighbours "
        f"{cites.paren('venna2001')}, and for each attribute by the correlation of its mean ratings with "
        f"{k}-nearest-neighbour predictions from the map coordinates in {attrs.get('folds', 10)}-fold "
        "cross-validation."
    )]


def methods_group(attrs, cites, written):
    if not _once(written, "geometry: groups"):
        return []
    return [Text(
        "The Fréchet means on the sphere of two groups of faces were compared by the geodesic distance between "
        "them" + (", both means re-estimated in every permutation of the group labels."
                  if attrs.get("method") == "exact" else
                  ", approximated in the tangent space at the pooled Fréchet mean (log map) for the permutations.")
    )]


CITATIONS = ("valentine1991", "karcher1977", "buss2001", "hoerl1970", "mantel1967", "torgerson1952",
             "schonemann1966", "williams2021", "bhatia2019", "westfall1993", "shahbazi2021", "ledoit2004",
             "chen2010", "pennec2006", "arsigny2007", "vandermaaten2008", "policar2024", "mcinnes2018",
             "venna2001", "oosterhof2008")
