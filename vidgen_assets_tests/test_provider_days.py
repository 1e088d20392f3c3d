"""A long take on Luma through the public CLI (`vidgen prompts add`, `vidgen run`), Luma's base-URL variable
pointing at its loopback fake (its own process, the real protocol). A day of every kind of shot on every
provider at once is `test_provider_storyboard.py`."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from vidgen_assets.lib.video import probe_video
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401
from vidgen_assets_tests.test_cli import vidgen

pytestmark = pytest.mark.slow

KEY = "provider-day-secret-5e0c"
# preset → (fake module, key variable, base-URL variable, the base URL's path on the fake)
DAYS = {
    "runway-gen4-turbo": ("runway", "RUNWAYML_API_SECRET", "RUNWAYML_BASE_URL", ""),
    "luma-ray-2": ("luma", "LUMAAI_API_KEY", "LUMAAI_BASE_URL", "/dream-machine/v1"),
    "fal-kling-2.1": ("fal", "FAL_KEY", "VIDGEN_FAL_BASE_URL", ""),
}
# Luma's smallest output, 540p: the fake serves the size asked for, and a smaller one keeps the test quick.
SIZE = {"luma-ray-2": {"width": 960, "height": 540}}


@pytest.fixture(params=sorted(DAYS))
def provider_day(request, vidgen_home, monkeypatch):
    """(preset, fake, env) for a day whose clips render on the preset's provider fake. Luma takes keyframes
    by URL only, so its day keeps media on S3 (moto) and sends presigned URLs."""
    preset = request.param
    module, key_variable, url_variable, path = DAYS[preset]
    with running_fake(f"vidgen_assets_tests.fakes.{module}") as fake:
        fake.configure(processing_s=0.3)
        env = {key_variable: KEY, url_variable: fake.base_url + path, "VIDGEN_PROVIDER_CONCURRENCY": "4"}
        if module == "luma":
            _, bucket = request.getfixturevalue("s3_bucket")
            env["VIDGEN_MEDIA_URI"] = f"s3://{bucket}/media"
        yield preset, fake, env


def add_rows(preset: str, count: int, **options) -> None:
    for n in range(1, count + 1):
        extra = [f"--{name.replace('_', '-')}={value}" for name, value in {**SIZE.get(preset, {}), **options}.items()]
        result = vidgen("prompts", "add", "--date", TEST_DAY.isoformat(), "--prompt-id", f"{preset}-{n}",
                        "--prompt", f"a lighthouse in fog, take {n}", "--seed", str(n), "--keyframe-model", "tiny",
                        "--video-model", preset, *extra)  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]


def run_day(env: dict, tmp_path: Path) -> Path:
    """Run the day through the CLI; the reel it prints, copied here when it is on S3."""
    result = vidgen("run", "--date", TEST_DAY.isoformat(), env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert KEY not in result.stdout + result.stderr
    reel = result.stdout.strip().splitlines()[-1]
    if not reel.startswith("s3://"):
        return Path(reel)
    bucket, _, key = reel.removeprefix("s3://").partition("/")
    boto3.client("s3").download_file(bucket, key, str(tmp_path / "reel.mp4"))
    return tmp_path / "reel.mp4"


@pytest.mark.parametrize("provider_day", ["luma-ray-2"], indirect=True)
def test_a_long_take_on_luma_through_the_cli_is_one_continuous_clip(provider_day, tmp_path):
    preset, fake, env = provider_day
    add_rows(preset, 1, takes=3)
    info = probe_video(run_day(env, tmp_path))
    assert (info.width, info.height) == (960, 540)  # asked for by the row, made at Luma's 540p
    assert info.frames == 3 * 5 * 24 - 2  # three 5 s takes, each continuation's repeated first frame dropped
    assert fake.stats()["creates"] == 3
