"""Faces in register: landmarks in the network's input frame, the mean configuration, similarity warps.

Method. Landmarks are given in image pixels (x right, y down, pixel centres at integer coordinates, as dlib
gives them). The network sees each image resized (shorter side to ``resize``) and centre-cropped to
``crop`` pixels, torchvision's ``Resize`` and ``CenterCrop``; :func:`to_input_frame` applies the same
mapping to the landmarks. The mean configuration is a generalised Procrustes mean (Gower, 1975): starting
from the plain mean, every face is aligned to the current mean by the least-squares similarity transform
(rotation, uniform scale, translation; Umeyama, 1991) and the mean of the aligned configurations becomes the
next target, re-centred and re-scaled to the plain mean's centroid and size, for a fixed number of
iterations. Each face's map (or image) is then resampled into the mean configuration's frame with the
inverse of its transform by bilinear interpolation (``scipy.ndimage.map_coordinates``, order 1), on a grid of
``size`` x ``size`` pixels covering the input frame. Stimulus sets that are aligned already (generated or
standardised faces) skip the transform and are only resampled to the grid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from psychoface.errors import PsychofaceError


def to_input_frame(coords, image_sizes, resize: int, crop: int) -> np.ndarray:
    """Landmarks ``(n, k, 2)`` in original image pixels -> pixels of the network input (resized, cropped).

    ``image_sizes`` is ``(n, 2)`` of (width, height). Uses torchvision's ``Resize(resize)`` (shorter side
    to ``resize``, the longer side scaled and truncated) and ``CenterCrop(crop)`` (offset rounded).
    """
    coords = np.asarray(coords, dtype=np.float64)
    sizes = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    out = np.empty_like(coords)
    for i, (w, h) in enumerate(sizes):
        short, long = min(w, h), max(w, h)
        new_long = int(resize * long / short)
        new_w, new_h = (resize, new_long) if w <= h else (new_long, resize)
        left, top = int(round((new_w - crop) / 2.0)), int(round((new_h - crop) / 2.0))
        out[i, :, 0] = (coords[i, :, 0] + 0.5) * new_w / w - 0.5 - left
        out[i, :, 1] = (coords[i, :, 1] + 0.5) * new_h / h - 0.5 - top
    return out


def similarity_transform(src, dst) -> np.ndarray:
    """The 2 x 3 matrix ``M`` of the least-squares similarity transform ``dst ~ M @ [src, 1]`` (Umeyama, 1991)."""
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s0, d0 = src - mu_s, dst - mu_d
    var = (s0 ** 2).sum() / len(src)
    if var <= 0:
        raise PsychofaceError("landmarks: every landmark of a face is at the same point; check the landmark file")
    U, S, Vt = np.linalg.svd(d0.T @ s0 / len(src))
    D = np.diag([1.0, np.sign(np.linalg.det(U @ Vt)) or 1.0])
    R = U @ D @ Vt
    scale = np.trace(np.diag(S) @ D) / var
    M = np.empty((2, 3))
    M[:, :2] = scale * R
    M[:, 2] = mu_d - scale * R @ mu_s
    return M


def apply(M, points) -> np.ndarray:
    """Points ``(k, 2)`` mapped by the 2 x 3 transform ``M``."""
    points = np.asarray(points, dtype=np.float64)
    return points @ M[:, :2].T + M[:, 2]


def mean_configuration(coords, iterations: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Procrustes mean of ``(n, k, 2)`` landmarks; returns ``(mean (k, 2), transforms (n, 2, 3))``
    mapping each face onto the mean."""
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 3 or coords.shape[2] != 2 or len(coords) == 0:
        raise PsychofaceError(f"landmarks: expected faces x points x 2 coordinates, got shape {coords.shape}")
    if not np.isfinite(coords).all():
        bad = int(np.argwhere(~np.isfinite(coords))[0, 0])
        raise PsychofaceError(f"landmarks: face {bad + 1} has missing landmarks; detect them again or drop the face")
    target = coords.mean(axis=0)
    centre, size = target.mean(axis=0), np.sqrt(((target - target.mean(axis=0)) ** 2).sum())
    for _ in range(iterations):
        aligned = np.stack([apply(similarity_transform(c, target), c) for c in coords])
        target = aligned.mean(axis=0)
        t0 = target - target.mean(axis=0)
        target = t0 * size / np.sqrt((t0 ** 2).sum()) + centre
    transforms = np.stack([similarity_transform(c, target) for c in coords])
    return target, transforms


def warp(maps, transforms, crop: int, size: int) -> np.ndarray:
    """Resample ``(n, H, W)`` maps (or ``(n, H, W, C)`` images) into the mean configuration's frame.

    ``transforms`` ``(n, 2, 3)`` map each face's input-frame pixels onto the mean configuration (None:
    already aligned, only resampled). Output ``(n, size, size[, C])`` float32; the grid covers the input
    frame of ``crop`` pixels; points outside the face's image are 0.
    """
    maps = np.asarray(maps, dtype=np.float32)
    n = len(maps)
    u = (np.arange(size) + 0.5) * crop / size - 0.5  # output pixel centres in input-frame pixels
    gx, gy = np.meshgrid(u, u)
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    out = np.zeros((n, size, size, *maps.shape[3:]), dtype=np.float32)
    scale_h, scale_w = maps.shape[1] / crop, maps.shape[2] / crop
    for i in range(n):
        if transforms is None:
            src = grid
        else:
            M = transforms[i]
            A = np.linalg.inv(M[:, :2])
            src = (grid - M[:, 2]) @ A.T
        rows = (src[:, 1] + 0.5) * scale_h - 0.5
        cols = (src[:, 0] + 0.5) * scale_w - 0.5
        if maps.ndim == 3:
            out[i] = ndimage.map_coordinates(maps[i], [rows, cols], order=1, cval=0.0).reshape(size, size)
        else:
            for c in range(maps.shape[3]):
                out[i, ..., c] = ndimage.map_coordinates(maps[i, ..., c], [rows, cols], order=1,
                                                         cval=0.0).reshape(size, size)
    return out
