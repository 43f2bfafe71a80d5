"""The Ray executor's bookkeeping without Ray (harness.sweep.ray_exec): a fake `ray` module stands in
for the cluster, so these run everywhere (test_sweep_ray runs the real thing where ray is
installed). What a task declares (CPUs, GPU, custom resources), which points no node can hold
and what the message says, the address check, ray.init's arguments, the task body's co-tenant
counts and timeout, and run_ray / _collect: submit, skip claimed points, fail the infeasible at
once, report start and finish, and re-check waiting tasks against the nodes every RECHECK_S."""
from __future__ import annotations

import signal
import socket
import sys
from types import SimpleNamespace

import pytest

from harness.config import RunConfig
from harness.sweep import ray_exec
from harness.sweep.manifest import point_id
from harness.sweep.ray_exec import (
    RayUnavailable,
    Tenants,
    infeasible,
    node_cpus,
    task_options,
)


class _FakeRay:
    def __init__(self, nodes):
        self._nodes = nodes

    def nodes(self):
        return self._nodes


def test_task_options_declare_threads_gpu_and_custom_resources():
    fake = _FakeRay([{"Alive": True, "Resources": {"CPU": 8.0}},
                     {"Alive": True, "Resources": {"CPU": 32.0, "GPU": 1.0, "h100": 1.0}},
                     {"Alive": False, "Resources": {"CPU": 64.0}}])
    assert task_options(fake, RunConfig(threads=2), {}, False)["num_cpus"] == 2
    # no threads declared: the whole of the largest (alive) node that fits
    assert task_options(fake, RunConfig(), {}, False)["num_cpus"] == 32.0
    assert task_options(fake, RunConfig(device="cuda"), {"h100": 1.0}, False) == {
        "num_cpus": 32.0, "num_gpus": 1, "resources": {"h100": 1.0}, "max_retries": 0}
    assert task_options(fake, RunConfig(), {"h100": 1.0}, False)["num_cpus"] == 32.0  # the node that has it
    assert task_options(fake, RunConfig(), {}, True)["num_cpus"] == 1  # --share-cores
    assert node_cpus(fake, {"tpu": 1.0}) == 0  # no node carries it: `infeasible` says so, per point
    assert node_cpus(fake, {"h100": 1.0}) == 32.0


def test_no_node_that_fits_declares_one_cpu_and_infeasible_says_why():
    nodes = [{"CPU": 8.0}, {"CPU": 4.0, "GPU": 1.0}]
    opts = task_options(None, RunConfig(), {"tpu": 1.0}, False, nodes)
    assert opts == {"num_cpus": 1, "num_gpus": 0, "resources": {"tpu": 1.0}, "max_retries": 0}
    assert infeasible(nodes, opts) == ("no node of the Ray cluster can hold this point: it needs CPU 1, tpu 1 on "
                                       "one node; the 2 node(s) offer: CPU 8; CPU 4, GPU 1")
    assert "offer: nothing" in infeasible([], opts)


def test_a_resource_a_node_lacks_counts_as_none_of_it():
    assert ray_exec._fits({"CPU": 4.0}, {"CPU": 4.0}) and ray_exec._fits({"CPU": 4.0}, {})
    assert not ray_exec._fits({"CPU": 4.0}, {"CPU": 4.5})
    assert not ray_exec._fits({"CPU": 4.0}, {"h100": 1.0})  # absent, not 1 of it
    assert not ray_exec._fits({"CPU": 4.0}, {"h100": 0.5})
    assert ray_exec._needs({"num_cpus": 0, "num_gpus": 0, "resources": {}}) == {}
    assert ray_exec._needs({"num_cpus": 2, "num_gpus": 1, "resources": {"a": 1.0}}) == {"CPU": 2.0, "GPU": 1.0,
                                                                                        "a": 1.0}


NODES = [{"CPU": 8.0, "memory": 1e9, "node:10.0.0.1": 1.0}, {"CPU": 2.0, "GPU": 1.0, "h100": 1.0}]


@pytest.mark.parametrize("cfg, custom, words", [
    (RunConfig(threads=16), {}, "it needs CPU 16 on one node"),
    (RunConfig(threads=4, device="cuda"), {}, "it needs CPU 4, GPU 1 on one node"),  # GPU node has 2 CPUs
    (RunConfig(threads=1), {"tpu": 1.0}, "it needs CPU 1, tpu 1 on one node"),
    (RunConfig(), {"tpu": 1.0}, "it needs CPU 1, tpu 1"),  # no threads: a whole node, none fits
])
def test_a_point_no_node_can_hold_is_named_with_what_the_nodes_offer(cfg, custom, words):
    why = infeasible(NODES, task_options(None, cfg, custom, False, NODES))
    assert words in why and "the 2 node(s) offer: CPU 8; CPU 2, GPU 1, h100 1" in why


@pytest.mark.parametrize("cfg, custom", [
    (RunConfig(threads=8), {}), (RunConfig(device="cuda"), {"h100": 1.0}), (RunConfig(), {}),
    (RunConfig(threads=64), {}),  # --share-cores below: one nominal CPU
])
def test_a_point_some_node_can_hold_is_feasible(cfg, custom):
    share = cfg.threads == 64
    assert infeasible(NODES, task_options(None, cfg, custom, share, NODES)) is None


def test_a_waiting_task_whose_node_left_fails_instead_of_waiting():
    """A task not started when the only node that could hold it leaves is cancelled and failed."""
    cancelled, finished = [], []

    class Gone(_FakeRay):
        def cancel(self, ref):
            cancelled.append(ref)

    ray_ = Gone([{"Alive": False, "Resources": {"CPU": 4.0, "h100": 1.0}}, {"Alive": True, "Resources": {"CPU": 4.0}}])
    cfg = RunConfig(threads=2)
    refs = {"ref": (cfg, {"num_cpus": 2, "num_gpus": 0, "resources": {"h100": 1.0}})}
    ray_exec._fail_stranded(ray_, refs, set(), lambda c: None, lambda c, out: finished.append(out))
    assert cancelled == ["ref"] and not refs
    assert "no node of the Ray cluster can hold this point" in finished[0]["reason"]


# ----------------------------------------------------------------------------- the address, ray.init


@pytest.fixture
def listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


def test_an_address_that_answers_passes_and_a_bare_port_means_this_host(listening):
    ray_exec.check_address(f"127.0.0.1:{listening}")
    ray_exec.check_address(f":{listening}")  # no host: this one
    for skipped in (None, "", "auto", "ray://10.255.255.1:10001"):  # ray.init's own business
        ray_exec.check_address(skipped)


def test_an_address_nobody_answers_at_is_refused_saying_what_to_do(listening):
    with pytest.raises(RayUnavailable) as e:
        ray_exec.check_address("127.0.0.1:1")
    assert str(e.value).startswith("--ray-address 127.0.0.1:1: no Ray cluster answers there (")
    assert str(e.value).endswith("start one with `ray start --head`, or use auto / no address")
    with pytest.raises(RayUnavailable, match="--ray-address 127.0.0.1:port: no Ray cluster answers there"):
        ray_exec.check_address("127.0.0.1:port")


class _InitRay:
    def __init__(self, error=None):
        self.kwargs, self.error = None, error

    def init(self, **kwargs):
        self.kwargs = kwargs
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as ray.init does: its own handler
        if self.error:
            raise self.error


def test_init_is_quiet_and_keeps_the_sweeps_sigterm_handler(listening):
    def mine(*_):
        pass

    old = signal.signal(signal.SIGTERM, mine)
    try:
        fake = _InitRay()
        ray_exec._init(fake, f"127.0.0.1:{listening}")
        assert fake.kwargs == {"address": f"127.0.0.1:{listening}", "log_to_driver": False,
                               "include_dashboard": False, "logging_level": "error", "configure_logging": True}
        assert signal.getsignal(signal.SIGTERM) is mine
        with pytest.raises(RayUnavailable, match=r"cannot reach the Ray cluster at 'auto': refused"):
            ray_exec._init(_InitRay(ConnectionError("refused")), "auto")
    finally:
        signal.signal(signal.SIGTERM, old)


# ----------------------------------------------------------------------------- a fake cluster


class _Ref:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error


class _RayError(Exception):
    pass


class _Actor:
    def __init__(self, inst):
        self._inst = inst

    def __getattr__(self, name):
        method = getattr(self._inst, name)
        return SimpleNamespace(remote=lambda *a: _Ref(method(*a)))


class _Cluster:
    """Enough of `ray` for run_ray, _collect and ray_point: tasks run at once, in submission order;
    `outcome(cfg_dict)` says what each returns (a dict) or raises (an exception)."""

    exceptions = SimpleNamespace(RayError=_RayError)

    def __init__(self, nodes, outcome=None, initialized=False):
        self._nodes, self.outcome = nodes, outcome or (lambda d: {"ok": True, "seed": d["seed"]})
        self.initialized, self.inits, self.shutdowns = initialized, [], 0
        self.submitted, self.cancelled = [], []
        self.tenants = Tenants()

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.inits.append(kwargs)

    def shutdown(self):
        self.shutdowns += 1

    def nodes(self):
        return self._nodes

    def remote(self, *args, **kwargs):
        if kwargs:  # ray.remote(num_cpus=0)(Tenants): an actor class
            return lambda cls: SimpleNamespace(remote=lambda: _Actor(self.tenants))
        return SimpleNamespace(options=self._options)  # ray.remote(ray_point): a task

    def _options(self, **opts):
        def submit(*args):
            self.submitted.append((opts, args))
            try:
                return _Ref(self.outcome(args[0]))
            except _RayError as e:
                return _Ref(error=e)
        return SimpleNamespace(remote=submit)

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if ref.error is not None:
            raise ref.error
        return ref.value

    def cancel(self, ref):
        self.cancelled.append(ref)


ALIVE = [{"Alive": True, "Resources": {"CPU": 4.0, "h100": 1.0}}, {"Alive": False, "Resources": {"CPU": 64.0}}]


def _run(cluster, monkeypatch, points, **kwargs):
    monkeypatch.setattr(ray_exec, "_ray", lambda: cluster)
    monkeypatch.setattr(ray_exec, "check_address", lambda address: None)
    events = []
    kwargs.setdefault("resources_for", lambda cfg: {})
    ray_exec.run_ray(points, on_start=lambda c: events.append(("start", c.seed)),
                     on_finish=lambda c, out: events.append(("finish", c.seed, out)), **kwargs)
    return events


def test_run_ray_submits_each_claimed_point_with_its_options_and_reports_it(monkeypatch):
    cluster = _Cluster(ALIVE)
    points = [RunConfig(seed=s, threads=2) for s in (1, 2, 3)]
    events = _run(cluster, monkeypatch, points, claim=lambda c: c.seed != 2, env={"A": "1"}, save_params=True,
                  address="10.0.0.9:6379", point_timeout=30.0)
    assert [i["address"] for i in cluster.inits] == ["10.0.0.9:6379"]
    assert [e[:2] for e in events] == [("start", 1), ("finish", 1), ("start", 3), ("finish", 3)]
    assert [e[2] for e in events if e[0] == "finish"] == [{"ok": True, "seed": 1}, {"ok": True, "seed": 3}]
    (opts, args), _ = cluster.submitted
    assert opts == {"num_cpus": 2, "num_gpus": 0, "resources": {}, "max_retries": 0,
                    "runtime_env": {"env_vars": {"A": "1"}}}
    assert args[0] == points[0].to_dict() and args[2:] == (True, {"A": "1"}, 30.0)
    assert cluster.shutdowns == 1  # it started Ray, so it stops it


def test_run_ray_connects_to_the_address_given_and_leaves_a_running_ray_alone(monkeypatch):
    inits = []
    monkeypatch.setattr(ray_exec, "_init", lambda ray, address: inits.append(address))
    cluster = _Cluster(ALIVE)
    _run(cluster, monkeypatch, [RunConfig(seed=1)], address="10.0.0.9:6379")
    assert inits == ["10.0.0.9:6379"] and cluster.shutdowns == 1
    cluster = _Cluster(ALIVE, initialized=True)
    _run(cluster, monkeypatch, [RunConfig(seed=1)], address="10.0.0.9:6379")
    assert inits == ["10.0.0.9:6379"] and cluster.shutdowns == 0


def test_run_ray_fails_a_point_no_alive_node_can_hold_without_submitting_it(monkeypatch):
    monkeypatch.setattr(ray_exec, "_init", lambda ray, address: None)
    cluster = _Cluster(ALIVE)
    points = [RunConfig(seed=1, threads=8), RunConfig(seed=2), RunConfig(seed=3)]
    events = _run(cluster, monkeypatch, points, resources_for=lambda c: {"h100": 1.0} if c.seed == 3 else {})
    fail = next(e[2] for e in events if e[:2] == ("finish", 1))
    assert fail["ok"] is False and fail["where"] == {"executor": "ray"}
    assert fail["reason"].startswith("no node of the Ray cluster can hold this point: it needs CPU 8 on one node")
    # the points that fit: a whole alive node's CPUs (4, not the dead node's 64)
    assert [(o["num_cpus"], o["resources"]) for o, _ in cluster.submitted] == [(4.0, {}), (4.0, {"h100": 1.0})]


def test_a_task_that_dies_fails_its_point_with_rays_first_line(monkeypatch):
    monkeypatch.setattr(ray_exec, "_init", lambda ray, address: None)

    def outcome(d):
        if d["seed"] == 2:
            raise _RayError("worker died\n  long traceback")
        return {"ok": True}

    events = _run(_Cluster(ALIVE, outcome), monkeypatch, [RunConfig(seed=1), RunConfig(seed=2)])
    assert events[-1] == ("finish", 2, {"ok": False, "reason": "ray task failed: worker died",
                                        "where": {"executor": "ray"}})


def test_an_interrupted_run_cancels_every_submitted_task(monkeypatch):
    monkeypatch.setattr(ray_exec, "_init", lambda ray, address: None)
    cluster = _Cluster(ALIVE)

    def stop(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(ray_exec, "_collect", stop)
    with pytest.raises(KeyboardInterrupt):
        _run(cluster, monkeypatch, [RunConfig(seed=1), RunConfig(seed=2)])
    assert len(cluster.cancelled) == 2 and cluster.shutdowns == 1


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now


def test_waiting_tasks_are_checked_against_the_nodes_only_every_recheck_s(monkeypatch):
    """Between checks a waiting task is left to Ray; at RECHECK_S after the last check, one whose
    nodes have all left is failed. The clock is a fake: nothing here waits."""
    clock = _Clock()
    monkeypatch.setattr(ray_exec, "time", clock)
    gone = [{"Alive": False, "Resources": {"CPU": 4.0}}]
    cfg_a, cfg_b = RunConfig(seed=1, threads=2), RunConfig(seed=2, threads=2)
    opts = {"num_cpus": 2, "num_gpus": 0, "resources": {}}

    def run(elapsed):
        cluster = _Cluster(gone)
        tenants = _Actor(cluster.tenants)
        a, b = _Ref({"ok": True}), _Ref({"ok": True})
        refs = {a: (cfg_a, opts), b: (cfg_b, opts)}

        def wait(refs_, num_returns=1, timeout=None):
            clock.now += elapsed
            return refs_[:1], refs_[1:]

        cluster.wait = wait
        events = []
        ray_exec._collect(cluster, refs, tenants, lambda c: events.append(("start", c.seed)),
                          lambda c, out: events.append(("finish", c.seed, out["ok"])))
        return events, cluster.cancelled

    clock.now = 1000.0
    events, cancelled = run(ray_exec.RECHECK_S / 4)
    assert events == [("start", 1), ("finish", 1, True), ("start", 2), ("finish", 2, True)] and not cancelled
    events, cancelled = run(ray_exec.RECHECK_S)
    assert events == [("start", 1), ("finish", 1, True), ("start", 2), ("finish", 2, False)] and len(cancelled) == 1


def test_collect_reports_a_point_started_when_its_task_registers(monkeypatch):
    cluster = _Cluster(ALIVE)
    cfg_a, cfg_b = RunConfig(seed=1), RunConfig(seed=2)
    cluster.tenants.enter("n1", point_id(cfg_b))  # b's task registered before a returned
    cluster.tenants.enter("n1", "another sweep's point")
    refs = {_Ref({"ok": True}): (cfg_a, {}), _Ref({"ok": True}): (cfg_b, {})}
    events = []
    ray_exec._collect(cluster, refs, _Actor(cluster.tenants), lambda c: events.append(("start", c.seed)),
                      lambda c, out: events.append(("finish", c.seed)))
    assert events == [("start", 2), ("start", 1), ("finish", 1), ("finish", 2)]  # each started once


# ----------------------------------------------------------------------------- the task body


def test_ray_point_runs_the_point_with_its_timeout_and_counts_its_cotenants(monkeypatch):
    cluster = _Cluster(ALIVE)
    ctx = SimpleNamespace(get_node_id=lambda: "node-1", get_assigned_resources=lambda: {"CPU": 2.0})
    cluster.get_runtime_context = lambda: ctx
    monkeypatch.setitem(sys.modules, "ray", cluster)
    cfg = RunConfig(seed=5, threads=2)
    calls = []

    def run_point(cfg_dict, **kwargs):
        calls.append((cfg_dict, kwargs))
        cluster.tenants.enter("node-1", "a later point")  # arrives while this one runs
        return {"ok": True}

    monkeypatch.setattr(ray_exec, "run_point", run_point)
    cluster.tenants.enter("node-1", "an earlier point")
    tenants = _Actor(cluster.tenants)
    out = ray_exec.ray_point(cfg.to_dict(), tenants, True, {"A": "1"}, 12.5)
    assert calls == [(cfg.to_dict(), {"cotenants": None, "save_params": True, "env": {"A": "1"}, "timeout": 12.5,
                                      "where": {"executor": "ray", "node_id": "node-1",
                                                "assigned_resources": {"CPU": 2.0}}})]
    assert out == {"ok": True, "cotenants_at_start": 1, "cotenants_max": 2}
    assert point_id(cfg) not in cluster.tenants.started()  # it left the ledger


def test_tenants_count_who_runs_beside_whom():
    t = Tenants()
    t.enter("n1", "a")
    t.enter("n1", "b")
    t.enter("n2", "c")
    t.enter("n1", "d")
    assert t.started() == ["a", "b", "d", "c"]
    assert t.leave("n1", "a") == {"at_start": 0, "most": 2}
    assert t.leave("n1", "d") == {"at_start": 2, "most": 2}
    assert t.leave("n2", "c") == {"at_start": 0, "most": 0}
    assert t.leave("n9", "x") == {"at_start": None, "most": None}
