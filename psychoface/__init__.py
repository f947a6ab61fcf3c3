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
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'psychoface' has no attribute {name!r}")
