"""Unit-wise correlations against scipy, statsmodels and a plain max-statistic loop; FWER simulation."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from psychoface.analyses.correlate import correlate_units
from psychoface.errors import PsychofaceError

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _data(n=40, p=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)).astype(np.float32)
    X[:, 10] = 3.0  # constant unit
    X[:, :5] += rng.standard_normal((n, 1)).astype(np.float32)  # correlated units
    Y = pd.DataFrame(
        {"a": 1.5 * X[:, 0] + X[:, 7] + rng.standard_normal(n), "b": rng.standard_normal(n)},
        index=[f"s{i}" for i in range(n)],
    )
    return X, Y


def _all_units(X, Y, **kw):
    """Run with alpha close to 1 so that (almost) every unit is listed."""
    summary, units = correlate_units(X, Y, alpha=0.9999, **kw)
    return summary, units


def test_r_and_parametric_p_match_scipy_pearsonr():
    X, Y = _data()
    summary, units = _all_units(X, Y, correction="none", chunk_size=64)
    assert summary.n_constant.tolist() == [1, 1] and summary.n_units.tolist() == [299, 299]
    for name in ("a", "b"):
        u = units[units.attribute == name].set_index("unit")
        assert 10 not in u.index
        ref = stats.pearsonr(X[:, u.index].astype(float), Y[[name]].to_numpy(), axis=0)
        np.testing.assert_allclose(u.r, ref.statistic, rtol=0, atol=1e-12)
        np.testing.assert_allclose(u.p, ref.pvalue, rtol=1e-9)
        r_all = np.corrcoef(np.column_stack([np.delete(X, 10, axis=1), Y[name]]), rowvar=False)[-1, :-1]
        row = summary.set_index("attribute").loc[name]
        assert row.max_abs_r == pytest.approx(np.abs(r_all).max())
        top = np.argsort(-np.abs(np.insert(r_all, 10, 0.0)))[:5]
        assert row.top_units == ", ".join(map(str, top))


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "bonferroni"])
def test_parametric_corrections_match_statsmodels(method):
    X, Y = _data(seed=1)
    summary, units = _all_units(X, Y, correction=method)
    for name in ("a", "b"):
        unit_ids = [j for j in range(300) if j != 10]
        p = stats.pearsonr(X[:, unit_ids].astype(float), Y[[name]].to_numpy(), axis=0).pvalue
        ref = multipletests(p, method=method)[1]
        u = units[units.attribute == name].set_index("unit")
        np.testing.assert_allclose(u.p_corr, pd.Series(ref, index=unit_ids).loc[u.index], rtol=1e-9)
        assert summary.set_index("attribute").loc[name, "n_significant"] == len(u)
    assert summary.attrs["psychoface"]["n_permutations"] == 0


def test_maxt_p_equals_a_plain_loop_with_the_same_permutations():
    X, Y = _data(n=30, p=120, seed=2)
    N, seed = 199, 8
    summary, units = _all_units(X, Y, n_permutations=N, seed=seed, chunk_size=25)
    perms = np.random.default_rng(seed).permuted(np.tile(np.arange(30, dtype=np.int32), (N, 1)), axis=1)
    Xd = np.delete(X.astype(float), 10, axis=1)
    ids = np.delete(np.arange(120), 10)
    for name in ("a", "b"):
        y = Y[name].to_numpy()
        r = np.corrcoef(np.column_stack([Xd, y]), rowvar=False)[-1, :-1]
        peak = np.array(
            [np.abs(np.corrcoef(np.column_stack([Xd, y[p]]), rowvar=False)[-1, :-1]).max() for p in perms]
        )
        p = np.array([(np.sum(peak >= abs(v)) + 1) / (N + 1) for v in r])
        u = units[units.attribute == name].set_index("unit")
        listed = np.isin(ids, u.index)
        assert (p[~listed] > 0.9999).all()
        np.testing.assert_allclose(u.loc[ids[listed], "p_corr"], p[listed])
        row = summary.set_index("attribute").loc[name]
        k = int(np.floor(0.9999 * (N + 1) - 1 + 1e-9))
        assert row.r_crit == pytest.approx(np.sort(peak)[::-1][k] if k < N else 0.0, abs=1e-6)
    assert summary.n_significant.iloc[0] > 0


def test_r_crit_separates_significant_units_and_units_are_sorted():
    X, Y = _data(n=50, p=400, seed=3)
    summary, units = correlate_units(X, Y, n_permutations=499, alpha=0.05)
    _, everything = _all_units(X, Y, n_permutations=499)
    for name, row in summary.set_index("attribute").iterrows():
        u = units[units.attribute == name]
        assert row.n_significant == len(u) and row.proportion == pytest.approx(len(u) / row.n_units)
        assert (u.p_corr <= 0.05).all() and (np.diff(np.abs(u.r)) <= 0).all()
        rest = everything[(everything.attribute == name) & ~everything.unit.isin(u.unit)]
        assert (np.abs(u.r) > row.r_crit - 1e-6).all() and (np.abs(rest.r) <= row.r_crit + 1e-6).all()
    assert set(units[units.attribute == "a"].unit) >= {0, 7}
    assert summary.set_index("attribute").loc["b", "n_significant"] == 0


def test_missing_ratings_chunking_and_memmap(tmp_path):
    X, Y = _data(n=36, p=90, seed=4)
    Y.iloc[[1, 4, 9], 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    s1, u1 = _all_units(mm, Y, n_permutations=99, chunk_size=7)
    s2, u2 = _all_units(X, Y, n_permutations=99, chunk_size=1000)
    pd.testing.assert_frame_equal(s1, s2)
    pd.testing.assert_frame_equal(u1, u2)
    assert s1.n.tolist() == [36, 33]
    ok = Y["b"].notna().to_numpy()
    ub = u1[u1.attribute == "b"].set_index("unit")
    j = ub.index[0]
    assert ub.loc[j, "r"] == pytest.approx(stats.pearsonr(X[ok, j].astype(float), Y["b"][ok]).statistic)


def test_default_permutations_and_attrs():
    X, Y = _data(n=20, p=50)
    summary, _ = correlate_units(X, Y.iloc[:, :1], n_permutations=None, chunk_size=50)
    info = summary.attrs["psychoface"]
    assert info["n_permutations"] == 10_000 and info["correction"] == "max-T (family-wise)"
    for key in ("analysis", "seed", "ci_level", "ci_method", "p_method", "correction", "family", "alpha"):
        assert key in info


@pytest.mark.parametrize(
    "kwargs, change, message",
    [
        ({}, lambda X, Y: (np.where(np.arange(20)[:, None] == 6, np.inf, X), Y), "stimulus 's6' has value"),
        ({}, lambda X, Y: (X, Y.assign(b=1.0)), "attribute 'b': every rating is 1"),
        ({}, lambda X, Y: (X[:5], Y), "features have 5 rows but the ratings have 20"),
        ({"correction": "sidak"}, lambda X, Y: (X, Y), "unknown correction 'sidak'"),
        ({"attributes": ["c"]}, lambda X, Y: (X, Y), "unknown attribute 'c'"),
        ({"alpha": 5}, lambda X, Y: (X, Y), "alpha = 5"),
        ({"seed": -1}, lambda X, Y: (X, Y), r"^seed = -1: must be an integer >= 0$"),
        ({"seed": 2.5}, lambda X, Y: (X, Y), r"^seed = 2.5: must be an integer >= 0$"),
        ({"seed": True}, lambda X, Y: (X, Y), r"^seed = True: must be an integer >= 0$"),
        ({"seed": -3, "correction": "holm"}, lambda X, Y: (X, Y), r"^seed = -3: must be an integer"),
    ],
)
def test_bad_input_is_one_line_error(kwargs, change, message):
    X, Y = _data(n=20, p=30)
    X, Y = change(X, Y)
    with pytest.raises(PsychofaceError, match=message) as err:
        correlate_units(X, Y, n_permutations=9, **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.omi
def test_real_omi_pixels_correlate_with_skin_colour():
    omi = SHARED / "data" / "omi"
    if not omi.is_dir():
        pytest.skip(f"shared OMI data not found at {omi}")
    from PIL import Image

    ids = [str(i) for i in range(1, 101)]
    X = []
    for i in ids:
        with Image.open(omi / "images" / f"{i}.jpg") as im:
            im.draft("L", (64, 64))
            X.append(np.asarray(im.convert("L").resize((16, 16)), dtype=np.float32).ravel())
    Y = pd.read_csv(omi / "attribute_means.csv", index_col=0)
    Y.index = Y.index.astype(str)
    summary, units = correlate_units(np.array(X), Y.loc[ids, ["skin-color"]], n_permutations=499)
    row = summary.iloc[0]
    assert row.n == 100 and row.n_units == 256 and row.n_significant > 10
    # skin-colour ratings run from light to dark: bright pixels go with low ratings
    assert (units.r < 0).mean() > 0.9


@pytest.mark.slow
def test_maxt_controls_the_familywise_error_rate():
    """Null data with correlated units: P(any unit significant) should be .05 within Monte-Carlo error."""
    runs, hits = 400, 0
    rng = np.random.default_rng(11)
    mix = rng.standard_normal((60, 200)) * (rng.random((60, 200)) < 0.1)
    for run in range(runs):
        X = rng.standard_normal((25, 60)) @ mix + rng.standard_normal((25, 200))
        Y = pd.DataFrame({"a": rng.standard_normal(25)})
        summary, _ = correlate_units(X, Y, n_permutations=199, seed=run)
        hits += int(summary.n_significant.iloc[0] > 0)
    rate, se = hits / runs, np.sqrt(0.05 * 0.95 / runs)
    print(f"max-T family-wise error rate {rate:.4f} over {runs} runs (MC SE {se:.4f})")
    assert abs(rate - 0.05) < 3 * se
