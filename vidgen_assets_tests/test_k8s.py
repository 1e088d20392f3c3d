"""Kubernetes without a cluster: step Job manifests built by dagster-k8s's own code, the executor's run
config, and the deploy files checked with the schemas of the tools that read them."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster_cloud_cli.commands.ci.checks import check_dagster_cloud_yaml
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import USER_DEFINED_K8S_CONFIG_KEY, UserDefinedDagsterK8sConfig
from kubernetes.client import ApiClient, V1Job

from vidgen_assets.lib.k8s import GPU_POOL, K8S_CONFIG_TAG, GpuStepSettings, K8sSettingsError, cpu_op_tags, gpu_op_tags
from vidgen_assets.lib.k8s import k8s_executor_config_from_env, step_job_manifest, validate_instance_yaml

ROOT = Path(__file__).resolve().parents[1]
CODE_IMAGE = "registry.example/vidgen-assets:abc123"
GPU_IMAGE = "registry.example/vidgen-assets-gpu:abc123"
ENV = {"VIDGEN_MEDIA_URI": "s3://media-bucket/vidgen", "VIDGEN_K8S_ENV_SECRETS": "vidgen-secrets, hf-token"}

daily = dg.DailyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(partitions_def=daily, op_tags=gpu_op_tags(GpuStepSettings(image=GPU_IMAGE)), pool=GPU_POOL)
def day_clips() -> None: ...


@dg.asset(partitions_def=daily, deps=[day_clips], op_tags=cpu_op_tags())
def day_reel() -> None: ...


tiny_k8s_job = dg.define_asset_job("tiny_k8s_job", partitions_def=daily, executor_def=k8s_job_executor)
k8s_defs = dg.Definitions(assets=[day_clips, day_reel], jobs=[tiny_k8s_job])


def cloud_container_context() -> dict:
    return yaml.safe_load((ROOT / "dagster_cloud.yaml").read_text())["locations"][0]["container_context"]


def applied(job: V1Job) -> V1Job:
    """The manifest as kubectl would send it (camelCase YAML), read back into a kubernetes-client V1Job."""

    class Response:  # what ApiClient.deserialize reads: an object with the body in `.data`
        def __init__(self, text: str):
            self.data = text

    with ApiClient() as client:
        manifest = yaml.safe_load(yaml.safe_dump(client.sanitize_for_serialization(job)))
        return client.deserialize(Response(json.dumps(manifest)), "V1Job")


def manifest_for(op: dg.OpDefinition, executor_config: dict, step_key: str | None = None) -> V1Job:
    job = step_job_manifest(
        op_tags=op.tags,  # as Dagster stores them: the config tag is a JSON string
        executor_config=executor_config,
        job_name="tiny_k8s_job",
        step_key=step_key or op.name,
        image=CODE_IMAGE,
        container_context=cloud_container_context(),
    )
    return applied(job)


def test_gpu_settings_only_reach_the_gpu_step():
    executor_config = k8s_executor_config_from_env(ENV)
    gpu_job, cpu_job = manifest_for(day_clips.op, executor_config), manifest_for(day_reel.op, executor_config)

    gpu_pod, cpu_pod = gpu_job.spec.template.spec, cpu_job.spec.template.spec
    gpu, cpu = gpu_pod.containers[0], cpu_pod.containers[0]
    assert gpu.resources.limits == {"nvidia.com/gpu": "1", "memory": "64Gi"}  # op tag beats run_k8s_config's 4Gi
    assert gpu.resources.requests == {"cpu": "4", "memory": "32Gi"}
    assert gpu_pod.node_selector == {"nvidia.com/gpu.present": "true"}
    assert [(t.key, t.operator, t.effect) for t in gpu_pod.tolerations] == [("nvidia.com/gpu", "Exists", "NoSchedule")]
    assert gpu.image == GPU_IMAGE

    assert "nvidia.com/gpu" not in {**cpu.resources.limits, **cpu.resources.requests}
    assert cpu.resources.requests == {"cpu": "1", "memory": "2Gi"} and cpu.resources.limits == {"memory": "4Gi"}
    assert cpu_pod.node_selector is None and cpu_pod.tolerations is None
    assert cpu.image == CODE_IMAGE

    for job, step_key in ((gpu_job, "day_clips"), (cpu_job, "day_reel")):
        container = job.spec.template.spec.containers[0]
        assert [source.secret_ref.name for source in container.env_from] == ["vidgen-secrets", "hf-token"]
        env = {var.name: var.value for var in container.env}
        assert env["VIDGEN_EXECUTOR"] == "k8s" and env["VIDGEN_MEDIA_URI"] == "s3://media-bucket/vidgen"
        assert env["DAGSTER_RUN_STEP_KEY"] == step_key and container.args == ["dagster", "api", "execute_step"]
        assert job.metadata.namespace == "vidgen" and job.spec.template.spec.restart_policy == "Never"
        assert len(job.metadata.name) <= 63
    assert gpu_job.metadata.name != cpu_job.metadata.name
    assert K8S_CONFIG_TAG == USER_DEFINED_K8S_CONFIG_KEY and day_clips.op.pool == GPU_POOL and day_reel.op.pool is None


def test_layers_merge_like_the_executor():
    executor_config = {
        **k8s_executor_config_from_env(ENV),
        "step_k8s_config": {"container_config": {"resources": {"limits": {"memory": "8Gi"}}},
                            "pod_spec_config": {"priority_class_name": "batch"}},
        "per_step_k8s_config": {"day_clips": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "2"}}}}},
    }  # fmt: skip
    gpu_job, cpu_job = manifest_for(day_clips.op, executor_config), manifest_for(day_reel.op, executor_config)
    gpu = gpu_job.spec.template.spec.containers[0]
    assert gpu.resources.limits == {"nvidia.com/gpu": "2", "memory": "64Gi"}  # per-step beats op tag beats executor
    assert cpu_job.spec.template.spec.containers[0].resources.limits == {"memory": "8Gi"}  # executor beats location
    assert gpu_job.spec.template.spec.priority_class_name == "batch"  # deep merge keeps the executor's pod field


def test_the_real_videos_shard_and_reel_steps():
    from vidgen_assets.defs.reels.assets import reel
    from vidgen_assets.defs.videos.assets import render_clips_shard

    executor_config = {
        **k8s_executor_config_from_env(ENV),  # per_step_k8s_config is keyed by op name, not by mapped step key
        "per_step_k8s_config": {"render_clips_shard": {"pod_spec_config": {"priority_class_name": "gpu-batch"}}},
    }
    shard = manifest_for(render_clips_shard, executor_config, step_key="videos.render_clips_shard[shard_3]")
    reel_job = manifest_for(reel.op, executor_config)
    assert shard.spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    assert shard.spec.template.spec.priority_class_name == "gpu-batch"
    assert shard.metadata.labels["dagster/op"] == "videos.render_clips_shard-shard_3"
    assert "nvidia.com/gpu" not in reel_job.spec.template.spec.containers[0].resources.limits
    assert reel_job.spec.template.spec.tolerations is None and reel_job.spec.template.spec.node_selector is None


def test_gpu_settings_from_env():
    assert GpuStepSettings.from_env({}) == GpuStepSettings()
    prefix = "VIDGEN_K8S_GPU_"
    settings = GpuStepSettings.from_env({prefix + name: value for name, value in {
        "COUNT": "2", "IMAGE": GPU_IMAGE, "CPU": "8", "MEMORY": "96Gi", "MEMORY_LIMIT": "128Gi",
        "NODE_SELECTOR": '{"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}',
        "TOLERATIONS": '[{"key": "dedicated", "operator": "Equal", "value": "gpu"}]',
    }.items()})  # fmt: skip
    assert (settings.gpu_count, settings.image, settings.cpu_request) == (2, GPU_IMAGE, "8")
    assert settings.node_selector == {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    tags = gpu_op_tags(settings)[K8S_CONFIG_TAG]
    assert tags["container_config"]["resources"]["limits"] == {"memory": "128Gi", "nvidia.com/gpu": "2"}
    assert tags["pod_spec_config"]["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "gpu"}]


@pytest.mark.parametrize(
    "env, message",
    [
        ({"VIDGEN_K8S_GPU_NODE_SELECTOR": "{nvidia: true"}, "VIDGEN_K8S_GPU_NODE_SELECTOR is not valid JSON"),
        ({"VIDGEN_K8S_GPU_NODE_SELECTOR": '["a"]'}, "must be a JSON object"),
        ({"VIDGEN_K8S_GPU_TOLERATIONS": "nvidia.com/gpu"}, "VIDGEN_K8S_GPU_TOLERATIONS is not valid JSON"),
        ({"VIDGEN_K8S_GPU_TOLERATIONS": '["nvidia.com/gpu"]'}, "JSON list of objects"),
        ({"VIDGEN_K8S_GPU_TOLERATIONS": '[{"kee": "x"}]'}, r"VIDGEN_K8S_GPU_TOLERATIONS: unknown field\(s\) \['kee'\]"),
        ({"VIDGEN_K8S_GPU_COUNT": "two"}, "not a whole number"),
        ({"VIDGEN_K8S_GPU_COUNT": "0"}, "at least one GPU"),
        ({"VIDGEN_K8S_GPU_MEMORY": "96Gi"}, "below the request"),
        ({"VIDGEN_K8S_GPU_MEMORY": "lots"}, r"\(VIDGEN_K8S_GPU_MEMORY, _MEMORY_LIMIT\) is not a quantity"),
        ({"VIDGEN_K8S_GPU_MEMORY_LIMIT": "34000M"}, "below the request"),  # 34 GB < 32 GiB = 34.4 GB
    ],
)
def test_bad_gpu_settings_fail_clearly(env, message):
    with pytest.raises(K8sSettingsError, match=message):
        GpuStepSettings.from_env(env)


def test_executor_config_from_env():
    assert k8s_executor_config_from_env({}) == {
        "job_namespace": "vidgen", "image_pull_policy": "IfNotPresent", "env_secrets": ["vidgen-secrets"],
        "env_vars": ["VIDGEN_EXECUTOR=k8s"], "max_concurrent": 8,
    }  # fmt: skip
    config = k8s_executor_config_from_env(
        {**ENV, "VIDGEN_K8S_NAMESPACE": "gen", "VIDGEN_K8S_IMAGE": CODE_IMAGE, "VIDGEN_K8S_MAX_CONCURRENT": "32"}
    )
    assert (config["job_namespace"], config["job_image"], config["max_concurrent"]) == ("gen", CODE_IMAGE, 32)
    assert config["env_secrets"] == ["vidgen-secrets", "hf-token"]
    with pytest.raises(K8sSettingsError, match="VIDGEN_K8S_MAX_CONCURRENT"):
        k8s_executor_config_from_env({"VIDGEN_K8S_MAX_CONCURRENT": "many"})


def test_executor_run_config_validates_offline():
    job = k8s_defs.resolve_job_def("tiny_k8s_job")
    config = k8s_executor_config_from_env({**ENV, "VIDGEN_K8S_IMAGE": CODE_IMAGE})
    dg.validate_run_config(job, {"execution": {"config": config}})
    dg.validate_run_config(job, {"execution": {"config": {**config, "per_step_k8s_config": {"day_clips": {}}}}})
    for bad in ({**config, "max_concurrent": "eight"}, {**config, "gpu_count": 1}, {**config, "env_secrets": "x"}):
        with pytest.raises(dg.DagsterInvalidConfigError):
            dg.validate_run_config(job, {"execution": {"config": bad}})


def test_dagster_cloud_yaml_passes_the_cli_check(tmp_path):
    assert check_dagster_cloud_yaml(ROOT / "dagster_cloud.yaml").errors == []
    location = yaml.safe_load((ROOT / "dagster_cloud.yaml").read_text())["locations"][0]
    assert location["location_name"] == "vidgen_assets"
    assert location["code_source"] == {"module_name": "vidgen_assets.definitions"}
    # container_context is free-form to the CLI; dagster-k8s's own schema checks the k8s part.
    context = K8sContainerContext.create_from_config(location["container_context"])
    assert context.namespace == "vidgen"
    assert {"secret_ref": {"name": "vidgen-secrets"}} in context.run_k8s_config.container_config["env_from"]
    assert {"name": "VIDGEN_EXECUTOR", "value": "k8s"} in context.run_k8s_config.container_config["env"]

    broken = tmp_path / "dagster_cloud.yaml"
    location["code_source"]["package_name"] = "vidgen_assets"
    broken.write_text(yaml.safe_dump({"locations": [location]}))
    assert check_dagster_cloud_yaml(broken).errors
    with pytest.raises(dg.DagsterInvalidConfigError):
        K8sContainerContext.create_from_config({"k8s": {"env_secrets": "vidgen-secrets"}})


def test_helm_values_for_the_official_chart():
    values = yaml.safe_load((ROOT / "deploy/helm/values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert values["dagster-user-deployments"]["enabled"] and deployment["dagsterApiGrpcArgs"][0] == "-m"
    module = deployment["dagsterApiGrpcArgs"][1]
    assert module == pyproject_value("module_name") and importlib.util.find_spec(module) is not None
    assert {"name": "vidgen-secrets"} in deployment["envSecrets"]
    assert {"name": "VIDGEN_EXECUTOR", "value": "k8s"} in deployment["env"]
    launcher = values["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": "vidgen-secrets"} in launcher["config"]["k8sRunLauncher"]["envSecrets"]
    run_container = launcher["config"]["k8sRunLauncher"]["runK8sConfig"]["containerConfig"]
    UserDefinedDagsterK8sConfig(container_config=run_container)  # rejects keys a V1Container lacks
    assert values["postgresql"]["enabled"] is True
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] and coordinator["type"] == "QueuedRunCoordinator"
    assert values["concurrency"]["enabled"] and values["concurrency"]["pools"]["granularity"] == "op"

    # The Helm path and the self-run instance queue runs and size the GPU pool alike.
    instance = yaml.safe_load((ROOT / "deploy/dagster.yaml").read_text())
    assert values["concurrency"]["pools"]["defaultLimit"] == instance["concurrency"]["pools"]["default_limit"]
    queued = coordinator["config"]["queuedRunCoordinator"]["maxConcurrentRuns"]
    assert queued == instance["concurrency"]["runs"]["max_concurrent_runs"]


def test_instance_yaml_matches_dagsters_schema(tmp_path):
    config = validate_instance_yaml(ROOT / "deploy/dagster.yaml")
    assert set(config["storage"]) == {"postgres"}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] >= 1
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")

    # The instance schema leaves the launcher's config open; check it against K8sRunLauncher's own schema.
    @dg.op(config_schema=K8sRunLauncher.config_type())
    def launcher_settings() -> None: ...

    @dg.job
    def launcher_check():
        launcher_settings()

    dg.validate_run_config(launcher_check, {"ops": {"launcher_settings": {"config": launcher["config"]}}})

    broken = tmp_path / "dagster.yaml"
    broken.write_text((ROOT / "deploy/dagster.yaml").read_text().replace("run_monitoring:", "run_monitor:"))  # a typo
    with pytest.raises(dg.DagsterInvalidConfigError):
        validate_instance_yaml(broken)


def pyproject_value(key: str) -> str:
    return re.search(rf'^{key} = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)


def test_images_pin_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = dict(spec.split("==") for spec in project["dependencies"] + project["optional-dependencies"]["cluster"] if "==" in spec)
    # What Dagster+ Hybrid and Helm pods need, in lockstep with the Dagster set.
    assert pins["dagster-cloud"] == pins["dagster"] and pins["dagster-postgres"] == pins["dagster-k8s"]
    for dockerfile in ("Dockerfile", "Dockerfile.gpu"):
        text = (ROOT / dockerfile).read_text()
        # The package with its `cluster` extra; the only version an image names is torch's (for its index).
        assert 'pip install --no-cache-dir ".[cluster]"' in text
        assert re.findall(r"[\w.-]+==[\w.]+", text) == [f"torch=={pins['torch']}"] and "--index-url" in text
        assert re.search(r"^USER \d+$", text, re.MULTILINE), f"{dockerfile} must not run as root"
    cmd = re.search(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert json.loads(cmd)[-2:] == ["-m", pyproject_value("module_name")]
    assert "chmod -R a+rX /models" in (ROOT / "Dockerfile.gpu").read_text()
