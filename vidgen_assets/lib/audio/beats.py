"""Beat times of a soundtrack, for cutting the reel on the beat.

The tracker is librosa's (``librosa.beat.beat_track``: onset strength, a tempo estimate, then dynamic
programming over the onsets, Ellis 2007): a maintained, widely used library whose beat tracker is
well tested on real music, where a home-made peak picker would only find clicks. The audio is decoded
here with PyAV (any format the reel accepts) to mono float32 at librosa's default rate and handed over as
an array, so librosa never spawns audioread or an ffmpeg process.

librosa compiles parts of its tracker with numba on first use (seconds). That happens once per process;
compiled code is cached on disk: numba's default, beside librosa in the environment (so ``make setup`` or an
image build can warm it), or, when that is read-only and ``NUMBA_CACHE_DIR`` is unset, a directory under the
system's temporary folder, so a read-only install with a fresh or unwritable HOME still works.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 22_050  # librosa's default rate: its tracker's hop and tempo prior are tuned for it
# What found the beats, for naming stored results: another tracker version may place them differently.
TRACKER = f"librosa-{importlib.metadata.version('librosa')}-{SAMPLE_RATE}"


@dataclass(frozen=True)
class Beats:
    """Beat times in seconds from the start of the audio, and the estimated tempo (None without beats)."""

    times: list[float]
    tempo_bpm: float | None


def beat_times(path: str | os.PathLike[str]) -> list[float]:
    """Seconds from the start of the audio file at which its beats fall, in order."""
    return track_beats(path).times


def track_beats(path: str | os.PathLike[str]) -> Beats:
    """The file's beats and tempo; ValueError when it is missing or holds no decodable audio."""
    samples = decode_mono(path)
    if samples.size < SAMPLE_RATE // 2 or not np.any(samples):  # under half a second, or silence: no beat
        return Beats([], None)
    beat = _librosa_beat()
    tempo, frames = beat.beat_track(y=samples, sr=SAMPLE_RATE, units="time")
    times = [round(float(t), 4) for t in np.atleast_1d(frames)]
    bpm = float(np.atleast_1d(tempo)[0]) if times else None
    return Beats(times, round(bpm, 2) if bpm else None)


def decode_mono(path: str | os.PathLike[str]) -> np.ndarray:
    """The file's first audio stream as mono float32 samples at SAMPLE_RATE."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"audio file {file} does not exist")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(file)) as container:
            if not container.streams.audio:
                raise ValueError(f"{file} has no audio stream")
            for frame in container.decode(container.streams.audio[0]):
                chunks += [converted.to_ndarray().reshape(-1) for converted in resampler.resample(frame)]
            chunks += [converted.to_ndarray().reshape(-1) for converted in resampler.resample(None)]
    except av.FFmpegError as exc:
        raise ValueError(f"cannot decode audio {file}: {exc}") from exc
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)


@cache
def _librosa_beat():
    """librosa's beat module, imported once with numba's cache in a writable place."""
    spec = importlib.util.find_spec("librosa")
    beside_librosa = Path(spec.origin).parent if spec and spec.origin else None
    if "NUMBA_CACHE_DIR" not in os.environ and not (beside_librosa and os.access(beside_librosa, os.W_OK)):
        # Numba's fallback is under HOME, which may be read-only; without any writable place it refuses to import.
        os.environ["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"vidgen-numba-{os.getuid()}")
    import librosa.beat

    return librosa.beat
