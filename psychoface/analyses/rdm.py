"""Representational dissimilarity matrices (RDMs) and their comparison.

Vocabulary follows rsatoolbox (Nili et al., 2014; Schütt et al., 2023): an :class:`RDM` holds the
*dissimilarities* of every pair of stimuli, and :func:`compare` measures how similar two RDMs are.

Layer RDMs (Kriegeskorte, Mur & Bandettini, 2008) are computed in one streaming pass over blocks of
features: the n x n Gram matrix, the row sums and the squared norms are accumulated in float64
(symmetric rank-k updates), so a 100,352-dimensional layer over 10,000 stimuli is never in memory at
once. Distances (identical to :func:`scipy.spatial.distance.pdist`):

- ``correlation``: 1 - Pearson r between the two stimuli's feature vectors,
- ``euclidean``: the Euclidean distance (rsatoolbox's ``euclidean`` is this squared and divided by the
  number of features),
- ``cosine``: 1 - cosine similarity.

Rating RDMs: the absolute difference of one attribute's mean ratings, or the Euclidean distance between
stimuli on several z-scored attributes. A pixel RDM (a low-level control) is a layer RDM of pixels.

RDMs are compared by Spearman's rho (default; rank ties get average ranks), Pearson's r, or Kendall's
tau-a (Kendall, 1938; recommended for RDMs with tied dissimilarities by Nili et al., 2014), an exact
O(m log m) count of concordant and discordant pairs (:mod:`psychoface.analyses.kendall`).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg.blas import dsyrk
from scipy.spatial.distance import pdist, squareform
from scipy.stats import rankdata

from psychoface.analyses import kendall
from psychoface.errors import PsychofaceError

METRICS = ("correlation", "euclidean", "cosine")
METHODS = {"spearman": "rho", "pearson": "r", "tau-a": "tau"}
"""Comparison methods and the name of the statistic (column) each one reports."""

MIN_STIMULI = 4
_BLOCK_BYTES = 32 * 2**20  # float64 bytes of one block of features
_RELEASE_ROWS = 256  # rows copied from a memory map between releases of its pages


@dataclass(frozen=True, eq=False)
class RDM:
    """A representational dissimilarity matrix over ``n`` stimuli.

    ``dissimilarities`` is the condensed upper triangle (row by row, as :func:`scipy.spatial.distance.pdist`
    returns it: pairs (0, 1), (0, 2), ..., (n-2, n-1)); ``ids`` are the stimulus ids (str) in row order;
    ``metric`` names the dissimilarity measure; ``name`` the layer, attribute or control it describes.
    """

    dissimilarities: np.ndarray
    ids: tuple[str, ...]
    metric: str
    name: str = ""

    def __post_init__(self):
        d = np.array(self.dissimilarities, dtype=np.float64).ravel()
        ids = tuple(str(i) for i in self.ids)
        n = len(ids)
        label = self.name or "RDM"
        if n < MIN_STIMULI:
            raise PsychofaceError(
                f"{label}: {n} stimuli; an RDM needs at least {MIN_STIMULI} stimuli: add stimuli"
            )
        if d.size != n * (n - 1) // 2:
            raise PsychofaceError(
                f"{label}: {d.size} dissimilarities do not fit {n} stimulus ids "
                f"(expected n(n-1)/2 = {n * (n - 1) // 2}); pass the condensed upper triangle"
            )
        if len(set(ids)) != n:
            dup = pd.Index(ids)[pd.Index(ids).duplicated()][0]
            raise PsychofaceError(f"{label}: stimulus id {dup!r} occurs twice; make the ids unique")
        bad = ~np.isfinite(d)
        if bad.any():
            i, j = _pair(int(np.flatnonzero(bad)[0]), n)
            raise PsychofaceError(
                f"{label}: the dissimilarity of stimuli {ids[i]!r} and {ids[j]!r} is {d[bad][0]}; "
                "RDMs must be finite: check the features or ratings of these stimuli"
            )
        d.setflags(write=False)
        object.__setattr__(self, "dissimilarities", d)
        object.__setattr__(self, "ids", ids)

    @property
    def n(self) -> int:
        """Number of stimuli."""
        return len(self.ids)

    @property
    def n_pairs(self) -> int:
        """Number of stimulus pairs, n(n - 1)/2."""
        return self.dissimilarities.size

    def matrix(self) -> np.ndarray:
        """The square, symmetric n x n matrix with zeros on the diagonal."""
        return squareform(self.dissimilarities, checks=False)

    def reindex(self, ids: Sequence[str]) -> RDM:
        """The RDM of the stimuli ``ids`` (a subset or reordering of this RDM's ids)."""
        ids = [str(i) for i in ids]
        if list(ids) == list(self.ids):
            return self
        pos = pd.Index(self.ids).get_indexer(ids)
        if (pos < 0).any():
            missing = [i for i, p in zip(ids, pos) if p < 0]
            raise PsychofaceError(
                f"{self.name or 'RDM'}: no stimulus {_few(missing)}; "
                "compute both RDMs from the same stimuli"
            )
        sq = self.matrix()[np.ix_(pos, pos)]
        return RDM(squareform(sq, checks=False), ids, self.metric, self.name)

    def to_frame(self) -> pd.DataFrame:
        """The square matrix as a DataFrame labelled by stimulus id."""
        return pd.DataFrame(self.matrix(), index=list(self.ids), columns=list(self.ids))


def _pair(k: int, n: int) -> tuple[int, int]:
    """Row and column of entry ``k`` of a condensed upper triangle over ``n`` stimuli."""
    i = int(n - 2 - np.floor(np.sqrt(-8 * k + 4 * n * (n - 1) - 7) / 2.0 - 0.5))
    j = int(k + i + 1 - n * (n - 1) // 2 + (n - i) * ((n - i) - 1) // 2)
    return i, j


def _few(values, k: int = 3) -> str:
    """'a', 'b', 'c' and 4 more -- for error messages."""
    values = list(values)
    text = ", ".join(repr(str(v)) for v in values[:k])
    return text + (f" and {len(values) - k} more" if len(values) > k else "")


# --------------------------------------------------------------------------------------------------
# layer and pixel RDMs


def layer_rdm(
    X,
    ids: Sequence[str] | None = None,
    *,
    metric: str = "correlation",
    name: str = "layer",
    block_bytes: int = _BLOCK_BYTES,
) -> RDM:
    """RDM of a layer's activation patterns, computed in blocks of features.

    ``X`` is an (n_stimuli, n_features) array (float32, possibly a read-only memory map from
    :func:`psychoface.load_features`) or an iterator, list or tuple of (n_stimuli, k) arrays holding
    consecutive blocks of features (columns) for all stimuli. (Row blocks, as ``FeatureStore.iter_chunks``
    yields them, do not give a Gram matrix in one pass: pass the memory map instead.) Each block is converted to float64 and accumulated into the Gram
    matrix (``dsyrk``), the row sums and the squared norms; pages of a memory map are released after each
    block, so memory stays at the n x n Gram matrix plus one block of ``block_bytes``.
    ``ids`` are the stimulus ids (default ``"0"``, ``"1"``, ...).

    Errors name the stimulus: NaN/infinite features; for ``correlation`` a constant pattern, for
    ``cosine`` an all-zero pattern (distance undefined).
    """
    if metric not in METRICS:
        raise PsychofaceError(f"unknown RDM metric {metric!r}: use one of {', '.join(METRICS)}")
    gram = rowsum = None
    release = _releaser(X)
    ids_out: list[str] | None = None
    n_features = 0
    for block in _feature_blocks(X, block_bytes):
        if gram is None:
            n = block.shape[0]
            ids_out = _stimulus_ids(ids, n, name)
            gram = np.zeros((n, n), order="F")
            rowsum = np.zeros(n)
        elif block.shape[0] != gram.shape[0]:
            raise PsychofaceError(
                f"{name}: a block of features has {block.shape[0]} rows, the first had {gram.shape[0]}; "
                "every block must hold all stimuli"
            )
        gram = _accumulate(block, gram, rowsum, ids_out, name, release)
        n_features += block.shape[1]
    if gram is None or n_features == 0:
        raise PsychofaceError(f"{name}: no features; pass an (n_stimuli, n_features) array")
    return RDM(_distances(gram, rowsum, n_features, metric, ids_out, name), ids_out, metric, name)


def _accumulate(block, gram, rowsum, ids, name, release) -> np.ndarray:
    """Add one block of features to the Gram matrix's upper triangle (in place) and to the row sums.

    The block is copied to float64 a few rows at a time, releasing a memory map's pages after each, so
    that the pages the kernel maps around each row's slice (read-ahead) never add up to the layer."""
    b = np.empty(block.shape, dtype=np.float64)
    for r in range(0, b.shape[0], _RELEASE_ROWS):
        b[r : r + _RELEASE_ROWS] = block[r : r + _RELEASE_ROWS]
        release()
    finite = np.isfinite(b).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise PsychofaceError(
            f"{name}: stimulus {ids[i]!r} (row {i}) has NaN or infinite features; "
            "re-extract the features or leave the stimulus out"
        )
    rowsum += b.sum(axis=1)
    # rank-k update: gram += b @ b.T (b.T is Fortran-ordered, so no copy)
    return dsyrk(1.0, b.T, beta=1.0, c=gram, trans=1, overwrite_c=1)


def pixel_rdm(
    images, ids: Sequence[str] | None = None, *, metric: str = "correlation", name: str = "pixels"
) -> RDM:
    """Pixel-space RDM, a low-level control: ``images`` is an (n, ...) array, e.g. (n, pixels) grayscale
    downsampled pixels or (n, height, width[, channels]); each image is flattened to one pattern."""
    images = np.asarray(images)
    if images.ndim < 2:
        raise PsychofaceError(
            f"{name}: images have shape {images.shape}; pass an (n_images, n_pixels) array"
        )
    return layer_rdm(images.reshape(images.shape[0], -1), ids, metric=metric, name=name)


def _feature_blocks(X, block_bytes: int):
    """Blocks of columns of an array, or the blocks an iterator/list of arrays yields."""
    if isinstance(X, (Iterator, list, tuple)):
        for block in X:
            block = np.asarray(block)
            if block.ndim != 2:
                raise PsychofaceError(
                    f"a block of features has shape {block.shape}; blocks must be (n_stimuli, k) arrays"
                )
            yield block
        return
    X = X if isinstance(X, np.ndarray) else np.asarray(X)
    if X.ndim != 2:
        raise PsychofaceError(f"features have shape {X.shape}; pass an (n_stimuli, n_features) array")
    step = max(1, block_bytes // (8 * max(1, X.shape[0])))
    for start in range(0, X.shape[1], step):
        yield X[:, start : start + step]


def _releaser(X):
    """A function that drops a read-only memory map's pages from this process (they stay in the page
    cache, so nothing is re-read from disk); a no-op for other inputs."""
    mm = getattr(X, "_mmap", None)
    if mm is not None and getattr(X, "mode", None) == "r" and hasattr(mmap, "MADV_DONTNEED"):
        return lambda: mm.madvise(mmap.MADV_DONTNEED)
    return lambda: None


def _stimulus_ids(ids, n: int, name: str) -> list[str]:
    if ids is None:
        return [str(i) for i in range(n)]
    ids = [str(i) for i in ids]
    if len(ids) != n:
        raise PsychofaceError(f"{name}: {len(ids)} stimulus ids for {n} rows of features; pass one id per row")
    return ids


def _symmetric(upper: np.ndarray) -> np.ndarray:
    """The full symmetric matrix from a Fortran-ordered upper triangle (dsyrk's), in place, returned as a
    C-ordered view; temporaries are one block of rows."""
    n = upper.shape[0]
    full = upper.T  # C-ordered; holds the lower triangle
    step = max(1, _BLOCK_BYTES // (8 * n))
    for s in range(0, n, step):
        e = min(n, s + step)
        full[:s, s:e] = full[s:e, :s].T
        diag = full[s:e, s:e]
        diag[:] = np.tril(diag) + np.tril(diag, -1).T
    return full


def _distances(gram, rowsum, d, metric, ids, name) -> np.ndarray:
    """Condensed distances from dsyrk's upper-triangular Gram matrix (in place; float64)."""
    gram = _symmetric(gram)
    sq = np.diag(gram).copy()
    if metric == "euclidean":
        gram *= -2.0
        gram += sq[:, None]
        gram += sq[None, :]
        np.maximum(gram, 0.0, out=gram)
        np.sqrt(gram, out=gram)
    else:
        if metric == "correlation":
            step = max(1, _BLOCK_BYTES // (8 * len(rowsum)))
            for s in range(0, len(rowsum), step):  # covariance * d, a block of rows at a time
                gram[s : s + step] -= np.outer(rowsum[s : s + step], rowsum / d)
            scale = np.diag(gram).copy()
            bad = scale <= 1e-12 * np.maximum(sq, np.finfo(float).tiny)
            what = "has the same value on every feature (constant pattern)"
        else:
            scale = sq
            bad = scale <= 0.0
            what = "has only zero features"
        if bad.any():
            rows = np.flatnonzero(bad)
            raise PsychofaceError(
                f"{name}: stimulus {_few(ids[i] for i in rows)} {what}; the {metric} distance is "
                "undefined: leave these stimuli out or use metric='euclidean'"
            )
        inv = 1.0 / np.sqrt(scale)
        gram *= inv[:, None]
        gram *= inv[None, :]
        np.subtract(1.0, gram, out=gram)
    np.fill_diagonal(gram, 0.0)
    return squareform(gram, checks=False)


# --------------------------------------------------------------------------------------------------
# rating RDMs


def rating_rdm(
    means: pd.DataFrame | pd.Series,
    attributes: str | Sequence[str],
    *,
    ids: Sequence[str] | None = None,
    name: str | None = None,
) -> RDM:
    """RDM of mean ratings (``Ratings.means``: index stimulus, one column per attribute).

    One attribute (a str): the absolute difference of the stimuli's mean ratings. Several attributes (a
    list): the Euclidean distance between stimuli on the attributes z-scored across stimuli (ddof = 1),
    so that each attribute weighs the same. ``ids`` aligns the ratings to these stimuli (e.g. the feature
    store's ids). The RDM is named after the attribute, or the attributes joined by ``+``.
    """
    frame = _rating_frame(means, attributes, ids)
    if isinstance(attributes, str):
        x = frame.iloc[:, 0].to_numpy(dtype=float)
        d = pdist(x[:, None], "cityblock")
        metric = "absolute difference"
    else:
        z = frame.to_numpy(dtype=float)
        z = (z - z.mean(axis=0)) / z.std(axis=0, ddof=1)
        d = pdist(z, "euclidean")
        metric = "euclidean (z-scored attributes)"
    label = name or "+".join(frame.columns)
    return RDM(d, list(frame.index), metric, label)


def rating_rdms(
    means: pd.DataFrame, attributes: Sequence[str] | None = None, *, ids: Sequence[str] | None = None
) -> dict[str, RDM]:
    """One absolute-difference RDM per attribute (all columns of ``means`` by default)."""
    attributes = list(means.columns) if attributes is None else list(attributes)
    return {a: rating_rdm(means, a, ids=ids) for a in attributes}


def _rating_frame(means, attributes, ids) -> pd.DataFrame:
    if isinstance(means, pd.Series):
        means = means.to_frame(name=means.name if means.name is not None else str(attributes))
    if not isinstance(means, pd.DataFrame):
        raise PsychofaceError("ratings must be a DataFrame of mean ratings (index stimulus, one column per attribute)")
    names = [attributes] if isinstance(attributes, str) else list(attributes)
    if not names:
        raise PsychofaceError("no attributes given: name at least one rated attribute")
    if len(set(names)) != len(names):
        raise PsychofaceError(f"attributes {names} repeat a name: list each attribute once")
    unknown = [a for a in names if a not in means.columns]
    if unknown:
        raise PsychofaceError(
            f"unknown attribute {_few(unknown)}; the ratings have {_few(means.columns, 10)}"
        )
    frame = means[names].copy()
    frame.index = frame.index.map(str)
    if frame.index.duplicated().any():
        raise PsychofaceError(
            f"stimulus {frame.index[frame.index.duplicated()][0]!r} has two rows of mean ratings; "
            "keep one row per stimulus"
        )
    if ids is not None:
        ids = [str(i) for i in ids]
        missing = [i for i in ids if i not in frame.index]
        if missing:
            raise PsychofaceError(
                f"no ratings for stimulus {_few(missing)} (of {len(ids)} stimuli); rate them or leave "
                "them out of the feature store selection"
            )
        frame = frame.loc[ids]
    frame = frame.apply(pd.to_numeric, errors="coerce")
    for a in names:
        col = frame[a]
        if col.isna().any():
            raise PsychofaceError(
                f"attribute {a!r}: stimulus {_few(col.index[col.isna()])} has no numeric mean rating; "
                "supply the ratings or leave these stimuli out"
            )
        if len(col) >= 2 and np.ptp(col.to_numpy(dtype=float)) == 0:
            raise PsychofaceError(
                f"attribute {a!r} has no variance (every stimulus has {col.iloc[0]:g}); its RDM would "
                "be constant: leave the attribute out"
            )
    return frame


# --------------------------------------------------------------------------------------------------
# comparison


def compare(rdm_a: RDM, rdm_b: RDM, method: str = "spearman") -> float:
    """Similarity of two RDMs over their upper triangles: ``spearman`` (rho), ``pearson`` (r) or
    ``tau-a`` (Kendall's tau-a). ``rdm_b`` is reordered to ``rdm_a``'s stimulus ids when they hold the same
    stimuli; different stimuli are an error."""
    check_method(method)
    a, b = aligned_vectors(rdm_a, rdm_b)
    if method == "tau-a":
        return tau_a(a, b)
    if method == "spearman":
        a, b = rankdata(a), rankdata(b)
    return _pearson(a, b)


def check_method(method: str) -> None:
    if method not in METHODS:
        raise PsychofaceError(f"unknown RDM comparison {method!r}: use one of {', '.join(METHODS)}")


def aligned_vectors(rdm_a: RDM, rdm_b: RDM) -> tuple[np.ndarray, np.ndarray]:
    """Both RDMs' dissimilarities over the same stimulus pairs, in ``rdm_a``'s stimulus order."""
    return rdm_a.dissimilarities, align(rdm_b, rdm_a.ids, rdm_a.name).dissimilarities


def align(rdm: RDM, ids: Sequence[str], reference: str = "") -> RDM:
    """``rdm`` reordered to ``ids``; an error naming the unmatched stimuli when the sets differ."""
    if tuple(ids) == rdm.ids:
        return rdm
    extra = sorted(set(rdm.ids) - set(ids))
    missing = sorted(set(ids) - set(rdm.ids))
    if extra or missing:
        parts = []
        if missing:
            parts.append(f"{rdm.name or 'RDM'} lacks stimulus {_few(missing)}")
        if extra:
            parts.append(f"{reference or 'the other RDM'} lacks stimulus {_few(extra)}")
        raise PsychofaceError(
            f"RDMs {reference!r} and {rdm.name!r} do not hold the same stimuli: {'; '.join(parts)}; "
            "compute every RDM from the same stimuli (e.g. rating_rdm(..., ids=store ids))"
        )
    return rdm.reindex(ids)


def tau_a(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a, (concordant - discordant) / (m(m - 1)/2): an exact compiled O(m log m) count
    (:mod:`psychoface.analyses.kendall`); NaN when either vector is constant."""
    return kendall.tau_a(a, b)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) / denom) if denom > 0 else float("nan")


def as_rdm_dict(rdms, kind: str) -> dict[str, RDM]:
    """A dict name -> RDM from a dict, a list of RDMs (keyed by their names) or one RDM."""
    if isinstance(rdms, RDM):
        rdms = {rdms.name: rdms}
    elif not isinstance(rdms, Mapping):
        rdms = list(rdms)
        names = [getattr(r, "name", str(k)) for k, r in enumerate(rdms)]
        if len(set(names)) != len(names):
            raise PsychofaceError(
                f"two {kind} RDMs are named {pd.Index(names)[pd.Index(names).duplicated()][0]!r}: "
                "pass a dict name -> RDM"
            )
        rdms = dict(zip(names, rdms))
    if not rdms:
        raise PsychofaceError(f"no {kind} RDMs given: pass at least one")
    for key, r in rdms.items():
        if not isinstance(r, RDM):
            raise PsychofaceError(f"{kind} {key!r} is a {type(r).__name__}, not an RDM: build it with layer_rdm or rating_rdm")
    return dict(rdms)
