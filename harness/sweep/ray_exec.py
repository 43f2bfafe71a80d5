"""The Ray executor: each point is a Ray task declaring its resources (CPUs from its threads, the
whole node's CPUs when it declares none; a GPU for cuda points; optional custom resources such as
{"h100": 1}); Ray places it on whichever node fits. The task runs the same child process as the
local executor and returns the result as data: the results directory never reaches a worker.

`ray` is imported lazily (extra `[ray]`).
"""
from __future__ import annotations

from collections.abc import Callable

from ..config import RunConfig
from .manifest import point_id
from .point import run_point

POLL_S = 1.0


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached."""


def _ray():
    try:
        import ray
    except ImportError as e:
        raise RayUnavailable(f"--executor ray needs ray: pip install 'lecun1989-harness[ray]' ({e})") from None
    return ray


class Tenants:
    """Which points run on which node right now; for each, the counts of others beside it."""

    def __init__(self):
        self.nodes: dict[str, dict[str, dict]] = {}

    def enter(self, node: str, pid: str) -> None:
        here = self.nodes.setdefault(node, {})
        for other in here.values():
            other["most"] = max(other["most"], len(here))
        here[pid] = {"at_start": len(here), "most": len(here)}

    def leave(self, node: str, pid: str) -> dict:
        return self.nodes.get(node, {}).pop(pid, {"at_start": None, "most": None})

    def started(self) -> list[str]:
        return [p for here in self.nodes.values() for p in here]


def ray_point(cfg_dict: dict, tenants, save_params: bool, env: dict) -> dict:
    """The task body, on a worker: register with the co-tenant ledger, run the point, return data.

    No ray.get before the child finishes: Ray lends a task's CPUs to other tasks while it blocks
    in ray.get, which would put a second timed point on cores this one reserved.
    """
    import ray

    ctx = ray.get_runtime_context()
    node, pid = ctx.get_node_id(), point_id(RunConfig.from_dict(cfg_dict))
    where = {"executor": "ray", "node_id": node, "assigned_resources": ctx.get_assigned_resources()}
    tenants.enter.remote(node, pid)  # calls from one worker to one actor run in order
    try:
        out = run_point(cfg_dict, cotenants=None, save_params=save_params, env=env, where=where)
    finally:
        counts = ray.get(tenants.leave.remote(node, pid))
    out["cotenants_at_start"], out["cotenants_max"] = counts["at_start"], counts["most"]
    return out


def node_cpus(ray, needs: dict[str, float]) -> float:
    """CPUs of the largest alive node carrying `needs` (what a point declaring no threads claims)."""
    best = 0.0
    for n in ray.nodes():
        res = n.get("Resources", {})
        if n.get("Alive") and all(res.get(k, 0) >= v for k, v in needs.items()):
            best = max(best, res.get("CPU", 0.0))
    if not best:
        raise RayUnavailable(f"no node of the Ray cluster offers {needs or 'any CPU'}")
    return best


def task_options(ray, cfg: RunConfig, custom: dict[str, float], share_cores: bool) -> dict:
    gpus = 1 if cfg.device.startswith("cuda") else 0
    needs = {**custom, **({"GPU": gpus} if gpus else {})}
    if share_cores:  # several points may share a node's cores: one nominal CPU each
        cpus = 1
    else:
        cpus = cfg.threads if cfg.threads is not None else node_cpus(ray, needs)
    return {"num_cpus": cpus, "num_gpus": gpus, "resources": dict(custom), "max_retries": 0}


def check_address(address: str | None) -> None:
    """HOST:PORT must accept a connection: ray.init would otherwise retry for minutes."""
    if not address or address == "auto" or "://" in address:
        return
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            pass
    except (OSError, ValueError) as e:
        raise RayUnavailable(f"--ray-address {address}: no Ray cluster answers there ({e}); "
                             "start one with `ray start --head`, or use auto / no address") from None


def run_ray(points: list[RunConfig], *, on_start: Callable, on_finish: Callable, resources_for: Callable,
            env: dict | None = None, save_params: bool = False, address: str | None = None,
            share_cores: bool = False) -> None:
    ray = _ray()
    owned = not ray.is_initialized()
    if owned:
        import signal

        check_address(address)
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            ray.init(address=address, log_to_driver=False, include_dashboard=False, logging_level="error",
                     configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise RayUnavailable(f"cannot reach the Ray cluster at {address!r}: {e}") from None
        if sigterm is not None:
            signal.signal(signal.SIGTERM, sigterm)  # ray.init installs its own; keep the sweep's clean stop
    refs: dict = {}
    try:
        tenants = ray.remote(num_cpus=0)(Tenants).remote()
        task = ray.remote(ray_point)
        runtime_env = {"env_vars": dict(env or {})}
        for cfg in points:
            opts = task_options(ray, cfg, resources_for(cfg), share_cores)
            refs[task.options(**opts, runtime_env=runtime_env).remote(cfg.to_dict(), tenants, save_params,
                                                                        dict(env or {}))] = cfg
        _collect(ray, refs, tenants, on_start, on_finish)
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
    finally:
        if owned:
            ray.shutdown()


def _collect(ray, refs: dict, tenants, on_start: Callable, on_finish: Callable) -> None:
    """Wait for tasks; report a point as started when its task registers, finished when it returns."""
    by_id = {point_id(cfg): cfg for cfg in refs.values()}
    seen: set[str] = set()
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
        for pid in ray.get(tenants.started.remote()):
            if pid not in seen and pid in by_id:
                seen.add(pid)
                on_start(by_id[pid])
        for ref in ready:
            cfg = refs.pop(ref)
            if point_id(cfg) not in seen:
                seen.add(point_id(cfg))
                on_start(cfg)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayError as e:  # the task itself died (worker crash, node lost)
                out = {"ok": False, "reason": f"ray task failed: {str(e).strip().splitlines()[0][:500]}",
                       "where": {"executor": "ray"}}
            on_finish(cfg, out)
