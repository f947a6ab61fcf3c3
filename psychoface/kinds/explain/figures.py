"""Figures of the explain kind: mean aligned face with the mean map and cluster outlines, region shares
with the area reference, deletion/insertion curves, single-face examples."""

from __future__ import annotations

import numpy as np

from psychoface.reports.figures import FULL_WIDTH, PALETTE, _figure, publication_style


def _limit(maps):
    v = float(np.nanmax(np.abs(maps))) if np.size(maps) else 1.0
    return v or 1.0


def mean_maps(face, maps: dict, masks: dict):
    """One panel per attribute: the mean aligned face, the mean (normalised) map over it (diverging colours,
    red raises the prediction) and the outlines of significant clusters."""
    k = len(maps)
    with publication_style():
        fig = _figure(min(FULL_WIDTH, 2.0 * k + 0.6), 2.3)
        axes = fig.subplots(1, k, squeeze=False)[0]
        lim = _limit(np.stack(list(maps.values())))
        im = None
        for ax, (name, m) in zip(axes, maps.items()):
            ax.imshow(face.mean(axis=2), cmap="gray", vmin=0, vmax=1)
            im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.6)
            for mask in masks.get(name, []):
                ax.contour(mask.astype(float), levels=[0.5], colors="k", linewidths=0.8)
            ax.set_title(name)
            ax.set_axis_off()
        fig.colorbar(im, ax=list(axes), shrink=0.8, label="Mean relative attribution")
    return fig


def region_dots(table):
    """Region share of attribution (dot, bootstrap CI of the share) per attribute, with the area share (bar)
    and, when the table has one, the share under the permuted-ratings readout (open circle)."""
    attributes = list(dict.fromkeys(table["attribute"]))
    regions = list(dict.fromkeys(table["region"]))
    with publication_style():
        fig = _figure(FULL_WIDTH * (0.85 if "reference_share" in table else 0.6), 0.3 * len(regions) + 1.0)
        ax = fig.subplots()
        y = np.arange(len(regions))
        area = table.drop_duplicates("region").set_index("region")["area_share"].reindex(regions)
        ax.barh(y, area.to_numpy(), color="0.85", label="Area share")
        step = 0.6 / max(len(attributes), 1)
        for j, attr in enumerate(attributes):
            sub = table[table["attribute"] == attr].set_index("region").reindex(regions)
            off = y - 0.3 + step * (j + 0.5)
            ax.errorbar(sub["share"], off, xerr=[sub["share"] - sub["share_low"], sub["share_high"] - sub["share"]],
                        fmt="o", ms=3, color=PALETTE[j % len(PALETTE)], label=attr, capsize=0, lw=0.8)
            if "reference_share" in sub:
                ax.plot(sub["reference_share"], off, "o", ms=4, mfc="none", mew=0.7, color=PALETTE[j % len(PALETTE)],
                        label=f"{attr}, permuted-ratings readout")
        ax.set_yticks(y, regions)
        ax.invert_yaxis()
        ax.set_xlabel("Share of absolute attribution")
        handles = dict(zip(*reversed(ax.get_legend_handles_labels())))
        order = ["Area share"] + attributes + [f"{a}, permuted-ratings readout" for a in attributes]
        shown = [label for label in order if label in handles]
        ax.legend([handles[label] for label in shown], shown, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))  # beside the bars, never over them
    return fig


def curves(curves_by_attr: dict):
    """Deletion and insertion curves (mean over faces) of the attribution order and a random order."""
    with publication_style():
        fig = _figure(FULL_WIDTH * 0.7, 2.2)
        axes = fig.subplots(1, 2)
        for j, (attr, c) in enumerate(curves_by_attr.items()):
            colour = PALETTE[j % len(PALETTE)]
            for ax, kind in zip(axes, ("deletion", "insertion")):
                attributed, random = c[kind]
                x = np.linspace(0, 100, attributed.shape[1])
                ax.plot(x, attributed.mean(axis=0), color=colour, label=f"{attr}, map order")
                ax.plot(x, random.mean(axis=0), color=colour, ls="--", label=f"{attr}, random order")
        for ax, kind in zip(axes, ("Deletion", "Insertion")):
            ax.set_title(kind)
            ax.set_xlabel("Pixels removed (%)" if kind == "Deletion" else "Pixels inserted (%)")
            ax.set_ylabel("Prediction minus intercept")
        axes[1].legend(frameon=False, fontsize=6)
    return fig


def examples(images, maps, titles):
    """A row of single faces (aligned image with its map over it)."""
    with publication_style():
        fig = _figure(FULL_WIDTH * 0.75, 2.2)
        axes = fig.subplots(1, len(images), squeeze=False)[0]
        lim = _limit(np.stack(maps))
        for ax, img, m, t in zip(axes, images, maps, titles):
            ax.imshow(img)
            ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.55)
            ax.set_title(t, fontsize=7)
            ax.set_axis_off()
    return fig
