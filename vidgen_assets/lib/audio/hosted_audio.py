"""A hosted soundtrack's way out: download each task's audio, check it decodes, join the segments and
store the track, trimmed to the reel's length, under its content key (WAV or FLAC by the key's suffix)."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..generation.providers.io import OutputUnavailableError, download_checked
from ..storage import MediaStore

CODECS = {".wav": ("wav", "pcm_s16le"), ".flac": ("flac", "flac")}


def download_audio(url: str, folder: Path, name: str, *, attempts: int, pause: threading.Event) -> Path:
    """`url` saved as `folder/name` (retried; a 403/404/410 means the URL expired: `gone`)."""

    def checked(path: Path) -> Path:
        decode(path)  # a truncated or non-audio body fails here, and is fetched again
        return path

    return download_checked(url, folder / name, checked, attempts=attempts, pause=pause,
                            retry_on=(OutputUnavailableError,), what="audio")  # fmt: skip


def decode(path: Path) -> tuple[np.ndarray, int]:
    """(samples × channels int16, sample rate) of an audio file's first audio stream."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate, channels = stream.rate, stream.channels
            # Packed s16 whatever the source's format, so segments of one model join sample for sample.
            resampler = av.AudioResampler(format="s16", layout=stream.layout.name, rate=rate)
            chunks = [
                out.to_ndarray().reshape(-1, channels)
                for frame in container.decode(stream) for out in resampler.resample(frame)
            ]  # fmt: skip
    except (av.error.FFmpegError, IndexError) as error:
        raise OutputUnavailableError(f"the provider's audio does not decode: {error}") from None
    if not chunks:
        raise OutputUnavailableError("the provider's audio has no samples")
    return np.concatenate(chunks), rate


def write_track(store: MediaStore, media_key: str, parts: Sequence[Path], seconds: float) -> float:
    """Join `parts` in order, trim to `seconds`, store at `media_key`; returns the stored track's seconds."""
    suffix = Path(media_key).suffix.lower()
    if suffix not in CODECS:
        raise ValueError(f"a soundtrack is stored as .wav or .flac, not {media_key!r}")
    decoded = [decode(part) for part in parts]
    rate, channels = decoded[0][1], decoded[0][0].shape[1]
    if any(r != rate or s.shape[1] != channels for s, r in decoded):
        raise OutputUnavailableError("the segments differ in sample rate or channels and can't be joined")
    samples = np.concatenate([s for s, _ in decoded])[: round(seconds * rate)]
    _encode(store, media_key, samples, rate, *CODECS[suffix])
    return len(samples) / rate


def _encode(store: MediaStore, media_key: str, samples: np.ndarray, rate: int, fmt: str, codec: str) -> None:
    import av

    layout = "stereo" if samples.shape[1] == 2 else "mono"
    with store.writing(media_key) as path, av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.format = "s16"
        for start in range(0, len(samples), 4096):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[start : start + 4096]).reshape(1, -1),
                                               format="s16", layout=layout)  # fmt: skip
            frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def stored_seconds(store: MediaStore, media_key: str) -> float:
    """The duration of a stored track (a cache hit reports it without asking anyone)."""
    with store.local_path(media_key) as path:
        samples, rate = decode(Path(path))
    return len(samples) / rate


def scratch() -> tempfile.TemporaryDirectory:
    """Where the provider's files wait to be joined: nothing of them is kept but the stored track."""
    return tempfile.TemporaryDirectory(prefix="vidgen-soundtrack-")
