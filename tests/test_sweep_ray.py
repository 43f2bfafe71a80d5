"""harness sweep on Ray: a local Ray, and a simulated two-node cluster whose nodes carry different
custom resources (each point must land on the node its resources name). Children are real
`harness run` processes on synthetic data; only the driver writes into the results directory."""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from harness.config import RunConfig
from harness.sweep import driver as sweep_driver
from harness.sweep.driver import run_sweep
from harness.sweep.grid import Grid, expand
from harness.sweep.manifest import MANIFEST_NAME, SWEEP_DIR, point_id
from harness.sweep.ray_exec import run_ray
from tests.conftest import requires_torch

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[1]
STRATS = {"torch": ("eager", "compiled"), "jax": ("step", "scan")}
TINY = {"backends": "torch", "strategies": "eager", "datasets": "synthetic", "limit": "64", "epochs": "1",
        "threads": "1"}
# workers are started by the raylet, which inherits this process's environment
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def _driver_only_writes(monkeypatch):
    written = []
    real = sweep_driver.write_result
    pid = os.getpid()

    def spy(results_dir, result, stem, attachments=None):
        assert os.getpid() == pid
        path = real(results_dir, result, stem, attachments)
        written.append(path)
        return path

    monkeypatch.setattr(sweep_driver, "write_result", spy)
    return written


@pytest.mark.slow  # ~45 s on a busy 2-core machine; the cluster test below covers the executor by default
def test_local_ray_runs_points_as_tasks(tmp_path, monkeypatch):
    written = _driver_only_writes(monkeypatch)
    grid = Grid(expand({**TINY, "seeds": "1-2"}, None, STRATS))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = run_sweep(grid, tmp_path, run_ray, progress_stream=io.StringIO(), env={})
    finally:
        ray.shutdown()
    assert not out.failed, out.failed
    assert sorted(tmp_path.iterdir()) == sorted(written + [tmp_path / MANIFEST_NAME, tmp_path / SWEEP_DIR])
    results = [json.loads(p.read_text()) for p in written]
    assert sorted(r["seed"] for r in results) == [1, 2]
    for r in results:
        where = r["sweep"]["where"]
        assert where["executor"] == "ray" and where["pid"] != os.getpid()  # ran in a Ray worker
        assert where["assigned_resources"] == {"CPU": 1.0}  # its declared threads
        assert r["environment"]["cotenants"] in (0, 1) and r["sweep"]["cotenants_max"] in (0, 1)


@requires_torch
def test_two_node_cluster_places_points_by_custom_resource(tmp_path, monkeypatch):
    """Node "red" and node "blue" (one CPU each); points pinned to each land there, and the
    results directory holds exactly what the driver wrote."""
    from ray.cluster_utils import Cluster

    written = _driver_only_writes(monkeypatch)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"red": 1}})
    cluster.add_node(num_cpus=1, resources={"blue": 1})
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        node_of = {k: n["NodeID"] for n in ray.nodes() if n["Alive"] for k in ("red", "blue")
                   if k in n["Resources"]}
        assert len(set(node_of.values())) == 2
        pts = expand({**TINY, "seeds": "1-2"}, None, STRATS)
        colour = {1: "red", 2: "blue"}
        # and three points no node can hold: they fail at once, saying why, instead of waiting forever
        nowhere = [RunConfig(**{**pts[0].to_dict(), "seed": 3}), RunConfig(**{**pts[0].to_dict(), "seed": 4,
                                                                              "threads": 2}),
                   RunConfig(**{**pts[0].to_dict(), "seed": 5, "device": "cuda"})]
        res = {p: {colour[p.seed]: 1.0} for p in pts} | {nowhere[0]: {"green": 1.0}}
        grid = Grid(pts + nowhere, res)
        out = run_sweep(grid, tmp_path, run_ray, progress_stream=io.StringIO(), env={})
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert sorted(out.failed) == sorted(point_id(p) for p in nowhere)
    for p, needs in zip(nowhere, ("CPU 1, green 1", "CPU 2 on one node", "CPU 1, GPU 1")):
        assert "no node of the Ray cluster can hold this point" in out.failed[point_id(p)]
        assert needs in out.failed[point_id(p)]
    assert len(written) == 2
    assert sorted(tmp_path.iterdir()) == sorted(written + [tmp_path / MANIFEST_NAME, tmp_path / SWEEP_DIR])
    for path in written:
        r = json.loads(path.read_text())
        where, c = r["sweep"]["where"], colour[r["seed"]]
        assert where["node_id"] == node_of[c], (r["seed"], where)
        assert where["assigned_resources"].get(c) == 1.0
        assert not str(tmp_path) in json.dumps(where)  # the worker never saw the results directory


@pytest.mark.slow
def test_sigterm_stops_a_ray_sweep_cleanly(tmp_path):
    """SIGTERM to `harness sweep --executor ray` (ray.init installs its own handler; the sweep's
    must win): the finished point is kept, running ones are left pending, no child survives."""
    import signal
    import subprocess
    import sys
    import time

    from harness.sweep.manifest import read_manifest

    args = ["sweep", "--executor", "ray", *(a for k, v in TINY.items() for a in (f"--{k}", v)),
            "--seeds", "1-4", "--window", "263", "--results-dir", str(tmp_path)]  # 263: marks our children
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        m = read_manifest(tmp_path)
        if m and m["counts"]["done"] >= 1 and m["counts"]["running"] >= 1:
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    m = read_manifest(tmp_path)
    assert m["counts"]["running"] == 0 and m["counts"]["done"] >= 1
    assert "interrupted" in {p["reason"] for p in m["points"] if p["state"] == "pending"}
    assert len(list(tmp_path.glob("run-*.json"))) == m["counts"]["done"]
    time.sleep(5)
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "--window 263" not in ps  # no child of the sweep survived it


def test_unreachable_ray_address_is_one_line_exit_2(tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", "--executor", "ray", "--ray-address",
                        "127.0.0.1:1", "--datasets", "synthetic", "--results-dir", str(tmp_path)],
                       capture_output=True, text=True, check=False, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "--ray-address 127.0.0.1:1: no Ray cluster answers there" in p.stderr
