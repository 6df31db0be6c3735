"""The capture node's sweep never makes a caller wait for a frame in progress (issue 7).

The capture node's status timer and its stop_sweep service run on the same executor as every
other service; the soak found them stalling 1-4 s behind a slow segmentation. Here a real U^2-Net-p
segmenter is held inside a frame (as on a loaded CPU) while one thread feeds it through
ros/sweep_session.py: status() and finish() from another thread answer while that frame is still
held, and the frame in progress is still stored and the sweep closed on disk right after it.
"""

from __future__ import annotations

import threading

from automask_ros.core.capture.capture_params import CaptureParams
from automask_ros.core.capture.dataset import SweepWriter, load_sweep, validate_sweep
from automask_ros.core.demo.render import render_sweep
from automask_ros.core.capture.segment import make_segmenter
from automask_ros.core.capture.sweep import SweepRecorder
from automask_ros.ros.sweep_session import SweepSession


class Held:
    """A real segmenter that, once armed, waits inside the frame until the test releases it."""

    def __init__(self, inner):
        self.inner = inner
        self.armed, self.inside, self.release = False, threading.Event(), threading.Event()

    def __call__(self, rgb, depth=None):
        if self.armed:
            self.inside.set()
            assert self.release.wait(60), "the test never released the frame"
        return self.inner(rgb, depth)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_status_and_finish_do_not_wait_for_the_frame_in_progress(tmp_path):
    params = CaptureParams(segmenter="u2net", seg_threads=1, step_deg=30.0, negatives_before=0, empty_frames=0,
                           contact_sheet=False)
    segmenter = Held(make_segmenter(params.segmenter, **params.segmenter_kwargs()))
    session = SweepSession(SweepRecorder(SweepWriter(tmp_path, "mug"), segmenter, params))
    frames = list(render_sweep("mug", n_frames=12, size=(160, 120), seed=3, empty_frames=0))
    session.feed(frames[0].rgb, stamp=0.0, angle_deg=frames[0].angle_deg)
    assert session.status()["seen"] == 1
    segmenter.armed = True
    worker = threading.Thread(target=session.feed, args=(frames[1].rgb,),
                              kwargs={"stamp": 1.0, "angle_deg": frames[1].angle_deg})
    worker.start()
    assert segmenter.inside.wait(60)  # the second frame is being segmented now, and stays there
    answers = {}
    caller = threading.Thread(target=lambda: answers.update(status=session.status(),
                                                            closed=session.finish("finished", "stopped")))
    caller.start()
    caller.join(30)  # while the frame is held: a caller that waited for it would still be blocked
    assert not caller.is_alive(), "status()/finish() waited for the frame in progress"
    assert worker.is_alive()  # the frame really was still in progress when they answered
    segmenter.release.set()
    worker.join(60)
    assert answers["status"]["seen"] == 1 and answers["status"]["state"] == "recording"  # snapshot before it
    assert answers["closed"]["state"] == "finished"
    assert session.status()["seen"] == 2
    path = session.recorder.writer.path
    sweep = load_sweep(path)
    assert validate_sweep(path) == []
    assert sweep.meta["state"] == "finished" and sweep.meta["message"] == "stopped"
    assert len(sweep.images) == session.status()["kept"] + session.status()["negatives"]
    assert sweep.meta["frames_fed"] == 2  # closed after the in-flight frame, which counts


def test_an_error_handler_that_fails_too_does_not_kill_the_frame_worker():
    """On a full disk the capture node's error handler (closing the sweep as failed) fails as
    well; the worker thread must survive it, or the node would never process a frame again."""
    from automask_ros.core.shared.latest import LatestWorker

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
