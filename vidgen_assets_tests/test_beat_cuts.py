"""Cuts on the beat: beats found in a click track, a cut plan that meets them, and a reel that plays them."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import av
import dagster as dg
import numpy as np
import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation.recipe import RENDER_VERSIONS, reel_key
from vidgen_assets.lib.storage import content_key
from vidgen_assets.lib.video import ReelClip, ReelSettings, compile_reel, encode_frames, iter_frames, probe_video
from vidgen_assets.lib.audio.beats import beat_times, track_beats
from vidgen_assets.lib.video.cut_plan import max_shift_setting, plan_cuts
from vidgen_assets.lib.video.encode import ENCODER_SETTINGS
from vidgen_assets.lib.video.reel_audio import audio_stream_info
from vidgen_assets.lib.video.reel_frames import trim_or_hold
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets_tests.conftest import TEST_DAY

FPS = 8
BPM = 120
FIRST_CLICK_S = 0.25
CLICK_TRACK_S = 6.0


def click_track(path: Path, seconds: float = CLICK_TRACK_S, bpm: int = BPM, rate: int = 22_050) -> list[float]:
    """A WAV of short 1 kHz clicks every beat from FIRST_CLICK_S; returns the click times."""
    samples = np.zeros(round(seconds * rate), np.float32)
    ticks = np.arange(int(0.03 * rate))
    click = np.sin(2 * np.pi * 1000 * ticks / rate) * np.exp(-ticks / (0.005 * rate))
    times = list(np.arange(FIRST_CLICK_S, seconds - 0.05, 60 / bpm))
    for time in times:
        start = round(time * rate)
        samples[start : start + len(click)] += click[: len(samples) - start]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray((samples * 20_000).astype(np.int16)[np.newaxis], format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return [float(t) for t in times]


def colour(n: int) -> tuple[int, int, int]:
    return (40 + 60 * (n % 4), 200 - 50 * (n % 4), 60 + 90 * (n // 4 % 2))


def solid_clip(path: Path, count: int, n: int) -> Path:
    encode_frames(path, np.full((count, 64, 64, 3), colour(n), np.uint8), fps=FPS, width=64, height=64)
    return path


def clip_of(frame: np.ndarray, clips: int) -> int:
    """Which clip's colour a decoded frame shows."""
    mean = frame.reshape(-1, 3).mean(axis=0)
    return int(np.argmin([np.abs(mean - colour(n)).sum() for n in range(clips)]))


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> tuple[Path, list[float], list[float]]:
    """The click track, its click times and the beats found in it (librosa is imported once, here)."""
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    clicks = click_track(path)
    return path, clicks, beat_times(path)


# --- beats ------------------------------------------------------------------------------------------------------


def test_the_beats_of_a_click_track_are_its_clicks_within_a_frame(track):
    path, clicks, beats = track
    assert beats == sorted(beats) and len(beats) >= len(clicks) - 2  # the tracker may trim a weak first or last beat
    assert all(min(abs(beat - click) for click in clicks) <= 1 / FPS for beat in beats)
    inner = [click for click in clicks if 0.5 < click < CLICK_TRACK_S - 0.5]
    assert all(min(abs(beat - click) for beat in beats) <= 1 / FPS for click in inner)
    assert track_beats(path).tempo_bpm == pytest.approx(BPM, rel=0.05)


def test_silence_has_no_beats_and_a_missing_or_silent_file_is_a_clear_error(tmp_path):
    silent = tmp_path / "silent.wav"
    with av.open(str(silent), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=22_050, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 22_050), np.int16), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 22_050, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    assert track_beats(silent).times == [] and track_beats(silent).tempo_bpm is None
    with pytest.raises(ValueError, match="does not exist"):
        beat_times(tmp_path / "nowhere.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match="cannot decode audio"):
        beat_times(tmp_path / "junk.wav")


# --- plan_cuts --------------------------------------------------------------------------------------------------


def test_every_cut_with_a_beat_in_reach_lands_within_a_frame_of_it_and_no_clip_is_dropped():
    beats = [0.25 + 0.5 * k for k in range(12)]  # frames 2, 6, 10, ... at 8 fps
    lengths = [7, 9, 6, 8, 5]
    plan = plan_cuts(lengths, FPS, beats, max_shift_frames=3)
    assert plan.off_beat == 0 and plan.on_beat == len(lengths) - 1
    for cut, beat in zip(plan.cuts_s, plan.beats_s):
        assert abs(cut - beat) <= 1 / FPS
    assert all(abs(delta) <= 3 for delta in plan.deltas) and plan.deltas[-1] == 0
    assert all(planned >= max(1, (n + 1) // 2) for n, planned in zip(lengths, plan.planned_frames))
    assert plan.total_frames == sum(plan.planned_frames) and plan.changes_frames
    # The cuts are where the clips' planned lengths put them: shifts do not add up.
    starts = np.cumsum(plan.planned_frames)[:-1] / FPS
    assert list(starts) == pytest.approx(list(plan.cuts_s))


def test_a_cut_with_no_beat_in_reach_stays_and_is_counted_and_short_clips_are_never_trimmed_away():
    plan = plan_cuts([8, 8, 8], FPS, [1.5], max_shift_frames=2)  # beat at frame 12: no cut within 2 frames
    assert plan.deltas == (0, 0, 0) and plan.off_beat == 2 and not plan.changes_frames
    # A 2-frame clip may lose at most one frame, however far the shift is allowed to go.
    plan = plan_cuts([2, 4], FPS, [0.0], max_shift_frames=5)
    assert plan.planned_frames[0] >= 1 and plan.off_beat == 1
    with pytest.raises(ValueError, match="at least one frame"):
        plan_cuts([4, 0], FPS, [])


def test_a_crossfaded_cut_is_the_middle_of_its_fade_and_fades_keep_room():
    plan = plan_cuts([10, 10, 10], FPS, [1.25, 2.25], max_shift_frames=3, crossfade_frames=2)
    # Next clip starts at 8 (10 - 2), its fade's middle at 9 frames; the beat at 10 frames moves it by one.
    assert plan.deltas[0] == 1 and plan.cuts_s[0] == pytest.approx(1.25)
    assert all(abs(c - b) <= 1 / FPS for c, b in zip(plan.cuts_s, plan.beats_s))
    assert all(n >= 4 for n in plan.planned_frames[1:-1])  # a middle clip fades in and out


def test_the_max_shift_setting_is_read_and_checked(monkeypatch):
    assert max_shift_setting() == 3
    monkeypatch.setenv("VIDGEN_REEL_MAX_SHIFT_FRAMES", "5")
    assert max_shift_setting() == 5
    monkeypatch.setenv("VIDGEN_REEL_MAX_SHIFT_FRAMES", "two")
    with pytest.raises(ValueError, match="VIDGEN_REEL_MAX_SHIFT_FRAMES must be a whole number"):
        max_shift_setting()


def test_trim_or_hold_trims_the_tail_or_holds_the_last_frame():
    frames = [np.full((1,), n) for n in range(5)]
    assert [int(f[0]) for f in trim_or_hold(iter(frames), -2)] == [0, 1, 2]
    assert [int(f[0]) for f in trim_or_hold(iter(frames), 2)] == [0, 1, 2, 3, 4, 4, 4]
    assert list(trim_or_hold(iter([]), 3)) == []


# --- the reel ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[ReelClip]:
    folder = tmp_path_factory.mktemp("clips")
    lengths = [7, 9, 6, 8]
    return [ReelClip(path=solid_clip(folder / f"c{n}.mp4", count, n), prompt_id=f"p{n}", prompt="")
            for n, count in enumerate(lengths)]  # fmt: skip


def test_a_reel_cut_on_the_beat_plays_its_soundtrack_as_long_as_its_video(track, clips, tmp_path):
    path, _, beats = track
    plan = plan_cuts([probe_video(c.path).frames for c in clips], FPS, beats, max_shift_frames=3)
    assert plan.changes_frames and plan.on_beat == len(clips) - 1
    out = tmp_path / "reel.mp4"
    result = compile_reel(clips, out, ReelSettings(audio_path=str(path)), plan)
    assert not result.stream_copy and result.info.frames == plan.total_frames
    audio = audio_stream_info(out)
    assert audio["codec"] == "aac"
    assert abs(audio["duration_s"] - result.info.frames / FPS) <= 1 / FPS
    # Where each clip starts in the decoded reel, by the colour of its frames: within a frame of a beat.
    shown = [clip_of(frame, len(clips)) for frame in iter_frames(out)]
    starts = [index for index in range(1, len(shown)) if shown[index] != shown[index - 1]]
    assert [shown[0]] + [shown[i] for i in starts] == list(range(len(clips)))  # every clip plays, in order
    assert all(min(abs(start / FPS - beat) for beat in beats) <= 1 / FPS for start in starts)
    assert [b - a for a, b in zip([0] + starts, starts + [len(shown)])] == plan.planned_frames


def test_a_plan_that_moves_no_cut_keeps_the_stream_copy_and_the_audio(track, clips, tmp_path):
    path, _, _ = track
    unmoved = plan_cuts([7, 9, 6, 8], FPS, [], max_shift_frames=3)
    result = compile_reel(clips, tmp_path / "reel.mp4", ReelSettings(audio_path=str(path)), unmoved)
    assert result.stream_copy and result.info.frames == 30
    assert abs(audio_stream_info(tmp_path / "reel.mp4")["duration_s"] - 30 / FPS) <= 1 / FPS
    with pytest.raises(ValueError, match="cut plan is for 2 clips"):
        compile_reel(clips, tmp_path / "bad.mp4", ReelSettings(), plan_cuts([7, 9], FPS, [0.75]))


def test_the_reel_key_follows_the_soundtrack_and_the_plan_and_is_unchanged_without_them():
    settings = ReelSettings()
    plain = reel_key(["clip-a"], settings, None)
    # The recipe reels had before soundtracks, so days without one keep their reels.
    before = {"clips": ["clip-a"], "audio_sha256": None, "encoder": ENCODER_SETTINGS, "render_version": 1,
              "settings": {k: v for k, v in asdict(settings).items() if k not in ("order", "audio_path")}}  # fmt: skip
    assert plain == content_key("reel", before) and RENDER_VERSIONS["reel"] == 1
    plan = plan_cuts([7, 9], FPS, [0.75]).as_dict()
    with_track = reel_key(["clip-a"], settings, None, soundtrack_key="soundtrack-1", cut_plan=plan)
    assert len({plain, with_track, reel_key(["clip-a"], settings, None, soundtrack_key="soundtrack-2", cut_plan=plan),
                reel_key(["clip-a"], settings, None, soundtrack_key="soundtrack-1", cut_plan={**plan, "deltas": [0, 0]})}) == 4


# --- the reel asset ---------------------------------------------------------------------------------------------


def materialize_reel(track: dict, lengths: list[int]) -> dg.ExecuteInProcessResult:
    """`reel` and its check for TEST_DAY, its inputs given by upstream assets of the same keys."""
    from dagster_aws.s3 import S3Resource

    from vidgen_assets.defs.partitions import daily_partitions
    from vidgen_assets.defs.reels.assets import reel
    from vidgen_assets.defs.reels.checks import reel_plays_and_adds_up
    from vidgen_assets.defs.resources import MediaResource, ReelResource, WarehouseResource

    items = [{"key": f"clip-{n}", "media_key": f"clips/clip-{n}.mp4", "prompt_id": f"p{n}", "motion_bucket_id": 0,
              "params": {"num_frames": count, "fps": FPS}} for n, count in enumerate(lengths)]  # fmt: skip

    @dg.asset(partitions_def=daily_partitions)
    def videos() -> dict:
        return {"items": items, "rows": {i["prompt_id"]: {"prompt": "a fox"} for i in items}, "read": {},
                "quality": {i["key"]: {"passed": True} for i in items}}  # fmt: skip

    @dg.asset(partitions_def=daily_partitions)
    def soundtrack() -> dict:
        return track

    resources = {"media": MediaResource(s3=S3Resource()), "warehouse": WarehouseResource(), "reel_settings": ReelResource()}
    return dg.materialize([videos, soundtrack, reel, reel_plays_and_adds_up], partition_key=TEST_DAY.isoformat(),
                          resources=resources)  # fmt: skip


def test_the_reel_asset_cuts_on_the_soundtrack_and_rerenders_only_when_it_changes(track, vidgen_home):
    from vidgen_assets.lib.storage import LocalMediaStore

    store, lengths = LocalMediaStore(vidgen_home / "media"), [7, 9, 6, 8]
    for n, count in enumerate(lengths):
        with store.writing(f"clips/clip-{n}.mp4") as path:
            solid_clip(path, count, n)
    with store.writing("soundtracks/soundtrack-one.wav") as path:
        path.write_bytes(track[0].read_bytes())
    one = {"partition": TEST_DAY.isoformat(), "key": "soundtrack-one", "media_key": "soundtracks/soundtrack-one.wav",
           "uri": store.uri("soundtracks/soundtrack-one.wav"), "duration_s": CLICK_TRACK_S}  # fmt: skip

    first = materialize_reel(one, lengths)
    value = first.output_for_node("reel")
    (materialization,) = first.asset_materializations_for_node("reel")
    assert value["soundtrack"]["key"] == "soundtrack-one" and not value["cache_hit"]
    assert materialization.metadata["cuts_on_beat"].value == 3 and materialization.metadata["cuts_off_beat"].value == 0
    assert materialization.metadata["beats"].value == len(track[2])
    (check,) = first.get_asset_check_evaluations()
    assert check.passed and check.metadata["audio_codec"].value == "aac", check.description
    assert value["frames"] == sum(lengths) + sum(value["cut_plan"]["deltas"]) < sum(lengths)

    again = materialize_reel(one, lengths).output_for_node("reel")
    assert again["key"] == value["key"] and again["cache_hit"]
    other = materialize_reel({**one, "key": "soundtrack-two"}, lengths).output_for_node("reel")  # a new music prompt
    assert other["key"] != value["key"] and not other["cache_hit"]

    silent = materialize_reel({**one, "key": None, "media_key": None, "uri": None}, lengths)
    plain = silent.output_for_node("reel")
    assert plain["soundtrack"] is None and plain["cut_plan"] is None and plain["frames"] == sum(lengths)
    assert plain["key"] == reel_key([f"clip-{n}" for n in range(4)], ReelSettings(), None)  # as before soundtracks
    assert audio_stream_info(vidgen_home / "media" / plain["media_key"]) is None
    with Warehouse(environment.warehouse_target()).connect() as session:
        rows = session.rows("SELECT key, parent_keys FROM clips WHERE kind = 'reel' AND key = ?", [value["key"]])
    assert "soundtrack-one" in json.loads(rows[0]["parent_keys"])
