"""A SweepRecorder shared between the capture node's frame worker and its executor.

The worker feeds frames; the status timer and the stop_sweep service run on the executor. Neither
may wait for a frame being segmented (the soak found them stalling 1-4 s behind a slow FCN):
status() returns the snapshot taken after the previous frame, and finish() during a frame marks
the sweep finished at once and closes it on disk right after that frame, which is still stored.
"""

from __future__ import annotations

import threading

from automask_ros.core.capture.sweep import FrameResult, SweepRecorder


class SweepSession:
    def __init__(self, recorder: SweepRecorder):
        self.recorder = recorder
        self._frame = threading.Lock()  # held while a frame is processed or the sweep is closed
        self._guard = threading.Lock()  # hand-over between finish() and a frame in progress
        self._in_frame = self._closing = False
        self._status = recorder.status()

    @property
    def state(self) -> str:
        return self.recorder.state

    @property
    def done(self) -> bool:
        return self.recorder.done

    @property
    def message(self) -> str:
        return self.recorder.message

    def feed(self, rgb, **kwargs) -> FrameResult:
        """SweepRecorder.feed from the worker thread."""
        with self._frame:
            with self._guard:
                self._in_frame = True
            try:
                return self.recorder.feed(rgb, **kwargs)
            finally:
                with self._guard:
                    self._in_frame, closing, self._closing = False, self._closing, False
                if closing:  # finish() was called while this frame ran
                    self.recorder.close()
                self._status = self.recorder.status()

    def finish(self, state: str = "finished", message: str = "") -> dict:
        """Close the sweep; during a frame, answer at once and close right after that frame."""
        with self._guard:
            if self._in_frame:
                if self.recorder.stop(state, message):
                    self._closing = True
                    self._status = {**self._status, "state": self.recorder.state, "message": self.recorder.message}
                return dict(self._status)
        with self._frame:
            self._status = self.recorder.finish(state, message)
            return dict(self._status)

    def status(self) -> dict:
        """Counts and state, never waiting for a frame in progress."""
        if not self._frame.acquire(blocking=False):
            return dict(self._status)
        try:
            self._status = self.recorder.status()
            return dict(self._status)
        finally:
            self._frame.release()
