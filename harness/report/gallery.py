"""The gallery's images: a run's missed test digits, looked up in the data set it names."""
from __future__ import annotations

from ..data import DataError, load_dataset
from .load import Loaded

GALLERY_MAX = 144


def _load(d: dict, data_dir):
    """The run's data set, or (None, why). Never downloads; never fails the report."""
    try:  # data_dir None: $HARNESS_DATA_DIR, else the per-user cache
        seed = d.get("seed") if isinstance(d.get("seed"), int) and 0 <= d["seed"] < 2 ** 63 else 1337
        return load_dataset(d.get("dataset", "usps"), data_dir, seed=seed, download=False), None
    except DataError as e:
        return None, f"the {d.get('dataset')} data could not be loaded ({e})"
    except Exception as e:  # noqa: BLE001 -- the gallery is an extra: never fail the report for it
        return None, f"the {d.get('dataset')} data could not be loaded ({type(e).__name__}: {e})"


def gallery_images(run: Loaded, data_dir, max_tiles: int = GALLERY_MAX) -> tuple[list | None, str | None]:
    """[(image 16x16, true, predicted, test index)] for the run's missed test digits, or (None, why)."""
    d = run.data
    tm = d["test_missed"]
    idx, pred, lab = tm["indices"], tm["predicted"], tm["labels"]
    if not len(idx) == len(pred) == len(lab):
        return None, f"{run.path.name}: malformed test_missed (lists of different lengths)"
    if not idx:
        return [], None
    data, why = _load(d, data_dir)
    if data is None:
        return None, why
    import numpy as np

    n = len(data.test_x)
    if not all(0 <= i < n for i in idx):
        return None, f"{run.path.name}: test_missed indices outside the {n} test images of {data.name}"
    if [int(data.test_labels[i]) for i in idx] != lab:
        return None, (f"the {data.name} test labels here differ from those recorded in {run.path.name} "
                      "(another copy or preprocessing of the data?)")
    if not all(0 <= p <= 9 for p in pred):
        return None, f"{run.path.name}: test_missed predictions that are not digits 0..9"
    return [(np.asarray(data.test_x[i]).reshape(16, 16), int(t), int(p), int(i))
            for i, t, p in list(zip(idx, lab, pred))[:max_tiles]], None
