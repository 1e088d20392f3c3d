"""The loopback Kubernetes API (`fakes/k8s_api.py`) for tests and benchmarks: started in its own process, reached
by the official `kubernetes` client through a kubeconfig file, driven through its control endpoints."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from vidgen_assets_tests.conftest import free_port

# urllib would route even loopback through an HTTP(S)_PROXY from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
GPU_LABELS = {"nvidia.com/gpu.present": "true"}
GPU_TAINT = {"key": "nvidia.com/gpu", "effect": "NoSchedule"}


def cluster_nodes(gpu_nodes: int, gpus_per_node: int = 1) -> list[dict]:
    """One CPU node and `gpu_nodes` GPU nodes, labelled and tainted as the NVIDIA GPU operator leaves them."""
    gpu = [{"name": f"gpu-{n}", "labels": GPU_LABELS, "taints": [GPU_TAINT], "gpus": gpus_per_node} for n in range(gpu_nodes)]
    return [{"name": "cpu-0", "labels": {"node.kubernetes.io/instance-type": "cpu"}}, *gpu]


def image_env() -> dict[str, str]:
    """What the images' own ENV gives every container: this environment's `dagster` and `python` on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}/usr/local/bin:/usr/bin:/bin"
    keep = {name: os.environ[name] for name in ("LANG", "PYTHONPATH") if name in os.environ}
    return {**keep, "PATH": path, "OMP_NUM_THREADS": "1", "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1"}


@dataclass
class LoopbackKubernetes:
    url: str
    kubeconfig: Path
    root: Path

    def _call(self, path: str, body: object = None) -> object:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with _DIRECT.open(request, timeout=10) as response:
            text = response.read().decode()
        return json.loads(text) if response.headers.get("Content-Type") == "application/json" else text

    def stats(self) -> dict:
        return self._call("/_fake/stats")

    def oom_kill(self, op_contains: str, after_s: float = 0.5, count: int = 1) -> None:
        self._call("/_fake/faults", {"op_contains": op_contains, "after_s": after_s, "count": count})

    def set_nodes(self, nodes: list[dict]) -> None:
        self._call("/_fake/nodes", nodes)

    def logs(self, namespace: str, pod: str) -> str:
        return self._call(f"/_fake/logs/{namespace}/{pod}")

    def pods(self, op_contains: str = "") -> list[dict]:
        return [p for p in self.stats()["pods"] if op_contains in p["labels"].get("dagster/op", "")]

    def api(self):
        """(CoreV1Api, BatchV1Api) of the official client, configured from the kubeconfig file."""
        from kubernetes import client, config

        api_client = config.new_client_from_config(str(self.kubeconfig))
        return client.CoreV1Api(api_client), client.BatchV1Api(api_client)


def write_kubeconfig(path: Path, url: str, token: str, namespace: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "loopback",
        "clusters": [{"name": "loopback", "cluster": {"server": url}}],
        "users": [{"name": "vidgen", "user": {"token": token}}],
        "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": "vidgen", "namespace": namespace}}],
    }))  # fmt: skip
    return path


@contextmanager
def running_loopback_k8s(
    root: Path, nodes: list[dict], images: list[str], pod_start_s: float = 0.0, namespace: str = "vidgen"
) -> Iterator[LoopbackKubernetes]:
    """The fake API in its own process with `nodes`, `images` (each with `image_env()`) and namespace `namespace`
    created through the client; stopped, with every pod process it started, on exit."""
    root.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    config = {"token": token, "images": {image: image_env() for image in images}, "nodes": nodes, "pod_start_s": pod_start_s}
    (root / "cluster.json").write_text(json.dumps(config))
    port = free_port()
    log = (root / "k8s_api.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "vidgen_assets_tests.fakes.k8s_api", "--port", str(port), "--root", str(root / "cluster"),
         "--config", str(root / "cluster.json")], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    fake = LoopbackKubernetes(f"http://127.0.0.1:{port}", write_kubeconfig(root / "kubeconfig", f"http://127.0.0.1:{port}", token, namespace), root)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fake.stats()
                break
            except (OSError, urllib.error.URLError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the loopback Kubernetes API did not start: {(root / 'k8s_api.log').read_text()[-2000:]}") from None
                time.sleep(0.1)
        from kubernetes import client

        fake.api()[0].create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        yield fake
    finally:
        _stop(process, fake)
        log.close()


def _stop(process: subprocess.Popen, fake: LoopbackKubernetes) -> None:
    """SIGTERM: the fake kills the pod processes it started (by their process groups), then exits."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
