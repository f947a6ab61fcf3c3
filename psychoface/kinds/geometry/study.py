"""The geometry kind's study workflow: read the store and the ratings, run the pure functions of
:mod:`psychoface.analyses.geometry`, and assemble the section (tables, figures, raw results)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface import workflows
from psychoface.analyses.geometry import attributes as attribute_space
from psychoface.analyses.geometry import maps as face_maps
from psychoface.analyses.geometry import procrustes, riemannian, sphere
from psychoface.errors import PsychofaceError
from psychoface.kinds.geometry import figures as draw
from psychoface.reports.apa import Text
from psychoface.reports.section import Section, figure, result_table, titled

MAP_NAMES = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
RANDOM_FEATURES = 2048
RANDOM_NAME = "random features"


def build(config, *, layers=("all",), attributes=None, map: str = "pca", k: int = 10, thumbnails: bool = False,
          group_by: str | None = None, riemannian_permutations: int = 1000, shrinkage: str = "ledoit_wolf",
          figures_dir=None, figure_prefix: str = "", progress=None) -> Section:
    """Face space on the sphere, attribute spaces, shape metrics, Riemannian RSA and maps of the layers."""
    from psychoface.analyses.predict import predict_ratings
    from psychoface.features.store import load_features

    if map not in MAP_NAMES:
        raise PsychofaceError(f"map {map!r}: use pca, tsne or umap")
    store = workflows.open_store(config)
    names = workflows.store_layers(store, layers)
    ratings = workflows.load_ratings_from_config(config)
    feats, ids = {}, None
    for layer in names:
        X, ids = load_features(store, layer)
        feats[layer] = X
    means = workflows.aligned_means(ratings, ids, attributes)
    if group_by and group_by not in means.columns:
        raise PsychofaceError(f"group_by {group_by!r}: not a rated attribute; use one of {', '.join(means.columns)}")
    rated = means.notna().any(axis=1).to_numpy()
    if not rated.all():
        rows = np.flatnonzero(rated)
        feats = {k_: np.asarray(X[rows]) for k_, X in feats.items()}
        ids = [ids[i] for i in rows]
        means = means.iloc[rows]
    seed, common = config.seed, dict(ci_level=config.ci_level, correction=config.correction, seed=config.seed)
    steps = 6
    tick = (lambda i: progress(i, steps)) if progress else (lambda i: None)

    tables, described, figures, data = [], [], [], {}

    def add(df, title):
        tables.append(result_table(df, title=title, identifiers=names))
        described.append((df, len(tables) - 1))

    # 1. distinctiveness
    dist = sphere.distinctiveness_correlations(feats, means, n_permutations=config.n_permutations,
                                               n_bootstrap=config.n_bootstrap, **common)
    add(dist, "Distinctiveness (Angle to the Fréchet Mean) and Mean Ratings")
    data["distinctiveness"] = dist
    data["distinctiveness_faces"] = pd.concat([sphere.distinctiveness(X, ids, layer) for layer, X in feats.items()],
                                              ignore_index=True)
    truth = _truth(config, ids, means)
    if truth is not None:
        known = sphere.distinctiveness_correlations(feats, truth["distinctiveness"], n_permutations=config.n_permutations,
                                                    n_bootstrap=config.n_bootstrap, **common)
        add(known, "Distinctiveness in Each Layer and the Faces' Known Distinctiveness")
        data["distinctiveness_truth"] = known
    tick(1)

    # 2. attribute spaces
    complete = means.dropna(how="any")
    if complete.shape[1] >= attribute_space.MIN_ATTRIBUTES:
        human = attribute_space.rating_angles(complete)
        rows = [ids.index(i) for i in complete.index] if len(complete) < len(ids) else None
        network = {layer: attribute_space.readout_angles(X if rows is None else np.asarray(X[rows]), complete,
                                                         name=layer) for layer, X in feats.items()}
        # baseline: the readout of random Gaussian features (an isotropic kernel) reproduces people's space
        # up to sampling, so a layer's agreement is to be read against it
        noise = np.random.default_rng(seed).standard_normal((len(complete), RANDOM_FEATURES))
        network[RANDOM_NAME] = attribute_space.readout_angles(noise, complete, name=RANDOM_NAME)
        space = attribute_space.compare_attribute_spaces(network, human, n_permutations=config.n_permutations,
                                                         n_bootstrap=config.n_bootstrap, **common)
        add(space, "Attribute Spaces of the Layers Compared With People's")
        data["attribute_space"] = space
        spaces = {"people": human, **network}
        if truth is not None and truth["angles"] is not None:
            known = attribute_space.compare_attribute_spaces(spaces, truth["angles"], reference_name="generator",
                                                             n_permutations=config.n_permutations,
                                                             n_bootstrap=config.n_bootstrap, **common)
            add(known, "Attribute Spaces Compared With the Generator's Known Space")
            data["attribute_space_truth"] = known
            spaces["generator"] = truth["angles"]
        for name, angles in spaces.items():
            data[f"attribute_angles_{name}"] = angles.rename_axis("attribute").reset_index()
        mds = attribute_space.mds_maps(spaces, reference="people")
        data["attribute_mds"] = mds
        shown = ["people", *names[-3:]] + (["generator"] if "generator" in spaces else [])
        figures += figure(draw.mds_panels(mds, shown), figures_dir, f"{figure_prefix}geometry_attribute_spaces",
                          "Attribute Spaces of People and the Network",
                          Text("Classical MDS of the angles between attributes: people's mean ratings (left), "
                               "the ridge readout directions of each layer, rotated onto people's map by orthogonal "
                               "Procrustes; percentages are the variance each 2-D map keeps."))
    tick(2)

    # 3. shape metrics
    shape = procrustes.shape_distances(feats, means, ids, n_permutations=config.n_permutations, seed=seed)
    add(shape, "Procrustes Angular Distance Between Each Layer and the Ratings")
    data["shape_metric"] = shape
    tick(3)

    # 4. Riemannian RSA between layers with enough features
    wide = {layer: X for layer, X in feats.items() if X.shape[1] >= len(ids) - 1}
    if len(wide) >= 2:
        riem = riemannian.riemannian_rsa(wide, ids, shrinkage=shrinkage, n_permutations=riemannian_permutations,
                                         correction=config.correction, seed=seed)
        narrow = [layer for layer in feats if layer not in wide]
        add(riem, "Riemannian Distances Between the Layers' Second-Moment Matrices"
            + (f" (Not {', '.join(narrow)}: Fewer Features Than Faces)" if narrow else ""))
        data["riemannian_rsa"] = riem
        data["riemannian_shrinkage"] = riemannian.shrinkage_sensitivity(wide, ids)
    tick(4)

    # 5. maps of each layer and of the predicted attribute vectors of the last layer
    coords = {}
    for layer, X in feats.items():
        coords[f"{layer} ({MAP_NAMES[map]})"] = face_maps.embed(X, ids, method=map, seed=seed, name=layer)
    sub = [ids.index(i) for i in complete.index]
    last_X = feats[names[-1]] if len(sub) == len(ids) else np.asarray(feats[names[-1]][sub])
    predicted = _predicted(predict_ratings, last_X, complete, seed)
    predicted_name = f"predicted attributes of {names[-1]} ({MAP_NAMES[map]})"
    predicted_coords = face_maps.embed(predicted, list(complete.index), method=map, seed=seed, name=predicted_name)
    full = np.full((len(ids), 2), np.nan)
    full[sub] = predicted_coords
    quality = pd.concat([face_maps.map_quality(X, coords[f"{layer} ({MAP_NAMES[map]})"], ids, k=k,
                                               name=f"{layer} ({MAP_NAMES[map]})") for layer, X in feats.items()]
                        + [face_maps.map_quality(predicted, predicted_coords, list(complete.index), k=k,
                                                 name=predicted_name)], ignore_index=True)
    quality.attrs["psychoface"] = {**quality.attrs.get("psychoface", {}), "analysis": "map_quality", "seed": seed,
                                   "map_method": map, "k": k}
    add(quality, "Trustworthiness and Continuity of the Maps")
    scores = face_maps.map_scores(coords, means, k=k, n_permutations=config.n_permutations,
                                  n_bootstrap=config.n_bootstrap, **common)
    scores.attrs["psychoface"].update(map_method=map)
    predicted_scores = face_maps.map_scores({predicted_name: predicted_coords}, complete, k=k,
                                            n_permutations=config.n_permutations, n_bootstrap=config.n_bootstrap,
                                            **common)
    scores = _join(scores, predicted_scores, config.correction)
    add(scores, "How Much of Each Attribute the Maps Hold")
    data["map_quality"], data["map_scores"] = quality, scores
    data["map_coordinates"] = pd.concat(
        [pd.DataFrame({"map": name, "stimulus": ids, "dim1": c[:, 0], "dim2": c[:, 1]}) for name, c in
         {**coords, predicted_name: full}.items()], ignore_index=True)
    last = f"{names[-1]} ({MAP_NAMES[map]})"
    axes = (f"{MAP_NAMES[map]} 1", f"{MAP_NAMES[map]} 2")
    for name, c, frame in ((last, coords[last], means), (predicted_name, predicted_coords, complete)):
        figures += figure(draw.attribute_panels(c, frame, axes), figures_dir,
                          f"{figure_prefix}geometry_map_{name}", titled("{} Coloured by Each Attribute", name),
                          Text(f"Each point is a face at its position in the {name} map (seed {seed}), coloured by "
                               "its mean rating on the attribute above the panel (yellow: high)."))
    if thumbnails:
        paths = _image_paths(config, ids)
        figures += figure(draw.thumbnails(coords[last], paths), figures_dir, f"{figure_prefix}geometry_thumbnails_{last}",
                          titled("{} With the Faces", last),
                          Text(f"Each face drawn at its position in the {last} map (seed {seed})."))
    tick(5)

    # 6. group means on the sphere
    if group_by:
        y = means[group_by]
        labels = np.where(y.isna(), None, np.where(y > y.median(), f"high {group_by}", f"low {group_by}"))
        tests = [sphere.group_mean_test(X, labels, ids, name=layer, n_permutations=config.n_permutations, seed=seed)
                 for layer, X in feats.items()]
        groups = pd.concat(tests, ignore_index=True)
        groups.attrs = {"psychoface": {**tests[0].attrs["psychoface"], "family": f"{len(names)} layers, uncorrected"}}
        add(groups, titled("Fréchet Means of Faces High and Low on {}", group_by))
        data["group_means"] = groups
    tick(6)
    title = "Representation Geometry of " + (names[0] if len(names) == 1 else "the Layers")
    return Section("geometry", title, tables, described, figures, data)


def _join(a, b, correction):
    """Two map-score tables as one family (the correction recomputed over both)."""
    from psychoface.analyses.inference import correct_p

    out = pd.concat([a, b], ignore_index=True)
    out["p_corr"] = correct_p(out["p"].to_numpy(), correction)
    out.attrs = dict(a.attrs)
    meta = dict(a.attrs["psychoface"])
    meta["family"] = f"{out['map'].nunique()} maps x {out['attribute'].nunique()} attributes"
    out.attrs["psychoface"] = meta
    return out


def _predicted(predict_ratings, X, complete, seed):
    """Out-of-fold ridge predictions of every attribute (faces x attributes), no inference."""
    ids = list(complete.index)
    _, pred = predict_ratings(X, complete, n_permutations=0, n_bootstrap=0, seed=seed, return_predictions=True)
    wide = pred.pivot_table(index="stimulus", columns="attribute", values="predicted", aggfunc="mean")
    return wide.reindex(index=ids, columns=list(complete.columns)).to_numpy()


def _truth(config, ids, means):
    """The generator's known geometry when the study is the built-in synthetic one, else None."""
    from psychoface.data.synthetic import parameter_distinctiveness, true_attribute_angles

    try:
        folder = config.images_path.parent
    except PsychofaceError:
        return None
    model, params = folder / "synthetic_model.json", folder / "face_parameters.csv"
    if not (model.is_file() and params.is_file()):
        return None
    parameters = pd.read_csv(params, index_col="stimulus")
    attributes = [a for a in json.loads(model.read_text())["attributes"] if a in means.columns]
    known = parameter_distinctiveness(parameters).reindex(ids)
    complete = len(attributes) >= attribute_space.MIN_ATTRIBUTES and attributes == list(means.columns)
    return {"distinctiveness": pd.DataFrame({"generator distinctiveness": known.to_numpy()}, index=ids),
            "angles": true_attribute_angles(attributes) if complete else None}


def _image_paths(config, ids) -> list[Path]:
    study = workflows.load_study_from_config(config, require_ratings=False)
    paths = {s.id: s.path for s in study.stimuli}
    missing = [i for i in ids if i not in paths]
    if missing:
        raise PsychofaceError(f"thumbnails: no image for stimulus {missing[0]!r} in {config.images_path}; "
                              "point images at the folder the features were extracted from")
    return [paths[i] for i in ids]
