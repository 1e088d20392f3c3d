"""The loopback Kubernetes API's objects: namespaced stores of Jobs, Pods, Secrets, ConfigMaps and Events, and
the Job controller (a pod per Job, `backoffLimit` failed pods before the Job fails, its status and conditions).
`kubelet.Cluster` adds nodes, the scheduler and the kubelet."""

from __future__ import annotations

import base64
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from vidgen_assets_tests.fakes.k8s_objects import Node, condition, fields_match, gpu_request, iso, selected

NAMESPACED = ("jobs", "pods", "secrets", "configmaps", "events")
RESOURCE = {"jobs": "jobs.batch", "pods": "pods", "secrets": "secrets", "configmaps": "configmaps",
            "events": "events", "namespaces": "namespaces", "nodes": "nodes"}  # fmt: skip


class ApiError(Exception):
    """An answer as a Kubernetes `Status` object: code, reason (NotFound, AlreadyExists, ...), message."""

    def __init__(self, code: int, reason: str, message: str, name: str = ""):
        super().__init__(message)
        self.code, self.reason, self.message, self.name = code, reason, message, name


@dataclass
class Runtime:
    """What the kubelet knows about a pod beyond its object: node, process, timeline, faults."""

    labels: dict[str, str] = field(default_factory=dict)
    gpus: int = 0
    node: str | None = None
    phase: str = "Pending"
    exit_code: int | None = None
    process: object = None  # subprocess.Popen once the container runs
    deleting: bool = False
    oom_killed: bool = False
    times: dict[str, float] = field(default_factory=dict)  # created, scheduled, running, finished


class Store:
    def __init__(self, root: Path, nodes: list[dict]):
        self.root = root
        self.lock = threading.RLock()
        self.objects: dict[str, dict[tuple[str, str], dict]] = {kind: {} for kind in (*NAMESPACED, "namespaces")}
        self.nodes = [Node.from_dict(node) for node in nodes]
        self.runtime: dict[tuple[str, str], Runtime] = {}
        self._versions = itertools.count(1)
        (root / "logs").mkdir(parents=True, exist_ok=True)

    def create(self, kind: str, namespace: str, body: dict) -> dict:
        with self.lock:
            if kind in NAMESPACED and ("", namespace) not in self.objects["namespaces"]:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')
            meta = body.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            key = (namespace if kind in NAMESPACED else "", meta["name"])
            if key in self.objects[kind]:
                raise ApiError(409, "AlreadyExists", f'{RESOURCE[kind]} "{meta["name"]}" already exists', meta["name"])
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=iso(), resourceVersion=str(next(self._versions)))
            if kind in NAMESPACED:
                meta["namespace"] = namespace
            if kind == "secrets":  # the API server keeps only base64 `data`
                for name, value in (body.pop("stringData", None) or {}).items():
                    body.setdefault("data", {})[name] = base64.b64encode(value.encode()).decode()
            self.objects[kind][key] = body
            if kind == "jobs":
                body["status"] = {"active": 0, "startTime": iso()}
                self.new_pod(body)
            return body

    def get(self, kind: str, namespace: str, name: str) -> dict:
        found = next((o for o in self.list(kind, namespace) if o["metadata"]["name"] == name), None)
        if found is None:
            raise ApiError(404, "NotFound", f'{RESOURCE[kind]} "{name}" not found')
        return found

    def list(self, kind: str, namespace: str | None, labels: str = "", fields: str = "") -> list[dict]:
        if kind == "nodes":
            items = [node.to_dict(self.gpus_in_use(node.name)) for node in self.nodes]
        else:
            with self.lock:
                items = [o for (ns, _), o in self.objects[kind].items() if namespace in (None, ns) or kind == "namespaces"]
        return [o for o in items if selected(o["metadata"].get("labels") or {}, labels) and fields_match(o, fields)]

    def log(self, namespace: str, name: str, tail_lines: int | None) -> str:
        self.get("pods", namespace, name)
        path = self.log_path(namespace, name)
        text = path.read_text(errors="replace") if path.exists() else ""
        return "".join(text.splitlines(keepends=True)[-tail_lines:]) if tail_lines else text

    def log_path(self, namespace: str, name: str) -> Path:
        return self.root / "logs" / f"{namespace}_{name}.log"

    def gpus_in_use(self, node: str) -> int:
        with self.lock:  # held from binding until the pod ends, as the scheduler accounts for it
            return sum(gpu_request(p) for (ns, n), rt in self.runtime.items() if rt.node == node
                       and (p := self.objects["pods"].get((ns, n))) and p["status"]["phase"] in ("Pending", "Running"))  # fmt: skip

    # --- the Job controller ---
    def new_pod(self, job: dict) -> None:
        template, job_meta = job["spec"]["template"], job["metadata"]
        name = f"{job_meta['name']}-{uuid.uuid4().hex[:5]}"
        labels = {**(template.get("metadata", {}).get("labels") or {}), "job-name": job_meta["name"],
                  "batch.kubernetes.io/job-name": job_meta["name"], "controller-uid": job_meta["uid"]}  # fmt: skip
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job_meta["name"], "uid": job_meta["uid"], "controller": True}
        container = template["spec"]["containers"][0]
        pod = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": job_meta["namespace"], "labels": labels, "ownerReferences": [owner],
                         "uid": str(uuid.uuid4()), "creationTimestamp": iso(), "resourceVersion": str(next(self._versions))},
            "spec": dict(template["spec"]),
            "status": {"phase": "Pending", "conditions": [], "containerStatuses": [
                {"name": container["name"], "image": container.get("image"), "imageID": f"loopback://{container.get('image')}", "ready": False, "restartCount": 0,
                 "state": {"waiting": {"reason": "ContainerCreating"}}}]},
        }  # fmt: skip
        self.objects["pods"][(job_meta["namespace"], name)] = pod
        self.runtime[(job_meta["namespace"], name)] = Runtime(labels=labels, gpus=gpu_request(pod), times={"created": time.time()})
        job["status"]["active"] = job["status"].get("active", 0) + 1

    def pod_ended(self, pod: dict, succeeded: bool) -> None:
        """A pod of a Job reached Succeeded or Failed (or was deleted before it could)."""
        owner = (pod["metadata"].get("ownerReferences") or [{}])[0].get("name")
        job = self.objects["jobs"].get((pod["metadata"]["namespace"], owner))
        if job is None:  # orphaned: its Job was deleted
            return
        status = job["status"]
        status["active"] = max(0, status.get("active", 0) - 1)
        if succeeded:
            status["succeeded"] = status.get("succeeded", 0) + 1
            status.update(completionTime=iso(), conditions=[condition("Complete", "True")])
            return
        status["failed"] = status.get("failed", 0) + 1
        if status["failed"] > job["spec"].get("backoffLimit", 6):
            status["conditions"] = [condition("Failed", "True", "BackoffLimitExceeded", "Job has reached the specified backoff limit")]
        else:
            self.new_pod(job)

    def event(self, pod: dict, kind: str, reason: str, message: str) -> None:
        meta = pod["metadata"]
        self.create("events", meta["namespace"], {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:8]}"}, "type": kind, "reason": reason,
            "message": message, "count": 1, "involvedObject": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"]},
            "firstTimestamp": iso(), "lastTimestamp": iso(),
        })  # fmt: skip
