"""Reel compilation speed: our stream copy vs ffmpeg's concat demuxer, and a full re-encode.

Writes 100 small identically encoded clips to a temp dir, then times
  reel_s        compile_reel with default settings (the PyAV stream-copy path), including
                the encoding check and the decode-count probe of the result it returns;
  ffmpeg_copy_s `ffmpeg -f concat -safe 0 -i list.txt -c copy` (Debian's ffmpeg if on PATH,
                else imageio-ffmpeg's bundled binary);
  reencode_s    compile_reel with ReelSettings(reencode=True): our decode + libx264 re-encode.
Prints readable lines, then one JSON line {clips, reel_s, ffmpeg_copy_s, reencode_s, ratio}
where ratio = reel_s / ffmpeg_copy_s (target <= 1.2). Each timing is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from vidgen_assets.lib.video import ClipWriter, ReelClip, ReelSettings, compile_reel, probe_video


def ffmpeg_executable() -> str:
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as exc:
        raise SystemExit("no ffmpeg: install Debian's ffmpeg package or imageio-ffmpeg") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def write_clips(folder: Path, count: int, size: int, fps: int) -> list[ReelClip]:
    """Synthetic clips, 8-14 frames each, all with the same encoder settings."""
    rng = np.random.default_rng(7)
    rows, columns = np.mgrid[0:size, 0:size]
    clips = []
    for index in range(count):
        frames = 8 + index % 7
        path = folder / f"clip{index:03d}.mp4"
        with ClipWriter(path, fps=fps, width=size, height=size) as writer:
            base = rng.integers(0, 256, 3)
            for step in range(frames):
                pixels = np.stack(
                    [(columns * 2 + step * 9 + base[0]) % 256, (rows * 2 + base[1]) % 256,
                     np.full_like(rows, (base[2] + step * 5) % 256)], axis=-1,
                ).astype(np.uint8)  # fmt: skip
                writer.write(pixels)
        clips.append(ReelClip(path, prompt_id=f"p{index:03d}", prompt=f"synthetic clip {index}"))
    return clips


def best_of(repeat: int, action) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ffmpeg = ffmpeg_executable()

    with tempfile.TemporaryDirectory(prefix="bench-reel-") as tmp:
        folder = Path(tmp)
        clips = write_clips(folder, args.clips, args.size, args.fps)
        total_frames = sum(probe_video(clip.path).frames for clip in clips)
        print(f"{args.clips} clips of {args.size}x{args.size} at {args.fps} fps, {total_frames} frames in all")

        reel_s = best_of(args.repeat, lambda: compile_reel(clips, folder / "reel.mp4"))
        result = compile_reel(clips, folder / "reel.mp4")
        assert result.stream_copy and result.info.frames == total_frames
        print(f"compile_reel, stream copy:     {reel_s:.3f} s")

        listing = folder / "list.txt"
        listing.write_text("".join(f"file '{clip.path}'\n" for clip in clips))
        command = [ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                   str(folder / "ffmpeg.mp4")]  # fmt: skip
        ffmpeg_copy_s = best_of(args.repeat, lambda: subprocess.run(command, check=True))
        assert probe_video(folder / "ffmpeg.mp4").frames == total_frames
        print(f"ffmpeg concat -c copy ({ffmpeg}): {ffmpeg_copy_s:.3f} s")

        # Re-encode with our own path (decode, libx264 preset medium crf 18), not ffmpeg's.
        forced = ReelSettings(reencode=True)
        reencode_s = best_of(1, lambda: compile_reel(clips, folder / "reencoded.mp4", forced))
        print(f"compile_reel, full re-encode:  {reencode_s:.3f} s")

    ratio = reel_s / ffmpeg_copy_s
    print(f"ratio reel/ffmpeg copy: {ratio:.2f} (target <= 1.2)")
    print(json.dumps({"clips": args.clips, "reel_s": round(reel_s, 4), "ffmpeg_copy_s": round(ffmpeg_copy_s, 4),
                      "reencode_s": round(reencode_s, 4), "ratio": round(ratio, 3)}))  # fmt: skip


if __name__ == "__main__":
    main()
