"""Denoised latents kept beside a clip's key, so a step stopped during the VAE decode resumes there.

Denoising is most of a clip's GPU time; the decode is the step most likely to run out of memory (and a
preempted pod may stop anywhere). The latents are stored under `latents/<clip media key>.pt` before the
decode and deleted once the clip exists; the clip key covers every input of the latents, so they are
content-addressed like the clip itself.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable

from ..storage import MediaStore

PREFIX = "latents/"


def latents_key(media_key: str) -> str:
    """The media-store key of the denoised latents of the clip stored under `media_key`."""
    return f"{PREFIX}{media_key}.pt"


def drop_leftover_latents(store: MediaStore, media_keys: Iterable[str]) -> int:
    """Delete the latents of clips that exist (one batched lookup): a step stopped after the clip was
    written but before its latents were dropped leaves them. Returns how many it deleted."""
    leftovers = store.existing(latents_key(key) for key in media_keys)
    for key in leftovers:
        store.delete(key)
    return len(leftovers)


class LatentStash:
    """The stored latents of one clip: `load` (None if absent or unreadable), `save`, `drop`."""

    def __init__(self, store: MediaStore, media_key: str):
        self.store, self.key = store, latents_key(media_key)
        self._held = None  # what `save` stored, kept for this process's own decode (no read back)

    def exists(self) -> bool:
        return self._held is not None or self.store.exists(self.key)

    def load(self):
        import torch

        if self._held is not None:
            return self._held
        if not self.store.exists(self.key):
            return None
        try:
            with self.store.local_path(self.key) as path:
                return torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):  # a torn or foreign file: denoise again rather than fail
            return None

    def save(self, latents) -> None:
        import torch

        with self.store.writing(self.key) as path:
            # clone(): a batch's clip is a view, and torch.save of a view writes the whole batch's storage.
            torch.save(latents.detach().cpu().clone(), path)
        self._held = latents

    def drop(self) -> None:
        self._held = None
        self.store.delete(self.key)
