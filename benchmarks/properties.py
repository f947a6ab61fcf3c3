"""Benchmark: the property tests and the interventions.

Goals (issue 14, 2 cores): every association test for 10 properties x 34 attributes x 5 layers over 500
faces with 2,000 permutations in under 2 minutes; each intervention over 500 faces costs at most one extra
forward pass per face and strength (MobileNetV2: about 0.05 s per image on a GPU-less machine), streamed.

Workloads:

- **tests**: simulated outputs (34 attributes x 5 layers = 170 out-of-fold predictions), human mean
  ratings, and 10 properties (8 continuous, a two-level and a three-level categorical one) over 500 faces.
  Timed: ``beyond_humans`` (Freedman-Lane with ``--permutations`` permutations and ``--bootstrap``
  resamples for the CI of the difference, 1,700 tests) and ``associate`` (Spearman and group tests,
  1,700 tests). KCI is timed on ``--kci-tests`` tests and extrapolated (it is O(n^3) per test).
- **interventions**: MobileNetV2 (random weights, psychoface's preprocessing), ``--images`` synthetic demo
  faces; a bare loop (one forward pass per image, batch 16) against ``run_interventions`` with the
  luminance edit at 4 strengths through the same network and a ridge readout; reports seconds per
  forward pass per image for both (the goal: the ratio is about 1, i.e. the intervention costs only its
  extra forward passes) and the peak traced memory of the streamed run.

Run: ``.venv/bin/python benchmarks/properties.py [--faces 500 --permutations 2000 --images 64]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc

import numpy as np
import pandas as pd


def tests_workload(args):
    from psychoface.analyses.properties.association import associate
    from psychoface.analyses.properties.beyond import beyond_humans, kci_test

    rng = np.random.default_rng(0)
    n = args.faces
    ids = [str(i) for i in range(n)]
    props = pd.DataFrame({f"p{k}": rng.normal(size=n) for k in range(8)}, index=ids)
    props["sex"] = np.where(rng.random(n) < 0.5, "f", "m")
    props["group"] = rng.choice(["a", "b", "c"], size=n)
    types = {c: "continuous" for c in props.columns[:8]} | {"sex": "categorical", "group": "categorical"}
    humans = pd.DataFrame({f"attr{a}": props["p0"] * 0.3 + rng.normal(size=n) for a in range(34)}, index=ids)
    outputs, mapping = {}, {}
    for a in range(34):
        for layer in range(5):
            name = f"attr{a} @ layer{layer}"
            outputs[name] = humans[f"attr{a}"] * 0.5 + 0.1 * props["p1"] + rng.normal(size=n)
            mapping[name] = f"attr{a}"
    outputs = pd.DataFrame(outputs, index=ids)
    t0 = time.perf_counter()
    res = beyond_humans(outputs, humans, mapping, props, types, n_permutations=args.permutations,
                        n_bootstrap=args.bootstrap, seed=0)
    t_beyond = time.perf_counter() - t0
    t0 = time.perf_counter()
    assoc = associate(outputs, props, types, n_bootstrap=args.bootstrap, seed=0)
    t_assoc = time.perf_counter() - t0
    t0 = time.perf_counter()
    for j in range(args.kci_tests):
        kci_test(outputs.iloc[:, j].to_numpy(), props[["p1"]].to_numpy(), humans.iloc[:, j // 5].to_numpy())
    t_kci = (time.perf_counter() - t0) / max(1, args.kci_tests)
    out = {"workload": "tests", "faces": n, "tests": len(res), "permutations": args.permutations,
           "bootstrap": args.bootstrap, "beyond_humans_s": round(t_beyond, 2), "associate_s": round(t_assoc, 2),
           "total_s": round(t_beyond + t_assoc, 2), "kci_s_per_test": round(t_kci, 3),
           "kci_all_tests_s_extrapolated": round(t_kci * len(res), 1),
           "share_significant_beyond": res.attrs["psychoface"]["share_significant"],
           "association_rows": len(assoc)}
    print(json.dumps(out))
    return out


def interventions_workload(args):
    import torch

    from psychoface.analyses.properties.edits import make_edit
    from psychoface.analyses.properties.interventions import run_interventions
    from psychoface.analyses.properties.readout import NetworkResponse, fit_readout
    from psychoface.data.synthetic import generate_study
    from psychoface.features.models import build_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        study = generate_study(tmp, n_faces=args.images, n_raters=4, seed=0)
        from PIL import Image

        def load(i):
            with Image.open(study.image_paths[i]) as im:
                return im.convert("RGB")

        loaded = build_model("mobilenet_v2", "none", seed=0)
        module = "features.18"
        response = NetworkResponse(loaded, module, pooling="avg")
        # bare loop: the network once over every image
        t0 = time.perf_counter()
        feats = []
        for b0 in range(0, args.images, 16):
            feats.append(response.features([load(i) for i in range(b0, min(b0 + 16, args.images))]))
        t_bare = time.perf_counter() - t0
        X = np.vstack(feats)
        Y = study.true_scores.to_numpy()
        response.readout = fit_readout(X, Y)
        strengths = [-0.2, -0.1, 0.1, 0.2]
        tracemalloc.start()
        t0 = time.perf_counter()
        changes = run_interventions(load, study.stimuli, response, [make_edit("luminance", strengths)],
                                    output_names=list(study.true_scores.columns), batch_size=16)
        t_int = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    passes = args.images * (1 + len(strengths))
    out = {"workload": "interventions", "images": args.images, "strengths": len(strengths),
           "bare_s_per_image": round(t_bare / args.images, 4),
           "intervention_s_per_forward_pass": round(t_int / passes, 4),
           "ratio_to_bare": round((t_int / passes) / (t_bare / args.images), 3),
           "intervention_total_s": round(t_int, 1), "peak_traced_MiB": round(peak / 2**20, 1),
           "rows": len(changes)}
    print(json.dumps(out))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=500)
    parser.add_argument("--permutations", type=int, default=2000)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--kci-tests", type=int, default=5)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=["tests", "interventions"], default=None)
    args = parser.parse_args()
    if args.only in (None, "tests"):
        tests_workload(args)
    if args.only in (None, "interventions"):
        interventions_workload(args)


if __name__ == "__main__":
    main()
