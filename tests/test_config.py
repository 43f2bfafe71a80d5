from harness.config import IDENTITY, RunConfig


def test_identity_ignores_how_a_run_is_measured():
    a = RunConfig(backend="jax", strategy="scan", seed=3, window=64, threads=1)
    b = RunConfig(backend="jax", strategy="scan", seed=3, window=256, threads=None)
    assert a.key() == b.key() and a.identity() == b.identity()
    assert a.key() != RunConfig(backend="jax", strategy="scan", seed=4).key()
    assert list(a.identity()) == list(IDENTITY)


def test_round_trips_through_dict_and_args():
    c = RunConfig(backend="torch", strategy="compiled", epochs=2, limit=100, threads=1)
    assert RunConfig.from_dict({**c.to_dict(), "unknown": 1}) == c
    args = c.to_args()
    assert args[args.index("--limit") + 1] == "100" and args[args.index("--strategy") + 1] == "compiled"
    assert "--epochs" not in RunConfig().to_args()
