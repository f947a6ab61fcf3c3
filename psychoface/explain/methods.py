"""Attribution methods for a :class:`~psychoface.explain.readout.ReadoutModel`, batched, as signed pixel maps.

Every method returns one signed map per image, ``(B, H, W)`` float32 at the network's input resolution, in
units of the explained output (the predicted rating minus the intercept):

* ``gradcam`` (default): Grad-CAM (Selvaraju et al., 2017) at the explained layer, captum's ``LayerGradCam``
  without its ReLU (signed, so that regions lowering the rating show), bilinearly upsampled to the input.
* ``cam``: readout contributions, the class activation map (CAM; Zhou et al., 2016) of the explained readout:
  each position's exact share of the prediction, ``sum_k dF/dA_k (A_k - R_k)`` over the layer's channels ``k``
  at that position, where ``R`` is the layer activation of the training faces' mean features (the point where
  the readout predicts the mean rating). The readout is linear in the layer, so the map sums to the predicted
  rating minus the intercept; bilinearly upsampled to the input as a density (the sum is kept). Unlike
  Grad-CAM, which averages the gradient over positions, it keeps the readout's own spatial weights: the right
  map for a readout of an unpooled layer.
* ``ig``: Integrated Gradients (Sundararajan et al., 2017) from the grey baseline (the normalised input 0, the
  training set's mean colour), ``n_steps`` Gauss-Legendre steps, summed over colour channels; complete:
  the map sums to ``f(x) - f(baseline)``. Images of a batch share the forward passes, ``internal_batch_size``
  inputs (images x steps) per pass.
* ``gradshap``: GradientSHAP (Lundberg & Lee, 2017): expected gradients x (input - baseline) over the grey
  baseline with Gaussian noise (``n_samples`` draws, SD ``stdev`` of the input range).
* ``smoothgrad``: SmoothGrad (Smilkov et al., 2017): the signed gradient averaged over ``n_samples`` noisy
  copies (captum's ``NoiseTunnel`` over ``Saliency(abs=False)``), times the input (gradient x input).
* ``occlusion``: Occlusion (Zeiler & Fergus, 2014): the output drop when a ``window`` square patch is greyed,
  averaged over the patches covering a pixel, divided by the patch area (a density).
* ``regions``: region ablation, captum's ``FeatureAblation`` with a mask of face regions: the drop of the
  predicted rating when one region is greyed out, spread evenly over the region's pixels (the map summed
  over a region is that region's drop).
* ``lrp``: Layer-wise Relevance Propagation (Bach et al., 2015) with zennit's ``EpsilonPlusFlat`` composite
  and its VGG or ResNet canonizer (Anders et al., 2021), starting from the output value.
* ``guided_gradcam``: Guided Grad-CAM (captum's ``GuidedGradCam``, signed). Available because the source
  studies used it, but it fails the model-randomisation sanity check (Adebayo et al., 2018): its maps look
  alike for trained and randomised networks. Marked so in :data:`METHODS` and in the report.

Inputs and network run in channels-last memory format (oneDNN's fast path on CPUs: forward plus backward of
MobileNetV2 1.5x and VGG16 1.25x faster than contiguous on the 2-core benchmark machine); the maps are the same.

The random draws of ``gradshap`` and ``smoothgrad`` come from torch's global generator, seeded with ``seed`` per
call (captum draws from it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from psychoface.errors import PsychofaceError


IG_INPUTS_PER_PASS = 8
"""Inputs per forward pass inside IG. On CPUs the cost per input grows with the batch (activations outgrow the
cache): MobileNetV2 forward plus backward costs 11.7 ms per input at 8 and 29.0 ms at 32 on the benchmark
machine, so passes of 8 beat captum's one call per image (its 32 steps in one pass)."""


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    citation: str
    complete: bool          # attributions sum to f(x) - f(baseline)
    passes_sanity: bool     # known to pass the model-randomisation check (Adebayo et al., 2018)
    needs_regions: bool = False
    needs_spatial_layer: bool = False


METHODS = {m.name: m for m in (
    Method("gradcam", "Grad-CAM", "selvaraju2017", False, True, needs_spatial_layer=True),
    Method("cam", "readout contributions (CAM)", "zhou2016", True, True, needs_spatial_layer=True),
    Method("ig", "Integrated Gradients", "sundararajan2017", True, True),
    Method("gradshap", "GradientSHAP", "lundberg2017", False, True),
    Method("smoothgrad", "SmoothGrad", "smilkov2017", False, True),
    Method("occlusion", "Occlusion", "zeiler2014", False, True),
    Method("regions", "region ablation", "zeiler2014", False, True, needs_regions=True),
    Method("lrp", "LRP (epsilon-plus-flat)", "bach2015", False, True),
    Method("guided_gradcam", "Guided Grad-CAM", "selvaraju2017", False, False, needs_spatial_layer=True),
)}


def check_method(name: str, network) -> Method:
    """The method called ``name``, or one line saying why this network cannot use it."""
    import torchvision.models as tvm

    key = str(name).strip().lower().replace("-", "_")
    if key not in METHODS:
        raise PsychofaceError(f"unknown explanation method {name!r}: use one of {', '.join(METHODS)}")
    if key == "lrp" and not isinstance(network, (tvm.VGG, tvm.ResNet)):
        raise PsychofaceError(
            f"method lrp: not available for {type(network).__name__}; zennit has canonizers for VGG and ResNet "
            "only (none for MobileNetV2's residual blocks) and captum's LRP fails on ReLU6 and Flatten; use "
            "--method gradcam, ig or regions")
    return METHODS[key]


def attribute(model, images: torch.Tensor, method: str, *, region_masks: torch.Tensor | None = None,
              n_steps: int = 32, n_samples: int = 16, stdev: float = 0.15, window: int = 32,
              internal_batch_size: int = IG_INPUTS_PER_PASS, seed: int = 0) -> np.ndarray:
    """Signed pixel maps ``(B, H, W)`` of ``model``'s output for a batch of preprocessed ``images``.

    ``region_masks`` (B, H, W) integer region labels per image, needed by ``regions``. ``n_steps``: IG steps;
    ``n_samples`` and ``stdev`` (a fraction of the input range): GradientSHAP and SmoothGrad noise;
    ``window``: occlusion patch side in pixels (stride half of it); ``internal_batch_size``: inputs (images x
    steps) per forward pass inside IG.
    """
    import captum.attr as ca
    spec = check_method(method, model.net)
    x = images.detach().clone().requires_grad_(False).contiguous(memory_format=torch.channels_last)
    B, _, H, W = x.shape
    if spec.needs_spatial_layer:
        _check_spatial(model, x[:1])
    span = float(x.max() - x.min()) or 1.0
    if spec.name == "gradcam":
        cam = ca.LayerGradCam(model, model.layer).attribute(x, relu_attributions=False)
        out = F.interpolate(cam.float(), size=(H, W), mode="bilinear", align_corners=False)[:, 0]
    elif spec.name == "cam":
        out = _contributions(model, x)
    elif spec.name == "guided_gradcam":
        out = ca.GuidedGradCam(model, model.layer).attribute(x).sum(1)
    elif spec.name == "ig":
        out = _integrated_gradients(model, x, n_steps, internal_batch_size)
    elif spec.name == "gradshap":
        torch.manual_seed(seed)
        out = ca.GradientShap(model).attribute(
            x, baselines=torch.zeros((1, *x.shape[1:])), n_samples=n_samples, stdevs=stdev * span).sum(1)
    elif spec.name == "smoothgrad":
        torch.manual_seed(seed)
        grads = ca.NoiseTunnel(ca.Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=n_samples, stdevs=stdev * span, abs=False)
        out = (grads * x).sum(1)
    elif spec.name == "occlusion":
        stride = max(1, window // 2)
        raw = ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=0.0,
            perturbations_per_eval=8)
        out = raw[:, 0] / float(window * window)
    elif spec.name == "regions":
        out = _region_ablation(model, x, region_masks)
    else:
        out = _lrp(model, x)
    return out.detach().to(torch.float32).cpu().numpy()


def _integrated_gradients(model, x, n_steps, inputs_per_pass):
    """IG of ``x`` in chunks of at most ``inputs_per_pass`` images, each chunk's steps spread over passes of
    ``inputs_per_pass`` inputs (captum needs at least one whole step of a chunk per pass)."""
    import captum.attr as ca

    ig, per_chunk = ca.IntegratedGradients(model), max(1, int(inputs_per_pass))
    chunks = [ig.attribute(x[s:s + per_chunk], baselines=torch.zeros_like(x[s:s + per_chunk]), n_steps=n_steps,
                           internal_batch_size=per_chunk)
              for s in range(0, x.shape[0], per_chunk)]
    return torch.cat(chunks).sum(1)


def _contributions(model, x):
    """Exact per-position contributions of the explained layer to the readout's output, as a density."""
    with torch.no_grad():
        a = model.layer_output(x)
    a = a.detach().to(torch.float64).requires_grad_(True)
    f = model.readout(model.pooling(a))[:, 0]
    grad, = torch.autograd.grad(f.sum(), a)
    channel_axis = -1 if model.pooling.channels_last else 1
    cell = (grad * (a - model.layer_reference(a))).sum(channel_axis)
    H, W = x.shape[2:]
    up = F.interpolate(cell[:, None], size=(H, W), mode="bilinear", align_corners=False)[:, 0]
    return up * (cell.shape[1] * cell.shape[2] / float(H * W))


def _check_spatial(model, x1):
    with torch.no_grad():
        captured = {}
        handle = model.layer.register_forward_hook(lambda m, i, o: captured.setdefault("o", o))
        try:
            model.features(x1)
        finally:
            handle.remove()
    out = captured.get("o")
    if out is None or out.dim() != 4:
        shape = tuple(out.shape[1:]) if out is not None else "no tensor"
        raise PsychofaceError(
            f"method gradcam: layer {model.module_name} outputs {shape}, not a channels x height x width map; "
            "explain a convolutional layer or use --method ig or regions")


def _region_ablation(model, x, masks):
    from captum.attr import FeatureAblation

    if masks is None:
        raise PsychofaceError("method regions: needs face regions; give landmarks (--landmarks) or a mask image")
    masks = torch.as_tensor(masks, dtype=torch.long)
    if masks.shape != (x.shape[0], x.shape[2], x.shape[3]):
        raise PsychofaceError(f"method regions: region masks of shape {tuple(masks.shape)} do not match the images "
                              f"{tuple(x.shape)}")
    n_regions = int(masks.max()) + 1
    delta = FeatureAblation(model).attribute(x, baselines=0.0, feature_mask=masks[:, None],
                                             perturbations_per_eval=n_regions)[:, 0]
    area = torch.zeros((x.shape[0], n_regions), dtype=delta.dtype)
    area.scatter_add_(1, masks.flatten(1), torch.ones_like(masks.flatten(1), dtype=delta.dtype))
    return delta / torch.gather(area, 1, masks.flatten(1)).view_as(delta)


def _lrp(model, x):
    import torchvision.models as tvm

    import zennit.torchvision as canonizers
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    ResNetCanonizer, VGGCanonizer = canonizers.ResNetCanonizer, canonizers.VGGCanonizer

    canonizer = VGGCanonizer() if isinstance(model.net, tvm.VGG) else ResNetCanonizer()
    composite = EpsilonPlusFlat(canonizers=[canonizer])
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, lambda output: output)
    return relevance.sum(1)

