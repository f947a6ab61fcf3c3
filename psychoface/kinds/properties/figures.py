"""Figures of the properties kind: a properties x attributes heatmap marking significance, a forest plot of
the network-minus-humans differences with their CIs, and dose-response curves."""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.reports.figures import PALETTE, publication_style


def _new(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def heatmap(beyond: pd.DataFrame, alpha: float = 0.05):
    """Panels: the humans' correlation with each property, then per layer the network's partial correlation
    beyond the humans; rows properties, columns attributes; * marks a corrected p below ``alpha``."""
    layers = list(dict.fromkeys(beyond["layer"]))
    props = list(dict.fromkeys(beyond["property"]))
    attrs = list(dict.fromkeys(beyond["attribute"]))
    first = beyond[beyond["layer"] == layers[0]]
    panels = [("Humans: r with the property", first.pivot(index="property", columns="attribute", values="r_humans"),
               None)]
    for layer in layers:
        part = beyond[beyond["layer"] == layer]
        panels.append((f"{layer}: partial r beyond humans",
                       part.pivot(index="property", columns="attribute", values="partial_r"),
                       part.pivot(index="property", columns="attribute", values="p_corr")))
    with publication_style():
        fig = _new(min(2.5 + 0.9 * len(attrs) * len(panels), 16), 1.4 + 0.3 * len(props))
        axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)
        vmax = max(0.1, float(np.nanmax(np.abs(np.concatenate([p[1].to_numpy().ravel() for p in panels])))))
        for ax, (title, values, pvals) in zip(axes[0], panels):
            values = values.reindex(index=props, columns=attrs)
            im = ax.imshow(values.to_numpy(float), cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
            ax.set_xticks(range(len(attrs)), attrs, rotation=45, ha="right")
            ax.set_yticks(range(len(props)), props)
            ax.set_title(title, fontsize=8)
            if pvals is not None:
                pvals = pvals.reindex(index=props, columns=attrs).to_numpy(float)
                for i, j in zip(*np.nonzero(pvals < alpha)):
                    ax.text(j, i, "*", ha="center", va="center", fontsize=10)
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    return fig


def forest(beyond: pd.DataFrame, layer: str):
    """The network-minus-humans correlation difference with its CI, per property (rows) and attribute."""
    part = beyond[beyond["layer"] == layer]
    props = list(dict.fromkeys(part["property"]))
    attrs = list(dict.fromkeys(part["attribute"]))
    with publication_style():
        fig = _new(5.5, 1.2 + 0.3 * len(props) * max(1, len(attrs)) ** 0.5)
        ax = fig.subplots()
        offsets = np.linspace(-0.3, 0.3, len(attrs)) if len(attrs) > 1 else [0.0]
        for k, attr in enumerate(attrs):
            rows = part[part["attribute"] == attr].set_index("property").reindex(props)
            y = np.arange(len(props)) + offsets[k]
            err = np.vstack([rows["r_diff"] - rows["r_diff_ci_low"], rows["r_diff_ci_high"] - rows["r_diff"]])
            ax.errorbar(rows["r_diff"], y, xerr=err, fmt="o", ms=3, capsize=2, color=PALETTE[k % len(PALETTE)],
                        label=attr)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(range(len(props)), props)
        ax.invert_yaxis()
        ax.set_xlabel("Network r minus humans' r with the property")
        ax.legend(fontsize=7, frameon=False, loc="best")
    return fig


def dose_response_plot(tests: pd.DataFrame):
    """Mean output change (with CI) against edit strength, one panel per graded intervention, one line per
    output."""
    graded = tests.dropna(subset=["strength"])
    edits = [e for e in dict.fromkeys(graded["intervention"]) if graded[graded["intervention"] == e]["strength"].nunique() > 1]
    with publication_style():
        fig = _new(3.2 * len(edits), 2.8)
        axes = fig.subplots(1, len(edits), squeeze=False)
        for ax, edit in zip(axes[0], edits):
            part = graded[graded["intervention"] == edit]
            for k, (out, rows) in enumerate(part.groupby("output", sort=False)):
                rows = pd.concat([rows, pd.DataFrame({"strength": [0.0], "mean_change": [0.0], "ci_low": [0.0],
                                                      "ci_high": [0.0]})]).sort_values("strength")
                colour = PALETTE[k % len(PALETTE)]
                ax.plot(rows["strength"], rows["mean_change"], "o-", ms=3, color=colour, label=out)
                ax.fill_between(rows["strength"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.15, lw=0)
            ax.axhline(0, color="grey", lw=0.8, ls="--")
            ax.set_xlabel(f"{edit} strength")
            ax.set_ylabel("Mean output change")
        axes[0][0].legend(fontsize=6, frameon=False)
    return fig
