"""Extraction's fast paths against their references: channels-last against the plain NCHW forward, bf16 /
fp16 autocast against fp32 (fidelity, provenance, refusal to mix), thread caps, and CUDA where it exists."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from psychoface.data.images import Stimulus
from psychoface.errors import PsychofaceError
from psychoface.features import extract as extract_module
from psychoface.features.extract import extract

from test_extract import make_images as _make_images
from test_extract import reference_inputs


def make_images(folder, n, seed=0, size=(64, 64)):
    """``n`` random RGB PNGs (noise images: only the arithmetic matters here), 64 x 64 by default."""
    return _make_images(folder, n, seed=seed, size=size)


SMALL = {"model": "mobilenet_v3_small", "weights": "none", "device": "cpu", "batch_size": 4}
CPU_BF16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def images(tmp_path):
    return make_images(tmp_path / "images", 6)


def _reference(paths, layer_index, seed=0):
    """The plain forward: NCHW (contiguous) model and inputs, fp32, features[:layer_index + 1]."""
    torch.manual_seed(seed)
    net = torchvision.models.mobilenet_v3_small().eval()
    x = reference_inputs(paths, torchvision.models.MobileNet_V3_Small_Weights.DEFAULT)
    with torch.inference_mode():
        return net.features[: layer_index + 1](x).flatten(1).numpy()


def test_channels_last_features_equal_the_plain_forward(tmp_path, images):
    paths = sorted(images.glob("*.png"))
    fs = extract([Stimulus(p.stem, p) for p in paths], tmp_path / "store", layers=["features.12"], **SMALL)
    ref = _reference(paths, 12)
    got = fs.features("features.12")
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * scale)  # float32 summation order only
    run = fs.manifest["runs"][-1]
    assert run["memory_format"] == "channels_last" and run["precision"] == "fp32" and run["threads"] == 1
    assert fs.manifest["precision"] == "fp32" and "fidelity" not in run


@pytest.mark.skipif(not CPU_BF16, reason="this CPU has no bf16 support (AVX-512 BF16 or AMX)")
def test_bf16_is_recorded_checked_for_fidelity_and_never_mixed(tmp_path, images):
    paths = sorted(images.glob("*.png"))
    stimuli = [Stimulus(p.stem, p) for p in paths]
    fs = extract(stimuli, tmp_path / "bf16", layers=["features.12", "pool"], precision="bf16",
                 fidelity_sample=3, **SMALL)
    assert fs.manifest["precision"] == "bf16"
    fid = fs.manifest["runs"][-1]["fidelity"]
    assert fid["images"] == 3 and set(fid["layers"]) == {"features.12", "pool"}
    ref = _reference(paths, 12)
    got = np.asarray(fs.features("features.12"), dtype=np.float64)
    r = np.corrcoef(got.ravel(), ref.ravel())[0, 1]
    assert r > 0.99  # bf16 keeps 8 bits of mantissa: close to, not equal to, fp32
    assert not np.array_equal(got, ref)  # the reduced precision was used
    # the recorded fidelity is the same comparison on the sampled images (0, 2 or 3, 5)
    pick = [0, 2, 5]
    r_sample = np.corrcoef(got[pick].ravel(), ref[pick].ravel())[0, 1]
    assert fid["layers"]["features.12"]["r"] == pytest.approx(r_sample, abs=1e-6)
    assert 0.99 < fid["layers"]["features.12"]["min_image_r"] <= fid["layers"]["features.12"]["r"] + 1e-12
    from scipy.stats import spearmanr  # the RDMs' agreement: scipy's Spearman over the 3 image pairs

    rdm = lambda X: (1 - np.corrcoef(X))[np.triu_indices(3, 1)]  # noqa: E731
    sample_ref = np.asarray(_reference([paths[i] for i in pick], 12), dtype=np.float64)
    expected = spearmanr(rdm(got[pick]), rdm(sample_ref))[0]
    assert fid["layers"]["features.12"]["rdm_rho"] == pytest.approx(expected, abs=1e-9)
    with pytest.raises(PsychofaceError, match=r"holds bf16 features, this run computes fp32; .*--precision bf16"):
        extract(stimuli, tmp_path / "bf16", layers=["pool"], **SMALL)
    extract(stimuli, tmp_path / "fp32", layers=["pool"], **SMALL)
    with pytest.raises(PsychofaceError, match=r"holds fp32 features, this run computes bf16"):
        extract(stimuli, tmp_path / "fp32", layers=["pool"], precision="bf16", **SMALL)


def test_precision_errors(tmp_path, images):
    with pytest.raises(PsychofaceError, match=r"precision fp16 on cpu: reduced precision runs on CUDA"):
        extract(images, tmp_path / "s", layers=["pool"], precision="fp16", **SMALL)
    with pytest.raises(PsychofaceError, match=r"precision 'int8': use one of fp32, bf16, fp16"):
        extract(images, tmp_path / "s", layers=["pool"], precision="int8", **SMALL)


def test_threads_are_capped_at_the_usable_cpus_and_lower_settings_kept(monkeypatch):
    monkeypatch.setattr(extract_module.os, "sched_getaffinity", lambda pid: {0})
    torch.set_num_threads(2)
    assert extract_module._set_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setattr(extract_module.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert extract_module._set_threads() == 1  # a lower setting stays


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_cuda_extraction_equals_the_cpu_reference(tmp_path, images, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16 support")
    paths = sorted(images.glob("*.png"))
    fs = extract([Stimulus(p.stem, p) for p in paths], tmp_path / "store", layers=["features.12"],
                 precision=precision, fidelity_sample=4, workers=1, **dict(SMALL, device="cuda"))
    ref = _reference(paths, 12)
    got = np.asarray(fs.features("features.12"), dtype=np.float64)
    if precision == "fp32":  # cuDNN may use TF32 for convolutions (torch's default): 10-bit mantissas
        np.testing.assert_allclose(got, ref, rtol=1e-2, atol=1e-2 * np.abs(ref).max())
        assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.9999
    else:
        assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.999
        assert fs.manifest["runs"][-1]["fidelity"]["layers"]["features.12"]["r"] > 0.999
    assert fs.manifest["runs"][-1]["device"].startswith("cuda")


@pytest.mark.skipif(not CPU_BF16, reason="this CPU has no bf16 support (AVX-512 BF16 or AMX)")
def test_heads_run_in_fp32_under_bf16_and_token_linears_do_not():
    torch.manual_seed(0)
    head, tokens = torch.nn.Linear(64, 8), torch.nn.Linear(64, 8)
    net = torch.nn.ModuleDict({"head": head, "tokens": tokens})
    v, t = torch.randn(3, 64), torch.randn(3, 5, 64)
    exact = head(v)
    extract_module._heads_in_fp32(net, "cpu")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        out_head, out_tokens = head(v), tokens(t)
    assert out_head.dtype == torch.float32 and out_tokens.dtype == torch.bfloat16
    torch.testing.assert_close(out_head, exact.detach(), rtol=1e-6, atol=1e-6)  # fp32 arithmetic, not bf16
