"""Tests for vidgen_assets.lib.video, on small synthetic clips (no models)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.video import (
    ClipWriter,
    ReelClip,
    VideoDecodeError,
    compile_reel,
    contact_sheet,
    encode_frames,
    iter_frames,
    probe_video,
)


def gradient_frames(count: int, width: int, height: int, hue: int = 0) -> np.ndarray:
    """Horizontal gradient that slides each frame; ``hue`` makes clips distinguishable."""
    columns = np.arange(width, dtype=np.int64)
    frames = np.zeros((count, height, width, 3), dtype=np.uint8)
    for index in range(count):
        frames[index, :, :, 0] = ((columns * 3 + index * 12) % 256)[np.newaxis, :]
        frames[index, :, :, 1] = (hue + index * 8) % 256
        frames[index, :, :, 2] = np.linspace(0, 255, height, dtype=np.uint8)[:, np.newaxis]
    return frames


def write_clip(
    path: Path, count: int, *, width: int = 64, height: int = 64, fps: int = 12, hue: int = 0
) -> Path:
    frames = gradient_frames(count, width, height, hue)
    encode_frames(path, frames, fps=fps, width=width, height=height)
    return path


def test_clip_writer_round_trip(tmp_path: Path) -> None:
    frames = gradient_frames(10, 64, 48)
    path = tmp_path / "clip.mp4"
    with ClipWriter(path, fps=12, width=64, height=48) as writer:
        writer.write(frames[:4])
        for frame in frames[4:]:
            writer.write(frame)
        assert writer.frames_written == 10

    info = probe_video(path)
    assert (info.frames, info.fps, info.width, info.height) == (10, 12.0, 64, 48)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert info.duration_s == pytest.approx(10 / 12)
    assert info.bytes == path.stat().st_size

    decoded = list(iter_frames(path))
    assert len(decoded) == 10
    assert decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    # Lossy but close at crf 18: the mean error per channel stays small.
    error = np.abs(np.stack(decoded).astype(int) - frames.astype(int)).mean()
    assert error < 6
    assert len(list(iter_frames(path, every=3))) == 4


def test_output_is_faststart(tmp_path: Path) -> None:
    data = write_clip(tmp_path / "clip.mp4", 6).read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


def test_same_frames_encode_to_same_bytes(tmp_path: Path) -> None:
    first = write_clip(tmp_path / "a.mp4", 6).read_bytes()
    second = write_clip(tmp_path / "b.mp4", 6).read_bytes()
    assert first == second


def test_temp_name_without_mp4_suffix_still_writes_mp4(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4.partial", 3)
    assert probe_video(path).frames == 3


@pytest.mark.parametrize(("width", "height"), [(63, 64), (64, 47)])
def test_odd_size_is_rejected(tmp_path: Path, width: int, height: int) -> None:
    with pytest.raises(ValueError, match="even"):
        ClipWriter(tmp_path / "odd.mp4", fps=12, width=width, height=height)


@pytest.mark.parametrize(
    "bad_frames",
    [
        np.zeros((48, 64, 3), dtype=np.uint8),  # height and width swapped
        np.zeros((2, 64, 48, 4), dtype=np.uint8),  # RGBA
        np.zeros((64, 48), dtype=np.uint8),  # grayscale
        np.zeros((64, 48, 3), dtype=np.float32),  # wrong dtype
    ],
)
def test_wrong_frames_are_rejected(tmp_path: Path, bad_frames: np.ndarray) -> None:
    with ClipWriter(tmp_path / "clip.mp4", fps=12, width=48, height=64) as writer:
        with pytest.raises(ValueError, match="expected"):
            writer.write(bad_frames)
        writer.write(np.zeros((64, 48, 3), dtype=np.uint8))
    assert probe_video(tmp_path / "clip.mp4").frames == 1


def test_error_inside_with_removes_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with ClipWriter(path, fps=12, width=64, height=64) as writer:
            writer.write(gradient_frames(5, 64, 64))
            raise RuntimeError("boom")
    assert not path.exists()


def test_stream_copy_reel_decodes_to_the_source_pixels(tmp_path: Path) -> None:
    clips = [
        ReelClip(write_clip(tmp_path / f"clip{index}.mp4", count, hue=hue), f"p{index}", "x")
        for index, (count, hue) in enumerate([(8, 0), (8, 90), (5, 180)])
    ]
    result = compile_reel(clips, tmp_path / "reel.mp4")
    assert result.stream_copy
    info = probe_video(tmp_path / "reel.mp4")
    assert (info.frames, info.fps, info.width, info.height) == (21, 12.0, 64, 64)
    # A stream copy decodes to exactly the source pixels, in clip order.
    expected = [frame for clip in clips for frame in iter_frames(clip.path)]
    actual = list(iter_frames(tmp_path / "reel.mp4"))
    assert all(np.array_equal(a, e) for a, e in zip(actual, expected, strict=True))
    data = (tmp_path / "reel.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")


def test_mixed_sizes_reencode_at_first_clip_size(tmp_path: Path) -> None:
    clips = [
        ReelClip(write_clip(tmp_path / "square.mp4", 6, width=64, height=64), "p1", "square"),
        ReelClip(write_clip(tmp_path / "wide.mp4", 4, width=96, height=64, hue=120), "p2", "wide"),
    ]
    result = compile_reel(clips, tmp_path / "reel.mp4")
    assert not result.stream_copy
    info = probe_video(tmp_path / "reel.mp4")
    assert (info.frames, info.width, info.height, info.fps) == (10, 64, 64, 12.0)
    # The wide clip is letterboxed, not cropped: black bars above, its own green level in the middle.
    last = list(iter_frames(tmp_path / "reel.mp4"))[-1]
    assert abs(int(np.median(last[28:36, :, 1])) - (120 + 3 * 8)) < 8
    assert last[:4].mean() < 20


def test_mixed_fps_reencode_at_first_clip_fps_keeping_real_time(tmp_path: Path) -> None:
    clips = [
        ReelClip(write_clip(tmp_path / "slow.mp4", 5, fps=12), "p1", "slow"),
        ReelClip(write_clip(tmp_path / "fast.mp4", 7, fps=24), "p2", "fast"),
    ]
    result = compile_reel(clips, tmp_path / "reel.mp4")
    assert not result.stream_copy
    info = probe_video(tmp_path / "reel.mp4")
    # 7 frames at 24 fps last 7/24 s: ceil(7 * 12 / 24) = 4 frames at 12 fps.
    assert (info.frames, info.fps, info.width, info.height) == (5 + 4, 12.0, 64, 64)


def test_truncated_file_raises_decode_error(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", 12)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoDecodeError, match="clip.mp4"):
        probe_video(path)


def test_missing_file_raises_decode_error(tmp_path: Path) -> None:
    with pytest.raises(VideoDecodeError, match="nowhere.mp4") as caught:
        probe_video(tmp_path / "nowhere.mp4")
    assert isinstance(caught.value, ValueError)
    assert pickle.loads(pickle.dumps(caught.value)).reason == caught.value.reason


def test_contact_sheet_grid(tmp_path: Path) -> None:
    shades = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (200, 40, 200)]
    sizes = [(64, 64), (128, 32), (32, 128), (300, 200), (10, 10)]
    images = []
    for index, (shade, size) in enumerate(zip(shades, sizes)):
        images.append(tmp_path / f"image{index}.png")
        Image.new("RGB", size, shade).save(images[-1])
    captions = ["short", "a caption far too long to fit under one small thumbnail", "", "x", "y"]

    out = tmp_path / "sheet.png"
    size = contact_sheet(images, captions, out, columns=4, thumb_size=64, caption_height=16)
    assert size == (4 * 64, 2 * (64 + 16))
    with Image.open(out) as sheet:
        assert sheet.format == "PNG" and sheet.size == size
        pixels = sheet.convert("RGB")
        # Centre of each thumbnail shows its image; the wide image is letterboxed.
        assert pixels.getpixel((32, 32)) == shades[0]
        assert pixels.getpixel((64 + 32, 32)) == shades[1]
        assert pixels.getpixel((64 + 32, 2)) == (24, 24, 24)
        assert pixels.getpixel((32, 80 + 32)) == shades[4]
        # The empty fifth cell stays background.
        assert pixels.getpixel((64 + 32, 80 + 32)) == (24, 24, 24)


def test_contact_sheet_rejects_no_images(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        contact_sheet([], None, tmp_path / "sheet.png")
