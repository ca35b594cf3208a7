"""deploy/operator/: the CRD (generated, valid, strict schema for the example resources) and
the reconcile as pure functions (spec + observed → objects and status), without any API."""

from __future__ import annotations

import copy
import subprocess
import sys

import jsonschema
import pytest
import yaml

from tests.deploy.k8stools import DEPLOY, validate_strict

from qserv_operator import crd, objects as ob, reconcile as rc

OPERATOR = DEPLOY / "operator"
EXAMPLES = sorted((OPERATOR / "examples").glob("*.yaml"))
OWNER = {"metadata": {"name": "qserv", "namespace": "sky", "uid": "0000-1111"}}


def strict(schema):
    """Objects with declared properties refuse others, unless they preserve unknown fields
    (as the API server prunes unknown fields, the test makes them errors)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


@pytest.fixture(scope="module")
def validator():
    return jsonschema.Draft202012Validator(strict(copy.deepcopy(crd.schema())))


def test_crd_file_in_sync_and_valid():
    out = subprocess.run([sys.executable, "-m", "qserv_operator.crd"], cwd=OPERATOR,
                         capture_output=True, text=True, check=True).stdout
    assert (OPERATOR / "crd.yaml").read_text() == out, \
        "regenerate: cd deploy/operator && python3 -m qserv_operator.crd > crd.yaml"
    doc = yaml.safe_load(out)
    validate_strict(doc)
    columns = {c["name"]: c["jsonPath"] for c in doc["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["Workers"] == ".status.workers" and columns["Age"] == ".metadata.creationTimestamp"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_valid_and_reconcile_to_valid_objects(path, validator):
    doc = yaml.safe_load(path.read_text())
    errors = list(validator.iter_errors(doc))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    owner = {"metadata": {**doc["metadata"], "namespace": "sky", "uid": "u"}}
    for obj in rc.owned(rc.plan(doc["metadata"]["name"], doc["spec"], None, None).objects, owner):
        validate_strict(obj)


@pytest.mark.parametrize("mistake", [
    ("worker", {"replicas": 0}), ("worker", {"replicas": "3"}), ("queryService", {"type": "Ingress"}),
    ("replication", 0), ("workers", {"replicas": 2}), ("czar", {"storage": "lots"}),
    ("worker", {"resources": {"request": {"cpu": "1"}}})])
def test_schema_rejects_mistakes(mistake, validator):
    key, value = mistake
    doc = yaml.safe_load(EXAMPLES[0].read_text())
    doc["spec"][key] = value
    assert list(validator.iter_errors(doc)), mistake


def find(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def test_new_cluster_is_the_spec():
    p = rc.plan("qserv", {"worker": {"replicas": 3}}, None, None)
    assert not p.refusal and p.worker_replicas == 3
    assert p.objects == ob.desired_objects("qserv", {"worker": {"replicas": 3}})


def test_scale_up_registers_new_workers():
    p = rc.plan("qserv", {"worker": {"replicas": 4}}, 2, None)   # placement not needed to grow
    cfg = yaml.safe_load(p.objects[0]["data"]["qserv.json"])
    assert [w["name"] for w in cfg["workers"]] == [f"qserv-worker-{i}" for i in range(4)]
    assert find(p.objects, "StatefulSet", "qserv-worker")["spec"]["replicas"] == 4


def test_departed_workers_are_forgotten_once_their_pods_are_gone():
    registered = ["qserv-worker-0", "qserv-worker-1", "qserv-worker-2", "qserv-worker-10", "other-worker-5"]
    assert rc.departed("qserv", registered, 2, sts(3, 3)) == []            # pods still there
    assert rc.departed("qserv", registered, 2, sts(2, 2)) == ["qserv-worker-10", "qserv-worker-2"]
    assert rc.departed("qserv", registered, 2, None) == []


PLACEMENT = {"sky": {"5": ["qserv-worker-2"], "6": ["qserv-worker-0", "qserv-worker-2"],
                     "7": ["qserv-worker-1"]},
             "other": {"1": ["qserv-worker-1", "qserv-worker-2"]}}


def test_scale_down_refused_while_a_leaving_worker_holds_the_only_copy():
    p = rc.plan("qserv", {"worker": {"replicas": 2}}, 3, PLACEMENT)
    assert p.blockers == {"sky": [5]} and p.worker_replicas == 3
    assert "qserv-worker-2 hold the only copy of sky: chunks 5" in p.refusal
    workers = find(p.objects, "StatefulSet", "qserv-worker")
    assert workers["spec"]["replicas"] == 3
    assert len(yaml.safe_load(p.objects[0]["data"]["qserv.json"])["workers"]) == 3
    # two leave: chunk 7 (only on worker-1) and 5 block; 1 of `other` too
    p = rc.plan("qserv", {"worker": {"replicas": 1}}, 3, PLACEMENT)
    assert p.blockers == {"sky": [5, 7], "other": [1]}


def test_scale_down_allowed_when_every_chunk_keeps_a_copy():
    placement = copy.deepcopy(PLACEMENT)
    placement["sky"]["5"].append("qserv-worker-0")
    p = rc.plan("qserv", {"worker": {"replicas": 2}}, 3, placement)
    assert not p.refusal and p.worker_replicas == 2
    p = rc.plan("qserv", {"worker": {"replicas": 2}}, 3, {})     # no data at all
    assert not p.refusal


def test_scale_down_refused_when_placement_unknown():
    p = rc.plan("qserv", {"worker": {"replicas": 2}}, 3, None)
    assert p.worker_replicas == 3 and "could not be read" in p.refusal


def sts(ready, replicas=None):
    return {"status": {"readyReplicas": ready, "replicas": ready if replicas is None else replicas}}


def test_status_from_the_statefulsets():
    spec = {"worker": {"replicas": 3}}
    p = rc.plan("qserv", spec, 3, None)
    st = rc.status("qserv", spec, p, sts(0), sts(1, 3), None, "t0")
    conds = {c["type"]: c for c in st["conditions"]}
    assert st["workers"] == "1/3" and st["phase"] == "Pending"
    assert conds["Ready"]["status"] == "False" and conds["WorkersReady"]["message"] == "1 of 3 workers ready"
    st2 = rc.status("qserv", spec, p, sts(1), sts(3), st, "t1")
    conds2 = {c["type"]: c for c in st2["conditions"]}
    assert st2["phase"] == "Ready" and st2["workers"] == "3/3" and conds2["Ready"]["status"] == "True"
    assert conds2["Ready"]["lastTransitionTime"] == "t1"
    assert conds2["ScaleDownRefused"]["lastTransitionTime"] == "t0"   # unchanged since t0
    refused = rc.plan("qserv", {"worker": {"replicas": 2}}, 3, PLACEMENT)
    st3 = rc.status("qserv", {"worker": {"replicas": 2}}, refused, sts(1), sts(3), st2, "t2")
    conds3 = {c["type"]: c for c in st3["conditions"]}
    assert st3["phase"] == "ScaleDownRefused" and st3["workers"] == "3/2"
    assert conds3["ScaleDownRefused"]["status"] == "True"
    assert conds3["ScaleDownRefused"]["reason"] == "ChunksOnlyOnLeavingWorkers"


def test_owned_objects_carry_the_owner():
    objs = rc.owned(ob.desired_objects("qserv", {}), OWNER)
    for obj in objs:
        assert obj["metadata"]["namespace"] == "sky"
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "0000-1111"
        validate_strict(obj)


def test_operator_install_manifest_in_sync_and_valid():
    out = subprocess.run([sys.executable, "-m", "qserv_operator.install"], cwd=OPERATOR,
                         capture_output=True, text=True, check=True).stdout
    assert (OPERATOR / "install.yaml").read_text() == out, \
        "regenerate: cd deploy/operator && python3 -m qserv_operator.install > install.yaml"
    docs = list(yaml.safe_load_all(out))
    for doc in docs:
        validate_strict(doc)
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    from qserv_operator.kube import KINDS   # every kind the operator writes is granted
    for kind, (prefix, plural) in KINDS.items():
        group = "" if prefix == "/api/v1" else prefix.split("/")[2]
        assert (group, plural) in granted, kind
