"""The loopback Kubernetes API's nodes at work: a scheduler binding pending pods to nodes (node selector, taints,
free `nvidia.com/gpu`) or leaving them Pending with kube-scheduler's reason, and a kubelet running each bound
pod's container as a local process.

The process gets exactly its manifest's environment (`env` with `value`/`valueFrom`, `envFrom`) over the
image's own variables (PATH, ...), and a private, empty HOME, TMPDIR and working directory, deleted when it
ends. A local process cannot have its own `/`: an absolute `workingDir` is re-rooted under the pod's directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from vidgen_assets_tests.fakes.k8s_objects import MissingReference, condition, container_env, gpu_request, iso, unschedulable_message
from vidgen_assets_tests.fakes.k8s_store import Runtime, Store


class Cluster(Store):
    def __init__(self, root: Path, images: dict[str, dict[str, str]], nodes: list[dict], pod_start_s: float = 0.0):
        super().__init__(root, nodes)
        self.images, self.pod_start_s = images, pod_start_s
        self.faults: list[dict] = []  # {"op_contains", "after_s", "count"}: OOM-kill matching pods once running
        self.gpu_pods_running = self.max_gpu_pods_running = 0
        threading.Thread(target=self._schedule_forever, daemon=True).start()

    def delete(self, kind: str, namespace: str, name: str, body: dict | None = None) -> dict:
        found = self.get(kind, namespace, name)
        with self.lock:
            if kind == "pods":
                return self._delete_pod(found, (body or {}).get("gracePeriodSeconds"))
            del self.objects[kind][(namespace if kind != "namespaces" else "", name)]
            # A Job deleted through the API orphans its pods unless the request asks to delete them too.
            if kind == "jobs" and (body or {}).get("propagationPolicy") in ("Foreground", "Background"):
                for pod in self.list("pods", namespace, f"job-name={name}"):
                    self._delete_pod(pod, None)
            return found

    def kill_all(self) -> None:
        """The cluster goes away: every pod process still running is killed (its whole process group)."""
        with self.lock:
            for runtime in self.runtime.values():
                if runtime.process is not None and runtime.process.poll() is None:
                    _signal(runtime.process, signal.SIGKILL)

    def timeline(self) -> list[dict]:
        """Every pod this fake ran: labels, node, GPUs, phase, exit code, and when it was created,
        scheduled, running and finished (epoch seconds)."""
        with self.lock:
            return [{"namespace": key[0], "name": key[1], "labels": rt.labels, "node": rt.node, "gpus": rt.gpus,
                     "phase": rt.phase, "exit_code": rt.exit_code, "oom_killed": rt.oom_killed, "deleted": rt.deleting,
                     "times": dict(rt.times)} for key, rt in self.runtime.items()]  # fmt: skip

    def _delete_pod(self, pod: dict, grace_s: float | None) -> dict:
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        runtime = self.runtime[key]
        pod["metadata"]["deletionTimestamp"] = iso()
        if runtime.deleting:
            return pod
        runtime.deleting = True
        if runtime.process is not None and runtime.process.poll() is None:
            # As the kubelet: SIGTERM, then SIGKILL once the grace period (30 s unless asked) is over.
            _signal(runtime.process, signal.SIGTERM)
            threading.Timer(30 if grace_s is None else grace_s, _signal, (runtime.process, signal.SIGKILL)).start()
        elif runtime.node is None:  # never scheduled: gone at once, and it counts as a failed pod of its Job
            self._finish(pod, runtime, None)
        elif pod["status"]["phase"] in ("Succeeded", "Failed"):
            self.objects["pods"].pop(key, None)
        return pod  # otherwise the kubelet, still preparing the container, sees `deleting`

    def _schedule_forever(self) -> None:
        while True:
            time.sleep(0.1)
            with self.lock:
                for key, pod in list(self.objects["pods"].items()):
                    runtime = self.runtime[key]
                    if runtime.node is not None or runtime.deleting or pod["status"]["phase"] != "Pending":
                        continue
                    free = {node.name: node.gpus - self.gpus_in_use(node.name) for node in self.nodes}
                    fits = [node for node in self.nodes if node.misfit(pod, free[node.name]) is None]
                    if fits:
                        runtime.node = pod["spec"]["nodeName"] = fits[0].name
                        runtime.times["scheduled"] = time.time()
                        pod["status"]["conditions"] = [condition("PodScheduled", "True")]
                        threading.Thread(target=self._kubelet, args=(key,), daemon=True).start()
                        continue
                    message = unschedulable_message(self.nodes, pod, free)
                    scheduled = condition("PodScheduled", "False", "Unschedulable", message)
                    if (pod["status"]["conditions"] or [{}])[0].get("message") != message:
                        pod["status"]["conditions"] = [scheduled]
                        self.event(pod, "Warning", "FailedScheduling", message)

    def _kubelet(self, key: tuple[str, str]) -> None:
        namespace, name = key
        runtime, pod = self.runtime[key], self.objects["pods"][key]
        container, status = pod["spec"]["containers"][0], pod["status"]["containerStatuses"][0]
        while not runtime.deleting:  # a missing secret or image is retried until it appears (or the pod goes)
            try:
                env = container_env(container, lambda kind, ref: self.objects[kind].get((namespace, ref)), namespace)
            except MissingReference as missing:
                status["state"] = {"waiting": {"reason": "CreateContainerConfigError", "message": str(missing)}}
            else:
                if container.get("image") in self.images:
                    break
                status["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{container.get("image")}"'}}
            time.sleep(0.5)
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        deadline = time.time() + self.pod_start_s  # image pull, volume mounts, container start
        while time.time() < deadline and not runtime.deleting:
            time.sleep(0.05)
        if runtime.deleting:
            return self._finish(pod, runtime, None)
        disk = self.root / "pods" / f"{namespace}_{name}"
        home, tmp = disk / "home", disk / "tmp"
        work = disk / container["workingDir"].lstrip("/") if container.get("workingDir") else disk / "work"
        for directory in (home, tmp, work):
            directory.mkdir(parents=True)
        process_env = {**self.images[container["image"]], **env, "HOME": str(home), "TMPDIR": str(tmp), "HOSTNAME": name}
        with self.log_path(namespace, name).open("wb") as log:
            runtime.process = subprocess.Popen(
                [*(container.get("command") or []), *(container.get("args") or [])],
                cwd=work, env=process_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        with self.lock:
            runtime.times["running"], runtime.phase = time.time(), "Running"
            pod["status"].update(phase="Running", startTime=iso(), podIP="127.0.0.1", hostIP="127.0.0.1")
            status.update(ready=True, started=True, state={"running": {"startedAt": iso()}})
            pod["status"]["conditions"].append(condition("Ready", "True"))
            if gpu_request(pod):
                self.gpu_pods_running += 1
                self.max_gpu_pods_running = max(self.max_gpu_pods_running, self.gpu_pods_running)
            self._arm_fault(pod, runtime)
        returncode = runtime.process.wait()
        shutil.rmtree(disk)  # the pod's disk goes with it
        self._finish(pod, runtime, 128 - returncode if returncode < 0 else returncode)

    def _arm_fault(self, pod: dict, runtime: Runtime) -> None:
        op = pod["metadata"]["labels"].get("dagster/op", "")
        for fault in self.faults:
            if fault["count"] > 0 and fault["op_contains"] in op:
                fault["count"] -= 1
                threading.Timer(fault.get("after_s", 0.5), _oom_kill, (runtime,)).start()
                return

    def _finish(self, pod: dict, runtime: Runtime, exit_code: int | None) -> None:
        with self.lock:
            runtime.times["finished"] = time.time()
            if runtime.process is not None and gpu_request(pod):
                self.gpu_pods_running -= 1
            succeeded = exit_code == 0 and not runtime.deleting
            reason = "OOMKilled" if runtime.oom_killed else "Completed" if exit_code == 0 else "Error"
            terminated = {"exitCode": 137 if exit_code is None else exit_code, "reason": reason, "finishedAt": iso()}
            pod["status"]["containerStatuses"][0].update(ready=False, started=False, state={"terminated": terminated})
            pod["status"]["phase"] = runtime.phase = "Succeeded" if succeeded else "Failed"
            runtime.exit_code = terminated["exitCode"]
            pod["status"]["conditions"] = [c for c in pod["status"]["conditions"] if c["type"] != "Ready"]
            self.pod_ended(pod, succeeded)
            if runtime.deleting:  # a deleted pod's object goes once its container has stopped
                self.objects["pods"].pop((pod["metadata"]["namespace"], pod["metadata"]["name"]), None)


def _oom_kill(runtime: Runtime) -> None:
    # The kernel's OOM killer: SIGKILL, no grace; the kubelet reports exit code 137, reason OOMKilled.
    if runtime.process.poll() is None:
        runtime.oom_killed = True
        _signal(runtime.process, signal.SIGKILL)


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
