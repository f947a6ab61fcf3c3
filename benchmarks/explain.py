"""Benchmark of the explanations (issue 13), on the CPU, MobileNetV2 with the ImageNet checkpoint.

Goals: Grad-CAM and region ablation for 500 faces in under 5 min; Integrated Gradients (32 steps) batched at
least 1.3x faster per image than one captum call per image; cluster tests with 1,024 permutations on
112 x 112 maps of 500 faces in under 2 min; memory flat in the number of faces (maps streamed to disk).

    TORCH_HOME=... python benchmarks/explain.py --images /work/shared/data/omi/images --faces 64

``TORCH_HOME`` must hold ``hub/checkpoints/mobilenet_v2-b0353104.pth`` (IMAGENET1K_V1). Times per image are
measured on ``--faces`` OMI faces and projected to 500; the cluster test runs on 500 random smooth maps.
Region ablation uses the eight landmark regions of one template face (the synthetic generator's) for every
face: its cost depends on the number of regions, not on where they are.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _model(layer="block17"):
    from psychoface.explain.readout import FoldReadout, ReadoutModel
    from psychoface.features.layers import resolve_layers
    from psychoface.features.models import build_model

    loaded = build_model("mobilenet_v2", weights="IMAGENET1K_V1", device="cpu")
    module = resolve_layers(loaded, [layer])[0][1]
    model = ReadoutModel(loaded.model, module, "avg")
    with torch.no_grad():
        p = model.features(torch.zeros(1, 3, 224, 224)).shape[1]
    rng = np.random.default_rng(0)
    model.set_readout(FoldReadout(0, np.arange(1), rng.normal(size=p), np.ones(p), rng.normal(size=p) / p, 50.0,
                                  1.0).linear())
    return loaded, model


def _images(folder, n, transform):
    from psychoface.data.images import open_image

    paths = [Path(folder) / f"{i}.jpg" for i in range(1, n + 1)]
    return torch.stack([transform(open_image(p)) for p in paths])


def _template_masks(n):
    from psychoface.data.synthetic import face_landmarks, face_parameters
    from psychoface.explain.regions import region_labels

    lm = face_landmarks(face_parameters(2).iloc[0], image_size=224, seed=(0, 0))
    return torch.from_numpy(np.repeat(region_labels(lm, (224, 224))[None].astype(np.int64), n, axis=0))


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def methods(folder, n, batch):
    from captum.attr import IntegratedGradients

    from psychoface.explain.methods import attribute

    loaded, model = _model()
    x = _images(folder, n, loaded.transform)
    masks = _template_masks(n)
    out = {}
    for name in ("gradcam", "regions"):
        t = sum(_time(lambda s=s: attribute(model, x[s:s + batch], name, region_masks=masks[s:s + batch]))
                for s in range(0, n, batch))
        out[name] = {"s_per_image": t / n, "projected_500_s": 500 * t / n}
    k = min(n, 8)
    batched = _time(lambda: attribute(model, x[:k], "ig", n_steps=32))
    # The baseline: captum's IntegratedGradients called once per image (its 32 steps in one pass), on the
    # network as torchvision gives it (contiguous memory) and, to separate the two gains, in channels-last.
    per_call = {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        model.net.to(memory_format=fmt)
        xs = x[:k].contiguous(memory_format=fmt)
        per_call[str(fmt).split(".")[-1]] = _time(lambda: [
            IntegratedGradients(model).attribute(xs[i:i + 1], baselines=torch.zeros_like(xs[:1]), n_steps=32)
            for i in range(k)])
    out["ig"] = {"images": k, "batched_s_per_image": batched / k,
                 **{f"one_call_per_image_{f}_s_per_image": t / k for f, t in per_call.items()},
                 "speedup": per_call["contiguous_format"] / batched,
                 "speedup_vs_channels_last_calls": per_call["channels_last"] / batched}
    return out


def clusters(n=500, size=112, permutations=1024):
    from scipy import ndimage

    from psychoface.analyses.explain import cluster_test

    rng = np.random.default_rng(0)
    maps = ndimage.gaussian_filter(rng.normal(size=(n, size, size)).astype(np.float32), (0, 2, 2))
    ref = ndimage.gaussian_filter(rng.normal(size=(n, size, size)).astype(np.float32), (0, 2, 2))
    maps[:, 40:60, 40:70] += 0.05
    t = time.perf_counter()
    table, _, _ = cluster_test(maps, reference=ref, n_permutations=permutations, seed=0)
    return {"faces": n, "size": size, "permutations": permutations, "seconds": time.perf_counter() - t,
            "clusters_p_lt_05": int((table["p"] < 0.05).sum())}


def memory_child(folder, n):
    """Stream Grad-CAM maps of ``n`` faces to disk; print the peak resident memory in MiB."""
    from psychoface.explain.readout import FoldReadout
    from psychoface.explain.run import FaceSet, explain_faces

    loaded, model = _model()
    p = model.readout.in_features
    paths = [Path(folder) / f"{i}.jpg" for i in range(1, n + 1)]
    faces = FaceSet(paths, loaded.transform, 224, None, None, 112)
    readout = FoldReadout(0, np.arange(n), np.zeros(p), np.ones(p), np.random.default_rng(0).normal(size=p), 0.0, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        explain_faces(model, [readout], faces, np.arange(n), "gradcam", Path(tmp) / "m.npy", batch_size=16)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def memory(folder, sizes=(32, 128)):
    out = {}
    for n in sizes:
        res = subprocess.run([sys.executable, __file__, "--memory-child", str(n), "--images", str(folder)],
                             capture_output=True, text=True, check=True)
        out[n] = float(res.stdout.strip().splitlines()[-1])
    return {"peak_rss_mib_by_faces": out}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", default="/work/shared/data/omi/images")
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--memory-child", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: methods,clusters,memory")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.memory_child:
        memory_child(args.images, args.memory_child)
        return
    skip = set(filter(None, args.skip.split(",")))
    report = {"threads": torch.get_num_threads()}
    if "methods" not in skip:
        report["methods"] = methods(args.images, args.faces, args.batch)
    if "clusters" not in skip:
        report["clusters"] = clusters()
    if "memory" not in skip:
        report["memory"] = memory(args.images)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
