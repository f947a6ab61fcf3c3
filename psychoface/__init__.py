"""psychoface: how deep networks see faces, analysed the way psychologists report it.

The Python API mirrors the CLI: every command is one function returning tidy DataFrames.
Heavy modules (torch) are imported only when a function that needs them is first used.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "load_features": "psychoface.features.store",
    "FeatureStore": "psychoface.features.store",
    "extract": "psychoface.features.extract",
    "list_layers": "psychoface.features.layers",
    "load_ratings": "psychoface.data.ratings",
    "find_images": "psychoface.data.images",
    "load_study": "psychoface.data.study",
    "check_study": "psychoface.data.study",
    "PsychofaceError": "psychoface.errors",
    # analyses: arrays / DataFrames in, tidy DataFrames out (one row per test)
    "split_half_reliability": "psychoface.analyses.reliability",
    "icc": "psychoface.analyses.reliability",
    "predict_ratings": "psychoface.analyses.predict",
    "correlate_units": "psychoface.analyses.correlate",
    "compare_correlations": "psychoface.analyses.compare",
    "williams_test": "psychoface.analyses.compare",
    "steiger_z": "psychoface.analyses.compare",
    "layer_rdm": "psychoface.analyses.rdm",
    "rating_rdm": "psychoface.analyses.rdm",
    "pixel_rdm": "psychoface.analyses.rdm",
    "rsa": "psychoface.analyses.rsa",
    "partial_rsa": "psychoface.analyses.rsa",
    "compare_layers": "psychoface.analyses.rsa",
    "rating_rdm_noise_ceiling": "psychoface.analyses.rsa",
    # reports
    "apa_table_for": "psychoface.reports.tables",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'psychoface' has no attribute {name!r}")
