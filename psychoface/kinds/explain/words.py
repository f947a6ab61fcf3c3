"""Words of the explain kind: table columns, a sentence per result row, summaries and the methods text."""

from __future__ import annotations

from psychoface.kinds.registry import Words
from psychoface.reports import text
from psychoface.reports.apa import SYMBOLS, Symbol, Text, fmt_ci, fmt_int, fmt_number, fmt_p, italic, sub
from psychoface.reports.tables import register_columns

SYMBOLS.setdefault("d_z", Symbol(Text(italic("d"), sub("z")), False,
                                 meaning="standardized mean difference of paired values (mean / SD)"))

register_columns({
    "region": {"header": "Region", "kind": "text"},
    "region_a": {"header": "Region A", "kind": "text"},
    "region_b": {"header": "Region B", "kind": "text"},
    "area_share": {"header": "Area", "kind": "bounded", "definition": Text("Area = the region's share of the image")},
    "reference_share": {"header": "Reference", "kind": "bounded",
                        "definition": Text("Reference = mean share under the permuted-ratings readout")},
    "share": {"header": "Share", "kind": "bounded",
              "definition": Text("Share = mean share of absolute attribution in the region")},
    "share_ratio": {"header": "Ratio", "kind": "unbounded", "definition": Text("Ratio = Share / Area")},
    "signed_share": {"header": "Signed", "kind": "unbounded",
                     "definition": Text("Signed = mean signed attribution in the region relative to the map's "
                                        "absolute total (positive: raises the prediction)")},
    "share_excess": {"header": "Excess", "kind": "unbounded", "decimals": 3,
                     "definition": Text("Excess = mean of Share minus the area (or reference) share")},
    "pair_difference": {"header": "Difference", "kind": "unbounded", "decimals": 3},
    "d_z": {"header": Text(italic("d"), sub("z")), "kind": "unbounded", "ci_owner": True},
    "share_low": {"header": "Share low", "kind": "bounded", "hidden": True},
    "share_high": {"header": "Share high", "kind": "bounded", "hidden": True},
    "sign": {"header": "Sign", "kind": "text"},
    "extent": {"header": "Pixels", "kind": "integer"},
    "extent_share": {"header": "Extent", "kind": "bounded",
                     "definition": Text("Extent = the cluster's share of the map")},
    "peak_t": {"header": Text("Peak ", italic("t")), "kind": "unbounded"},
    "peak_x": {"header": "x", "kind": "integer"},
    "peak_y": {"header": "y", "kind": "integer"},
    "peak_region": {"header": "Peak region", "kind": "text"},
    "mean_difference": {"header": Text(italic("M"), " difference"), "kind": "unbounded"},
    "curve": {"header": "Curve", "kind": "text"},
    "auc_attribution": {"header": "AUC map", "kind": "unbounded"},
    "auc_random": {"header": "AUC random", "kind": "unbounded"},
    "advantage": {"header": "Advantage", "kind": "unbounded",
                  "definition": Text("Advantage = how much better than a random order the map orders pixels "
                                     "(AUC difference, positive: faithful)")},
    "check": {"header": "Check", "kind": "text"},
    "similarity": {"header": "Similarity", "kind": "bounded", "ci_owner": True,
                   "definition": Text("Similarity = mean Spearman correlation of absolute maps, original vs "
                                      "randomised")},
    "verdict": {"header": "Verdict", "kind": "text"},
    "contrast": {"header": "Contrast", "kind": "text"},
})

TITLES = {
    "explain_regions": "Share of attribution by face region against the region's area",
    "explain_regions_reference": "Share of attribution by face region against the permuted-ratings readout",
    "explain_clusters": "Clusters of the pixel maps against the permuted-ratings readout",
    "explain_faithfulness": "Deletion and insertion against a random order",
    "explain_sanity": "Sanity checks: similarity of maps after randomisation",
    "explain_contrasts": "Clusters of the differences between attributes' maps",
}

CITATIONS = ("zhou2016", "selvaraju2017", "sundararajan2017", "lundberg2017", "smilkov2017", "zeiler2014", "bach2015",
             "anders2021", "adebayo2018", "maris2007", "gramfort2013", "kokhlikyan2020", "petsiuk2018",
             "umeyama1991", "gower1975", "sagonas2013", "smith2009", "lakens2013", "wilcoxon1945", "phipson2010",
             "holm1979", "hoerl1970")


def note(*parts) -> Text:
    return Text(*parts)


def _p(row, attrs, n_tests):
    p, phrase = text.p_and_note(row, attrs, n_tests)
    return fmt_p(p), phrase


def _dz(row, attrs):
    return Text(fmt_number(row["d_z"], 2), Text(", ") if row.get("ci_low") is not None else "",
                fmt_ci(row["ci_low"], row["ci_high"], level=attrs.get("ci_level") or 0.95, bounded=False)
                if row.get("ci_low") == row.get("ci_low") else "")


def _region_sentence(row, attrs, n_tests):
    p, phrase = _p(row, attrs, n_tests)
    more = "more" if row["share_excess"] > 0 else "less"
    direction = "raising" if row["signed_share"] > 0 else "lowering"
    if _against_reference(row):
        against = Text(fmt_number(100 * row["reference_share"], 1), "% under the permuted-ratings readout (",
                       more, f" than a readout that predicts nothing, mostly {direction} the prediction), ")
    else:
        against = Text(fmt_number(100 * row["area_share"], 1),
                       f"% of the area ({more} than its size predicts, mostly {direction} the prediction), ")
    return [Text(f"For {row['attribute']}, the {row['region']} held ", fmt_number(100 * row["share"], 1),
                 "% of the absolute attribution against ", against,
                 italic("d"), sub("z"), " = ", _dz(row, attrs), ", ", p, text.parenthetical(phrase), ".")]


def _against_reference(row) -> bool:
    value = row.get("reference_share")
    return value is not None and value == value


def _cluster_sentence(row, attrs, n_tests):
    head = f"For {row['attribute']}, a {row['sign']} cluster" if "attribute" in row else \
        f"For {row['contrast']}, a {row['sign']} cluster"
    return [Text(head, " of ", fmt_int(row["extent"]), " pixels (", fmt_number(100 * row["extent_share"], 1),
                 f"% of the map) peaked in the {row['peak_region'] or 'map'}, peak ", italic("t"), " = ",
                 fmt_number(row["peak_t"], 2), ", ", fmt_p(row["p"]), ".")]


def _cluster_summary(df, attrs, where):
    sig = df[df["p"] < 0.05]
    key = "attribute" if "attribute" in df.columns else "contrast"
    parts = []
    for name, sub_df in sig.groupby(key, sort=False):
        peaks = ", ".join(dict.fromkeys(r or "map" for r in sub_df["peak_region"]))
        parts.append(f"{name}: {len(sub_df)} (peaks in {peaks})")
    if not parts:
        return [Text(f"No cluster reached p < .05 ({where}).")]
    return [Text(f"Clusters with p < .05 ({where}): ", "; ".join(parts), ".")]


def _region_summary(df, attrs, where):
    out = []
    for attr, sub_df in df.groupby("attribute", sort=False):
        top = sub_df.sort_values("share_ratio", ascending=False).iloc[0]
        sig = sub_df[(sub_df["p_corr"] < 0.05) & (sub_df["share_excess"] > 0)]["region"].tolist()
        baseline = "share under the permuted-ratings readout" if _against_reference(top) else "area share"
        out.append(Text(f"For {attr}, the {top['region']} held the most attribution relative to its area (",
                        fmt_number(top["share_ratio"], 2), f" times its area share); regions above their {baseline} "
                        f"after correction: {text.and_list(sig) if sig else 'none'} ({where})."))
    return out


def _faith_sentence(row, attrs, n_tests):
    p, phrase = _p(row, attrs, n_tests)
    better = "better" if row["advantage"] > 0 else "worse"
    return [Text(f"For {row['attribute']}, the map ordered pixels {better} than a random order in the "
                 f"{row['curve']} curve (AUC ", fmt_number(row["auc_attribution"], 2), " vs ",
                 fmt_number(row["auc_random"], 2), "), ", italic("d"), sub("z"), " = ", _dz(row, attrs), ", ", p,
                 text.parenthetical(phrase), ".")]


def _sanity_sentence(row, attrs, n_tests):
    level = attrs.get("ci_level") or 0.95
    return [Text(f"For {row['attribute']}, {row['check']}: similarity ", fmt_number(row["similarity"], 2,
                                                                                    leading_zero=False), ", ",
                 fmt_ci(row["ci_low"], row["ci_high"], level=level, bounded=True), f"; check {row['verdict']}.")]


def _sanity_summary(df, attrs, where):
    failed = df[df["verdict"] == "failed"]
    if failed.empty:
        return [Text(f"Every sanity check was passed ({where}).")]
    return [Text(f"{len(failed)} of {len(df)} sanity checks failed ({where}): the maps stayed similar after ",
                 text.and_list(dict.fromkeys(failed["check"])), ".")]


def _methods(attrs, cites, written):
    analysis = attrs.get("analysis")
    if analysis != "explain_regions":
        return []
    label, key = attrs.get("method_label", "Grad-CAM"), attrs.get("method_citation", "selvaraju2017")
    out = [Text(f"To see which parts of a face drive the predicted ratings, each face's out-of-fold prediction "
                f"from {attrs.get('layer')} (the ridge readout fitted without it) {cites.paren('hoerl1970')} was "
                f"explained with {label} {cites.paren(key)}, computed with Captum {cites.paren('kokhlikyan2020')}"
                + (f" and zennit {cites.paren('anders2021')}" if attrs.get("method") == "lrp" else "") + ".")]
    if not attrs.get("passes_sanity", True):
        out.append(Text(f"{label} is known to fail the model-randomisation sanity check "
                        f"{cites.paren('adebayo2018')}; its maps should not be read as evidence."))
    if attrs.get("aligned"):
        out.append(Text("The faces were aligned already, so maps were only resampled to a common grid."))
    else:
        out.append(Text("Maps were warped to the mean landmark configuration (generalised Procrustes analysis "
                        f"{cites.paren('gower1975')}) by each face's least-squares similarity transform "
                        f"{cites.paren('umeyama1991')}."))
    out.append(Text("Face regions were built from the 68-point landmark scheme "
                    f"{cites.paren('sagonas2013')}; each region's share of absolute attribution was compared "
                    + ("with the same face's share under a readout fitted on permuted ratings"
                       if attrs.get("region_baseline") == "reference" else "with its share of the image area")
                    + " by sign-flip permutation tests across faces "
                    f"{cites.paren('phipson2010')}, with d_z {cites.paren('lakens2013')} and Holm's correction "
                    f"{cites.paren('holm1979')}"
                    + ("; a region can draw more attribution than its area wherever the network's features vary "
                       "most, whatever the rating, so these tests describe where the maps concentrate, and the "
                       "cluster tests below test what is specific to the rating"
                       if attrs.get("region_baseline", "area") == "area" else "") + ". Pixel maps, centred and scaled per face, were tested with cluster-based "
                    f"permutation tests {cites.paren('maris2007')} in MNE-Python {cites.paren('gramfort2013')}, "
                    "paired against the maps of a readout fitted on permuted ratings. Deletion and insertion "
                    f"curves {cites.paren('petsiuk2018')} and the data- and cascading model-randomisation checks "
                    f"{cites.paren('adebayo2018')} tested whether the maps are faithful to the model."))
    return out


WORDS = (
    Words(("explain_regions",), _region_sentence, _region_summary, _methods,
          title=TITLES["explain_regions"]),
    Words(("explain_clusters", "explain_contrasts"), _cluster_sentence, _cluster_summary,
          title=TITLES["explain_clusters"]),
    Words(("explain_faithfulness",), _faith_sentence, title=TITLES["explain_faithfulness"]),
    Words(("explain_sanity",), _sanity_sentence, _sanity_summary, title=TITLES["explain_sanity"]),
    Words(("explain_region_pairs",), lambda row, attrs, n: [], title="Pairwise region comparisons"),
)
