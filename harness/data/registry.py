"""Every file a data set needs: its path in the data directory, its hash and its public sources.

A data set has one or more *sources*, tried in order: a source is a set of files that together
make the data set (USPS: usps.h5; or ESL's text pair; or LIBSVM's pair). Each file's URLs are
tried in order, after $HARNESS_DATA_MIRROR, which serves any file here under the same relative
path as in the data directory. Hashes are pooch's `algorithm:hex` form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the data directory, with "/" separators: "usps/zip.train.gz"
    known_hash: str  # "sha256:..." or "md5:..."
    urls: tuple[str, ...] = ()  # public sources in order; empty: only a mirror serves it
    size: int | None = None  # bytes, when known (for `harness data list`)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def algorithm(self) -> str:
        return self.known_hash.split(":", 1)[0]

    @property
    def digest(self) -> str:
        return self.known_hash.split(":", 1)[1]


@dataclass(frozen=True)
class Source:
    key: str  # recorded in results: dataset_source.origin.source
    title: str  # what it is, for messages and `harness data list`
    files: tuple[DataFile, ...]
    page: str | None = None  # where a person finds it


# The Elements of Statistical Learning's data page moved from web.stanford.edu/~hastie to
# hastie.su.domains (2021-22); the old address redirected there when last seen. Both are listed.
ESL_URLS = ("https://hastie.su.domains/ElemStatLearn/datasets/",
            "https://web.stanford.edu/~hastie/ElemStatLearn/datasets/")
LIBSVM_URL = "https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass/"
# torchvision's MNIST host first (this harness's only one before), then TensorFlow's, then
# the original page (which has refused downloads at times).
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/")


def _at(bases: tuple[str, ...], name: str) -> tuple[str, ...]:
    return tuple(base + name for base in bases)


USPS_SOURCES = (
    Source("usps.h5", "the same digits as HDF5, pixels in [0, 1] (no public URL: only a mirror serves it)",
           (DataFile("usps/usps.h5", "sha256:734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
                     (), 2913522),)),
    Source("esl", "The Elements of Statistical Learning's zip.train.gz / zip.test.gz (digit, then 256 values in "
                  "[-1, 1])",
           (DataFile("usps/zip.train.gz", "sha256:66ebf231ab51f2cf6ac1a892d0f98ccffee1079d7a5db638c1f11f366046ca16",
                     _at(ESL_URLS, "zip.train.gz"), 1829071),
            DataFile("usps/zip.test.gz", "sha256:8dacc3c6e136af6c3488de9e5113a7daf140c8c2f1f0b61c54ee02f03f1a962f",
                     _at(ESL_URLS, "zip.test.gz"), 439208)),
           page="https://hastie.su.domains/ElemStatLearn/datasets/"),
    # The checksums torchvision's USPS loader uses.
    Source("libsvm", "LIBSVM's usps.bz2 / usps.t.bz2 (label 1-10, then idx:value pairs in [-1, 1])",
           (DataFile("usps/usps.bz2", "md5:ec16c51db3855ca6c91edd34d0e9b197", _at((LIBSVM_URL,), "usps.bz2")),
            DataFile("usps/usps.t.bz2", "md5:8ea070ee2aca1ac39742fdd1ef5ed118", _at((LIBSVM_URL,), "usps.t.bz2"))),
           page="https://www.csie.ntu.edu.tw/~cjlin/libsvmtools/datasets/multiclass.html#usps"),
)

MNIST_SOURCES = (
    Source("idx", "MNIST's four IDX files (LeCun, Cortes and Burges)",
           tuple(DataFile(f"mnist/{name}", f"md5:{md5}", _at(MNIST_URLS, name), size) for name, md5, size in (
               ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
               ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
               ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
               ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
           )),
           page="http://yann.lecun.com/exdb/mnist/"),
)

# The data sets that have files; `synthetic` needs none.
REGISTRY: dict[str, tuple[Source, ...]] = {"usps": USPS_SOURCES, "mnist": MNIST_SOURCES}


def sources(dataset: str) -> tuple[Source, ...]:
    """The sources of one data set, in the order they are tried. Looked up at call time, so a
    test may swap REGISTRY's entries."""
    return REGISTRY[dataset]
