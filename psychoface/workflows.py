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

    if config.ratings:
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
    """The study's feature store, with a hint to run `extract` when it does not exist."""
    from psychoface.features.store import FeatureStore

    path = config.store_path
    if not (path / "manifest.json").is_file():
        raise PsychofaceError(
            f"no feature store at {path}; run `psychoface extract` first (or pass --store FOLDER)"
        )
    return FeatureStore(path)
