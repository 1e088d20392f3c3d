"""A Kubernetes API server on loopback, for the official `kubernetes` client (and so dagster-k8s) through a
kubeconfig: the REST paths, JSON bodies, status codes and `Status` errors of the calls dagster-k8s's
`k8s_job_executor` and `K8sRunLauncher` make. Its cluster (`kubelet.py`) runs each Job's pod as a process.

    python -m vidgen_assets_tests.fakes.k8s_api --port P --root DIR --config cluster.json

`cluster.json`: {"token", "images": {image: {VAR: value}} (each image's own environment, e.g. PATH),
"nodes": [{"name", "labels", "taints", "gpus"}], "pod_start_s"}.

Routes (namespaced kinds: jobs under /apis/batch/v1, pods, secrets, configmaps, events under /api/v1):
list (labelSelector, fieldSelector), create, read (and `/status`), delete; pod `/log` (tailLines); namespaces
(list, create, read); nodes (list, read). Every request needs the kubeconfig's bearer token (401 otherwise).

Control endpoints (no token), for tests:
- `POST /_fake/config` {"pod_start_s"}; `POST /_fake/nodes` [{"name", "labels", "taints", "gpus"}] (replaces them)
- `POST /_fake/faults` {"op_contains", "after_s", "count"}: the next `count` pods whose `dagster/op` label
  contains it are OOM-killed `after_s` seconds after they start (exit code 137, reason OOMKilled)
- `GET /_fake/stats` {"max_gpu_pods_running", "gpu_pods_running", "pods": [timeline]}
- `GET /_fake/logs/<namespace>/<pod>`: a pod's whole output, kept after the pod is deleted
"""

from __future__ import annotations

import argparse
import json
import re
import signal
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from vidgen_assets_tests.fakes.k8s_objects import Node
from vidgen_assets_tests.fakes.k8s_store import RESOURCE, ApiError
from vidgen_assets_tests.fakes.kubelet import Cluster

KINDS = {"jobs": ("batch/v1", "Job"), "pods": ("v1", "Pod"), "secrets": ("v1", "Secret"), "configmaps": ("v1", "ConfigMap"),
         "events": ("v1", "Event"), "namespaces": ("v1", "Namespace"), "nodes": ("v1", "Node")}  # fmt: skip
NAMESPACED = r"/(?:api/v1|apis/batch/v1)/namespaces/(?P<ns>[^/]+)/(?P<kind>jobs|pods|secrets|configmaps|events)"
CLUSTER_SCOPED = r"/api/v1/(?P<cluster_kind>namespaces|nodes)"


class Handler(BaseHTTPRequestHandler):
    cluster: Cluster
    token: str
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the objects instead
        pass

    def send_json(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_status(self, error: ApiError, name: str = "", kind: str = "") -> None:
        plural, _, group = RESOURCE.get(kind, kind).partition(".")
        details = {"name": error.name or name, "kind": plural, **({"group": group} if group else {})}
        self.send_json(error.code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                    "message": error.message, "reason": error.reason, "details": details, "code": error.code})  # fmt: skip

    def _dispatch(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/_fake/"):
            return self._control(method, url.path, json.loads(body or b"null"))
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            return self.send_status(ApiError(401, "Unauthorized", "Unauthorized"))
        try:
            self._api(method, url.path, query, json.loads(body or b"null"))
        except ApiError as error:
            self.send_status(error, *self._name_kind(url.path))

    @staticmethod
    def _name_kind(path: str) -> tuple[str, str]:
        match = re.fullmatch(f"(?:{NAMESPACED}|{CLUSTER_SCOPED})(?:/(?P<name>[^/]+))?(?:/\\w+)?", path)
        return (match["name"] or "", match["kind"] or match["cluster_kind"]) if match else ("", "")

    def _api(self, method: str, path: str, query: dict, body: Any) -> None:
        cluster = self.cluster
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0-loopback"})
        match = re.fullmatch(f"(?:{NAMESPACED}|{CLUSTER_SCOPED})(?:/(?P<name>[^/]+)(?:/(?P<sub>status|log))?)?", path)
        if not match:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        kind, namespace, name, sub = match["kind"] or match["cluster_kind"], match["ns"] or "", match["name"], match["sub"]
        api_version, object_kind = KINDS[kind]
        if name is None and method == "GET":
            items = cluster.list(kind, namespace if match["ns"] else None, query.get("labelSelector", ""), query.get("fieldSelector", ""))
            return self.send_json(200, {"kind": f"{object_kind}List", "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items})
        if name is None and method == "POST":
            if kind == "nodes":
                raise ApiError(405, "MethodNotAllowed", "nodes register themselves with this fake")
            return self.send_json(201, {"apiVersion": api_version, "kind": object_kind, **cluster.create(kind, namespace, body)})
        if sub == "log" and method == "GET":
            tail = int(query["tailLines"]) if query.get("tailLines") else None
            return self.send_json(200, cluster.log(namespace, name, tail), content_type="text/plain")
        if method == "GET":
            return self.send_json(200, {"apiVersion": api_version, "kind": object_kind, **cluster.get(kind, namespace, name)})
        if method == "DELETE" and kind != "nodes":
            return self.send_json(200, {"apiVersion": api_version, "kind": object_kind, **cluster.delete(kind, namespace, name, body)})
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")

    def _control(self, method: str, path: str, body: Any) -> None:
        cluster = self.cluster
        if path == "/_fake/config" and method == "POST":
            cluster.pod_start_s = float(body["pod_start_s"])
            return self.send_json(200, {"pod_start_s": cluster.pod_start_s})
        if path == "/_fake/nodes" and method == "POST":
            with cluster.lock:
                cluster.nodes = [Node.from_dict(node) for node in body]
            return self.send_json(200, [asdict(node) for node in cluster.nodes])
        if path == "/_fake/faults" and method == "POST":
            with cluster.lock:
                cluster.faults.append({"after_s": 0.5, "count": 1, **body})
            return self.send_json(200, cluster.faults)
        if path == "/_fake/stats":
            with cluster.lock:
                stats = {"max_gpu_pods_running": cluster.max_gpu_pods_running, "gpu_pods_running": cluster.gpu_pods_running}
            return self.send_json(200, {**stats, "pods": cluster.timeline()})
        if match := re.fullmatch(r"/_fake/logs/([^/]+)/([^/]+)", path):
            log = cluster.log_path(match[1], match[2])
            return self.send_json(200 if log.exists() else 404, log.read_text(errors="replace") if log.exists() else "", "text/plain")
        self.send_json(404, {"detail": f"no control route {method} {path}"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True, help="pods' private directories and logs")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    Handler.token = config["token"]
    Handler.cluster = Cluster(args.root, config["images"], config["nodes"], config.get("pod_start_s", 0.0))
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True

    def stop(_signum, _frame):
        Handler.cluster.kill_all()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
