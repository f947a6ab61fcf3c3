"""Shared study-level loaders: a :class:`~psychoface.config.StudyConfig` to the study, its features
(extracted once), the feature store, its layers, the ratings (with ``trials_where``), the mean ratings
aligned to the store's stimuli and the noise ceilings. Each analysis kind's ``study()``
(:mod:`psychoface.kinds`) reads its inputs with these and calls the pure analysis functions, which know
nothing about files.
"""

from __future__ import annotations

from psychoface.config import StudyConfig
from psychoface.errors import PsychofaceError


def load_study_from_config(config: StudyConfig, *, require_ratings: bool = True):
    """Images matched to ratings, as named by the study file."""
    from psychoface.data.study import load_study

    ratings = config.ratings_source if (require_ratings or config.has_ratings) else None
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

    if config.has_ratings and all(p.is_file() for p in config.ratings_source.paths):  # only the rated images
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
        precision=config.precision,
        progress=progress,
        overwrite=overwrite,
    )


def open_store(config: StudyConfig):
    """The study's feature store (its error says to run `psychoface extract` when there is none)."""
    from psychoface.features.store import FeatureStore

    return FeatureStore(config.store_path)


def load_ratings_from_config(config: StudyConfig):
    """The study's ratings (wide means, long trials, per-rater files), as named by the study file."""
    from psychoface.data.ratings_files import load_ratings_source

    ratings = load_ratings_source(config.ratings_source)
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
    return Ratings(means, trials, source=ratings.source, format=ratings.format, image_paths=ratings.image_paths,
                   raters=ratings.raters, layouts=ratings.layouts, notes=ratings.notes)


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


def not_extracted(ratings, ids) -> list[str]:
    """A plain statement of the rated stimuli that have no features in the store (never a silent drop)."""
    missing = set(ratings.means.index.astype(str)) - set(map(str, ids))
    return [f"{len(missing):,} rated stimuli have no features in the store and were not analysed"] if missing else []


