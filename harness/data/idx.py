"""IDX files (MNIST's format) and the bilinear resize of karpathy's preprocessing."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from .checks import _one_line

# IDX type codes -> big-endian NumPy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped if the name ends in .gz), e.g. MNIST's, into an array.

    The header is 0, 0, a type code, the number of dimensions, then each
    dimension as a big-endian uint32 (magic 2051 for images, 2049 for labels)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: truncated or corrupt file ({_one_line(e)})") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(raw)} bytes, no complete header")
    zero, code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file (magic {int.from_bytes(raw[:4], 'big')})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header: {len(raw)} bytes, expected {header}")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    need, have = int(np.prod(dims)) * dtype.itemsize, len(raw) - header
    if have != need:
        kind = "truncated" if have < need else "trailing bytes in"
        raise DataError(f"{path}: {kind} IDX file: dims {dims} need {need} bytes of data, found {have}")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def bilinear_resize(images, out_h: int, out_w: int) -> np.ndarray:
    """Resize the last two axes with torch's F.interpolate(mode="bilinear",
    align_corners=False, antialias=False) arithmetic, in the input's float dtype.

    Source coordinate of output pixel d: max(scale * (d + 0.5) - 0.5, 0) with
    scale = in / out; the upper neighbour is clamped to the last row/column.
    Same taps and weights as torch; the sums agree to a float32 ulp or two
    (torch's vectorised kernel adds in its own order)."""
    x = np.asarray(images)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    if x.ndim < 2 or out_h < 1 or out_w < 1:
        raise ValueError(f"need images (..., H, W) and positive output sizes, got {x.shape} -> ({out_h}, {out_w})")
    r0, r1, rw0, rw1 = _linear_taps(x.shape[-2], out_h, x.dtype)
    c0, c1, cw0, cw1 = _linear_taps(x.shape[-1], out_w, x.dtype)

    def along_w(rows):  # (..., out_h, W) -> (..., out_h, out_w)
        return rows[..., c0] * cw0 + rows[..., c1] * cw1

    # h0 * (w0 * x00 + w1 * x01) + h1 * (w0 * x10 + w1 * x11)
    return rw0[:, None] * along_w(x[..., r0, :]) + rw1[:, None] * along_w(x[..., r1, :])


def _linear_taps(in_size: int, out_size: int, dtype):
    """Indices and weights of torch's align_corners=False linear interpolation,
    computed in `dtype` as torch's CPU kernel computes them in the op's math type."""
    t = np.dtype(dtype).type
    scale = t(in_size) / t(out_size)
    real = np.maximum(scale * (np.arange(out_size, dtype=dtype) + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    lam1 = np.clip(real - i0.astype(dtype), t(0), t(1)).astype(dtype)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, (t(1) - lam1).astype(dtype), lam1
