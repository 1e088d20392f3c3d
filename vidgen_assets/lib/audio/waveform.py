"""Reading a soundtrack back: its length and sample rate, and a small waveform picture for the UI."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WAVEFORM_SIZE = (480, 72)
_BLOCK = 256  # samples per peak kept while decoding: a 10-minute 44.1 kHz track keeps ~100k floats


@dataclass(frozen=True)
class AudioSummary:
    duration_s: float
    sample_rate: int
    channels: int
    samples: int
    peaks: np.ndarray  # the largest absolute sample (any channel) of each block of `_BLOCK` samples


class AudioDecodeError(ValueError):
    """The file is not audio PyAV can decode."""


def summarize_audio(path: str | Path) -> AudioSummary:
    """Decode the file's first audio stream with PyAV, frame by frame (any format: WAV, FLAC, MP3...)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioDecodeError(f"{path} has no audio stream")
            stream = container.streams.audio[0]
            blocks, carry, samples = [], np.zeros(0, dtype=np.float32), 0
            for frame in container.decode(stream):
                raw = frame.to_ndarray()
                data = raw.astype(np.float32)
                if not frame.format.is_planar:  # interleaved: (1, samples * channels)
                    data = data.reshape(-1, len(frame.layout.channels)).T
                if np.issubdtype(raw.dtype, np.integer):
                    data /= float(np.iinfo(raw.dtype).max)
                samples += data.shape[1]
                carry = np.concatenate([carry, np.abs(data).max(axis=0)])
                whole = len(carry) // _BLOCK * _BLOCK
                if whole:
                    blocks.append(carry[:whole].reshape(-1, _BLOCK).max(axis=1))
                    carry = carry[whole:]
            if len(carry):
                blocks.append(carry.max(keepdims=True))
            rate, channels = stream.rate, stream.codec_context.channels
    except av.FFmpegError as error:
        raise AudioDecodeError(f"{path} does not decode as audio: {error}") from None
    peaks = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return AudioSummary(samples / rate if rate else 0.0, rate, channels, samples, peaks)


def waveform_png(peaks: np.ndarray, size: tuple[int, int] = WAVEFORM_SIZE) -> bytes:
    """A PNG of the track's loudness over time: one bar per column, mirrored around the middle."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, (24, 26, 33))
    draw = ImageDraw.Draw(image)
    middle = height // 2
    draw.line([(0, middle), (width - 1, middle)], fill=(70, 76, 92))
    if len(peaks):
        # Each column shows the loudest block it covers; a short track stretches its blocks across the width.
        edges = np.linspace(0, len(peaks), width + 1).astype(int)
        for x in range(width):
            chunk = peaks[edges[x] : max(edges[x + 1], edges[x] + 1)]
            half = int(min(float(chunk.max()), 1.0) * (middle - 2))
            if half:
                draw.line([(x, middle - half), (x, middle + half)], fill=(96, 178, 255))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
