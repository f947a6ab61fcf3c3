"""Figures of the shape kind: the mean shape with its principal warps, distinctiveness against the ratings,
group mean shapes overlaid, and the shape change along a predictor. Configurations are drawn as the
pre-shapes they are (centred, unit size, y down as in the images), with dlib's 68 points joined into jaw,
brows, nose, eyes and lips."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from psychoface.analyses.shape.kendall import exp_map
from psychoface.reports.figures import FULL_WIDTH, PALETTE, _figure, publication_style

#: Outline segments of dlib's 68 points: (first, last, closed).
DLIB68_OUTLINE = ((0, 16, False), (17, 21, False), (22, 26, False), (27, 30, False), (31, 35, False),
                  (36, 41, True), (42, 47, True), (48, 59, True), (60, 67, True))


def _draw(ax, xy: np.ndarray, template: str, colour, label: str | None = None, *, lw=1.0, ls="-", size=6):
    """One configuration: its outline (dlib68) or its points, on an axis with y pointing down."""
    if template == "dlib68" and len(xy) == 68:
        for i, (a, b, closed) in enumerate(DLIB68_OUTLINE):
            idx = list(range(a, b + 1)) + ([a] if closed else [])
            ax.plot(xy[idx, 0], xy[idx, 1], color=colour, lw=lw, ls=ls, label=label if i == 0 else None)
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, color=colour, label=label)


def _frame(ax, *configs: np.ndarray) -> None:
    pts = np.concatenate(configs)
    pad = 0.05 * np.ptp(pts, axis=0).max()
    ax.set_xlim(pts[:, 0].min() - pad, pts[:, 0].max() + pad)
    ax.set_ylim(pts[:, 1].max() + pad, pts[:, 1].min() - pad)  # y down, as in the images
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def mean_shape_warps(mean: np.ndarray, components: np.ndarray, variances: np.ndarray, ratios: np.ndarray,
                     template: str, n_show: int = 3, sd: float = 2.0):
    """The mean shape (grey) and the shapes ``sd`` standard deviations either way along each of the first
    ``n_show`` tangent principal components (exp map at the mean)."""
    n_show = min(n_show, len(variances))
    with publication_style():
        fig = _figure(FULL_WIDTH, FULL_WIDTH / max(n_show, 1) * 1.1)
        axes = fig.subplots(1, n_show, squeeze=False)[0]
        for j, ax in enumerate(axes):
            v = components[j].reshape(mean.shape) * math.sqrt(variances[j])
            plus, minus = exp_map(sd * v, mean), exp_map(-sd * v, mean)
            _draw(ax, mean, template, "0.6", "mean", lw=0.8)
            _draw(ax, plus, template, PALETTE[0], f"+{sd:g} SD")
            _draw(ax, minus, template, PALETTE[1], f"\u2212{sd:g} SD", ls="--")
            _frame(ax, mean, plus, minus)
            ax.set_title(f"PC{j + 1} ({100 * ratios[j]:.1f}%)")
        axes[0].legend(loc="lower left", fontsize=7, frameon=False)
    return fig


def distinctiveness_scatter(rho: np.ndarray, means: pd.DataFrame, table: pd.DataFrame, max_panels: int = 8):
    """Each face's distinctiveness (rho to the mean shape) against its mean rating, one panel per
    attribute (the ``max_panels`` with the largest |r|), with the least-squares line and r."""
    order = table.reindex(table["r"].abs().sort_values(ascending=False).index)["attribute"].tolist()[:max_panels]
    cols = min(4, len(order))
    rows = math.ceil(len(order) / cols)
    with publication_style():
        fig = _figure(FULL_WIDTH, FULL_WIDTH / cols * rows * 0.95)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        r_of = dict(zip(table["attribute"], table["r"]))
        for ax, attribute in zip(axes, order):
            y = means[attribute].to_numpy(float)
            ok = np.isfinite(y)
            ax.scatter(rho[ok], y[ok], s=6, color=PALETTE[0], alpha=0.6, linewidths=0)
            slope, intercept = np.polyfit(rho[ok], y[ok], 1)
            xs = np.array([rho[ok].min(), rho[ok].max()])
            ax.plot(xs, intercept + slope * xs, color=PALETTE[1], lw=1)
            ax.set_title(f"{attribute} (r = {r_of[attribute]:.2f})".replace("0.", ".").replace("-.", "\u2212."))
            ax.set_xlabel("Distance to mean shape (\u03c1, rad)")
            ax.set_ylabel("Mean rating")
        for ax in axes[len(order):]:
            ax.set_visible(False)
    return fig


def group_means_overlay(means: dict[str, np.ndarray], template: str, magnify: float = 1.0):
    """The groups' mean shapes overlaid (the difference from their midpoint magnified by ``magnify``)."""
    names = list(means)
    centre = np.mean([means[g] for g in names], axis=0)
    shown = {g: centre + magnify * (means[g] - centre) for g in names}
    with publication_style():
        fig = _figure(FULL_WIDTH / 2, FULL_WIDTH / 2 * 1.1)
        ax = fig.subplots()
        for i, g in enumerate(names):
            _draw(ax, shown[g], template, PALETTE[i % len(PALETTE)], g, ls="-" if i == 0 else "--")
        _frame(ax, *shown.values())
        ax.legend(loc="lower left", fontsize=7, frameon=False)
    return fig


def shape_change_arrows(mean: np.ndarray, change: np.ndarray, template: str, term: str, sd: float = 2.0):
    """Landmark displacement vectors of the shape change over ``sd`` SDs of a predictor, from the mean."""
    d = sd * change.reshape(mean.shape)
    with publication_style():
        fig = _figure(FULL_WIDTH / 2, FULL_WIDTH / 2 * 1.1)
        ax = fig.subplots()
        _draw(ax, mean, template, "0.6", "mean", lw=0.8)
        ax.quiver(mean[:, 0], mean[:, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1,
                  color=PALETTE[1], width=0.004)
        _frame(ax, mean, mean + d)
        ax.set_title(f"{term}: +{sd:g} SD")
    return fig
