"""Known pixels of known images, per source of each data set: polarity, orientation, scaling, labels.

End-to-end runs did not notice a loader that inverts the images (still in [-1, 1]) or
transposes them. Here every source is loaded alone (a data directory holding only its files,
through load_dataset, as `harness run` loads it) and must give:

- the pinned images: their labels and a few exact pixel values (corners are background, -1; a
  stroke pixel; off-diagonal pairs, so a transposed image shows; unsaturated values, so the
  scaling shows);
- the polarity of the whole set: background -1 and strokes +1, so most pixels and the corners
  of nearly every image are -1, and the mean is well below 0.

A new source of a data set (another file format, a download mirror) is one line in SOURCES:
its files, and the pins of its data set (every USPS source holds the same images in the same
order). A source whose files are not in the data directory skips, saying which.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from harness import data
from harness.data import Dataset, load_dataset
from tests.conftest import DATA_DIR


@dataclass(frozen=True)
class Pin:
    """Image `index` of `split` (None: some image of that split with this label) has `label` and,
    at (row, col), these pixel values (to 1e-3: text sources print a few decimals)."""

    split: str
    index: int | None
    label: int
    pixels: dict[tuple[int, int], float]


CORNERS = {(0, 0): -1.0, (0, 15): -1.0, (15, 0): -1.0, (15, 15): -1.0}
USPS_PINS = (
    Pin("train", 0, 6, {**CORNERS, (1, 8): 1.0, (8, 1): -1.0, (0, 7): -0.631, (0, 8): 0.862, (12, 5): 1.0}),
    Pin("train", 1, 5, {(10, 1): 1.0, (1, 10): 0.613, (0, 12): -0.18, (12, 0): -0.105, (2, 14): 0.875}),
    Pin("test", 0, 9, {**CORNERS, (0, 7): 0.148, (0, 8): 0.384, (1, 6): 1.0, (6, 1): -0.993, (8, 4): 1.0}),
    Pin("test", 1, 6, {(7, 1): 0.723, (1, 7): -1.0, (9, 14): 1.0, (14, 9): -1.0}),
)
# MNIST's first two test digits (a 7 and a 2) after karpathy's preprocessing; the 1989-sized splits
# are a random selection, so they are found by label among the images drawn.
MNIST_T10K_PINS = (
    Pin("test", None, 7, {**CORNERS, (5, 11): 0.986, (11, 5): -1.0, (4, 4): 0.606, (4, 3): -0.335, (13, 7): 0.992}),
    Pin("test", None, 2, {**CORNERS, (11, 5): 0.984, (5, 11): -1.0, (2, 7): 0.955, (7, 2): -1.0, (3, 6): 0.01}),
)
MNIST_FILES = tuple(f"mnist/{name}" for name in data.MNIST_MD5)
T10K = {"images": "mnist/t10k-images-idx3-ubyte.gz", "labels": "mnist/t10k-labels-idx1-ubyte.gz"}


def _mnist_t10k_as_train(folder: Path) -> Dataset:
    """MNIST's whole loading path (IDX, scaling, resize, selection) on the t10k files alone, used
    for both splits (the training images are not in the test data), every image drawn."""
    splits, source = data._load_mnist(folder, download=False, verify_checksum=False, use_cache=False,
                                      sizes={"train": 10000, "test": 10000})
    return data._as_dataset("mnist", splits, source, np.dtype("float32"))


def _usps_text_from_h5(folder: Path) -> Dataset:
    """The text-pair parser on ESL's format, written here from usps.h5's raw values (read with h5py,
    not the harness): the published zip.*.gz files are not in the test data."""
    import h5py

    from tests.test_data import write_usps_text

    with h5py.File(folder / "usps" / "usps.h5", "r") as f:
        raw = {s: (2.0 * f[f"{s}/data"][()].astype(np.float64) - 1.0, f[f"{s}/target"][()]) for s in ("train", "test")}
    (folder / "usps" / "usps.h5").unlink()
    for split, name in data._USPS_TEXT.items():
        write_usps_text(folder / "usps" / name, *raw[split])
    splits, source = data._load_usps(folder, verify_checksum=False)
    return data._as_dataset("usps", splits, source, np.dtype("float32"))


@dataclass(frozen=True)
class Source:
    dataset: str
    files: dict[str, str]  # name in the data directory -> the file under DATA_DIR that it is
    pins: tuple[Pin, ...]
    load: Callable[[Path], Dataset] | None = None  # default: load_dataset(dataset, folder)
    polarity: dict = field(default_factory=dict)


def _same(*names: str) -> dict[str, str]:
    return {n: n for n in names}


SOURCES = [
    pytest.param(Source("usps", _same("usps/usps.h5"), USPS_PINS), id="usps.h5"),
    pytest.param(Source("usps", _same("usps/zip.train.gz", "usps/zip.test.gz"), USPS_PINS), id="usps-esl-text"),
    pytest.param(Source("usps", _same("usps/usps.bz2", "usps/usps.t.bz2"), USPS_PINS), id="usps-libsvm"),
    pytest.param(Source("usps", _same("usps/usps.h5"), USPS_PINS, load=_usps_text_from_h5), id="usps-text-from-h5"),
    pytest.param(Source("mnist", _same(*MNIST_FILES), MNIST_T10K_PINS), id="mnist"),
    pytest.param(Source("mnist", {"mnist/train-images-idx3-ubyte.gz": T10K["images"],
                                  "mnist/train-labels-idx1-ubyte.gz": T10K["labels"],
                                  "mnist/t10k-images-idx3-ubyte.gz": T10K["images"],
                                  "mnist/t10k-labels-idx1-ubyte.gz": T10K["labels"]},
                        MNIST_T10K_PINS, load=_mnist_t10k_as_train), id="mnist-t10k-as-train"),
]


def load_source(source: Source, tmp_path: Path) -> Dataset:
    """The data set from a data directory that holds this source's files and nothing else."""
    missing = [f for f in source.files.values() if not (DATA_DIR / f).is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} not in the data directory {DATA_DIR}")
    for name, real in source.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(DATA_DIR / real)
    return source.load(tmp_path) if source.load else load_dataset(source.dataset, tmp_path)


def check_pins(ds: Dataset, pins: tuple[Pin, ...]) -> None:
    for pin in pins:
        x, labels = getattr(ds, f"{pin.split}_x")[:, 0], getattr(ds, f"{pin.split}_labels")
        rows, cols = zip(*pin.pixels)
        want = np.array(list(pin.pixels.values()))
        if pin.index is not None:
            assert labels[pin.index] == pin.label, pin
            np.testing.assert_allclose(x[pin.index][rows, cols], want, atol=1e-3, err_msg=str(pin))
        else:
            cands = x[labels == pin.label][:, rows, cols]
            assert np.any(np.all(np.abs(cands - want) <= 1e-3, axis=1)), f"no image like {pin}"


def check_polarity(ds: Dataset) -> None:
    """Background -1, strokes +1: in every split most pixels are -1, the mean is well below 0, the
    four corners are background in nearly every image, and the full range [-1, 1] is used."""
    for split in ("train", "test"):
        x = getattr(ds, f"{split}_x")[:, 0]
        assert x.min() == -1.0 and x.max() == 1.0, split
        assert (x == -1.0).mean() > 0.5 and x.mean() < -0.4, (split, (x == -1.0).mean(), x.mean())
        corners = x[:, [0, 0, -1, -1], [0, -1, 0, -1]]
        assert (corners == -1.0).mean() > 0.95, (split, (corners == -1.0).mean())


@pytest.mark.parametrize("source", SOURCES)
def test_known_images_of_every_source(source, tmp_path):
    ds = load_source(source, tmp_path)
    assert ds.name == source.dataset and ds.train_x.dtype == np.float32 and ds.train_x.shape[1:] == (1, 16, 16)
    check_pins(ds, source.pins)
    check_polarity(ds)


@pytest.mark.parametrize("change", ["inverted", "transposed", "scaled"])
def test_the_checks_fail_on_an_inverted_transposed_or_rescaled_set(change, tmp_path):
    """The checks themselves notice: the real USPS set inverted (still in [-1, 1]), transposed, or
    with its grey levels rescaled (still in [-1, 1], ends fixed) fails them."""
    ds = load_source(SOURCES[0].values[0], tmp_path)
    f = {"inverted": lambda x: -x, "transposed": lambda x: np.swapaxes(x, -1, -2),
         "scaled": lambda x: np.sign(x) * np.abs(x) ** 2}[change]
    bad = Dataset(ds.name, f(ds.train_x), ds.train_labels, f(ds.test_x), ds.test_labels, ds.source)
    with pytest.raises(AssertionError):
        check_pins(bad, USPS_PINS)
    if change == "inverted":  # a source without pins still fails on its polarity
        with pytest.raises(AssertionError):
            check_polarity(bad)
