"""A hosted clip's way in (its images or source video, inline or by URL) and way out (download, decode
check, normalize)."""

from __future__ import annotations

import base64
import mimetypes
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from ...storage import MediaStore
from ...video import ClipWriter, VideoDecodeError, iter_frames, probe_video
from .base import ProviderError
from .tasks import Halted

T = TypeVar("T")
# Status codes meaning the output URL is gone for good (output URLs expire after a day or two).
GONE = {403, 404, 410}


class ProviderSetupError(ProviderError):
    """The provider can't be given what it needs (e.g. a keyframe too large to inline and no S3): stops the step."""


class OutputUnavailableError(ProviderError):
    """The finished task's output could not be downloaded or does not decode; `gone`: its URL expired."""

    def __init__(self, message: str, gone: bool = False):
        super().__init__(message)
        self.gone = gone


_downloads: httpx.Client | None = None
_downloads_lock = threading.Lock()


def _download_client() -> httpx.Client:
    """One pooled client for every download of the process (a new client per call costs ~20 ms of CPU)."""
    global _downloads
    with _downloads_lock:
        if _downloads is None:
            _downloads = httpx.Client(timeout=60, follow_redirects=True)
        return _downloads


def media_reference(store: MediaStore, media_key: str, provider: str, max_inline_bytes: int | None) -> str:
    """A media-store file (a PNG keyframe or last frame, an MP4 source clip) as the provider reads it: a data
    URI when the provider takes one this large, else a presigned URL when media is on S3."""
    with store.local_path(media_key) as path:
        data = Path(path).read_bytes()
    mime = mimetypes.guess_type(media_key)[0] or "image/png"  # .png → image/png, .mp4 → video/mp4
    inline = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    if max_inline_bytes is not None and len(inline) <= max_inline_bytes:
        return inline
    if hasattr(store, "presigned_url"):
        return store.presigned_url(media_key)
    kind, what = ("source video", "videos") if mime.startswith("video/") else ("keyframe", "images")
    limit = f"takes inline {what} up to {max_inline_bytes} bytes" if max_inline_bytes else f"takes {what} by URL only"
    raise ProviderSetupError(
        f"{kind} {media_key} ({len(inline)} bytes as a data URI) can't be sent to {provider}: it {limit}. "
        "Store media on S3 (VIDGEN_MEDIA_URI=s3://bucket/prefix) so the provider can read a presigned URL."
    )


keyframe_reference = media_reference  # the older name: an image is one kind of media


def download_checked(
    url: str, path: str | Path, check: Callable[[Path], T], *, attempts: int, pause: threading.Event,
    retry_on: tuple[type[Exception], ...] = (), what: str = "output",
) -> T:  # fmt: skip
    """`url` saved at `path` and `check(path)`'s answer, retried with backoff on transport errors, 5xx/429 and
    `retry_on` (a truncated body that fails the check); a 403/404/410 means the URL expired (`gone`).
    `pause` set (the step stopping) ends the download within a chunk, and any wait between attempts."""
    error: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            with _download_client().stream("GET", url) as response:
                response.raise_for_status()
                with open(path, "wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        if pause.is_set():  # the step is stopping: the record keeps the output for the next run
                            raise Halted()
                        out.write(chunk)
            return check(Path(path))
        except httpx.HTTPStatusError as failed:
            if failed.response.status_code in GONE:
                raise OutputUnavailableError(f"output URL answered {failed.response.status_code}", gone=True) from None
            error = failed
        except (httpx.TransportError, *retry_on) as failed:
            error = failed
        if pause.wait(min(30.0, 2.0**attempt)):
            break
    raise OutputUnavailableError(f"{what} not stored after {attempts} attempts: {type(error).__name__}: {str(error)[:200]}")


def fetch_output(url: str, store: MediaStore, media_key: str, *, attempts: int, pause: threading.Event) -> dict:
    """Download `url` under `media_key` at once (retrying), check it decodes, normalize if the reel needs it.

    The clip appears under its key only once all of that succeeded. Returns its frames, fps and size.
    """

    def checked(path: Path) -> dict:
        info = probe_video(path)  # decodes every frame: a truncated download fails here
        if (info.codec, info.pix_fmt) != ("h264", "yuv420p"):
            _normalize(path, info.fps, info.width, info.height)
        return {"frames": info.frames, "fps": info.fps, "width": info.width, "height": info.height}

    with store.writing(media_key) as path:
        return download_checked(url, path, checked, attempts=attempts, pause=pause, retry_on=(VideoDecodeError,))


def _normalize(path: Path, fps: float, width: int, height: int) -> None:
    """Re-encode to the project's H.264/yuv420p/faststart, frame by frame (only for other encodings)."""
    encoded = path.with_name(path.name + ".h264.mp4")
    try:
        with ClipWriter(encoded, fps=round(fps), width=width - width % 2, height=height - height % 2) as writer:
            for frame in iter_frames(path):
                writer.write(frame[None, : height - height % 2, : width - width % 2])
        os.replace(encoded, path)
    finally:
        encoded.unlink(missing_ok=True)
