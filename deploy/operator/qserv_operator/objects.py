"""The Kubernetes objects of one Qserv cluster, as a pure function of a `Qserv` spec.

`desired_objects(name, spec)` is the whole reconcile target of the operator (handlers.py
applies it), the source the kustomize base is generated from (deploy/k8s/generate.py), and
what the Helm chart's templates are tested against (tests/unit/test_k8s_manifests.py): one
description of a cluster, three ways to install it.

The cluster is the local one's processes in pods: one czar pod (StatefulSet of 1: the czar
and its MariaDB, data on a PVC) and a StatefulSet of worker pods (each a worker daemon and its
MariaDB, a PVC each). Pods run `qserv-entrypoint ROLE` (deploy/image/) with the config
directory /etc/qserv: the ConfigMap's `qserv.json` (qserv/config.py's ClusterConfig, the
format `qserv up` writes) and the Secret's `secrets.json`, projected into one directory.
Workers are named after their pods (`NAME-worker-3`) and reached through the headless
Service (`NAME-worker-3.NAME-worker`), so the config lists them by stable names.

No Secret is built here: its values are generated once (deploy/k8s/make_secret.py, the
chart's template, the operator's create handler) and never rewritten by a reconcile.
"""

from __future__ import annotations

import copy
import json

GROUP, VERSION, KIND, PLURAL = "qserv.lsst.io", "v1alpha1", "Qserv", "qservs"
API_VERSION = f"{GROUP}/{VERSION}"

FRONTEND_PORT, HTTP_PORT, GRPC_PORT, MARIADB_PORT = 4040, 4048, 26000, 3306
DATA_DIR, CONFIG_DIR = "/var/lib/qserv", "/etc/qserv"
RUN_AS = 10001   # the image's `qserv` user and group
# the worker daemon's container when its MariaDB has its own (which gets spec.worker.resources)
DAEMON_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}}

DEFAULTS: dict = {
    "image": "qserv-py:latest",
    "imagePullPolicy": "IfNotPresent",
    "replication": 1,
    "czar": {"storage": "10Gi", "storageClassName": "",
             "resources": {"requests": {"cpu": "1", "memory": "2Gi"}}},
    "worker": {"replicas": 2, "storage": "20Gi", "storageClassName": "",
               "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
               # each worker's MariaDB in a container of its own (reached over TCP at
               # 127.0.0.1, sharing the data volume) instead of inside the worker's container
               "mariadbContainer": False},
    "queryService": {"type": "ClusterIP"},
    "httpService": {"type": "ClusterIP"},
    "affinity": {},
    "tolerations": [],
    "networkPolicies": False,
    "config": {},
}


def with_defaults(spec: dict | None) -> dict:
    """The spec with every field the CRD defaults filled in (nested objects merged)."""
    out = copy.deepcopy(DEFAULTS)
    for key, value in (spec or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key not in ("affinity", "config"):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def worker_names(name: str, replicas: int) -> list[str]:
    return [f"{name}-worker-{i}" for i in range(replicas)]


def cluster_config(name: str, spec: dict) -> dict:
    """`qserv.json` of the cluster: ClusterConfig fields (the others keep their defaults)."""
    spec = with_defaults(spec)
    cfg = {
        "dir": DATA_DIR,
        "host": f"{name}-czar-0.{name}-czar",
        "bind_host": "0.0.0.0",
        "frontend_port": FRONTEND_PORT,
        "http_port": HTTP_PORT,
        "czar_mariadb_port": MARIADB_PORT,
        "replication": spec["replication"],
        "workers": [{"name": w, "host": f"{w}.{name}-worker", "grpc_port": GRPC_PORT,
                     "mariadb_port": MARIADB_PORT,
                     **({"mariadb_tcp": True} if spec["worker"]["mariadbContainer"] else {})}
                    for w in worker_names(name, spec["worker"]["replicas"])],
    }
    cfg.update(spec["config"])
    return cfg


def labels(name: str, component: str | None = None) -> dict:
    out = {"app.kubernetes.io/name": "qserv", "app.kubernetes.io/instance": name}
    if component:
        out["app.kubernetes.io/component"] = component
    return out


def _meta(name: str, instance: str, component: str | None = None) -> dict:
    return {"name": name, "labels": labels(instance, component)}


def config_map(name: str, spec: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"{name}-config", name),
            "data": {"qserv.json": json.dumps(cluster_config(name, spec), indent=2) + "\n"}}


def _pvc(size: str, storage_class: str) -> dict:
    out = {"metadata": {"name": "data"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}}
    if storage_class:
        out["spec"]["storageClassName"] = storage_class
    return out


def _pod(name: str, spec: dict, role: str) -> dict:
    """The pod template of the czar or of the workers."""
    port_name, port = ("mysql", FRONTEND_PORT) if role == "czar" else ("grpc", GRPC_PORT)
    container = {
        "name": role,
        "image": spec["image"],
        "imagePullPolicy": spec["imagePullPolicy"],
        "args": [role],
        "ports": ([{"name": "mysql", "containerPort": FRONTEND_PORT},
                   {"name": "http", "containerPort": HTTP_PORT}] if role == "czar"
                  else [{"name": "grpc", "containerPort": GRPC_PORT}]),
        # MariaDB initialises its datadir on a first start: allow it 5 minutes
        "startupProbe": {"tcpSocket": {"port": port_name}, "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": {"exec": {"command": ["qserv-entrypoint", "probe", role]},
                           "periodSeconds": 10, "timeoutSeconds": 8, "failureThreshold": 3},
        "livenessProbe": {"tcpSocket": {"port": port_name}, "periodSeconds": 20,
                          "timeoutSeconds": 5, "failureThreshold": 6},
        "resources": copy.deepcopy(spec[role]["resources"]),
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
                         {"name": "data", "mountPath": DATA_DIR}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False,
                            "capabilities": {"drop": ["ALL"]}},
    }
    containers = [container]
    if role == "worker":
        container["env"] = [{"name": "QSERV_WORKER_NAME",
                             "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        if spec["worker"]["mariadbContainer"]:
            container["resources"] = copy.deepcopy(DAEMON_RESOURCES)
            containers.append({
                "name": "mariadb",
                "image": spec["image"],
                "imagePullPolicy": spec["imagePullPolicy"],
                "args": ["mariadb", "$(QSERV_WORKER_NAME)"],
                "env": copy.deepcopy(container["env"]),
                "ports": [{"name": "mariadb", "containerPort": MARIADB_PORT}],
                "startupProbe": {"tcpSocket": {"port": "mariadb"}, "periodSeconds": 5, "failureThreshold": 60},
                "livenessProbe": {"tcpSocket": {"port": "mariadb"}, "periodSeconds": 20,
                                  "timeoutSeconds": 5, "failureThreshold": 6},
                "resources": copy.deepcopy(spec["worker"]["resources"]),
                "volumeMounts": copy.deepcopy(container["volumeMounts"]),
                "securityContext": copy.deepcopy(container["securityContext"]),
            })
    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                            "fsGroup": RUN_AS},
        "terminationGracePeriodSeconds": 60,
        "containers": containers,
        "volumes": [{"name": "config", "projected": {"defaultMode": 0o440, "sources": [
            {"configMap": {"name": f"{name}-config"}}, {"secret": {"name": f"{name}-secrets"}}]}}],
    }
    if spec["affinity"]:
        pod["affinity"] = copy.deepcopy(spec["affinity"])
    if spec["tolerations"]:
        pod["tolerations"] = copy.deepcopy(spec["tolerations"])
    return {"metadata": {"labels": labels(name, role)}, "spec": pod}


def stateful_set(name: str, spec: dict, role: str) -> dict:
    sts = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": _meta(f"{name}-{role}", name, role),
        "spec": {
            "serviceName": f"{name}-{role}",
            "replicas": 1 if role == "czar" else spec["worker"]["replicas"],
            "selector": {"matchLabels": labels(name, role)},
            "template": _pod(name, spec, role),
            "volumeClaimTemplates": [_pvc(spec[role]["storage"], spec[role]["storageClassName"])],
        },
    }
    if role == "worker":   # workers are independent: start and stop them all at once
        sts["spec"]["podManagementPolicy"] = "Parallel"
    return sts


def service(name: str, suffix: str, component: str, ports: list[tuple[str, int]],
            type_: str | None = None, headless: bool = False) -> dict:
    spec: dict = {"selector": labels(name, component),
                  "ports": [{"name": n, "port": p, "targetPort": n} for n, p in ports]}
    if headless:   # stable DNS names per pod, known before the pods are ready
        spec.update({"clusterIP": "None", "publishNotReadyAddresses": True})
    else:
        spec["type"] = type_
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(f"{name}-{suffix}", name, component),
            "spec": spec}


def pod_disruption_budget(name: str, spec: dict) -> dict:
    """At most replication - 1 workers down by choice (evictions, drains): every chunk keeps a
    copy. With one copy a drain must still be able to proceed: one at a time."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": _meta(f"{name}-worker", name, "worker"),
            "spec": {"maxUnavailable": max(1, spec["replication"] - 1),
                     "selector": {"matchLabels": labels(name, "worker")}}}


def network_policies(name: str) -> list[dict]:
    """Workers accept gRPC only from the czar and ingest pods of this cluster; the czar's
    MySQL and HTTP ports stay open to clients (its MariaDB port is not exposed)."""
    def peer(component):
        return {"podSelector": {"matchLabels": labels(name, component)}}
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": _meta(f"{name}-worker", name, "worker"),
         "spec": {"podSelector": {"matchLabels": labels(name, "worker")},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"from": [peer("czar"), peer("ingest")],
                               "ports": [{"protocol": "TCP", "port": GRPC_PORT}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": _meta(f"{name}-czar", name, "czar"),
         "spec": {"podSelector": {"matchLabels": labels(name, "czar")},
                  "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"protocol": "TCP", "port": FRONTEND_PORT},
                                         {"protocol": "TCP", "port": HTTP_PORT}]}]}},
    ]


def desired_objects(name: str, spec: dict | None) -> list[dict]:
    """Every object of the cluster `name` but its Secret, in apply order."""
    spec = with_defaults(spec)
    out = [
        config_map(name, spec),
        service(name, "czar", "czar", [("mysql", FRONTEND_PORT), ("http", HTTP_PORT)], headless=True),
        service(name, "query", "czar", [("mysql", FRONTEND_PORT)], spec["queryService"]["type"]),
        service(name, "http", "czar", [("http", HTTP_PORT)], spec["httpService"]["type"]),
        service(name, "worker", "worker", [("grpc", GRPC_PORT)], headless=True),
        stateful_set(name, spec, "czar"),
        stateful_set(name, spec, "worker"),
        pod_disruption_budget(name, spec),
    ]
    if spec["networkPolicies"]:
        out += network_policies(name)
    return out


SECRET_KEYS = ("password", "admin_token", "grpc_token", "mariadb_root_password",
               "mariadb_reader_password")


def secret(name: str, values: dict | None = None) -> dict:
    """The Secret holding `secrets.json` (qserv/config.py's SECRET_FIELDS); missing values
    are generated."""
    import secrets as rnd
    values = dict(values or {})
    doc = {k: values.get(k) or rnd.token_urlsafe(24) for k in SECRET_KEYS}
    doc["users"] = values.get("users", {})
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(f"{name}-secrets", name),
            "stringData": {"secrets.json": json.dumps(doc, indent=2) + "\n"}}
