"""The explain kind: which face regions drive a layer's predicted rating, across the study's faces.

Workflow (``psychoface explain --layer conv5 -a trustworthy``): the stored layer's out-of-fold ridge
readouts of each attribute (as ``predict`` fits them) are put on top of the network
(:mod:`psychoface.explain.readout`); every rated face is explained by its own fold's readout with the chosen
method (:mod:`psychoface.explain.methods`), the map is warped into the mean landmark configuration
(:mod:`psychoface.explain.align`) and streamed to disk. A reference readout, the mean of ``n_null`` readouts
fitted on permuted ratings (same folds), is explained the same way. Then, per attribute: region shares against
the regions' area shares and pairwise (:func:`~psychoface.analyses.explain.region_shares`), a cluster test of
the per-face normalised maps (each map minus its mean, divided by its mean absolute deviation) paired against the reference
readout's maps (or high- against low-rated faces), deletion/insertion curves on a subset of faces, and the
data- and cascading model-randomisation checks; between attributes, paired cluster tests of their maps.

Inference is across faces for the fitted readouts: it says where this model's prediction comes from, not
whether the rating depends on the region in people (``predict`` tests whether the layer predicts at all).
In 30 null studies (ratings shuffled across 40 synthetic faces, random MobileNetV3-small, CAM), some region's
share differed from its area after Holm in all 30 (and from the permuted-ratings readout's share in all 30),
while the cluster test against the permuted-ratings readout rejected in 2 of 30: region shares describe the
fitted readout; the cluster test is the test of what is specific to the rating. The region table's note names
an attribute whose explained predictions do not predict its ratings.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface import workflows
from psychoface.errors import PsychofaceError
from psychoface.kinds import options as common
from psychoface.kinds.registry import AnalysisKind, Option, register
from psychoface.reports.references import add_bibliography
from psychoface.reports.section import Section, figure, result_table, titled

add_bibliography(Path(__file__).with_name("explain.bib"))

from psychoface.kinds.explain import words  # noqa: E402  (needs the bibliography and the column headers)

CONTRASTS = ("permuted", "high_low")
REGION_BASELINES = ("area", "reference")
GRADCAM_UNPOOLED = ("Grad-CAM averages the readout's gradient over each channel's positions, which leaves out the "
                    "spatial weights of a readout of this unpooled layer; readout contributions (CAM) give each "
                    "position's exact share of the prediction")


def _normalised(maps) -> np.ndarray:
    """Each face's map minus its spatial mean, divided by its mean absolute deviation: maps of different
    readouts on one scale, and without the map-wide offset that coarse signed maps (Grad-CAM at a 7 x 7 layer)
    carry and that would otherwise make one cluster of the whole map."""
    m = np.asarray(maps, dtype=np.float32)
    m = m - m.mean(axis=(1, 2), keepdims=True)
    scale = np.abs(m).mean(axis=(1, 2), keepdims=True)
    return m / np.where(scale > 0, scale, 1.0)


def _null_readouts(X, y, rows, folds, seed, n_null):
    """Fold readouts fitted on permuted ratings, weights averaged over ``n_null`` permutations per fold."""
    from psychoface.explain.readout import fold_readouts

    rng = np.random.default_rng([seed, 7])
    fits = []
    for _ in range(n_null):
        yp = y.copy()
        yp[rows] = rng.permutation(y[rows])
        fits.append(fold_readouts(X, yp, folds=folds, seed=seed))
    out = fits[0]
    for k, r in enumerate(out):
        r.weights = np.mean([f[k].weights for f in fits], axis=0)
        r.intercept = float(np.mean([f[k].intercept for f in fits]))
    return out


def _with_landmarks(config, ids, aligned, mask):
    """Positions in ``ids`` of the faces to explain, and the exclusion to state: when landmarks are needed,
    faces without them (no face or several faces found by `psychoface landmarks`) are left out, by name."""
    from psychoface.data.landmarks import study_landmarks

    if aligned and mask:
        return list(range(len(ids))), []
    have = set(study_landmarks(config, require_all=False).ids)
    keep = [i for i, s in enumerate(ids) if s in have]
    missing = [s for s in ids if s not in have]
    if not missing:
        return keep, []
    if len(keep) < 4:
        raise PsychofaceError(f"explain: only {len(keep)} of {len(ids)} faces have landmarks; run `psychoface "
                              "landmarks` or add the faces' landmarks")
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    verb = "was" if len(missing) == 1 else "were"
    return keep, [f"{len(missing)} of {len(ids)} faces had no landmarks (no single face detected) and {verb} left "
                  f"out of the explanations: {shown}"]


def _faces(config, store, loaded, ids, aligned, mask, size, needs_regions, positions):
    from psychoface.data.images import probe_image
    from psychoface.data.landmarks import study_landmarks
    from psychoface.explain.align import mean_configuration, to_input_frame
    from psychoface.explain.regions import REGIONS, mask_labels, region_labels
    from psychoface.explain.run import FaceSet

    stimuli = store.manifest["stimuli"]
    paths = [stimuli[i]["path"] for i in positions]
    crop, resize = loaded.preprocessing["crop"], loaded.preprocessing["resize"]
    landmarks = None
    if not (aligned and mask):
        lm = study_landmarks(config, ids, require_all=False)
        if lm.template != "dlib68" and not mask:
            raise PsychofaceError(f"explain: face regions need dlib 68-point landmarks, {lm.source} holds "
                                  f"{lm.template} ({lm.k} points); run `psychoface landmarks` or give --mask")
        sizes = [(info.width, info.height) for info in (probe_image(p) for p in paths)]
        landmarks = to_input_frame(lm.coords, sizes, resize, crop)
    if aligned:
        transforms = None
        mean = None if landmarks is None else landmarks.mean(axis=0)
    else:
        mean, transforms = mean_configuration(landmarks)
    if mask:
        labels, names = mask_labels(config.path(mask), (size, size))
    else:
        labels, names = region_labels((mean + 0.5) * size / crop - 0.5, (size, size)), REGIONS
    faces = FaceSet(paths, loaded.transform, crop, transforms,
                    landmarks if (needs_regions and landmarks is not None and landmarks.shape[1] == 68) else None,
                    size, labels if (needs_regions and mask) else None)
    return faces, labels, tuple(names)


def _weak_readout(attribute, predicted, ratings) -> list[str]:
    """A caveat when the explained out-of-fold predictions do not predict the ratings (Pearson p >= .05 or
    r <= 0): the maps and every test across faces then describe a readout of noise."""
    from scipy import stats

    from psychoface.reports.apa import fmt_number, fmt_p

    r, p = stats.pearsonr(predicted, ratings)
    if r > 0 and p < 0.05:
        return []
    return [f"for {attribute}, the explained out-of-fold predictions correlated r({len(ratings) - 2}) = "
            f"{fmt_number(r, 2, leading_zero=False).plain}, {fmt_p(p).plain} with the ratings: its maps describe a "
            "readout that does not predict them, and the tests across faces hold for that readout only"]


def _check_network(model, faces, X, rows):
    """The rebuilt network must reproduce the stored features (same weights, same preprocessing)."""
    import torch

    idx = rows[:2]
    with torch.no_grad():
        f = model.features(faces.images(idx)).double().numpy()
    stored = np.asarray(X[idx], dtype=np.float64)
    if not np.allclose(f, stored, rtol=1e-3, atol=1e-3 * (np.abs(stored).max() + 1e-12)):
        raise PsychofaceError("explain: the network rebuilt from the store's manifest does not reproduce its stored "
                              "features (weights or images changed); run `psychoface extract` again")


def build(config, *, layer: str, attributes=None, method: str = "gradcam", aligned: bool = False, mask=None,
          map_size: int = 112, folds: int = 10, n_null: int = 10, contrast: str = "permuted",
          region_baseline: str = "area",
          cluster_permutations: int = 1024, tfce: bool = False, faithfulness_faces: int = 32,
          sanity_faces: int = 8, batch_size: int = 16, figures_dir=None, figure_prefix: str = "",
          progress=None) -> Section:
    """Explain the layer's predicted ratings, aggregate the maps over faces and test them."""
    from psychoface.analyses.explain import (cluster_test, faithfulness, region_pairs, region_shares,
                                             similarity_check, spearman_maps)
    from psychoface.explain.faithfulness import cascading_randomisation, deletion_insertion
    from psychoface.explain.methods import attribute, check_method
    from psychoface.explain.readout import ReadoutModel, fold_readouts
    from psychoface.explain.run import explain_faces, unnormalise
    from psychoface.features.layers import channels_last_modules
    from psychoface.features.models import build_model
    from psychoface.features.store import load_features
    from psychoface.kinds.explain import figures as figs

    if contrast not in CONTRASTS:
        raise PsychofaceError(f"contrast {contrast!r}: use permuted or high_low")
    if region_baseline not in REGION_BASELINES:
        raise PsychofaceError(f"region_baseline {region_baseline!r}: use area or reference")
    store = workflows.open_store(config)
    if layer not in store.layers or not store.is_complete(layer):
        raise PsychofaceError(f"layer {layer!r} was not extracted into {store.path} (it holds "
                              f"{', '.join(store.layers) or 'no layer'}); run `psychoface extract --layer {layer}`")
    X, ids = load_features(store, layer)
    positions, excluded = _with_landmarks(config, ids, aligned, mask)
    if excluded:
        X, ids = np.asarray(X)[positions], [ids[i] for i in positions]
    ratings = workflows.load_ratings_from_config(config)
    Y = workflows.aligned_means(ratings, ids, attributes)
    manifest = store.manifest
    spec = manifest["layers"][layer]
    loaded = build_model(manifest["model"], weights=manifest["weights"]["spec"], seed=manifest.get("seed", 0),
                         device="cpu")
    method_spec = check_method(method, loaded.model)
    model = ReadoutModel(loaded.model, spec["module"], spec["pooling"],
                         spec["module"] in channels_last_modules(loaded.model))
    faces, labels, names = _faces(config, store, loaded, ids, aligned, mask, map_size, method_spec.needs_regions,
                                  positions)
    seed, n_perm, n_boot = config.seed, config.n_permutations, config.n_bootstrap
    owned = tempfile.TemporaryDirectory() if figures_dir is None else None
    maps_dir = Path(owned.name) if owned else Path(figures_dir) / "maps"
    common_args = dict(n_bootstrap=n_boot, ci_level=config.ci_level, correction=config.correction, seed=seed)

    regions, pairs, clusters, faith, sanity, contrasts, weak = [], [], [], [], [], [], []
    mean_maps, outlines, curves, normalised, example = {}, {}, {}, {}, None
    try:
        for a_i, attr in enumerate(Y.columns):
            y = Y[attr].to_numpy(dtype=float)
            rows = np.flatnonzero(~np.isnan(y))
            readouts = fold_readouts(X, y, folds=folds, seed=seed)
            if a_i == 0:
                _check_network(model, faces, X, rows)
            step = (lambda d, n: progress(d, n)) if progress else None
            ex = explain_faces(model, readouts, faces, rows, method_spec.name, maps_dir / f"{layer}_{attr}.npy",
                               batch_size=batch_size, preprocessing=loaded.preprocessing, seed=seed, progress=step)
            ref = explain_faces(model, _null_readouts(X, y, rows, folds, seed, n_null), faces, rows,
                                method_spec.name, maps_dir / f"{layer}_{attr}_reference.npy",
                                batch_size=batch_size, seed=seed)
            weak += _weak_readout(attr, ex.output + ex.intercept, y[rows])
            maps = ex.maps()
            base = ref.maps() if region_baseline == "reference" else None
            reg = region_shares(maps, labels, names, reference=base, n_permutations=n_perm, **common_args)
            pr = region_pairs(maps, labels, names, reference=base, n_permutations=n_perm, **common_args)
            M = _normalised(maps)
            normalised[attr] = M
            if contrast == "permuted":
                cl, _, masks = cluster_test(M, reference=_normalised(ref.maps()), labels=labels, names=names,
                                            n_permutations=cluster_permutations, tfce=tfce, seed=seed)
            else:
                high = y[rows] > np.median(y[rows])
                cl, _, masks = cluster_test(M, groups=high, labels=labels, names=names,
                                            n_permutations=cluster_permutations, tfce=tfce, seed=seed)
            mean_maps[attr] = M.mean(axis=0)
            outlines[attr] = [m for m, p in zip(masks, cl["p"]) if p < 0.05]
            # faithfulness and sanity on a spread subset of faces, each by its own fold's readout
            pick = np.unique(np.linspace(0, len(rows) - 1, min(faithfulness_faces, len(rows))).astype(int))
            fold_of = np.empty(len(rows), dtype=int)
            for r in readouts:
                fold_of[r.test] = r.fold
            cur = {"deletion": ([], []), "insertion": ([], [])}
            for r in readouts:
                sel = pick[fold_of[pick] == r.fold]
                if not len(sel):
                    continue
                model.set_readout(r.linear())
                x = faces.images(rows[sel])
                m_in = attribute(model, x, method_spec.name,
                                 region_masks=faces.region_masks(rows[sel], x.shape[2:])
                                 if method_spec.needs_regions else None, seed=seed)
                c = deletion_insertion(model, x, m_in, seed=seed)
                for kind in cur:
                    cur[kind][0].append(c[kind][0])
                    cur[kind][1].append(c[kind][1])
            curves[attr] = {k: (np.vstack(v[0]), np.vstack(v[1])) for k, v in cur.items()}
            fa = faithfulness(curves[attr], n_permutations=n_perm, **common_args)
            r0 = readouts[0]
            sel = r0.test[:sanity_faces]
            model.set_readout(r0.linear())
            x = faces.images(rows[sel])
            rm = (lambda idx: faces.region_masks(rows[idx], x.shape[2:])) if method_spec.needs_regions else None

            def method_fn(m, images, _rm=rm, _sel=sel):
                return attribute(m, images, method_spec.name, region_masks=_rm(_sel) if _rm else None, seed=seed)

            sims = {"data randomisation (readout of permuted ratings)": spearman_maps(maps, ref.maps())}
            sims.update(cascading_randomisation(model, r0.linear(), x, method_fn, method_fn(model, x), seed=seed))
            san = similarity_check(sims, n_bootstrap=n_boot, ci_level=config.ci_level, seed=seed)
            for frame in (reg, pr, cl, fa, san):
                frame.insert(0, "attribute", attr)
            regions.append(reg)
            pairs.append(pr)
            clusters.append(cl)
            faith.append(fa)
            sanity.append(san)
            if a_i == 0:
                order = np.argsort(ex.output + ex.intercept)
                chosen = [order[-1], order[len(order) // 2], order[0]]
                pics = np.concatenate([faces.align(unnormalise(faces.images([rows[i]]), loaded.preprocessing["mean"],
                                                               loaded.preprocessing["std"]), [rows[i]])
                                       for i in chosen])
                example = (attr, pics, [np.asarray(maps[i]) for i in chosen],
                           [f"{lab} predicted\n{ex.output[i] + ex.intercept[i]:.1f}"
                            for lab, i in zip(("highest", "median", "lowest"), chosen)], ex.mean_image)
        attrs_done = list(Y.columns)
        for i, a in enumerate(attrs_done):
            for b in attrs_done[i + 1:]:
                ct, _, _ = cluster_test(normalised[a], reference=normalised[b], labels=labels, names=names,
                                        n_permutations=cluster_permutations, tfce=tfce, seed=seed)
                ct.insert(0, "contrast", f"{a} vs {b}")
                contrasts.append(ct)
    finally:
        if owned is not None:
            owned.cleanup()

    info = dict(layer=layer, region_baseline=region_baseline, method=method_spec.name,
                method_label=method_spec.label, method_citation=method_spec.citation,
                passes_sanity=method_spec.passes_sanity,
                network=manifest["model"], weights=manifest["weights"]["description"], pooling=spec["pooling"],
                folds=folds, n_null=n_null, aligned=aligned, mask=str(mask) if mask else None, map_size=map_size,
                contrast=contrast, regions=list(names), exclusions=excluded)
    caveats = weak + ([GRADCAM_UNPOOLED] if method_spec.name == "gradcam" and spec["pooling"] == "none" else [])
    criterion = ("no pixel reached p < .05 under threshold-free cluster enhancement" if tfce else
                 "no pixel passed the cluster-forming threshold")
    for frames, what in ((clusters, "any attribute's map"), (contrasts, "any contrast's map")):
        if frames and all(frame.empty for frame in frames):
            caveats.append(f"No cluster formed in {what}: {criterion}, so its cluster table is left out")
    tables_out = {}
    for key, frames, family in (
        ("explain_regions", regions, f"{len(names)} face regions, within each attribute"),
        ("explain_region_pairs", pairs, "pairs of face regions, within each attribute"),
        ("explain_clusters", clusters, "clusters of each attribute's map (maximum statistic over the map)"),
        ("explain_faithfulness", faith, "deletion and insertion, within each attribute"),
        ("explain_sanity", sanity, "sanity checks, within each attribute"),
        ("explain_contrasts", contrasts, "clusters of each contrast's map"),
    ):
        if not frames:
            continue
        df = pd.concat(frames, ignore_index=True)
        meta = dict(frames[0].attrs["psychoface"])
        meta.update(info, family=family, attributes=attrs_done)
        if key == "explain_regions":
            meta["caveats"] = caveats
        if key == "explain_contrasts":
            meta["analysis"] = "explain_contrasts"
            meta["design"] = "paired across faces: one attribute's normalised map minus the other's"
        df.attrs["psychoface"] = meta
        tables_out[key] = df

    figures = []
    lvl = round(100 * config.ci_level)
    figures += figure(figs.mean_maps(example[4], mean_maps, outlines), figures_dir, f"{figure_prefix}explain_maps",
                      titled("Mean {} maps of predicted ratings from {}", method_spec.label, layer),
                      words.note("Mean aligned face with the mean per-face normalised map (red: raises the "
                                 "prediction); black outlines: clusters with p < .05."))
    figures += figure(figs.region_dots(tables_out["explain_regions"]), figures_dir,
                      f"{figure_prefix}explain_regions", titled("Share of attribution by face region"),
                      words.note(f"Dots: mean share of absolute attribution with {lvl}% bootstrap confidence "
                                 "intervals; grey bars: the region's share of the image area"
                                 + ("; open circles: the mean share under the permuted-ratings readout."
                                    if region_baseline == "reference" else ".")))
    figures += figure(figs.curves(curves), figures_dir, f"{figure_prefix}explain_curves",
                      titled("Deletion and insertion curves"),
                      words.note("Mean prediction minus intercept as pixels are greyed out (deletion) or restored "
                                 "(insertion) in the map's order (solid) or at random (dashed)."))
    figures += figure(figs.examples(example[1], example[2], example[3]), figures_dir,
                      f"{figure_prefix}explain_examples", titled("Single faces ({})", example[0]),
                      words.note("Faces with the highest, median and lowest prediction, aligned, with their maps."))

    order = ["explain_regions", "explain_clusters", "explain_faithfulness", "explain_sanity", "explain_contrasts"]
    shown = [k for k in order if k in tables_out and not tables_out[k].empty]
    title_of = dict(words.TITLES, explain_regions=words.TITLES["explain_regions" + (
        "_reference" if region_baseline == "reference" else "")])
    tables = [result_table(tables_out[k], title=title_of[k], identifiers=(layer,)) for k in shown]
    described = [(tables_out[k], i) for i, k in enumerate(shown)]
    return Section("explain", titled("What Drives the Predicted Ratings of {}", layer), tables, described, figures,
                   dict(tables_out))


KIND = register(AnalysisKind(
    name="explain",
    help=("Explain a layer's predicted ratings: which face regions drive them, across faces, with statistics.\n\n"
          "Each face is explained by the out-of-fold ridge readout that predicted it (Grad-CAM by default; "
          "the readout's exact contributions (CAM), Integrated Gradients, GradientSHAP, SmoothGrad, occlusion, region ablation, LRP for VGG and ResNet, "
          "Guided Grad-CAM marked as failing the sanity checks). Maps are aligned to the mean landmark "
          "configuration; region shares are tested against the regions' areas or a permuted-ratings readout "
          "(Holm), pixel maps by "
          "cluster-based permutation tests against a readout of permuted ratings; deletion/insertion curves and "
          "randomisation checks say whether the maps are faithful.\n\n"
          "Needs dlib 68-point landmarks (`psychoface landmarks`) unless the faces are aligned already "
          "(--aligned) and a region mask image is given (--mask)."),
    build=build,
    options=(
        Option("layer", None, "Layer whose readout is explained (extracted before).", ("--layer", "-l"),
               required=True),
        common.ATTRIBUTES,
        Option("method", "gradcam", "gradcam; cam (each position's exact share of the readout, the map to use for "
               "an unpooled layer); ig, gradshap, smoothgrad, occlusion, regions (region ablation), lrp (VGG/ResNet) "
               "or guided_gradcam."),
        Option("aligned", False, "The faces are aligned already: no similarity transform.", type=bool),
        Option("mask", None, "Region mask image (one grey level per region) of map-size pixels."),
        Option("map_size", 112, "Side of the aligned maps in pixels.", type=int),
        Option("folds", 10, "Outer cross-validation folds (as in predict).", type=int),
        Option("n_null", 10, "Permuted-ratings readouts averaged into the reference readout.", type=int),
        Option("region_baseline", "area", "Region shares tested against: area (the region's share of the image: "
               "describes where the maps concentrate, which also follows where the network's features vary most) "
               "or reference (the same face's share under the permuted-ratings readout)."),
        Option("contrast", "permuted", "Cluster test: permuted (paired against the reference readout) or "
               "high_low (faces above vs below the median rating)."),
        Option("cluster_permutations", 1024, "Permutations of the cluster tests.", type=int),
        Option("tfce", False, "Threshold-free cluster enhancement instead of a cluster-forming threshold.",
               type=bool),
        Option("faithfulness_faces", 32, "Faces in the deletion/insertion curves.", type=int),
        Option("sanity_faces", 8, "Faces in the cascading model-randomisation check.", type=int),
        Option("batch_size", 16, "Images per forward pass.", type=int),
        common.PERMUTATIONS, common.BOOTSTRAP, common.CORRECTION, common.SEED, common.STORE,
    ),
    words=words.WORDS,
    citations=words.CITATIONS,
    demo={"layer": "conv5", "method": "cam", "attributes": ["dominant", "happy"], "n_null": 2, "faithfulness_faces": 8,
          "sanity_faces": 3, "cluster_permutations": 256},
))
