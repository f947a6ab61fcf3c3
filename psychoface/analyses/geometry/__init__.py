"""Representation geometry: face space on the sphere, attribute directions, Riemannian RSA, shape metrics
and maps (one module each; pure functions returning tidy DataFrames)."""
