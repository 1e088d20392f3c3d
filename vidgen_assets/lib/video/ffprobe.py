"""A second opinion from the system ``ffprobe`` (Debian's ffmpeg package), independent of PyAV."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

from vidgen_assets.lib.video.probe import VideoDecodeError

_ENTRIES = "stream=codec_name,width,height,avg_frame_rate,r_frame_rate,nb_read_frames,duration:format=duration"


class FfprobeUnavailableError(RuntimeError):
    """The ``ffprobe`` executable is not on PATH."""


def ffprobe_info(path: str | os.PathLike[str], *, timeout_s: float = 120.0) -> dict[str, object]:
    """Count the first video stream's frames with ffprobe; return frames, fps, size, duration, codec.

    Raises FfprobeUnavailableError without ffprobe, VideoDecodeError when ffprobe rejects the file.
    """
    executable = shutil.which("ffprobe")
    if executable is None:
        raise FfprobeUnavailableError(
            "ffprobe is not on PATH: install Debian's ffmpeg package (apt-get install ffmpeg); "
            "imageio-ffmpeg ships only ffmpeg"
        )
    file = Path(path)
    if not file.is_file():
        raise VideoDecodeError(file, "file does not exist")
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
