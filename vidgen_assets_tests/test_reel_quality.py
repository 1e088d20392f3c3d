"""Reel options, clip quality checks, previews and ffprobe, on small real clips."""

from __future__ import annotations

import base64
import io
import shutil
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.video import (
    FfprobeUnavailableError,
    VideoDecodeError,
    ReelClip,
    ReelSettings,
    animated_poster,
    check_clip,
    compile_reel,
    data_uri_markdown,
    encode_frames,
    ffprobe_info,
    iter_frames,
    png_grid_b64,
    probe_video,
    second_opinion,
)
from vidgen_assets_tests.test_video_lib import write_clip


def solid_clip(path: Path, count: int, colour: tuple[int, int, int], *, fps: int = 12) -> Path:
    """A clip of one colour with a little texture, so only its level matters."""
    frames = np.empty((count, 64, 64, 3), dtype=np.uint8)
    frames[:] = colour
    frames[:, ::8, ::8] = 255 - np.array(colour, dtype=np.uint8)
    encode_frames(path, frames, fps=fps, width=64, height=64)
    return path


def write_wav(path: Path, seconds: float, rate: int = 22_050) -> Path:
    times = np.arange(round(seconds * rate)) / rate
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes((np.sin(2 * np.pi * 440 * times) * 8000).astype(np.int16).tobytes())
    return path


# --- check_clip -------------------------------------------------------------------------


def test_truncated_clip_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", 12)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    quality = check_clip(path)
    assert not quality.passed
    assert len(quality.problems) == 1 and quality.problems[0].startswith("does not decode: ")
    assert check_clip(tmp_path / "missing.mp4").problems == ["does not decode: file does not exist"]


@pytest.mark.parametrize(
    ("kind", "expected_problem"),
    [("black", "blank: too dark"), ("constant", "blank: flat picture"), ("frozen", "frozen")],
)
def test_blank_and_frozen_clips_fail(tmp_path: Path, kind: str, expected_problem: str) -> None:
    rng = np.random.default_rng(1)
    still = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    frame = {"black": np.zeros_like(still), "constant": np.full_like(still, 150), "frozen": still}[kind]
    path = tmp_path / f"{kind}.mp4"
    encode_frames(path, [frame] * 8, fps=8, width=64, height=64)
    quality = check_clip(path, expected_frames=8, expected_fps=8, expected_size=(64, 64))
    assert not quality.passed
    assert any(problem.startswith(expected_problem) for problem in quality.problems), quality.problems
    if kind == "frozen":  # the noise picture itself is fine: only the motion check fires
        assert len(quality.problems) == 1 and quality.luma_std > 40


def test_tiny_model_clip_passes(models_dir: Path, tmp_path: Path) -> None:
    from vidgen_assets.lib.generation import PIPELINES, ClipParams, KeyframeRequest, get_preset, render_clip
    from vidgen_assets.lib.generation import render_keyframes

    image_model = PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir)
    _, keyframe = next(render_keyframes(image_model, [KeyframeRequest("a fox", seed=5)]))
    video_model = PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir)
    render_clip(video_model, keyframe, tmp_path / "tiny.mp4", ClipParams(num_frames=8, fps=8, seed=5))

    quality = check_clip(tmp_path / "tiny.mp4", expected_frames=8, expected_fps=8, expected_size=(64, 64))
    assert quality.passed, quality.problems
    assert quality.motion > 1 and quality.luma_std > 5
    wrong = check_clip(tmp_path / "tiny.mp4", expected_frames=9, expected_fps=7, expected_size=(32, 32))
    assert len(wrong.problems) == 3 and not wrong.passed


# --- compile_reel -----------------------------------------------------------------------


def test_stream_copy_keeps_every_frame_in_stable_order(tmp_path: Path) -> None:
    a = write_clip(tmp_path / "a.mp4", 8, hue=0)
    b = write_clip(tmp_path / "b.mp4", 10, hue=90)
    c = write_clip(tmp_path / "c.mp4", 5, hue=180)
    clips = [
        ReelClip(a, "p2", "second", style="noir", motion_bucket_id=127),
        ReelClip(c, "p2", "second", style="noir", motion_bucket_id=1),
        ReelClip(b, "p1", "first", style="Anime"),
    ]
    result = compile_reel(clips, tmp_path / "reel.mp4")
    assert result.stream_copy and result.order == [str(b), str(c), str(a)]
    decoded = probe_video(tmp_path / "reel.mp4")
    assert decoded.frames == result.info.frames == 23
    assert decoded.duration_s == pytest.approx(23 / 12) == result.info.duration_s
    by_style = compile_reel(clips[::-1], tmp_path / "styled.mp4", ReelSettings(order="style"))
    assert by_style.order == [str(b), str(c), str(a)]  # "Anime" < "noir", case-insensitively
    by_subject = compile_reel(clips, tmp_path / "subject.mp4", ReelSettings(order="subject"))
    assert by_subject.order == result.order  # no subjects: prompt_id, motion bucket decide


def test_mixed_clips_are_normalized_to_target_size_and_fps(tmp_path: Path) -> None:
    clips = [
        ReelClip(write_clip(tmp_path / "square.mp4", 6, fps=12), "p1", "square"),
        ReelClip(write_clip(tmp_path / "wide.mp4", 9, width=96, fps=24, hue=120), "p2", "wide"),
    ]
    result = compile_reel(clips, tmp_path / "reel.mp4", ReelSettings(width=128, height=96, fps=12))
    info = probe_video(tmp_path / "reel.mp4")
    assert not result.stream_copy
    # 24 fps clips keep their real-time length: 9 frames become ceil(9 / 2) = 5 at 12 fps.
    assert (info.frames, info.fps, info.width, info.height) == (6 + 5, 12.0, 128, 96)
    assert result.info == info


def test_crossfade_overlaps_frames_and_blends_them(tmp_path: Path) -> None:
    clips = [
        ReelClip(solid_clip(tmp_path / "red.mp4", 8, (200, 40, 40)), "p1", "red"),
        ReelClip(solid_clip(tmp_path / "blue.mp4", 10, (40, 40, 200)), "p2", "blue"),
        ReelClip(solid_clip(tmp_path / "green.mp4", 9, (40, 200, 40)), "p3", "green"),
    ]
    result = compile_reel(clips, tmp_path / "reel.mp4", ReelSettings(crossfade_s=0.25))
    assert result.crossfade_frames == 3 and not result.stream_copy
    assert result.info.frames == 8 + 10 + 9 - 3 * 2
    red_levels = [int(np.median(frame[..., 0])) for frame in iter_frames(tmp_path / "reel.mp4")]
    # Red fades out over frames 5-7 (weights 1/4, 2/4, 3/4 on blue), then blue alone.
    assert abs(red_levels[4] - 200) < 6 and abs(red_levels[6] - 120) < 6 and abs(red_levels[8] - 40) < 6
    # A crossfade longer than the clips shrinks so fades never meet: shortest middle clip is 10 frames.
    long_fade = compile_reel(clips, tmp_path / "long.mp4", ReelSettings(crossfade_s=5))
    assert long_fade.crossfade_frames == 5 and long_fade.info.frames == 27 - 10


def test_captions_change_only_the_bottom_band(tmp_path: Path) -> None:
    clips = [ReelClip(write_clip(tmp_path / "a.mp4", 6, height=96), "p1", "a fox in the snow " * 5)]
    plain = compile_reel(clips, tmp_path / "plain.mp4", ReelSettings(reencode=True))
    captioned = compile_reel(clips, tmp_path / "captioned.mp4", ReelSettings(captions=True))
    assert not plain.stream_copy and not captioned.stream_copy
    band = 96 // 8
    pairs = zip(iter_frames(tmp_path / "plain.mp4"), iter_frames(tmp_path / "captioned.mp4"), strict=True)
    for before, after in pairs:
        difference = np.abs(before.astype(int) - after.astype(int))
        # Two x264 encodes differ by codec noise everywhere; the caption dwarfs it in its band.
        above, inside = difference[: 96 - band - 4].mean(), difference[96 - band :].mean()
        assert above < 3 and inside > 20 and inside > 10 * above


@pytest.mark.parametrize("audio_seconds", [0.5, 3.0])  # padded with silence, then cut
def test_audio_track_matches_video_length(tmp_path: Path, audio_seconds: float) -> None:
    clips = [ReelClip(write_clip(tmp_path / f"{n}.mp4", 9), f"p{n}", "x") for n in range(2)]
    audio = write_wav(tmp_path / "sound.wav", audio_seconds)
    result = compile_reel(clips, tmp_path / "reel.mp4", ReelSettings(audio_path=str(audio)))
    assert result.stream_copy and result.info.frames == 18
    with av.open(str(tmp_path / "reel.mp4")) as container:
        (sound,) = container.streams.audio
        assert sound.codec_context.name == "aac"
        audio_s = float(sound.duration * sound.time_base)
    assert abs(audio_s - 18 / 12) <= 1 / 12


def test_unsupported_settings_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="order"):
        ReelSettings(order="colour")
    with pytest.raises(ValueError, match="crossfade"):
        ReelSettings(crossfade_s=-1)
    with pytest.raises(ValueError, match="at least one"):
        compile_reel([], tmp_path / "reel.mp4")


# --- ffprobe and previews ---------------------------------------------------------------


@pytest.mark.parametrize("tool", ["ffprobe", "ffmpeg"])
def test_both_second_opinions_agree_with_probe_video(tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if tool == "ffprobe" and shutil.which("ffprobe") is None:
        pytest.skip("no system ffprobe here (optional: make setup installs it as root)")
    if tool == "ffmpeg":
        monkeypatch.setenv("PATH", str(tmp_path))  # no system ffprobe: imageio-ffmpeg's binary takes over
    clips = [ReelClip(write_clip(tmp_path / f"{n}.mp4", 7 + n), f"p{n}", "x") for n in range(3)]
    compile_reel(clips, tmp_path / "reel.mp4", ReelSettings(crossfade_s=0.1))
    ours, theirs = probe_video(tmp_path / "reel.mp4"), second_opinion(tmp_path / "reel.mp4")
    assert theirs["tool"] == tool
    assert (theirs["frames"], theirs["fps"], theirs["width"], theirs["height"]) == (
        ours.frames, ours.fps, ours.width, ours.height,
    )  # fmt: skip
    assert theirs["codec"] == "h264" and theirs["duration_s"] == pytest.approx(ours.duration_s, abs=1e-3)


def test_missing_ffprobe_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(FfprobeUnavailableError, match="apt-get install ffmpeg"):
        ffprobe_info(write_clip(tmp_path / "clip.mp4", 3))


def test_a_broken_file_is_a_decode_error_from_either_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(write_clip(tmp_path / "clip.mp4", 3).read_bytes()[:400])  # cut inside the first frame
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(VideoDecodeError, match="ffmpeg"):
        second_opinion(broken)


def test_png_grid_stays_under_its_size_cap(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    images = []
    for index in range(10):  # noise barely compresses, so the cap forces shrinking
        images.append(tmp_path / f"{index}.png")
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(images[-1])
    encoded = png_grid_b64(images, max_bytes=60_000, captions=[f"prompt {n}" for n in range(10)])
    assert len(encoded) <= 60_000
    with Image.open(io.BytesIO(base64.b64decode(encoded))) as grid:
        assert grid.format == "PNG" and 0 < grid.width < 4 * 128
    markdown = data_uri_markdown(encoded, "day [1]")
    assert markdown.startswith("![day (1)](data:image/png;base64,") and markdown.endswith(encoded + ")")


def test_animated_poster_is_a_webp_animation(tmp_path: Path) -> None:
    clips = [write_clip(tmp_path / f"{n}.mp4", 6 + n, hue=60 * n) for n in range(5)]
    written = animated_poster(clips, tmp_path / "poster.webp", max_side=100, frames_per_clip=6)
    assert written == (tmp_path / "poster.webp").stat().st_size > 0
    with Image.open(tmp_path / "poster.webp") as poster:
        assert poster.format == "WEBP" and poster.n_frames == 6
        assert max(poster.size) <= 100 and poster.size == (100, 100)  # 2x2 tiles of the first 4 clips
