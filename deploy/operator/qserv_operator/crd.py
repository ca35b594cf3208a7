"""The `Qserv` CustomResourceDefinition: its OpenAPI schema is the spec objects.py reads
(the same fields as the Helm chart's values), with defaults, and `kubectl get qservs` shows
workers ready/desired, replication, phase and age.

    python3 -m qserv_operator.crd > deploy/operator/crd.yaml   (from deploy/operator/)
"""

from __future__ import annotations

import sys

import yaml

from qserv_operator.objects import DEFAULTS, GROUP, KIND, PLURAL, VERSION

QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}
RESOURCES = {
    "type": "object", "description": "requests and limits of the pod's container (cpu, memory)",
    "properties": {k: {"type": "object", "additionalProperties": QUANTITY} for k in ("requests", "limits")},
}
SIZE = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"}


def role(description: str, replicas: bool) -> dict:
    d = DEFAULTS["worker" if replicas else "czar"]
    props = {
        "storage": {**SIZE, "default": d["storage"], "description": "size of each pod's data volume (PVC)"},
        "storageClassName": {"type": "string", "default": "",
                             "description": "StorageClass of the volumes (empty: the cluster's default)"},
        "resources": {**RESOURCES, "default": d["resources"]},
    }
    if replicas:
        props["mariadbContainer"] = {
            "type": "boolean", "default": False,
            "description": "each worker's MariaDB in a container of its own (TCP at 127.0.0.1, "
                           "the data volume shared; it gets the resources, the daemon 250m/256Mi)"}
        props = {"replicas": {"type": "integer", "minimum": 1, "maximum": 500, "default": d["replicas"],
                              "description": "number of workers; a scale-down is refused while a "
                                             "leaving worker holds the only copy of a chunk"}, **props}
    return {"type": "object", "description": description, "default": {}, "properties": props}


def service(description: str) -> dict:
    return {"type": "object", "description": description, "default": {},
            "properties": {"type": {"type": "string", "enum": ["ClusterIP", "NodePort", "LoadBalancer"],
                                    "default": "ClusterIP"}}}


SPEC = {
    "type": "object",
    "properties": {
        "image": {"type": "string", "minLength": 1, "default": DEFAULTS["image"],
                  "description": "the Qserv image (deploy/image/), one for every role"},
        "imagePullPolicy": {"type": "string", "enum": ["Always", "IfNotPresent", "Never"],
                            "default": DEFAULTS["imagePullPolicy"]},
        "replication": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1,
                        "description": "copies of each chunk an ingest makes"},
        "czar": role("the czar pod (StatefulSet of one, with its MariaDB)", replicas=False),
        "worker": role("the worker pods (a StatefulSet, each with its MariaDB)", replicas=True),
        "queryService": service("the Service of the MySQL port 4040"),
        "httpService": service("the Service of the HTTP API (ingest, queries) on port 4048"),
        "affinity": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                     "description": "pod affinity of czar and workers (core/v1 Affinity)"},
        "tolerations": {"type": "array", "description": "pod tolerations (core/v1 Toleration)",
                        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        "networkPolicies": {"type": "boolean", "default": False,
                            "description": "workers accept gRPC only from the czar and ingest pods"},
        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                   "description": "more ClusterConfig fields for qserv.json (qserv/config.py)"},
    },
}

CONDITION = {"type": "object", "required": ["type", "status"], "properties": {
    "type": {"type": "string"}, "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
    "reason": {"type": "string"}, "message": {"type": "string"},
    "lastTransitionTime": {"type": "string", "format": "date-time"}}}

STATUS = {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {
    "phase": {"type": "string"},
    "workers": {"type": "string", "description": "ready/desired"},
    "workersReady": {"type": "integer"},
    "workersDesired": {"type": "integer"},
    "czarReady": {"type": "boolean"},
    "conditions": {"type": "array", "items": CONDITION},
}}


def crd() -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}"},
        "spec": {
            "group": GROUP, "scope": "Namespaced",
            "names": {"kind": KIND, "plural": PLURAL, "singular": "qserv", "listKind": f"{KIND}List",
                      "shortNames": ["qs"]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"type": "object"}, "spec": SPEC, "status": STATUS}}},
                "additionalPrinterColumns": [
                    {"name": "Workers", "type": "string", "jsonPath": ".status.workers",
                     "description": "workers ready/desired"},
                    {"name": "Replication", "type": "integer", "jsonPath": ".spec.replication"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image", "priority": 1},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
            }],
        },
    }


def schema() -> dict:
    """The openAPIV3Schema of the resource (what example resources are validated against)."""
    return crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


if __name__ == "__main__":
    sys.stdout.write("# Generated by `python3 -m qserv_operator.crd` (deploy/operator/): do not edit.\n")
    sys.stdout.write(yaml.safe_dump(crd(), sort_keys=False))
