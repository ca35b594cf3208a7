"""Reconcile as pure functions: (spec, what is observed) → objects to apply and the status to
report. No I/O here (handlers.py reads the cluster and applies), so every decision is
unit-tested without a Kubernetes API.

Scale-down: workers leave from the highest ordinal down (a StatefulSet removes
`NAME-worker-{n-1}` first). It is refused, and the worker StatefulSet and the config keep
their current size, while a leaving worker holds the only copy of a chunk, or while the czar
cannot tell where chunks are (no proof that nothing would be lost). The status says which
chunks block it; `qserv replicate` (or a higher replication) moves copies to the staying
workers, and the next reconcile (the operator retries periodically) lets the scale-down go.

Scale-up: the config map lists the new workers before their pods start, and each registers
itself with the running czar at start (czar/membership.py): no restart. After a scale-down,
once the pods are gone, the czar is told to forget the workers that left (`departed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qserv_operator import objects as ob

@dataclass
class Plan:
    objects: list[dict]
    worker_replicas: int          # what the worker StatefulSet gets (spec's, unless refused)
    refusal: str = ""             # why a scale-down was refused ("" when it was not)
    blockers: dict = field(default_factory=dict)   # {db: [chunk, ...]} held only by leaving workers


def scale_down_blockers(placement: dict[str, dict[str, list[str]]], leaving: set[str]) -> dict[str, list[int]]:
    """{db: [chunk, ...]} of the chunks whose every copy is on a leaving worker."""
    out: dict[str, list[int]] = {}
    for db, chunks in placement.items():
        lost = sorted(int(c) for c, holders in chunks.items() if holders and set(holders) <= leaving)
        if lost:
            out[db] = lost
    return out


def _describe(blockers: dict[str, list[int]], limit: int = 10) -> str:
    parts = []
    for db, chunks in sorted(blockers.items()):
        shown = ", ".join(map(str, chunks[:limit])) + (f" and {len(chunks) - limit} more" if len(chunks) > limit else "")
        parts.append(f"{db}: chunks {shown}")
    return "; ".join(parts)


def plan(name: str, spec: dict, current_workers: int | None,
         placement: dict[str, dict[str, list[str]]] | None) -> Plan:
    """What to apply for `spec`, given the worker StatefulSet's current replicas (None: it does
    not exist yet) and the czar's chunk placement (None: the czar could not be asked)."""
    spec = ob.with_defaults(spec)
    wanted = spec["worker"]["replicas"]
    refusal, blockers = "", {}
    if current_workers is not None and wanted < current_workers:
        leaving = set(ob.worker_names(name, current_workers)[wanted:])
        if placement is None:
            refusal = (f"scale-down from {current_workers} to {wanted} workers refused: the czar's "
                       "chunk placement could not be read, so it is unknown whether a leaving "
                       "worker holds the only copy of a chunk")
        else:
            blockers = scale_down_blockers(placement, leaving)
            if blockers:
                refusal = (f"scale-down from {current_workers} to {wanted} workers refused: "
                           f"{', '.join(sorted(leaving))} hold the only copy of {_describe(blockers)}; "
                           "replicate them to the staying workers first (qserv replicate)")
    replicas = current_workers if refusal else wanted
    assert replicas is not None
    effective = {**spec, "worker": {**spec["worker"], "replicas": replicas}}
    return Plan(ob.desired_objects(name, effective), replicas, refusal, blockers)


def departed(name: str, registered: list[str], replicas: int, worker_sts: dict | None) -> list[str]:
    """Registered workers of this cluster beyond `replicas`, once the StatefulSet reports its
    pods gone: the czar is told to forget them (DELETE /workers/NAME)."""
    observed = _replicas(worker_sts)
    if observed is None or observed > replicas:
        return []
    prefix = f"{name}-worker-"
    out = []
    for w in registered:
        if w.startswith(prefix) and w[len(prefix):].isdigit() and int(w[len(prefix):]) >= replicas:
            out.append(w)
    return sorted(out)


def owned(objs: list[dict], owner: dict) -> list[dict]:
    """The objects in the owner's namespace, owned by it (deleted with it by Kubernetes)."""
    meta = owner["metadata"]
    ref = {"apiVersion": ob.API_VERSION, "kind": ob.KIND, "name": meta["name"], "uid": meta["uid"],
           "controller": True, "blockOwnerDeletion": True}
    out = []
    for obj in objs:
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": meta["namespace"],
                                   "ownerReferences": [ref]}}
        out.append(obj)
    return out


def _ready(sts: dict | None) -> int:
    return int(((sts or {}).get("status") or {}).get("readyReplicas") or 0)


def condition(type_: str, ok: bool, reason: str, message: str, previous: list[dict], now: str) -> dict:
    status = "True" if ok else "False"
    before = next((c for c in previous if c.get("type") == type_), None)
    since = before["lastTransitionTime"] if before and before.get("status") == status else now
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since}


def status(name: str, spec: dict, the_plan: Plan, czar_sts: dict | None, worker_sts: dict | None,
           previous: dict | None, now: str) -> dict:
    """The resource's status from its owned StatefulSets: workers ready/desired, conditions
    (CzarReady, WorkersReady, ScaleDownRefused, Ready) and a phase for `kubectl get qservs`."""
    spec = ob.with_defaults(spec)
    prev = (previous or {}).get("conditions") or []
    desired = spec["worker"]["replicas"]
    ready = _ready(worker_sts)
    czar_ok = _ready(czar_sts) >= 1
    running = the_plan.worker_replicas
    workers_ok = ready >= running and worker_sts is not None
    conds = [
        condition("CzarReady", czar_ok, "PodReady" if czar_ok else "PodNotReady",
                  "the czar answers on 4040 and its HTTP API" if czar_ok else "the czar pod is not ready", prev, now),
        condition("WorkersReady", workers_ok, "AllReady" if workers_ok else "NotAllReady",
                  f"{ready} of {running} workers ready", prev, now),
        condition("ScaleDownRefused", bool(the_plan.refusal),
                  "ChunksOnlyOnLeavingWorkers" if the_plan.blockers else
                  ("PlacementUnknown" if the_plan.refusal else "NotRefused"),
                  the_plan.refusal or "no scale-down pending", prev, now),
    ]
    all_ok = czar_ok and workers_ok and not the_plan.refusal
    conds.append(condition("Ready", all_ok, "Ready" if all_ok else "NotReady",
                           "the cluster serves queries with every desired worker" if all_ok
                           else "see the other conditions", prev, now))
    observed = _replicas(worker_sts)
    phase = ("ScaleDownRefused" if the_plan.refusal else "Ready" if all_ok
             else "Scaling" if observed is not None and observed != running else "Pending")
    return {"phase": phase, "workers": f"{ready}/{desired}", "workersReady": ready,
            "workersDesired": desired, "czarReady": czar_ok, "conditions": conds}


def _replicas(sts: dict | None) -> int | None:
    return None if sts is None else (sts.get("status") or {}).get("replicas")
