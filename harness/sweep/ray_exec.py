"""The Ray executor: each point is a Ray task declaring its resources (CPUs from its threads, the
whole node's CPUs when it declares none; a GPU for cuda points; optional custom resources such as
{"h100": 1}); Ray places it on whichever node fits. The task runs the same child process as the
local executor and returns the result as data: the results directory never reaches a worker.

`ray` is imported lazily (extra `[ray]`).
"""
from __future__ import annotations

import time
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


def ray_point(cfg_dict: dict, tenants, save_params: bool, env: dict, timeout: float | None = None) -> dict:
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
        out = run_point(cfg_dict, cotenants=None, save_params=save_params, env=env, where=where, timeout=timeout)
    finally:
        counts = ray.get(tenants.leave.remote(node, pid))
    out["cotenants_at_start"], out["cotenants_max"] = counts["at_start"], counts["most"]
    return out


def _alive_nodes(ray) -> list[dict]:
    return [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive")]


def node_cpus(ray, needs: dict[str, float]) -> float:
    """CPUs of the largest alive node carrying `needs` (what a point declaring no threads claims);
    0 when no node carries them."""
    return max((res.get("CPU", 0.0) for res in _alive_nodes(ray) if _fits(res, needs)), default=0.0)


def _fits(res: dict, needs: dict[str, float]) -> bool:
    return all(res.get(k, 0) >= v for k, v in needs.items())


def _needs(opts: dict) -> dict[str, float]:
    """What one node must offer for a task with these options."""
    needs = {"CPU": float(opts["num_cpus"])} if opts["num_cpus"] else {}
    if opts["num_gpus"]:
        needs["GPU"] = float(opts["num_gpus"])
    return {**needs, **opts["resources"]}


def infeasible(nodes: list[dict], opts: dict) -> str | None:
    """Why no alive node of the cluster can ever hold a task with `opts`; None if one can.
    Ray would keep such a task pending forever, saying nothing."""
    needs = _needs(opts)
    if any(_fits(res, needs) for res in nodes):
        return None
    offered = "; ".join(", ".join(f"{k} {v:g}" for k, v in sorted(res.items()) if not k.startswith("node:")
                                  and k not in ("memory", "object_store_memory")) for res in nodes[:8])
    want = ", ".join(f"{k} {v:g}" for k, v in needs.items())
    return (f"no node of the Ray cluster can hold this point: it needs {want} on one node; "
            f"the {len(nodes)} node(s) offer: {offered or 'nothing'}")


def task_options(ray, cfg: RunConfig, custom: dict[str, float], share_cores: bool,
                 nodes: list[dict] | None = None) -> dict:
    gpus = 1 if cfg.device.startswith("cuda") else 0
    needs = {**custom, **({"GPU": gpus} if gpus else {})}
    if share_cores:  # several points may share a node's cores: one nominal CPU each
        cpus = 1
    elif cfg.threads is not None:
        cpus = cfg.threads
    else:  # the whole of the largest node that fits; none fits: 1, and `infeasible` says why
        cpus = max((res.get("CPU", 0.0) for res in (nodes if nodes is not None else _alive_nodes(ray))
                    if _fits(res, needs)), default=0.0) or 1
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
            claim: Callable | None = None, env: dict | None = None, save_params: bool = False,
            address: str | None = None, share_cores: bool = False, point_timeout: float | None = None,
            **_ignored) -> None:
    """Submit every point this sweep may claim as a Ray task, then collect them. A point no
    alive node can hold fails at once, saying what it needs and what the nodes offer."""
    ray = _ray()
    owned = not ray.is_initialized()
    if owned:
        _init(ray, address)
    refs: dict = {}
    try:
        tenants = ray.remote(num_cpus=0)(Tenants).remote()
        task = ray.remote(ray_point)
        runtime_env = {"env_vars": dict(env or {})}
        nodes = _alive_nodes(ray)
        for cfg in points:
            if claim is not None and not claim(cfg):
                continue
            opts = task_options(ray, cfg, resources_for(cfg), share_cores, nodes)
            if why := infeasible(nodes, opts):
                on_start(cfg)
                on_finish(cfg, {"ok": False, "reason": why, "where": {"executor": "ray"}})
                continue
            refs[task.options(**opts, runtime_env=runtime_env).remote(cfg.to_dict(), tenants, save_params,
                                                                        dict(env or {}), point_timeout)] = (cfg, opts)
        _collect(ray, refs, tenants, on_start, on_finish)
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
    finally:
        if owned:
            ray.shutdown()


def _init(ray, address: str | None) -> None:
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


RECHECK_S = 10.0  # how often waiting tasks are checked against the nodes still alive


def _collect(ray, refs: dict, tenants, on_start: Callable, on_finish: Callable) -> None:
    """Wait for tasks; report a point as started when its task registers, finished when it returns.
    A task not started yet that no alive node can hold any more (its node left) is cancelled
    and its point failed, saying why."""
    by_id = {point_id(cfg): cfg for cfg, _ in refs.values()}
    seen: set[str] = set()
    last_check = time.monotonic()
    while refs:
        ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
        for pid in ray.get(tenants.started.remote()):
            if pid not in seen and pid in by_id:
                seen.add(pid)
                on_start(by_id[pid])
        for ref in ready:
            cfg, _ = refs.pop(ref)
            if point_id(cfg) not in seen:
                seen.add(point_id(cfg))
                on_start(cfg)
            try:
                out = ray.get(ref)
            except ray.exceptions.RayError as e:  # the task itself died (worker crash, node lost)
                out = {"ok": False, "reason": f"ray task failed: {str(e).strip().splitlines()[0][:500]}",
                       "where": {"executor": "ray"}}
            on_finish(cfg, out)
        if time.monotonic() - last_check >= RECHECK_S:
            last_check = time.monotonic()
            _fail_stranded(ray, refs, seen, on_start, on_finish)


def _fail_stranded(ray, refs: dict, seen: set, on_start: Callable, on_finish: Callable) -> None:
    nodes = _alive_nodes(ray)
    for ref, (cfg, opts) in list(refs.items()):
        if point_id(cfg) in seen or not (why := infeasible(nodes, opts)):
            continue
        ray.cancel(ref)
        refs.pop(ref)
        seen.add(point_id(cfg))
        on_start(cfg)
        on_finish(cfg, {"ok": False, "reason": why, "where": {"executor": "ray"}})
