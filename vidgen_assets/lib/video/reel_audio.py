"""A reel's soundtrack: any audio file PyAV decodes, as AAC cut or padded to the video."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import av
import av.container
import numpy as np

SAMPLE_RATE = 48_000
_LAYOUT = "stereo"
_FORMAT = "fltp"  # planar float: what FFmpeg's native AAC encoder takes


class AudioTrack:
    """Feeds an AAC stream from an audio file, following the video as it is written.

    ``write_until(t)`` encodes the soundtrack up to ``t`` seconds: the file's samples while
    they last, silence after. Calling it as the video grows interleaves the two streams.
    """

    def __init__(self, output: av.container.OutputContainer, source: str | os.PathLike[str]) -> None:
        self._path = Path(source)
        if not self._path.is_file():
            raise ValueError(f"audio file {self._path} does not exist")
        self._chunks = self._source_chunks()
        # Decode the first chunk now so an unreadable file fails before any video is written.
        first = next(self._chunks, None)
        self._pending = first if first is not None else np.zeros((2, 0), dtype=np.float32)
        self._output = output
        self._stream = output.add_stream("aac", rate=SAMPLE_RATE, layout=_LAYOUT)
        self._samples_written = 0

    def write_until(self, seconds: float) -> None:
        """Encode samples up to ``seconds`` from the start of the reel."""
        target = round(seconds * SAMPLE_RATE)
        while self._samples_written < target:
            if self._pending.shape[1] == 0:
                self._pending = next(self._chunks, None)
                if self._pending is None:  # the file ran out: pad with silence
                    self._pending = np.zeros((2, target - self._samples_written), dtype=np.float32)
            take = min(self._pending.shape[1], target - self._samples_written)
            self._encode(self._pending[:, :take])
            self._pending = self._pending[:, take:]

    def finish(self, seconds: float) -> None:
        """Encode up to exactly ``seconds``, dropping the rest of the file, and flush."""
        self.write_until(seconds)
        self._chunks.close()
        self._output.mux(self._stream.encode(None))

    def _encode(self, samples: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples), format=_FORMAT, layout=_LAYOUT)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples_written
        self._samples_written += samples.shape[1]
        self._output.mux(self._stream.encode(frame))

    def _source_chunks(self) -> Iterator[np.ndarray]:
        """Yield the file's audio as (2, n) float32 arrays at SAMPLE_RATE, decoding lazily."""
        resampler = av.AudioResampler(format=_FORMAT, layout=_LAYOUT, rate=SAMPLE_RATE)
        try:
            with av.open(str(self._path)) as container:
                if not container.streams.audio:
                    raise ValueError(f"{self._path} has no audio stream")
                for frame in container.decode(container.streams.audio[0]):
                    for converted in resampler.resample(frame):
                        yield converted.to_ndarray()
                for converted in resampler.resample(None):
                    yield converted.to_ndarray()
        except av.FFmpegError as exc:
            raise ValueError(f"cannot decode audio {self._path}: {exc}") from exc


def audio_stream_info(path: str | os.PathLike[str]) -> dict | None:
    """The first audio stream's codec and played duration (its decoded samples, after the encoder's priming
    is skipped as a player skips it), or None when the file has no audio; ValueError when it does not decode."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            samples = sum(frame.samples for frame in container.decode(stream))
            return {"codec": stream.codec_context.name, "duration_s": samples / stream.rate, "sample_rate": stream.rate}
    except av.FFmpegError as exc:
        raise ValueError(f"cannot decode the audio of {path}: {exc}") from exc
