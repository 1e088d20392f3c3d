"""A real MP4 for the fakes to serve as task output, encoded once per shape with PyAV."""

from __future__ import annotations

import io
import threading

import numpy as np

_MP4_CACHE: dict[tuple[int, int, int, int], bytes] = {}
_MP4_LOCK = threading.Lock()


def mp4_bytes(frames: int = 25, fps: int = 6, width: int = 64, height: int = 64) -> bytes:
    """A real H.264/yuv420p MP4 of a moving gradient (passes the project's blank/frozen checks); cached."""
    import av

    key = (frames, fps, width, height)
    with _MP4_LOCK:
        if key not in _MP4_CACHE:
            buffer = io.BytesIO()
            with av.open(buffer, "w", format="mp4") as container:
                stream = container.add_stream("libx264", rate=fps)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                ys, xs = np.mgrid[0:height, 0:width]
                for n in range(frames):
                    red = (xs * 4 + n * 9) % 256
                    frame = np.stack([red, (ys * 4) % 256, (xs + ys + n * 5) % 256], axis=-1).astype(np.uint8)
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            _MP4_CACHE[key] = buffer.getvalue()
        return _MP4_CACHE[key]
