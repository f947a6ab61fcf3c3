"""Extraction: equality with plain torchvision forwards, pooling, early stop, resume, refusal to mix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from psychoface.data.images import Stimulus, find_images
from psychoface.errors import PsychofaceError
from psychoface.features import extract as extract_module
from psychoface.features.extract import extract
from psychoface.features.layers import layer_aliases, trace_modules
from psychoface.features.store import FeatureStore
from psychoface.provenance import sha256_file

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OMI_IMAGES = SHARED / "data" / "omi" / "images"
MOBILENET_FILE = SHARED / "weights" / "mobilenet_v2-b0353104.pth"
SMALL = {"model": "mobilenet_v3_small", "weights": "none", "device": "cpu"}


def make_images(folder: Path, n: int, seed: int = 0, size=(48, 40)) -> Path:
    """``n`` small random RGB PNGs face0 ... face{n-1} (noise images: only the pipeline matters here)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"face{i}.png")
    return folder


def reference_inputs(paths, weights_enum):
    """What a bare torchvision user feeds the network: PIL decode, the weights' transforms, a stack."""
    transform = weights_enum.transforms()
    return torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared, oversubscribed CPU two OpenMP threads make small models
    10-30 times slower (barrier waits), and the killed subprocess below runs with one thread too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def images(tmp_path):
    return make_images(tmp_path / "images", 12)


# --- equality with torchvision ----------------------------------------------------------------

@pytest.mark.skipif(not (MOBILENET_FILE.is_file() and OMI_IMAGES.is_dir()),
                    reason="../shared (MobileNetV2 checkpoint and OMI images) is absent")
def test_mobilenet_v2_pretrained_equals_torchvision(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    os.symlink(MOBILENET_FILE, checkpoints / MOBILENET_FILE.name)
    stimuli = [Stimulus(str(i), OMI_IMAGES / f"{i}.jpg") for i in (1, 2, 3, 4)]
    layers = ["stem", "block7", "conv_last", "pool", "logits", "features.18.0"]
    # IMAGENET1K_V1, not DEFAULT: torchvision's DEFAULT for MobileNetV2 is IMAGENET1K_V2, a different file
    # (mobilenet_v2-7ebf99e0.pth, preprocessed with resize 232); the shared checkpoint is V1's file
    # mobilenet_v2-b0353104.pth (resize 256), which torchvision finds in the cache without a download.
    fs = extract(stimuli, tmp_path / "store", model="mobilenet_v2", weights="IMAGENET1K_V1", layers=layers,
                 batch_size=4, device="cpu")

    weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
    net = torchvision.models.mobilenet_v2(weights=weights).eval()
    x = reference_inputs([s.path for s in stimuli], weights)
    with torch.inference_mode():
        features = net.features(x)
        expected = {
            "stem": net.features[:1](x), "block7": net.features[:8](x), "conv_last": features,
            "pool": torch.nn.functional.adaptive_avg_pool2d(features, 1), "logits": net(x),
            "features.18.0": net.features[18][0](net.features[:18](x)),
        }
    for layer, value in expected.items():
        X = fs.features(layer)
        assert X.dtype == np.float32 and X.shape == (4, value[0].numel())
        # psychoface runs channels-last (NHWC), the reference NCHW: float32 summation order differs
        np.testing.assert_allclose(X, value.flatten(1).numpy(), rtol=1e-4, atol=1e-5 * float(value.abs().max()),
                                   err_msg=layer)
    assert fs.stimulus_ids == ["1", "2", "3", "4"]
    assert fs.manifest["weights"]["sha256"].startswith("b0353104")
    assert fs.manifest["preprocessing"]["resize"] == 256


def test_vgg16_random_weights_equal_torchvision_and_survive_inplace_relu(tmp_path, images):
    paths = sorted(images.glob("*.png"))[:2]
    stimuli = [Stimulus(p.stem, p) for p in paths]
    layers = ["conv1_2", "features.28", "conv5_3", "pool5", "fc7"]
    fs = extract(stimuli, tmp_path / "store", model="vgg16", weights="none", seed=5, layers=layers,
                 pooling={"conv1_2": "avg"}, batch_size=2, device="cpu")

    torch.manual_seed(5)
    net = torchvision.models.vgg16().eval()
    x = reference_inputs(paths, torchvision.models.VGG16_Weights.DEFAULT)
    outputs = {}
    with torch.inference_mode():
        h = x
        for i, layer in enumerate(net.features):  # one manual pass, keeping copies of what we need
            h = layer(h)
            outputs[i] = h.clone() if i in (3, 28, 29) else None
        expected = {
            "conv1_2": outputs[3].mean(dim=(2, 3)),
            "features.28": outputs[28],
            "conv5_3": outputs[29],
            "pool5": h,
            "fc7": net.classifier[:5](torch.flatten(net.avgpool(h), 1)),
        }
    for layer, value in expected.items():
        # psychoface runs channels-last (NHWC), the reference NCHW: float32 summation order differs
        np.testing.assert_allclose(fs.features(layer), value.flatten(1).numpy(), rtol=1e-4,
                                   atol=1e-5 * float(value.abs().max()), err_msg=layer)
    pre = fs.features("features.28")
    assert (pre < 0).any()  # the convolution's output, copied before the in-place ReLU overwrote it
    assert fs.manifest["layers"]["conv5_3"]["n_features"] == 100_352
    assert fs.manifest["layers"]["conv1_2"] == {"module": "features.3", "shape": [64], "pooling": "avg",
                                                "n_features": 64, "dtype": "float32"}
    assert fs.manifest["weights"]["description"] == "random init, seed 5"


# --- pooling, early stop, argument errors -----------------------------------------------------

def test_pooling_shapes_and_values(tmp_path, images):
    fs = extract(images, tmp_path / "store", **SMALL, layers=["conv_last", "features.12", "block11", "features.11"],
                 pooling={"features.12": "avg", "block11": "max"}, batch_size=6)
    spec = fs.manifest["layers"]
    assert spec["conv_last"]["shape"] == [576, 7, 7] and spec["features.12"]["shape"] == [576]
    assert spec["block11"]["shape"] == [96] and spec["features.11"]["shape"] == [96, 7, 7]
    full = np.asarray(fs.features("conv_last")).reshape(12, 576, 49)
    np.testing.assert_allclose(fs.features("features.12"), full.mean(axis=2), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fs.features("block11"),
                                  np.asarray(fs.features("features.11")).reshape(12, 96, 49).max(axis=2))


def test_pooling_errors(tmp_path, images):
    with pytest.raises(PsychofaceError, match=r"pooling avg for layer logits: needs a \(channels, height, width\)"):
        extract(images, tmp_path / "a", **SMALL, layers=["logits"], pooling="avg")
    with pytest.raises(PsychofaceError, match="pooling given for layer fc7, which is not extracted"):
        extract(images, tmp_path / "b", **SMALL, layers=["logits"], pooling={"fc7": "avg"})
    with pytest.raises(PsychofaceError, match="pooling 'mean' for layer stem: use one of none, avg, max"):
        extract(images, tmp_path / "c", **SMALL, layers=["stem"], pooling="mean")


def test_forward_pass_stops_after_deepest_requested_layer(tmp_path, images, monkeypatch):
    calls = []
    build = extract_module.build_model

    def counting_build(*args, **kwargs):
        loaded = build(*args, **kwargs)
        loaded.model.classifier.register_forward_hook(lambda *a: calls.append(1))
        return loaded

    monkeypatch.setattr(extract_module, "build_model", counting_build)
    fs = extract(images, tmp_path / "store", **SMALL, layers=["block3"], batch_size=4)
    assert fs.is_complete("block3")
    assert len(calls) == 1  # the dry run that measures shapes; none of the three batches reached it


def test_argument_and_layer_errors(tmp_path, images):
    with pytest.raises(PsychofaceError, match=r"unknown layer 'fc7' for mobilenet_v3_small"):
        extract(images, tmp_path / "a", **SMALL, layers=["fc7"])
    with pytest.raises(PsychofaceError, match="unknown model 'mobilenet_v4'"):
        extract(images, tmp_path / "a", model="mobilenet_v4", layers=["logits"])
    with pytest.raises(PsychofaceError, match=r"layer1.0.relu \(layer1.0.relu\) runs 2 times"):
        extract(images, tmp_path / "a", model="resnet18", weights="none", device="cpu", layers=["layer1.0.relu"])
    with pytest.raises(PsychofaceError, match="batch_size 0: must be a positive integer"):
        extract(images, tmp_path / "a", **SMALL, layers=["logits"], batch_size=0)
    stimuli = find_images(images)
    with pytest.raises(PsychofaceError, match="stimulus id 'face1' appears more than once"):
        extract(stimuli + stimuli[1:2], tmp_path / "a", **SMALL, layers=["logits"])
    (images / "face3.png").unlink()
    with pytest.raises(PsychofaceError, match="face3.png: cannot be read"):
        extract(stimuli, tmp_path / "a", **SMALL, layers=["logits"])


# --- interruption and resume ------------------------------------------------------------------

def _rows(store, layer):
    file = Path(store) / f"{layer}.progress.json"
    try:
        return json.loads(file.read_text())["rows"]
    except (FileNotFoundError, ValueError):
        return 0


def _features(store, layers):
    fs = FeatureStore(store)
    return {layer: np.array(fs.features(layer)) for layer in layers}


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    images = make_images(tmp_path / "images", 24)
    store = tmp_path / "killed"
    args = dict(SMALL, layers=["block3", "logits"], batch_size=4, chunk_size=4, workers=1)
    script = (
        "import sys, time\n"
        "from psychoface.features.extract import extract\n"
        f"extract({str(images)!r}, {str(store)!r}, progress=lambda d, t: time.sleep(0.4), **{args!r})\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while _rows(store, "logits") < 8 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _rows(store, "logits")
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    assert 8 <= killed_at < 24 and killed_at % 4 == 0
    assert not FeatureStore(store).is_complete("logits")
    with pytest.raises(PsychofaceError, match=rf"layer logits in {store} is incomplete \({killed_at} of 24 images\)"):
        FeatureStore(store).features("logits")

    seen = []
    extract(images, store, progress=lambda done, total: seen.append(done), **args)
    assert seen[0] == killed_at + 4 and seen[-1] == 24  # nothing committed is computed again
    extract(images, tmp_path / "whole", **args)
    resumed, whole = _features(store, args["layers"]), _features(tmp_path / "whole", args["layers"])
    for layer in args["layers"]:
        np.testing.assert_array_equal(resumed[layer], whole[layer], err_msg=layer)
    assert len(FeatureStore(store).manifest["runs"]) == 2


def test_keyboard_interrupt_keeps_completed_batches(tmp_path, images):
    args = dict(SMALL, layers=["stem", "logits"], batch_size=2, chunk_size=8)

    def interrupt(done, total):
        if done == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(images, tmp_path / "store", progress=interrupt, **args)
    assert _rows(tmp_path / "store", "logits") == 6  # committed although the chunk (8 rows) was not full
    extract(images, tmp_path / "store", **args)
    extract(images, tmp_path / "whole", **args)
    for layer in args["layers"]:
        np.testing.assert_array_equal(_features(tmp_path / "store", [layer])[layer],
                                      _features(tmp_path / "whole", [layer])[layer])


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_stops_with_one_line_and_resumes_after_fix(tmp_path, workers):
    images = make_images(tmp_path / "images", 8)
    good = (images / "face5.png").read_bytes()
    (images / "face5.png").write_bytes(good[: len(good) // 3])  # truncated PNG
    args = dict(SMALL, layers=["logits"], batch_size=2, workers=workers)
    with pytest.raises(PsychofaceError) as info:
        extract(images, tmp_path / "store", **args)
    message = str(info.value)
    assert "face5.png" in message and "features of the first 4 images are saved" in message
    assert "\n" not in message
    assert _rows(tmp_path / "store", "logits") == 4
    (images / "face5.png").write_bytes(good)  # fixed: its features were never stored, so it may change
    extract(images, tmp_path / "store", **args)
    extract(images, tmp_path / "whole", **args)
    np.testing.assert_array_equal(_features(tmp_path / "store", ["logits"])["logits"],
                                  _features(tmp_path / "whole", ["logits"])["logits"])


# --- refusal to mix, adding layers ------------------------------------------------------------

def test_refuses_to_mix_and_adds_layers(tmp_path, images):
    store = tmp_path / "store"
    base = dict(SMALL, layers=["pool"], batch_size=6)
    extract(images, store, **base)
    before = np.array(FeatureStore(store).features("pool"))
    tail = "use a new --store or --overwrite"

    with pytest.raises(PsychofaceError, match=rf"not 'random init, seed 1'.*{tail}"):
        extract(images, store, **dict(base, seed=1))
    with pytest.raises(PsychofaceError, match=rf"holds features of mobilenet_v3_small, not mobilenet_v3_large.*{tail}"):
        extract(images, store, **dict(base, model="mobilenet_v3_large"))
    extract(images, store, **dict(base, layers=["conv_last"]))
    with pytest.raises(PsychofaceError, match=rf"layer conv_last was extracted from features.12 with pooling none, "
                                              rf"now features.12 with pooling avg.*{tail}"):
        extract(images, store, **dict(base, layers=["conv_last"], pooling="avg"))
    with pytest.raises(PsychofaceError, match=rf"different stimulus list \(12 vs 11 images.*{tail}"):
        extract(find_images(images)[:11], store, **base)
    Image.new("RGB", (48, 40), (10, 20, 30)).save(images / "face2.png")
    with pytest.raises(PsychofaceError, match=rf"face2.png: image changed since its features were stored.*{tail}"):
        extract(images, store, **base)
    make_images(images, 12)  # the original images again

    calls = []
    extract(images, store, progress=lambda d, t: calls.append(d), **base)
    assert calls == []  # complete: nothing to do
    extract(images, store, progress=lambda d, t: calls.append(d), **dict(base, layers=["pool", "stem"]))
    assert calls == [6, 12]
    fs = FeatureStore(store)
    assert sorted(fs.layers) == ["conv_last", "pool", "stem"] and fs.is_complete("stem")
    np.testing.assert_array_equal(fs.features("pool"), before)

    fs = extract(images, store, **dict(base, seed=1), overwrite=True)
    assert fs.layers == ["pool"] and fs.manifest["weights"]["description"] == "random init, seed 1"
    assert not np.array_equal(fs.features("pool"), before)


def test_random_weights_drawn_differently_are_refused_on_resume_and_append(tmp_path, images, monkeypatch):
    """A torch upgrade may change the initialisation code: the same seed then draws another network."""
    store = tmp_path / "store"
    args = dict(SMALL, layers=["pool"], batch_size=4)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(images, store, progress=interrupt, **args)
    digest = FeatureStore(store).manifest["weights"]["sha256"]
    assert len(digest) == 64 and not FeatureStore(store).is_complete("pool")

    get_model = torchvision.models.get_model

    def other_init(name, **kwargs):  # "new init code": one weight differs
        net = get_model(name, **kwargs)
        with torch.no_grad():
            net.features[0][0].weight[0, 0, 0, 0] += 1.0
        return net

    monkeypatch.setattr(torchvision.models, "get_model", other_init)
    for layers in (["pool"], ["pool", "stem"]):  # resume, and append a layer
        with pytest.raises(PsychofaceError) as info:
            extract(images, store, **dict(args, layers=layers))
        message = str(info.value)
        assert f"holds features of 'random init, seed 0' whose initial weights have sha256 {digest}" in message
        assert "the random initialisation differs); use a new --store or --overwrite" in message
    monkeypatch.undo()
    fs = extract(images, store, **args)  # the original init resumes
    assert fs.is_complete("pool") and fs.manifest["weights"]["sha256"] == digest


def test_checkpoints_are_compared_by_sha256(tmp_path, images):
    checkpoints = {}
    for seed in (1, 2):
        torch.manual_seed(seed)
        checkpoints[seed] = tmp_path / f"seed{seed}.pt"
        torch.save(torchvision.models.mobilenet_v3_small().state_dict(), checkpoints[seed])
    store = tmp_path / "store"
    args = dict(model="mobilenet_v3_small", device="cpu", layers=["pool"], batch_size=6)
    extract(images, store, weights=str(checkpoints[1]), **args)
    a, b = sha256_file(checkpoints[1]), sha256_file(checkpoints[2])
    with pytest.raises(PsychofaceError, match=rf"holds features from weights 'checkpoint {checkpoints[1]}' "
                                              rf"\(sha256 {a}\), not 'checkpoint {checkpoints[2]}' \(sha256 {b}\); "
                                              "use a new --store or --overwrite"):
        extract(images, store, weights=str(checkpoints[2]), **args)
    moved = tmp_path / "moved" / "same.pt"  # the same bytes elsewhere are the same weights
    moved.parent.mkdir()
    moved.write_bytes(checkpoints[1].read_bytes())
    fs = extract(images, store, weights=str(moved), **dict(args, layers=["pool", "stem"]))
    assert fs.is_complete("stem") and fs.manifest["weights"]["sha256"] == a


def test_other_preprocessing_is_refused(tmp_path, images, monkeypatch):
    """As after a torchvision release that changed a weights' transforms: same network, other inputs."""
    from torchvision.transforms._presets import ImageClassification

    store = tmp_path / "store"
    args = dict(SMALL, layers=["pool"], batch_size=6)
    extract(images, store, **args)
    build = extract_module.build_model

    def resized(*a, **k):
        loaded = build(*a, **k)
        loaded.transform = ImageClassification(crop_size=224, resize_size=240)
        loaded.preprocessing = {**loaded.preprocessing, "resize": 240}
        return loaded

    monkeypatch.setattr(extract_module, "build_model", resized)
    with pytest.raises(PsychofaceError, match=rf"{store}: images were preprocessed differently "
                                              r"\(resize 256 vs 240\); use a new --store or --overwrite"):
        extract(images, store, **args)


# --- every alias of every architecture family ---------------------------------------------------

FAMILIES = ["alexnet", "resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "densenet121",
            "convnext_tiny", "regnet_x_400mf", "googlenet", "inception_v3", "shufflenet_v2_x0_5", "mnasnet0_5",
            "squeezenet1_0", "squeezenet1_1", "vit_b_32", "swin_t"]
"""The smallest model of each family with aliases. VGG is left out here: initialising a VGG takes 7-20 s
on the test machine, its aliases are extracted against torchvision's own forward pass in
test_vgg16_random_weights_equal_torchvision_and_survive_inplace_relu, and the dry-pass test in
test_models_layers.py checks that every alias of every VGG runs once and returns a tensor."""
CHANNELS_LAST = {"swin_t"}
"""Families whose (3-D per image) stage outputs are height x width x channels."""


@pytest.mark.parametrize("name", FAMILIES)
def test_every_alias_extracts_from_random_weights(tmp_path, name):
    """All aliases of a random-weight model from one image in one pass, with the shapes of the dry trace.
    The deepest spatial alias is also stored average-pooled under its raw module name: that must equal
    the mean of the unpooled values over height and width, wherever the channels are."""
    image = make_images(tmp_path / "images", 1)
    crop = torchvision.models.get_model_weights(name).DEFAULT.transforms().crop_size[0]
    if name.startswith("regnet"):  # RegNet computes its widths from tensor values: not on the meta device
        net = torchvision.models.get_model(name)
    else:
        with torch.device("meta"):
            net = torchvision.models.get_model(name)
    aliases = layer_aliases(net)
    traces = {t.name: t.shape for t in trace_modules(net, crop)}
    spatial = [a for a, m in aliases.items()
               if m not in aliases and len(traces[m]) == 3 and min(traces[m]) > 1]
    module = aliases[spatial[-1]]
    fs = extract(image, tmp_path / "store", model=name, weights="none", layers=[*aliases, module],
                 pooling={module: "avg"}, batch_size=1, workers=0, device="cpu")
    for alias, m in aliases.items():
        spec = fs.manifest["layers"][alias]
        assert tuple(spec["shape"]) == traces[m] and spec["module"] == m, alias
        X = fs.features(alias)
        assert X.shape == (1, spec["n_features"]) and np.isfinite(X).all(), alias

    shape = traces[module]
    full = np.asarray(fs.features(spatial[-1])).reshape(1, *shape).astype(np.float64)
    expected = full.mean(axis=(1, 2)) if name in CHANNELS_LAST else full.mean(axis=(2, 3))
    assert fs.manifest["layers"][module]["shape"] == [shape[2] if name in CHANNELS_LAST else shape[0]]
    np.testing.assert_allclose(fs.features(module), expected, rtol=1e-4, atol=1e-6)
