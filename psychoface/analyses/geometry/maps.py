"""Maps with numbers: 2-D maps of faces (PCA, t-SNE, UMAP), their quality, and what each map holds.

- Maps: PCA (the top two principal components), t-SNE (van der Maaten & Hinton, 2008, with openTSNE;
  Poličar et al., 2024) or UMAP (McInnes et al., 2018, with umap-learn) of a layer's features or of the
  predicted attribute vectors, seeded. Features are mapped from their coordinates in the data span
  (:mod:`.span`), which keep every Euclidean distance, so a 100,352-dimensional layer costs one Gram matrix.
- Quality: trustworthiness (are the map's k nearest neighbours near in the data?) and continuity (are the
  data's k nearest neighbours near in the map?) (Venna & Kaski, 2001), with scikit-learn's
  ``trustworthiness`` (continuity is trustworthiness with the roles of data and map swapped).
- What the map holds of an attribute: the rating predicted from the 2-D coordinates by k-nearest-neighbour
  regression (the mean rating of the k nearest training faces) in k-fold cross-validation; Pearson r
  between the out-of-fold predictions and the ratings, percentile bootstrap CI over faces (predictions
  fixed), one-sided permutation p of r > 0 refitting the cross-validation for every permutation of the
  ratings (the neighbours do not depend on the ratings, so a refit is one sparse product), Holm across
  maps x attributes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors

from psychoface.analyses.geometry.procrustes import centred_coordinates
from psychoface.analyses.geometry.span import permutation_blocks
from psychoface.analyses.inference import correct_p, correction_label, percentile_ci, permutation_p
from psychoface.analyses.predict import check_ratings
from psychoface.errors import PsychofaceError

METHODS = ("pca", "tsne", "umap")
INSTALL_HINT = "install the maps extra: pip install 'psychoface[maps]'"


def embed(X, ids, *, method: str = "pca", seed: int = 0, name: str = "layer") -> np.ndarray:
    """Two-dimensional map (n x 2) of the rows of ``X`` by PCA, t-SNE or UMAP."""
    if method not in METHODS:
        raise PsychofaceError(f"unknown map {method!r}: use {', '.join(METHODS)}")
    ids = [str(i) for i in ids]
    if len(ids) < 5:
        raise PsychofaceError(f"{name}: {len(ids)} stimuli; a map needs at least 5")
    U = centred_coordinates(X, ids, name)
    if method == "pca":
        left, s, _ = np.linalg.svd(U, full_matrices=False)
        Z = left[:, :2] * s[:2]
        return Z * np.where(Z[np.argmax(np.abs(Z), axis=0), range(Z.shape[1])] < 0, -1.0, 1.0)
    if method == "tsne":
        try:
            from openTSNE import TSNE
        except ImportError:
            raise PsychofaceError(f"t-SNE maps need openTSNE: {INSTALL_HINT}") from None
        perplexity = min(30.0, (len(ids) - 1) / 3.0)
        return np.asarray(TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=1).fit(U))
    try:
        import umap
    except ImportError:
        raise PsychofaceError(f"UMAP maps need umap-learn: {INSTALL_HINT}") from None
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(ids) - 1), random_state=seed, n_jobs=1)
    return np.asarray(reducer.fit_transform(U))


def map_quality(X, coords, ids, *, k: int = 10, name: str = "map") -> pd.DataFrame:
    """Trustworthiness and continuity of a 2-D map at ``k`` neighbours (one row)."""
    ids = [str(i) for i in ids]
    n = len(ids)
    if not 1 <= k < n / 2:
        raise PsychofaceError(f"{name}: k = {k} neighbours for {n} stimuli; use 1 <= k < {n / 2:g}")
    U = centred_coordinates(X, ids, name)
    coords = np.asarray(coords, dtype=float)
    df = pd.DataFrame([{
        "map": name, "n": n, "k": k,
        "trustworthiness": float(trustworthiness(U, coords, n_neighbors=k)),
        "continuity": float(trustworthiness(coords, U, n_neighbors=k)),
    }])
    df.attrs["psychoface"] = {"analysis": "map_quality", "seed": None, "k": k,
                              "method": "trustworthiness and continuity (Venna & Kaski, 2001)"}
    return df


def knn_operator(coords: np.ndarray, folds: np.ndarray, k: int) -> sparse.csr_matrix:
    """Sparse (n x n) matrix whose row i averages the ratings of i's k nearest faces outside i's fold."""
    n = len(coords)
    rows, cols = [], []
    for f in np.unique(folds):
        test, train = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
        nn = NearestNeighbors(n_neighbors=k).fit(coords[train])
        _, idx = nn.kneighbors(coords[test])
        rows.append(np.repeat(test, k))
        cols.append(train[idx].ravel())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.full(len(rows), 1.0 / k), (rows, cols)), shape=(n, n))


def map_scores(
    maps,
    Y: pd.DataFrame,
    *,
    attributes=None,
    k: int = 10,
    folds: int = 10,
    n_permutations: int = 1000,
    n_bootstrap: int = 2000,
    ci_level: float = 0.95,
    correction: str = "holm",
    seed: int = 0,
) -> pd.DataFrame:
    """How much of each attribute each map holds: cross-validated kNN regression from the 2-D coordinates.

    ``maps``: name -> (n_stimuli x 2) coordinates in the order of ``Y``'s rows. One row per map x
    attribute: ``map, attribute, n, r, ci_low, ci_high, p, p_corr``.
    """
    ids, names, ratings = check_ratings(Y, attributes)
    fold_ss, perm_ss, boot_ss = np.random.SeedSequence(seed).spawn(3)
    fold_rng, boot_rng = np.random.default_rng(fold_ss), np.random.default_rng(boot_ss)
    rows = []
    for j, attribute in enumerate(names):
        ok = np.flatnonzero(~np.isnan(ratings[:, j]))
        n = len(ok)
        if n < folds or n - -(-n // folds) <= k:
            raise PsychofaceError(
                f"attribute {attribute!r}: {n} rated stimuli are too few for k = {k} neighbours in {folds} folds; "
                "use a smaller k or fewer folds"
            )
        y = ratings[ok, j]
        if np.ptp(y) == 0:
            raise PsychofaceError(f"attribute {attribute!r}: every rating is {y[0]:g}; leave it out")
        fold = np.empty(n, dtype=int)
        fold[fold_rng.permutation(n)] = np.arange(n) % folds
        idx = (boot_rng.random((n_bootstrap, n)) * n).astype(np.intp)
        for name, coords in maps.items():
            coords = np.asarray(coords, dtype=float)
            if coords.shape != (len(ids), 2):
                raise PsychofaceError(f"map {name!r}: expected {len(ids)} x 2 coordinates, got {coords.shape}")
            S = knn_operator(coords[ok], fold, k)
            pred = S @ y
            r = _r(pred[None], y[None])[0]
            p = np.nan
            if n_permutations:
                null = np.concatenate([_r((S @ y[perms].T).T, y[perms])
                                       for perms in permutation_blocks(perm_ss, n, n_permutations)])
                p = float(permutation_p(r, null, "greater"))
            low = high = np.nan
            if n_bootstrap:
                low, high = percentile_ci(_r(pred[idx], y[idx]), ci_level)
            rows.append({"map": name, "attribute": attribute, "n": n, "r": r, "ci_low": float(low),
                         "ci_high": float(high), "p": p})
    df = pd.DataFrame(rows)
    df.insert(df.columns.get_loc("p") + 1, "p_corr", correct_p(df["p"].to_numpy(), correction))
    df.attrs["psychoface"] = {
        "analysis": "map_scores",
        "seed": seed,
        "k": k,
        "folds": folds,
        "model": f"{k}-nearest-neighbour regression from the 2-D map coordinates, {folds}-fold cross-validation",
        "n_permutations": n_permutations,
        "n_bootstrap": n_bootstrap,
        "ci_level": ci_level,
        "ci_method": "percentile bootstrap over faces of (observed, predicted) pairs, predictions fixed"
        if n_bootstrap else "none",
        "p_method": "one-sided permutation test of r > 0 refitting the cross-validated regression for each "
        "permutation of the ratings, p = (b + 1)/(N + 1)" if n_permutations else "none",
        "correction": correction_label(correction),
        "family": f"{len(maps)} map{'s' * (len(maps) != 1)} x {len(names)} attribute{'s' * (len(names) != 1)}",
    }
    return df


def _r(a, b):
    am = a - a.mean(axis=1, keepdims=True)
    bm = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((am * am).sum(axis=1) * (bm * bm).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (am * bm).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
