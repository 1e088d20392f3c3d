"""Denoise 2–4 clips of a shard in one pipeline call (a batch), then decode each as usual.

Only clips that share everything but their keyframe and seed can share a call: the pipeline takes one
set of parameters. Each clip gets its own generator, so its noise is the one it gets alone; the batched
kernels sum in another order, so its latents differ from a lone render's in the last bits (the decoded
clip stays within the bench's quality tolerance, and its key is unchanged, as for keyframe batches).
A batch's latents go into each clip's stash (lib/generation/latents.py): the shard's loop then decodes
them as it would after a resume. An out-of-memory batch is left to the loop, which renders one by one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ..storage import MediaStore
from .latents import LatentStash
from .loader import is_out_of_memory, release_memory
from .plan import GetPipeline
from .presets import get_preset
from .shot_plan import shot_inputs
from .videos import ClipParams, denoise_clips

# Pipelines whose call takes a list of images and one generator per image.
BATCHED_PIPELINES = frozenset({"StableVideoDiffusionPipeline"})
MAX_DENOISE_BATCH = 4


def batchable(item: dict) -> bool:
    """A plain image-to-video shot: a keyframe and nothing made from other shots, one take."""
    preset = get_preset(item["preset"], item["task"])
    return (
        preset.pipeline_class in BATCHED_PIPELINES and bool(item.get("keyframe_media_key"))
        and not item.get("after") and not item.get("start_clip") and item["params"].get("takes", 1) == 1
    )  # fmt: skip


def _call_key(item: dict) -> tuple:
    """What a batch's clips must share: model, dtype and every parameter but the seed."""
    params = {name: value for name, value in item["params"].items() if name != "seed"}
    return item["preset"], item["task"], item["dtype"], tuple(sorted(params.items()))


class BatchedDenoise:
    """Groups a shard's batchable clips `size` at a time; `stash_for(item)` denoises the item's batch on first
    call and returns the item's stash with its latents, and `share(item)` its part of the batch's seconds."""

    def __init__(self, items: Sequence[dict], store: MediaStore, get_pipeline: GetPipeline, size: int,
                 report: Callable[[str], None] = print):  # fmt: skip
        if not 1 <= size <= MAX_DENOISE_BATCH:
            raise ValueError(f"denoise batch size must be 1 to {MAX_DENOISE_BATCH}, got {size}")
        self.store, self.get_pipeline, self.report = store, get_pipeline, report
        self._stashes = {id(item): LatentStash(store, item["media_key"]) for item in items}
        self._batch_of: dict[int, list[dict]] = {}
        self._seconds: dict[int, float] = {}
        groups: dict[tuple, list[dict]] = {}
        for item in items:
            if size > 1 and batchable(item):
                groups.setdefault(_call_key(item), []).append(item)
        for group in groups.values():
            for start in range(0, len(group), size):
                batch = group[start : start + size]
                for item in batch if len(batch) > 1 else ():
                    self._batch_of[id(item)] = batch

    def stash_for(self, item: dict) -> LatentStash:
        stash = self._stashes.get(id(item)) or LatentStash(self.store, item["media_key"])
        batch = self._batch_of.pop(id(item), None)
        if batch is not None:
            for other in batch:
                self._batch_of.pop(id(other), None)  # one call per batch, whatever happens to it
            self._denoise([other for other in batch if not self._stashes[id(other)].exists()])
        return stash

    def share(self, item: dict) -> float:
        """The item's equal share of its batch's denoising seconds (0 when it was not batched)."""
        return self._seconds.get(id(item), 0.0)

    def _denoise(self, batch: list[dict]) -> None:
        if len(batch) < 2:  # the others' latents were stashed by an earlier run: render it alone
            return
        first = batch[0]
        pipeline = self.get_pipeline(first["preset"], first["task"])
        started = time.perf_counter()
        try:
            images = [shot_inputs(item, self.store).image for item in batch]
            latents = denoise_clips(pipeline, images, [ClipParams(**item["params"]) for item in batch])
        except Exception as error:
            if not is_out_of_memory(error):
                raise
            release_memory()
            self.report(f"out of memory denoising {len(batch)} clips at once: rendering them one by one")
            return
        share = (time.perf_counter() - started) / len(batch)
        for item, one in zip(batch, latents):
            self._stashes[id(item)].save(one)
            self._seconds[id(item)] = share
