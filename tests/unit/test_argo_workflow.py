"""deploy/argo/ingest-workflow.yaml: valid against the Argo Workflow schema (the JSON schema of
hera's models, generated from Argo's own OpenAPI spec, made strict: unknown fields are errors),
in sync with its generator, and running exactly the steps of `qserv ingest`."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "deploy" / "argo" / "ingest-workflow.yaml"


def strict(schema):
    """Every object with declared properties refuses the others (typos, misplaced keys)."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


@pytest.fixture(scope="module")
def validator():
    from hera.workflows.models import Workflow
    schema = strict(Workflow.model_json_schema(by_alias=True))
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load(WORKFLOW.read_text())


def test_valid_against_argo_schema(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert doc["apiVersion"] == "argoproj.io/v1alpha1" and doc["kind"] == "Workflow"


def test_schema_catches_mistakes(validator, doc):
    bad = copy.deepcopy(doc)
    bad["spec"]["templates"][1]["dag"]["tasks"][1]["dependz"] = "queue"
    assert list(validator.iter_errors(bad))
    bad = copy.deepcopy(doc)
    bad["spec"]["templates"][0]["container"]["volumeMounts"][0].pop("mountPath")
    assert list(validator.iter_errors(bad))


def test_in_sync_with_generator(doc):
    out = subprocess.run([sys.executable, str(ROOT / "deploy" / "argo" / "build_workflow.py")],
                         capture_output=True, text=True, check=True).stdout
    assert yaml.safe_load(out) == doc, "regenerate: python deploy/argo/build_workflow.py > " \
                                       "deploy/argo/ingest-workflow.yaml"


def test_dag_runs_the_cli_steps_in_order(doc):
    from qserv.admin.cli import build_parser
    from qserv.admin.ingest_client import STEPS
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    assert doc["spec"]["entrypoint"] in templates
    tasks = templates[doc["spec"]["entrypoint"]]["dag"]["tasks"]
    names = [t["name"] for t in tasks]
    assert tuple(names) == STEPS
    depends = {t["name"]: set(t.get("depends", "").replace("&&", " ").split()) for t in tasks}
    assert depends == {"queue": set(), "register": {"queue"}, "allocate": {"register"},
                       "load": {"allocate"}, "index": {"register"}, "publish": {"load", "index"},
                       "validate": {"publish"}}
    for task in tasks:
        assert task["template"] in templates
        step = task["arguments"]["parameters"][0]["value"]
        args = [a.replace("{{inputs.parameters.step}}", step).replace("{{workflow.parameters.jobs}}", "2")
                for a in templates[task["template"]]["container"]["args"]]
        parsed = build_parser().parse_args(args)       # the CLI accepts what the task runs
        assert parsed.step == step == task["name"]
    declared = {p["name"] for p in doc["spec"]["arguments"]["parameters"]}
    assert declared == {"source", "database", "jobs"}
