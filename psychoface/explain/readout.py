"""The model that is explained: network up to a layer, the layer's pooling, and predict's ridge readout.

Method. ``predict`` (:mod:`psychoface.analyses.predict`) predicts a rating from a stored layer by ridge
regression in k-fold cross-validation, in its dual form. Its out-of-fold prediction of face *i* in fold *k* is
``y_hat_i = (x_i - mu_k) * s_k . w_k + b_k`` with ``mu_k`` the training fold's feature means, ``s_k`` 1 (centred
features, predict's default) or the inverse training SD (``standardize``; 0 for features constant in the
fold), ``w_k = Z_k' a_k`` the primal weights of the fold's dual solution ``a_k`` (``Z_k`` the standardised
training features) with the penalty predict chose by exact leave-one-out cross-validation inside the fold,
and ``b_k`` the mean training rating (the unpenalised intercept). :func:`fold_readouts` recomputes exactly
these quantities with predict's own fold assignment, kernels and solver (same seed, same folds), so that each
face is explained by the readout fitted without it, as its prediction was made.

The explained output is ``y_hat - b_k`` (the prediction minus the intercept): attributions of a
complete method (Integrated Gradients) then sum to ``f(x) - f(baseline)`` on the rating scale. The centring
and scaling are folded into one ``Linear`` layer, ``weight = s_k * w_k`` and ``bias = -(mu_k * s_k) . w_k``,
in float64 (exact up to float64 rounding, verified in the tests), so that rule-based methods such as LRP see
an ordinary linear layer. The network runs in eval mode with every ReLU/ReLU6 set to not in place (in-place
activations break gradient hooks, Adebayo et al. 2018 discuss why); its parameters do not require
gradients. The layer's output is captured by a forward hook registered at each forward call (after any hook
an attribution library registered, so that library's view of the layer is the one the readout uses) and the
forward pass stops there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from psychoface.analyses.predict import (
    DEFAULT_ALPHAS,
    _FoldModel,
    _fold_ids,
    _training_kernels,
    check_features,
    is_constant,
)
from psychoface.errors import PsychofaceError


@dataclass
class FoldReadout:
    """Ridge readout of one outer fold: ``prediction = (x - mean) * scale . weights + intercept``."""

    fold: int
    test: np.ndarray        # positions (in the rated stimuli) explained by this fold's readout
    mean: np.ndarray        # (p,) training means
    scale: np.ndarray       # (p,) 1, or 1/SD with standardize (0 for constant features)
    weights: np.ndarray     # (p,) primal ridge weights on the standardised features
    intercept: float        # mean training rating
    alpha_relative: float   # chosen penalty, in multiples of trace(K_train)/n_train

    def linear(self) -> nn.Linear:
        """The readout with the centring folded in: a float64 ``Linear(p, 1)`` whose output is
        prediction minus intercept, with the training means as its buffer ``reference`` (where it outputs 0)."""
        w = self.scale * self.weights
        layer = nn.Linear(len(w), 1, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(w[None, :]))
            layer.bias.fill_(float(-(self.mean * self.scale) @ self.weights))
        layer.requires_grad_(False)
        layer.register_buffer("reference", torch.from_numpy(np.asarray(self.mean, dtype=np.float64)))
        return layer

    def predict(self, X) -> np.ndarray:
        """Predictions (with the intercept) of feature rows ``X``, in float64."""
        return ((np.asarray(X, dtype=np.float64) - self.mean) * self.scale) @ self.weights + self.intercept


def fold_readouts(X, y, *, folds: int = 10, alphas=DEFAULT_ALPHAS, standardize: bool = False, seed: int = 0,
                  chunk_size: int = 4096) -> list[FoldReadout]:
    """Predict's out-of-fold ridge readouts of one attribute from features ``X`` (one per outer fold).

    ``y`` holds the ratings of all ``X`` rows (NaN: not rated; those rows get no readout). The fold
    assignment, penalty choice and fit are predict's (``predict_ratings`` with ``repeats=1`` and the same
    ``folds``, ``alphas``, ``standardize`` and ``seed``), so ``readout.predict(X[rows[readout.test]])``
    reproduces predict's out-of-fold predictions. Returns the readouts in fold order; ``test`` indexes the
    rated rows (``np.flatnonzero(~np.isnan(y))``).
    """
    y = np.asarray(y, dtype=np.float64)
    X = check_features(X, len(y))
    rows = np.flatnonzero(~np.isnan(y))
    if len(rows) < folds or np.ptp(y[rows]) == 0:
        raise PsychofaceError(
            f"explain: {len(rows)} rated faces with {'constant' if len(rows) else 'no'} ratings cannot be "
            f"read out in {folds} folds; choose another attribute or fewer folds"
        )
    alphas = np.asarray(alphas, dtype=float)
    fold_rng = np.random.default_rng(seed).spawn(3)[0]  # predict's split stream
    fold = _fold_ids(fold_rng.permutation(len(y)), rows, folds)
    yr = y[rows]
    y_mean = yr.mean()
    yc = yr - y_mean
    masks = [fold != k for k in range(folds)]
    ids = [str(i) for i in range(len(y))]
    out = []
    Xr = np.asarray(X[rows], dtype=np.float64)
    for k, K in _training_kernels(X, ids, rows, masks, standardize, chunk_size):
        train, test = np.flatnonzero(masks[k]), np.flatnonzero(~masks[k])
        model = _FoldModel(K, train, test, alphas)
        target = yc[train][:, None]
        _, best = model.predict(target)
        coef = (model.Q.T @ target)[:, 0] / (model.lam + model.penalties[best[0]])
        dual = model.Q @ coef  # training stimuli's dual coefficients
        Xt = Xr[train]
        mean = Xt.mean(axis=0)
        scale = np.ones_like(mean)
        if standardize:
            var = ((Xt - mean) ** 2).mean(axis=0)
            keep = ~is_constant(var, mean, len(train))
            scale = np.zeros_like(var)
            scale[keep] = 1.0 / np.sqrt(var[keep])
        weights = ((Xt - mean) * scale).T @ dual
        out.append(FoldReadout(fold=k, test=test, mean=mean, scale=scale, weights=weights,
                               intercept=float(yc[train].mean() + y_mean),
                               alpha_relative=float(alphas[best[0]])))
    return sorted(out, key=lambda r: r.fold)


class _StopForward(Exception):
    """Ends the network's forward pass once the explained layer has run."""


class LayerPooling(nn.Module):
    """The store's pooling of a layer's output, as modules: ``avg`` (``AdaptiveAvgPool2d``), ``max``
    (``AdaptiveMaxPool2d``) or ``none``, then flattened per image (the store's feature order)."""

    def __init__(self, pooling: str, channels_last: bool = False):
        super().__init__()
        self.pooling, self.channels_last = pooling, channels_last
        self.pool = {"avg": nn.AdaptiveAvgPool2d(1), "max": nn.AdaptiveMaxPool2d(1)}.get(pooling)
        self.flatten = nn.Flatten(1)

    def forward(self, x):
        if self.pool is not None:
            if self.channels_last:
                x = x.permute(0, 3, 1, 2)
            x = self.pool(x)
        return self.flatten(x)


class ReadoutModel(nn.Module):
    """Image -> layer -> pooling -> float64 ``Linear`` readout (prediction minus intercept), shape (B,).

    ``net`` is modified in place: eval mode, activations not in place, parameters without gradients.
    ``set_readout`` swaps the fold's ``Linear`` (a batch is explained by one fold's readout).
    """

    def __init__(self, net: nn.Module, module: str, pooling: str = "none", channels_last: bool = False,
                 readout: nn.Linear | None = None):
        super().__init__()
        self.net = prepare_network(net)
        modules = dict(self.net.named_modules())
        if module not in modules:
            raise PsychofaceError(f"explain: the network has no module {module!r}; choose an extracted layer")
        self.module_name = module
        self.pooling = LayerPooling(pooling, channels_last)
        self.readout = readout

    @property
    def layer(self) -> nn.Module:
        """The explained layer's module (looked up, not registered twice)."""
        return self.net.get_submodule(self.module_name)

    def set_readout(self, readout: nn.Linear) -> "ReadoutModel":
        self.readout = readout
        return self

    def features(self, x):
        """The layer's pooled, flattened output (the store's features of these images)."""
        return self.pooling(self.layer_output(x))

    def layer_reference(self, output: torch.Tensor) -> torch.Tensor:
        """The layer activation, broadcastable to ``output``, whose pooled features are the readout's
        ``reference`` (zeros when the readout has none): the training mean per unit when unpooled, the channel
        mean at every position when pooled."""
        ref = getattr(self.readout, "reference", None)
        if ref is None:
            return torch.zeros_like(output)
        ref = ref.to(output.dtype)
        if self.pooling.pool is None:
            return ref.view(output.shape[1:])[None]
        return ref[None, None, None, :] if self.pooling.channels_last else ref[None, :, None, None]

    def layer_output(self, x):
        """The explained layer's raw output for ``x`` (the forward pass stops there)."""
        captured = {}

        def hook(_module, _inputs, output):
            captured["out"] = output
            raise _StopForward

        handle = self.layer.register_forward_hook(hook)
        try:
            self.net(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
        if "out" not in captured:
            raise PsychofaceError(f"explain: layer {self.module_name} did not run in the forward pass; "
                                  "choose another layer")
        return captured["out"]

    def forward(self, x):
        return self.readout(self.features(x).to(torch.float64))[:, 0]


def prepare_network(net: nn.Module) -> nn.Module:
    """Eval mode, in-place activations switched off, parameters frozen (gradients w.r.t. the input only),
    channels-last weights (see :mod:`psychoface.explain.methods`)."""
    net.eval()
    net.to(memory_format=torch.channels_last)
    for m in net.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False
    net.requires_grad_(False)
    return net
