"""A second opinion on a video from an FFmpeg command-line tool, independent of PyAV's decoder.

The system ``ffprobe`` (Debian's ffmpeg package, Homebrew's ffmpeg) is used when it is on PATH;
otherwise the static ``ffmpeg`` binary that the ``imageio-ffmpeg`` wheel ships, which any user can
install without root. Both decode every frame and report the same fields.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

from vidgen_assets.lib.video.probe import VideoDecodeError

_ENTRIES = "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_read_frames,duration:format=duration"
# "Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 64x64, 29 kb/s, 8 fps, ..."
_VIDEO_STREAM = re.compile(r"Stream #0:\d+\S*: Video: (?P<codec>\w+).*?, (?P<width>\d+)x(?P<height>\d+)[ ,].*?(?P<fps>[\d.]+) fps")


class FfprobeUnavailableError(RuntimeError):
    """Neither a system ``ffprobe`` nor imageio-ffmpeg's ``ffmpeg`` is available."""


def second_opinion_tool() -> tuple[str, str]:
    """("ffprobe" or "ffmpeg", executable path): the independent decoder this machine has."""
    system = shutil.which("ffprobe")
    if system:
        return "ffprobe", system
    try:
        import imageio_ffmpeg

        return "ffmpeg", imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:
        raise FfprobeUnavailableError(
            f"no independent video decoder: ffprobe is not on PATH and imageio-ffmpeg's ffmpeg is unusable ({error}); "
            "reinstall the project (make setup) or install your system's ffmpeg package"
        ) from error


def second_opinion(path: str | os.PathLike[str], *, timeout_s: float = 120.0) -> dict[str, object]:
    """Frames, fps, size, duration and codec of the first video stream, from whichever tool is here.

    Raises FfprobeUnavailableError without either tool, VideoDecodeError when the tool rejects the file.
    """
    tool, executable = second_opinion_tool()
    file = Path(path)
    if not file.is_file():
        raise VideoDecodeError(file, "file does not exist")
    read = _ffprobe if tool == "ffprobe" else _ffmpeg
    return {**read(executable, file, timeout_s), "tool": tool}


def ffprobe_info(path: str | os.PathLike[str], *, timeout_s: float = 120.0) -> dict[str, object]:
    """The system ffprobe's report alone (FfprobeUnavailableError when it is not on PATH)."""
    executable = shutil.which("ffprobe")
    if executable is None:
        raise FfprobeUnavailableError("ffprobe is not on PATH: install your system's ffmpeg package (Debian: apt-get install ffmpeg)")
    file = Path(path)
    if not file.is_file():
        raise VideoDecodeError(file, "file does not exist")
    return _ffprobe(executable, file, timeout_s)


def _ffprobe(executable: str, file: Path, timeout_s: float) -> dict[str, object]:
    command = [
        executable, "-v", "error", "-count_frames", "-select_streams", "v:0",
        "-show_entries", _ENTRIES, "-of", "json", str(file),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        raise VideoDecodeError(file, f"ffprobe: {result.stderr.strip() or f'exit {result.returncode}'}")
    report = json.loads(result.stdout)
    if not report.get("streams"):
        raise VideoDecodeError(file, "ffprobe found no video stream")
    stream = report["streams"][0]
    rate = stream.get("avg_frame_rate", "0/0")
    if rate in ("0/0", ""):
        rate = stream.get("r_frame_rate", "0/0")
    duration = stream.get("duration") or report.get("format", {}).get("duration") or 0
    return {
        "frames": int(stream.get("nb_read_frames", 0)),
        "fps": float(Fraction(rate)) if rate != "0/0" else 0.0,
        "width": int(stream["width"]),
        "height": int(stream["height"]),
        "duration_s": float(duration),
        "codec": stream["codec_name"],
    }


def _ffmpeg(executable: str, file: Path, timeout_s: float) -> dict[str, object]:
    """Decode the first video stream to nothing; the stream header and the frame counter say the rest."""
    command = [
        executable, "-hide_banner", "-nostdin", "-nostats", "-i", str(file), "-map", "0:v:0",
        "-f", "null", "-progress", "pipe:1", "-",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if "rror" in line] or [f"exit {result.returncode}"]
        raise VideoDecodeError(file, f"ffmpeg: {lines[-1].strip()}")
    stream = _VIDEO_STREAM.search(result.stderr)
    frames = re.findall(r"^frame=(\d+)$", result.stdout, flags=re.MULTILINE)
    if stream is None or not frames:
        raise VideoDecodeError(file, "ffmpeg found no video stream")
    fps = float(stream["fps"])
    count = int(frames[-1])
    return {
        "frames": count,
        "fps": fps,
        "width": int(stream["width"]),
        "height": int(stream["height"]),
        # Frames decoded at the stream's constant rate: what a player shows from the first frame to the last.
        "duration_s": count / fps if fps else 0.0,
        "codec": stream["codec"],
    }
