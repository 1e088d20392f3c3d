#!/usr/bin/env bash
# Build and push both images tagged with this commit, then deploy the code location to Dagster+ Hybrid
# pointing at them. Needs docker, dagster-cloud (pip install dagster-cloud-cli), DAGSTER_CLOUD_ORGANIZATION,
# DAGSTER_CLOUD_API_TOKEN and DAGSTER_CLOUD_DEPLOYMENT. Run from the repository root.
#   REGISTRY=ghcr.io/your-org PRESETS="text-to-image:sdxl-turbo image-to-video:svd-xt" deploy/release.sh
set -euo pipefail

REGISTRY=${REGISTRY:-ghcr.io/your-org}
TAG=${TAG:-$(git rev-parse --short=12 HEAD)}
PRESETS=${PRESETS:-"text-to-image:tiny image-to-video:tiny"}
export DAGSTER_BUILD_STATEDIR=${DAGSTER_BUILD_STATEDIR:-$(mktemp -d)}

docker build -t "$REGISTRY/vidgen-assets:$TAG" .
docker build -f Dockerfile.gpu -t "$REGISTRY/vidgen-assets-gpu:$TAG" \
  --build-arg PRESETS="$PRESETS" --secret id=hf_token,env=HF_TOKEN .
docker push "$REGISTRY/vidgen-assets:$TAG"
docker push "$REGISTRY/vidgen-assets-gpu:$TAG"

# dagster_cloud.yaml names the GPU image as a template; render it with this commit's tag.
dagster-cloud ci template --value image_tag="$TAG" --no-merge > dagster_cloud.rendered.yaml
dagster-cloud ci init --project-dir . --dagster-cloud-yaml-path dagster_cloud.rendered.yaml \
  --deployment "$DAGSTER_CLOUD_DEPLOYMENT"
# The images are built above: record the code image (the registry is dagster_cloud.yaml's) instead of `ci build`.
dagster-cloud ci set-build-output --image-tag "$TAG"
dagster-cloud ci deploy
