"""The operator (kopf, deploy/operator/qserv_operator/handlers.py) running against an
in-memory Kubernetes API (kmock's emulator: a real HTTP server, list/watch/patch/delete,
finalizers; no controllers, so the test plays the StatefulSet controller by patching their
status) and a stand-in for the czar's GET /meta/placement, through a whole cycle:
create → ready → scale up → scale down refused (a leaving worker holds a chunk's only copy)
→ allowed once the chunk has another copy, and the czar told to forget the worker that left
→ delete."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

pytest.importorskip("kopf")
pytest.importorskip("kmock")

BASE = int(os.environ.get("QSERV_TEST_BASE_PORT", "23306")) + 820
os.environ.setdefault("QSERV_OPERATOR_INTERVAL", "0.5")
os.environ["QSERV_CZAR_URL"] = f"http://127.0.0.1:{BASE}"

import kopf  # noqa: E402
import kmock  # noqa: E402
from aiohttp import web  # noqa: E402

from tests.deploy.k8stools import validate_strict  # noqa: E402
from qserv_operator import handlers  # noqa: E402,F401  (registers the handlers)
from qserv_operator.objects import API_VERSION, KIND  # noqa: E402

NS = "sky"
CR = f"/apis/{API_VERSION}/namespaces/{NS}/qservs/qserv"
RESOURCES = {
    "v1/namespaces": ("Namespace", False), "v1/configmaps": ("ConfigMap", True),
    "v1/secrets": ("Secret", True), "v1/services": ("Service", True), "v1/events": ("Event", True),
    "apps/v1/statefulsets": ("StatefulSet", True),
    "policy/v1/poddisruptionbudgets": ("PodDisruptionBudget", True),
    "networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", True),
    f"{API_VERSION}/qservs": (KIND, True),
}
PLACEMENT: dict = {}
REGISTERED = {"qserv-worker-0", "qserv-worker-1"}
FORGOTTEN: list = []
TOKENS: dict = {}


@kopf.on.startup()
def _quiet(settings: kopf.OperatorSettings, **_):
    settings.posting.enabled = False
    settings.watching.reconnect_backoff = 0.1


async def api(k, method, path, body=None):
    async with k.request(method, path, json=body,
                         headers={"Content-Type": "application/merge-patch+json"} if method == "PATCH" else {}) as r:
        text = await r.text()
        return r.status, (json.loads(text) if text else None)


async def until(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def cycle():
    async def placement(request):
        return web.json_response({"placement": PLACEMENT})

    async def workers(request):   # the workers that registered themselves
        return web.json_response({"workers": [{"name": w, "registered": True} for w in sorted(REGISTERED)]})

    async def forget(request):
        assert request.headers["Authorization"] == f"Bearer {TOKENS['admin_token']}"
        REGISTERED.discard(request.match_info["name"])
        FORGOTTEN.append(request.match_info["name"])
        return web.json_response({"removed": True})
    placement_app = web.Application()
    placement_app.router.add_get("/meta/placement", placement)
    placement_app.router.add_get("/workers", workers)
    placement_app.router.add_delete("/workers/{name}", forget)
    runner = web.AppRunner(placement_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", BASE).start()
    async with kmock.KubernetesEmulator() as k, kmock.Server(k):
        for path, (kind, namespaced) in RESOURCES.items():
            k.resources[path] = kmock.ResourceInfo(kind=kind, namespaced=namespaced,
                                                   verbs={"list", "watch", "get", "create", "patch", "delete"},
                                                   subresources={"status"} if kind == KIND else set())
        os.environ["QSERV_KUBE_API"] = str(k.url)

        @kopf.on.login()
        def _login(**_):
            return kopf.ConnectionInfo(server=str(k.url).rstrip("/"), insecure=True)

        stop = asyncio.Event()
        operator = asyncio.create_task(kopf.operator(standalone=True, clusterwide=True, stop_flag=stop))
        try:
            await run_cycle(k)
        finally:
            stop.set()
            await asyncio.wait_for(operator, 30)
    await runner.cleanup()


async def get(k, path):
    status, body = await api(k, "GET", path)
    return body if status == 200 else None


def sts_path(role):
    return f"/apis/apps/v1/namespaces/{NS}/statefulsets/qserv-{role}"


async def play_controller(k, czar_ready, workers_ready):
    """What the StatefulSet controller would report once the pods are up."""
    for role, ready in (("czar", czar_ready), ("worker", workers_ready)):
        sts = await get(k, sts_path(role))
        await api(k, "PATCH", sts_path(role), {"status": {"replicas": sts["spec"]["replicas"],
                                                          "readyReplicas": ready}})


async def run_cycle(k):
    await api(k, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": NS, "uid": "ns-1", "resourceVersion": "1"}})
    cr = {"apiVersion": API_VERSION, "kind": KIND,
          "metadata": {"name": "qserv", "namespace": NS, "uid": "qserv-uid-1", "resourceVersion": "1",
                       "creationTimestamp": "2026-12-03T10:00:00Z"},
          "spec": {"worker": {"replicas": 2}, "replication": 1}}
    status, _ = await api(k, "POST", f"/apis/{API_VERSION}/namespaces/{NS}/qservs", cr)
    assert status in (200, 201)

    # create: every object, owned by the resource, valid; the status says pending
    workers = await until("the worker StatefulSet", lambda: get(k, sts_path("worker")))
    assert workers["spec"]["replicas"] == 2 and workers["spec"]["podManagementPolicy"] == "Parallel"
    assert workers["metadata"]["ownerReferences"][0]["uid"] == "qserv-uid-1"
    for path in (sts_path("czar"), f"/api/v1/namespaces/{NS}/configmaps/qserv-config",
                 f"/api/v1/namespaces/{NS}/secrets/qserv-secrets", f"/api/v1/namespaces/{NS}/services/qserv-query",
                 f"/apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/qserv-worker"):
        obj = await until(path, lambda p=path: get(k, p))
        validate_strict({key: v for key, v in obj.items()})
    secret = await get(k, f"/api/v1/namespaces/{NS}/secrets/qserv-secrets")
    tokens = json.loads(secret["stringData"]["secrets.json"])
    TOKENS.update(tokens)

    async def phase(expected, workers=None):
        body = await get(k, CR)
        st = (body or {}).get("status") or {}
        return st if st.get("phase") == expected and workers in (None, st.get("workers")) else None
    st = await until("Pending", lambda: phase("Pending"))
    assert st["workers"] == "0/2"

    # ready: the controller reports the pods ready
    await play_controller(k, 1, 2)
    st = await until("Ready", lambda: phase("Ready"))
    assert st["workers"] == "2/2" and st["czarReady"] is True
    assert {c["type"]: c["status"] for c in st["conditions"]}["Ready"] == "True"

    # scale up: 3 workers, the config lists the new one, the czar restarts with it
    await api(k, "PATCH", CR, {"spec": {"worker": {"replicas": 3}}})

    async def replicas(n):
        s = await get(k, sts_path("worker"))
        return s if s["spec"]["replicas"] == n else None
    await until("3 workers", lambda: replicas(3))
    REGISTERED.add("qserv-worker-2")      # the new worker registers itself with the czar
    config = json.loads((await get(k, f"/api/v1/namespaces/{NS}/configmaps/qserv-config"))["data"]["qserv.json"])
    assert [w["name"] for w in config["workers"]] == ["qserv-worker-0", "qserv-worker-1", "qserv-worker-2"]
    await play_controller(k, 1, 3)
    await until("Ready at 3/3", lambda: phase("Ready", "3/3"))

    assert FORGOTTEN == []                # nobody left
    # scale down refused: qserv-worker-2 holds the only copy of chunk 7
    PLACEMENT.update({"sky": {"7": ["qserv-worker-2"], "8": ["qserv-worker-0", "qserv-worker-2"]}})
    await api(k, "PATCH", CR, {"spec": {"worker": {"replicas": 2}}})
    st = await until("ScaleDownRefused", lambda: phase("ScaleDownRefused"))
    refused = {c["type"]: c for c in st["conditions"]}["ScaleDownRefused"]
    assert refused["status"] == "True" and "sky: chunks 7" in refused["message"]
    assert (await get(k, sts_path("worker")))["spec"]["replicas"] == 3
    await asyncio.sleep(1.5)      # several resyncs later: still refused, nothing removed
    assert (await get(k, sts_path("worker")))["spec"]["replicas"] == 3

    # chunk 7 gets a copy on worker 0 (qserv replicate): the next resync lets the workers go
    PLACEMENT["sky"]["7"].append("qserv-worker-0")
    await until("2 workers", lambda: replicas(2))
    await play_controller(k, 1, 2)
    await until("Ready at 2/2", lambda: phase("Ready", "2/2"))
    await until("the czar told to forget qserv-worker-2", lambda: asyncio.sleep(0, FORGOTTEN == ["qserv-worker-2"]))
    assert REGISTERED == {"qserv-worker-0", "qserv-worker-1"}
    secret = await get(k, f"/api/v1/namespaces/{NS}/secrets/qserv-secrets")
    assert json.loads(secret["stringData"]["secrets.json"]) == tokens     # never regenerated

    # delete: the finalizer runs the delete handler, the owned objects go, the resource goes
    await api(k, "DELETE", CR)

    async def gone():
        return (await get(k, CR) is None and await get(k, sts_path("worker")) is None
                and await get(k, f"/api/v1/namespaces/{NS}/secrets/qserv-secrets") is None)
    await until("deletion", gone)


def test_operator_create_ready_scale_delete():
    asyncio.run(asyncio.wait_for(cycle(), 180))
