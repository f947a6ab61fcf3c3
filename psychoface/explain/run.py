"""Explain every rated face by its out-of-fold readout, streaming the aligned maps to disk.

:func:`explain_faces` runs one attribute and one readout (the real one, or one fitted on permuted ratings,
the data-randomisation reference): faces are taken fold by fold (each fold's readout explains its test
faces), in batches of ``batch_size`` images, preprocessed exactly as for extraction (the weights' own
transform). Each batch's maps are warped into the mean landmark configuration (or only resampled when the
faces are aligned already) and written to a ``.npy`` memory map of ``(n_faces, size, size)`` float32 rows,
so memory stays flat in the number of faces. The mean aligned image (for figures) is accumulated on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from psychoface.data.images import open_image
from psychoface.explain.align import warp
from psychoface.explain.methods import attribute
from psychoface.explain.regions import region_labels


@dataclass
class FaceSet:
    """The faces to explain: image paths, the network's transform, per-face alignment and regions."""

    paths: list
    transform: object
    crop: int
    transforms: np.ndarray | None = None      # (n, 2, 3) input frame -> mean configuration; None: aligned
    landmarks: np.ndarray | None = None       # (n, 68, 2) in the input frame (regions for region ablation)
    size: int = 112                           # side of the aligned maps
    mask: np.ndarray | None = None            # (size, size) user region labels in the aligned frame

    def images(self, idx) -> torch.Tensor:
        return torch.stack([self.transform(open_image(self.paths[i])) for i in idx])

    def region_masks(self, idx, shape):
        """Region labels of faces ``idx`` on their input grids of ``shape``: the user's mask carried back from
        the aligned frame into each face (nearest neighbour), else the regions of each face's landmarks."""
        if self.mask is not None:
            return torch.from_numpy(np.stack([self._mask_in_face(i, shape) for i in idx]).astype(np.int64))
        if self.landmarks is None:
            return None
        return torch.from_numpy(np.stack([region_labels(self.landmarks[i], shape) for i in idx]).astype(np.int64))

    def _mask_in_face(self, i, shape):
        H, W = shape
        ys, xs = np.mgrid[0:H, 0:W]
        pts = np.stack([(xs.ravel() + 0.5) * self.crop / W - 0.5, (ys.ravel() + 0.5) * self.crop / H - 0.5], axis=1)
        if self.transforms is not None:  # input frame -> mean configuration
            M = self.transforms[i]
            pts = pts @ M[:, :2].T + M[:, 2]
        side = self.mask.shape[0]
        col, row = (np.clip(np.rint((pts[:, k] + 0.5) * side / self.crop - 0.5), 0, side - 1).astype(int)
                    for k in (0, 1))
        return self.mask[row, col].reshape(H, W)

    def align(self, maps, idx):
        return warp(maps, None if self.transforms is None else self.transforms[idx], self.crop, self.size)


@dataclass
class Explained:
    """Aligned maps on disk and what goes with them, rows in the order of the face set."""

    maps_path: Path
    output: np.ndarray      # f(x): prediction minus intercept, per face
    intercept: np.ndarray   # the fold's intercept, per face
    mean_image: np.ndarray  # (size, size, 3) mean aligned image in [0, 1]

    def maps(self) -> np.ndarray:
        return np.load(self.maps_path, mmap_mode="r")


def unnormalise(images: torch.Tensor, mean, std) -> np.ndarray:
    """(B, 3, H, W) normalised tensors -> (B, H, W, 3) float32 in [0, 1]."""
    x = images * torch.tensor(std)[:, None, None] + torch.tensor(mean)[:, None, None]
    return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def explain_faces(model, readouts, faces: FaceSet, rows, method: str, path, *, batch_size: int = 16,
                  preprocessing=None, seed: int = 0, progress=None, **method_options) -> Explained:
    """Maps of ``method`` for the faces ``rows`` (positions in ``faces``; readouts' ``test`` index ``rows``).

    Writes ``path`` (.npy, float32, ``(len(rows), size, size)``) and returns :class:`Explained`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = np.asarray(rows)
    n = len(rows)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, faces.size, faces.size))
    output, intercept = np.zeros(n), np.zeros(n)
    image_sum = np.zeros((faces.size, faces.size, 3))
    done = 0
    for readout in readouts:
        model.set_readout(readout.linear())
        for s in range(0, len(readout.test), batch_size):
            pos = readout.test[s:s + batch_size]
            idx = rows[pos]
            x = faces.images(idx)
            masks = faces.region_masks(idx, x.shape[2:]) if method == "regions" else None
            maps = attribute(model, x, method, region_masks=masks, seed=seed + int(pos[0]), **method_options)
            out[pos] = faces.align(maps, idx)
            with torch.no_grad():
                output[pos] = model(x).numpy()
            intercept[pos] = readout.intercept
            if preprocessing is not None:
                pics = unnormalise(x, preprocessing["mean"], preprocessing["std"])
                image_sum += faces.align(pics, idx).sum(axis=0)
            done += len(pos)
            if progress is not None:
                progress(done, n)
    out.flush()
    del out
    return Explained(path, output, intercept, (image_sum / max(n, 1)).astype(np.float32))
