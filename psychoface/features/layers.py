"""Readable layer names per architecture, their module names, and their output shapes.

Aliases (every alias names the *output* of one module; raw names from ``model.named_modules()``
such as ``features.28`` or ``layer4.1.conv2`` always work too):

* VGG (all depths, with and without batch norm), derived by walking ``features``:
  ``conv{b}_{i}`` is the ReLU output after the i-th convolution of block b (post-ReLU activations,
  Caffe naming), ``conv{b}`` the last of them (VGG16 ``conv5`` = ``features.29``, 512 x 14 x 14 =
  100,352 values), ``pool{b}`` the block's max pooling, ``fc6`` / ``fc7`` the ReLU outputs of the
  first two fully connected layers (``classifier.1`` / ``classifier.4``) and ``fc8`` the logits.
* AlexNet: ``conv1`` ... ``conv5`` (post-ReLU), ``pool1``, ``pool2``, ``pool5``, ``fc6``, ``fc7``
  (post-ReLU) and ``fc8`` (logits).
* ResNet, ResNeXt, Wide ResNet: ``conv1`` (stem ReLU), ``pool1`` (stem max pooling), ``conv2`` ...
  ``conv5`` (the outputs of ``layer1`` ... ``layer4``, Caffe naming), ``pool5`` (global average
  pooling) and ``fc`` (logits).
* MobileNetV2: ``stem`` (``features.0``), ``block1`` ... ``block17``, ``conv_last``
  (``features.18``), ``pool`` (the pooled features, output of ``classifier.0``), ``logits``.
* MobileNetV3: ``stem``, ``block1`` ..., ``conv_last``, ``pool``, ``pre_logits`` (the hidden
  Hardswish layer of the classifier), ``logits``.
* EfficientNet (v1 and v2): ``stem``, ``stage1`` ..., ``conv_last``, ``pool``, ``logits``.
* DenseNet: ``conv1`` (stem ReLU), ``pool1``, ``block1`` ... ``block4``, ``transition1`` ...
  ``transition3``, ``norm5`` (batch norm before the final ReLU and pooling, which are functional
  and have no module), ``logits``.
* ConvNeXt: ``stem``, ``stage1`` ... ``stage4``, ``pool``, ``pre_logits`` (pooled and
  layer-normalised), ``logits``.
* RegNet: ``stem``, ``block1`` ... ``block4``, ``pool``, ``logits``.
* GoogLeNet: ``conv1`` ... ``conv3`` (each a convolution, batch norm and ReLU), ``pool1`` ... ``pool4``
  (``maxpool1`` ...), ``inception3a`` ... ``inception5b``, ``pool`` (global average pooling),
  ``logits``. The auxiliary classifiers do not run in eval mode.
* Inception v3: ``conv1a``, ``conv2a``, ``conv2b``, ``pool1``, ``conv3b``, ``conv4a``, ``pool2``
  (torchvision's ``Conv2d_1a_3x3`` ... ``maxpool2``), ``mixed5b`` ... ``mixed7c`` (``Mixed_5b`` ...),
  ``pool``, ``logits``.
* ShuffleNetV2: ``conv1`` (post-ReLU), ``pool1``, ``stage2`` ... ``stage4``, ``conv5`` (post-ReLU),
  ``logits`` (the global pooling before it is functional).
* MNASNet: ``stem`` (ReLU after the first convolution), ``sepconv`` (the stem's depthwise-separable
  convolution, ``layers.7``), ``stage1`` ... ``stage6`` (the stacks of inverted residual blocks),
  ``conv_last`` (ReLU after the last 1 x 1 convolution), ``logits``.
* SqueezeNet (1.0 and 1.1; Caffe naming): ``conv1`` (post-ReLU), ``fire2`` ... ``fire9``, the max
  poolings named after the layer before them (1.0: ``pool1``, ``pool4``, ``pool8``; 1.1: ``pool1``,
  ``pool3``, ``pool5``), ``conv10`` (ReLU after the final 1 x 1 convolution) and ``logits`` (its
  global average pooling: SqueezeNet has no linear layer).
* Vision Transformer: ``patch_embed`` (the patch projection, channels x grid), ``block1`` ...
  ``blockN`` (encoder layers; tokens x width, class token first), ``norm`` (the final layer norm,
  all tokens), ``logits``. The class-token read-out is functional and has no module.
* Swin Transformer (v1 and v2): ``stem`` (patch embedding), ``stage1`` ... ``stage4``, ``norm``,
  ``pool``, ``logits``. ``stem`` to ``norm`` output channels-last (height x width x channels), and
  are stored unpooled in that order; ``avg`` / ``max`` pooling reduces height and width as for any
  other layer (see :func:`channels_last_modules`).
* Any other model: ``logits`` = the last ``nn.Linear``.

Convolutional aliases deliberately name post-ReLU activations (what Caffe-era papers call
``conv5_3``); the raw name of the convolution itself gives the pre-activation output.

Shapes come from one dry forward pass with hooks on every module (one image of the weights' crop
size, on the meta device: no arithmetic). Modules that run more than once per forward pass (e.g.
the ReLU inside a ResNet block) have no single output and cannot be extracted; nor can modules
whose output is not a tensor.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import pandas as pd
import torch
import torchvision.models as tvm
from torch import nn
from torch.func import functional_call

from psychoface.errors import PsychofaceError


@dataclass(frozen=True)
class ModuleTrace:
    """What one dry forward pass saw of a module: output shape per image, calls, completion order."""

    name: str
    type: str
    shape: tuple[int, ...] | None
    calls: int
    order: int

    @property
    def extractable(self) -> bool:
        return self.calls == 1 and self.shape is not None


def layer_aliases(model) -> dict[str, str]:
    """Ordered mapping alias -> module name for ``model`` (an ``nn.Module`` or a ``LoadedModel``)."""
    net = _module(model)
    if isinstance(net, tvm.VGG):
        out = _vgg(net)
    elif isinstance(net, tvm.AlexNet):
        out = _alexnet(net)
    elif isinstance(net, tvm.ResNet):
        out = {"conv1": "relu", "pool1": "maxpool", "conv2": "layer1", "conv3": "layer2",
               "conv4": "layer3", "conv5": "layer4", "pool5": "avgpool", "fc": "fc"}
    elif isinstance(net, tvm.MobileNetV2):
        out = _stem_blocks(net.features, "block")
        out.update({"pool": "classifier.0"})
    elif isinstance(net, tvm.MobileNetV3):
        out = _stem_blocks(net.features, "block")
        out.update({"pool": "avgpool", "pre_logits": "classifier.1"})
    elif isinstance(net, tvm.EfficientNet):
        out = _stem_blocks(net.features, "stage")
        out.update({"pool": "avgpool"})
    elif isinstance(net, tvm.DenseNet):
        out = {"conv1": "features.relu0", "pool1": "features.pool0"}
        for name, _ in net.features.named_children():
            for prefix, alias in (("denseblock", "block"), ("transition", "transition")):
                if name.startswith(prefix):
                    out[f"{alias}{name[len(prefix):]}"] = f"features.{name}"
        out["norm5"] = "features.norm5"
    elif isinstance(net, tvm.ConvNeXt):
        out = {"stem": "features.0"}
        out.update({f"stage{i}": f"features.{2 * i - 1}" for i in range(1, len(net.features) // 2 + 1)})
        out.update({"pool": "avgpool", "pre_logits": "classifier.1"})
    elif isinstance(net, tvm.RegNet):
        out = {"stem": "stem"}
        out.update({name: f"trunk_output.{name}" for name, _ in net.trunk_output.named_children()})
        out["pool"] = "avgpool"
    elif isinstance(net, tvm.GoogLeNet):
        out = {}
        for name, child in net.named_children():
            if name.startswith("maxpool"):
                out[f"pool{name[len('maxpool'):]}"] = name
            elif name.startswith(("conv", "inception")):
                out[name] = name
        out["pool"] = "avgpool"
    elif isinstance(net, tvm.Inception3):
        out = {}
        for name, _ in net.named_children():
            if name.startswith("Conv2d_"):  # Conv2d_1a_3x3 -> conv1a
                out[f"conv{name.split('_')[1]}"] = name
            elif name.startswith("maxpool"):
                out[f"pool{name[len('maxpool'):]}"] = name
            elif name.startswith("Mixed_"):
                out[f"mixed{name[len('Mixed_'):]}"] = name
        out["pool"] = "avgpool"
    elif isinstance(net, tvm.ShuffleNetV2):
        out = {"conv1": "conv1", "pool1": "maxpool", "stage2": "stage2", "stage3": "stage3", "stage4": "stage4",
               "conv5": "conv5"}
    elif isinstance(net, tvm.MNASNet):
        n = len(net.layers)  # stem (0-7), six stacks, 1x1 convolution, batch norm, ReLU
        out = {"stem": "layers.2", "sepconv": "layers.7"}
        out.update({f"stage{i}": f"layers.{7 + i}" for i in range(1, n - 10)})
        out["conv_last"] = f"layers.{n - 1}"
    elif isinstance(net, tvm.SqueezeNet):  # no linear layer: a 1x1 convolution, ReLU and pooling
        out = _squeezenet(net)
    elif isinstance(net, tvm.VisionTransformer):
        out = {"patch_embed": "conv_proj"}
        out.update({f"block{i}": f"encoder.layers.{name}"
                    for i, (name, _) in enumerate(net.encoder.layers.named_children(), start=1)})
        out["norm"] = "encoder.ln"
    elif isinstance(net, tvm.SwinTransformer):
        out = {"stem": "features.0"}
        out.update({f"stage{i}": f"features.{2 * i - 1}" for i in range(1, len(net.features) // 2 + 1)})
        out.update({"norm": "norm", "pool": "avgpool"})
    else:
        out = {}
    linears = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    if linears:
        out["logits"] = linears[-1]
    return out


def channels_last_modules(model) -> set[str]:
    """Names of the modules whose 4-D output is channels-last (batch x height x width x channels).

    torchvision's transformer-style networks (Swin, and the inside of ConvNeXt blocks) switch
    layouts with ``Permute`` modules. The layout is followed through the module tree in
    registration order, which is the execution order in these architectures: ``Permute([0, 2, 3,
    1])`` switches to channels-last, ``Permute([0, 3, 1, 2])`` back; a container's output has the
    layout after its last child. Networks without ``Permute`` modules are channels-first throughout.
    """
    from torchvision.ops.misc import Permute

    net = _module(model)
    if not any(isinstance(m, Permute) for m in net.modules()):
        return set()
    out: set[str] = set()
    switch = {(0, 2, 3, 1): True, (0, 3, 1, 2): False}

    def walk(module, prefix, last):
        for name, child in module.named_children():
            if isinstance(child, Permute):
                last = switch.get(tuple(child.dims), last)
            else:
                last = walk(child, f"{prefix}{name}.", last)
            if last:
                out.add(f"{prefix}{name}")
        return last

    walk(net, "", False)
    return out


def resolve_layers(model, names) -> list[tuple[str, str]]:
    """``[(requested_name, module_name), ...]`` for aliases or raw module names, in the order given.

    Repeated names are kept once. An unknown name raises :class:`PsychofaceError` listing the
    architecture's aliases and the closest matches.
    """
    net = _module(model)
    if isinstance(names, str):
        names = [names]
    aliases = layer_aliases(model)
    modules = {n for n, _ in net.named_modules() if n}
    out, seen = [], set()
    for requested in names:
        requested = str(requested).strip()
        if requested in seen:
            continue
        seen.add(requested)
        if requested in aliases:
            out.append((requested, aliases[requested]))
        elif requested in modules:
            out.append((requested, requested))
        else:
            raise PsychofaceError(_unknown_layer(model, requested, aliases, modules))
    if not out:
        raise PsychofaceError("no layers requested; name at least one layer, e.g. --layer logits")
    return out


def trace_modules(model, image_size: int | tuple[int, int] = 224) -> list[ModuleTrace]:
    """Dry forward pass of one image with a hook on every module; traces in completion order.

    The pass runs on the ``meta`` device (``torch.func.functional_call`` with meta parameters): shapes
    propagate without any arithmetic, so it costs milliseconds even for VGG16. A model whose
    forward needs real values falls back to a pass of a zero image on the model's own device.
    """
    net = _module(model)
    h, w = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    try:
        param = next(net.parameters())
        device, dtype = param.device, param.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), torch.float32
    seen: dict[str, dict] = {}

    def hook_for(name, module):
        def hook(_module, _inputs, output):
            entry = seen.setdefault(name, {"type": type(module).__name__, "calls": 0, "order": len(seen)})
            entry["calls"] += 1
            entry["shape"] = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else None
        return hook

    handles = [m.register_forward_hook(hook_for(n, m)) for n, m in net.named_modules() if n]
    was_training = net.training
    try:
        net.eval()
        with torch.inference_mode():
            try:
                meta = {k: torch.empty_like(v, device="meta")
                        for k, v in [*net.named_parameters(), *net.named_buffers()]}
                functional_call(net, meta, (torch.zeros(1, 3, h, w, device="meta", dtype=dtype),))
            except (NotImplementedError, RuntimeError, TypeError, ValueError):
                seen.clear()
                net(torch.zeros(1, 3, h, w, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    traces = [ModuleTrace(n, e["type"], e["shape"], e["calls"], e["order"]) for n, e in seen.items()]
    return sorted(traces, key=lambda t: t.order)


def list_layers(model_name: str, weights: str = "none") -> pd.DataFrame:
    """Extractable layers of ``model_name`` in execution order: alias, module, type, shape, n_features.

    One row per module whose output can be stored (see the module docstring); ``alias`` holds the
    readable names of that module (comma separated, empty when it has none). Shapes are per image,
    from one dry forward pass at the weights' crop size.
    """
    from psychoface.features.models import build_model

    loaded = build_model(model_name, weights=weights, device="cpu")
    by_module: dict[str, list[str]] = {}
    for alias, module in layer_aliases(loaded.model).items():
        by_module.setdefault(module, []).append(alias)
    rows = [
        {"alias": ", ".join(by_module.get(t.name, [])), "module": t.name, "type": t.type,
         "shape": t.shape, "n_features": math.prod(t.shape)}
        for t in trace_modules(loaded.model, _crop(loaded)) if t.extractable
    ]
    df = pd.DataFrame(rows, columns=["alias", "module", "type", "shape", "n_features"])
    df.attrs["psychoface"] = {"analysis": "list_layers", "model": loaded.name,
                              "weights": loaded.weights_description, "input_size": _crop(loaded)}
    return df


def _crop(loaded) -> int | tuple[int, int]:
    crop = loaded.preprocessing["crop"]
    return tuple(crop) if isinstance(crop, list) else int(crop)


def _module(model) -> nn.Module:
    return model.model if hasattr(model, "weights_description") else model


def _vgg(net) -> dict[str, str]:
    out, block, conv, last_relu, pending_conv = {}, 1, 0, None, False
    for idx, layer in net.features.named_children():
        name = f"features.{idx}"
        if isinstance(layer, nn.Conv2d):
            conv += 1
            pending_conv = True
        elif isinstance(layer, nn.ReLU) and pending_conv:
            out[f"conv{block}_{conv}"] = name
            last_relu, pending_conv = name, False
        elif isinstance(layer, nn.MaxPool2d):
            out[f"conv{block}"] = last_relu
            out[f"pool{block}"] = name
            block, conv = block + 1, 0
    if conv:  # a last block without pooling
        out[f"conv{block}"] = last_relu
    out.update(_fc(net.classifier, ("fc6", "fc7"), "fc8"))
    return out


def _alexnet(net) -> dict[str, str]:
    out, conv, pending_conv = {}, 0, False
    for idx, layer in net.features.named_children():
        name = f"features.{idx}"
        if isinstance(layer, nn.Conv2d):
            conv += 1
            pending_conv = True
        elif isinstance(layer, nn.ReLU) and pending_conv:
            out[f"conv{conv}"] = name
            pending_conv = False
        elif isinstance(layer, nn.MaxPool2d):
            out[f"pool{conv}"] = name
    out.update(_fc(net.classifier, ("fc6", "fc7"), "fc8"))
    return out


def _fc(classifier, hidden_names, logits_name) -> dict[str, str]:
    """Hidden fully connected layers (their ReLU outputs) and the final linear layer of a classifier."""
    out, hidden, pending = {}, iter(hidden_names), False
    children = list(classifier.named_children())
    for idx, layer in children:
        if isinstance(layer, nn.Linear):
            pending = True
        elif isinstance(layer, nn.ReLU) and pending:
            name = next(hidden, None)
            if name:
                out[name] = f"classifier.{idx}"
            pending = False
    linears = [idx for idx, layer in children if isinstance(layer, nn.Linear)]
    if linears:
        out[logits_name] = f"classifier.{linears[-1]}"
    return out


def _squeezenet(net) -> dict[str, str]:
    out, previous, fire, pending_conv = {}, 0, 1, False
    for idx, layer in net.features.named_children():
        name = f"features.{idx}"
        if isinstance(layer, nn.Conv2d):
            pending_conv = True
        elif isinstance(layer, nn.ReLU) and pending_conv:
            out["conv1"], previous, pending_conv = name, 1, False
        elif isinstance(layer, tvm.squeezenet.Fire):
            fire += 1
            out[f"fire{fire}"], previous = name, fire
        elif isinstance(layer, nn.MaxPool2d):
            out[f"pool{previous}"] = name
    out.update({"conv10": "classifier.2", "logits": "classifier"})
    return out


def _stem_blocks(features, word) -> dict[str, str]:
    n = len(features)
    out = {"stem": "features.0"}
    out.update({f"{word}{i}": f"features.{i}" for i in range(1, n - 1)})
    out["conv_last"] = f"features.{n - 1}"
    return out


def _unknown_layer(model, requested, aliases, modules) -> str:
    arch = getattr(model, "name", None) or type(_module(model)).__name__
    close = difflib.get_close_matches(requested, list(aliases) + sorted(modules), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    listed = ", ".join(aliases) if aliases else "none"
    return (f"unknown layer '{requested}' for {arch}: {hint}aliases are {listed}; raw module names also "
            f"work (list them with `psychoface layers --model {arch}`)")
