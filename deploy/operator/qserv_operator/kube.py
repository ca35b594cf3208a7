"""The few Kubernetes API calls the operator makes (get, create, merge-patch, delete of the
kinds it owns), over aiohttp, the HTTP library kopf already brings.

Where the API is: QSERV_KUBE_API (a URL, no TLS check: tests and `kubectl proxy`), else the
in-cluster service account (token and CA of the pod)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import aiohttp

from qserv_operator.objects import GROUP, PLURAL, VERSION

SA = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# kind -> (api prefix, plural)
KINDS = {
    "ConfigMap": ("/api/v1", "configmaps"),
    "Secret": ("/api/v1", "secrets"),
    "Service": ("/api/v1", "services"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets"),
    "PodDisruptionBudget": ("/apis/policy/v1", "poddisruptionbudgets"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies"),
    "Qserv": (f"/apis/{GROUP}/{VERSION}", PLURAL),
}


class KubeError(RuntimeError):
    pass


class Kube:
    def __init__(self, server: str, token: str = "", ssl_context: ssl.SSLContext | bool = False):
        self.server = server.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.ssl = ssl_context
        self.session: aiohttp.ClientSession | None = None

    @classmethod
    def from_env(cls) -> "Kube":
        url = os.environ.get("QSERV_KUBE_API")
        if url:
            return cls(url)
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise KubeError("no Kubernetes API: set QSERV_KUBE_API or run in a pod")
        ctx = ssl.create_default_context(cafile=str(SA / "ca.crt"))
        return cls(f"https://{host}:{port}", (SA / "token").read_text().strip(), ctx)

    async def __aenter__(self) -> "Kube":
        self.session = aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc) -> None:
        assert self.session is not None
        await self.session.close()

    def path(self, kind: str, namespace: str, name: str | None = None) -> str:
        prefix, plural = KINDS[kind]
        return f"{self.server}{prefix}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")

    async def _call(self, method: str, url: str, body: dict | None = None,
                    content_type: str = "application/json") -> dict | None:
        assert self.session is not None
        async with self.session.request(method, url, json=body, ssl=self.ssl,
                                        headers={"Content-Type": content_type}) as r:
            if r.status == 404:
                return None
            if r.status >= 400:
                raise KubeError(f"{method} {url}: {r.status} {await r.text()}")
            return await r.json(content_type=None)

    async def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return await self._call("GET", self.path(kind, namespace, name))

    async def create(self, obj: dict) -> dict | None:
        return await self._call("POST", self.path(obj["kind"], obj["metadata"]["namespace"]), obj)

    async def patch(self, kind: str, namespace: str, name: str, patch: dict, subresource: str = "") -> dict | None:
        url = self.path(kind, namespace, name) + (f"/{subresource}" if subresource else "")
        return await self._call("PATCH", url, patch, "application/merge-patch+json")

    async def delete(self, kind: str, namespace: str, name: str) -> None:
        await self._call("DELETE", self.path(kind, namespace, name))

    async def apply(self, obj: dict) -> str:
        """Create the object, or merge-patch it to the desired labels and spec/data; returns
        "created", "patched" or "unchanged"."""
        meta = obj["metadata"]
        current = await self.get(obj["kind"], meta["namespace"], meta["name"])
        if current is None:
            await self.create(obj)
            return "created"
        desired = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
        desired["metadata"] = {k: meta[k] for k in ("labels", "ownerReferences") if k in meta}
        if contains(current, desired):
            return "unchanged"
        await self.patch(obj["kind"], meta["namespace"], meta["name"], desired)
        return "patched"


def contains(current, desired) -> bool:
    """Whether `current` already holds everything `desired` says (fields the API server adds,
    such as defaults and status, are not differences)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(contains(current.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(current, list) and len(current) == len(desired)
                and all(contains(c, d) for c, d in zip(current, desired)))
    return current == desired
