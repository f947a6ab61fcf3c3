"""Run a network once over a set of face images and stream the requested layers into a feature store.

Method: images are decoded (:func:`psychoface.data.images.open_image`) and preprocessed with the
weights' own transform in ``workers`` DataLoader worker processes, overlapping the forward pass of
the previous batch. Each batch goes through the network once, under ``torch.inference_mode()``,
with a forward hook on every requested module; a hook copies (and, on request, spatially pools) its
module's output at once, because in-place ReLUs overwrite a convolution's output later in the pass.
The pass stops right after the deepest requested module (in execution order) by raising a private
exception from its hook, so that unrequested later layers cost nothing.

Speed: the model and each batch are in channels-last memory format (NHWC; oneDNN's and cuDNN's
preferred layout for convolutions); torch's threads are capped at the CPUs this process may use (CPU
affinity and cgroup quota) and recorded in the run; on CUDA, batches come from pinned memory with non-blocking copies.
``precision="bf16"`` (CPUs with bf16 support, and CUDA) or ``"fp16"`` (CUDA) runs the forward pass
under :func:`torch.autocast`, except for fully connected layers applied to one vector per image (CNN
classifier heads such as VGG16's fc6-fc8), which stay in fp32: they are under 1% of VGG16's arithmetic, and
keeping them in fp32 raised fc7's correlation with fp32 features from .999957 to .999966 (500 OMI images,
benchmarks/README.md). Features are stored as float32 either way. Reduced precision is recorded
in the manifest (``precision``), a store never mixes it with fp32 features, and each such run records
its fidelity: per layer, the Pearson correlation of the reduced-precision features with fp32 features
of the same images (an evenly spaced sample of ``fidelity_sample`` of the study's images), the smallest
such correlation of one image, and the largest absolute difference relative to the largest fp32 value.
``torch.compile`` was measured (benchmarks/README.md) and is not used: on a first run its compilation
costs more than it saves.

Rows go to disk batch by batch and are made durable every ``chunk_size`` rows (see
:mod:`psychoface.features.store`); an interrupted or failed extraction keeps its completed rows, and
calling :func:`extract` again with the same arguments resumes after them. Batches always start at
multiples of ``batch_size``, so a resumed extraction with the same ``batch_size`` (on the same device,
thread count and library versions) is bitwise identical to an uninterrupted one. No image's features
depend on the other images of its batch (batch norm uses its stored statistics in eval mode), but the
floating-point summation order can: convolution and matrix kernels (oneDNN/MKL on the CPU,
cuDNN/cuBLAS on a GPU) may choose another blocking or algorithm for another batch size, so rows
computed with another ``batch_size`` may differ in the last bits (float32 rounding: logits of a
random-weight ResNet-18 on one CPU thread differed by 5e-7 of their largest value between batch
sizes 1 and 4, and not at all between 4 and 6). Each run's ``batch_size`` is recorded in the
manifest's ``runs``. A decoding failure in a worker is returned with the batch rather than raised
there, and raised in the main process as one line naming the file, after the rows before it have
been saved.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from psychoface.data.images import PREPROCESSING_DESCRIPTION, Stimulus, find_images, hash_file, open_image
from psychoface.errors import PsychofaceError
from psychoface.features.layers import channels_last_modules, resolve_layers, trace_modules
from psychoface.features.models import build_model
from psychoface.features.store import FeatureStore, open_store_for_writing
from psychoface.provenance import versions

POOLINGS = ("none", "avg", "max")
PRECISIONS = ("fp32", "bf16", "fp16")
DEFAULT_CHUNK_ROWS = 64
DEFAULT_FIDELITY_SAMPLE = 16


class _StopForward(Exception):
    """Raised from the hook of the deepest requested module to end the forward pass early."""


def extract(stimuli, store, *, model: str = "vgg16", weights="DEFAULT", layers: Sequence[str] = ("fc7",),
            pooling: str | dict = "none", batch_size: int = 16, workers: int = 1, device: str = "auto",
            seed: int = 0, chunk_size: int | None = None, precision: str = "fp32",
            fidelity_sample: int = DEFAULT_FIDELITY_SAMPLE,
            progress: Callable[[int, int], None] | None = None, overwrite: bool = False) -> FeatureStore:
    """Extract ``layers`` of ``model`` for every stimulus into the feature store folder ``store``.

    Parameters
    ----------
    stimuli : list of :class:`~psychoface.data.images.Stimulus`, or a folder of images.
    store : folder of the feature store (created if needed; resumed or extended if it exists).
    model, weights : see :func:`psychoface.features.models.build_model`.
    layers : aliases or raw module names (see :mod:`psychoface.features.layers`).
    pooling : ``"none"`` (keep every value), ``"avg"`` or ``"max"`` (over height and width of a
        4-D output, channels-first or, for Swin-style layers, channels-last), for all layers or as a
        dict ``{layer: pooling}`` (others ``"none"``).
    batch_size, workers : images per forward pass; DataLoader worker processes decoding and
        preprocessing in parallel with the forward pass (0: in the main process).
    device : ``"auto"`` (CUDA > MPS > CPU), ``"cpu"``, ``"cuda"``, ...
    seed : ``torch.manual_seed(seed)`` before building the model (random weights depend on it).
    chunk_size : rows between durable commits (rounded up to a multiple of ``batch_size``; default
        64); an interruption redoes at most this many rows.
    precision : ``"fp32"``, ``"bf16"`` (autocast; CPUs with bf16 support, or CUDA) or ``"fp16"``
        (autocast; CUDA only). A store holds features of one precision only.
    fidelity_sample : images (evenly spaced over the study) on which reduced-precision features are
        compared with fp32 ones before extracting; recorded in the run (0: no comparison).
    progress : called as ``progress(done, total)`` after every batch.
    overwrite : delete the store's features and start again.
    """
    stimuli = _as_stimuli(stimuli)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise PsychofaceError(f"batch_size {batch_size!r}: must be a positive integer")
    if not isinstance(workers, int) or workers < 0:
        raise PsychofaceError(f"workers {workers!r}: must be 0 (decode in the main process) or more")
    chunk = _chunk_rows(chunk_size, batch_size)
    threads = _set_threads()
    torch.manual_seed(seed)
    loaded = build_model(model, weights=weights, seed=seed, device=device)
    autocast = _autocast(precision, loaded.device)
    specs, modules = _layer_specs(loaded, layers, pooling)
    loaded.model.to(memory_format=torch.channels_last)
    if autocast is not None:
        _heads_in_fp32(loaded.model, loaded.device.type)

    records = [{"id": s.id, "path": str(s.path), "sha256": hash_file(s.path)} for s in stimuli]
    header = {
        "model": loaded.name,
        "weights": {"spec": loaded.weights, "description": loaded.weights_description,
                    "sha256": loaded.weights_hash},
        "preprocessing": {**loaded.preprocessing, "decode": PREPROCESSING_DESCRIPTION},
        "seed": seed,
        "precision": precision,
        "versions": versions(),
    }
    run = {"versions": header["versions"], "seed": seed, "device": str(loaded.device),
           "batch_size": batch_size, "workers": workers, "chunk_size": chunk, "threads": threads,
           "memory_format": "channels_last", "precision": precision}
    writer = open_store_for_writing(store, header=header, stimuli=records, layers=specs, run=run,
                                    overwrite=overwrite)
    finished = False
    try:
        todo = [name for name in specs if writer.rows_done(name) < len(stimuli)]
        if todo:
            if autocast is not None and fidelity_sample:
                writer.manifest["runs"][-1]["fidelity"] = fidelity(
                    loaded, stimuli, {name: specs[name] for name in todo}, modules, autocast, fidelity_sample)
            start = min(writer.rows_done(name) for name in todo)
            _run(loaded, stimuli, start, {name: specs[name] for name in todo}, modules, writer,
                 batch_size=batch_size, workers=workers, chunk=chunk, progress=progress, autocast=autocast)
        finished = True
    finally:
        writer.close(finished)
    return FeatureStore(store)


def _run(loaded, stimuli, start, specs, modules, writer, *, batch_size, workers, chunk, progress, autocast):
    n = len(stimuli)
    captured: dict[str, torch.Tensor] = {}
    handles = _hooks(loaded.model, specs, modules, captured)
    loader = DataLoader(
        _ImageDataset([s.path for s in stimuli[start:]], loaded.transform), batch_size=batch_size,
        shuffle=False, num_workers=workers, collate_fn=_collate, pin_memory=loaded.device.type == "cuda")
    row, committed = start, start
    try:
        with torch.inference_mode():
            for images, error in loader:
                if error is not None:
                    raise PsychofaceError(
                        f"{error}; features of the first {row} images are saved, fix the file and run "
                        "`psychoface extract` again to resume")
                _forward(loaded, images, captured, autocast)
                for name in specs:
                    writer.write(name, row, captured[name].numpy())
                row += len(images)
                if row - committed >= chunk or row == n:
                    writer.commit(row, specs)
                    committed = row
                if progress is not None:
                    progress(row, n)
    finally:
        for handle in handles:
            handle.remove()
        writer.commit(row, specs)  # keep every complete batch, also on errors and interrupts


def _hooks(net, specs, modules, captured) -> list:
    """Forward hooks that put each requested layer's (pooled) output into ``captured`` and stop the pass
    after the deepest one; returns their handles."""
    by_module: dict[str, list[str]] = {}
    for name in specs:
        by_module.setdefault(specs[name]["module"], []).append(name)
    last = max(by_module, key=lambda m: modules[m].order)
    channels_last = channels_last_modules(net)

    def hook_for(module_name):
        names = [(name, specs[name]["pooling"]) for name in by_module[module_name]]
        spatial = (1, 2) if module_name in channels_last else (2, 3)

        def hook(_module, _inputs, output):
            for name, pooling in names:
                captured[name] = _pool(output, pooling, spatial)
            if module_name == last:
                raise _StopForward
        return hook

    return [net.get_submodule(m).register_forward_hook(hook_for(m)) for m in by_module]


def _forward(loaded, images, captured, autocast) -> None:
    """One batch through the network (to the deepest requested layer), channels-last, under ``autocast``."""
    captured.clear()
    x = images.to(loaded.device, non_blocking=True)
    if x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    try:
        if autocast is None:
            loaded.model(x)
        else:
            with torch.autocast(loaded.device.type, dtype=autocast):
                loaded.model(x)
    except _StopForward:
        pass


def _heads_in_fp32(net, device_type: str) -> None:
    """Make every ``nn.Linear`` of ``net`` run in fp32, outside autocast, when its input is one vector per
    image (2-D); token-wise linears (3-D input, as in vision transformers) keep the autocast dtype."""

    def forward(module, x):
        if x.dim() != 2:
            return F.linear(x, module.weight, module.bias)
        with torch.autocast(device_type, enabled=False):
            bias = None if module.bias is None else module.bias.float()
            return F.linear(x.float(), module.weight.float(), bias)

    for module in net.modules():
        if isinstance(module, torch.nn.Linear):
            module.forward = functools.partial(forward, module)


def fidelity(loaded, stimuli, specs, modules, autocast, sample: int) -> dict:
    """Reduced against full precision on ``sample`` evenly spaced images: per layer, the Pearson r of all
    feature values, the smallest r of one image, the largest absolute difference relative to the largest
    absolute fp32 value, and the Spearman correlation of the two precisions' RDMs (correlation distance, RSA's
    default) over the sample's image pairs (how far a reduced-precision RSA could move; NaN under 3 images)."""
    k = min(sample, len(stimuli))
    pick = sorted({round(i * (len(stimuli) - 1) / max(1, k - 1)) for i in range(k)})
    images = torch.stack([loaded.transform(open_image(stimuli[i].path)) for i in pick])
    out = {}
    captured: dict[str, torch.Tensor] = {}
    handles = _hooks(loaded.model, specs, modules, captured)
    try:
        with torch.inference_mode():
            _forward(loaded, images, captured, None)
            full = dict(captured)
            _forward(loaded, images, captured, autocast)
            reduced = dict(captured)
    finally:
        for handle in handles:
            handle.remove()
    for name in specs:
        a, b = full[name].double(), reduced[name].double()
        out[name] = {"r": _corr(a.flatten(), b.flatten()),
                     "min_image_r": min(_corr(a[i], b[i]) for i in range(len(pick))),
                     "max_abs_diff_relative": float((a - b).abs().max() / a.abs().max().clamp_min(1e-30)),
                     "rdm_rho": _rdm_agreement(a.flatten(1), b.flatten(1))}
    return {"images": len(pick), "layers": out}


def _rdm_agreement(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman correlation of the correlation-distance RDMs of two versions of the same images' features
    (inline rather than :func:`~psychoface.analyses.rdm.layer_rdm`, which needs 4 stimuli; a sample may have 3)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    upper = np.triu_indices(len(a), 1)
    rdm_a, rdm_b = (1.0 - np.corrcoef(x.numpy()) for x in (a, b))
    return float(spearmanr(rdm_a[upper], rdm_b[upper])[0])


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a = a - a.mean()
    b = b - b.mean()
    denom = float((a.dot(a) * b.dot(b)).sqrt())
    return float(a.dot(b)) / denom if denom > 0 else float("nan")


def _autocast(precision: str, device: torch.device):
    """The autocast dtype of ``precision`` on ``device`` (None for fp32), or an error saying what to use."""
    if precision not in PRECISIONS:
        raise PsychofaceError(f"precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise PsychofaceError("precision bf16: this GPU has no bf16 support; use --precision fp16 or fp32")
        return torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type != "cpu" or precision == "fp16":
        raise PsychofaceError(
            f"precision {precision} on {device.type}: reduced precision runs on CUDA (fp16, bf16) or on CPUs "
            "with bf16 support (bf16); use --precision fp32 here")
    if not torch.backends.mkldnn.is_available() or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise PsychofaceError("precision bf16: this CPU has no bf16 support (AVX-512 BF16 or AMX); use --precision fp32")
    return torch.bfloat16


def _set_threads() -> int:
    """Cap torch's intra-op threads at the CPUs this process may use: its CPU affinity and its cgroup's CPU
    quota (a container's limit, which torch's default of one thread per physical core ignores). A lower
    setting (``OMP_NUM_THREADS``, ``torch.set_num_threads``) is kept. Returns the thread count."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            usable = min(usable, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    if torch.get_num_threads() > usable:
        torch.set_num_threads(usable)
    return torch.get_num_threads()


def _pool(output: torch.Tensor, pooling: str, spatial=(2, 3)) -> torch.Tensor:
    """A CPU copy of a hooked output, flattened per image after optional pooling over the
    ``spatial`` (height, width) dimensions: (2, 3) channels-first, (1, 2) channels-last."""
    out = output.detach()
    if pooling == "avg":
        out = out.mean(dim=spatial)
    elif pooling == "max":
        out = out.amax(dim=spatial)
    return out.flatten(1).to("cpu", torch.float32, copy=pooling == "none")


def _layer_specs(loaded, layers, pooling):
    """Per requested layer: module, per-image shape after pooling, pooling, n_features, dtype."""
    pairs = resolve_layers(loaded, [layers] if isinstance(layers, str) else list(layers))
    names = [name for name, _ in pairs]
    pooling_of = _pooling_map(pooling, names)
    channels_last = channels_last_modules(loaded.model)
    crop = loaded.preprocessing["crop"]
    traces = {t.name: t for t in trace_modules(loaded.model, tuple(crop) if isinstance(crop, list) else crop)}
    specs = {}
    for name, module in pairs:
        trace = traces.get(module)
        if trace is None:
            raise PsychofaceError(
                f"layer {name} ({module}) does not run in {loaded.name}'s forward pass in eval mode; "
                "choose another layer")
        if trace.calls != 1:
            raise PsychofaceError(
                f"layer {name} ({module}) runs {trace.calls} times per forward pass, so it has no single "
                f"output; choose its parent module ({module.rpartition('.')[0] or 'another layer'})")
        if trace.shape is None:
            raise PsychofaceError(f"layer {name} ({module}) does not output a tensor; choose another layer")
        shape = list(trace.shape)
        if pooling_of[name] != "none":
            if len(shape) != 3:
                raise PsychofaceError(
                    f"pooling {pooling_of[name]} for layer {name}: needs a (channels, height, width) output, "
                    f"{name} gives {tuple(shape)}; use pooling none for it")
            shape = shape[2:] if module in channels_last else shape[:1]
        specs[name] = {"module": module, "shape": shape, "pooling": pooling_of[name],
                       "n_features": int(math.prod(shape)), "dtype": "float32"}
    return specs, traces


def _pooling_map(pooling, names) -> dict[str, str]:
    if isinstance(pooling, dict):
        unknown = [k for k in pooling if k not in names]
        if unknown:
            raise PsychofaceError(
                f"pooling given for layer {unknown[0]}, which is not extracted ({', '.join(names)}); "
                "name only requested layers")
        out = {name: str(pooling.get(name, "none")).lower() for name in names}
    else:
        out = {name: str(pooling).lower() for name in names}
    for name, mode in out.items():
        if mode not in POOLINGS:
            raise PsychofaceError(f"pooling '{mode}' for layer {name}: use one of {', '.join(POOLINGS)}")
    return out


def _chunk_rows(chunk_size, batch_size) -> int:
    rows = DEFAULT_CHUNK_ROWS if chunk_size is None else chunk_size
    if not isinstance(rows, int) or rows < 1:
        raise PsychofaceError(f"chunk_size {chunk_size!r}: must be a positive number of rows")
    return batch_size * math.ceil(rows / batch_size)


def _as_stimuli(stimuli) -> list[Stimulus]:
    if isinstance(stimuli, (str, os.PathLike)):
        return find_images(stimuli)
    stimuli = list(stimuli)
    if not stimuli:
        raise PsychofaceError("no stimuli to extract; give a folder of images or a list of stimuli")
    ids = [s.id for s in stimuli]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise PsychofaceError(f"stimulus id {dup!r} appears more than once; stimulus ids must be unique")
    return [Stimulus(str(s.id), Path(s.path)) for s in stimuli]


class _ImageDataset(Dataset):
    """Decodes and preprocesses one image; returns an error message instead of raising in a worker."""

    def __init__(self, paths, transform):
        self.paths, self.transform = list(paths), transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        path = self.paths[i]
        try:
            return self.transform(open_image(path)), None
        except PsychofaceError as exc:
            return None, str(exc)
        except Exception as exc:  # a transform failing on an odd image is the user's input too
            return None, f"{path}: cannot be preprocessed ({type(exc).__name__}: {exc})"


def _collate(items):
    """Stack a batch, or pass on the first error message (the batch is then not used)."""
    for tensor, error in items:
        if error is not None:
            return None, error
    return torch.stack([tensor for tensor, _ in items]), None
