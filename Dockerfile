# CPU image: the code server, the run worker and the CPU steps (prompts, reel).
# Build from the repository root: docker build -t REGISTRY/vidgen-assets:TAG .  (deploy/release.sh builds both images per commit)
FROM python:3.11-slim

# ffmpeg and ffprobe: the reel joins clips by stream copy and inspects them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# Exactly this torch, from the CPU index: a looser spec pulls gigabytes of CUDA wheels.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /opt/vidgen
COPY pyproject.toml README.md ./
COPY vidgen_assets ./vidgen_assets
# The `cluster` extra adds dagster-cloud (Dagster+ Hybrid); dagster-postgres is a dependency of the package.
# Every version but torch (pinned above for its index) comes from pyproject.toml.
RUN pip install --no-cache-dir ".[cluster]"

RUN useradd --create-home --uid 10001 vidgen \
    && mkdir -p /data \
    && chown vidgen /data
USER 10001
ENV VIDGEN_HOME=/data \
    PYTHONUNBUFFERED=1

EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "vidgen_assets.definitions"]
