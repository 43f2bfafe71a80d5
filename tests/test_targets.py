"""Declared support and the one resolver of backend x strategy x device."""
from harness.backend import unsupported_reason


class _Declared:
    name = "only1989"
    strategies = ("eager",)
    variants = ("1989",)
    dtypes = ("float32",)


class _Rule(_Declared):
    variants = dtypes = None  # None, like absent, = everything

    def supports(self, strategy, variant, dtype):
        return "needs float32 for scan" if (strategy, dtype) == ("scan", "float64") else None


class _Silent:
    name = "silent"
    strategies = ("eager",)


def test_unsupported_reason_names_what_the_backend_supports():
    assert unsupported_reason(_Declared(), "eager", "1989", "float32") is None
    why = unsupported_reason(_Declared(), "eager", "modern", "float32")
    assert "variant 'modern'" in why and "supports: 1989" in why and "\n" not in why
    why = unsupported_reason(_Declared(), "eager", "1989", "float64")
    assert "dtype 'float64'" in why and "supports: float32" in why


def test_unsupported_reason_asks_supports_and_defaults_to_everything():
    assert unsupported_reason(_Silent(), "eager", "modern", "float64") is None
    assert unsupported_reason(_Rule(), "eager", "modern", "float32") is None
    assert "needs float32 for scan" in unsupported_reason(_Rule(), "scan", "1989", "float64")
