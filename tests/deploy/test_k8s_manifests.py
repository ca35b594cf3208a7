"""deploy/k8s/: the kustomize overlays and the Helm chart render exactly the objects the
operator's pure builder (deploy/operator/qserv_operator/objects.py) describes for the same
spec, every object passes strict Kubernetes schema validation, and the 15-worker overlay
matches its golden snapshot (QSERV_REGEN_GOLDEN=1 rewrites it)."""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from tests.deploy.k8stools import K8S, CHART, helm, helm_template, kustomize, normalise, validate_strict

import generate                                 # deploy/k8s/generate.py
from qserv_operator import objects as ob

GOLDEN = K8S / "golden" / "prod-15-workers.yaml"


def test_generated_files_in_sync():
    assert generate.main(["--check"]) == 0, "run python3 deploy/k8s/generate.py"


@pytest.mark.parametrize("overlay", sorted(generate.OVERLAYS))
def test_overlay_renders_its_spec(overlay):
    got = normalise(kustomize(f"overlays/{overlay}"))
    want = normalise(ob.desired_objects("qserv", generate.OVERLAYS[overlay]))
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], key


def test_base_is_the_default_spec():
    assert normalise(kustomize("base")) == normalise(ob.desired_objects("qserv", {}))


@pytest.mark.parametrize("spec", [{}, *generate.OVERLAYS.values(),
                                  {"worker": {"replicas": 3}, "affinity": {"nodeAffinity": {
                                      "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                                          {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}},
                                   "tolerations": [{"key": "qserv", "operator": "Exists", "effect": "NoSchedule"}],
                                   "config": {"jobs_per_worker": 4}, "httpService": {"type": "NodePort"}},
                                  {"worker": {"replicas": 2, "mariadbContainer": True}}],
                         ids=["default", *sorted(generate.OVERLAYS), "affinity-config", "mariadb-apart"])
def test_helm_renders_the_same_objects(spec, tmp_path):
    rendered = helm_template(spec, release="sky", tmp=tmp_path)
    for obj in rendered:
        validate_strict(obj)
    got = normalise(rendered)
    want = normalise(ob.desired_objects("sky", spec) + [ob.secret("sky")])
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], key


def test_helm_lint_strict():
    import subprocess
    res = subprocess.run([helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_helm_keeps_given_secrets(tmp_path):
    objs = helm_template({"secrets": {"admin_token": "tok", "users": {"alice": "pw"}}}, tmp=tmp_path)
    doc = json.loads(next(o for o in objs if o["kind"] == "Secret")["stringData"]["secrets.json"])
    assert doc["admin_token"] == "tok" and doc["users"] == {"alice": "pw"}
    assert len(doc["grpc_token"]) == 32     # the others generated


@pytest.mark.parametrize("source", ["overlays/dev", "overlays/prod", "helm"])
def test_every_object_valid_strict(source, tmp_path):
    objs = (helm_template({"networkPolicies": True}, tmp=tmp_path) if source == "helm"
            else kustomize(source))
    assert len(objs) >= 8
    for obj in objs:
        validate_strict(obj)


def test_strict_validation_catches_mistakes():
    import kubernetes_validate
    sts = ob.stateful_set("qserv", ob.with_defaults({}), "worker")
    typo = copy.deepcopy(sts)
    typo["spec"]["replica"] = typo["spec"].pop("replicas")           # unknown field
    wrong_type = copy.deepcopy(sts)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "grpc"
    for bad in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate_strict(bad)


def test_worker_mariadb_in_its_own_container(tmp_path):
    """spec.worker.mariadbContainer: two containers per worker pod, the config says TCP."""
    from qserv.config import ClusterConfig
    spec = {"worker": {"replicas": 2, "mariadbContainer": True}}
    sts = ob.stateful_set("qserv", ob.with_defaults(spec), "worker")
    daemon, mariadb = sts["spec"]["template"]["spec"]["containers"]
    assert mariadb["args"] == ["mariadb", "$(QSERV_WORKER_NAME)"] and daemon["args"] == ["worker"]
    assert mariadb["volumeMounts"] == daemon["volumeMounts"]      # the outfiles are shared
    (tmp_path / "qserv.json").write_text(ob.config_map("qserv", spec)["data"]["qserv.json"])
    assert all(w.mariadb_tcp for w in ClusterConfig.load(tmp_path).workers)


def test_config_map_is_a_cluster_config(tmp_path):
    """The pods read the ConfigMap and the Secret as one directory, with ClusterConfig.load."""
    from qserv.config import ClusterConfig
    spec = generate.OVERLAYS["prod"]
    (tmp_path / "qserv.json").write_text(ob.config_map("qserv", spec)["data"]["qserv.json"])
    (tmp_path / "secrets.json").write_text(ob.secret("qserv")["stringData"]["secrets.json"])
    cfg = ClusterConfig.load(tmp_path)
    assert len(cfg.workers) == 15 and cfg.replication == 2
    assert cfg.workers[14].name == "qserv-worker-14"
    assert cfg.workers[14].grpc_address() == "qserv-worker-14.qserv-worker:26000"
    assert cfg.host == "qserv-czar-0.qserv-czar" and cfg.listen_host(cfg.host) == "0.0.0.0"
    assert cfg.grpc_token and cfg.admin_token and cfg.mariadb_root_password


def test_shape_of_the_prod_overlay():
    """What the issue asks of the manifests, read off the rendered 15-worker overlay."""
    objs = normalise(kustomize("overlays/prod"))
    workers = objs[("StatefulSet", "qserv-worker")]["spec"]
    assert workers["replicas"] == 15 and workers["podManagementPolicy"] == "Parallel"
    assert workers["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert objs[("Service", "qserv-worker")]["spec"]["clusterIP"] == "None"
    assert objs[("Service", "qserv-query")]["spec"]["type"] == "LoadBalancer"
    assert objs[("PodDisruptionBudget", "qserv-worker")]["spec"]["maxUnavailable"] == 1
    assert ("NetworkPolicy", "qserv-worker") in objs
    pod = workers["template"]["spec"]
    c = pod["containers"][0]
    assert c["readinessProbe"]["exec"]["command"] == ["qserv-entrypoint", "probe", "worker"]
    assert c["resources"]["requests"] == {"cpu": "4", "memory": "16Gi"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    czar = objs[("StatefulSet", "qserv-czar")]["spec"]
    assert czar["replicas"] == 1 and czar["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {"storage": "200Gi"}


def test_golden_prod_overlay():
    rendered = yaml.safe_dump_all(kustomize("overlays/prod"), sort_keys=True)
    if os.environ.get("QSERV_REGEN_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(rendered)
    assert GOLDEN.exists(), "no golden snapshot: run with QSERV_REGEN_GOLDEN=1"
    assert rendered == GOLDEN.read_text(), \
        f"the prod overlay changed: review `kubectl kustomize {K8S}/overlays/prod`, then " \
        "rerun with QSERV_REGEN_GOLDEN=1"


def test_make_secret_for_kustomize_installs():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, str(K8S / "make_secret.py"), "--admin-token", "tok"],
                         capture_output=True, text=True, check=True).stdout
    obj = yaml.safe_load(out)
    validate_strict(obj)
    doc = json.loads(obj["stringData"]["secrets.json"])
    assert obj["metadata"]["name"] == "qserv-secrets" and doc["admin_token"] == "tok"
    assert all(doc[k] for k in ob.SECRET_KEYS)
