"""The Argo Workflows DAG of the ingest, built with hera: one task per step of `qserv ingest`
(queue → register → allocate → load, with index beside allocate + load → publish →
validate), each running
`qserv ingest SOURCE DB --step STEP`, so the DAG and the CLI run the same code. A task that
fails can be retried (Argo's retryStrategy): every step is idempotent and `load` resumes.

    python deploy/argo/build_workflow.py > deploy/argo/ingest-workflow.yaml

Assumes: the partitioner's output on a PersistentVolumeClaim (`qserv-ingest-data`, mounted at
/data) and a cluster installed as `qserv` by deploy/k8s (kustomize, Helm or the operator): its
ConfigMap `qserv-config` (`qserv.json`: czar host, http_port) and Secret `qserv-secrets`
(`secrets.json`: admin_token) projected into /etc/qserv, as the cluster's own pods see them.
The task pods carry the `ingest` component label, which the optional NetworkPolicies admit.
"""

from __future__ import annotations

import sys

from hera.workflows import DAG, Container, Parameter, Workflow, models as m

STEPS = ("queue", "register", "allocate", "load", "index", "publish", "validate")
IMAGE = "qserv-py:latest"


def build() -> Workflow:
    with Workflow(
        generate_name="qserv-ingest-",
        entrypoint="ingest",
        arguments=[Parameter(name="source", value="/data/partitioned"),
                   Parameter(name="database", value="demo"),
                   Parameter(name="jobs", value="2")],
        volumes=[m.Volume(name="data", persistent_volume_claim=m.PersistentVolumeClaimVolumeSource(
                     claim_name="qserv-ingest-data")),
                 m.Volume(name="config", projected=m.ProjectedVolumeSource(sources=[
                     m.VolumeProjection(config_map=m.ConfigMapProjection(name="qserv-config")),
                     m.VolumeProjection(secret=m.SecretProjection(name="qserv-secrets"))]))],
        labels={"app.kubernetes.io/name": "qserv", "app.kubernetes.io/component": "ingest"},
        pod_metadata=m.Metadata(labels={"app.kubernetes.io/name": "qserv",
                                        "app.kubernetes.io/instance": "qserv",
                                        "app.kubernetes.io/component": "ingest"}),
    ) as w:
        step = Container(
            name="ingest-step",
            image=IMAGE,
            command=["qserv"],
            args=["ingest", "{{workflow.parameters.source}}", "{{workflow.parameters.database}}",
                  "--step", "{{inputs.parameters.step}}", "-j", "{{workflow.parameters.jobs}}",
                  "--dir", "/etc/qserv", "--quiet"],
            inputs=[Parameter(name="step")],
            volume_mounts=[m.VolumeMount(name="data", mount_path="/data", read_only=True),
                           m.VolumeMount(name="config", mount_path="/etc/qserv", read_only=True)],
            retry_strategy=m.RetryStrategy(limit="2", retry_policy="OnFailure"),
        )
        with DAG(name="ingest"):
            t = {name: step(name=name, arguments={"step": name}) for name in STEPS}
            # the director index goes to the czar while the chunks go to the workers
            t["queue"] >> t["register"] >> [t["allocate"], t["index"]]
            t["allocate"] >> t["load"]
            [t["load"], t["index"]] >> t["publish"] >> t["validate"]
    return w


if __name__ == "__main__":
    sys.stdout.write(build().to_yaml())
