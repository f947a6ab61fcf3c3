"""Study-level workflows: the one code path behind every CLI command and the report runner.

Each function takes a :class:`~psychoface.config.StudyConfig`, loads what it needs (images, ratings,
the feature store) and calls the analysis functions, which know nothing about files.
"""

from __future__ import annotations

from psychoface.config import StudyConfig
from psychoface.errors import PsychofaceError


def load_study_from_config(config: StudyConfig, *, require_ratings: bool = True):
    """Images matched to ratings, as named by the study file."""
    from psychoface.data.study import load_study

    ratings = config.ratings_path if (require_ratings or config.ratings) else None
    return load_study(
        config.images_path,
        ratings,
        id_column=config.id_column,
        path_column=config.path_column,
        require_ratings=require_ratings,
    )


def extract_features(config: StudyConfig, *, progress=None, overwrite: bool = False):
    """Run the network once over the study's images and write every requested layer to the store."""
    from psychoface.data.images import find_images
    from psychoface.features.extract import extract

    if config.ratings and config.ratings_path.is_file():  # only the rated images
        stimuli = load_study_from_config(config, require_ratings=False).stimuli
    else:
        stimuli = find_images(config.images_path)
    return extract(
        stimuli,
        config.store_path,
        model=config.model,
        weights=config.weights_spec,
        layers=tuple(config.layers),
        pooling=config.pooling,
        batch_size=config.batch_size,
        workers=config.workers,
        device=config.device,
        seed=config.seed,
        progress=progress,
        overwrite=overwrite,
    )


def open_store(config: StudyConfig):
    """The study's feature store (its error says to run `psychoface extract` when there is none)."""
    from psychoface.features.store import FeatureStore

    return FeatureStore(config.store_path)


def load_ratings_from_config(config: StudyConfig):
    """The study's ratings (wide means or long trials), as named by the study file."""
    from psychoface.data.ratings import load_ratings

    ratings = load_ratings(
        config.ratings_path,
        id_column=config.id_column,
        path_column=config.path_column,
        images_root=config.images_path if config.path_column else None,
    )
    return select_trials(ratings, config.trials_where) if config.trials_where else ratings


def select_trials(ratings, where: str):
    """Keep the trial-level ratings for which the condition ``where`` holds (pandas query syntax on the
    file's columns, e.g. ``rating_type != 'repeat'``) and recompute the mean ratings from them."""
    import pandas as pd

    from psychoface.data.ratings import Ratings, means_of_trials

    if not ratings.has_trials:
        raise PsychofaceError(
            f"trials_where = {where!r}: {ratings.source} holds mean ratings, not one row per rating; "
            "remove trials_where or use the trial-level file"
        )
    try:
        mask = ratings.trials.eval(where)
    except Exception as exc:  # pandas raises many kinds (SyntaxError, UndefinedVariableError, TypeError)
        columns = ", ".join(map(str, ratings.trials.columns))
        raise PsychofaceError(
            f"trials_where = {where!r}: cannot be evaluated on {ratings.source} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); columns: {columns}"
        ) from None
    if not isinstance(mask, pd.Series) or mask.dtype != bool:
        raise PsychofaceError(f"trials_where = {where!r}: is not a true/false condition on each rating row")
    trials = ratings.trials[mask.to_numpy()].reset_index(drop=True)
    if trials.empty:
        raise PsychofaceError(f"trials_where = {where!r}: keeps none of the {len(mask):,} ratings in {ratings.source}")
    means = means_of_trials(trials).reindex(index=ratings.means.index, columns=ratings.means.columns)
    return Ratings(means, trials, source=ratings.source, format=ratings.format, image_paths=ratings.image_paths)


def store_layers(store, layers) -> list[str]:
    """Expand ``["all"]`` (or None) to every complete layer of the store, in extraction order."""
    present = [name for name in store.layers if store.is_complete(name)]
    if not layers or list(layers) == ["all"]:
        if not present:
            raise PsychofaceError(f"the store {store.path} holds no complete layer; run `psychoface extract`")
        return present
    return list(layers)


def aligned_means(ratings, ids, attributes=None):
    """Mean ratings reindexed to the store's stimulus order (NaN where a stimulus was not rated)."""
    means = ratings.means
    if attributes:
        unknown = [a for a in attributes if a not in means.columns]
        if unknown:
            raise PsychofaceError(
                f"unknown attribute(s) {', '.join(map(repr, unknown))} in {ratings.source}; "
                f"available: {', '.join(means.columns)}"
            )
        means = means[list(attributes)]
    aligned = means.reindex(list(ids))
    if aligned.notna().any(axis=1).sum() == 0:
        raise PsychofaceError(
            f"no stimulus of the feature store has ratings in {ratings.source}; was the store extracted "
            "from these images?"
        )
    return aligned


def reliability(config: StudyConfig, attributes=None, *, n_splits: int = 100):
    """Split-half reliability (and ICC when rater ids exist) of the study's trial-level ratings.

    Returns ``(split_half, icc)``; ``icc`` is None without rater ids.
    """
    from psychoface.analyses.reliability import icc, split_half_reliability

    ratings = load_ratings_from_config(config)
    table = split_half_reliability(
        ratings, attributes=attributes, n_splits=n_splits, n_bootstrap=config.n_bootstrap,
        ci_level=config.ci_level, seed=config.seed,
    )
    iccs = icc(ratings.trials, attributes=attributes) if ratings.has_raters else None
    return table, iccs


def noise_ceilings(config: StudyConfig, ratings, attributes=None, ids=None):
    """Noise ceiling of each attribute's mean ratings from split-half reliability, or None for means-only data.

    ``ids`` restricts the reliability to the stimuli that are predicted (the store's), so that the ceiling
    belongs to the same stimuli as the prediction it bounds.
    """
    from psychoface.analyses.reliability import split_half_reliability

    if not ratings.has_trials:
        return None
    trials = ratings.trials
    if ids is not None:
        trials = trials[trials["stimulus"].isin(set(map(str, ids)))]
    rel = split_half_reliability(trials, attributes=attributes, n_bootstrap=0, seed=config.seed)
    return rel.set_index("attribute")["noise_ceiling"]


def predict(config: StudyConfig, layers=("all",), attributes=None, *, folds: int = 10, repeats: int = 1,
            n_permutations: int = 1000, progress=None, control=None):
    """Cross-validated ridge prediction of each attribute from each layer, beside the noise ceiling.

    ``control``: a numeric DataFrame of properties (index stimulus) regressed out of features and ratings
    inside each training fold; stimuli missing a property value are left out.

    Returns ``(table, predictions)``: one row per layer x attribute (the correction across the attributes
    of each layer, the family the issue names; a layer profile is descriptive), and the out-of-fold
    predictions per layer.
    """
    import pandas as pd

    from psychoface.analyses.predict import predict_ratings
    from psychoface.analyses.reliability import NOISE_CEILING_METHOD
    from psychoface.features.store import load_features

    store = open_store(config)
    names = store_layers(store, layers)
    ratings = load_ratings_from_config(config)
    ceilings = noise_ceilings(config, ratings, attributes, ids=store.stimulus_ids)
    tables, predictions = [], {}
    for i, layer in enumerate(names):
        X, ids = load_features(store, layer)
        Y = aligned_means(ratings, ids, attributes)
        C = None
        if control is not None:
            C = control.reindex(list(ids))
            missing = C.isna().any(axis=1).to_numpy()
            Y = Y.copy()
            Y.loc[missing, :] = float("nan")  # left out of every attribute; their (filled) values are never used
            C = C.fillna(0.0).to_numpy(float)
        df, pred = predict_ratings(
            X, Y, folds=folds, repeats=repeats, n_permutations=n_permutations, n_bootstrap=config.n_bootstrap,
            ci_level=config.ci_level, correction=config.correction, noise_ceiling=ceilings,
            noise_ceiling_method=NOISE_CEILING_METHOD if ceilings is not None else None, seed=config.seed,
            return_predictions=True, control=C,
        )
        df.insert(0, "layer", layer)
        tables.append(df)
        predictions[layer] = pred
        if progress:
            progress(i + 1, len(names))
    table = pd.concat(tables, ignore_index=True)
    table.attrs = dict(tables[0].attrs)
    meta = dict(table.attrs.get("psychoface", {}))
    if len(names) > 1:  # Holm stays across the attributes of each layer; say so
        meta["family"] = f"{table['attribute'].nunique()} attributes, within each layer"
    # stimuli without a rating on one attribute are left out of that attribute only (its n says so)
    meta.update(layers=names, store=str(store.path), network=store.manifest.get("model"),
                exclusions=_not_extracted(ratings, store.stimulus_ids))
    if control is not None:
        meta["control_properties"] = list(control.columns)
    table.attrs["psychoface"] = meta
    return table, predictions


def correlate(config: StudyConfig, layer: str, attributes=None, *, correction: str = "maxt",
              n_permutations: int | None = None):
    """Unit-wise correlations of one layer with each attribute. Returns ``(summary, units)``."""
    from psychoface.analyses.correlate import correlate_units
    from psychoface.features.store import load_features

    store = open_store(config)
    X, ids = load_features(store, layer)
    Y = aligned_means(load_ratings_from_config(config), ids, attributes)
    summary, units = correlate_units(
        X, Y, n_permutations=n_permutations, correction=correction, seed=config.seed,
    )
    for frame in (summary, units):
        frame.insert(0, "layer", layer)
    return summary, units


def _mean_predictions(predictions, attribute: str):
    frame = predictions[predictions["attribute"] == attribute]
    return frame.groupby("stimulus", sort=False)[["observed", "predicted"]].mean()


def compare(config: StudyConfig, layer_a: str, layer_b: str, attribute: str, *, store_b: str | None = None,
            folds: int = 10, repeats: int = 1):
    """Is layer (or model) A's cross-validated prediction of ``attribute`` better than B's, on the same
    stimuli? Williams' t, Steiger's Z and a paired bootstrap of the difference in out-of-fold r."""
    from psychoface.analyses.compare import compare_correlations

    config_b = config.with_overrides(store=store_b) if store_b else config
    preds = []
    for cfg, layer in ((config, layer_a), (config_b, layer_b)):
        _, predictions = predict(cfg, [layer], [attribute], folds=folds, repeats=repeats, n_permutations=0)
        preds.append(_mean_predictions(predictions[layer], attribute))
    a, b = preds
    common = a.index.intersection(b.index)
    exclusions = []
    if len(common) < len(a.index) or len(common) < len(b.index):
        if store_b is None:
            raise PsychofaceError("layers of one store cover different stimuli; re-extract both layers")
        exclusions.append(f"{len(a.index.union(b.index)) - len(common):,} stimuli predicted from only one of the "
                          f"two stores were excluded; {len(common):,} stimuli are compared")
    label_a = layer_a if store_b is None else f"{layer_a} ({config.store})"
    label_b = layer_b if store_b is None else f"{layer_b} ({store_b})"
    df = compare_correlations(
        a.loc[common, "observed"].to_numpy(), a.loc[common, "predicted"].to_numpy(),
        b.loc[common, "predicted"].to_numpy(), n_bootstrap=config.n_bootstrap, ci_level=config.ci_level,
        seed=config.seed, labels=(label_a, label_b),
    )
    df.insert(0, "attribute", attribute)
    df.attrs["psychoface"].update(folds=folds, repeats=repeats, prediction="cross-validated ridge (out-of-fold)",
                                  exclusions=exclusions)
    return df


def _not_extracted(ratings, ids) -> list[str]:
    """A plain statement of the rated stimuli that have no features in the store (never a silent drop)."""
    missing = set(ratings.means.index.astype(str)) - set(map(str, ids))
    return [f"{len(missing):,} rated stimuli have no features in the store and were not analysed"] if missing else []


def _unrated(ids, used) -> list[str]:
    """A plain statement of the store's stimuli an analysis left out for lack of ratings."""
    used = set(map(str, used))
    unrated = [i for i in map(str, ids) if i not in used]
    return [f"{len(unrated):,} of {len(ids):,} stimuli in the feature store were excluded because they lack "
            f"a mean rating on at least one analysed attribute"] if unrated else []


def rating_rdms_for(config: StudyConfig, ratings, ids, attributes, combined: bool):
    """Per-attribute rating RDMs (and the combined one) over the stimuli rated on every attribute,
    and those stimuli's mean ratings."""
    from psychoface.analyses.rdm import rating_rdm, rating_rdms

    means = aligned_means(ratings, ids, attributes)
    means = means.dropna(how="any")
    means.attrs["exclusions"] = _unrated(ids, means.index) + _not_extracted(ratings, ids)
    rdms = rating_rdms(means, list(means.columns))
    if combined and len(means.columns) > 1:
        joint = rating_rdm(means, list(means.columns))
        rdms[joint.name] = joint
    return rdms, means


def rsa(config: StudyConfig, layers=("all",), attributes=None, *, metric: str = "correlation",
        method: str = "spearman", combined: bool = False, covariates=(), compare_layers=None,
        pixel_size: int = 64):
    """RSA of layer RDMs against rating RDMs, with Mantel p, bootstrap CI, noise ceiling and Holm.

    ``covariates`` (partial RSA): ``"pixels"`` (a grayscale pixel-space RDM), ``"layer:NAME"`` or
    ``"attribute:NAME"``. ``compare_layers``: ``(A, B)`` for the paired bootstrap of the difference.
    Returns ``(table, partial or None, comparison or None, rdms)``; ``rdms`` holds the layer, rating and
    covariate RDMs and the mean ratings of the stimuli they cover (``"means"``).
    """
    import pandas as pd

    from psychoface.analyses import rsa as rsa_mod
    from psychoface.analyses.rdm import align, layer_rdm, pixel_rdm, rating_rdm
    from psychoface.data.images import grayscale_pixels
    from psychoface.features.store import load_features

    store = open_store(config)
    names = store_layers(store, layers)
    ratings = load_ratings_from_config(config)
    ids = list(store.stimulus_ids)
    rating_rdms_, means = rating_rdms_for(config, ratings, ids, attributes, combined)
    rated = list(means.index)
    needed = set(names) | set(compare_layers or ())
    needed |= {c.split(":", 1)[1] for c in covariates if c.startswith("layer:")}
    layer_rdms = {}
    for name in [n for n in store.layers if n in needed] + [n for n in needed if n not in store.layers]:
        X, ids_ = load_features(store, name)
        layer_rdms[name] = align(layer_rdm(X, ids_, metric=metric, name=name), rated)
    ceilings = None
    if ratings.has_trials:
        attrs_ = [a for a in rating_rdms_ if a in ratings.attributes]
        ceilings = rsa_mod.rating_rdm_noise_ceiling(ratings.trials, attrs_, method=method, ids=rated, seed=config.seed)
        if combined and len(attrs_) > 1:
            joint = rsa_mod.rating_rdm_noise_ceiling(
                ratings.trials, attrs_, combine=True, method=method, ids=rated, seed=config.seed
            )
            ceilings = pd.concat([ceilings, joint], ignore_index=True)
    common = dict(method=method, n_permutations=config.n_permutations, n_bootstrap=config.n_bootstrap,
                  ci_level=config.ci_level, correction=config.correction, seed=config.seed)
    context = dict(metric=metric, store=str(store.path), network=store.manifest.get("model"),
                   exclusions=means.attrs["exclusions"])
    table = rsa_mod.rsa({n: layer_rdms[n] for n in names}, rating_rdms_, noise_ceiling=ceilings, **common)
    table.attrs["psychoface"].update(context)
    covariate_rdms = {}
    for cov in covariates:
        kind, _, value = cov.partition(":")
        if cov == "pixels":
            where = {s["id"]: s["path"] for s in store.manifest["stimuli"]}
            paths = [where[i] for i in rated]
            covariate_rdms["pixels"] = pixel_rdm(grayscale_pixels(paths, pixel_size), rated, metric=metric)
        elif kind == "layer":
            covariate_rdms[value] = layer_rdms[value]
        elif kind == "attribute":
            covariate_rdms[value] = rating_rdm(aligned_means(ratings, rated, [value]), value)
        else:
            raise PsychofaceError(f"unknown covariate {cov!r}: use pixels, layer:NAME or attribute:NAME")
    partial = None
    if covariate_rdms:
        # an RDM cannot be tested controlling for itself: a covariate layer or attribute leaves the partial family
        tested_layers = [n for n in names if n not in covariate_rdms]
        tested_ratings = {k: v for k, v in rating_rdms_.items() if k not in covariate_rdms}
        if not tested_layers or not tested_ratings:
            raise PsychofaceError(
                "partial RSA: every analysed layer or attribute is itself a covariate; control for a different "
                "layer or attribute"
            )
        partial = rsa_mod.partial_rsa({n: layer_rdms[n] for n in tested_layers}, tested_ratings, covariate_rdms,
                                      **common)
        left_out = [n for n in names if n not in tested_layers] + [k for k in rating_rdms_ if k not in tested_ratings]
        partial_context = dict(context)
        if left_out:
            partial_context["exclusions"] = context["exclusions"] + [
                f"{', '.join(left_out)} not tested in the partial RSA, being a covariate itself"
            ]
        partial.attrs["psychoface"].update(partial_context)
    comparison = None
    if compare_layers:
        a, b = compare_layers
        comparison = rsa_mod.compare_layers(layer_rdms[a], layer_rdms[b], rating_rdms_, method=method,
                                            n_bootstrap=config.n_bootstrap, ci_level=config.ci_level,
                                            correction=config.correction, seed=config.seed)
        comparison.attrs["psychoface"]["exclusions"] = context["exclusions"]
    rdms = {"layers": layer_rdms, "ratings": rating_rdms_, "covariates": covariate_rdms, "means": means}
    return table, partial, comparison, rdms
