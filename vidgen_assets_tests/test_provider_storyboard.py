"""The storyboard on every provider's fake at once, through the public CLI: one scene per provider with every
kind of shot it offers, made in dependency order in one run, one create per task on the route of its kind,
a restyle of an `s3://` source, and nothing created again on a re-run."""

from __future__ import annotations

import csv
import os
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from vidgen_assets.lib.video import ClipWriter, probe_video
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401
from vidgen_assets_tests.test_cli import vidgen
from vidgen_assets_tests.test_storyboard import latest, lineage

pytestmark = pytest.mark.slow

KEY = "r8_storyboard-secret-71aa"  # Replicate's keys start with r8_; the others take any
# provider → (fake module, key variable, base-URL variable, the base URL's path on the fake)
FAKES = {
    "a-replicate": ("replicate_server", "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", ""),
    "b-runway": ("runway", "RUNWAYML_API_SECRET", "RUNWAYML_BASE_URL", ""),
    "c-luma": ("luma", "LUMAAI_API_KEY", "LUMAAI_BASE_URL", "/dream-machine/v1"),
    "d-fal": ("fal", "FAL_KEY", "VIDGEN_FAL_BASE_URL", ""),
}
# A scene per provider, as far as it offers each kind: (shot, video model, extra columns). s3 starts from
# s2's last frame (ending on an end keyframe where the provider takes one); s4 restyles s1. The shortest clip
# each model makes keeps the day quick; Replicate's scene sorts first, so its 64x64 clips set the reel's size.
LUMA_SIZE = {"width": 960, "height": 540}  # Luma's smallest output
BOARDS = {
    "a-replicate": [("s1", "replicate-zeroscope-t2v", {"num_frames": 24}), ("s2", "replicate-svd-xt", {"num_frames": 14}),
                    ("s3", "replicate-svd-xt", {"start_from": "previous", "num_frames": 14})],
    "b-runway": [("s1", "runway-gen4.5", {"num_frames": 48}), ("s2", "runway-gen4-turbo", {"num_frames": 48}),
                 ("s3", "runway-veo3.1-i2v", {"start_from": "previous", "end_prompt": "the fox at dawn", "num_frames": 96}),
                 ("s4", "runway-aleph2", {"restyle_of": "b-runway-s1"})],
    "c-luma": [("s1", "luma-ray-2-t2v", LUMA_SIZE), ("s2", "luma-ray-2", LUMA_SIZE),
               ("s3", "luma-ray-2", {**LUMA_SIZE, "start_from": "previous", "end_prompt": "the fox at dawn"}),
               ("s4", "luma-ray-2-modify", {"restyle_of": "c-luma-s1", "strength": "0.5"}),
               ("s5", "luma-ray-2-modify", {"source_uri": "s3://{bucket}/inbox/walk.mp4", "strength": "0.9"})],
    "d-fal": [("s1", "fal-kling-2.1-t2v", {}), ("s2", "fal-kling-2.1", {}), ("s3", "fal-kling-2.1", {"start_from": "previous"})],
}  # fmt: skip
ROUTES = {
    "b-runway": {"/v1/text_to_video": 1, "/v1/image_to_video": 2, "/v1/video_to_video": 1},
    "c-luma": {"/dream-machine/v1/generations/video": 3, "/dream-machine/v1/generations/video/modify": 2},
    "d-fal": {"/fal-ai/kling-video/v2.1/standard/text-to-video": 1, "/fal-ai/kling-video/v2.1/standard/image-to-video": 2},
    "a-replicate": {"/v1/predictions": 3},
}


def write_board(path: Path, bucket: str) -> None:
    columns = ["prompt_id", "scheduled_for", "prompt", "seed", "scene", "scene_order", "video_model",
               "start_from", "end_prompt", "restyle_of", "source_uri", "strength", "width", "height", "num_frames"]  # fmt: skip
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for provider, shots in BOARDS.items():
            for order, (shot, model, extra) in enumerate(shots, start=1):
                extra = {k: v.format(bucket=bucket) if isinstance(v, str) else v for k, v in extra.items()}
                writer.writerow({"prompt_id": f"{provider}-{shot}", "scheduled_for": TEST_DAY, "seed": order,
                                 "prompt": f"a fox, shot {order}", "scene": provider, "scene_order": order,
                                 "video_model": model, **extra})  # fmt: skip


def test_the_storyboard_renders_on_every_provider_once_per_shot_in_dependency_order(vidgen_home, s3_bucket, tmp_path):
    client, bucket = s3_bucket
    with ClipWriter(tmp_path / "walk.mp4", fps=24, width=64, height=64) as writer:  # footage to restyle
        writer.write(np.random.default_rng(0).integers(0, 255, (24, 64, 64, 3), dtype=np.uint8))
    client.upload_file(str(tmp_path / "walk.mp4"), bucket, "inbox/walk.mp4")
    with ExitStack() as stack:
        env = {"VIDGEN_MEDIA_URI": f"s3://{bucket}/media", "VIDGEN_PROVIDER_CONCURRENCY": "4"}
        fakes = {}
        for provider, (module, key_variable, url_variable, path) in FAKES.items():
            fakes[provider] = stack.enter_context(running_fake(f"vidgen_assets_tests.fakes.{module}"))
            fakes[provider].configure(processing_s=0.2)
            env.update({key_variable: KEY, url_variable: fakes[provider].base_url + path})
        write_board(tmp_path / "board.csv", bucket)
        imported = vidgen("prompts", "import", str(tmp_path / "board.csv"), env=env)
        assert imported.returncode == 0 and " 0 rejected" in imported.stdout, imported.stdout + imported.stderr

        # Four providers' steps and 15 shots in three rounds: the longest CLI day of the suite (~75 s alone).
        result = vidgen("run", "--date", TEST_DAY.isoformat(), env=env, timeout=450)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        assert KEY not in result.stdout + result.stderr
        for provider, fake in fakes.items():
            stats = fake.stats()
            assert (stats["creates"], stats["creates_by_route"]) == (len(BOARDS[provider]), ROUTES[provider]), provider
        clips = latest(lineage(Path(os.environ["VIDGEN_HOME"]), "clip"))
        assert len(clips) == sum(map(len, BOARDS.values())) and not any(c["cache_hit"] for c in clips.values())
        for provider in FAKES:
            assert clips[f"{provider}-s3"]["parents"][0] == clips[f"{provider}-s2"]["key"]
        assert clips["b-runway-s4"]["parents"] == [clips["b-runway-s1"]["key"]]
        assert clips["c-luma-s5"]["parents"][0].startswith("source-")
        # One playable reel; each scene plays whole and in its order (scenes in the reel's order of their first shots).
        uri = result.stdout.strip().splitlines()[-1]
        client.download_file(bucket, uri.removeprefix(f"s3://{bucket}/"), str(tmp_path / "reel.mp4"))
        info = probe_video(tmp_path / "reel.mp4")
        assert (info.codec, info.pix_fmt) == ("h264", "yuv420p") and info.frames > 0
        (reel,) = lineage(Path(os.environ["VIDGEN_HOME"]), "reel")
        scenes = sorted(BOARDS)
        assert reel["parents"] == [clips[f"{p}-{shot}"]["key"] for p in scenes for shot, _, _ in BOARDS[p]]

        # A re-run finds every shot under its key: nothing is created (or paid for) again.
        again = vidgen("run", "--date", TEST_DAY.isoformat(), env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert [fake.stats()["creates"] for fake in fakes.values()] == [len(BOARDS[p]) for p in fakes]
