"""Benchmark: psychoface extraction against a bare torchvision loop, and its peak memory.

Both contenders run VGG16 with seeded random weights (``weights="none"``; no VGG16 checkpoint is
needed) over the first ``--n`` OMI images and produce the same two layers, ``conv5`` (features.29,
unpooled, 100,352 values per image) and ``fc7`` (classifier.4):

* bare: build the model, then batch by batch decode with PIL, apply the weights' ``transforms()``,
  run ``features[:30]`` (conv5), the rest of ``features``, ``avgpool`` and ``classifier[:5]`` (fc7),
  and keep both outputs in memory, in one process;
* psychoface: ``extract(...)`` into a fresh store (model build, a dry pass for shapes, SHA-256 of
  every image, DataLoader workers decoding in parallel, hooks, streaming to disk);
* psychoface at ``--precision`` bf16 (autocast; the run includes its fidelity check on 16 images);
* bare-compile (with ``--compile``): the bare loop with ``torch.compile`` of ``features`` and
  ``classifier``, on a first run (compilation included): does compiling pay?
* thingsvision (with ``--thingsvision-python``, the interpreter of a separate virtual environment
  holding thingsvision): its documented torchvision path, both layers in one pass, kept in memory.

Each measurement runs in a fresh subprocess, so peak resident memory (``ru_maxrss``) is that run's
own (``children_peak_rss_mib`` is the largest child process: a DataLoader worker, a fork whose
resident pages are mostly shared with its parent, or a helper that ``import torch`` starts).
Contenders alternate (bare, psychoface, bare, psychoface, ...) so that load from other users of
the machine hits both alike. Times are wall clock from before the model is built to the last
feature, imports excluded; CPU seconds per image (user + system, workers included) and the 1-minute
load average are printed too, being less sensitive to, and a record of, other users' load.

    python benchmarks/extract.py --n 64 500 --repeat 2
    python benchmarks/extract.py --n 64 500 --thingsvision-python /path/to/thingsvision-venv/bin/python
    python benchmarks/extract.py --n 64 --workers 0 1 2 --threads 1 2
    python benchmarks/extract.py --n 500 --precision fp32 bf16 --keep /tmp/stores   # then:
    python benchmarks/extract.py --fidelity /tmp/stores --ratings ../shared/data/omi/attribute_means.csv

``--fidelity`` compares the fp32 and bf16 stores of one run: per layer, the correlation of all feature
values; and the largest change, over the rated attributes, of ``predict_ratings``' cross-validated r
and of ``rsa``'s Spearman rho (point estimates; no permutations or resamples).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_IMAGES = REPO.parent / "shared" / "data" / "omi" / "images"


def _images(folder: Path, n: int) -> list[Path]:
    paths = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)
    if len(paths) < n:
        sys.exit(f"{folder}: {len(paths)} images, --n {n} requested")
    return paths[:n]


def _peaks() -> dict:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mib": round(own, 1), "children_peak_rss_mib": round(children, 1)}


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (DataLoader workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def run_bare(paths, batch_size, compile=False):
    import torch
    import torchvision
    from PIL import Image

    start = time.perf_counter()
    torch.manual_seed(0)
    net = torchvision.models.vgg16().eval()
    to_conv5, to_fc7 = net.features[:30], net.classifier[:5]
    if compile:
        to_conv5, to_fc7 = torch.compile(to_conv5), torch.compile(to_fc7)
    transform = torchvision.models.VGG16_Weights.DEFAULT.transforms()
    conv5, fc7 = [], []
    with torch.inference_mode():
        for i in range(0, len(paths), batch_size):
            x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[i:i + batch_size]])
            h = to_conv5(x)
            conv5.append(h.flatten(1).numpy().copy())
            h = net.avgpool(net.features[30](h))
            fc7.append(to_fc7(torch.flatten(h, 1)).numpy().copy())
    return time.perf_counter() - start


def run_psychoface(paths, batch_size, workers, precision="fp32", keep=None):
    from psychoface.data.images import Stimulus
    from psychoface.features.extract import extract

    stimuli = [Stimulus(p.stem, p) for p in paths]
    folder = Path(tempfile.mkdtemp(prefix="psychoface-bench-"))
    try:
        start = time.perf_counter()
        extract(stimuli, folder / "store", model="vgg16", weights="none", layers=("conv5", "fc7"),
                batch_size=batch_size, workers=workers, device="cpu", seed=0, precision=precision)
        seconds = time.perf_counter() - start
        if keep:
            target = Path(keep) / precision
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(folder / "store"), target)
        return seconds
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fidelity(folder: Path, ratings: Path) -> None:
    """fp32 against bf16 stores: feature correlation per layer, max |delta r| of predict, |delta rho| of RSA."""
    import numpy as np
    import pandas as pd

    from psychoface.analyses.predict import predict_ratings
    from psychoface.analyses.rdm import layer_rdm, rating_rdms
    from psychoface.analyses.rsa import rsa
    from psychoface.features.store import FeatureStore

    stores = {p: FeatureStore(folder / p) for p in ("fp32", "bf16")}
    ids = stores["fp32"].stimulus_ids
    means = pd.read_csv(ratings, index_col=0)
    means.index = means.index.astype(str)
    means = means.loc[ids]
    rdms = rating_rdms(means)
    for layer in stores["fp32"].layers:
        X = {p: fs.features(layer) for p, fs in stores.items()}
        a, b = (np.asarray(X[p], dtype=np.float64).ravel() for p in ("fp32", "bf16"))
        r_features = float(np.corrcoef(a, b)[0, 1])
        del a, b
        pred = {p: predict_ratings(X[p], means, n_permutations=0, n_bootstrap=0, seed=0) for p in X}
        d_pred = (pred["bf16"].set_index("attribute")["r"] - pred["fp32"].set_index("attribute")["r"]).abs()
        res = {p: rsa(layer_rdm(X[p], ids, name=layer), rdms, n_permutations=0, n_bootstrap=0) for p in X}
        d_rsa = (res["bf16"]["rho"] - res["fp32"]["rho"]).abs()
        print(json.dumps({"layer": layer, "feature_r": round(r_features, 6), "attributes": len(d_pred),
                          "max_abs_delta_predict_r": float(d_pred.max()),
                          "mean_abs_delta_predict_r": float(d_pred.mean()),
                          "max_abs_delta_rsa_rho": float(d_rsa.max()),
                          "recorded_fidelity": stores["bf16"].manifest["runs"][-1].get("fidelity", {})
                          .get("layers", {}).get(layer)}), flush=True)


def run_thingsvision(paths, batch_size):
    """thingsvision's documented torchvision path: get_extractor, ImageDataset, DataLoader, extract_features
    with both module names in one pass, features kept in memory (its default)."""
    import torch
    from thingsvision import get_extractor
    from thingsvision.utils.data import DataLoader, ImageDataset

    folder = Path(tempfile.mkdtemp(prefix="thingsvision-bench-"))
    try:
        (folder / "images").mkdir()
        for p in paths:  # the instance dataset reads a folder: link the first n images into one
            (folder / "images" / p.name).symlink_to(p.resolve())
        start = time.perf_counter()
        torch.manual_seed(0)
        extractor = get_extractor(model_name="vgg16", source="torchvision", device="cpu", pretrained=False)
        dataset = ImageDataset(root=str(folder / "images"), out_path=str(folder / "out"),
                               backend=extractor.get_backend(), transforms=extractor.get_transformations())
        batches = DataLoader(dataset=dataset, batch_size=batch_size, backend=extractor.get_backend())
        features = extractor.extract_features(batches=batches, module_names=["features.29", "classifier.4"],
                                              flatten_acts=True)
        seconds = time.perf_counter() - start
        assert features["features.29"].shape == (len(paths), 100352), features["features.29"].shape
        return seconds
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def child(args):
    import torch

    if args.child_threads:
        torch.set_num_threads(args.child_threads)
    paths = _images(args.images, args.n[0])
    cpu = _cpu_seconds()
    if args.child in ("bare", "bare-compile"):
        seconds = run_bare(paths, args.batch_size, compile=args.child == "bare-compile")
    elif args.child == "thingsvision":
        seconds = run_thingsvision(paths, args.batch_size)
    else:
        seconds = run_psychoface(paths, args.batch_size, args.workers[0], args.precision[0], args.keep)
    cpu = _cpu_seconds() - cpu
    name = f"psychoface-{args.precision[0]}" if args.child == "psychoface" else args.child
    print(json.dumps({"contender": name, "n": len(paths), "seconds": round(seconds, 2),
                      "images_per_s": round(len(paths) / seconds, 3), "cpu_s_per_image": round(cpu / len(paths), 3),
                      "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0], **_peaks()}))


def measure(contender, n, args, workers, threads, precision="fp32"):
    python = args.thingsvision_python if contender == "thingsvision" else sys.executable
    cmd = [str(python), __file__, "--child", contender, "--n", str(n), "--images", str(args.images),
           "--batch-size", str(args.batch_size), "--workers", str(workers), "--precision", precision]
    if args.keep:
        cmd += ["--keep", str(args.keep)]
    if threads:
        cmd += ["--child-threads", str(threads)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{contender} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["workers"] = workers if contender == "psychoface" else "-"
    result["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[64], help="numbers of images (each a separate run)")
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="psychoface DataLoader workers to try")
    parser.add_argument("--threads", type=int, nargs="+", default=[0],
                        help="torch intra-op threads to try (0: torch's default)")
    parser.add_argument("--repeat", type=int, default=1, help="alternating repetitions of every configuration")
    parser.add_argument("--skip-bare", action="store_true", help="measure psychoface only (memory runs)")
    parser.add_argument("--thingsvision-python", type=Path,
                        help="interpreter of a separate virtual environment with thingsvision installed: "
                             "adds thingsvision as a third contender")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"],
                        help="psychoface precisions to run (alternated with the bare fp32 loop)")
    parser.add_argument("--compile", action="store_true", help="add the bare loop under torch.compile")
    parser.add_argument("--keep", type=Path, help="keep psychoface's stores here, one folder per precision")
    parser.add_argument("--fidelity", type=Path, help="compare the fp32 and bf16 stores kept in this folder")
    parser.add_argument("--ratings", type=Path, default=REPO.parent / "shared" / "data" / "omi" / "attribute_means.csv")
    parser.add_argument("--child", choices=["bare", "bare-compile", "psychoface", "thingsvision"], help=argparse.SUPPRESS)
    parser.add_argument("--child-threads", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.fidelity:
        return fidelity(args.fidelity, args.ratings)
    if not args.images.is_dir():
        sys.exit(f"{args.images}: OMI images not found (they live in ../shared/data/omi/images)")

    results = []
    for n in args.n:
        for threads in args.threads:
            for _ in range(args.repeat):
                if not args.skip_bare:
                    results.append(measure("bare", n, args, 0, threads))
                for precision in args.precision:
                    for workers in args.workers:
                        results.append(measure("psychoface", n, args, workers, threads, precision))
                if args.compile:
                    results.append(measure("bare-compile", n, args, 0, threads))
                if args.thingsvision_python:
                    results.append(measure("thingsvision", n, args, 0, threads))

    print("\nmedian images/s (ratio psychoface / bare) and peak RSS of the main process:")
    for n in args.n:
        for threads in args.threads:
            def med(rows, key):
                return statistics.median(r[key] for r in rows) if rows else float("nan")
            sel = [r for r in results if r["n"] == n and (not threads or r["threads"] == threads)]
            bare = [r for r in sel if r["contender"] == "bare"]
            line = f"n={n} threads={threads or 'default'}: bare {med(bare, 'images_per_s'):.2f} img/s, " \
                   f"{med(bare, 'peak_rss_mib'):.0f} MiB"
            for precision in args.precision:
                for workers in args.workers:
                    ours = [r for r in sel if r["contender"] == f"psychoface-{precision}" and r["workers"] == workers]
                    ratio = med(ours, "images_per_s") / med(bare, "images_per_s") if bare else float("nan")
                    line += f" | psychoface {precision} workers={workers} {med(ours, 'images_per_s'):.2f} img/s " \
                            f"({ratio:.2f}x), {med(ours, 'peak_rss_mib'):.0f} MiB"
            compiled = [r for r in sel if r["contender"] == "bare-compile"]
            if compiled:
                line += f" | bare-compile {med(compiled, 'images_per_s'):.2f} img/s " \
                        f"({med(compiled, 'images_per_s') / med(bare, 'images_per_s'):.2f}x)"
            things = [r for r in sel if r["contender"] == "thingsvision"]
            if things:
                ours = [r for r in sel if r["contender"] == "psychoface-fp32"]
                line += f" | thingsvision {med(things, 'images_per_s'):.2f} img/s " \
                        f"(psychoface / thingsvision {med(ours, 'images_per_s') / med(things, 'images_per_s'):.2f}x), " \
                        f"{med(things, 'peak_rss_mib'):.0f} MiB"
            print(line)


if __name__ == "__main__":
    main()
