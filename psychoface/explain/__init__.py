"""Explanations of predicted ratings: the readout module, attribution methods, faces in register, regions,
faithfulness checks and the streaming runner. Needs the ``explain`` extra (captum, zennit, MNE)."""

from __future__ import annotations

import importlib

from psychoface.errors import PsychofaceError

INSTALL_HINT = 'pip install "psychoface[explain]"'


def require(module: str):
    """Import an optional dependency of the explanations, or one line saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise PsychofaceError(f"explain needs {module.split('.')[0]}, which is not installed; {INSTALL_HINT}") from None
