"""The sweep recorder: frames in, a clean one-revolution mask dataset out.

The capture node and `automask capture` both drive the same streaming object:

    recorder = SweepRecorder(SweepWriter(root, label), make_segmenter(p.segmenter, **p.segmenter_kwargs()), p)
    for rgb, stamp in frames:
        result = recorder.feed(rgb, stamp)          # kept / rejected / skipped / negative / done
        if recorder.done:
            break
    recorder.finish()                               # sweep.json state + QA contact sheet

It composes one small part per job: the turn angle (core/capture/turn_angle.py), frame selection and
loop closure (core/capture/frame_select.py, core/capture/loop_closure.py), segmentation and clean-up
(core/capture/segment.py, core/capture/cleanup.py), quality gates (core/capture/quality_gates.py), the phases and
negatives (core/capture/sweep_phases.py), the contact-sheet thumbnails (core/capture/contact_sheet.py) and the
writer (core/capture/dataset.py). The first `empty_frames` frames are the empty turntable; the first
negative is the background reference. It is not thread-safe: the capture node wraps it
(ros/sweep_session.py) so that status and stop never wait for a frame in progress.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..shared.camera import IntrinsicsError
from .capture_params import CaptureParams
from .cleanup import cleanup
from .contact_sheet import SheetThumbnails, write_contact_sheet
from .dataset import SweepWriter
from ..shared.depth import DepthError, DepthFrame
from .frame_select import ViewSelector
from .loop_closure import LoopClosure
from .plane import PlaneError
from .quality_gates import QualityGates
from .segment import Segmenter, check_rgb
from .sweep_phases import SweepPhases
from .turn_angle import TurnAngle
from .view_change import thumbnail


@dataclass
class FrameResult:
    """What happened to one fed frame."""

    status: str                      # kept | rejected | skipped | negative | done
    reason: str = ""
    mask: np.ndarray | None = None   # cleaned mask (also for rejected frames), None when not segmented
    quality: dict = field(default_factory=dict)
    coverage_deg: float = 0.0
    image_id: int | None = None


def preview_mask(segmenter: Segmenter, rgb: np.ndarray, params: CaptureParams) -> tuple[np.ndarray, float]:
    """The cleaned mask a sweep would start from, and its area fraction: the capture node's idle
    preview (no sweep, no previous mask, nothing written)."""
    prob = segmenter(rgb)
    bg = getattr(segmenter, "last_background", None)
    mask, q = cleanup(prob, params.cleanup, rgb=rgb,
                      bg_prob=bg if bg is not None and bg.shape == prob.shape else None)
    return mask, float(q["area_frac"])


class SweepRecorder:
    """Streaming recorder: feed frames, it selects, segments, cleans, gates and writes them."""

    def __init__(self, writer: SweepWriter, segmenter: Segmenter, params: CaptureParams | dict | None = None):
        self.params = p = params if isinstance(params, CaptureParams) else CaptureParams.from_dict(params)
        p.validate()
        self.writer, self.segmenter = writer, segmenter
        self.state = "recording"
        self.seen = 0
        self.angle = TurnAngle(p.turntable_period_s)
        self.views = ViewSelector(p.step_deg, p.revolutions, p.min_change,
                                  LoopClosure(p.loop_closure, p.loop_min_frames, p.loop_depart, p.loop_close))
        self.gates = QualityGates.from_params(p)
        self.phases = SweepPhases(p.negatives_before, p.negatives_after, p.after_timeout_s)
        self.sheet = SheetThumbnails()
        self.contact_sheet: str | None = None
        self._t0: float | None = None
        self._prev_mask: np.ndarray | None = None
        self._depth: DepthFrame | None = None  # depth of the frame being processed
        writer.meta["params"] = p.to_dict()
        writer.meta["segmenter"] = segmenter.describe()

    # the phases' view of the sweep, read by the node and the CLI
    done = property(lambda self: self.phases.done)
    phase = property(lambda self: self.phases.phase)
    revolution_done = property(lambda self: self.phases.revolution_done)

    @property
    def message(self) -> str:
        return self.phases.message

    @message.setter
    def message(self, text: str) -> None:
        self.phases.message = text

    # ---------------------------------------------------------------- public API
    def feed(self, rgb: np.ndarray, stamp: float | None = None, angle_deg: float | None = None,
             source=None, empty: bool | None = None, depth: DepthFrame | None = None) -> FrameResult:
        """Process one frame. empty=True: the caller knows the turntable is empty (a negative; the
        first `empty_frames` frames are that anyway). depth: aligned depth of the same instant."""
        rgb = check_rgb(rgb)
        if self.state != "recording":
            raise RuntimeError(f"sweep is {self.state}: start a new sweep to record more frames")
        self._depth = depth
        if self.done:
            return self._result("done", "sweep complete")
        self.seen += 1
        empty = empty or self.seen <= self.params.empty_frames
        now = float(stamp) if stamp is not None else time.monotonic()
        if self._t0 is None:
            self._t0 = now
        p = self.params
        if p.max_duration_s > 0 and now - self._t0 > p.max_duration_s:
            self._revolution_complete("max_duration_s reached")
            return self._result("done", "max_duration_s reached")
        if self.phase == "after":
            return self._feed_after(rgb, now, source, stamp)
        raw = self.angle.raw(None if stamp is None else now - self._t0, angle_deg)
        angle = self.angle.update(raw, wraps=angle_deg is not None) if self.phase == "object" else raw
        thumb = thumbnail(rgb)
        if empty or (self.phase == "before" and self._needs_reference()):
            return self._negative(rgb, stamp, source, "before")
        if self.phase == "object":
            new, complete = self.views.is_new_view(thumb, angle, self.writer.counts["kept"])
            if complete:
                self._revolution_complete(complete)
            if not new:
                return self._result("skipped", "not a new view yet")
            if self.done:
                return self._result("done", self.message)
        return self._segment_and_store(rgb, thumb, stamp, angle, source, now)

    def stop(self, state: str = "finished", message: str = "") -> bool:
        """Mark the sweep finished or failed without writing yet; False if it was not recording."""
        if state not in ("finished", "failed"):
            raise ValueError(f"state {state!r} must be 'finished' or 'failed'")
        if self.state != "recording":
            return False
        self.state = state
        self.message = message or self.message or ("sweep complete" if state == "finished" else "failed")
        return True

    def close(self) -> None:
        """Write the contact sheet and the final sweep.json."""
        sheet = None
        if self.params.contact_sheet and self.sheet.items:
            try:
                sheet = str(write_contact_sheet(self.writer.path / "contact_sheet.png", self.sheet.items,
                                                title=f"{self.writer.label}: {self._summary()}"))
            except OSError:
                sheet = None
        self.writer.meta["segmenter"] = self.segmenter.describe()
        self.writer.finish(self.state, self.message, coverage_deg=round(self.coverage_deg, 2),
                           loop_closed=self.views.loop.closed, contact_sheet=sheet, frames_fed=self.seen)
        self.contact_sheet = sheet

    def finish(self, state: str = "finished", message: str = "") -> dict:
        """Close the sweep (finished or failed): sweep.json and the contact sheet. A sweep already
        closed stays as it is."""
        if self.stop(state, message):
            self.close()
        return self.status()

    def status(self) -> dict:
        """Counts and state."""
        c = self.writer.counts
        return {"state": self.state, "seen": self.seen, "kept": c["kept"], "rejected": c["rejected"],
                "negatives": c["negatives"], "coverage_deg": round(self.coverage_deg, 2),
                "path": str(self.writer.path), "message": self.message, "phase": self.phase, "done": self.done}

    @property
    def coverage_deg(self) -> float:
        """Degrees covered by kept views (each stands for step_deg): from angles when known,
        360 after a loop closure, else estimated as kept x step_deg."""
        p = self.params
        if self.angle.known:
            last = self.views.last_angle
            return 0.0 if last is None else float(min(360.0 * p.revolutions, last + p.step_deg))
        if self.views.loop.closed:
            return 360.0
        return float(min(360.0, self.writer.counts["kept"] * p.step_deg))

    # ---------------------------------------------------------------- steps
    def _result(self, status: str, reason: str) -> FrameResult:
        return FrameResult(status, reason, coverage_deg=self.coverage_deg)

    def _needs_reference(self) -> bool:
        return bool(getattr(self.segmenter, "needs_reference", False)) and not self.segmenter.has_reference

    def _revolution_complete(self, why: str) -> None:
        self.phases.revolution_complete(why)

    def _segment_and_store(self, rgb, thumb, stamp, angle, source, now) -> FrameResult:
        p = self.params
        try:
            prob = self.segmenter(rgb, self._depth)
        except (DepthError, IntrinsicsError, PlaneError) as exc:
            # one bad depth frame (a hand in the way, a dropout) costs that frame, not the sweep
            return self._reject(f"depth unusable: {exc}", rgb, None, {}, stamp, angle, source)
        bg = getattr(self.segmenter, "last_background", None)
        mask, q = cleanup(prob, p.cleanup, prev_mask=self._prev_mask, rgb=rgb,
                          bg_prob=bg if bg is not None and bg.shape == prob.shape else None)
        empty_mask = q["area_frac"] < p.min_area_frac
        if self.phase == "before" and bg is not None and bg.shape == prob.shape and not empty_mask:
            # an FCN may find the bare turntable salient: nothing has appeared until the frame
            # differs from the empty reference somewhere
            empty_mask = float((bg > 0.5).mean()) < p.min_area_frac
        if self.phase == "before":
            if empty_mask:
                return self._negative(rgb, stamp, source, "before")
            self.phases.object_appeared()
            angle = self.angle.start(angle)
        if empty_mask:
            if self.writer.counts["kept"] and p.negatives_after > 0 and angle is None:
                self.phases.wait_for_removal("object removed")
                return self._feed_after(rgb, now, source, stamp)
            return self._reject("no object found", rgb, mask, q, stamp, angle, source)
        reason = self.gates.reason(q)
        if reason:
            return self._reject(reason, rgb, mask, q, stamp, angle, source)
        return self._keep(rgb, thumb, mask, q, stamp, angle, source)

    def _keep(self, rgb, thumb, mask, q, stamp, angle, source) -> FrameResult:
        image_id = self.writer.add_frame(rgb, mask, angle_deg=angle, stamp=stamp, source=source, quality=q,
                                         depth=self._depth)
        self.views.kept(thumb, angle)
        self.gates.kept(q["area_frac"])
        self._prev_mask = mask
        self.sheet.add(rgb, mask, "kept", f"{len(self.gates.areas)}" + ("" if angle is None else f" {angle:.0f}deg"))
        if self.params.max_frames and self.writer.counts["kept"] >= self.params.max_frames:
            self._revolution_complete("max_frames reached")
        return FrameResult("kept", "", mask, q, self.coverage_deg, image_id)

    def _reject(self, reason, rgb, mask, q, stamp, angle, source) -> FrameResult:
        self.writer.reject(reason, source=source, angle_deg=angle, stamp=stamp, quality=q)
        self.gates.rejected()
        self.sheet.add(rgb, mask, "rejected", reason)
        return FrameResult("rejected", reason, mask, q, self.coverage_deg)

    def _negative(self, rgb, stamp, source, when) -> FrameResult:
        """Store an empty-turntable frame (and use the first as the background reference)."""
        if when == "before" and not self.segmenter.has_reference:
            self.segmenter.set_reference(rgb, self._depth)
        if not self.phases.wants_negative(when):
            return self._result("skipped", "empty turntable (enough negatives)")
        image_id = self.writer.add_frame(rgb, None, angle_deg=None, stamp=stamp, source=source,
                                         quality={"negative": when}, depth=self._depth)
        self.phases.stored_negative(when)
        self.sheet.add(rgb, None, "negative", f"empty ({when})")
        return FrameResult("negative", f"empty turntable ({when})", None, {}, self.coverage_deg, image_id)

    def _feed_after(self, rgb, now, source, stamp) -> FrameResult:
        """After the revolution: wait for the object to be taken away, then store empty frames."""
        if self.phases.after_timed_out(now):
            return self._result("done", "after-negatives timed out")
        prob = self.segmenter(rgb, self._depth)
        mask, q = cleanup(prob, self.params.cleanup, rgb=rgb)
        if q["area_frac"] >= self.params.min_area_frac:
            return FrameResult("skipped", "waiting for the object to be removed", mask, q, self.coverage_deg)
        return self._negative(rgb, stamp, source, "after")

    def _summary(self) -> str:
        c = self.writer.counts
        return (f"{c['kept']} kept, {c['rejected']} rejected, {c['negatives']} negatives, "
                f"{self.coverage_deg:.0f} deg")
