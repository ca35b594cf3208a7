"""The kopf handlers of the operator: read the cluster, call the pure reconcile, apply.

    kopf run -m qserv_operator.handlers --all-namespaces   (the image's `operator` role)

Create, update and resume of a `Qserv` run one reconcile; a timer re-runs it every
QSERV_OPERATOR_INTERVAL seconds (default 30), so a refused scale-down goes ahead once the
chunks it would lose have other copies, and the status follows the StatefulSets. Delete
removes the owned objects (Kubernetes' garbage collector would too, through the owner
references) but keeps the PersistentVolumeClaims: data is never deleted by the operator.

The czar is asked for chunk placement at QSERV_CZAR_URL (default
http://{name}-http.{namespace}.svc:4048), GET /meta/placement.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import os

import aiohttp
import kopf

from qserv_operator import objects as ob
from qserv_operator import reconcile as rc
from qserv_operator.kube import Kube

INTERVAL = float(os.environ.get("QSERV_OPERATOR_INTERVAL", "30"))
CZAR_URL = os.environ.get("QSERV_CZAR_URL", "http://{name}-http.{namespace}.svc:4048")
_locks: dict[tuple[str, str], asyncio.Lock] = {}
OWNED_KINDS = ("NetworkPolicy", "PodDisruptionBudget", "StatefulSet", "Service", "ConfigMap", "Secret")


async def fetch_placement(name: str, namespace: str) -> dict | None:
    """{db: {chunk: [worker, ...]}} from the czar, or None when it cannot be read."""
    url = CZAR_URL.format(name=name, namespace=namespace) + "/meta/placement"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.get(url) as r:
                if r.status != 200:
                    return None
                return (await r.json(content_type=None))["placement"]
    except (aiohttp.ClientError, asyncio.TimeoutError, KeyError, ValueError):
        return None


async def czar_call(name: str, namespace: str, method: str, path: str, token: str) -> tuple[int, dict | None]:
    """One call to the czar's HTTP API; (0, None) when it cannot be reached."""
    url = CZAR_URL.format(name=name, namespace=namespace) + path
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.request(method, url, headers={"Authorization": f"Bearer {token}"}) as r:
                return r.status, await r.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return 0, None


async def forget_departed(name: str, ns: str, replicas: int, worker_sts: dict | None, kube, logger) -> None:
    """After a scale-down, the czar forgets the workers that left (best effort: retried at
    the next resync while they are still registered)."""
    if (worker_sts or {}).get("status", {}).get("replicas") is None:
        return
    secret = await kube.get("Secret", ns, f"{name}-secrets")
    token = json.loads(_secret_json(secret)).get("admin_token", "") if secret else ""
    status, body = await czar_call(name, ns, "GET", "/workers", token)
    if status != 200 or not body:
        return
    registered = [w["name"] for w in body.get("workers", []) if w.get("registered")]
    for worker in rc.departed(name, registered, replicas, worker_sts):
        status, body = await czar_call(name, ns, "DELETE", f"/workers/{worker}", token)
        if status == 200:
            logger.info(f"the czar forgot worker {worker} (scaled down)")
        else:
            logger.warning(f"the czar did not forget worker {worker}: {status} {body}")


def _secret_json(secret: dict) -> str:
    if "data" in secret and "secrets.json" in secret["data"]:
        return base64.b64decode(secret["data"]["secrets.json"]).decode()
    return secret.get("stringData", {}).get("secrets.json", "{}")   # (an API without encoding)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def reconcile_cluster(body: dict, logger) -> dict:
    """Apply what the spec asks (less a refused scale-down); return the new status. One at
    a time per resource: kopf runs the timer beside the change handlers."""
    name, ns = body["metadata"]["name"], body["metadata"]["namespace"]
    async with _locks.setdefault((ns, name), asyncio.Lock()):
        if body["metadata"].get("deletionTimestamp"):   # being deleted: recreate nothing
            return dict(body.get("status") or {})
        return await _reconcile(name, ns, body, logger)


async def _reconcile(name: str, ns: str, body: dict, logger) -> dict:
    async with Kube.from_env() as kube:
        # the body a timer holds may be older than a delete that ran meanwhile: read it again
        fresh = await kube.get("Qserv", ns, name)
        if fresh is None or fresh["metadata"].get("deletionTimestamp"):
            return dict(body.get("status") or {})
        spec = dict(fresh.get("spec") or {})
        workers = await kube.get("StatefulSet", ns, f"{name}-worker")
        current = workers["spec"]["replicas"] if workers else None
        placement = None
        if current is not None and ob.with_defaults(spec)["worker"]["replicas"] < current:
            placement = await fetch_placement(name, ns)
        the_plan = rc.plan(name, spec, current, placement)
        if the_plan.refusal:
            logger.warning(the_plan.refusal)
        if await kube.get("Secret", ns, f"{name}-secrets") is None:   # generated once, kept
            await kube.create(rc.owned([ob.secret(name)], body)[0])
            logger.info(f"created Secret {name}-secrets")
        for obj in rc.owned(the_plan.objects, body):
            done = await kube.apply(obj)
            if done != "unchanged":
                logger.info(f"{done} {obj['kind']} {obj['metadata']['name']}")
        if not ob.with_defaults(spec)["networkPolicies"]:
            for policy in ob.network_policies(name):
                if await kube.get("NetworkPolicy", ns, policy["metadata"]["name"]) is not None:
                    await kube.delete("NetworkPolicy", ns, policy["metadata"]["name"])
        czar = await kube.get("StatefulSet", ns, f"{name}-czar")
        workers = await kube.get("StatefulSet", ns, f"{name}-worker")
        if not the_plan.refusal:
            await forget_departed(name, ns, the_plan.worker_replicas, workers, kube, logger)
    return rc.status(name, spec, the_plan, czar, workers, fresh.get("status"), now())


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_) -> None:
    settings.persistence.finalizer = f"{ob.GROUP}/finalizer"
    settings.posting.level = 30   # warnings (refused scale-downs) become Events


@kopf.on.create(ob.GROUP, ob.VERSION, ob.PLURAL)
@kopf.on.update(ob.GROUP, ob.VERSION, ob.PLURAL, field="spec")
@kopf.on.resume(ob.GROUP, ob.VERSION, ob.PLURAL)
async def reconcile(body, patch, logger, **_) -> None:
    patch.setdefault("status", {}).update(await reconcile_cluster(body, logger))


@kopf.timer(ob.GROUP, ob.VERSION, ob.PLURAL, interval=INTERVAL)
async def resync(body, patch, logger, **_) -> None:
    patch.setdefault("status", {}).update(await reconcile_cluster(body, logger))


@kopf.on.delete(ob.GROUP, ob.VERSION, ob.PLURAL)
async def delete(body, logger, **_) -> None:
    name, ns = body["metadata"]["name"], body["metadata"]["namespace"]
    wanted = {(o["kind"], o["metadata"]["name"]) for o in ob.desired_objects(name, body.get("spec"))}
    wanted |= {("Secret", f"{name}-secrets")} | {(p["kind"], p["metadata"]["name"]) for p in ob.network_policies(name)}
    async with _locks.setdefault((ns, name), asyncio.Lock()), Kube.from_env() as kube:
        for kind in OWNED_KINDS:
            for k, obj_name in sorted(wanted):
                if k == kind and await kube.get(kind, ns, obj_name) is not None:
                    await kube.delete(kind, ns, obj_name)
                    logger.info(f"deleted {kind} {obj_name} (its volumes are kept)")
