"""Run a network once over a set of face images and stream the requested layers into a feature store.

Method: images are decoded (:func:`psychoface.data.images.open_image`) and preprocessed with the
weights' own transform in ``workers`` DataLoader worker processes, overlapping the forward pass of
the previous batch. Each batch goes through the network once, under ``torch.inference_mode()``,
with a forward hook on every requested module; a hook copies (and, on request, spatially pools) its
module's output at once, because in-place ReLUs overwrite a convolution's output later in the pass.
The pass stops right after the deepest requested module (in execution order) by raising a private
exception from its hook, so that unrequested later layers cost nothing.

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

import math
import os
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from psychoface.data.images import PREPROCESSING_DESCRIPTION, Stimulus, find_images, hash_file, open_image
from psychoface.errors import PsychofaceError
from psychoface.features.layers import channels_last_modules, resolve_layers, trace_modules
from psychoface.features.models import build_model
from psychoface.features.store import FeatureStore, open_store_for_writing
from psychoface.provenance import versions

POOLINGS = ("none", "avg", "max")
DEFAULT_CHUNK_ROWS = 64


class _StopForward(Exception):
    """Raised from the hook of the deepest requested module to end the forward pass early."""


def extract(stimuli, store, *, model: str = "vgg16", weights="DEFAULT", layers: Sequence[str] = ("fc7",),
            pooling: str | dict = "none", batch_size: int = 16, workers: int = 1, device: str = "auto",
            seed: int = 0, chunk_size: int | None = None,
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
    progress : called as ``progress(done, total)`` after every batch.
    overwrite : delete the store's features and start again.
    """
    stimuli = _as_stimuli(stimuli)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise PsychofaceError(f"batch_size {batch_size!r}: must be a positive integer")
    if not isinstance(workers, int) or workers < 0:
        raise PsychofaceError(f"workers {workers!r}: must be 0 (decode in the main process) or more")
    chunk = _chunk_rows(chunk_size, batch_size)
    torch.manual_seed(seed)
    loaded = build_model(model, weights=weights, seed=seed, device=device)
    specs, modules = _layer_specs(loaded, layers, pooling)

    records = [{"id": s.id, "path": str(s.path), "sha256": hash_file(s.path)} for s in stimuli]
    header = {
        "model": loaded.name,
        "weights": {"spec": loaded.weights, "description": loaded.weights_description,
                    "sha256": loaded.weights_hash},
        "preprocessing": {**loaded.preprocessing, "decode": PREPROCESSING_DESCRIPTION},
        "seed": seed,
        "versions": versions(),
    }
    run = {"versions": header["versions"], "seed": seed, "device": str(loaded.device),
           "batch_size": batch_size, "workers": workers, "chunk_size": chunk}
    writer = open_store_for_writing(store, header=header, stimuli=records, layers=specs, run=run,
                                    overwrite=overwrite)
    finished = False
    try:
        todo = [name for name in specs if writer.rows_done(name) < len(stimuli)]
        if todo:
            start = min(writer.rows_done(name) for name in todo)
            _run(loaded, stimuli, start, {name: specs[name] for name in todo}, modules, writer,
                 batch_size=batch_size, workers=workers, chunk=chunk, progress=progress)
        finished = True
    finally:
        writer.close(finished)
    return FeatureStore(store)


def _run(loaded, stimuli, start, specs, modules, writer, *, batch_size, workers, chunk, progress):
    n = len(stimuli)
    captured: dict[str, torch.Tensor] = {}
    by_module: dict[str, list[str]] = {}
    for name in specs:
        by_module.setdefault(specs[name]["module"], []).append(name)
    last = max(by_module, key=lambda m: modules[m].order)
    net = loaded.model
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

    handles = [net.get_submodule(m).register_forward_hook(hook_for(m)) for m in by_module]
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
                captured.clear()
                try:
                    net(images.to(loaded.device, non_blocking=True))
                except _StopForward:
                    pass
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
