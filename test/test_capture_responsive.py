"""The sweep recorder never makes a caller wait for a frame in progress (issue 7).

The capture node's status timer and its stop_sweep service run on the same executor as every
other service; the soak found them stalling 1-4 s behind a slow segmentation. Here a real U^2-Net-p
segmenter is held inside a frame (as on a loaded CPU, for as long as the test likes) while one
thread feeds it: status() and finish() from another thread answer while that frame is still in
the segmenter, and the frame in progress is still stored and the sweep closed on disk right
after it.
"""

from __future__ import annotations

import threading

from automask_ros.core.dataset import SweepWriter, load_sweep, validate_sweep
from automask_ros.core.render import render_sweep
from automask_ros.core.sweep import CaptureParams, SweepRecorder, build_segmenter


class Held:
    """A real segmenter that, once armed, holds each frame until the test releases it."""

    def __init__(self, inner):
        self.inner = inner
        self.armed = False
        self.entered, self.release, self.left = threading.Event(), threading.Event(), threading.Event()

    def __call__(self, rgb, depth=None):
        if not self.armed:
            return self.inner(rgb, depth)
        self.entered.set()
        self.release.wait(60)  # generous: a caller that waited for this frame shows up below
        try:
            return self.inner(rgb, depth)
        finally:
            self.left.set()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_status_and_finish_do_not_wait_for_the_frame_in_progress(tmp_path):
    params = CaptureParams(segmenter="u2net", seg_threads=1, step_deg=30.0, negatives_before=0,
                           contact_sheet=False)
    held = Held(build_segmenter(params))
    recorder = SweepRecorder(SweepWriter(tmp_path, "mug"), held, params)
    frames = list(render_sweep("mug", n_frames=12, size=(160, 120), seed=3, empty_frames=0))
    recorder.feed(frames[0].rgb, stamp=0.0, angle_deg=frames[0].angle_deg)
    assert recorder.status()["seen"] == 1
    held.armed = True
    worker = threading.Thread(target=recorder.feed, args=(frames[1].rgb,),
                              kwargs={"stamp": 1.0, "angle_deg": frames[1].angle_deg})
    worker.start()
    assert held.entered.wait(60), "the second frame never reached the segmenter"
    status = recorder.status()
    closed = recorder.finish("finished", "stopped")
    # both answered while the frame was still held in the segmenter (had they waited for it,
    # the hold would have timed out first and `left` would be set)
    assert not held.left.is_set(), "status()/finish() waited for the frame in progress"
    assert status["seen"] == 1 and status["state"] == "recording"  # the snapshot before this frame
    assert closed["state"] == "finished"
    held.release.set()
    worker.join(60)
    assert not worker.is_alive()
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
