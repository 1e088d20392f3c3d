"""Long takes on hosted providers: one provider task per take, each continuing the take before it.

Luma extends the previous take's generation (keyframes.frame0 = {type: "generation", id}), whose id
comes from that take's durable task record; the other providers get the previous take's last frame
through their image-to-video path. Each take is a clip of its own to the runner: its content key (from
`takes.key_takes`), its durable record (created once, a resumed run polls it), its own bill. Finished
takes are reused, so extending 2 takes to 4 creates 2 tasks and a killed run resumes from the last
finished take. The takes are then joined like local takes (`takes.join_takes`).
"""

from __future__ import annotations

from collections.abc import Callable

from ...storage import MediaStore
from ...video.probe import probe_header
from ..takes import join_takes, last_frame, take_seed
from ..videos import ClipParams
from .base import ProviderClient, ProviderRequest
from .io import media_reference
from .records import read_record

RenderTake = Callable[..., dict]  # runner.render_hosted_clip
RequestFor = Callable[..., ProviderRequest]  # runner.provider_request


def _take_item(item: dict, index: int) -> dict:
    """The take as a clip item of its own: its key, media key and seed; no takes of its own. A shot that
    ends on an end keyframe ends there on its last take only: the takes before it run on."""
    take = item["takes"][index]
    params = {**item["params"], "seed": take_seed(item["params"]["seed"], index)}
    last = index == len(item["takes"]) - 1
    return {**item, "key": take["key"], "media_key": take["media_key"], "params": params, "takes": None,
            "end_keyframe_media_key": item.get("end_keyframe_media_key") if last else None}  # fmt: skip


def _continuation(item: dict, index: int, store: MediaStore, client: ProviderClient, request_for: RequestFor):
    """The create request of take `index` > 0, built only if its task must be created."""
    previous = item["takes"][index - 1]
    take_item = _take_item(item, index)
    record = read_record(store, previous["key"]) if getattr(client, "extends_tasks", False) else None
    if record is not None and record.task_id:
        # Luma has the previous generation: continuing it keeps the motion, not just the picture.
        return request_for(take_item, store, client, previous_task_id=record.task_id)
    frame_key = f"frames/{previous['key']}.last.png"
    if not store.exists(frame_key):
        with store.writing(frame_key) as path:
            last_frame(store, previous["media_key"]).save(path, format="PNG")
    image = media_reference(store, frame_key, client.provider, client.max_inline_image_bytes)
    return request_for(take_item, store, client, image=image)


def render_hosted_takes(
    item: dict, store: MediaStore, client: ProviderClient, *, render_take: RenderTake, request_for: RequestFor,
    **run,
) -> dict:  # fmt: skip
    """Render the item's missing takes in order, each through `render_take` (its own task and record), then
    join them into the item's clip. A take the provider refuses leaves the clip out with that refusal."""
    cost = seconds = 0.0
    for index, take in enumerate(item["takes"]):
        take["cache_hit"] = store.exists(take["media_key"])
        if take["cache_hit"]:
            continue
        request = None if index == 0 else (lambda i=index: _continuation(item, i, store, client, request_for))
        done = render_take(_take_item(item, index), store, client, request=request, **run)
        take.update(hosted=done.get("hosted_task", {}), timings=done.get("timings", {}))
        item.update(hosted_task=done.get("hosted_task", {}), device=done.get("device"))
        if "failure" in done:
            cost += done.get("timings", {}).get("cost_usd", 0.0)  # billed, delivered or not
            item.update(cache_hit=False, failure=done["failure"], timings={"cost_usd": round(cost, 6)})
            return item
        take.update(frames=done["frames"], seconds=done["seconds"])
        cost, seconds = cost + done["timings"]["cost_usd"], seconds + done["seconds"]
    with store.local_path(item["takes"][0]["media_key"]) as path:
        header = probe_header(path)  # the provider's own size and rate: hosted params may not say
    params = ClipParams(fps=round(header.fps), width=header.width, height=header.height,
                        take_crossfade_frames=item["params"].get("take_crossfade_frames") or 0)  # fmt: skip
    frames = join_takes(store, [t["media_key"] for t in item["takes"]], item["media_key"], params)
    item.update(cache_hit=False, frames=frames, seconds=round(seconds, 3), device=f"hosted:{client.provider}",
                timings={"cost_usd": round(cost, 6)})  # fmt: skip
    return item
