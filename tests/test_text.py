"""Results in words and the methods paragraph.

The analysis parameters below copy what psychoface's analyses write into ``df.attrs["psychoface"]``
(long method descriptions, correction labels, families named with their size) and the short keys a
user may write by hand; both must read well.
"""

import re
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import MINUS
from psychoface.reports.text import (
    REFERENCES,
    correction_phrase,
    correlation_sentence,
    dependent_correlation_sentence,
    icc_sentence,
    methods_paragraph,
    paired_difference_sentence,
    prediction_sentence,
    references,
    reliability_sentence,
    rsa_sentence,
    sentences,
    stat_clause,
    unit_summary_sentence,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"

SHORT = {"analysis": "predict", "correction": "holm", "family": "attributes", "ci_level": 0.95,
         "ci_method": "percentile bootstrap", "n_bootstrap": 5000, "p_method": "refitting permutation",
         "n_permutations": 1000, "folds": 5, "inner_folds": 5,
         "alphas": [1e-3, 1e-2, 0.1, 1, 10, 100, 1000], "standardize": True, "seed": 0}
PREDICT = {
    "analysis": "predict", "model": "ridge regression (dual form), unpenalised intercept", "seed": 0,
    "folds": 10, "repeats": 1, "inner_folds": "leave-one-out", "alphas": [1e-3, 1e-2, 0.1, 1, 10],
    "alpha_scale": "multiples of trace(K_train) / n_train, the mean squared norm of a training row",
    "standardize": True, "n_permutations": 1000, "n_bootstrap": 5000, "ci_level": 0.95,
    "ci_method": "percentile bootstrap over stimuli of (observed, predicted) pairs, predictions fixed",
    "p_method": "one-sided permutation test (r > 0) refitting the whole cross-validated pipeline for "
                "each permutation of the ratings; p = (b + 1) / (N + 1)",
    "correction": "Holm", "family": "34 attributes predicted from this layer",
}
RSA = {
    "analysis": "rsa", "seed": 0, "method": "spearman", "statistic": "rho",
    "metric": {"conv5": "correlation", "fc7": "correlation"}, "rating_metric": {"trustworthy": "euclidean"},
    "n_permutations": 10000, "n_bootstrap": 5000, "ci_level": 0.95,
    "ci_method": "percentile bootstrap over stimuli (pairs of a stimulus with its own copy dropped)",
    "p_method": "Mantel permutation of stimulus labels, (b+1)/(N+1)", "correction": "Holm",
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
        "The fc7 RDM correlated with the trustworthy rating RDM, ρ = .21, 95% CI [.15, .27], p = .003 "
        "(Mantel test, 10,000 permutations; Holm-corrected across 2 layers × 34 rating RDMs).")
    assert s.render("latex").startswith(
        "The fc7 RDM correlated with the trustworthy rating RDM, $\\uprho$ = .21, 95\\% CI [.15, .27]")
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
        "The split-half reliability of mean trustworthy ratings across 500 faces (Spearman–Brown "
        "corrected, averaged over 1,000 random splits) was r_SB = .89, 95% CI [.86, .91]; the noise "
        "ceiling was .95.")
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
        "max-T (family-wise) across all non-constant units of the layer, per attribute); the largest "
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
        "the noise ceiling of each attribute was the square root of this reliability",
        "Inference: confidence intervals (95%) from percentile bootstrap over stimuli (5,000 "
        "resamples; Efron & Tibshirani, 1993).",
        "Intraclass correlations (ICC2 and ICC2k) followed Shrout and Fleiss (1979)",
        "Inference: confidence intervals (95%) from F distribution; p values from F test of ICC = 0.",
        "ridge regression (Hoerl & Kennard, 1970) in 5-fold cross-validation",
        "7 values from 10⁻³ to 10³ by 5-fold cross-validation within each training set",
        "standardized with statistics of the training folds only",
        "p values from refitting permutation (1,000 permutations; computed as (b + 1)/(N + 1); "
        "Phipson & Smyth, 2010), Holm-corrected (Holm, 1979) across attributes",
        "(RDMs; Kriegeskorte et al., 2008)", "correlation distance between stimuli",
        "rating RDMs with euclidean distance", "Kendall's τ_A (Nili et al., 2014)",
        "partialling out the pixel RDM", "Mantel tests (Mantel, 1967)",
        "percentile bootstrap over stimuli (pairs of a stimulus with its own copy dropped; 5,000 "
        "resamples)", "p values from Mantel permutation of stimulus labels, (b+1)/(N+1) (10,000 "
        "permutations), Holm-corrected across 2 layers × 34 rating RDMs",
        "Williams's (1959) t test for dependent correlations (Steiger, 1980) and Steiger's z test",
        "Benjamini–Hochberg-corrected (Benjamini & Hochberg, 1995) across attributes",
        "used seed 7", "psychoface 0.1.0, Python 3.11.7, PyTorch 2.5.1 (Paszke et al., 2019), NumPy "
        "2.3.5 (Harris et al., 2020), and scikit-learn 1.5.2 (Pedregosa et al., 2011)",
    ]:
        assert fragment in text, fragment
    # a CI method stated once (identical parameters) is not repeated for the next analysis
    assert text.count("from percentile bootstrap over stimuli (5,000 resamples") == 1
    latex = methods_paragraph(PARAMS).render("latex")
    assert "IMAGENET1K\\_V1" in latex and "$\\uptau$\\textsubscript{A}" in latex


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


def test_every_citation_has_its_reference_and_vice_versa():
    text = methods_paragraph(PARAMS).plain
    refs = references(PARAMS)
    cited = {r.cite for r in REFERENCES.values() if r.cite in text or r.narrative in text
             or r.narrative.replace(" (", "'s (") in text}
    listed = {key for key, r in REFERENCES.items() if r.entry in refs}
    assert {REFERENCES[k].cite for k in listed} == cited
    assert len(refs) == len(cited) == 19
    plain = [r.plain for r in refs]
    assert plain == sorted(plain, key=str.lower)  # alphabetical by first author
    holm = next(r for r in refs if r.plain.startswith("Holm"))
    assert holm.render("markdown") == (
        "Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian "
        "Journal of Statistics, 6*(2), 65–70.")
    assert all(re.search(r"\(\d{4}\)\.", r) for r in plain)


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
