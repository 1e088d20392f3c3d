"""Kubernetes rules the loopback API applies to plain JSON objects: which node a pod fits (node selector, taints,
`nvidia.com/gpu`) and the scheduler's message when none does, label and field selectors, and a container's
environment from `env` and `envFrom` as the kubelet builds it."""

from __future__ import annotations

import base64
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

GPU = "nvidia.com/gpu"


def iso(moment: float | None = None) -> str:
    return datetime.fromtimestamp(moment or time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MissingReference(Exception):
    """A secret, config map or key a container's environment names is not there (CreateContainerConfigError)."""


@dataclass
class Node:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict] = field(default_factory=list)
    gpus: int = 0

    @classmethod
    def from_dict(cls, node: dict) -> Node:
        return cls(node["name"], dict(node.get("labels") or {}), list(node.get("taints") or []), int(node.get("gpus", 0)))

    def to_dict(self, gpus_in_use: int) -> dict:
        capacity = {"cpu": "16", "memory": "128Gi", "pods": "110", **({GPU: str(self.gpus)} if self.gpus else {})}
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.name, "labels": {"kubernetes.io/hostname": self.name, **self.labels}},
            "spec": {"taints": self.taints},
            "status": {"capacity": capacity, "allocatable": capacity, "conditions": [condition("Ready", "True")],
                       "gpusInUse": gpus_in_use},
        }  # fmt: skip

    def misfit(self, pod: dict, free_gpus: int) -> str | None:
        """Why the scheduler filters this node out for `pod`, in its own words; None when it fits."""
        spec = pod["spec"]
        if any(self.labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            return "node(s) didn't match Pod's node affinity/selector"
        for taint in self.taints:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not any(_tolerates(t, taint) for t in spec.get("tolerations") or []):
                return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
        if gpu_request(pod) > free_gpus:
            return f"Insufficient {GPU}"
        return None


def _tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get("value", "")


def gpu_request(pod: dict) -> int:
    """GPUs the pod's containers ask for (an extended resource: its limit is its request)."""
    return sum(int((c.get("resources") or {}).get("limits", {}).get(GPU, 0) or 0) for c in pod["spec"]["containers"])


def unschedulable_message(nodes: list[Node], pod: dict, free: dict[str, int]) -> str:
    """`0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.`, as kube-scheduler says it."""
    reasons = Counter(node.misfit(pod, free[node.name]) for node in nodes)
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()) if reason)
    return f"0/{len(nodes)} nodes are available: {parts}."


def condition(kind: str, status: str, reason: str | None = None, message: str | None = None) -> dict:
    found = {"type": kind, "status": status, "lastTransitionTime": iso()}
    return {**found, **({"reason": reason} if reason else {}), **({"message": message} if message else {})}


def exit_code_of(pod: dict) -> int | None:
    return (pod["status"]["containerStatuses"][0]["state"].get("terminated") or {}).get("exitCode")


def selected(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selector: `a=b,c!=d,e`."""
    for term in filter(None, selector.split(",")):
        key, op, value = re.fullmatch(r"([^!=]+)(==|=|!=)?(.*)", term).groups()
        if (op == "!=" and labels.get(key) == value) or (op in ("=", "==") and labels.get(key) != value) or (not op and key not in labels):
            return False
    return True


def fields_match(obj: dict, selector: str) -> bool:
    """Field selector: `metadata.name=x`, `involvedObject.name=x`, `status.phase=Running`."""
    for term in filter(None, selector.split(",")):
        path, value = term.split("=", 1)
        found: object = obj
        for part in path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if str(found) != value:
            return False
    return True


def container_env(container: dict, lookup: Callable[[str, str], dict | None], namespace: str) -> dict[str, str]:
    """`envFrom` first, then `env` over it; `lookup(kind, name)` finds a secret or config map of the namespace.
    Raises MissingReference with the kubelet's message for a missing, non-optional source or key."""

    def data(kind: str, ref: dict) -> dict[str, str]:
        found = lookup(kind, ref["name"])
        if found is None:
            if ref.get("optional"):
                return {}
            raise MissingReference(f'{"secret" if kind == "secrets" else "configmap"} "{ref["name"]}" not found')
        if kind == "secrets":
            return {k: base64.b64decode(v).decode() for k, v in (found.get("data") or {}).items()}
        return dict(found.get("data") or {})

    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        for kind, ref_name in (("secrets", "secretRef"), ("configmaps", "configMapRef")):
            if ref := source.get(ref_name):
                env.update({source.get("prefix", "") + k: v for k, v in data(kind, ref).items()})
    for var in container.get("env") or []:
        value_from = var.get("valueFrom") or {}
        kind, ref = ("secrets", value_from["secretKeyRef"]) if "secretKeyRef" in value_from else ("configmaps", value_from.get("configMapKeyRef"))
        if ref is None:  # a plain value; $(NAME) refers to a variable defined before it
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), var.get("value") or "")
            continue
        values = data(kind, ref)
        if ref["key"] in values:
            env[var["name"]] = values[ref["key"]]
        elif not ref.get("optional"):
            owner = "Secret" if kind == "secrets" else "ConfigMap"
            raise MissingReference(f"couldn't find key {ref['key']} in {owner} {namespace}/{ref['name']}")
    return env
