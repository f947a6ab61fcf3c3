"""The shape RDM: Kendall shape distances between every pair of faces, for the RSA functions."""

from __future__ import annotations

from scipy.spatial.distance import squareform

from psychoface.analyses.rdm import RDM
from psychoface.analyses.shape.kendall import ShapeFit, pairwise_rho

METRIC = "Kendall shape distance (rho)"


def shape_rdm(fit: ShapeFit, name: str = "face shape") -> RDM:
    """RDM of the faces' Kendall shape distances rho (closed form, :func:`.kendall.pairwise_rho`), usable as
    a layer, rating or covariate RDM of :func:`psychoface.analyses.rsa.rsa` and
    :func:`~psychoface.analyses.rsa.partial_rsa`."""
    return RDM(squareform(pairwise_rho(fit.preshapes), checks=False), fit.ids, METRIC, name)
