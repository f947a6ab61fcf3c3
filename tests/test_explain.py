"""Explanations: the readout module against predict, methods against captum and analytic gradients,
alignment, regions, statistics against their references, planted regions and type I error."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from psychoface.analyses.explain import cluster_test, faithfulness, region_pairs, region_shares, similarity_check
from psychoface.analyses.predict import predict_ratings
from psychoface.errors import PsychofaceError
from psychoface.explain.align import mean_configuration, similarity_transform, to_input_frame, warp
from psychoface.explain.faithfulness import cascading_randomisation, deletion_insertion, randomisation_stages
from psychoface.explain.methods import attribute, check_method
from psychoface.explain.readout import FoldReadout, ReadoutModel, fold_readouts
from psychoface.explain.regions import REGIONS, mask_labels, region_labels


@pytest.mark.parametrize("standardize", [False, True])
def test_fold_readouts_reproduce_predict_out_of_fold(standardize):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 30)).astype(np.float32)
    y = X[:, 0] * 2 + rng.normal(size=60)
    y[[3, 7]] = np.nan
    ids = [f"s{i}" for i in range(60)]
    Y = pd.DataFrame({"a": y, "b": rng.normal(size=60)}, index=ids)
    _, pred = predict_ratings(X, Y, folds=5, n_permutations=0, n_bootstrap=0, seed=3, return_predictions=True,
                              standardize=standardize)
    expected = pred[pred.attribute == "a"].set_index("stimulus")["predicted"]
    readouts = fold_readouts(X, y, folds=5, seed=3, standardize=standardize)
    rows = np.flatnonzero(~np.isnan(y))
    mine = np.full(len(rows), np.nan)
    for r in readouts:
        mine[r.test] = r.predict(X[rows[r.test]])
    assert np.allclose(mine, expected.loc[[ids[i] for i in rows]].to_numpy(), atol=1e-10)
    # the folded Linear is the centred readout minus its intercept, exactly (float64)
    r = readouts[0]
    lin = r.linear()
    out = lin(torch.from_numpy(X[rows].astype(np.float64)))[:, 0].numpy()
    assert np.allclose(out, r.predict(X[rows]) - r.intercept, rtol=0, atol=1e-12)


class _Tiny(nn.Module):
    """A 1x1 convolution (a linear map of the colour channels) then a ReLU-free identity: analytic gradients."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=True)
        self.act = nn.Identity()
        torch.manual_seed(0)
        nn.init.normal_(self.conv.weight)

    def forward(self, x):
        return self.act(self.conv(x))


def _tiny_readout(pooling="avg"):
    model = ReadoutModel(_Tiny(), "act", pooling)
    p = 4 if pooling != "none" else 4 * 8 * 8
    rng = np.random.default_rng(0)
    r = FoldReadout(0, np.arange(2), rng.normal(size=p), np.ones(p), rng.normal(size=p), 3.0, 1.0)
    model.set_readout(r.linear())
    return model, r


def test_methods_match_the_analytic_gradient_of_a_linear_model():
    model, r = _tiny_readout()
    x = torch.randn(3, 3, 8, 8)
    # f(x) = w . mean_hw(Wc x + b) - mu . w: gradient per pixel and channel = (Wc' w) / (H W)
    Wc = model.net.conv.weight[:, :, 0, 0].double().numpy()
    g = (Wc.T @ r.weights) / 64.0
    analytic = (x.double().numpy() * g[None, :, None, None]).sum(1)  # gradient x input, summed over channels
    ig = attribute(model, x, "ig", n_steps=8)
    assert np.allclose(ig, analytic, atol=1e-5)
    sg = attribute(model, x, "smoothgrad", n_samples=4)  # linear model: noise does not change the gradient
    assert np.allclose(sg, analytic, atol=1e-5)
    cam = attribute(model, x, "gradcam")  # alpha_c = w_c / HW; map = sum_c alpha_c A_c
    A = model.net(x).double().numpy()
    assert np.allclose(cam, np.einsum("c,bchw->bhw", r.weights / 64.0, A), atol=1e-5)


@pytest.mark.parametrize("pooling", ["none", "avg", "max"])
def test_cam_is_each_positions_exact_share_of_the_readout(pooling):
    model, r = _tiny_readout(pooling)
    x = torch.randn(3, 3, 8, 8)
    cam = attribute(model, x, "cam")
    A = model.net(x).double().numpy()  # (3, 4, 8, 8): the layer's output at the input's resolution
    if pooling == "none":  # f = w . (A - mu) over all units: each position's sum over channels
        expected = ((A - r.mean.reshape(4, 8, 8)) * r.weights.reshape(4, 8, 8)).sum(1)
    elif pooling == "avg":  # f = w . (mean_hw A - mu): the gradient is w / HW at every position
        expected = np.einsum("c,bchw->bhw", r.weights / 64.0, A - r.mean[:, None, None])
    else:  # f = w . (max_hw A - mu): all of channel c's term at its maximum
        flat = A.reshape(3, 4, 64)
        expected = np.zeros((3, 64))
        for b in range(3):
            for c in range(4):
                expected[b, flat[b, c].argmax()] += r.weights[c] * (flat[b, c].max() - r.mean[c])
        expected = expected.reshape(3, 8, 8)
    assert np.allclose(cam, expected, atol=1e-5)
    with torch.no_grad():  # complete: the map sums to the prediction minus the intercept
        assert np.allclose(cam.sum((1, 2)), model(x).numpy(), atol=1e-5)


def test_batched_maps_equal_one_call_per_image_and_ig_is_complete():
    torch.manual_seed(1)
    import torchvision

    net = torchvision.models.resnet18(num_classes=10)
    model = ReadoutModel(net, "layer3", "avg")
    with torch.no_grad():
        p = model.features(torch.zeros(1, 3, 64, 64)).shape[1]
    rng = np.random.default_rng(2)
    model.set_readout(FoldReadout(0, np.arange(1), rng.normal(size=p), np.ones(p), rng.normal(size=p), 0.0, 1.0)
                      .linear())
    x = torch.randn(3, 3, 64, 64)
    batched = attribute(model, x, "ig", n_steps=32, internal_batch_size=2)  # 2 images x 1 step per pass
    single = np.concatenate([attribute(model, x[i:i + 1], "ig", n_steps=32) for i in range(3)])
    assert np.allclose(batched, single, atol=1e-4 * np.abs(single).max())
    # the fast path (channels-last, passes of a few inputs) against captum's one call on the contiguous network
    import copy

    from captum.attr import IntegratedGradients

    plain = copy.deepcopy(model)
    plain.net.to(memory_format=torch.contiguous_format)
    reference = IntegratedGradients(plain).attribute(x, baselines=torch.zeros_like(x), n_steps=32).sum(1).numpy()
    assert np.allclose(batched, reference, atol=1e-4 * np.abs(reference).max())
    with torch.no_grad():
        delta = (model(x) - model(torch.zeros_like(x))).numpy()
    assert np.allclose(batched.reshape(3, -1).sum(1), delta, rtol=0.01)
    lrp = attribute(model, x, "lrp")
    assert lrp.shape == (3, 64, 64) and np.isfinite(lrp).all()


def test_refusals_are_one_line():
    import torchvision

    with pytest.raises(PsychofaceError, match="lrp: not available for MobileNetV2") as err:
        check_method("lrp", torchvision.models.mobilenet_v2())
    assert "\n" not in str(err.value)
    with pytest.raises(PsychofaceError, match="unknown explanation method"):
        check_method("deeplift", torchvision.models.vgg11())
    model, _ = _tiny_readout("avg")
    with pytest.raises(PsychofaceError, match="needs face regions"):
        attribute(model, torch.randn(1, 3, 8, 8), "regions")


def test_region_ablation_gives_each_region_its_drop():
    model, _ = _tiny_readout("none")
    x = torch.randn(2, 3, 8, 8)
    masks = torch.zeros(2, 8, 8, dtype=torch.long)
    masks[:, :4] = 1
    out = attribute(model, x, "regions", region_masks=masks)
    with torch.no_grad():
        full = model(x)
        for region in (0, 1):
            ablated = x * (masks != region)[:, None]
            drop = (full - model(ablated)).numpy()
            assert np.allclose(out[:, masks[0] == region].sum(1), drop, atol=1e-5)


def test_similarity_transform_matches_scikit_image_and_gpa_recovers_a_template():
    skimage = pytest.importorskip("skimage.transform")
    rng = np.random.default_rng(0)
    src = rng.normal(size=(68, 2)) * 20 + 100
    dst = src @ np.array([[0.9, -0.3], [0.3, 0.9]]).T + [5, -7] + rng.normal(size=(68, 2))
    ref = skimage.SimilarityTransform.from_estimate(src, dst)
    assert np.allclose(similarity_transform(src, dst), ref.params[:2], atol=1e-9)
    template = rng.normal(size=(68, 2)) * 30 + 112
    faces = []
    for k in range(6):
        a, s = rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.2)
        R = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        faces.append((template - 112) @ R.T + 112 + rng.normal(size=2) * 5)
    mean, T = mean_configuration(np.stack(faces))
    M = similarity_transform(mean, template)  # the mean equals the template up to a similarity
    assert np.allclose(mean @ M[:, :2].T + M[:, 2], template, atol=1e-6)


def test_input_frame_and_warp():
    # a 300 x 200 (w x h) image: resize shorter side to 256 -> 384 x 256, crop 224 -> offsets 80, 16
    pts = np.array([[[150.0, 100.0]]])
    out = to_input_frame(pts, [[300, 200]], 256, 224)
    assert np.allclose(out[0, 0], [(150.5 * 384 / 300 - 0.5) - 80, (100.5 * 256 / 200 - 0.5) - 16])
    maps = np.random.default_rng(0).normal(size=(2, 16, 16)).astype(np.float32)
    assert np.allclose(warp(maps, None, 16, 16), maps, atol=1e-6)
    shift = np.array([[[1.0, 0, 2.0], [0, 1.0, 0.0]]] * 2)  # the mean frame is the face moved 2 px right
    moved = warp(maps, shift, 16, 16)
    assert np.allclose(moved[:, :, 4:], maps[:, :, 2:-2], atol=1e-6)


def _template_landmarks(size=112):
    from psychoface.data.synthetic import face_landmarks, face_parameters

    params = face_parameters(2)
    return face_landmarks(params.iloc[0], image_size=size, seed=(0, 0))


def test_regions_from_landmarks_and_from_a_mask(tmp_path):
    lm = _template_landmarks()
    labels = region_labels(lm, (112, 112))
    at = lambda pt: REGIONS[labels[int(round(pt[1])), int(round(pt[0]))]]  # noqa: E731
    assert at(lm[36:42].mean(0)) == "eyes"
    assert at(lm[48:60].mean(0)) == "mouth"
    assert at(lm[30]) == "nose"
    assert at([2, 2]) == "hair and background"
    assert set(np.unique(labels)) == set(range(len(REGIONS)))
    from PIL import Image

    img = np.zeros((112, 112), dtype=np.uint8)
    img[60:, :] = 200
    Image.fromarray(img).save(tmp_path / "mask.png")
    mlab, names = mask_labels(tmp_path / "mask.png", (112, 112))
    assert names == ("background", "region 200") and mlab[70, 5] == 1
    with pytest.raises(PsychofaceError, match="resize the mask to 64 x 64"):
        mask_labels(tmp_path / "mask.png", (64, 64))


def _planted(n=40, seed=0, effect=1.0, region="mouth", size=48):
    rng = np.random.default_rng(seed)
    labels = region_labels(_template_landmarks(112) * size / 112, (size, size))
    maps = rng.normal(size=(n, size, size))
    maps[:, labels == REGIONS.index(region)] += effect
    return maps, labels


def test_region_shares_references_and_planted_region():
    maps, labels = _planted()
    ref = np.random.default_rng(9).normal(size=maps.shape)
    out = region_shares(maps, labels, REGIONS, reference=ref, n_permutations=999, n_bootstrap=200,
                        test="wilcoxon")
    assert out.attrs["psychoface"]["correction"] == "Holm"
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    share = lambda m, r: (np.abs(m) * (labels == r)).sum((1, 2)) / np.abs(m).sum((1, 2))  # noqa: E731
    d = share(maps, 2) - share(ref, 2)
    row = out.set_index("region").loc["mouth"]
    assert np.isclose(row["p"], stats.wilcoxon(d).pvalue)
    assert np.isclose(row["d_z"], d.mean() / d.std(ddof=1))
    assert np.isclose(row["reference_share"], share(ref, 2).mean()) and np.isclose(row["share"], share(maps, 2).mean())
    assert np.allclose(out["p_corr"], multipletests(out["p"], method="holm")[1])
    sig = out[out["p_corr"] < 0.05]["region"].tolist()
    assert sig[:1] == ["mouth"] and "eyes" not in sig
    pairs = region_pairs(maps, labels, REGIONS, n_permutations=199, n_bootstrap=0)
    assert len(pairs) == 28


def test_cluster_test_finds_only_the_planted_region():
    maps, labels = _planted(n=30, effect=0.8)
    clusters, T, masks = cluster_test(maps, labels=labels, names=REGIONS, n_permutations=256, seed=1)
    sig = clusters[clusters["p"] < 0.05]
    assert len(sig) == 1 and sig.iloc[0]["peak_region"] == "mouth" and sig.iloc[0]["sign"] == "positive"
    assert masks[0].sum() == sig.iloc[0]["extent"]
    from mne.stats import permutation_cluster_1samp_test

    ref = permutation_cluster_1samp_test(maps, threshold=clusters.attrs["psychoface"]["cluster_threshold"],
                                         n_permutations=256, rng=1, out_type="mask", verbose=False)
    assert np.allclose(T, ref[0]) and np.isclose(sig.iloc[0]["p"], min(ref[2]))


def test_tfce_finds_only_the_planted_region_as_mne_does():
    from mne.stats import permutation_cluster_1samp_test

    maps, labels = _planted(n=30, effect=0.8, size=32)
    clusters, T, masks = cluster_test(maps, labels=labels, names=REGIONS, n_permutations=128, tfce=True, seed=2)
    assert clusters.attrs["psychoface"]["tfce"] and len(clusters) == 1
    row = clusters.iloc[0]
    assert row["peak_region"] == "mouth" and row["sign"] == "positive" and row["p"] < 0.05
    mouth = labels == REGIONS.index("mouth")
    assert masks[0][mouth].mean() > 0.8 and masks[0][~mouth].mean() < 0.02  # the mouth, little else
    T_ref, _, p_ref, _ = permutation_cluster_1samp_test(maps, threshold=dict(start=0, step=0.2), n_permutations=128,
                                                         rng=2, out_type="mask", verbose=False)
    assert np.allclose(T, T_ref) and np.isclose(row["p"], p_ref.min())


def test_high_low_contrast_finds_the_planted_group_difference_as_mne_does():
    from mne.stats import permutation_cluster_test, ttest_ind_no_p
    from scipy import stats

    maps, labels = _planted(n=40, effect=0.0, size=32)
    high = np.arange(40) % 2 == 0
    maps[np.ix_(high, *np.nonzero(labels == REGIONS.index("mouth")))] += 1.2  # only high-rated faces' mouths
    clusters, T, _ = cluster_test(maps, groups=high, labels=labels, names=REGIONS, n_permutations=256, seed=3)
    sig = clusters[clusters["p"] < 0.05]
    assert len(sig) == 1 and sig.iloc[0]["peak_region"] == "mouth" and sig.iloc[0]["mean_difference"] > 0
    thr = stats.t.ppf(0.975, 38)
    T_ref, _, p_ref, _ = permutation_cluster_test([maps[high], maps[~high]], threshold=thr, n_permutations=256,
                                                  tail=0, stat_fun=ttest_ind_no_p, out_type="mask", rng=3,
                                                  verbose=False)
    assert np.allclose(T, T_ref) and np.isclose(sig.iloc[0]["p"], p_ref.min())
    assert clusters.attrs["psychoface"]["design"] == "two groups (independent-samples t)"


def test_a_user_mask_is_carried_back_into_each_face_for_region_ablation():
    from psychoface.explain.run import FaceSet

    mask = np.zeros((8, 8), dtype=np.int16)
    mask[:, 4:] = 1  # right half of the aligned frame
    mask[6:, :] = 2  # bottom band
    aligned = FaceSet([], None, 16, None, None, 8, mask)
    got = aligned.region_masks([0], (16, 16))[0].numpy()
    assert np.array_equal(got, np.kron(mask, np.ones((2, 2), dtype=int)))  # same frame: nearest upsampling
    shift = np.array([[[1.0, 0.0, 4.0], [0.0, 1.0, 0.0]]])  # this face sits 4 input pixels left of the mean
    moved = FaceSet([], None, 16, shift, None, 8, mask).region_masks([0], (16, 16))[0].numpy()
    assert np.array_equal(moved[:, :12], got[:, 4:]) and (moved[:12, 12:] == 1).all()


def test_faithfulness_and_sanity_on_a_linear_model():
    model, _ = _tiny_readout("none")
    x = torch.randn(6, 3, 8, 8)
    maps = attribute(model, x, "ig", n_steps=8)
    curves = deletion_insertion(model, x, maps, steps=8, seed=0)
    res = faithfulness(curves, n_permutations=199, n_bootstrap=100)
    assert (res["advantage"] > 0).all()  # exact IG of a linear model orders pixels better than chance
    sims = cascading_randomisation(model, model.readout, x, lambda m, im: attribute(m, im, "ig", n_steps=8), maps,
                                   stages=1)
    assert len(sims) == 2 and len(randomisation_stages(model, 1)) == 2
    table = similarity_check(sims, n_bootstrap=100)
    assert set(table["verdict"]) <= {"passed", "failed"}


@pytest.mark.slow
def test_type_one_error_of_region_and_cluster_tests_under_a_null_readout():
    """Maps of a readout with no link to any region: real and reference maps from the same distribution
    (smooth noise), paired. Rejections of the mouth region test and of any cluster at alpha = .05."""
    from scipy import ndimage

    reps, n, size = 200, 20, 24
    labels = region_labels(_template_landmarks(112) * size / 112, (size, size))
    rng = np.random.default_rng(5)
    region_rej = cluster_rej = groups_rej = 0
    high = np.arange(n) % 2 == 0
    for r in range(reps):
        m = ndimage.gaussian_filter(rng.normal(size=(2, n, size, size)), (0, 0, 1.5, 1.5))
        out = region_shares(m[0], labels, REGIONS, reference=m[1], n_permutations=199, n_bootstrap=0, seed=r)
        region_rej += out.set_index("region").loc["mouth", "p"] < 0.05
        cl, _, _ = cluster_test(m[0], reference=m[1], n_permutations=100, seed=r)
        cluster_rej += bool((cl["p"] < 0.05).any())
        cl, _, _ = cluster_test(m[0], groups=high, n_permutations=100, seed=r)  # high vs low, no difference
        groups_rej += bool((cl["p"] < 0.05).any())
    se = np.sqrt(0.05 * 0.95 / reps)
    assert abs(region_rej / reps - 0.05) < 3 * se + 0.005
    assert cluster_rej / reps < 0.05 + 3 * se
    assert groups_rej / reps < 0.05 + 3 * se


@pytest.mark.parametrize("baseline", ["area", "reference"])
def test_methods_text_names_the_region_baseline_and_what_the_area_test_means(baseline):
    from psychoface.reports.methods import methods_paragraph

    attrs = {"analysis": "explain_regions", "layer": "conv5", "method": "cam", "region_baseline": baseline,
             "method_label": "readout contributions (CAM)", "method_citation": "zhou2016", "passes_sanity": True}
    text = " ".join(methods_paragraph({"analyses": [attrs]}).plain.split())
    assert "explained with readout contributions (CAM) (Zhou et al., 2016)" in text
    if baseline == "area":
        assert "with its share of the image area" in text and "describe where the maps concentrate" in text
    else:
        assert "with the same face's share under a readout fitted on permuted ratings" in text
        assert "describe where the maps concentrate" not in text


def test_a_readout_that_does_not_predict_the_ratings_gets_a_caveat():
    from scipy import stats

    from psychoface.kinds.explain import _weak_readout

    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    assert _weak_readout("trustworthy", y + rng.normal(scale=0.5, size=60), y) == []
    noise = rng.normal(size=60)
    (line,) = _weak_readout("happy", noise, y)
    r, p = stats.pearsonr(noise, y)
    assert line.startswith("for happy, the explained out-of-fold predictions correlated r(58) = ")
    assert f"{abs(r):.2f}"[1:] in line and "does not predict them" in line
    assert _weak_readout("sad", -y, y)  # a negative correlation is no prediction either
