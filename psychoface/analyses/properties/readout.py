"""The network's outputs for new (edited) images: the layer's features through a ridge readout fitted on
the study's faces.

:func:`fit_readout` fits the same model as ``predict`` (ridge regression with an unpenalised intercept on
features centred on the faces' mean, the penalty chosen per attribute by exact leave-one-out error from the
same relative grid, ``alpha * trace(K) / n``) on all faces, and returns primal weights so that an edited
image's prediction is ``(x - mean) . w + intercept``. :class:`NetworkResponse` runs images through the
model's own preprocessing and network, captures the layer with a forward hook, pools it as in the store, and
applies the readout (or returns raw units); the forward pass stops at the layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from psychoface.analyses.predict import DEFAULT_ALPHAS
from psychoface.errors import PsychofaceError


@dataclass
class Readout:
    mean: np.ndarray  # (n_features,)
    weights: np.ndarray  # (n_features, n_attributes)
    intercept: np.ndarray  # (n_attributes,)
    alpha_relative: np.ndarray  # chosen relative penalty per attribute

    def __call__(self, X) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.weights + self.intercept


def fit_readout(X, Y, *, alphas=DEFAULT_ALPHAS, chunk_size: int = 4096) -> Readout:
    """Ridge readout of the columns of ``Y`` (n, A; no missing values) from ``X`` (n, f), read in chunks."""
    Y = np.asarray(Y, dtype=np.float64)
    if np.isnan(Y).any():
        raise PsychofaceError("readout: ratings have missing values; fit it on the faces rated on every attribute")
    n, f = X.shape
    mean = np.zeros(f)
    K = np.zeros((n, n))
    for c0 in range(0, f, chunk_size):
        chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64)
        mean[c0 : c0 + chunk_size] = chunk.mean(axis=0)
        chunk = chunk - mean[c0 : c0 + chunk_size]
        K += chunk @ chunk.T
    lam, V = np.linalg.eigh(K)
    keep = lam > 1e-10 * max(lam.max(), 1e-300)
    keep &= np.abs(V.sum(axis=0)) < 1e-6 * np.sqrt(n)  # the constant direction is the intercept's
    lam, V = lam[keep], V[:, keep]
    y_mean = Y.mean(axis=0)
    Z = V.T @ (Y - y_mean)
    scale = np.trace(K) / n
    best, best_mse = np.zeros(Y.shape[1]), np.full(Y.shape[1], np.inf)
    V2 = V * V
    for a in alphas:
        pen = a * scale
        shrink = pen / (lam + pen)
        # I - H restricted: residual e = (1/n-free) V diag(shrink) Z plus the part outside span(V), which
        # is zero for centred targets in the column space; leave-one-out e_i / (I - H)_ii
        h = V2 @ shrink + (1.0 - V2.sum(axis=1) - 1.0 / n)
        E = (V * shrink) @ Z + ((Y - y_mean) - V @ Z)
        mse = ((E / h[:, None]) ** 2).mean(axis=0)
        better = mse < best_mse
        best[better], best_mse[better] = a, mse[better]
    coef = np.stack([V @ (Z[:, j] / (lam + best[j] * scale)) for j in range(Y.shape[1])], axis=1)
    W = np.zeros((f, Y.shape[1]))
    for c0 in range(0, f, chunk_size):
        chunk = np.asarray(X[:, c0 : c0 + chunk_size], dtype=np.float64) - mean[c0 : c0 + chunk_size]
        W[c0 : c0 + chunk_size] = chunk.T @ coef
    return Readout(mean, W, y_mean, best)


class _Captured(Exception):
    """Raised from the hook to end the forward pass at the captured layer."""


class NetworkResponse:
    """Images -> outputs through ``loaded``'s preprocessing and network, the features of ``module`` (pooled
    with ``pooling``: none/avg/max) and ``readout`` (None: the raw features, or the ``units`` selected)."""

    def __init__(self, loaded, module: str, *, pooling: str = "none", readout: Readout | None = None, units=None):
        self.loaded, self.pooling, self.readout, self.units = loaded, pooling, readout, units
        self.module = loaded.model.get_submodule(module)
        self.device = next(loaded.model.parameters()).device

    def features(self, images) -> np.ndarray:
        captured = {}

        def hook(_m, _i, output):
            out = output
            if self.pooling == "avg":
                out = out.mean(dim=(2, 3))
            elif self.pooling == "max":
                out = out.amax(dim=(2, 3))
            captured["x"] = out.flatten(1).to("cpu", torch.float32)
            raise _Captured  # later layers cost nothing

        handle = self.module.register_forward_hook(hook)
        try:
            batch = torch.stack([self.loaded.transform(img) for img in images]).to(self.device)
            with torch.no_grad():
                self.loaded.model(batch)
        except _Captured:
            pass
        finally:
            handle.remove()
        return captured["x"].numpy()

    def __call__(self, images) -> np.ndarray:
        X = self.features(images)
        if self.readout is not None:
            return self.readout(X)
        return X if self.units is None else X[:, self.units]
