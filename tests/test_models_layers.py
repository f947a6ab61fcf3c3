"""Models (weights from torchvision's cache, checkpoints, seeded random init) and layer aliases."""

from __future__ import annotations

import os
import urllib.error
import warnings
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from psychoface.errors import PsychofaceError
from psychoface.features.layers import (
    channels_last_modules, layer_aliases, list_layers, resolve_layers, trace_modules,
)
from psychoface.features.models import build_model, resolve_device, state_dict_sha256, weights_member
from psychoface.provenance import sha256_file

SHARED = Path(__file__).resolve().parents[2] / "shared"
MOBILENET_FILE = SHARED / "weights" / "mobilenet_v2-b0353104.pth"
MOBILENET_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


def _meta_model(name):
    """A torchvision model built on the meta device (no memory, no init cost) for structure tests;
    RegNet computes its widths from tensor values, so it is built on the CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.startswith("regnet"):
            return torchvision.models.get_model(name)
        with torch.device("meta"):
            return torchvision.models.get_model(name)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def no_network(monkeypatch):
    """Make torch.hub's download fail as it does on a machine without network."""
    def refuse(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


# --- models -----------------------------------------------------------------------------------

def test_unknown_model_names_close_matches():
    with pytest.raises(PsychofaceError, match=r"unknown model 'vgg61'.*did you mean.*vgg16"):
        build_model("vgg61", weights="none")


def test_random_init_is_seeded_and_described():
    a = build_model("resnet18", weights="none", seed=3)
    b = build_model("resnet18", weights="none", seed=3)
    c = build_model("resnet18", weights="none", seed=4)
    for key, value in a.model.state_dict().items():
        assert torch.equal(value, b.model.state_dict()[key])
    assert not torch.equal(a.model.conv1.weight, c.model.conv1.weight)
    assert a.weights_description == "random init, seed 3"
    assert a.weights_hash == b.weights_hash == state_dict_sha256(a.model) != c.weights_hash
    assert not a.model.training
    ref = torchvision.models.ResNet18_Weights.DEFAULT.transforms()
    assert a.preprocessing == {
        "source": "ResNet18_Weights.IMAGENET1K_V1 transforms()", "resize": ref.resize_size[0],
        "crop": ref.crop_size[0], "mean": list(ref.mean), "std": list(ref.std),
        "interpolation": "bilinear", "antialias": True}
    assert (a.preprocessing["resize"], a.preprocessing["crop"]) == (256, 224)


def test_state_dict_sha256_sees_every_value_dtype_and_name():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    digest = state_dict_sha256(net)
    assert len(digest) == 64 and digest == state_dict_sha256(net)
    with torch.no_grad():
        net[0].weight[1, 2, 0, 1] += 2 ** -20  # one weight, in its last bits
    changed = state_dict_sha256(net)
    assert changed != digest
    net[1].num_batches_tracked += 1  # buffers count too
    assert state_dict_sha256(net) != changed
    renamed = nn.Sequential()
    for name, module in zip(("a", "b", "c"), net):
        renamed.add_module(name, module)
    assert state_dict_sha256(renamed) != state_dict_sha256(net)
    zeros = nn.Linear(4, 2)
    with torch.no_grad():
        zeros.weight.zero_()
        zeros.bias.zero_()
    single = state_dict_sha256(zeros)
    zeros.to(torch.float64)  # zero bytes all the same: the dtype must make the difference
    assert state_dict_sha256(zeros) != single


def test_weights_member_is_case_insensitive():
    enum = torchvision.models.VGG16_Weights
    for spec in ("DEFAULT", "default", " Default ", "vgg16_weights.default"):
        assert weights_member("vgg16", spec) is enum.DEFAULT
    for spec in ("IMAGENET1K_V1", "imagenet1k_v1", "VGG16_Weights.IMAGENET1K_V1", "vgg16_weights.imagenet1k_v1"):
        assert weights_member("vgg16", spec) is enum.IMAGENET1K_V1
    assert weights_member("vgg16", "imagenet1k_features") is enum.IMAGENET1K_FEATURES
    for spec in ("IMAGENET2K", "ResNet50_Weights.IMAGENET1K_V1", "ckpt/vgg16.pth", "none"):
        assert weights_member("vgg16", spec) is None


def test_default_weights_offline_names_file_and_folder(torch_home, no_network):
    with pytest.raises(PsychofaceError) as info:
        build_model("mobilenet_v2", weights="DEFAULT")
    message = str(info.value)
    assert "mobilenet_v2-7ebf99e0.pth" in message  # DEFAULT of mobilenet_v2 is IMAGENET1K_V2
    assert str(torch_home / "hub" / "checkpoints") in message and "--weights PATH" in message
    assert "\n" not in message


@pytest.mark.skipif(not MOBILENET_FILE.is_file(), reason="../shared/weights/mobilenet_v2-b0353104.pth is absent")
def test_torchvision_weights_from_cache(torch_home, no_network):
    checkpoints = torch_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    os.symlink(MOBILENET_FILE, checkpoints / MOBILENET_FILE.name)
    loaded = build_model("mobilenet_v2", weights="IMAGENET1K_V1")
    assert loaded.weights_hash == MOBILENET_SHA256
    assert loaded.weights_description == "torchvision IMAGENET1K_V1: MobileNet_V2_Weights.IMAGENET1K_V1"
    assert loaded.preprocessing["resize"] == 256  # the V1 transforms, not DEFAULT's (232)
    reference = torch.load(MOBILENET_FILE, weights_only=True)
    for key, value in reference.items():
        assert torch.equal(loaded.model.state_dict()[key], value)


def test_checkpoint_path_and_wrappers(tmp_path):
    torch.manual_seed(11)
    state = torchvision.models.resnet18().state_dict()
    variants = {
        "plain.pt": state,
        "wrapped.pt": {"state_dict": state, "epoch": 3},
        "model.pt": {"model": state},
        "parallel.pt": {f"module.{k}": v for k, v in state.items()},
    }
    for name, obj in variants.items():
        torch.save(obj, tmp_path / name)
        loaded = build_model("resnet18", weights=str(tmp_path / name))
        assert torch.equal(loaded.model.fc.weight, state["fc.weight"]), name
        assert loaded.weights_hash == sha256_file(tmp_path / name)
        assert loaded.weights_description == f"checkpoint {tmp_path / name}"
        assert loaded.preprocessing["source"] == "ResNet18_Weights.IMAGENET1K_V1 transforms()"


def test_fine_tuned_head_is_loaded_with_its_outputs(tmp_path):
    torch.manual_seed(0)
    state = torchvision.models.resnet18(num_classes=40).state_dict()
    torch.save(state, tmp_path / "tuned.pt")
    loaded = build_model("resnet18", weights=tmp_path / "tuned.pt")
    assert loaded.model.fc.out_features == 40 and loaded.weights_description.endswith("(40 outputs)")
    assert torch.equal(loaded.model.fc.bias, state["fc.bias"])


def test_mismatching_checkpoint_is_refused(tmp_path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pt")
    with pytest.raises(PsychofaceError, match=r"r18.pt: checkpoint does not fit resnet34: \d+ missing keys"):
        build_model("resnet34", weights=tmp_path / "r18.pt")
    state = torchvision.models.resnet18().state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    torch.save(state, tmp_path / "bad_shape.pt")
    with pytest.raises(PsychofaceError, match=r"1 shape mismatches \(e.g. layer1.0.conv1.weight"):
        build_model("resnet18", weights=tmp_path / "bad_shape.pt")


class _Payload:
    """Not a tensor: torch.load(weights_only=True) must refuse to unpickle it."""


def test_untrusted_or_broken_files_are_refused(tmp_path):
    torch.save({"fc.weight": _Payload()}, tmp_path / "pickle.pt")
    with pytest.raises(PsychofaceError, match=r"pickle.pt: cannot be loaded .*weights_only=True"):
        build_model("resnet18", weights=tmp_path / "pickle.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(PsychofaceError, match=r"text.pt: cannot be loaded"):
        build_model("resnet18", weights=tmp_path / "text.pt")
    torch.save({"epoch": torch.tensor(3), "note": "x"}, tmp_path / "nodict.pt")
    with pytest.raises(PsychofaceError, match=r"nodict.pt: not a state_dict"):
        build_model("resnet18", weights=tmp_path / "nodict.pt")


def test_unknown_weights_spec_lists_choices():
    with pytest.raises(PsychofaceError, match=r"weights 'IMAGENET2K' for resnet50: .*DEFAULT, IMAGENET1K_V1, "
                                              r"IMAGENET1K_V2, none"):
        build_model("resnet50", weights="IMAGENET2K")


def test_resolve_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if expected == "cpu" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto").type == expected
    assert resolve_device("CPU") == torch.device("cpu")
    with pytest.raises(PsychofaceError, match="device 'gpu0' is not a torch device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(PsychofaceError, match="CUDA is not available"):
            resolve_device("cuda")


# --- layers -----------------------------------------------------------------------------------

def _types(net, aliases):
    modules = dict(net.named_modules())
    return {alias: type(modules[name]) for alias, name in aliases.items()}


def test_vgg16_aliases():
    net = _meta_model("vgg16")
    aliases = layer_aliases(net)
    assert aliases["conv1_1"] == "features.1" and aliases["conv1_2"] == "features.3"
    assert aliases["conv5_3"] == aliases["conv5"] == "features.29"
    assert aliases["pool1"] == "features.4" and aliases["pool5"] == "features.30"
    assert (aliases["fc6"], aliases["fc7"], aliases["fc8"]) == ("classifier.1", "classifier.4", "classifier.6")
    assert aliases["logits"] == "classifier.6"
    assert sum(a.startswith("conv") and "_" in a for a in aliases) == 13
    types = _types(net, aliases)
    assert all(types[a] is nn.ReLU for a in aliases if a.startswith("conv") or a in ("fc6", "fc7"))
    assert all(types[a] is nn.MaxPool2d for a in aliases if a.startswith("pool"))


def test_vgg_bn_aliases_point_past_batch_norm():
    net = _meta_model("vgg16_bn")
    aliases = layer_aliases(net)
    assert aliases["conv1_1"] == "features.2" and aliases["conv5"] == "features.42"
    assert all(t is nn.ReLU for a, t in _types(net, aliases).items() if a.startswith("conv"))
    assert [a for a in layer_aliases(_meta_model("vgg11")) if a.startswith("conv")] == [
        "conv1_1", "conv1", "conv2_1", "conv2", "conv3_1", "conv3_2", "conv3", "conv4_1", "conv4_2", "conv4",
        "conv5_1", "conv5_2", "conv5"]


def test_alexnet_resnet_mobilenet_aliases():
    alex = layer_aliases(_meta_model("alexnet"))
    assert alex == {"conv1": "features.1", "pool1": "features.2", "conv2": "features.4", "pool2": "features.5",
                    "conv3": "features.7", "conv4": "features.9", "conv5": "features.11", "pool5": "features.12",
                    "fc6": "classifier.2", "fc7": "classifier.5", "fc8": "classifier.6", "logits": "classifier.6"}
    res = layer_aliases(_meta_model("resnet18"))
    assert res == {"conv1": "relu", "pool1": "maxpool", "conv2": "layer1", "conv3": "layer2", "conv4": "layer3",
                   "conv5": "layer4", "pool5": "avgpool", "fc": "fc", "logits": "fc"}
    mob = layer_aliases(_meta_model("mobilenet_v2"))
    assert mob["stem"] == "features.0" and mob["block1"] == "features.1" and mob["block17"] == "features.17"
    assert "block18" not in mob and mob["conv_last"] == "features.18"
    assert (mob["pool"], mob["logits"]) == ("classifier.0", "classifier.1")


@pytest.mark.parametrize("name", [
    "vgg19_bn", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v3_small", "efficientnet_b0",
    "efficientnet_v2_s", "densenet121", "convnext_tiny", "regnet_x_400mf", "squeezenet1_1",
    "shufflenet_v2_x0_5", "googlenet", "inception_v3", "vit_b_32", "swin_t"])
def test_every_family_has_valid_aliases_and_logits(name):
    net = _meta_model(name)
    modules = dict(net.named_modules())
    aliases = layer_aliases(net)
    assert "logits" in aliases
    assert all(module in modules for module in aliases.values())


def test_inception_shufflenet_mnasnet_squeezenet_aliases():
    goog = layer_aliases(_meta_model("googlenet"))
    assert list(goog) == ["conv1", "pool1", "conv2", "conv3", "pool2", "inception3a", "inception3b", "pool3",
                          "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "pool4",
                          "inception5a", "inception5b", "pool", "logits"]
    assert (goog["pool1"], goog["pool"], goog["logits"]) == ("maxpool1", "avgpool", "fc")
    inc = layer_aliases(_meta_model("inception_v3"))
    assert (inc["conv1a"], inc["conv4a"], inc["pool2"]) == ("Conv2d_1a_3x3", "Conv2d_4a_3x3", "maxpool2")
    assert [a for a in inc if a.startswith("mixed")] == [
        "mixed5b", "mixed5c", "mixed5d", "mixed6a", "mixed6b", "mixed6c", "mixed6d", "mixed6e", "mixed7a",
        "mixed7b", "mixed7c"]
    assert "AuxLogits" not in inc.values() and inc["logits"] == "fc"
    assert layer_aliases(_meta_model("shufflenet_v2_x1_0")) == {
        "conv1": "conv1", "pool1": "maxpool", "stage2": "stage2", "stage3": "stage3", "stage4": "stage4",
        "conv5": "conv5", "logits": "fc"}
    net = _meta_model("mnasnet1_0")
    mnas = layer_aliases(net)
    assert mnas == {"stem": "layers.2", "sepconv": "layers.7", "stage1": "layers.8", "stage2": "layers.9",
                    "stage3": "layers.10", "stage4": "layers.11", "stage5": "layers.12", "stage6": "layers.13",
                    "conv_last": "layers.16", "logits": "classifier.1"}
    types = _types(net, mnas)
    assert types["stem"] is types["conv_last"] is nn.ReLU and types["sepconv"] is nn.BatchNorm2d
    sq10, sq11 = layer_aliases(_meta_model("squeezenet1_0")), layer_aliases(_meta_model("squeezenet1_1"))
    assert [a for a in sq10 if a.startswith("pool")] == ["pool1", "pool4", "pool8"]  # Caffe's names
    assert [a for a in sq11 if a.startswith("pool")] == ["pool1", "pool3", "pool5"]
    for aliases in (sq10, sq11):
        assert [a for a in aliases if a.startswith("fire")] == [f"fire{i}" for i in range(2, 10)]
        assert (aliases["conv1"], aliases["fire9"], aliases["conv10"], aliases["logits"]) == (
            "features.1", "features.12", "classifier.2", "classifier")
    assert _types(_meta_model("squeezenet1_0"), sq10)["pool8"] is nn.MaxPool2d


def test_transformer_aliases_and_channels_last_layout():
    vit = layer_aliases(_meta_model("vit_b_16"))
    assert list(vit) == ["patch_embed"] + [f"block{i}" for i in range(1, 13)] + ["norm", "logits"]
    assert (vit["block12"], vit["norm"], vit["logits"]) == ("encoder.layers.encoder_layer_11", "encoder.ln",
                                                            "heads.head")
    assert channels_last_modules(_meta_model("vit_b_16")) == set()
    for name in ("swin_t", "swin_v2_t"):
        net = _meta_model(name)
        swin = layer_aliases(net)
        assert swin == {"stem": "features.0", "stage1": "features.1", "stage2": "features.3", "stage3": "features.5",
                        "stage4": "features.7", "norm": "norm", "pool": "avgpool", "logits": "head"}
        last = channels_last_modules(net)
        assert {"features.0", "features.1", "features.2", "features.7", "norm", "features.0.1"} <= last
        assert not {"features.0.0", "permute", "avgpool", "head"} & last
    convnext = channels_last_modules(_meta_model("convnext_tiny"))
    assert {"features.1.0.block.1", "features.1.0.block.2", "features.1.0.block.5"} <= convnext
    assert not {"features.1", "features.1.0", "features.1.0.block", "features.1.0.block.0",
                "features.1.0.block.6", "avgpool"} & convnext
    assert channels_last_modules(_meta_model("resnet18")) == set()


@pytest.mark.parametrize("name", [
    "vgg11", "vgg16", "vgg19_bn", "alexnet", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "mobilenet_v2",
    "mobilenet_v3_large", "efficientnet_b0", "efficientnet_v2_s", "densenet121", "convnext_tiny", "regnet_y_400mf",
    "googlenet", "inception_v3", "shufflenet_v2_x1_0", "mnasnet1_0", "squeezenet1_0", "squeezenet1_1", "vit_b_16",
    "vit_l_32", "swin_t", "swin_v2_t"])
def test_every_alias_runs_once_and_outputs_a_tensor(name):
    """What extraction needs of a module, from a dry pass at the DEFAULT weights' crop size (cheap for any
    model; test_extract.py extracts every alias of the smallest model of each family for real)."""
    net = _meta_model(name)
    crop = torchvision.models.get_model_weights(name).DEFAULT.transforms().crop_size[0]
    traces = {t.name: t for t in trace_modules(net, crop)}
    for alias, module in layer_aliases(net).items():
        assert module in traces and traces[module].extractable, (alias, module)


def test_resolve_layers_aliases_raw_names_and_errors():
    net = _meta_model("vgg16")
    assert resolve_layers(net, ["fc7", "features.28", "conv5", "fc7"]) == [
        ("fc7", "classifier.4"), ("features.28", "features.28"), ("conv5", "features.29")]
    assert resolve_layers(net, "pool5") == [("pool5", "features.30")]
    with pytest.raises(PsychofaceError) as info:
        resolve_layers(net, ["conv5_4"])
    message = str(info.value)
    assert "unknown layer 'conv5_4' for VGG" in message and "did you mean conv5_3" in message
    assert "aliases are conv1_1, conv1_2, conv1, pool1" in message and "\n" not in message


def test_trace_shapes_and_reused_modules():
    torch.manual_seed(0)
    net = torchvision.models.resnet18().eval()
    traces = {t.name: t for t in trace_modules(net, 224)}
    assert traces["layer4"].shape == (512, 7, 7) and traces["avgpool"].shape == (512, 1, 1)
    assert traces["fc"].shape == (1000,) and traces["relu"].calls == 1
    assert traces["layer1.0.relu"].calls == 2 and not traces["layer1.0.relu"].extractable
    orders = [traces[n].order for n in ("conv1", "relu", "maxpool", "layer1", "layer4", "avgpool", "fc")]
    assert orders == sorted(orders)


class _ValueDependent(nn.Module):
    """A forward that needs real values (a data-dependent branch): the meta pass must fall back."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = self.conv(x)
        if h.sum() > 1e9:
            h = h * 0
        return self.head(h.mean(dim=(2, 3)))


def test_meta_trace_matches_real_pass_and_falls_back():
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small().eval()
    real = {}

    def record(name):
        def hook(module, inputs, output):
            real.setdefault(name, tuple(output.shape[1:]))
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in net.named_modules() if n]
    with torch.inference_mode():
        net(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    traced = trace_modules(net, 224)
    assert {t.name: t.shape for t in traced} == real
    assert [t.name for t in traced] == list(real)  # completion order
    fallback = {t.name: t.shape for t in trace_modules(_ValueDependent(), 16)}
    assert fallback == {"conv": (4, 14, 14), "head": (2,)}


def test_list_layers_alexnet():
    df = list_layers("alexnet")
    assert list(df.columns) == ["alias", "module", "type", "shape", "n_features"]
    row = df.set_index("module").loc["features.1"]
    assert (row["alias"], row["type"], row["shape"], row["n_features"]) == ("conv1", "ReLU", (64, 55, 55), 193600)
    assert df.set_index("module").loc["classifier.6", "alias"] == "fc8, logits"
    assert list(df["module"]).index("features.0") < list(df["module"]).index("classifier.6")
    assert df.attrs["psychoface"]["weights"] == "random init, seed 0"


def test_list_layers_leaves_out_reused_modules():
    df = list_layers("resnet18")
    assert "layer1.0.relu" not in set(df["module"])
    aliased = df[df["alias"] != ""].set_index("alias")
    assert aliased.loc["conv5", "shape"] == (512, 7, 7) and aliased.loc["fc, logits", "n_features"] == 1000
