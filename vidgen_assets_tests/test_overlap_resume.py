"""A shard's clips decode and encode on a CPU worker while the next denoises (same bytes), a step stopped
during the VAE decode resumes from the stored latents without denoising again, clips denoise in batches,
and the options that change pixels enter the keys of the clips they change."""

from __future__ import annotations

import hashlib
import threading

import pytest
import torch

from vidgen_assets.lib.generation import PIPELINES, ClipParams, get_preset
from vidgen_assets.lib.generation.batching import BatchedDenoise
from vidgen_assets.lib.generation.encode_queue import EncodeQueue
from vidgen_assets.lib.generation.latents import LatentStash, latents_key
from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.render import render_clip_shard, render_keyframe_shard
from vidgen_assets.lib.generation.settings import RenderSettings
from vidgen_assets.lib.generation.shot_plan import shot_inputs
from vidgen_assets.lib.generation.renderers import denoise_shot
from vidgen_assets.lib.generation.shots import ShotInputs
from vidgen_assets.lib.generation.videos import denoise_clip, render_text_to_video
from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets.lib.video.similarity import clip_similarity

ROWS = [{"prompt_id": f"p{n}", "prompt": f"a lantern number {n}", "seed": 11 + n, "negative_prompt": "",
         "num_frames": 4, "motion_bucket_ids": (100, 127)} for n in range(2)]  # fmt: skip


@pytest.fixture(scope="module")
def setup(models_dir, tmp_path_factory):
    """The tiny image-to-video pipeline, the rows' keyframes, and a reference shard rendered serially."""
    root = tmp_path_factory.mktemp("overlap")
    keyframe_store = LocalMediaStore(root / "reference")
    t2i = PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir)
    keyframes = render_keyframe_shard(plan_keyframes(ROWS, "tiny", "tiny"), keyframe_store, lambda *_: t2i,
                                      StepProfile(total=2), report=lambda _: None)  # fmt: skip
    i2v = PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir)
    reference = render(keyframe_store, keyframes, i2v)
    return root, keyframe_store, keyframes, i2v, digests(keyframe_store, reference)


def render(store, keyframes, pipeline, report=lambda _: None, **options) -> list[dict]:
    items = plan_clips(ROWS, keyframes, "tiny")
    return render_clip_shard(items, store, lambda *_: pipeline, StepProfile(total=len(items)),
                             report=report, **options)  # fmt: skip


def digests(store, items) -> dict[str, str]:
    return {i["key"]: hashlib.sha256(open(store.uri(i["media_key"]), "rb").read()).hexdigest() for i in items}


def fresh_store(root, name, keyframe_store, keyframes) -> LocalMediaStore:
    """A store holding only the keyframes (copied), so every clip renders again."""
    store = LocalMediaStore(root / name)
    for keyframe in keyframes:
        with store.writing(keyframe["media_key"]) as path:
            path.write_bytes(open(keyframe_store.uri(keyframe["media_key"]), "rb").read())
    return store


@pytest.fixture
def denoiser_calls(setup):
    """Counts the UNet's forward calls (one per scheduler step) while a test runs."""
    calls = []
    handle = setup[3].unet.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def test_overlapped_shard_writes_the_same_bytes_and_drops_its_latents(setup, denoiser_calls):
    root, keyframe_store, keyframes, i2v, reference = setup
    store = fresh_store(root, "overlapped", keyframe_store, keyframes)
    items = render(store, keyframes, i2v, overlap_encode=True)
    assert len(reference) == 4 and digests(store, items) == reference
    assert all(not i["cache_hit"] and i["frames"] == 4 and i["seconds"] > 0 for i in items)
    assert not (store.root / "latents").exists() or not any((store.root / "latents").rglob("*.pt"))
    assert len(denoiser_calls) > 0


def test_an_encoder_error_fails_the_step(setup, monkeypatch):
    root, keyframe_store, keyframes, i2v, _ = setup
    store = fresh_store(root, "broken-encoder", keyframe_store, keyframes)
    worker_threads = []

    def broken(*args, **kwargs):
        worker_threads.append(threading.current_thread().name)
        raise ValueError("encoder gave up")

    monkeypatch.setattr("vidgen_assets.lib.generation.renderers.decode_clip", broken)
    with pytest.raises(ValueError, match="encoder gave up"):
        render(store, keyframes, i2v, overlap_encode=True)
    assert worker_threads and worker_threads[0].startswith("clip-encode")  # it ran on the worker


@pytest.mark.parametrize("overlap_encode", [False, True])
def test_a_step_stopped_during_decode_resumes_there_without_denoising_again(
    setup, denoiser_calls, monkeypatch, overlap_encode
):
    root, keyframe_store, keyframes, i2v, reference = setup
    store = fresh_store(root, f"resume-{overlap_encode}", keyframe_store, keyframes)

    def preempted(*args, **kwargs):
        raise RuntimeError("pod preempted during decode")

    with monkeypatch.context() as patch:
        patch.setattr(i2v.vae, "decode", preempted)
        with pytest.raises(RuntimeError, match="preempted"):
            render(store, keyframes, i2v, overlap_encode=overlap_encode)
    first = plan_clips(ROWS, keyframes, "tiny")[0]
    assert store.exists(latents_key(first["media_key"])) and not store.exists(first["media_key"])
    steps_before = len(denoiser_calls)
    said = []
    items = render(store, keyframes, i2v, report=said.append, overlap_encode=overlap_encode)
    assert digests(store, items) == reference
    assert "clip p0: decoding the latents an earlier attempt stored (no denoising)" in said
    # Clips whose latents were stored decode from them: the resumed run denoises only the others.
    stashed = 1 if not overlap_encode else 2  # overlapped, the second clip denoised while the first decoded
    assert len(denoiser_calls) - steps_before == (4 - stashed) * (steps_before // stashed)
    assert not any(store.exists(latents_key(i["media_key"])) for i in items)


def test_out_of_memory_in_decode_retries_from_the_stored_latents(setup, denoiser_calls, monkeypatch):
    root, keyframe_store, keyframes, i2v, _ = setup
    store = fresh_store(root, "oom", keyframe_store, keyframes)
    real_decode, failures = i2v.vae.decode, []

    def out_of_memory_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(i2v.vae, "decode", out_of_memory_once)
    items = render(store, keyframes, i2v)
    assert items[0]["decode_chunk_size_used"] < plan_clips(ROWS, keyframes, "tiny")[0]["params"]["decode_chunk_size"]
    steps_per_clip = len(denoiser_calls) // 4
    assert steps_per_clip > 0 and len(denoiser_calls) == 4 * steps_per_clip  # the retry did not denoise again


def test_the_encode_queue_holds_at_most_depth_clips():
    gate, finished, peak = threading.Event(), [], []
    with EncodeQueue(depth=2) as queue:
        for n in range(6):
            queue.submit(lambda n=n: gate.wait(5) and n, lambda job: finished.append(job.result()))
            peak.append(n + 1 - len(finished))
            gate.set()
    assert finished == list(range(6)) and max(peak) <= 2


def test_unreadable_stored_latents_are_denoised_again(setup, denoiser_calls):
    root, keyframe_store, keyframes, i2v, reference = setup
    store = fresh_store(root, "torn", keyframe_store, keyframes)
    with store.writing(latents_key(plan_clips(ROWS, keyframes, "tiny")[0]["media_key"])) as path:
        path.write_bytes(b"not a tensor")
    items = render(store, keyframes, i2v)
    assert digests(store, items) == reference and len(denoiser_calls) % 4 == 0 and denoiser_calls


@pytest.mark.parametrize("overlap_encode", [False, True])
def test_batched_denoising_runs_one_unet_pass_per_step_for_two_clips(setup, denoiser_calls, overlap_encode):
    root, keyframe_store, keyframes, i2v, reference = setup
    store = fresh_store(root, f"batched-{overlap_encode}", keyframe_store, keyframes)
    items = render(store, keyframes, i2v, denoise_batch=2, overlap_encode=overlap_encode)
    steps = items[0]["params"]["num_inference_steps"]
    # Two batches (one per motion bucket: a batch shares every parameter but keyframe and seed), `steps` passes each.
    assert len(denoiser_calls) == 2 * steps
    assert [i["key"] for i in items] == list(reference)  # keys do not depend on batching
    for item in items:  # the same clips as alone, within the last bits of batched kernels' sums
        similarity = clip_similarity(store.uri(item["media_key"]), keyframe_store.uri(item["media_key"]))
        assert similarity["psnr_db"] > 40 and similarity["ssim"] > 0.99, (item["prompt_id"], similarity)
        assert item["frames"] == 4 and item["timings"]["denoise_s"] > 0 and not item["cache_hit"]
    assert not any(store.exists(latents_key(i["media_key"])) for i in items)


def test_a_batch_whose_partner_is_stashed_renders_alone(setup, denoiser_calls):
    root, keyframe_store, keyframes, i2v, reference = setup
    store = fresh_store(root, "batch-resume", keyframe_store, keyframes)
    planned = plan_clips(ROWS, keyframes, "tiny")
    stashed = [i for i in planned if i["prompt_id"] == "p0"]  # p0's two clips denoised before a preemption
    for item in stashed:
        LatentStash(store, item["media_key"]).save(torch.load(_reference_latents(setup, item), weights_only=True))
    denoiser_calls.clear()
    items = render(store, keyframes, i2v, denoise_batch=2)
    assert len(denoiser_calls) == 2 * items[0]["params"]["num_inference_steps"]  # p1's two clips, one by one
    assert digests(store, items) == reference


def test_latents_left_beside_a_clip_that_exists_are_dropped_by_the_next_shard(setup, denoiser_calls, tmp_path):
    # A step stopped after the clip was written but before its latents were dropped leaves them behind.
    _, keyframe_store, keyframes, i2v, reference = setup
    first = plan_clips(ROWS, keyframes, "tiny")[0]
    LatentStash(keyframe_store, first["media_key"]).save(torch.zeros(1, 4, 4, 8, 8))
    items = render(keyframe_store, keyframes, i2v)
    assert all(i["cache_hit"] for i in items) and not denoiser_calls
    assert not keyframe_store.exists(latents_key(first["media_key"]))
    # A batch's clip is a view of the batch: its stash holds that clip's latents only, not the batch's storage.
    batch = torch.randn(4, 8, 4, 32, 32)
    LatentStash(LocalMediaStore(tmp_path), "clips/c.mp4").save(batch[1])
    stored = tmp_path / latents_key("clips/c.mp4")
    assert stored.stat().st_size < batch[1].nbytes * 1.1
    assert torch.equal(torch.load(stored, weights_only=True), batch[1])


def _reference_latents(setup, item):
    """The item's latents as a serial render stores them (denoised alone)."""
    root, keyframe_store, _, i2v, _ = setup
    path = root / f"latents-{item['key']}.pt"
    if not path.exists():
        image = shot_inputs(item, keyframe_store).image
        torch.save(denoise_clip(i2v, image, ClipParams(**item["params"])).cpu(), path)
    return path


def test_denoise_batch_is_bounded():
    with pytest.raises(ValueError, match="1 to 4"):
        BatchedDenoise([], None, None, 5)


def test_pixel_changing_options_enter_the_keys_of_the_clips_they_apply_to(setup):
    _, _, keyframes, _, _ = setup
    text_row = {"prompt_id": "t0", "prompt": "a heron", "seed": 3, "negative_prompt": "", "video_model": "tiny-t2v"}
    explicit = {**ROWS[1], "decode_chunk_size": 4}
    rows = [ROWS[0], explicit, text_row]
    plain = {i["key"]: i for i in plan_clips(rows, keyframes, "tiny")}
    cached = plan_clips(rows, keyframes, "tiny", step_cache=0.05)
    # First-block caching applies to the transformer (Wan) clip: only its key changes.
    assert [i.get("step_cache") for i in cached] == [None] * 4 + [0.05]
    assert [i["key"] in plain for i in cached] == [True] * 4 + [False]
    chunked = plan_clips(rows, keyframes, "tiny", decode_chunk_size=2)
    # The decode chunk is a default: a row that sets its own keeps it; an SVD clip decoded otherwise is keyed apart.
    assert [i["params"]["decode_chunk_size"] for i in chunked[:4]] == [2, 2, 4, 4]
    assert [i["key"] in plain for i in chunked] == [False, False, True, True, True]
    pipeline = RenderSettings(step_cache=0.05).pipeline("tiny-t2v", "text-to-video")
    assert pipeline.transformer.is_cache_enabled


def test_wan_text_to_video_splits_at_the_decode_with_the_pipelines_own_bytes(models_dir, tmp_path):
    pipeline = PIPELINES.get(get_preset("tiny-t2v", "text-to-video"), models_dir)
    preset, params = get_preset("tiny-t2v", "text-to-video"), ClipParams(num_frames=5, seed=4, width=32, height=32)
    whole = render_text_to_video(pipeline, "a heron", "", tmp_path / "whole.mp4", params)
    store = LocalMediaStore(tmp_path / "store")
    stash = LatentStash(store, "clips/heron.mp4")
    decode = denoise_shot(pipeline, preset, ShotInputs(prompt="a heron"), params, stash)
    assert store.exists(stash.key)  # stored before the decode: a decode that dies resumes from here
    split = decode(tmp_path / "split.mp4")
    assert (tmp_path / "split.mp4").read_bytes() == (tmp_path / "whole.mp4").read_bytes()
    assert split.frames == whole.frames == 5 and split.decode_encode_s > 0
