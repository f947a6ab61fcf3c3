"""Figures of the geometry kind: MDS maps of attribute spaces side by side, maps of faces coloured by
each attribute, and a map drawn with the face thumbnails."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from psychoface.reports.figures import FULL_WIDTH, _figure, publication_style


def mds_panels(maps: pd.DataFrame, order: list[str]):
    """One panel per attribute space (classical MDS, rotated onto the first), attributes labelled."""
    with publication_style():
        n = len(order)
        fig = _figure(min(FULL_WIDTH, 2.4 * n), 2.6)
        axes = fig.subplots(1, n, squeeze=False)[0]
        lim = float(np.abs(maps[["dim1", "dim2"]].to_numpy()).max()) * 1.15 or 1.0
        for ax, name in zip(axes, order):
            part = maps[maps["space"] == name]
            ax.scatter(part["dim1"], part["dim2"], s=8, color="#0072B2")
            for _, row in part.iterrows():
                ax.annotate(str(row["attribute"]), (row["dim1"], row["dim2"]), fontsize=5, xytext=(2, 2),
                            textcoords="offset points")
            ax.set_title(f"{name} ({100 * part['variance_kept'].iloc[0]:.0f}%)")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xlabel("Dimension 1 (rad)")
            if ax is axes[0]:
                ax.set_ylabel("Dimension 2 (rad)")
    return fig


def attribute_panels(coords: np.ndarray, means: pd.DataFrame, axis_names=("Dimension 1", "Dimension 2")):
    """The same 2-D map of faces once per attribute, each face coloured by its mean rating."""
    names = list(means.columns)
    cols = min(6, len(names))
    rows = math.ceil(len(names) / cols)
    with publication_style():
        fig = _figure(min(FULL_WIDTH, 1.25 * cols + 0.3), 1.2 * rows + 0.3)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, name in zip(axes, names):
            values = means[name].to_numpy(dtype=float)
            ok = ~np.isnan(values)
            ax.scatter(coords[ok, 0], coords[ok, 1], c=values[ok], s=2, cmap="viridis", linewidths=0)
            ax.set_title(name, fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
        for ax in axes[len(names):]:
            ax.set_axis_off()
        fig.supxlabel(axis_names[0], fontsize=7)
        fig.supylabel(axis_names[1], fontsize=7)
    return fig


def thumbnails(coords: np.ndarray, paths: list, size: int = 28):
    """The map with each face's image (``size`` pixels wide) drawn at its position."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    from PIL import Image

    with publication_style():
        fig = _figure(FULL_WIDTH, FULL_WIDTH)
        ax = fig.subplots()
        ax.scatter(coords[:, 0], coords[:, 1], s=0)
        for (x, y), path in zip(coords, paths):
            with Image.open(path) as image:
                thumb = np.asarray(image.convert("RGB").resize((size, size)))
            ax.add_artist(AnnotationBbox(OffsetImage(thumb, zoom=0.5), (x, y), frameon=False))
        ax.set_xticks([])
        ax.set_yticks([])
    return fig
