"""Results in words and the methods paragraph.

The analysis parameters below copy what psychoface's analyses write into ``df.attrs["psychoface"]``
(long method descriptions, correction labels, families named with their size) and the short keys a
user may write by hand; both must read well.
"""

import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import MINUS
from psychoface.reports.references import bibliography, citations
from psychoface.kinds.compare import dependent_correlation_sentence
from psychoface.kinds.differences import paired_difference_sentence
from psychoface.kinds.correlate import correlation_sentence, unit_summary_sentence
from psychoface.kinds.predict import prediction_sentence
from psychoface.kinds.reliability import icc_sentence, reliability_sentence
from psychoface.kinds.rsa import rsa_sentence
from psychoface.reports.methods import methods_paragraph, references
from psychoface.reports.text import (
    correction_phrase,
    describe,
    resolution_note,
    sentences,
    stat_clause,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"

SHORT = {"analysis": "predict", "correction": "holm", "family": "attributes", "ci_level": 0.95,
         "ci_method": "percentile bootstrap", "n_bootstrap": 5000, "p_method": "refitting permutation",
         "n_permutations": 1000, "folds": 5, "inner_folds": 5,
         "alphas": [1e-3, 1e-2, 0.1, 1, 10, 100, 1000], "standardize": True, "seed": 0}
PREDICT = {
    "analysis": "predict", "model": "ridge regression (dual form), unpenalised intercept", "seed": 0,
    "folds": 10, "repeats": 1, "inner_folds": "leave-one-out", "alphas": [1e-3, 1e-2, 0.1, 1, 10],
    "alpha_scale": "multiples of the mean squared norm of a training row; with z-scored features this is the "
                   "number of non-constant features (trace(K_train) / n_train)",
    "standardize": True, "n_permutations": 1000, "n_bootstrap": 5000, "ci_level": 0.95,
    "ci_method": "percentile bootstrap over stimuli of (observed, predicted) pairs, predictions fixed",
    "p_method": "one-sided permutation test of a positive correlation, refitting the whole cross-validated "
                "pipeline for each permutation of the ratings; p = (b + 1)/(N + 1)",
    "correction": "Holm", "family": "34 attributes predicted from this layer",
}
RSA = {
    "analysis": "rsa", "seed": 0, "method": "spearman", "statistic": "rho",
    "metric": {"conv5": "correlation", "fc7": "correlation"}, "rating_metric": {"trustworthy": "euclidean"},
    "n_permutations": 10000, "n_bootstrap": 5000, "ci_level": 0.95,
    "ci_method": "percentile bootstrap over stimuli (pairs of a stimulus with its own copy dropped)",
    "p_method": "Mantel permutation of stimulus labels, p = (b + 1)/(N + 1)", "correction": "Holm",
    "family": "2 layers x 34 rating RDMs",
}
RELIABILITY = {"analysis": "split_half_reliability", "n_splits": 100, "n_bootstrap": 5000,
               "ci_level": 0.95, "ci_method": "percentile bootstrap over stimuli", "p_method": None,
               "correction": "none", "family": None, "noise_ceiling": "sqrt(reliability) (Spearman, 1904)"}
COMPARE = {"analysis": "compare_correlations", "seed": 0, "n_bootstrap": 5000, "ci_level": 0.95,
           "ci_method": "paired percentile bootstrap over stimuli",
           "p_method": "Williams' (1959) t for two dependent overlapping correlations, df = n - 3",
           "p_steiger_method": "Steiger's (1980) Z for two dependent overlapping correlations",
           "correction": "none", "family": None}
CORRELATE = {"analysis": "correlate", "n_permutations": 10000, "alpha": 0.05, "ci_method": "none",
             "p_method": "max-statistic permutation test (Westfall & Young, 1993); p = (b + 1) / (N + 1)",
             "correction": "max-T (family-wise)",
             "family": "all non-constant units of the layer, per attribute"}
ROW = {"attribute": "trustworthy", "layer": "fc7", "n": 500, "r": 0.3412, "ci_low": 0.28,
       "ci_high": 0.40, "p": 0.001, "p_corr": 0.0004, "noise_ceiling": 0.76, "r_normalized": 0.449}


def test_prediction_sentence():
    s = prediction_sentence(ROW, SHORT, n_tests=34)
    assert s.plain == (
        "Cross-validated ridge predictions from fc7 correlated with mean trustworthy ratings, "
        "r(498) = .34, 95% CI [.28, .40], p < .001 (Holm-corrected across 34 attributes); the noise "
        "ceiling was .76, and the noise-normalized correlation was r_norm = 0.45.")
    assert s.render("markdown").startswith(
        "Cross-validated ridge predictions from fc7 correlated with mean trustworthy ratings, "
        "*r*(498) = .34, 95% CI [.28, .40], *p* < .001 (Holm-corrected")
    assert "<i>r</i><sub>norm</sub> = 0.45." in s.render("html")
    # the analysis's own attrs: correction label and a family named with its size
    assert "(Holm-corrected across 34 attributes predicted from this layer)" in (
        prediction_sentence(ROW, PREDICT).plain)
    uncorrected = prediction_sentence({**{k: v for k, v in ROW.items() if k != "p_corr"},
                                       "model": "vgg16"}, SHORT)
    assert uncorrected.plain.startswith("Cross-validated ridge predictions from fc7 of vgg16")
    assert ", p = .001;" in uncorrected.plain and "corrected" not in uncorrected.plain


def test_correlation_sentence_direction():
    row = {**ROW, "unit": 12, "r": -0.2, "ci_low": -0.28, "ci_high": -0.11, "p_corr": 0.02}
    assert correlation_sentence(row, {**SHORT, "family_size": 170}).plain == (
        "The correlation between mean trustworthy ratings and unit 12 of fc7 was negative, "
        f"r(498) = {MINUS}.20, 95% CI [{MINUS}.28, {MINUS}.11], p = .020 (Holm-corrected across 170 "
        "attributes).")
    near_zero = correlation_sentence({"r": -0.004, "p": 0.9}, {}, x="A", y="B").plain
    assert near_zero == "The correlation between A and B was near zero, r = .00, p = .900."


def test_rsa_sentences():
    row = {"attribute": "trustworthy", "layer": "fc7", "method": "spearman", "n": 500, "rho": 0.214,
           "ci_low": 0.15, "ci_high": 0.27, "p": 0.0001, "p_corr": 0.0034}
    s = rsa_sentence(row, RSA)
    assert s.plain == (
        "The fc7 RDM correlated with the trustworthy rating RDM over 500 faces, ρ = .21, 95% CI [.15, .27], p = .003 "
        "(Mantel test, 10,000 permutations; Holm-corrected across 2 layers × 34 rating RDMs).")
    assert s.render("latex").startswith(
        "The fc7 RDM correlated with the trustworthy rating RDM over 500 faces, $\\uprho$ = .21, 95\\% CI [.15, .27]")
    tau = rsa_sentence({"tau": 0.1, "p": 0.2}, {"method": "tau-a"})
    assert tau.plain == "The model RDM correlated with the rating RDM, τ_A = .10, p = .200."
    partial = rsa_sentence({"layer": "fc7", "attribute": "smart", "covariates": "pixel",
                            "partial_rho": 0.12, "ci_low": 0.05, "ci_high": 0.2, "p": 0.01},
                           {**RSA, "analysis": "partial_rsa", "correction": "none"})
    assert partial.plain == (
        "The fc7 RDM correlated with the smart rating RDM controlling for the pixel RDM, partial "
        "ρ = .12, 95% CI [.05, .20], p = .010 (Mantel test, 10,000 permutations).")
    with pytest.raises(PsychofaceError, match="no rho, tau or r"):
        rsa_sentence({"p": 0.2}, {})


def test_reliability_and_icc_sentences():
    row = {"attribute": "trustworthy", "n": 500, "n_splits": 1000, "reliability": 0.894,
           "ci_low": 0.86, "ci_high": 0.91, "noise_ceiling": 0.945, "note": ""}
    assert reliability_sentence(row, RELIABILITY).plain == (
        "The split-half reliability of mean trustworthy ratings across 500 faces (mean split-half "
        "correlation over 1,000 random splits, Spearman–Brown corrected) was r_SB = .89, 95% CI [.86, .91]; "
        "the noise ceiling was .95.")
    assert "<i>r</i><sub>SB</sub> = .89" in reliability_sentence(row).render("html")
    undefined = {**row, "reliability": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                 "note": "constant ratings (every rating is 50): reliability undefined"}
    assert reliability_sentence(undefined).plain == (
        "The split-half reliability of mean trustworthy ratings across 500 faces could not be "
        "estimated: constant ratings (every rating is 50): reliability undefined.")
    icc = {"attribute": "trustworthy", "type": "ICC2", "type_mw": "ICC(A,1)", "icc": 0.452,
           "ci_low": 0.40, "ci_high": 0.50, "F": 17.2, "df1": 499, "df2": 9481, "p": 1e-12, "n": 500,
           "k": 20}
    assert icc_sentence(icc).plain == (
        "For mean trustworthy ratings (n = 500 faces, k = 20 raters), ICC(A,1) = .45, 95% CI "
        "[.40, .50], F(499, 9481) = 17.20, p < .001.")


def test_comparison_sentences():
    row = {"a": "conv5", "b": "conv4", "n": 500, "r_a": 0.45, "r_b": 0.38, "r_ab": 0.6,
           "difference": 0.07, "ci_low": 0.02, "ci_high": 0.12, "t": 2.31, "df": 497, "p": 0.021,
           "z": 2.3, "p_steiger": 0.022, "p_bootstrap": 0.004, "attribute": "trustworthy"}
    assert dependent_correlation_sentence(row, COMPARE).plain == (
        "The correlation with mean trustworthy ratings was higher for conv5 (r = .45) than for conv4 "
        "(r = .38), Williams's t(497) = 2.31, p = .021.")
    assert paired_difference_sentence(row, COMPARE).plain == (
        "The difference between conv5 and conv4 in their correlation with mean trustworthy ratings "
        "was Δr = 0.07, 95% CI [0.02, 0.12], p = .004 (paired bootstrap over stimuli, 5,000 resamples).")
    steiger = {"r1": 0.38, "r2": 0.45, "r12": 0.6, "n": 500, "z": -2.1, "p": 0.036}
    assert dependent_correlation_sentence(steiger, {"analysis": "steiger_z"}).plain == (
        "The correlation with the mean ratings was lower for the first predictor (r = .38) than for "
        f"the second predictor (r = .45), Steiger's z = {MINUS}2.10, p = .036.")
    layers = {"layer_a": "conv5", "layer_b": "fc7", "attribute": "trustworthy", "rho_a": 0.2,
              "rho_b": 0.1, "difference": 0.1, "ci_low": 0.05, "ci_high": 0.15, "p": 0.001}
    assert paired_difference_sentence(layers, {"analysis": "compare_layers", "statistic": "rho",
                                               "n_bootstrap": 5000}).plain == (
        "The difference between conv5 and fc7 in their RDM correlation with the trustworthy rating "
        "RDM was Δρ = 0.10, 95% CI [0.05, 0.15], p = .001 (paired bootstrap over stimuli, 5,000 "
        "resamples).")
    with pytest.raises(PsychofaceError, match="neither t"):
        dependent_correlation_sentence({"r_a": 0.1, "r_b": 0.2}, {})


def test_unit_summary_sentence():
    row = {"attribute": "trustworthy", "n": 500, "n_units": 4096, "n_significant": 312,
           "proportion": 312 / 4096, "max_abs_r": 0.413}
    assert unit_summary_sentence(row, CORRELATE).plain == (
        "Of 4,096 units, 312 (7.6%) correlated with mean trustworthy ratings at α = .05 (corrected by "
        "max-T [family-wise] across all non-constant units of the layer, per attribute); the largest "
        "|r| was .41.")


def test_correction_phrases():
    assert correction_phrase({"correction": "holm", "family": "attributes"}, 34) == (
        "Holm-corrected across 34 attributes")
    assert correction_phrase({"correction": "Holm", "family": "34 attributes of fc7"}, 3) == (
        "Holm-corrected across 34 attributes of fc7")
    assert correction_phrase({"correction": "fdr_bh", "family_size": 170}) == (
        "Benjamini–Hochberg-corrected across 170 tests")
    assert correction_phrase({"correction": "Benjamini-Hochberg", "family": "layers"}) == (
        "Benjamini–Hochberg-corrected across layers")
    assert correction_phrase({"correction": "Bonferroni"}) == "Bonferroni-corrected"
    assert correction_phrase({"correction": "max-T (family-wise)", "family": "all units of the layer, "
                              "per attribute"}, 40) == (
        "corrected by max-T (family-wise) across all units of the layer, per attribute")
    assert correction_phrase({"correction": "none"}, 3) is None
    assert correction_phrase({}, 3) is None
    assert stat_clause("t", 2.1, df=48, p=0.04).plain == "t(48) = 2.10, p = .040"


def test_sentences_dispatch_on_the_analysis():
    df = pd.DataFrame([ROW, {**ROW, "attribute": "smart", "p_corr": 0.2}])
    df.attrs["psychoface"] = SHORT
    out = sentences(df)
    assert len(out) == 2 and "(Holm-corrected across 2 attributes)" in out[1].plain
    compare = pd.DataFrame([{"a": "x", "b": "y", "r_a": 0.4, "r_b": 0.3, "z": 1.2, "t": 1.3,
                             "df": 497, "p": 0.2, "difference": 0.1, "ci_low": -0.05,
                             "ci_high": 0.25, "p_bootstrap": 0.2}])
    compare.attrs["psychoface"] = COMPARE
    assert [s.plain.split(",")[0] for s in sentences(compare)] == [
        "The correlation with the mean ratings was higher for x (r = .40) than for y (r = .30)",
        "The difference between x and y in their correlation with the mean ratings was Δr = 0.10"]
    reliability = pd.DataFrame([{"attribute": "a", "n": 10, "reliability": 0.5, "ci_low": 0.2,
                                 "ci_high": 0.7}])
    reliability.attrs["psychoface"] = RELIABILITY
    assert sentences(reliability)[0].plain.startswith("The split-half reliability of mean a ratings")
    summary = pd.DataFrame([{"attribute": "a", "n": 10, "n_units": 5, "n_significant": 1,
                             "proportion": 0.2, "max_abs_r": 0.5}])
    summary.attrs["psychoface"] = CORRELATE
    assert sentences(summary)[0].plain.startswith("Of 5 units, 1 (20.0%) correlated")
    df.attrs["psychoface"] = {"analysis": "pca"}
    with pytest.raises(PsychofaceError, match="no sentence template"):
        sentences(df)


PARAMS = {
    "n_images": 500, "dataset": "omi", "attributes": ["trustworthy"] * 34, "n_ratings": 663678,
    "rating_scale": "0-100", "model": "mobilenet_v2", "weights": "IMAGENET1K_V1",
    "weights_sha256": "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    "layers": {"block16": "features.16", "pool": "features.18"}, "pooling": "avg",
    "preprocessing": {"resize": 256, "crop": 224, "interpolation": "bilinear",
                      "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "analyses": [
        RELIABILITY,
        {"analysis": "icc", "forms": ["ICC2", "ICC2k"], "ci_method": "F distribution",
         "p_method": "F test of ICC = 0", "correction": "none"},
        SHORT,
        {**RSA, "method": "tau-a", "covariates": ["pixel"], "analysis": "partial_rsa"},
        {**COMPARE, "correction": "fdr_bh", "family": "attributes"},
    ],
    "seed": 7,
    "versions": {"psychoface": "0.1.0", "python": "3.11.7", "torch": "2.5.1", "numpy": "2.3.5",
                 "scikit-learn": "1.5.2"},
}


def test_methods_paragraph_states_every_parameter():
    text = methods_paragraph(PARAMS).plain
    for fragment in [
        "500 face images", "One Million Impressions dataset (Peterson et al., 2022)", "34 attributes",
        "0–100 scale", "663,678 ratings", "MobileNetV2 (Sandler et al., 2018)",
        "pretrained on ImageNet (Russakovsky et al., 2015; torchvision weights IMAGENET1K_V1, "
        "SHA-256 b03531047ffa…)", "block16 (features.16) and pool (features.18)",
        "resized to 256 pixels on the shorter side (bilinear interpolation), center-cropped to "
        "224 × 224 pixels, and normalized with channel means (0.485, 0.456, 0.406) and standard "
        "deviations (0.229, 0.224, 0.225)", "averaged over spatial positions",
        "two halves 100 times", "Spearman–Brown formula (Brown, 1910; Spearman, 1910)",
        "the noise ceiling of each attribute was the square root of this reliability (Spearman, 1904)",
        "Confidence intervals (95%) came from percentile bootstrap over stimuli (5,000 "
        "resamples; Efron & Tibshirani, 1993).",
        "Intraclass correlations (ICC2 and ICC2k) followed Shrout and Fleiss (1979)",
        "Confidence intervals (95%) came from F distribution; p values from F test of ICC = 0.",
        "ridge regression (Hoerl & Kennard, 1970) in 5-fold cross-validation",
        "7 values from 10⁻³ to 10³ by 5-fold cross-validation within each training set",
        "standardized with statistics of the training folds only",
        "p values from refitting permutation (1,000 permutations; Phipson & Smyth, 2010), computed as "
        "(b + 1)/(N + 1), Holm-corrected (Holm, 1979) across attributes",
        "(RDMs; Kriegeskorte et al., 2008)", "correlation distance between stimuli",
        "rating RDMs with euclidean distance", "Kendall's τ_A (Nili et al., 2014)",
        "Partial RSA controlled for the pixel RDM: each layer RDM was correlated with each rating RDM "
        "after both were regressed on the covariate RDM", "Mantel tests (Mantel, 1967)",
        "percentile bootstrap over stimuli (pairs of a stimulus with its own copy dropped; 5,000 "
        "resamples)", "p values from Mantel permutation of stimulus labels, p = (b + 1)/(N + 1) (10,000 "
        "permutations), Holm-corrected across 2 layers × 34 rating RDMs",
        "Williams's (1959) t test for dependent correlations (Steiger, 1980) and Steiger's z test",
        "Benjamini–Hochberg-corrected (Benjamini & Hochberg, 1995) across attributes",
        "used seed 7", "psychoface 0.1.0, Python 3.11.7, PyTorch 2.5.1 (Paszke et al., 2019), NumPy "
        "2.3.5 (Harris et al., 2020), and scikit-learn 1.5.2 (Pedregosa et al., 2011)",
    ]:
        assert fragment in text, fragment
    # a CI method stated once (identical parameters) is not repeated for the next analysis
    assert text.count("from percentile bootstrap over stimuli (5,000 resamples") == 1
    assert "Inference" not in text
    latex = methods_paragraph(PARAMS).render("latex")
    assert "IMAGENET1K\\_V1" in latex and "$\\uptau$\\textsubscript{A}" in latex


def test_methods_paragraphs_one_per_topic_and_one_p_sentence_per_method():
    from psychoface.reports.methods import methods_paragraphs

    profile = {**RSA, "family": "5 layers x 7 rating RDMs"}
    pair = {**RSA, "ci_method": "none", "family": "1 layer x 6 rating RDMs"}
    params = {**PARAMS, "analyses": [profile, PREDICT, CORRELATE, pair, RELIABILITY, COMPARE]}
    paragraphs = [p.plain for p in methods_paragraphs(params)]
    starts = ["The stimuli were", "Features were extracted", "The reliability of", "Each attribute's mean "
              "ratings were predicted", "Each unit's activation", "Representational dissimilarity",
              "Correlations of two layers", "Every random step"]
    assert len(paragraphs) == len(starts)
    for paragraph, start in zip(paragraphs, starts):
        assert paragraph.startswith(start), (start, paragraph[:60])
    assert methods_paragraph(params).plain == " ".join(paragraphs)
    rsa_text = paragraphs[5]
    # two RSAs with one p-value method: one sentence naming both correction families
    assert rsa_text.count("Mantel permutation of stimulus labels") == 1
    assert ("Holm-corrected across 5 layers × 7 rating RDMs and, separately, across 1 layer × 6 rating "
            "RDMs.") in rsa_text
    assert "Holm, 1979" in paragraphs[3] and "Holm, 1979" not in rsa_text  # cited where first named
    assert "in multiples of the mean squared norm of a training row, by leave-one-out" in paragraphs[3]
    assert "The p values came from max-statistic permutation test" in paragraphs[4]
    assert "Inference" not in " ".join(paragraphs)


def test_methods_paragraph_from_a_store_manifest():
    manifest = {
        "model": "vgg16", "weights": {"spec": "DEFAULT", "description": "torchvision DEFAULT: "
                                      "IMAGENET1K_V1", "sha256": "ab" * 32},
        "preprocessing": {"resize": 256, "crop": 224, "mean": [0.485, 0.456, 0.406],
                          "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"},
        "layers": {"conv5": {"module": "features.29", "pooling": "avg"},
                   "fc7": {"module": "classifier.4", "pooling": "none"}},
        "stimuli": [{"id": str(i)} for i in range(64)], "seed": 0,
    }
    text = methods_paragraph(manifest).plain
    assert text.startswith(
        "The stimuli were 64 face images. Features were extracted with VGG16 (Simonyan & Zisserman, "
        "2015) pretrained on ImageNet (Russakovsky et al., 2015; torchvision DEFAULT: IMAGENET1K_V1, "
        "SHA-256 abababababab…), from layers conv5 (features.29; averaged over space) and fc7 "
        "(classifier.4) in one forward pass per image.")


def _citations_in(*texts) -> set[tuple[str, str]]:
    """(first author, year) of every in-text citation, parenthetical "(Smouse, Long & Sokal, 1986;
    10,000 permutations)" or narrative "Shrout and Fleiss (1979)", "Williams's (1959)": a reference
    scanner written apart from the module's."""
    found = set()
    for text in texts:
        plain = text.plain if hasattr(text, "plain") else str(text)
        for group in re.findall(r"[(\[]([^()\[\]]*\d{4}[^()\[\]]*)[)\]]", plain):
            for piece in group.split(";"):
                m = re.match(r"\s*([A-Z][\w-]*)\b.*?,\s(\d{4})\s*$", piece)
                if m:
                    found.add(m.groups())
        found |= set(re.findall(r"\b([A-Z][\w-]*)(?:'s|')? (?:and [A-Z][\w-]* |et al\. )?\((\d{4})\)", plain))
    return found


def _listed(refs) -> set[tuple[str, str]]:
    return {(r.plain.split(",")[0], re.search(r"\((\d{4})\)", r.plain).group(1)) for r in refs}


def test_every_citation_has_its_reference_and_vice_versa():
    text = methods_paragraph(PARAMS).plain
    refs = references(PARAMS)
    assert _listed(refs) == _citations_in(text)
    assert len(refs) == 20
    plain = [r.plain for r in refs]
    assert plain == sorted(plain, key=str.lower)  # alphabetical by first author
    holm = next(r for r in refs if r.plain.startswith("Holm"))
    assert holm.render("markdown") == (
        "Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian "
        "Journal of Statistics, 6*(2), 65–70.")
    assert all(re.search(r"\(\d{4}\)\.", r) for r in plain)
    smouse = bibliography()["smouse1986"].entry.render("markdown")
    assert smouse == ("Smouse, P. E., Long, J. C., & Sokal, R. R. (1986). Multiple regression and correlation "
                      "extensions of the Mantel test of matrix correspondence. *Systematic Zoology, 35*(4), "
                      "627–632. https://doi.org/10.2307/2413122")
    assert bibliography()["spearman1904"].entry.render("markdown") == (
        "Spearman, C. (1904). The proof and measurement of association between two things. *The American "
        "Journal of Psychology, 15*(1), 72–101. https://doi.org/10.2307/1412159")


def test_citations_in_notes_and_sentences_join_the_reference_list():
    # both in-text forms of a three-author work find the one entry
    for form in ("(Smouse, Long & Sokal, 1986)", "(Smouse et al., 1986; 999 permutations)", "[Smouse et al., 1986]"):
        assert citations(f"p values: Mantel permutation, covariates fixed {form}.") == (["smouse1986"], [])
    assert citations("Williams' (1959) t and Shrout and Fleiss (1979), (Doe, 2001)") == (
        ["williams1959", "shrout1979"], ["Doe, 2001"])
    note = "Noise ceiling: sqrt(reliability) (Spearman, 1904); undefined for reliability <= 0."
    assert "Spearman, C. (1904)" not in [r.plain[:19] for r in references({"seed": 0})]
    assert any(r.plain.startswith("Spearman, C. (1904)") for r in references({"seed": 0}, [note]))


def test_every_citation_of_psychoface_analyses_has_an_entry():
    """The method strings psychoface's analyses write (table notes, sentences, methods paragraph) cite
    only works of the reference list."""
    import numpy as np

    from psychoface.analyses.correlate import correlate_units
    from psychoface.analyses.rdm import layer_rdm, rating_rdms
    from psychoface.analyses.reliability import icc, split_half_reliability
    from psychoface.analyses.rsa import compare_layers, partial_rsa, rsa
    from psychoface.reports.tables import apa_table_for

    rng = np.random.default_rng(0)
    ids = [str(i) for i in range(10)]
    trials = pd.DataFrame([{"stimulus": s, "attribute": a, "rater": str(k), "rating": rng.normal()}
                           for s in ids for a in ("happy", "smart") for k in range(4)])
    means = trials.groupby(["stimulus", "attribute"])["rating"].mean().unstack().loc[ids]
    X = rng.normal(size=(10, 6))
    layers = {"a": layer_rdm(X, ids, name="a"), "b": layer_rdm(X[:, :3], ids, name="b")}
    ratings = rating_rdms(means)
    pixels = {"pixels": layer_rdm(rng.normal(size=(10, 4)), ids, name="pixels")}
    frames = [
        split_half_reliability(trials, n_splits=5, n_bootstrap=20),
        icc(trials),
        rsa(layers, ratings, n_permutations=19, n_bootstrap=20),
        partial_rsa(layers, ratings, pixels, n_permutations=19, n_bootstrap=20),
        compare_layers(layers["a"], layers["b"], ratings["happy"], n_bootstrap=20),
        correlate_units(X, means, n_permutations=19)[0],
    ]
    params = {**PARAMS, "analyses": [f.attrs["psychoface"] for f in frames]}
    texts = [methods_paragraph(params)]
    for frame in frames:
        texts += apa_table_for(frame).notes() + describe(frame, 1)
    cited = _citations_in(*texts)
    assert {("Smouse", "1986"), ("Spearman", "1904"), ("McGraw", "1996")} <= cited
    assert cited <= _listed(references(params, texts[1:]))
    assert citations(*texts)[1] == []


def test_nested_parentheses_become_brackets():
    attrs = {**PREDICT, "family": "170 tests (5 layers x 34 attributes)"}
    text = prediction_sentence(ROW, attrs).plain
    assert "(Holm-corrected across 170 tests [5 layers × 34 attributes])" in text
    rsa = rsa_sentence({"layer": "fc7", "attribute": "smart", "rho": 0.2, "p": 0.01, "p_corr": 0.02},
                       {**RSA, "family": "68 tests (2 layers x 34 rating RDMs)"}).plain
    assert rsa.endswith("(Mantel test, 10,000 permutations; Holm-corrected across 68 tests "
                        "[2 layers × 34 rating RDMs]).")
    for sentence in (text, rsa):
        assert not re.search(r"\([^()]*\(", sentence.replace("r(498)", "r"))


# -- long tables in words -----------------------------------------------------------------------------
def _profile(n_attributes=8, layers=("conv5", "fc7"), n_perm=1000, p_corr=None):
    """A predict layer profile: r of attribute j from layer i, Holm within each layer."""
    rows = []
    for i, layer in enumerate(layers):
        for j in range(n_attributes):
            r = round(0.2 + 0.07 * j + 0.05 * i - (0.3 if (i, j) == (1, 0) else 0), 4)
            rows.append({"layer": layer, "attribute": f"attr{j}", "n": 500, "r": r, "ci_low": r - 0.05,
                         "ci_high": r + 0.05, "p": 1 / (n_perm + 1),
                         "p_corr": p_corr(i, j) if p_corr else n_attributes / (n_perm + 1),
                         "noise_ceiling": 0.9, "r_normalized": r / 0.9})
    df = pd.DataFrame(rows)
    df.attrs["psychoface"] = {**PREDICT, "n_permutations": n_perm,
                              "family": f"{n_attributes} attributes, within each layer"}
    return df


def test_long_tables_are_summarised_with_the_best_and_worst_attribute():
    df = _profile(p_corr=lambda i, j: 0.2 if j == 0 else 0.008)
    out = describe(df, 2)
    assert len(out) == 2
    best = {a: g.loc[g["r"].idxmax()] for a, g in df.groupby("attribute")}
    top = max(best.values(), key=lambda row: row["r"])
    low = min(best.values(), key=lambda row: row["r"])
    assert (top["attribute"], top["layer"], low["attribute"], low["layer"]) == ("attr7", "fc7", "attr0", "conv5")
    middle = sorted(row["r"] for row in best.values())[3:5]
    median = float(Decimal(repr(float(sum(middle) / 2))).quantize(Decimal("0.01"), ROUND_HALF_UP))  # APA rounding
    assert out[0].plain == (
        "Across the 8 attributes, cross-validated ridge predictions from each attribute's most accurate layer "
        f"correlated most strongly with mean attr7 ratings (layer fc7), r(498) = {top['r']:.2f}".replace("0.", ".")
        + f", 95% CI [{top['r'] - 0.05:.2f}, {top['r'] + 0.05:.2f}]".replace("0.", ".")
        + ", p = .008, and least with mean attr0 ratings (layer conv5), r(498) = .20, 95% CI [.15, .25], "
        "p = .200 (Holm-corrected across 8 attributes, within each layer).")
    n_sig = int((df["p_corr"] < 0.05).sum())
    assert out[1].plain == (f"The median of these correlations was {median:.2f}".replace("0.", ".")
                            + f"; after Holm correction, {n_sig} of the 16 layer–attribute correlations "
                            "in Table 2 were significant at α = .05.")
    assert "*r*(498) = .74" in out[0].render("markdown")  # APA typography through the rule engine
    # a short table (at most six attributes) keeps one sentence per attribute
    short = _profile(n_attributes=5)
    assert [s.plain.split(",")[0] for s in describe(short, 2)] == [
        f"Cross-validated ridge predictions from {'conv5' if j == 0 else 'fc7'} correlated with mean attr{j} "
        "ratings" for j in range(5)]


def test_summaries_of_rsa_reliability_differences_and_units():
    rows = [{"layer": "fc7", "attribute": f"a{j}", "covariates": "pixels", "n": 100,
             "partial_rho": 0.1 * j - 0.2, "ci_low": 0.1 * j - 0.3, "ci_high": 0.1 * j - 0.1,
             "p": 0.001, "p_corr": 0.007} for j in range(7)]
    partial = pd.DataFrame(rows)
    partial.attrs["psychoface"] = {**RSA, "analysis": "partial_rsa", "family": "1 layer x 7 rating RDMs"}
    first, second = describe(partial, 5)
    assert first.plain == (
        "Across the 7 rating RDMs and controlling for the pixels RDM, the fc7 RDM correlated most strongly "
        "with the a6 rating RDM, partial ρ = .40, 95% CI [.30, .50], p = .007, and least with the a0 rating RDM, "
        f"partial ρ = {MINUS}.20, 95% CI [{MINUS}.30, {MINUS}.10], p = .007 (Mantel tests, 10,000 "
        "permutations; Holm-corrected across 1 layer × 7 rating RDMs).")
    assert second.plain == ("The median correlation was .10; after Holm correction, all 7 RDM correlations in "
                            "Table 5 were significant at α = .05.")
    reliability = pd.DataFrame([{"attribute": f"a{j}", "n": 500, "reliability": 0.6 + 0.05 * j,
                                 "ci_low": 0.5 + 0.05 * j, "ci_high": 0.7 + 0.05 * j,
                                 "noise_ceiling": (0.6 + 0.05 * j) ** 0.5} for j in range(7)]
                               + [{"attribute": "flat", "n": 500, "reliability": float("nan"),
                                   "ci_low": float("nan"), "ci_high": float("nan"), "noise_ceiling": float("nan")}])
    reliability.attrs["psychoface"] = RELIABILITY
    first, second = describe(reliability, 1)
    assert first.plain == (
        "Across the 8 attributes, the split-half reliability of the mean ratings across 500 faces "
        "(mean split-half correlation over 100 random splits, Spearman–Brown corrected) was highest for a6, r_SB = .90, 95% CI "
        "[.80, 1.00], and lowest for a0, r_SB = .60, 95% CI [.50, .70].")
    assert second.plain == ("The median reliability was .75, and noise ceilings ranged from .77 to .95; the "
                            "reliability of 1 attribute could not be estimated (Table 1).")
    diffs = pd.DataFrame([{"layer_a": "conv5", "layer_b": "fc7", "attribute": f"a{j}", "n": 100,
                           "rho_a": 0.3, "rho_b": 0.3 - 0.05 * (j - 3), "difference": 0.05 * (j - 3),
                           "ci_low": 0.05 * (j - 3) - 0.04, "ci_high": 0.05 * (j - 3) + 0.04,
                           "p": 0.5 if j == 3 else 0.004, "p_corr": 0.5 if j == 3 else 0.024}
                          for j in range(7)])
    diffs.attrs["psychoface"] = {"analysis": "compare_layers", "statistic": "rho", "n_bootstrap": 5000,
                                 "correction": "holm", "family": "7 attributes"}
    first, second = describe(diffs, 6)
    assert first.plain.startswith(
        "Across the 7 attributes, the difference between conv5 and fc7 in their RDM correlation with the "
        "rating RDM was largest for a6, Δρ = 0.15, 95% CI [0.11, 0.19], p = .024, and smallest for a0, "
        f"Δρ = {MINUS}0.15, 95% CI [{MINUS}0.19, {MINUS}0.11], p = .024 (paired bootstrap over stimuli, "
        "5,000 resamples; Holm-corrected across 7 attributes).")
    assert second.plain == ("The median difference was 0.00; after Holm correction, 6 of the 7 differences "
                            "in Table 6 were significant at α = .05.")
    units = pd.DataFrame([{"layer": "fc7", "attribute": f"a{j}", "n_units": 4096, "n_significant": 10 * j,
                           "proportion": 10 * j / 4096, "max_abs_r": 0.3} for j in range(7)])
    units.attrs["psychoface"] = CORRELATE
    first, second = describe(units, 3)
    assert first.plain == (
        "Across the 7 attributes, the share of units of fc7 that correlated with the mean ratings at α = .05 "
        "(corrected by max-T [family-wise] across all non-constant units of the layer, per attribute) was "
        "largest for a6, 60 of 4,096 units (1.5%), and smallest for a0, 0 of 4,096 units (0.0%).")
    assert second.plain == "The median share was 0.7% (Table 3)."


def test_resolution_note_when_permutations_bound_the_corrected_p():
    from statsmodels.stats.multitest import multipletests

    def floor(m, n_perm, method="holm"):  # the smallest corrected p when every test has the smallest p
        return multipletests([1 / (n_perm + 1)] * m, method=method)[1].min()

    df = _profile(n_attributes=34, layers=("fc7",))  # every p at 1/1001: Holm gives 34/1001
    assert df["p_corr"].min() == pytest.approx(floor(34, 1000))
    assert resolution_note(df).plain == (
        "With 1,000 permutations the smallest attainable p is 1/1,001; Holm-corrected p values cannot fall "
        f"below 34/1,001 = {floor(34, 1000):.3f}".replace("0.", ".") + " in this family of 34 tests; use "
        "more permutations for a stricter test.")
    assert resolution_note(df).render("html").startswith("With 1,000 permutations the smallest attainable <i>p</i>")
    wide = df.copy()
    wide.attrs["psychoface"] = {**df.attrs["psychoface"], "family": "170 tests (5 layers x 34 attributes)"}
    wide["p_corr"] = floor(170, 1000)
    assert resolution_note(wide).plain.endswith(
        f"cannot fall below 170/1,001 = {floor(170, 1000):.3f}".replace("0.", ".")
        + " in this family of 170 tests, so no test can be significant at α = .05; use more permutations "
        "for a stricter test.")
    summary = describe(wide, 2)[1].plain
    assert "none of the 34 correlations in Table 2 were significant at α = .05; with 1,000 permutations no " \
           "Holm-corrected p value could fall below .170 (see the note to Table 2)." in summary
    # enough permutations, p values above the floor: nothing to say
    fine = _profile(n_attributes=34, layers=("fc7",), n_perm=10000, p_corr=lambda i, j: 0.01 + j / 100)
    assert resolution_note(fine) is None
    # Benjamini-Hochberg does not scale the smallest p by the family size
    bh = _profile(n_attributes=34, layers=("fc7",), p_corr=lambda i, j: floor(34, 1000, "fdr_bh"))
    bh.attrs["psychoface"] = {**bh.attrs["psychoface"], "correction": "fdr_bh"}
    assert floor(34, 1000, "fdr_bh") == pytest.approx(1 / 1001) and resolution_note(bh) is None
    # too few permutations for even one uncorrected test; a Bonferroni family beyond N + 1 is all ones
    few = _profile(n_attributes=3, layers=("fc7",), n_perm=9)
    few.attrs["psychoface"] = {**few.attrs["psychoface"], "correction": "none"}
    assert resolution_note(few).plain == (
        "With 9 permutations the smallest attainable p is 1/10 = .100, so no test can be significant at "
        "α = .05; use more permutations for a stricter test.")
    bonferroni = _profile(n_attributes=12, layers=("fc7",), n_perm=9, p_corr=lambda i, j: 1.0)
    bonferroni.attrs["psychoface"] = {**bonferroni.attrs["psychoface"], "correction": "bonferroni"}
    assert floor(12, 9, "bonferroni") == 1
    assert "every Bonferroni-corrected p value in this family of 12 tests is therefore 1" in (
        resolution_note(bonferroni).plain)


def test_weights_variants_and_minimal_params():
    random = methods_paragraph({"model": "vgg16", "weights": "none", "seed": 3}).plain
    assert random == ("Features were extracted with VGG16 (Simonyan & Zisserman, 2015) with random, "
                      "untrained weights drawn with seed 3. Every random step (splits, permutations, "
                      "bootstrap resamples, random weights) used seed 3.")
    checkpoint = methods_paragraph({"model": "resnet50", "weights": "/data/ckpt/face_resnet.pth",
                                    "weights_sha256": "ab" * 32, "layers": ["layer4"]}).plain
    assert checkpoint == ("Features were extracted with ResNet-50 (He et al., 2016) with weights from "
                          "the checkpoint file face_resnet.pth (SHA-256 abababababab…), from layer "
                          "layer4.")
    with pytest.raises(PsychofaceError, match="params hold none"):
        methods_paragraph({})
    with pytest.raises(PsychofaceError, match="unknown"):
        methods_paragraph({"analyses": [{"analysis": "umap"}]})


@pytest.mark.omi
def test_sentence_numbers_match_scipy_on_real_ratings():
    means = SHARED / "data" / "omi" / "attribute_means.csv"
    if not means.is_file():
        pytest.skip(f"{means} is absent (the shared OMI data lives beside the repository)")
    data = pd.read_csv(means)
    res = stats.pearsonr(data["trustworthy"], data["happy"])
    ci = res.confidence_interval(0.95)
    row = {"attribute": "trustworthy", "n": len(data), "r": res.statistic, "ci_low": ci.low,
           "ci_high": ci.high, "p": res.pvalue}
    text = correlation_sentence(row, {}, y="mean happy ratings").plain
    printed = re.search(r"r\((\d+)\) = (\.\d\d), 95% CI \[(\.\d\d), (\.\d\d)\], p (<|=) (\.\d+)", text)
    assert printed, text
    df, r, lo, hi, rel, p = printed.groups()
    assert int(df) == len(data) - 2
    for shown, exact in ((r, res.statistic), (lo, ci.low), (hi, ci.high)):
        assert float(shown) == pytest.approx(exact, abs=0.005)
    assert (rel == "<" and res.pvalue < 0.001) or float(p) == pytest.approx(res.pvalue, abs=0.0005)


def test_methods_paragraph_states_which_rating_rows_were_kept():
    from psychoface.reports.methods import methods_paragraph

    text = (methods_paragraph({"n_images": 10, "attributes": ["trust"], "n_ratings": 200,
                                       "trials_where": "rating_type != 'repeat'"})).plain
    assert "Only the rating rows with rating_type != 'repeat' were analysed" in text


def test_methods_paragraph_says_the_mean_split_half_r_is_stepped_up():
    from psychoface.reports.methods import methods_paragraph

    text = methods_paragraph({"analyses": [{"analysis": "split_half_reliability", "n_splits": 100,
                                            "noise_ceiling": "sqrt(reliability) (Spearman, 1904)"}]}).plain
    assert "averaging these correlations over splits and stepping the mean up with the Spearman–Brown" in text
    assert "correcting each correlation" not in text
