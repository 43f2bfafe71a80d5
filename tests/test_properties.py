"""Property-based checks (hypothesis): layout conversions round-trip exactly; data
validation never accepts a corrupted file."""
import gzip

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.data import DataError, _read_usps_h5, _read_usps_text
from harness.spec import PARAM_NAMES, PARAM_SHAPES, VARIANTS
from tests.conftest import DATA_DIR

USPS_H5 = DATA_DIR / "usps" / "usps.h5"


# Whole parameter sets are big draws: hypothesis may discard many before it has enough, and its
# health check then fails the test at random (seen in CI-like runs); the property is unaffected.
BIG_DRAWS = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


def canonical_params(dtype):
    width = 32 if dtype == "float32" else 64
    finite = st.floats(allow_nan=False, allow_infinity=False, width=width)
    # fill: a drawn background value plus sparse drawn elements; drawing all 9,760 elements one by
    # one overruns hypothesis's data budget and fails its health check at random
    return st.fixed_dictionaries({n: arrays(dtype, PARAM_SHAPES[n], elements=finite, fill=finite)
                                  for n in PARAM_NAMES})


def _equal_bits(a: dict, b: dict) -> bool:
    return all(a[n].dtype == b[n].dtype and np.array_equal(a[n].view(np.uint8), b[n].view(np.uint8))
               for n in PARAM_NAMES)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@settings(max_examples=25, deadline=None, suppress_health_check=BIG_DRAWS)
@given(data=st.data())
def test_jax_layout_round_trips_bit_exactly(dtype, data):
    layout = pytest.importorskip("backends.jax.layout")
    p = data.draw(canonical_params(dtype))
    back = layout.to_canonical(layout.from_canonical(p))
    assert _equal_bits(p, back)


@pytest.mark.parametrize("strategy", ["eager", "compiled"])
@settings(max_examples=10, deadline=None, suppress_health_check=BIG_DRAWS)
@given(p=canonical_params("float64"))
def test_torch_sessions_hand_parameters_back_bit_exactly(strategy, p):
    pytest.importorskip("torch")
    from backends.torch import TorchBackend

    s = TorchBackend().session(variant=VARIANTS["1989"], params=p, dtype="float64", device="cpu",
                               strategy=strategy)
    assert _equal_bits(p, s.get_params())


# ---------------------------------------------------------------- data validation

@pytest.fixture(scope="module")
def usps_bytes():
    if not USPS_H5.is_file():
        pytest.skip(f"{USPS_H5} not found")
    return USPS_H5.read_bytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_of_usps_h5_is_rejected(usps_bytes, tmp_path_factory, data):
    offset = data.draw(st.integers(0, len(usps_bytes) - 1))
    flip = data.draw(st.integers(1, 255))
    corrupt = bytearray(usps_bytes)
    corrupt[offset] ^= flip
    path = tmp_path_factory.mktemp("h5") / "usps.h5"
    path.write_bytes(bytes(corrupt))
    with pytest.raises(DataError, match="usps.h5"):
        _read_usps_h5(path)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_truncated_usps_h5_is_rejected(usps_bytes, tmp_path_factory, data):
    n = data.draw(st.integers(0, len(usps_bytes) - 1))
    path = tmp_path_factory.mktemp("h5") / "usps.h5"
    path.write_bytes(usps_bytes[:n])
    with pytest.raises(DataError, match="usps.h5"):
        _read_usps_h5(path)


CORRUPTIONS = ["drop-value", "extra-value", "label-out-of-range", "pixel-out-of-range", "not-a-number",
               "nan", "truncate-gzip"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(CORRUPTIONS), row=st.integers(0, 39), col=st.integers(0, 256),
       data=st.data())
def test_structural_corruption_of_the_text_format_is_rejected(tmp_path_factory, kind, row, col, data):
    """Checksums off, as for a user's own file: broken structure must still never pass."""
    rng = np.random.default_rng(row)
    rows = [[str(int(rng.integers(0, 10)))] + [f"{v:.4f}" for v in rng.uniform(-1, 1, 256)] for _ in range(40)]
    r = rows[row]
    if kind == "drop-value":
        del r[col]
    elif kind == "extra-value":
        r.insert(col, "0.5")
    elif kind == "label-out-of-range":
        r[0] = str(data.draw(st.sampled_from([-1, 10, 11, 99])))
    elif kind == "pixel-out-of-range":
        r[max(col, 1)] = f"{data.draw(st.floats(1.0001, 1e6)):.6f}"
    elif kind == "not-a-number":
        r[col] = "x" + r[col]
    elif kind == "nan":
        r[max(col, 1)] = "nan"
    path = tmp_path_factory.mktemp("txt") / "zip.train.gz"
    payload = gzip.compress(("\n".join(" ".join(r) for r in rows) + "\n").encode())
    if kind == "truncate-gzip":
        payload = payload[: data.draw(st.integers(10, len(payload) - 1))]
    path.write_bytes(payload)
    with pytest.raises(DataError, match="zip.train.gz"):
        _read_usps_text(path, verify_checksum=False)
