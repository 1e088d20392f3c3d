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
                # ultrafast: a 120-frame 1280x720 clip (Runway's and Luma's size) encodes in ~2 s, not ~20 s.
                stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                ys, xs = np.mgrid[0:height, 0:width].astype(np.uint8)  # uint8 arithmetic wraps: the % 256
                for n in range(frames):
                    frame = np.stack([xs * 4 + np.uint8(n * 9 % 256), ys * 4, xs + ys + np.uint8(n * 5 % 256)], axis=-1)
                    for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                        container.mux(packet)
                for packet in stream.encode():
                    container.mux(packet)
            _MP4_CACHE[key] = buffer.getvalue()
        return _MP4_CACHE[key]
