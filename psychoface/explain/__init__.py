"""Explanations of predicted ratings: the readout module, attribution methods, faces in register, regions,
faithfulness checks and the streaming runner. Uses captum, zennit and MNE (dependencies of psychoface)."""

from __future__ import annotations

import importlib

from psychoface.errors import PsychofaceError

INSTALL_HINT = "reinstall psychoface with its dependencies (pip install psychoface, or pip install captum zennit mne)"


def require(module: str):
    """Import an optional dependency of the explanations, or one line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PsychofaceError(f"explain needs {module.split('.')[0]}, which is not installed; {INSTALL_HINT}") from None
