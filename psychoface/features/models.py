"""Build a torchvision classification network with known weights and preprocessing.

``build_model(name, weights, seed, device)`` accepts any classification model that
``torchvision.models.list_models(module=torchvision.models)`` names, with weights from one of three
sources, each recorded so that a feature store can refuse to mix them:

* ``"DEFAULT"`` or a weights enum name (``"IMAGENET1K_V1"``, ``"VGG16_Weights.IMAGENET1K_V1"``; case
  does not matter): torchvision's own loader, which looks for the checkpoint in
  ``$TORCH_HOME/hub/checkpoints`` before downloading it; the SHA-256 of that file is recorded.
* a path to a local checkpoint (a ``state_dict``, or a dict holding one under ``"state_dict"`` or
  ``"model"``), loaded with ``torch.load(..., weights_only=True)`` so that an untrusted file cannot
  run code; its SHA-256 is recorded. A checkpoint whose only difference from the architecture is
  the number of classes of the final linear layer (a network fine-tuned to predict, say, 40
  attributes) is loaded into a model built with that number of outputs.
* ``"none"``: random initialisation after ``torch.manual_seed(seed)`` on the CPU, deterministic for a
  given torch version; recorded as ``"random init, seed N"`` together with the SHA-256 of the
  initialised ``state_dict`` (:func:`state_dict_sha256`), because a torch release may change the
  initialisation code and so draw a different network from the same seed.

Images are preprocessed exactly as the weights' own ``transforms()`` prescribe (resize, centre
crop, scale to [0, 1], normalise); checkpoints and random weights use the transforms of the
architecture's DEFAULT weights, which torchvision defines without a download.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
import torchvision

from psychoface.errors import PsychofaceError
from psychoface.provenance import sha256_file


@dataclass
class LoadedModel:
    """A network ready for feature extraction, with everything a store must record about it."""

    model: torch.nn.Module
    name: str
    weights: str
    weights_hash: str | None
    weights_description: str
    transform: Callable
    preprocessing: dict
    device: torch.device
    seed: int


def available_models() -> list[str]:
    """Names of the torchvision classification models that :func:`build_model` accepts."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; other names are checked for availability."""
    if isinstance(device, torch.device):
        return device
    spec = str(device).strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise PsychofaceError(
            f"device '{device}' is not a torch device; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise PsychofaceError(f"device '{device}': CUDA is not available here; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise PsychofaceError(f"device '{device}': Apple MPS is not available here; use --device cpu or auto")
    return dev


def build_model(name: str, weights: str | os.PathLike = "DEFAULT", seed: int = 0,
                device: str | torch.device = "cpu") -> LoadedModel:
    """Build torchvision model ``name`` with ``weights`` ("DEFAULT", an enum name, a path or "none").

    The model is returned in eval mode on ``device`` ("auto" resolves CUDA > MPS > CPU), with its
    preprocessing transform and a description of it (``resize``, ``crop``, ``mean``, ``std``,
    ``interpolation``, ``antialias``) read from the torchvision weights' ``transforms()``.
    """
    name = _check_name(name)
    dev = resolve_device(device)
    enum = torchvision.models.get_model_weights(name)
    kind, value = parse_weights(name, weights)
    if kind == "torchvision":
        model, weights_hash = _load_torchvision(name, value)
        spec = "DEFAULT" if str(weights).strip().upper() == "DEFAULT" else value.name
        description = f"torchvision {spec}: {value}"
        transform_weights = value
    elif kind == "checkpoint":
        model, description = _load_checkpoint(name, value)
        spec = str(weights)
        weights_hash = sha256_file(value)
        transform_weights = enum.DEFAULT
    else:
        torch.manual_seed(seed)
        model = torchvision.models.get_model(name, weights=None)
        spec, weights_hash, description = "none", state_dict_sha256(model), f"random init, seed {seed}"
        transform_weights = enum.DEFAULT
    transform = transform_weights.transforms()
    model.eval().to(dev)
    return LoadedModel(model=model, name=name, weights=spec, weights_hash=weights_hash,
                       weights_description=description, transform=transform,
                       preprocessing=describe_transform(transform, str(transform_weights)),
                       device=dev, seed=seed)


def state_dict_sha256(model: torch.nn.Module) -> str:
    """SHA-256 over a model's ``state_dict``: for each entry in sorted key order, the key, the dtype,
    the shape and the tensor's bytes (C order, native byte order). Equal digests mean bitwise equal
    parameters and buffers."""
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def weights_member(name: str, weights):
    """The torchvision weights enum member that ``weights`` names for model ``name`` ("DEFAULT",
    "IMAGENET1K_V1", "VGG16_Weights.IMAGENET1K_V1", in any case), or None when it names none."""
    enum = torchvision.models.get_model_weights(name)
    spec = str(weights).strip().upper()
    prefix = f"{enum.__name__.upper()}."
    if spec.startswith(prefix):
        spec = spec[len(prefix):]
    if spec == "DEFAULT":
        return enum.DEFAULT
    return next((m for m in enum if m.name.upper() == spec), None)


def weights_names(name: str) -> list[str]:
    """The weights names :func:`build_model` accepts for model ``name`` besides checkpoint paths."""
    return ["DEFAULT", *(m.name for m in torchvision.models.get_model_weights(name)), "none"]


def describe_transform(transform, source: str) -> dict:
    """The preprocessing of a torchvision ``ImageClassification`` transform as a JSON-ready dict."""
    def scalar(v):
        v = list(v)
        return v[0] if len(v) == 1 else v

    interpolation = getattr(transform, "interpolation", None)
    return {
        "source": f"{source} transforms()",
        "resize": scalar(transform.resize_size),
        "crop": scalar(transform.crop_size),
        "mean": [float(x) for x in transform.mean],
        "std": [float(x) for x in transform.std],
        "interpolation": getattr(interpolation, "value", str(interpolation)),
        "antialias": bool(getattr(transform, "antialias", True)),
    }


def _check_name(name: str) -> str:
    models = available_models()
    if name in models:
        return name
    lowered = str(name).strip().lower()
    if lowered in models:
        return lowered
    close = difflib.get_close_matches(lowered, models, n=4, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"choose one of {', '.join(models)}"
    raise PsychofaceError(f"unknown model '{name}': not a torchvision classification model; {hint}")


def parse_weights(name, weights, root=None):
    """Classify a weights spec of model ``name`` as ("torchvision", enum member), ("checkpoint", Path) or
    ("none", None). ``none`` and torchvision weights names (``DEFAULT``, ``IMAGENET1K_V1``,
    ``VGG16_Weights.IMAGENET1K_V1``) are accepted in any case; anything else must be an existing
    checkpoint file, a relative path resolved against ``root`` (the study folder) when given."""
    if isinstance(weights, os.PathLike):
        return "checkpoint", _existing_file(name, weights, root)
    spec = str(weights).strip()
    if spec.lower() == "none":
        return "none", None
    member = weights_member(name, spec)
    if member is not None:
        return "torchvision", member
    return "checkpoint", _existing_file(name, spec, root)


def _existing_file(name, spec, root=None) -> Path:
    path = Path(spec).expanduser()
    if root is not None and not path.is_absolute():
        path = Path(root) / path
    if path.is_file():
        return path
    choices = ", ".join(weights_names(name))
    raise PsychofaceError(
        f"weights '{spec}' for {name}: neither a torchvision weights name nor an existing checkpoint file "
        f"({path}); use one of {choices}, or a checkpoint path")


def _load_torchvision(name, member):
    url = member.url
    filename = os.path.basename(urlparse(url).path)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    cached = folder / filename
    try:
        model = torchvision.models.get_model(name, weights=member, progress=False)
    except Exception as exc:  # torchvision raises URLError, HTTPError, RuntimeError, ...
        if cached.is_file():
            raise PsychofaceError(
                f"{cached}: cached checkpoint for {member} cannot be loaded ({_first_line(exc)}); "
                "delete it to download it again, or pass --weights PATH") from None
        raise PsychofaceError(
            f"weights {member} for {name} could not be downloaded from {url} ({_first_line(exc)}); "
            f"put the file {filename} into {folder} (or set TORCH_HOME), or pass --weights PATH "
            "to a local checkpoint") from None
    return model, sha256_file(cached) if cached.is_file() else None


def _load_checkpoint(name, path: Path):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and format errors all mean "not a loadable checkpoint"
        raise PsychofaceError(
            f"{path}: cannot be loaded as a PyTorch checkpoint with weights_only=True "
            f"({_first_line(exc)}); save it with torch.save(model.state_dict(), PATH)") from None
    state = _state_dict(path, obj)
    model = torchvision.models.get_model(name, weights=None)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    description = f"checkpoint {path}"
    if not missing and not unexpected and wrong:
        num_classes = _fine_tuned_classes(model, state, wrong)
        if num_classes is not None:
            model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
            expected = model.state_dict()
            wrong = []
            description += f" ({num_classes} outputs)"
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys ({_some(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys ({_some(unexpected)})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} shape mismatches (e.g. {k}: {tuple(state[k].shape)} in the file, "
                         f"{tuple(expected[k].shape)} in {name})")
        raise PsychofaceError(
            f"{path}: checkpoint does not fit {name}: {'; '.join(parts)}; "
            "pass the --model the checkpoint was trained as")
    model.load_state_dict(state, strict=False)
    return model, description


def _state_dict(path, obj) -> dict:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PsychofaceError(
            f"{path}: not a state_dict (a dict of tensors, or one under 'state_dict' or 'model'); "
            "save it with torch.save(model.state_dict(), PATH)")
    if all(k.startswith("module.") for k in obj):  # saved from nn.DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _fine_tuned_classes(model, state, wrong) -> int | None:
    """Output count of a checkpoint that differs from ``model`` only in its last linear layer."""
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        return None
    last = linears[-1]
    if set(wrong) - {f"{last}.weight", f"{last}.bias"}:
        return None
    weight = state.get(f"{last}.weight")
    if weight is None or weight.ndim != 2 or weight.shape[1] != model.get_submodule(last).in_features:
        return None
    return int(weight.shape[0])


def _some(keys, k=3) -> str:
    return ", ".join(keys[:k]) + (", ..." if len(keys) > k else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
