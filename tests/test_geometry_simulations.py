"""Monte-Carlo type I error and power of every permutation test of the geometry analyses (slow).

Single tests are simulated with ``correction="none"``: statsmodels' ``multipletests`` runs a garbage
collection on every call, which costs more than the tests themselves at these sizes.
"""

import numpy as np
import pandas as pd
import pytest

from psychoface.analyses.geometry import attributes, maps, procrustes, riemannian, sphere

pytestmark = pytest.mark.slow
ALPHA = 0.05


def _ids(n):
    return [f"s{i}" for i in range(n)]


def _type_one(ps):
    """Rejection rate at .05 within 3 binomial SEs of .05 (and not far below it either)."""
    ps = np.asarray(ps)
    rate = np.mean(ps <= ALPHA)
    se = np.sqrt(ALPHA * (1 - ALPHA) / len(ps))
    assert abs(rate - ALPHA) <= 3 * se, f"rejection rate {rate:.3f} over {len(ps)} null studies"


def _power(ps, at_least):
    rate = np.mean(np.asarray(ps) <= ALPHA)
    assert rate >= at_least, f"power {rate:.2f} below {at_least}"


def _faces(rng, n=30, D=15):
    return np.abs(rng.normal(size=(n, D))) + 0.2 * rng.normal(size=(n, D))


def test_distinctiveness_correlation():
    rng = np.random.default_rng(100)
    null, planted = [], []
    for rep in range(300):
        X = _faces(rng)
        d = sphere.distinctiveness(X, _ids(30))["distinctiveness"].to_numpy()
        y = rng.normal(size=30)
        Y = pd.DataFrame({"null": y, "planted": (d - d.mean()) / d.std() + 1.0 * y}, index=_ids(30))
        df = sphere.distinctiveness_correlations({"l": X}, Y, n_permutations=99, n_bootstrap=0, seed=rep,
                                                correction="none")
        null.append(df.loc[0, "p"])
        planted.append(df.loc[1, "p"])
    _type_one(null)
    _power(planted, 0.8)


@pytest.mark.parametrize("method", ["exact", "tangent"])
def test_group_means(method):
    rng = np.random.default_rng(101)
    null, planted = [], []
    labels = np.repeat(["a", "b"], 15)
    for rep in range(200):
        X = rng.normal(size=(30, 8)) * 0.3 + np.r_[1.0, np.zeros(7)]
        null.append(sphere.group_mean_test(X, labels, _ids(30), method=method, n_permutations=99, seed=rep)["p"][0])
        X[15:, 1] += 0.5
        planted.append(sphere.group_mean_test(X, labels, _ids(30), method=method, n_permutations=99, seed=rep)["p"][0])
    _type_one(null)
    _power(planted, 0.8)


def test_attribute_space_mantel():
    rng = np.random.default_rng(102)
    names = [f"a{i}" for i in range(8)]
    null, planted = [], []
    for rep in range(300):
        Y = pd.DataFrame(rng.normal(size=(40, 3)) @ rng.normal(size=(3, 8)) + rng.normal(size=(40, 8)),
                         columns=names)
        human = attributes.rating_angles(Y)
        other = attributes.rating_angles(pd.DataFrame(rng.normal(size=(40, 8)), columns=names))
        noisy = attributes.rating_angles(Y + 0.7 * rng.normal(size=(40, 8)))
        df = attributes.compare_attribute_spaces({"null": other, "planted": noisy}, human, n_permutations=99,
                                                 n_bootstrap=0, seed=rep, correction="none")
        null.append(df.loc[0, "p"])
        planted.append(df.loc[1, "p"])
    _type_one(null)
    _power(planted, 0.8)


@pytest.mark.parametrize("metric", ["affine", "log_euclidean"])
def test_riemannian_rsa(metric):
    rng = np.random.default_rng(103)
    n, p = 10, 30
    null, planted = [], []
    for rep in range(200):
        X = rng.normal(size=(n, p)) * np.r_[np.full(4, 3.0), np.ones(p - 4)]
        layers = {"x": X, "indep": rng.normal(size=(n, p)) * np.r_[np.full(4, 3.0), np.ones(p - 4)],
                  "related": X + rng.normal(size=(n, p))}
        df = riemannian.riemannian_rsa(layers, _ids(n), metric=metric, shrinkage=0.1, n_permutations=99, seed=rep,
                                       correction="none")
        null.append(df.loc[0, "p"])
        planted.append(df.loc[1, "p"])
    _type_one(null)
    _power(planted, 0.8)


def test_procrustes_shape_metric():
    rng = np.random.default_rng(104)
    n = 20
    null, planted = [], []
    for rep in range(300):
        X = rng.normal(size=(n, 5)) * np.r_[3.0, 2.0, 1, 1, 1]
        Y = pd.DataFrame(rng.normal(size=(n, 3)), index=_ids(n), columns=list("abc"))
        Yp = pd.DataFrame(X[:, :3] + 1.5 * rng.normal(size=(n, 3)), index=_ids(n), columns=list("abc"))
        null.append(procrustes.shape_distances({"l": X}, Y, _ids(n), n_permutations=99, seed=rep)["p"][0])
        planted.append(procrustes.shape_distances({"l": X}, Yp, _ids(n), n_permutations=99, seed=rep)["p"][0])
    _type_one(null)
    _power(planted, 0.8)


def test_map_scores():
    rng = np.random.default_rng(105)
    n = 40
    null, planted = [], []
    for rep in range(300):
        Z = rng.normal(size=(n, 2))
        Y = pd.DataFrame({"null": rng.normal(size=n), "planted": Z[:, 0] + 1.0 * rng.normal(size=n)},
                         index=_ids(n))
        df = maps.map_scores({"m": Z}, Y, k=5, folds=5, n_permutations=99, n_bootstrap=0, seed=rep,
                             correction="none")
        null.append(df.loc[0, "p"])
        planted.append(df.loc[1, "p"])
    _type_one(null)
    _power(planted, 0.8)
