"""The sweep recorder never makes a caller wait for a frame in progress (issue 7).

The capture node's status timer and its stop_sweep service run on the same executor as every
other service; the soak found them stalling 1-4 s behind a slow segmentation. Here a real U^2-Net-p
segmenter is slowed down (as on a loaded CPU) while one thread feeds frames: status() and
finish() from another thread answer at once, and the frame in progress is still stored and the
sweep closed on disk right after it.
"""

from __future__ import annotations

import threading
import time

from automask_ros.core.dataset import SweepWriter, load_sweep, validate_sweep
from automask_ros.core.render import render_sweep
from automask_ros.core.sweep import CaptureParams, SweepRecorder, build_segmenter


class Slow:
    """A real segmenter that takes at least `delay` seconds per frame."""

    def __init__(self, inner, delay):
        self.inner, self.delay = inner, delay

    def __call__(self, rgb, depth=None):
        time.sleep(self.delay)
        return self.inner(rgb, depth)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_status_and_finish_do_not_wait_for_the_frame_in_progress(tmp_path):
    params = CaptureParams(segmenter="u2net", seg_threads=1, step_deg=30.0, negatives_before=0,
                           contact_sheet=False)
    recorder = SweepRecorder(SweepWriter(tmp_path, "mug"), Slow(build_segmenter(params), 1.5), params)
    frames = list(render_sweep("mug", n_frames=12, size=(160, 120), seed=3, empty_frames=0))
    recorder.feed(frames[0].rgb, stamp=0.0, angle_deg=frames[0].angle_deg)
    assert recorder.status()["seen"] == 1
    worker = threading.Thread(target=recorder.feed, args=(frames[1].rgb,),
                              kwargs={"stamp": 1.0, "angle_deg": frames[1].angle_deg})
    worker.start()
    time.sleep(0.3)  # the second frame is being segmented now
    assert worker.is_alive()
    t0 = time.perf_counter()
    status = recorder.status()
    closed = recorder.finish("finished", "stopped")
    answer_s = time.perf_counter() - t0
    assert answer_s < 0.2, f"status/finish waited {answer_s:.2f} s for the frame"
    assert status["seen"] == 1 and status["state"] == "recording"  # the snapshot before this frame
    assert closed["state"] == "finished"
    worker.join(30)
    assert recorder.status()["seen"] == 2
    sweep = load_sweep(recorder.writer.path)
    assert validate_sweep(recorder.writer.path) == []
    assert sweep.meta["state"] == "finished" and sweep.meta["message"] == "stopped"
    assert len(sweep.images) == recorder.status()["kept"] + recorder.status()["negatives"]
    assert sweep.meta["frames_fed"] == 2  # closed after the in-flight frame, which counts


def test_an_error_handler_that_fails_too_does_not_kill_the_frame_worker():
    """On a full disk the capture node's error handler (closing the sweep as failed) fails as
    well; the worker thread must survive it, or the node would never process a frame again."""
    from automask_ros.core.latest import LatestWorker

    seen = []

    def handle(item):
        if item == "bad":
            raise OSError(28, "No space left on device")
        seen.append(item)

    def on_error(exc):
        raise OSError(28, "No space left on device (writing sweep.json)")

    worker = LatestWorker(handle, on_error=on_error)
    worker.submit("bad")
    assert worker.wait_idle()
    worker.submit("good")
    assert worker.wait_idle()
    worker.stop()
    assert seen == ["good"]
    assert worker.stats.errors == 1 and "sweep.json" in worker.stats.last_error
