"""Publication figures: files written (PNG at 300 dpi, PDF), content and bad input."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from psychoface.errors import PsychofaceError
from psychoface.reports.apa import fmt_stat
from psychoface.reports.figures import (
    OKABE_ITO,
    PALETTE,
    layer_profile,
    publication_style,
    rdm_heatmap,
    save_figure,
    scatter_predicted,
)

LAYERS = ["conv1", "conv3", "conv5", "fc6", "fc7"]


def profile_frame(n_attributes, ceiling_pair=False, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_attributes):
        for i, layer in enumerate(LAYERS):
            r = 0.1 * i + rng.normal(0, 0.02) - 0.15
            row = {"attribute": f"attribute {k}", "layer": layer, "r": r, "ci_low": r - 0.05,
                   "ci_high": r + 0.05}
            if ceiling_pair:
                row.update(nc_low=0.5, nc_high=0.6)
            else:
                row["noise_ceiling"] = 0.6 + 0.02 * k
            rows.append(row)
    return pd.DataFrame(rows)


def test_save_figure_png_300_dpi_and_pdf(tmp_path):
    fig = scatter_predicted([1, 2, 3, 4], [1.2, 1.9, 3.4, 3.9])
    png, pdf = save_figure(fig, tmp_path / "sub" / "scatter.v2.png")
    assert (png.name, pdf.name) == ("scatter.v2.png", "scatter.v2.pdf")
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)
        width, height = image.size
    assert 900 < width < 1100 and 900 < height < 1100  # 3.35 in at 300 dpi, tight box
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data  # TrueType embedded (editable text)
    assert not list(tmp_path.rglob("*.tmp"))
    png2, _ = save_figure(fig, tmp_path / "again", dpi=150)
    with Image.open(png2) as image:
        assert image.info["dpi"] == pytest.approx((150, 150), abs=0.05)  # stored as dots per metre


def test_figures_use_agg_without_pyplot():
    code = ("import matplotlib, sys; from psychoface.reports.figures import rdm_heatmap; "
            "fig = rdm_heatmap([[0, 1], [1, 0]]); "
            "print(type(fig.canvas).__name__, 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["FigureCanvasAgg", "False"]


def test_publication_style():
    import matplotlib

    before = matplotlib.rcParams["font.size"]
    with publication_style():
        assert matplotlib.rcParams["font.size"] == 8
        assert not matplotlib.rcParams["axes.spines.top"] and not matplotlib.rcParams["axes.spines.right"]
        assert matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] == list(PALETTE)
        assert matplotlib.rcParams["pdf.fonttype"] == 42
    assert matplotlib.rcParams["font.size"] == before
    assert set(PALETTE) == set(OKABE_ITO) and len(OKABE_ITO) == 8


def test_rdm_heatmap_condensed_labels_and_order(tmp_path):
    rng = np.random.default_rng(1)
    from scipy.spatial.distance import pdist, squareform

    condensed = pdist(rng.normal(size=(6, 4)), "correlation")
    labels = [f"face_{i}" for i in range(6)]
    order = ["face_5", "face_0", "face_1", "face_2", "face_3", "face_4"]
    fig = rdm_heatmap(condensed, labels=labels, order=order, title="fc7")
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    expected = squareform(condensed)[np.ix_([5, 0, 1, 2, 3, 4], [5, 0, 1, 2, 3, 4])]
    np.testing.assert_allclose(np.asarray(shown), expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    assert ax.get_title(loc="left") == "fc7" and fig.axes[1].get_ylabel() == "Dissimilarity"
    frame = pd.DataFrame(squareform(condensed), index=labels, columns=labels)
    big = rdm_heatmap(np.zeros((50, 50)))
    assert big.axes[0].get_xticks().size == 0 and big.axes[0].get_xlabel() == "Stimuli (50)"
    assert [t.get_text() for t in rdm_heatmap(frame).axes[0].get_yticklabels()] == labels
    png, pdf = save_figure(fig, tmp_path / "rdm")
    assert png.stat().st_size > 0 and pdf.read_bytes()[:4] == b"%PDF"


def test_rdm_heatmap_bad_input():
    with pytest.raises(PsychofaceError, match="square"):
        rdm_heatmap(np.zeros((3, 4)))
    with pytest.raises(PsychofaceError, match="n\\(n - 1\\)/2"):
        rdm_heatmap(np.zeros(4))
    with pytest.raises(PsychofaceError, match="labels"):
        rdm_heatmap(np.zeros((3, 3)), labels=["a", "b"])
    with pytest.raises(PsychofaceError, match="permutation"):
        rdm_heatmap(np.zeros((3, 3)), order=[0, 0, 1])
    with pytest.raises(PsychofaceError, match="unknown stimuli"):
        rdm_heatmap(np.zeros((2, 2)), labels=["a", "b"], order=["a", "c"])
    with pytest.raises(PsychofaceError, match="not numbers"):
        rdm_heatmap([["a", "b"], ["c", "d"]])


def test_layer_profile_one_panel(tmp_path):
    df = profile_frame(3)
    fig = layer_profile(df, title="Prediction by layer")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert len(lines) == 3
    for k, line in enumerate(lines):
        assert line.get_color() == PALETTE[k]
        np.testing.assert_allclose(line.get_ydata(), df[df["attribute"] == f"attribute {k}"]["r"])
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert [line.get_ydata()[0] for line in dashed] == pytest.approx([0.6, 0.62, 0.64])
    assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS
    assert ax.get_ylabel() == "$\\mathit{r}$" and ax.get_xlabel() == "Layer"
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [
        "attribute 0", "attribute 1", "attribute 2", "Noise ceiling"]
    assert legend.get_title().get_text() == "Attribute"
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    png, _ = save_figure(fig, tmp_path / "profile")
    with Image.open(png) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.01)


def test_layer_profile_panels_and_ceiling_band():
    from matplotlib.collections import PolyCollection

    fig = layer_profile(profile_frame(12, ceiling_pair=True), ceiling=("nc_low", "nc_high"))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 12
    assert [ax.get_title(loc="left") for ax in visible] == [f"attribute {k}" for k in range(12)]
    assert all(any(isinstance(c, PolyCollection) for c in ax.collections) for ax in visible)
    labelled = [ax for ax in visible if ax.xaxis.get_tick_params()["labelbottom"]]
    assert len(labelled) == 4  # only the lowest panel of each column names the layers
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["Noise ceiling"]


def test_layer_profile_without_optional_columns_and_bad_input():
    df = profile_frame(1)[["layer", "r"]]
    fig = layer_profile(df, hue=None)
    assert len([line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]) == 1
    assert not fig.legends
    assert layer_profile(df.rename(columns={"r": "rho"}), y="rho").axes[0].get_ylabel() == "ρ"
    no_ceiling = profile_frame(2).assign(noise_ceiling=np.nan)  # no ceilings given to the analysis
    legend = layer_profile(no_ceiling).legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["attribute 0", "attribute 1"]
    with pytest.raises(PsychofaceError, match="'r2'"):
        layer_profile(df, y="r2")
    with pytest.raises(PsychofaceError, match="non-empty"):
        layer_profile(df.iloc[:0])


def test_scatter_predicted_text_and_lines():
    rng = np.random.default_rng(2)
    observed = rng.normal(50, 10, 200)
    predicted = 50 + 0.4 * (observed - 50) + rng.normal(0, 5, 200)
    observed[3] = np.nan  # a missing pair is left out
    fig = scatter_predicted(observed, predicted)
    ax = fig.axes[0]
    keep = np.isfinite(observed)
    r = np.corrcoef(observed[keep], predicted[keep])[0, 1]
    assert ax.texts[0].get_text() == f"{fmt_stat('r', r).render('matplotlib')}, $\\mathit{{n}}$ = 199"
    assert len(ax.collections[0].get_offsets()) == 199
    assert ax.get_xlim() == ax.get_ylim()
    custom = scatter_predicted(observed, predicted, r_text="r = .62")
    assert custom.axes[0].texts[0].get_text() == "r = .62"
    with pytest.raises(PsychofaceError, match="one prediction per stimulus"):
        scatter_predicted([1, 2, 3], [1, 2])
    with pytest.raises(PsychofaceError, match="at least 3"):
        scatter_predicted([1, 1, 1], [1, 2, 3])
