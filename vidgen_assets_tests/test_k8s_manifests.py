"""Step Job manifests built by dagster-k8s validated against the Kubernetes OpenAPI schemas (kubernetes-validate),
and dagster_cloud.yaml rendered per commit by the Dagster+ CLI's own template command."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dagster_cloud_cli.commands.ci.checks import check_dagster_cloud_yaml
from kubernetes.client import ApiClient

from vidgen_assets.lib.k8s import GpuStepSettings, gpu_op_tags, k8s_executor_config_from_env, step_job_manifest

ROOT = Path(__file__).resolve().parents[1]
# The oldest Kubernetes the deployment supports and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
COMMIT = "0123456789ab"
ENV = {"VIDGEN_MEDIA_URI": "s3://media-bucket/vidgen", "VIDGEN_K8S_IMAGE": f"registry.example/vidgen-assets:{COMMIT}"}


def rendered_cloud_yaml(tmp_path: Path) -> Path:
    """dagster_cloud.yaml as deploy/release.sh renders it for one commit."""
    template = subprocess.run(
        [str(Path(sys.executable).parent / "dagster-cloud"), "ci", "template", "--value", f"image_tag={COMMIT}", "--no-merge"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rendered = tmp_path / "dagster_cloud.yaml"
    rendered.write_text(template.stdout)
    return rendered


def step_manifests(container_context: dict) -> dict[str, dict]:
    """The real GPU shard steps and CPU steps, as the k8s executor would submit them (camelCase dicts).

    GPU op tags are computed from the location's env_vars, as the code server computes them at import.
    """
    from vidgen_assets.defs.keyframes.assets import render_keyframes_shard
    from vidgen_assets.defs.prompts.assets import prompts
    from vidgen_assets.defs.reels.assets import reel
    from vidgen_assets.defs.videos.assets import render_clips_shard

    steps = {
        "keyframes.render_keyframes_shard[shard_0]": render_keyframes_shard,
        "videos.render_clips_shard[shard_12]": render_clips_shard,
        "prompts": prompts.op,
        "reel": reel.op,
    }
    location_env = dict(item.split("=", 1) for item in container_context["k8s"]["env_vars"])
    gpu_tags = gpu_op_tags(GpuStepSettings.from_env(location_env))
    with ApiClient() as client:
        return {
            step_key: client.sanitize_for_serialization(
                step_job_manifest(
                    op_tags={**op.tags, **gpu_tags} if "shard" in step_key else op.tags, executor_config=k8s_executor_config_from_env(ENV), job_name="daily_reel_job",
                    step_key=step_key, image=ENV["VIDGEN_K8S_IMAGE"], container_context=container_context,
                )  # fmt: skip
            )
            for step_key, op in steps.items()
        }


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> dict[str, dict]:
    cloud = yaml.safe_load(rendered_cloud_yaml(tmp_path_factory.mktemp("cloud")).read_text())
    return step_manifests(cloud["locations"][0]["container_context"])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_step_jobs_match_the_kubernetes_schemas(manifests, version):
    for step_key, manifest in manifests.items():
        assert manifest["kind"] == "Job" and manifest["apiVersion"] == "batch/v1"
        # strict: a field the schema does not know (a typo in an op tag) is an error, not ignored.
        kubernetes_validate.validate(manifest, desired_version=version, strict=True)
    gpu = manifests["videos.render_clips_shard[shard_12]"]["spec"]["template"]["spec"]
    assert gpu["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["containers"][0]["image"].endswith(f"vidgen-assets-gpu:{COMMIT}")
    assert manifests["reel"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"vidgen-assets:{COMMIT}")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "template", "spec", "containers", 0, "resources", "limits"), ["nvidia.com/gpu"]),  # not a map
        (("spec", "template", "spec", "tolerations", 0, "effect"), {"NoSchedule": True}),  # not a string
        (("spec", "template", "spec", "containers", 0, "gpuCount"), 1),  # no such field
    ],
)
def test_the_validator_catches_what_the_python_models_let_through(manifests, path, value):
    broken = copy.deepcopy(manifests["videos.render_clips_shard[shard_12]"])
    target = broken
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, desired_version=KUBERNETES_VERSIONS[-1], strict=True)


def test_both_images_are_built_and_tagged_per_commit(tmp_path):
    raw = (ROOT / "dagster_cloud.yaml").read_text()
    assert ":latest" not in raw
    rendered = rendered_cloud_yaml(tmp_path)
    assert check_dagster_cloud_yaml(rendered).errors == []
    env_vars = yaml.safe_load(rendered.read_text())["locations"][0]["container_context"]["k8s"]["env_vars"]
    assert f"VIDGEN_K8S_GPU_IMAGE=ghcr.io/your-org/vidgen-assets-gpu:{COMMIT}" in env_vars
    # The release script builds, pushes and deploys both images under one tag: the one it renders the template with.
    script = (ROOT / "deploy" / "release.sh").read_text()
    assert re.search(r'docker build -t "\$REGISTRY/vidgen-assets:\$TAG" \.', script)
    assert re.search(r'docker build -f Dockerfile.gpu -t "\$REGISTRY/vidgen-assets-gpu:\$TAG"', script)
    assert 'image_tag="$TAG"' in script and 'set-build-output --image-tag "$TAG"' in script
    assert subprocess.run(["bash", "-n", str(ROOT / "deploy" / "release.sh")]).returncode == 0
