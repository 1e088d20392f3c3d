"""Interrupt a hosted shard or a local shard at many random moments, in one process, and check each trial.

Run: python -m vidgen_assets_tests.interrupt_trials hosted --base-url URL --trials N [--seed S]
     python -m vidgen_assets_tests.interrupt_trials local --trials N [--seed S]

Two ways in, both landing where Dagster's termination lands (the main thread, between two bytecodes):
- `signal`: SIGINT sent to this process after a random delay, as Dagster's `send_interrupt` does;
- `trace` (hosted): KeyboardInterrupt raised by a trace function at the k-th Python event (call, line,
  return) of the main thread, k random: it reaches every point of the waiting code, including the few
  between a lock's acquire and the `with` that releases it, which a timed signal only hits by luck. A
  signal inside `deferred_interrupts()` is held to the block's end, so the trace holds it there too.

Each trial must end within its bound; a watchdog dumps every thread's stack and exits 3 when one does not
(a deadlock). One JSON line per failing trial, then a summary line: {"trials", "failures", "max_stop_s"}.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from vidgen_assets.lib.interrupts import interrupts_deferred


class Watchdog:
    """Ends the process (exit 3, every thread's stack on stderr) when a trial outlives its deadline."""

    def __init__(self) -> None:
        self.deadline: float | None = None
        self.trial = -1
        threading.Thread(target=self._watch, name="watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(0.2)
            if self.deadline is not None and time.monotonic() > self.deadline:
                state = {"sigint_handler": repr(signal.getsignal(signal.SIGINT)), "deferred": interrupts_deferred()}
                print(json.dumps({"trial": self.trial, "problem": "did not end in time: deadlock?", **state}), flush=True)
                faulthandler.dump_traceback(all_threads=True)
                os._exit(3)


class Interrupter:
    """Raises KeyboardInterrupt in the main thread once per trial, only while armed (never after the trial)."""

    def __init__(self) -> None:
        self.armed = False
        self.trial = 0
        self.by_trace = 0  # trials the trace interrupted (the others: a signal)
        self.sent_at: float | None = None
        self.lost = 0  # interrupts CPython swallowed (raised inside a finalizer), sent again
        self.resend = False
        self.open = False  # from arm to disarm
        signal.signal(signal.SIGINT, self._on_signal)
        self._unraisable = sys.unraisablehook
        sys.unraisablehook = self._on_unraisable

    def _on_unraisable(self, unraisable) -> None:
        # A KeyboardInterrupt raised while a finalizer runs (a generator closed by the GC, a WeakSet's
        # callback) is printed as "Exception ignored" and dropped by CPython: the program never sees it,
        # whatever it does. That one Ctrl-C is lost as it would be for a user, who presses it again; so
        # does the harness, unless a later trace/signal interrupt is still due anyway.
        self._unraisable(unraisable)
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and not self.armed and self.sent_at is not None:
            # The trial's sender sends it: sent (or a thread started) from here, the handler would run inside
            # this hook, and the interrupt would be dropped again.
            self.lost += 1
            self.armed, self.resend = True, True

    def _on_signal(self, _signum, _frame) -> None:
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt

    def arm(self, mode: str, delay_s: float, events: int) -> None:
        self.trial += 1
        trial, self.sent_at, self.open = self.trial, None, True

        def send() -> None:
            # The delay counts from the arming (the last statement below): checked before it, a short delay
            # found the harness unarmed and sent nothing, leaving the trial to run until the watchdog.
            while not self.armed and self.trial == trial and self.sent_at is None:
                time.sleep(0.001)
            time.sleep(delay_s)
            if self.armed and self.trial == trial:  # never into a later trial, nor after this one
                self.sent_at = time.monotonic()
                os.kill(os.getpid(), signal.SIGINT)
            while self.trial == trial and self.open:  # until the trial is disarmed
                if self.resend and self.trial == trial:
                    self.resend, self.sent_at = False, time.monotonic()
                    os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.002)

        # In trace mode the signal comes later, in case the run is quieter than `events`.
        threading.Thread(target=send, daemon=True).start()
        if mode == "trace":
            left = [events]

            def trace(frame, event, arg):
                left[0] -= 1
                if left[0] <= 0 and self.armed and not interrupts_deferred():
                    # Still armed: raised inside a finalizer (a generator closed by the GC), the exception is
                    # "ignored" by CPython, as a signal handler's would be; the later signal then ends the trial.
                    left[0], self.sent_at = float("inf"), time.monotonic()
                    self.by_trace += 1
                    sys.settrace(None)
                    raise KeyboardInterrupt
                return trace

            sys.settrace(trace)
        self.armed = True  # last: nothing of the harness's own runs while a signal may raise

    def disarm(self) -> None:
        sys.settrace(None)
        self.armed = self.resend = self.open = False


def hosted(args) -> list[dict]:
    from vidgen_assets.lib.generation.profile import StepProfile
    from vidgen_assets.lib.generation.providers.records import read_record
    from vidgen_assets.lib.generation.providers.registry import client_for
    from vidgen_assets.lib.generation.providers.runner import render_hosted_items
    from vidgen_assets.lib.generation.providers.tasks import HostedSettings
    from vidgen_assets.lib.storage import open_media_store
    from vidgen_assets_tests.fakes.control import FakeServer
    from vidgen_assets_tests.test_providers import day

    fake, client = FakeServer(args.base_url), client_for("replicate", "r8_test_token", args.base_url)
    settings = HostedSettings(concurrency=3, first_poll_s=0.05, max_poll_s=0.2, stop_grace_s=args.grace_s)
    rng, watchdog, interrupter, failures, stops = random.Random(args.seed), args.watchdog, Interrupter(), [], []
    for trial in range(args.trials):
        fake.reset()
        fake.configure(processing_s=60.0)  # every task still open when the interrupt comes
        store = open_media_store(tempfile.mkdtemp(prefix=f"trial{trial}-", dir=args.work))
        items, cancel = day(store, range(3)), trial % 4 != 3  # a cancelled run, or a preempted step
        mode = "trace" if trial % 2 else "signal"
        watchdog.trial, watchdog.deadline = trial, time.monotonic() + args.grace_s + 30
        delay_s = rng.uniform(0.0, 0.4) if mode == "signal" else 1.5
        problem, ended, before = None, None, set(threading.enumerate())
        try:
            interrupter.arm(mode, delay_s=delay_s, events=rng.randint(1, args.events))  # in the try: it may fire at once
            render_hosted_items(items, store, client, StepProfile(total=3), settings=settings,
                                report=lambda line: None, cancel_on_interrupt=lambda: cancel)  # fmt: skip
            problem = "not interrupted: the render returned"
        except KeyboardInterrupt:
            ended = time.monotonic()
        except BaseException as error:  # noqa: BLE001 (an interrupt must come out as itself)
            problem = f"the interrupt came out as {type(error).__name__}: {error}"
        finally:
            interrupter.disarm()
        watchdog.deadline = None
        if problem is None:
            stop_s = ended - interrupter.sent_at
            stops.append(stop_s)
            left = [t.name for t in set(threading.enumerate()) - before if t.name.startswith("hosted-")]
            records = [read_record(store, i["key"]) for i in items]
            problem = _hosted_problem(fake.stats(), records, cancel, stop_s, args.grace_s, left)
        if problem:
            failures.append({"trial": trial, "mode": mode, "cancel": cancel, "problem": problem})
    print(json.dumps({"interrupted_by_trace": interrupter.by_trace, "lost_in_finalizers": interrupter.lost}), file=sys.stderr)
    return failures, stops


def _hosted_problem(stats: dict, records: list, cancel: bool, stop_s: float, grace_s: float, left: list) -> str | None:
    if stop_s > grace_s + 1.0:
        return f"took {stop_s:.2f}s to stop (bound {grace_s + 1.0:.1f}s)"
    if left:
        return f"workers outlived the stop (the fake answers at once: none may be left): {left}"
    created = [r for r in records if r is not None and r.task_id]
    if stats["creates"] != len(created):
        return f"{stats['creates']} tasks created but {len(created)} recorded"
    if cancel and (stats["cancels"] != len(created) or any(r.state != "cancelled" for r in created)):
        return f"cancelled run: {stats['cancels']} cancels of {len(created)} tasks, states {[r.state for r in created]}"
    if not cancel and (stats["cancels"] or any(r.state != "submitted" for r in created)):
        return f"preempted step: {stats['cancels']} cancels, states {[r.state for r in created]} (must stay open)"
    return None


def local(args) -> list[dict]:
    import shutil

    from vidgen_assets.lib.generation import PIPELINES, get_preset
    from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
    from vidgen_assets.lib.generation.render import render_clip_shard, render_keyframe_shard
    from vidgen_assets.lib.generation.profile import StepProfile
    from vidgen_assets.lib.storage import LocalMediaStore
    from vidgen_assets.lib.video import probe_video

    # One image-to-video clip (denoise, VAE decode, encode) and two text-to-video ones, all tiny.
    rows = [{"prompt_id": "i1", "prompt": "a fox", "seed": 1, "num_frames": 2, "motion_bucket_ids": (127,)},
            {"prompt_id": "t1", "prompt": "a heron", "seed": 2, "num_frames": 5, "video_model": "tiny-t2v"},
            {"prompt_id": "t2", "prompt": "a hare", "seed": 3, "num_frames": 5, "video_model": "tiny-t2v"}]  # fmt: skip
    rows = [{"negative_prompt": "", **row} for row in rows]
    models = Path(os.environ["VIDGEN_MODELS_DIR"])
    base = LocalMediaStore(Path(args.work) / "base")
    t2i = PIPELINES.get(get_preset("tiny", "text-to-image"), models)
    keyframes = render_keyframe_shard(plan_keyframes([r for r in rows if r["prompt_id"][0] == "i"], "tiny", "tiny"),
                                      base, lambda *_: t2i, StepProfile(total=1), report=lambda line: None)  # fmt: skip

    def pipeline(preset, task):
        return PIPELINES.get(get_preset(preset, task), models)

    def render(store):
        items = plan_clips(rows, keyframes, "tiny")
        return render_clip_shard(items, store, pipeline, StepProfile(total=len(items)), report=lambda line: None)

    def fresh(trial: int) -> LocalMediaStore:
        root = Path(args.work) / f"trial{trial}"
        shutil.copytree(base.root, root)
        return LocalMediaStore(root)

    render(fresh(-1))  # loads the models
    timings = []
    for attempt in range(3):  # the quickest of three: a busy moment while timing would put signals past the end
        started = time.monotonic()
        render(fresh(-2 - attempt))
        timings.append(time.monotonic() - started)
    whole_s = min(timings)  # interrupts land anywhere in a shard's render and encode
    print(json.dumps({"shard_s": round(whole_s, 3)}), file=sys.stderr)
    rng, watchdog, interrupter, failures, stops = random.Random(args.seed), args.watchdog, Interrupter(), [], []
    for trial in range(args.trials):
        store = fresh(trial)
        watchdog.trial, watchdog.deadline = trial, time.monotonic() + args.grace_s + 30
        problem, ended = None, None
        try:
            interrupter.arm("signal", delay_s=rng.uniform(0.0, whole_s), events=0)
            render(store)
        except KeyboardInterrupt:
            ended = time.monotonic()
        except BaseException as error:  # noqa: BLE001 (an interrupt must come out as itself)
            problem = f"the interrupt came out as {type(error).__name__}: {error}"
        finally:
            interrupter.disarm()
        watchdog.deadline = None
        if ended is not None:
            stop_s = ended - interrupter.sent_at
            stops.append(stop_s)
            if stop_s > args.grace_s:
                problem = f"took {stop_s:.2f}s to stop (bound {args.grace_s:.1f}s)"
        leftovers = [p.name for p in store.root.rglob("*") if p.name.endswith(".partial")]
        clips = sorted((store.root / "clips").glob("*.mp4")) if (store.root / "clips").is_dir() else []
        broken = [p.name for p in clips if probe_video(p).frames not in (2, 5)]
        problem = problem or (leftovers and f"partial files left: {leftovers}") or (broken and f"clips that don't decode: {broken}")
        if not problem and trial % 10 == 0:  # the next run finishes the shard from what the interrupted one left
            problem = None if len(render(store)) == 3 and len(list((store.root / "clips").glob("*.mp4"))) == 3 else "rerun incomplete"
        if problem:
            failures.append({"trial": trial, "problem": problem})
        shutil.rmtree(store.root)
    return failures, stops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("hosted", "local"))
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-url")
    parser.add_argument("--grace-s", type=float, default=2.0)
    parser.add_argument("--events", type=int, default=4000, help="trace mode: interrupt at a random event up to this")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    args.work = args.work or tempfile.mkdtemp(prefix="interrupt-trials-")
    args.watchdog = Watchdog()
    failures, stops = hosted(args) if args.kind == "hosted" else local(args)
    # The process must end too: a worker thread that holds up the interpreter's exit is the same hang.
    args.watchdog.trial, args.watchdog.deadline = "exit", time.monotonic() + 30
    for failure in failures:
        print(json.dumps(failure), flush=True)
    summary = {"trials": args.trials, "failures": len(failures), "interrupted": len(stops),
               "max_stop_s": round(max(stops, default=0.0), 3)}  # fmt: skip
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
