"""Publication figures: APA-ready defaults, PNG at 300 dpi plus vector PDF.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, never through
``pyplot``: no global backend switch, no window, no ``plt.show``, nothing kept alive between calls.
:func:`publication_style` holds the defaults (APA 7, section 7.22-7.36: sans-serif type of 8-14 pt at
print size; here 7-9 pt for a 3.35 in column or a 7 in page width), the Okabe & Ito (2008)
colour-blind-safe palette, no top or right spines, TrueType fonts embedded in PDFs (text stays
editable). Statistical symbols in labels go through the APA engine (italic *r*, upright ρ).
"""

from __future__ import annotations

import io
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_bytes
from psychoface.reports.apa import Text, fmt_int, fmt_stat, symbol

#: Okabe & Ito (2008) palette: orange, sky blue, bluish green, yellow, blue, vermillion, reddish
#: purple, black.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
#: The order in which lines take the colours: the strongest contrasts on white first, yellow last.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
COLUMN_WIDTH = 3.35  # inches, one journal column
FULL_WIDTH = 7.0  # inches, the page width
DPI = 300

_SANS = ("Arial", "Helvetica", "Liberation Sans", "DejaVu Sans")


def _style() -> dict:
    from cycler import cycler
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    sans = [name for name in _SANS if name in installed] or ["DejaVu Sans"]
    return {
        "font.family": "sans-serif",
        "font.sans-serif": sans,
        "font.size": 8,
        "axes.titlesize": 9,
        "axes.labelsize": 8,
        "xtick.labelsize": 7,
        "ytick.labelsize": 7,
        "legend.fontsize": 7,
        "legend.title_fontsize": 7,
        "figure.titlesize": 9,
        "mathtext.fontset": "custom",
        "mathtext.rm": "sans",
        "mathtext.it": "sans:italic",
        "mathtext.bf": "sans:bold",
        "mathtext.sf": "sans",
        "mathtext.cal": "sans:italic",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.linewidth": 0.8,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
        "axes.titlelocation": "left",
        "xtick.major.width": 0.8,
        "ytick.major.width": 0.8,
        "lines.linewidth": 1.2,
        "lines.markersize": 4,
        "legend.frameon": False,
        "image.cmap": "viridis",
        "figure.dpi": 100,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
        "savefig.pad_inches": 0.02,
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
    }


@contextmanager
def publication_style():
    """A matplotlib style context with the publication defaults (fonts, palette, spines, PDF fonts)."""
    import matplotlib

    with matplotlib.rc_context(_style()):
        yield


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _label(name) -> str:
    """An axis label: a symbol name (``"r"``, ``"rho"``) in APA typography, a :class:`Text`, or text."""
    if isinstance(name, Text):
        return name.render("matplotlib")
    labels = {"r_normalized": Text("Normalized ", symbol("r").text), "noise_ceiling": Text("Noise ceiling"),
              "r2": symbol("R2").text}
    if name in labels:
        return labels[name].render("matplotlib")
    try:
        return symbol(name).text.render("matplotlib")
    except PsychofaceError:
        text = str(name).replace("_", " ")
        return (text[:1].upper() + text[1:]).replace("$", r"\$")


def save_figure(fig, stem, dpi: int = DPI) -> tuple[Path, Path]:
    """Write ``<stem>.png`` (``dpi`` dots per inch, recorded in the file) and ``<stem>.pdf`` (vector,
    fonts embedded), each atomically; returns both paths. A ``.png``/``.pdf`` suffix on ``stem`` is
    dropped."""
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".pdf"):
        stem = stem.with_suffix("")
    png, pdf = stem.parent / f"{stem.name}.png", stem.parent / f"{stem.name}.pdf"
    with publication_style():
        for path, fmt, metadata in ((png, "png", {"Software": "psychoface"}),
                                    (pdf, "pdf", {"Creator": "psychoface", "CreationDate": None})):
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
            atomic_write_bytes(path, buffer.getvalue())
    return png, pdf


# --------------------------------------------------------------------------------------------------
# RDM heatmap
# --------------------------------------------------------------------------------------------------
def rdm_heatmap(rdm, labels=None, order=None, title: str | None = None, *,
                colorbar_label: str = "Dissimilarity", cmap: str = "viridis",
                width: float = COLUMN_WIDTH):
    """A representational dissimilarity matrix as a heatmap with a colour bar.

    ``rdm``: a square matrix (array or DataFrame, whose index gives the labels) or a condensed
    vector of its upper triangle (as :func:`scipy.spatial.distance.squareform` reads it). ``order``
    reorders rows and columns (positions, or labels when ``labels`` are given), e.g. by attribute.
    Stimulus labels are shown up to 40 stimuli. NaN cells are left blank.
    """
    from scipy.spatial.distance import squareform

    if isinstance(rdm, pd.DataFrame):
        labels = list(map(str, rdm.index)) if labels is None else labels
        rdm = rdm.to_numpy()
    try:
        matrix = np.asarray(rdm, dtype=float)
    except (TypeError, ValueError):
        raise PsychofaceError("RDM values are not numbers; pass a numeric square matrix") from None
    if matrix.ndim == 1:
        try:
            matrix = squareform(matrix, checks=False)
        except ValueError:
            raise PsychofaceError(
                f"a condensed RDM of length {matrix.size} is not n(n - 1)/2 for any n; "
                "pass the upper triangle of a square RDM"
            ) from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 2:
        raise PsychofaceError(
            f"an RDM must be a square matrix of at least 2 x 2, got shape {matrix.shape}"
        )
    n = matrix.shape[0]
    if labels is not None:
        labels = [str(x) for x in labels]
        if len(labels) != n:
            raise PsychofaceError(
                f"{len(labels)} labels for an RDM of {n} stimuli; pass one label per stimulus"
            )
    if order is not None:
        order = list(order)
        if labels is not None and all(isinstance(o, str) for o in order):
            missing = [o for o in order if o not in labels]
            if missing:
                raise PsychofaceError(f"order names unknown stimuli {missing[:5]}; use the RDM's labels")
            order = [labels.index(o) for o in order]
        if sorted(order) != list(range(n)):
            raise PsychofaceError(
                f"order must be a permutation of the {n} stimuli (each position once)"
            )
        matrix = matrix[np.ix_(order, order)]
        labels = [labels[i] for i in order] if labels is not None else None
    with publication_style():
        fig = _figure(width, width * 0.85)
        ax = fig.add_subplot()
        image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, interpolation="nearest")
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        if labels is not None and n <= 40:
            ax.set_xticks(range(n), labels, rotation=90, fontsize=6 if n > 15 else 7)
            ax.set_yticks(range(n), labels, fontsize=6 if n > 15 else 7)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(f"Stimuli ({fmt_int(n)})")
            ax.set_ylabel(f"Stimuli ({fmt_int(n)})")
        colorbar = fig.colorbar(image, ax=ax, shrink=0.8)
        colorbar.set_label(colorbar_label)
        colorbar.outline.set_visible(False)
        if title:
            ax.set_title(title)
    return fig


# --------------------------------------------------------------------------------------------------
# layer profile
# --------------------------------------------------------------------------------------------------
def _levels(series: pd.Series) -> list:
    return list(dict.fromkeys(series.tolist()))


def layer_profile(df: pd.DataFrame, x: str = "layer", y: str = "r", ci=("ci_low", "ci_high"),
                  ceiling="noise_ceiling", hue: str | None = "attribute", *,
                  title: str | None = None, width: float | None = None):
    """An estimate across layers (in the order they appear in ``df``) with its CI as error bars and
    the noise ceiling, one line per ``hue`` level.

    ``ci``: the pair of CI columns (drawn when present with values). ``ceiling``: a column (a dashed
    line per level) or a pair of columns (a shaded band from lower to upper bound), drawn when present
    with values.
    Up to 8 levels share one panel in the Okabe-Ito colours (:data:`PALETTE` order); more levels get
    one small panel each.
    """
    if not isinstance(df, pd.DataFrame) or df.empty:
        raise PsychofaceError("layer_profile needs a non-empty DataFrame of results")
    for column in (x, y):
        if column not in df.columns:
            raise PsychofaceError(
                f"layer_profile: column {column!r} not in the results (they have "
                f"{', '.join(map(str, df.columns))}); pass x= and y= names that exist"
            )
    def present(columns):  # columns that exist and hold at least one value
        return all(c in df.columns and df[c].notna().any() for c in columns)

    ci = tuple(ci) if ci is not None and present(ci) else None
    if ceiling is not None:
        ceiling = (ceiling,) if isinstance(ceiling, str) else tuple(ceiling)
        ceiling = ceiling if present(ceiling) else None
    hue = hue if hue is not None and hue in df.columns else None
    x_levels = _levels(df[x])
    hue_levels = _levels(df[hue]) if hue else [None]
    panels = len(hue_levels) > len(OKABE_ITO)
    positions = {level: i for i, level in enumerate(x_levels)}

    with publication_style():
        if panels:
            ncols = min(6, math.ceil(math.sqrt(len(hue_levels))))
            nrows = math.ceil(len(hue_levels) / ncols)
            width = width or FULL_WIDTH
            fig = _figure(width, nrows * (width / ncols) * 0.9)
            axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
            for ax in axes[len(hue_levels):]:
                ax.set_visible(False)
        else:
            width = width or (FULL_WIDTH if hue and len(hue_levels) > 3 else COLUMN_WIDTH)
            fig = _figure(width, COLUMN_WIDTH * 0.8)
            axes = [fig.add_subplot()] * len(hue_levels)
        k = len(hue_levels)
        for j, level in enumerate(hue_levels):
            ax = axes[j]
            part = df if level is None else df[df[hue] == level]
            xs = np.array([positions[v] for v in part[x]], dtype=float)
            colour = "#000000" if panels else PALETTE[j % len(PALETTE)]
            dodge = 0.0 if panels or k == 1 else (j - (k - 1) / 2) * min(0.08, 0.4 / k)
            if ceiling is not None:
                lo = part[ceiling[0]].to_numpy(dtype=float)
                edges = np.concatenate([[xs.min() - 0.4], xs, [xs.max() + 0.4]]) if len(xs) else xs
                order = np.argsort(xs)
                if len(ceiling) == 2:
                    hi = part[ceiling[1]].to_numpy(dtype=float)
                    lo_e = np.concatenate([[lo[order][0]], lo[order], [lo[order][-1]]])
                    hi_e = np.concatenate([[hi[order][0]], hi[order], [hi[order][-1]]])
                    ax.fill_between(edges, lo_e, hi_e, color="0.6" if panels else colour,
                                    alpha=0.2, linewidth=0)
                else:
                    lo_e = np.concatenate([[lo[order][0]], lo[order], [lo[order][-1]]])
                    ax.plot(edges, lo_e, linestyle="--", linewidth=0.9,
                            color="0.45" if panels else colour, alpha=0.9)
            values = part[y].to_numpy(dtype=float)
            if ci is not None:
                lo, hi = part[ci[0]].to_numpy(dtype=float), part[ci[1]].to_numpy(dtype=float)
                ax.errorbar(xs + dodge, values, yerr=np.vstack([values - lo, hi - values]),
                            fmt="none", ecolor=colour, elinewidth=0.9, capsize=0)
            ax.plot(xs + dodge, values, marker="o", color=colour,
                    label=None if level is None else str(level))
            if panels:
                ax.set_title(str(level), fontsize=7)
        y_label, x_label = _label(y), _label(x)
        # rotate the layer names when they would not fit side by side (about 0.6 em per character)
        panel_pt = 72 * width / (ncols if panels else 1) * 0.85
        needed_pt = sum(len(str(v)) + 1 for v in x_levels) * 0.6 * 7
        long_ticks = needed_pt > panel_pt
        for j, ax in enumerate(axes[:len(hue_levels)] if panels else axes[:1]):
            ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels],
                          rotation=45 if long_ticks else 0, ha="right" if long_ticks else "center",
                          rotation_mode="anchor")
            # in a grid, layer names only under the lowest panel of each column
            ax.tick_params(labelbottom=not panels or j + ncols >= len(hue_levels))
            ax.set_xlim(-0.5, len(x_levels) - 0.5)
            low = np.nanmin(df[list(ci)].to_numpy(dtype=float)) if ci else np.nanmin(df[y])
            if low < 0:
                ax.axhline(0, color="0.7", linewidth=0.6, zorder=0)
        if panels:
            fig.supxlabel(x_label, fontsize=8)
            fig.supylabel(y_label, fontsize=8)
            handles, names = [], []
        else:
            axes[0].set_xlabel(x_label)
            axes[0].set_ylabel(y_label)
            handles, names = axes[0].get_legend_handles_labels()
        if ceiling is not None:
            from matplotlib.lines import Line2D
            from matplotlib.patches import Patch

            handles.append(Patch(color="0.6", alpha=0.3, linewidth=0) if len(ceiling) == 2
                           else Line2D([], [], linestyle="--", color="0.45", linewidth=0.9))
            names.append("Noise ceiling")
        if handles and (hue or ceiling is not None):
            fig.legend(handles, names, loc="outside upper right" if panels else "outside right upper",
                       title=_label(hue) if hue and not panels else None)
        if title:
            fig.suptitle(title, x=0.0, ha="left")
    return fig


# --------------------------------------------------------------------------------------------------
# observed vs predicted
# --------------------------------------------------------------------------------------------------
def scatter_predicted(observed, predicted, r_text=None, *, xlabel: str = "Observed mean rating",
                      ylabel: str = "Predicted rating", title: str | None = None,
                      width: float = COLUMN_WIDTH):
    """Cross-validated predictions against observed ratings, on equal axes, with the identity line
    (dashed), the least-squares line and ``r_text`` (a :class:`Text` or str; default the Pearson
    ``r`` and ``n`` of the plotted pairs) in the upper left. Pairs with a missing value are left out.
    """
    try:
        obs = np.asarray(observed, dtype=float).ravel()
        pred = np.asarray(predicted, dtype=float).ravel()
    except (TypeError, ValueError):
        raise PsychofaceError("observed and predicted ratings must be numbers") from None
    if obs.shape != pred.shape:
        raise PsychofaceError(
            f"{obs.size} observed but {pred.size} predicted values; pass one prediction per stimulus"
        )
    keep = np.isfinite(obs) & np.isfinite(pred)
    obs, pred = obs[keep], pred[keep]
    if obs.size < 3 or np.ptp(obs) == 0 or np.ptp(pred) == 0:
        raise PsychofaceError(
            "scatter_predicted needs at least 3 complete, non-constant pairs of observed and "
            "predicted ratings"
        )
    if r_text is None:
        r_text = Text(fmt_stat("r", np.corrcoef(obs, pred)[0, 1]), ", ", fmt_stat("n", obs.size))
    label = r_text.render("matplotlib") if isinstance(r_text, Text) else str(r_text)
    with publication_style():
        fig = _figure(width, width)
        ax = fig.add_subplot()
        ax.scatter(obs, pred, s=8, alpha=0.6, color=PALETTE[0], edgecolors="none")
        low = min(obs.min(), pred.min())
        high = max(obs.max(), pred.max())
        pad = 0.04 * (high - low)
        lims = (low - pad, high + pad)
        ax.plot(lims, lims, linestyle="--", color="0.5", linewidth=0.8)
        slope, intercept = np.polyfit(obs, pred, 1)
        ax.plot(lims, [intercept + slope * v for v in lims], color=PALETTE[1], linewidth=1.2)
        ax.set_xlim(lims)
        ax.set_ylim(lims)
        ax.set_aspect("equal")
        ax.text(0.03, 0.97, label, transform=ax.transAxes, va="top", ha="left")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if title:
            ax.set_title(title)
    return fig
