"""RDMs and RDM comparison against scipy and rsatoolbox on fixed data; bad input."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr, zscore

import psychoface.analyses.rdm as rdm_module
from psychoface.analyses.rdm import (
    RDM,
    align,
    compare,
    layer_rdm,
    pixel_rdm,
    rating_rdm,
    rating_rdms,
    tau_a,
)
from psychoface.errors import PsychofaceError

rsatoolbox = pytest.importorskip("rsatoolbox")


@pytest.fixture
def features():
    rng = np.random.default_rng(7)
    # a large common offset per feature (like ReLU activations) to exercise the float64 accumulation
    return (rng.standard_normal((23, 301)) + rng.uniform(0, 5, 301)).astype(np.float32)


def _ids(n):
    return [f"face_{i:02d}" for i in range(n)]


@pytest.mark.parametrize("metric", ["correlation", "euclidean", "cosine"])
def test_layer_rdm_equals_scipy_pdist_in_many_blocks(features, metric, monkeypatch):
    ref = pdist(features.astype(np.float64), metric)
    monkeypatch.setattr(rdm_module, "_BLOCK_BYTES", 23 * 8 * 5)  # Gram post-processing in blocks of 5 rows
    # 23 stimuli * 8 bytes * 7 features: 43 blocks of 7 features (the last one smaller)
    got = layer_rdm(features, _ids(23), metric=metric, block_bytes=23 * 8 * 7)
    np.testing.assert_allclose(got.dissimilarities, ref, rtol=1e-10, atol=1e-12)
    assert got.metric == metric and got.n == 23 and got.n_pairs == 23 * 22 // 2
    whole = layer_rdm(features, metric=metric)
    np.testing.assert_allclose(whole.dissimilarities, ref, rtol=1e-10, atol=1e-12)


def test_layer_rdm_from_an_iterator_of_feature_blocks_and_a_memmap(features, tmp_path, monkeypatch):
    ref = pdist(features.astype(np.float64), "correlation")
    monkeypatch.setattr(rdm_module, "_RELEASE_ROWS", 5)  # release the map's pages every 5 rows
    blocks = (features[:, s : s + 50] for s in range(0, features.shape[1], 50))
    np.testing.assert_allclose(layer_rdm(blocks).dissimilarities, ref, rtol=1e-10)
    np.save(tmp_path / "layer.npy", features)
    mm = np.load(tmp_path / "layer.npy", mmap_mode="r")
    got = layer_rdm(mm, block_bytes=23 * 8 * 16)
    np.testing.assert_allclose(got.dissimilarities, ref, rtol=1e-10)
    assert np.array_equal(np.asarray(mm), features)  # released pages read back intact


def test_layer_rdm_against_rsatoolbox_calc_rdm(features):
    """rsatoolbox's 'correlation' is ours; its 'euclidean' is our Euclidean distance squared / n_features."""
    ds = rsatoolbox.data.Dataset(features.astype(np.float64))
    corr = rsatoolbox.rdm.calc_rdm(ds, method="correlation").get_vectors()[0]
    np.testing.assert_allclose(layer_rdm(features).dissimilarities, corr, rtol=1e-9, atol=1e-12)
    sq_per_channel = rsatoolbox.rdm.calc_rdm(ds, method="euclidean").get_vectors()[0]
    ours = layer_rdm(features, metric="euclidean").dissimilarities
    np.testing.assert_allclose(ours**2 / features.shape[1], sq_per_channel, rtol=1e-9)


def test_pixel_rdm_flattens_images():
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, size=(9, 8, 6), dtype=np.uint8)
    got = pixel_rdm(images, metric="euclidean")
    np.testing.assert_allclose(got.dissimilarities, pdist(images.reshape(9, -1).astype(float)), rtol=1e-12)
    assert got.name == "pixels"


@pytest.fixture
def means():
    rng = np.random.default_rng(11)
    data = rng.normal(50, 15, size=(12, 3))
    data[:, 2] = np.round(data[:, 2] / 10)  # ties
    return pd.DataFrame(data, index=pd.Index(range(1, 13), name="stimulus"),
                        columns=["trustworthy", "attractive", "happy"])


def test_rating_rdm_per_attribute_and_across_attributes(means):
    one = rating_rdm(means, "attractive")
    np.testing.assert_allclose(one.dissimilarities, pdist(means[["attractive"]].to_numpy(), "cityblock"))
    assert one.ids == tuple(str(i) for i in range(1, 13)) and one.name == "attractive"
    assert one.metric == "absolute difference"
    both = rating_rdm(means, ["trustworthy", "attractive"])
    z = zscore(means[["trustworthy", "attractive"]].to_numpy(), ddof=1)
    np.testing.assert_allclose(both.dissimilarities, pdist(z, "euclidean"))
    assert both.name == "trustworthy+attractive"
    per = rating_rdms(means)
    assert list(per) == ["trustworthy", "attractive", "happy"]
    # aligned to a store's ids (a reordering)
    ids = [str(i) for i in range(12, 0, -1)]
    rev = rating_rdm(means, "attractive", ids=ids)
    np.testing.assert_allclose(rev.matrix(), one.matrix()[::-1, ::-1])


def test_compare_against_scipy_and_rsatoolbox(means, features):
    layer = layer_rdm(features[:12], [str(i) for i in range(1, 13)])
    rating = rating_rdm(means, "happy")  # tied dissimilarities
    a, b = layer.dissimilarities, rating.dissimilarities
    assert compare(layer, rating, "spearman") == pytest.approx(spearmanr(a, b)[0], abs=1e-12)
    assert compare(layer, rating, "pearson") == pytest.approx(pearsonr(a, b)[0], abs=1e-12)
    ra, rb = rsatoolbox.rdm.RDMs(a[None]), rsatoolbox.rdm.RDMs(b[None])
    for method, theirs in (("spearman", "spearman"), ("pearson", "corr"), ("tau-a", "tau-a")):
        ref = rsatoolbox.rdm.compare(ra, rb, method=theirs)[0, 0]
        assert compare(layer, rating, method) == pytest.approx(ref, abs=1e-12), method


def test_tau_a_counts_pairs_with_ties():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 4, 40).astype(float)
    y = rng.integers(0, 3, 40).astype(float)
    s = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
    brute = s[np.triu_indices(40, 1)].sum() / (40 * 39 / 2)
    assert tau_a(x, y) == pytest.approx(brute, abs=1e-12)


def test_compare_reorders_the_same_stimuli_and_refuses_different_ones(means):
    one = rating_rdm(means, "trustworthy")
    two = rating_rdm(means, "attractive")
    shuffled = two.reindex([str(i) for i in (5, 3, 1, 2, 4, 6, 7, 8, 9, 10, 11, 12)])
    assert compare(one, shuffled) == pytest.approx(compare(one, two), abs=1e-15)
    other = rating_rdm(means.iloc[:11], "attractive")
    with pytest.raises(PsychofaceError, match="do not hold the same stimuli.*lacks stimulus '12'"):
        compare(one, other)
    with pytest.raises(PsychofaceError, match="no stimulus 'x'"):
        one.reindex(["x", "1", "2", "3"])
    assert align(two, list(two.ids)) is two


def test_bad_features_name_the_stimulus(features):
    bad = features.copy()
    bad[4, 100] = np.nan
    with pytest.raises(PsychofaceError, match=r"stimulus 'face_04' \(row 4\) has NaN"):
        layer_rdm(bad, _ids(23), block_bytes=23 * 8 * 10)
    const = features.copy()
    const[[2, 9]] = 3.25
    with pytest.raises(PsychofaceError, match="stimulus 'face_02', 'face_09' has the same value.*correlation"):
        layer_rdm(const, _ids(23))
    layer_rdm(const, _ids(23), metric="euclidean")  # defined for constant patterns
    zero = features.copy()
    zero[7] = 0
    with pytest.raises(PsychofaceError, match="'face_07' has only zero features; the cosine"):
        layer_rdm(zero, _ids(23), metric="cosine")
    with pytest.raises(PsychofaceError, match="3 stimuli; an RDM needs at least 4"):
        layer_rdm(features[:3])
    with pytest.raises(PsychofaceError, match="5 stimulus ids for 23 rows"):
        layer_rdm(features, _ids(5))
    with pytest.raises(PsychofaceError, match="unknown RDM metric 'manhattan'"):
        layer_rdm(features, metric="manhattan")
    with pytest.raises(PsychofaceError, match="shape"):
        layer_rdm(features[0])
    with pytest.raises(PsychofaceError, match="every block must hold all stimuli"):
        layer_rdm([features[:, :10], features[:20, 10:]])


def test_bad_ratings(means):
    with pytest.raises(PsychofaceError, match="unknown attribute 'trust'"):
        rating_rdm(means, "trust")
    flat = means.assign(happy=4.0)
    with pytest.raises(PsychofaceError, match="attribute 'happy' has no variance"):
        rating_rdm(flat, ["trustworthy", "happy"])
    holes = means.copy()
    holes.loc[3, "attractive"] = np.nan
    with pytest.raises(PsychofaceError, match="attribute 'attractive': stimulus '3' has no numeric mean rating"):
        rating_rdm(holes, "attractive")
    with pytest.raises(PsychofaceError, match="no ratings for stimulus '99'"):
        rating_rdm(means, "attractive", ids=["1", "2", "3", "99"])
    with pytest.raises(PsychofaceError, match="repeat a name"):
        rating_rdm(means, ["happy", "happy"])
    with pytest.raises(PsychofaceError, match="unknown RDM comparison 'kendall'"):
        compare(rating_rdm(means, "happy"), rating_rdm(means, "attractive"), "kendall")


def test_rdm_checks_its_own_shape_ids_and_values():
    with pytest.raises(PsychofaceError, match="5 dissimilarities do not fit 4 stimulus ids"):
        RDM(np.ones(5), ["a", "b", "c", "d"], "euclidean")
    with pytest.raises(PsychofaceError, match="stimulus id 'a' occurs twice"):
        RDM(np.ones(6), ["a", "b", "a", "d"], "euclidean")
    d = np.arange(1.0, 11.0)  # 5 stimuli; entry 7 is the pair (2, 3)
    d[7] = np.inf
    with pytest.raises(PsychofaceError, match="stimuli 'c' and 'd' is inf"):
        RDM(d, list("abcde"), "euclidean", "x")
    rdm = RDM(np.arange(1.0, 11.0), list("abcde"), "euclidean", "x")
    assert rdm.to_frame().loc["c", "d"] == 8.0 and rdm.to_frame().loc["d", "c"] == 8.0
    with pytest.raises(ValueError):
        rdm.dissimilarities[0] = 5.0  # read-only
