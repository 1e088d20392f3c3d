"""The storyboard on each provider's fake, through the public CLI: every kind of shot the provider offers,
made in dependency order, one create per task on the route of its kind, nothing created again on a re-run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401
from vidgen_assets_tests.test_cli import vidgen
from vidgen_assets_tests.test_storyboard import latest, lineage

pytestmark = pytest.mark.slow

KEY = "r8_storyboard-secret-71aa"  # Replicate's keys start with r8_; the others take any
# provider → (fake module, key variable, base-URL variable, the base URL's path on the fake)
FAKES = {
    "runway": ("runway", "RUNWAYML_API_SECRET", "RUNWAYML_BASE_URL", ""),
    "luma": ("luma", "LUMAAI_API_KEY", "LUMAAI_BASE_URL", "/dream-machine/v1"),
    "fal": ("fal", "FAL_KEY", "VIDGEN_FAL_BASE_URL", ""),
    "replicate": ("replicate_server", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", ""),
}
# The scene per provider, as far as it offers each kind: (prompt_id, video model, extra columns), and the
# route each shot's task must be created on. s3 starts from s2's last frame; s4 restyles s1.
LUMA_SIZE = {"width": 960, "height": 540}
BOARDS = {
    "runway": [("s1", "runway-gen4.5", {}), ("s2", "runway-gen4-turbo", {}),
               ("s3", "runway-veo3.1-i2v", {"start_from": "previous", "end_prompt": "the fox at dawn"}),
               ("s4", "runway-aleph2", {"restyle_of": "s1"})],
    "luma": [("s1", "luma-ray-2-t2v", LUMA_SIZE), ("s2", "luma-ray-2", LUMA_SIZE),
             ("s3", "luma-ray-2", {**LUMA_SIZE, "start_from": "previous", "end_prompt": "the fox at dawn"}),
             ("s4", "luma-ray-2-modify", {"restyle_of": "s1", "strength": "0.5"})],
    "fal": [("s1", "fal-kling-2.1-t2v", {}), ("s2", "fal-kling-2.1", {}),
            ("s3", "fal-kling-2.1", {"start_from": "previous"})],
    "replicate": [("s1", "replicate-zeroscope-t2v", {}), ("s2", "replicate-svd-xt", {}),
                  ("s3", "replicate-svd-xt", {"start_from": "previous"})],
}  # fmt: skip
ROUTES = {
    "runway": {"/v1/text_to_video": 1, "/v1/image_to_video": 2, "/v1/video_to_video": 1},
    "luma": {"/dream-machine/v1/generations/video": 3, "/dream-machine/v1/generations/video/modify": 1},
    "fal": {"/fal-ai/kling-video/v2.1/standard/text-to-video": 1, "/fal-ai/kling-video/v2.1/standard/image-to-video": 2},
    "replicate": {"/v1/predictions": 3},
}


@pytest.fixture(params=sorted(FAKES))
def provider(request, vidgen_home):
    """(provider, fake, env); Luma reads images and videos by URL only, so its day keeps media on S3 (moto)."""
    module, key_variable, url_variable, path = FAKES[request.param]
    with running_fake(f"vidgen_assets_tests.fakes.{module}") as fake:
        fake.configure(processing_s=0.2)
        env = {key_variable: KEY, url_variable: fake.base_url + path, "VIDGEN_PROVIDER_CONCURRENCY": "4"}
        if module == "luma":
            _, bucket = request.getfixturevalue("s3_bucket")
            env["VIDGEN_MEDIA_URI"] = f"s3://{bucket}/media"
        yield request.param, fake, env


def test_the_storyboard_renders_on_each_provider_once_per_shot_in_dependency_order(provider, tmp_path):
    name, fake, env = provider
    columns = ["prompt_id", "scheduled_for", "prompt", "seed", "scene", "scene_order", "video_model",
               "start_from", "end_prompt", "restyle_of", "strength", "width", "height"]  # fmt: skip
    with (tmp_path / "board.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for order, (prompt_id, model, extra) in enumerate(BOARDS[name], start=1):
            writer.writerow({"prompt_id": prompt_id, "scheduled_for": TEST_DAY, "prompt": f"a fox, shot {order}",
                             "seed": order, "scene": "A", "scene_order": order, "video_model": model, **extra})
    imported = vidgen("prompts", "import", str(tmp_path / "board.csv"), env=env)
    assert imported.returncode == 0 and "0 rejected" in imported.stdout, imported.stdout + imported.stderr

    result = vidgen("run", "--date", TEST_DAY.isoformat(), env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert KEY not in result.stdout + result.stderr
    stats = fake.stats()
    assert stats["creates"] == len(BOARDS[name]) and stats["creates_by_route"] == ROUTES[name]
    clips = latest(lineage(_home(), "clip"))
    assert all(not clip["cache_hit"] for clip in clips.values()) and len(clips) == len(BOARDS[name])
    assert clips["s3"]["parents"][0] == clips["s2"]["key"] and clips["s3"]["params"]["continues"] == "s2"
    if "s4" in clips:
        assert clips["s4"]["parents"] == [clips["s1"]["key"]]
    (reel,) = lineage(_home(), "reel")
    assert reel["parents"] == [clips[p]["key"] for p, _, _ in BOARDS[name]]

    # A re-run finds every shot under its key: nothing is created (or paid for) again.
    again = vidgen("run", "--date", TEST_DAY.isoformat(), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert fake.stats()["creates"] == len(BOARDS[name])


def _home() -> Path:
    import os

    return Path(os.environ["VIDGEN_HOME"])
