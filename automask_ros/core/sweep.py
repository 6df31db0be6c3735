"""The sweep recorder: frames in, a clean one-revolution mask dataset out.

The capture node and `automask capture` both drive the same streaming object:

    recorder = SweepRecorder(SweepWriter(root, label), build_segmenter(params), params)
    for rgb, stamp in frames:
        result = recorder.feed(rgb, stamp)          # kept / rejected / skipped / negative / done
        if recorder.done:
            break
    recorder.finish()                               # sweep.json state + QA contact sheet

Frame selection happens before segmentation (a skipped frame costs a thumbnail, not an FCN
pass): a frame is a new view once the turntable has turned `step_deg`, known from an angle
reading, from elapsed time and `turntable_period_s`, or, when neither is known, from appearance
change (only near-duplicates are thinned). Empty-turntable frames before the object appears
(and after it is taken away) are stored as negatives; the first one is the background reference.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, fields

import cv2
import numpy as np

from .cleanup import CleanupParams, cleanup
from .dataset import SweepWriter
from .camera import IntrinsicsError
from .depth import DepthError, DepthFrame
from .plane import PlaneError
from .segment import CroppedSegmenter, Segmenter, check_rgb, make_segmenter


def _p(default, doc, lo=None, hi=None):
    """A CaptureParams field: its doc, and its range [lo, hi] (the node declares it to ROS, which
    refuses an out-of-range `ros2 param set`; validate() refuses it from YAML and the CLI)."""
    meta = {"doc": doc, "min": lo, "max": hi}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


SEGMENTERS = ("auto", "u2net", "torchvision", "background", "depth", "fused", "fused-torchvision")


@dataclass
class CaptureParams:
    """Every capture setting; the node reads them as ROS parameters, the CLI from YAML."""

    dataset_root: str = _p("automask_data", "folder sweeps are written to (CLI: --out)")
    segmenter: str = _p("auto", "auto (geometry from depth when the camera gives it, fused with the "
                        "u2net FCN and the difference from the empty frame once one is seen), u2net, "
                        "torchvision, background, depth or fused")
    model_path: str = _p("", "u2net: ONNX file (empty = the bundled U^2-Net-p); torchvision: weights "
                         "(DEFAULT/enum name, .pth file or automask bundle)")
    torchvision_arch: str = _p("lraspp_mobilenet_v3_large", "torchvision backend architecture")
    torchvision_classes: list = _p([], "VOC class names that count as object (empty = every non-background class)")
    seg_threads: int = _p(2, "CPU threads for the segmenter (onnxruntime intra-op / torch)", 1, 64)
    fcn_weight: float = _p(0.2, "fused: weight of the FCN against background evidence (0..1)", 0.0, 1.0)
    bg_threshold: float = _p(25.0, "background: colour distance (grey levels) that is 50% object", 0.0, 255.0)
    # depth (core/depth_segment.py): the object is what stands on the turntable top
    min_height_m: float = _p(0.006, "depth: object points stand at least this far above the turntable top "
                             "(and at least 3 sigma of the sensor noise at their range)", 0.0, 1.0)
    max_height_m: float = _p(0.6, "depth: ... and at most this far (taller things are not the object)", 0.01, 10.0)
    turntable_radius_m: float = _p(0.0, "depth: radius of the turntable top in metres; 0 = estimate it", 0.0, 5.0)
    # frame selection and revolution
    step_deg: float = _p(5.0, "keep a frame each time the turntable has turned this far", 0.1, 180.0)
    turntable_period_s: float = _p(0.0, "seconds per revolution, to infer the angle from time (0 = unknown)", 0.0, 3600.0)
    min_change: float = _p(0.001, "no angle known: fraction of thumbnail pixels changed by > 8 grey levels "
                           "that makes a new view (thins only near-duplicates; raise it to thin a video)", 0.0, 1.0)
    revolutions: float = _p(1.0, "stop after this many turns when the angle is known", 0.1, 10.0)
    loop_closure: bool = _p(True, "no angle known: stop when the view returns to the first kept one")
    loop_min_frames: int = _p(12, "loop closure needs at least this many kept frames", 1, 10000)
    loop_depart: float = _p(0.03, "loop closure needs the view to have changed this much from the first", 0.0, 1.0)
    loop_close: float = _p(0.005, "loop closed when the change from the first kept view drops to this, "
                           "or to half the typical change between consecutive kept views", 0.0, 1.0)
    max_frames: int = _p(0, "stop after this many kept frames (0 = no limit)", 0, 1000000)
    max_duration_s: float = _p(0.0, "stop after this many seconds of stream time (0 = no limit)", 0.0, 1000000.0)
    # quality gates
    min_area_frac: float = _p(0.002, "mask smaller than this fraction of the frame = no object", 0.0, 1.0)
    max_area_frac: float = _p(0.9, "reject masks larger than this fraction of the frame", 0.0, 1.0)
    max_area_jump: float = _p(0.35, "reject when the area changes by more than this fraction of the previous kept frame's", 0.0, 100.0)
    max_border_contact: float = _p(0.5, "reject when this fraction of the frame border is object (a mask leaking into the background)", 0.0, 1.0)
    max_components: int = _p(6, "reject when the FCN mask breaks into more significant blobs than this", 1, 1000)
    min_iou_prev: float = _p(0.5, "reject when IoU with the previous kept mask is below this", 0.0, 1.0)
    reanchor_after: int = _p(4, "after this many rejections in a row, accept the new look (no temporal gates)", 0, 1000)
    # negatives
    negatives_before: int = _p(3, "empty-turntable frames to store before the object appears", 0, 1000)
    negatives_after: int = _p(0, "empty-turntable frames to store after the revolution (object removed)", 0, 1000)
    after_timeout_s: float = _p(10.0, "stop waiting for the after-negatives after this long", 0.0, 3600.0)
    # clean-up (core/cleanup.py)
    threshold: str = _p("0.5", "probability threshold: a fixed value, or otsu")
    otsu_min: float = _p(0.15, "Otsu threshold lower clamp", 0.0, 1.0)
    otsu_max: float = _p(0.6, "Otsu threshold upper clamp", 0.0, 1.0)
    low_ratio: float = _p(0.5, "hysteresis: grow into pixels above low_ratio x threshold (1 = off)", 0.0, 1.0)
    consistent_iou: float = _p(0.9, "FCN masks this close (IoU) to the previous mask are trusted; others are "
                               "repaired by GrabCut seeded with the previous mask", 0.0, 1.0)
    grabcut_iters: int = _p(3, "GrabCut colour refinement iterations (0 = off)", 0, 50)
    grabcut_sure: float = _p(0.8, "probability above which a pixel seeds GrabCut as surely object", 0.0, 1.0)
    grabcut_max_side: int = _p(320, "GrabCut works at most at this size (long side)", 16, 8192)
    prior_erode: float = _p(0.03, "previous mask shrunk by this fraction of the short side is the prior", 0.0, 1.0)
    max_growth: float = _p(1.3, "GrabCut may not grow the mask beyond this x max(FCN mask, prior)", 1.0, 100.0)
    open_px: int = _p(-1, "opening kernel (px); -1 = 1% of the short side", -1, 1000)
    close_px: int = _p(-1, "closing kernel (px); -1 = 2% of the short side", -1, 1000)
    min_component_frac: float = _p(0.0005, "blobs below this fraction of the frame are noise", 0.0, 1.0)
    keep_ratio: float = _p(0.15, "also keep blobs at least this x the main blob that lie near it", 0.0, 1.0)
    near_frac: float = _p(0.03, "'near' = within this fraction of the short side", 0.0, 1.0)
    fill_holes: bool = _p(True, "fill enclosed holes unless they look like background seen through")
    hole_keep_min_frac: float = _p(0.002, "holes smaller than this fraction of the object are always filled", 0.0, 1.0)
    hole_colour_tol: float = _p(18.0, "Lab distance under which a hole matches the outside background", 0.0, 500.0)
    roi: list = _p([0.0, 0.0, 1.0, 1.0], "turntable region [x0, y0, x1, y1] as fractions of the frame: "
                   "without depth the FCN looks only here, and clean-up keeps the blob inside it")
    # QA
    contact_sheet: bool = _p(True, "write contact_sheet.png (kept frames with masks, rejections) at the end")

    @classmethod
    def from_dict(cls, d: dict | None) -> "CaptureParams":
        """Build from a plain dict (ROS parameters or YAML); unknown keys and bad types are errors."""
        d = dict(d or {})
        known = {f.name: f for f in fields(cls)}
        defaults = cls()
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown capture parameter(s) {', '.join(unknown)}: see config/capture.yaml "
                             "for the known ones")
        out = {}
        for name, value in d.items():
            kind = type(getattr(defaults, name))
            try:
                if kind is bool:
                    if not isinstance(value, (bool, int)) or value not in (0, 1, True, False):
                        raise TypeError
                    out[name] = bool(value)
                elif kind is list:
                    out[name] = [] if value in (None, "") else list(value)
                elif kind is str:
                    out[name] = str(value)
                elif isinstance(value, bool):
                    raise TypeError
                else:
                    out[name] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"capture parameter {name}={value!r} must be a {kind.__name__}") from None
        params = cls(**out)
        params.validate()
        return params

    def validate(self) -> None:
        for f in fields(self):
            lo, hi, value = f.metadata.get("min"), f.metadata.get("max"), getattr(self, f.name)
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ValueError(f"capture parameter {f.name}={value} is out of range: use {lo} .. {hi}")
        if self.segmenter.lower() not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {self.segmenter!r}: choose {', '.join(SEGMENTERS)}")
        if self.roi and len(self.roi) != 4:
            raise ValueError(f"roi={self.roi} must be [x0, y0, x1, y1] fractions or empty")
        self.cleanup_params()  # checks threshold / roi values early

    def to_dict(self) -> dict:
        return asdict(self)

    def cleanup_params(self) -> CleanupParams:
        names = {f.name for f in fields(CleanupParams)}
        kw = {k: v for k, v in asdict(self).items() if k in names}
        roi = kw.get("roi")
        kw["roi"] = None if not roi or list(map(float, roi)) == [0.0, 0.0, 1.0, 1.0] else tuple(map(float, roi))
        p = CleanupParams(**kw)
        if str(p.threshold).lower() != "otsu":
            try:
                float(p.threshold)
            except ValueError:
                raise ValueError(f"threshold={p.threshold!r} must be 'otsu' or a number in 0..1") from None
        if p.roi is not None:
            from .cleanup import _roi_box
            _roi_box((10, 10), p.roi)
        return p


def capture_yaml(params: CaptureParams | None = None) -> str:
    """config/capture.yaml text: every CaptureParams field with its value and a comment."""
    params = params or CaptureParams()
    lines = ["# Capture node parameters (automask_ros/core/sweep.py CaptureParams). `automask capture",
             "# --params FILE` reads the same keys (flat, or under capture_node.ros__parameters).",
             "capture_node:", "  ros__parameters:"]
    for f in fields(CaptureParams):
        value = getattr(params, f.name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = f'"{value}"'
        elif isinstance(value, list):
            text = "[" + ", ".join(repr(v) if not isinstance(v, str) else f'"{v}"' for v in value) + "]"
        else:
            text = repr(value)
        lines.append(f"    {f.name}: {text}".ljust(40) + f"  # {f.metadata.get('doc', '')}")
    return "\n".join(lines) + "\n"


def preview_mask(segmenter: Segmenter, rgb: np.ndarray, params: CaptureParams) -> tuple[np.ndarray, float]:
    """The cleaned mask a sweep would start from, and its area fraction: the capture node's idle
    preview (no sweep, no previous mask, nothing written)."""
    prob = segmenter(rgb)
    bg = getattr(segmenter, "last_background", None)
    mask, q = cleanup(prob, params.cleanup_params(), rgb=rgb,
                      bg_prob=bg if bg is not None and bg.shape == prob.shape else None)
    return mask, float(q["area_frac"])


def build_segmenter(params: CaptureParams) -> Segmenter:
    """The segmenter a CaptureParams names (auto = depth, FCN and background, each where it exists)."""
    name = params.segmenter.lower()
    fcn_params = {"threads": params.seg_threads}
    if params.model_path:
        fcn_params["model_path"] = params.model_path
    tv = {"arch": params.torchvision_arch, "weights": params.model_path or "DEFAULT",
          "classes": list(params.torchvision_classes) or None, "threads": params.seg_threads}
    bg = {"threshold": params.bg_threshold}
    depth = {"min_height_m": params.min_height_m, "max_height_m": params.max_height_m,
             "radius_m": params.turntable_radius_m}
    roi = None if not params.roi or list(map(float, params.roi)) == [0.0, 0.0, 1.0, 1.0] else params.roi

    def looking_at_roi(seg: Segmenter) -> Segmenter:
        return seg if roi is None else CroppedSegmenter(seg, roi)

    if name == "u2net":
        return looking_at_roi(make_segmenter("u2net", **fcn_params))
    if name == "torchvision":
        return looking_at_roi(make_segmenter("torchvision", **tv))
    if name == "background":
        return make_segmenter("background", **bg)
    if name == "depth":
        return make_segmenter("depth", **depth)
    if name in ("auto", "fused"):
        return make_segmenter("fused", fcn="u2net", fcn_params=fcn_params, background_params=bg,
                              fcn_weight=params.fcn_weight, depth_params=depth, roi=roi)
    if name == "fused-torchvision":
        return make_segmenter("fused", fcn="torchvision", fcn_params=tv, background_params=bg,
                              fcn_weight=params.fcn_weight, depth_params=depth, roi=roi)
    raise ValueError(f"unknown segmenter {params.segmenter!r}: choose auto, u2net, torchvision, "
                     "background, depth, fused or fused-torchvision")


@dataclass
class FrameResult:
    """What happened to one fed frame."""

    status: str                      # kept | rejected | skipped | negative | done
    reason: str = ""
    mask: np.ndarray | None = None   # cleaned mask (also for rejected frames), None when not segmented
    quality: dict = field(default_factory=dict)
    coverage_deg: float = 0.0
    image_id: int | None = None


def thumbnail(rgb: np.ndarray, width: int = 64) -> np.ndarray:
    """Small blurred grey image in [0, 1] for cheap appearance comparisons."""
    h, w = rgb.shape[:2]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), 0).astype(np.float32) / 255.0


def appearance_change(a: np.ndarray, b: np.ndarray, tol: float = 0.03) -> float:
    """Fraction of thumbnail pixels that changed by more than tol (0..1), after matching the
    global brightness (camera gain and light flicker are not a new view)."""
    if a.shape != b.shape:
        return 1.0
    gain = float(np.clip((a.mean() + 1e-3) / (b.mean() + 1e-3), 0.8, 1.25))
    return float((np.abs(a - b * gain) > tol).mean())


class SweepRecorder:
    """Streaming recorder: feed frames, it selects, segments, cleans, gates and writes them."""

    def __init__(self, writer: SweepWriter, segmenter: Segmenter, params: CaptureParams | dict | None = None):
        self.params = params if isinstance(params, CaptureParams) else CaptureParams.from_dict(params)
        self.params.validate()
        self.writer, self.segmenter = writer, segmenter
        self.cleanup_params = self.params.cleanup_params()
        self._lock = threading.RLock()
        self.state, self.message = "recording", ""
        self.seen = 0
        self.phase = "before"              # before -> object -> after
        self.done = False
        self.revolution_done = False
        self._t0 = self._t_after = None
        self._angle0 = self._angle_last = None
        self._unwrapped = 0.0              # degrees turned since the first object frame
        self._last_kept_angle = None
        self._first_thumb = self._last_thumb = None
        self._max_depart = 0.0
        self._steps: list[float] = []     # appearance change between consecutive kept views
        self._change = None
        self._loop_closed = False
        self._prev_mask = None
        self._areas: list[float] = []
        self._reject_run = 0
        self._negatives = {"before": 0, "after": 0}
        self._depth: DepthFrame | None = None  # depth of the frame being processed
        self.sheet_items: list[dict] = []  # thumbnails for the QA contact sheet
        writer.meta["params"] = self.params.to_dict()
        writer.meta["segmenter"] = segmenter.describe()
        self._guard = threading.Lock()     # hand-over between finish() and a frame in progress
        self._in_frame = self._closing = False
        self._status: dict = {}
        self.status()

    # ---------------------------------------------------------------- public API
    def feed(self, rgb: np.ndarray, stamp: float | None = None, angle_deg: float | None = None,
             source=None, empty: bool | None = None, depth: DepthFrame | None = None) -> FrameResult:
        """Process one frame. empty=True: the caller knows the turntable is empty (a negative).
        depth: aligned depth of the same instant, when the camera gives it."""
        rgb = check_rgb(rgb)
        with self._lock:
            with self._guard:
                self._in_frame = True
            try:
                self._depth = depth
                return self._feed(rgb, stamp, angle_deg, source, empty)
            finally:
                with self._guard:
                    self._in_frame, closing, self._closing = False, self._closing, False
                if closing:  # finish() was called while this frame ran
                    self._close()
                self._refresh_status()

    def _feed(self, rgb, stamp, angle_deg, source, empty) -> FrameResult:
        """feed() without the locking (the caller holds the lock)."""
        if self.state != "recording":
            raise RuntimeError(f"sweep is {self.state}: start a new sweep to record more frames")
        if self.done:
            return FrameResult("done", "sweep complete", coverage_deg=self.coverage_deg)
        self.seen += 1
        now = float(stamp) if stamp is not None else time.monotonic()
        if self._t0 is None:
            self._t0 = now
        p = self.params
        if p.max_duration_s > 0 and now - self._t0 > p.max_duration_s:
            self._finish_reason("max_duration_s reached")
            return FrameResult("done", "max_duration_s reached", coverage_deg=self.coverage_deg)
        if self.phase == "after":
            return self._feed_after(rgb, now, angle_deg, source, stamp)
        angle = self._angle(now if stamp is not None else None, angle_deg)
        thumb = thumbnail(rgb)
        if empty or (self.phase == "before" and self._needs_reference()):
            return self._negative(rgb, thumb, stamp, angle, source, "before")
        if self.phase == "object" and not self._is_new_view(thumb, angle):
            return FrameResult("skipped", "not a new view yet", coverage_deg=self.coverage_deg)
        if self.phase == "object" and self.done:
            return FrameResult("done", self.message, coverage_deg=self.coverage_deg)
        return self._segment_and_store(rgb, thumb, stamp, angle, source)

    def finish(self, state: str = "finished", message: str = "") -> dict:
        """Close the sweep (finished or failed), write sweep.json and the contact sheet.

        Called from another thread while a frame is being processed, it does not wait for that
        frame (a stop_sweep service answers at once): the state changes now, and the sweep is
        closed on disk right after the frame, which is still stored."""
        if state not in ("finished", "failed"):
            raise ValueError(f"state {state!r} must be 'finished' or 'failed'")
        with self._guard:
            if self._in_frame:
                if self.state == "recording":
                    self.state, self._closing = state, True
                    self.message = message or self.message or ("sweep complete" if state == "finished" else "failed")
                    self._status = {**self._status, "state": self.state, "message": self.message}
                return dict(self._status)
        with self._lock:
            if self.state != "recording":
                return self.status()
            self.state = state
            self.message = message or self.message or ("sweep complete" if state == "finished" else "failed")
            self._close()
            return self.status()

    def _close(self) -> None:
        """Write the contact sheet and the final sweep.json (the lock is held)."""
        sheet = None
        if self.params.contact_sheet and self.sheet_items:
            from .contact_sheet import write_contact_sheet
            try:
                sheet = str(write_contact_sheet(self.writer.path / "contact_sheet.png", self.sheet_items,
                                                title=f"{self.writer.label}: {self._summary()}"))
            except OSError:
                sheet = None
        self.writer.meta["segmenter"] = self.segmenter.describe()
        self.writer.finish(self.state, self.message, coverage_deg=round(self.coverage_deg, 2),
                           loop_closed=self._loop_closed, contact_sheet=sheet, frames_fed=self.seen)
        self.contact_sheet = sheet

    def status(self) -> dict:
        """Counts and state. Never waits for a frame in progress (a node's status timer shares its
        executor with the services): meanwhile it returns the status after the previous frame."""
        if not self._lock.acquire(blocking=False):
            return dict(self._status)
        try:
            self._refresh_status()
            return dict(self._status)
        finally:
            self._lock.release()

    def _refresh_status(self) -> None:
        """The status snapshot (the lock is held): taken by status() and after every frame."""
        c = self.writer.counts
        self._status = {"state": self.state, "seen": self.seen, "kept": c["kept"], "rejected": c["rejected"],
                        "negatives": c["negatives"], "coverage_deg": round(self.coverage_deg, 2),
                        "path": str(self.writer.path), "message": self.message, "phase": self.phase,
                        "done": self.done}

    @property
    def coverage_deg(self) -> float:
        """Degrees covered by kept views (each stands for step_deg): from angles when known,
    360 after a loop closure, else estimated as kept x step_deg."""
        if self._angle0 is not None:  # each kept view stands for step_deg of the turn
            last = self._last_kept_angle
            return 0.0 if last is None else float(min(360.0 * self.params.revolutions, last + self.params.step_deg))
        if self._loop_closed:
            return 360.0
        return float(min(360.0, self.writer.counts["kept"] * self.params.step_deg))

    # ---------------------------------------------------------------- steps
    def _needs_reference(self) -> bool:
        return bool(getattr(self.segmenter, "needs_reference", False)) and not self.segmenter.has_reference

    def _angle(self, stamp, angle_deg) -> float | None:
        """Degrees turned since the first object frame, or None when unknown."""
        if angle_deg is not None:
            a = float(angle_deg)
        elif self.params.turntable_period_s > 0 and stamp is not None:
            a = (stamp - self._t0) / self.params.turntable_period_s * 360.0
        else:
            return None
        if self.phase != "object":
            return a  # raw; the zero is set when the object phase starts
        if self._angle_last is None:  # the angle became known only after the object appeared
            self._angle0 = self._angle_last = a
            return self._unwrapped
        step = (a - self._angle_last + 180.0) % 360.0 - 180.0 if angle_deg is not None else a - self._angle_last
        self._angle_last = a
        self._unwrapped += abs(step)
        return self._unwrapped

    def _is_new_view(self, thumb, angle) -> bool:
        p = self.params
        if angle is not None:
            if angle >= 360.0 * p.revolutions - p.step_deg / 2:
                self._finish_reason("one revolution recorded")
                return False
            return self._last_kept_angle is None or angle - self._last_kept_angle >= p.step_deg - 1e-6
        change = 1.0 if self._last_thumb is None else appearance_change(thumb, self._last_thumb)
        if p.loop_closure and self._first_thumb is not None:
            back = appearance_change(thumb, self._first_thumb)
            self._max_depart = max(self._max_depart, back)
            typical = float(np.median(self._steps)) if self._steps else 0.0
            if (self.writer.counts["kept"] >= p.loop_min_frames and self._max_depart >= p.loop_depart
                    and back <= max(p.loop_close, 0.5 * typical)):
                self._loop_closed = True
                self._finish_reason("loop closed: the view is back at the first kept frame")
                return False
        self._change = change
        return change >= p.min_change

    def _segment_and_store(self, rgb, thumb, stamp, angle, source) -> FrameResult:
        p = self.params
        try:
            prob = self.segmenter(rgb, self._depth)
        except (DepthError, IntrinsicsError, PlaneError) as exc:
            # one bad depth frame (a hand in the way, a dropout) costs that frame, not the sweep
            return self._reject(f"depth unusable: {exc}", rgb, None, {}, stamp, angle, source)
        bg = getattr(self.segmenter, "last_background", None)
        mask, q = cleanup(prob, self.cleanup_params, prev_mask=self._prev_mask, rgb=rgb,
                          bg_prob=bg if bg is not None and bg.shape == prob.shape else None)
        empty_mask = q["area_frac"] < p.min_area_frac
        if self.phase == "before" and bg is not None and bg.shape == prob.shape and not empty_mask:
            # an FCN may find the bare turntable salient: nothing has appeared until the frame
            # differs from the empty reference somewhere
            empty_mask = float((bg > 0.5).mean()) < p.min_area_frac
        if self.phase == "before":
            if empty_mask:
                return self._negative(rgb, thumb, stamp, angle, source, "before")
            self.phase = "object"
            self._angle0 = angle
            self._angle_last = angle
            self._unwrapped = 0.0
            angle = 0.0 if angle is not None else None
        if empty_mask:
            if self.writer.counts["kept"] and p.negatives_after > 0 and angle is None:
                self._start_after("object removed")
                return self._feed_after(rgb, stamp, None, source, stamp)
            return self._reject("no object found", rgb, mask, q, stamp, angle, source)
        reason = self._gate(q)
        if reason:
            return self._reject(reason, rgb, mask, q, stamp, angle, source)
        return self._keep(rgb, thumb, mask, q, stamp, angle, source)

    def _gate(self, q: dict) -> str:
        p = self.params
        if q["area_frac"] > p.max_area_frac:
            return f"mask covers {q['area_frac']:.0%} of the frame (> max_area_frac {p.max_area_frac})"
        if q["border_contact"] > p.max_border_contact:
            return f"mask touches {q['border_contact']:.0%} of the frame border (> {p.max_border_contact})"
        if q["n_components"] > p.max_components:
            return f"{q['n_components']} separate blobs (> max_components {p.max_components})"
        if self._reject_run >= p.reanchor_after or not self._areas:
            return ""
        ref = self._areas[-1]  # the neighbouring view: over several steps a real object's area changes a lot
        jump = abs(q["area_frac"] - ref) / max(ref, 1e-9)
        if jump > p.max_area_jump:
            return f"area jumped by {jump:.0%} against the previous kept frame (> max_area_jump {p.max_area_jump})"
        if q["iou_prev"] is not None and q["iou_prev"] < p.min_iou_prev:
            return f"IoU {q['iou_prev']:.2f} with the previous kept mask (< min_iou_prev {p.min_iou_prev})"
        return ""

    def _keep(self, rgb, thumb, mask, q, stamp, angle, source) -> FrameResult:
        image_id = self.writer.add_frame(rgb, mask, angle_deg=angle, stamp=stamp, source=source, quality=q,
                                         depth=self._depth)
        if self._first_thumb is None:
            self._first_thumb = thumb
        elif self._change is not None:
            self._steps.append(self._change)
        self._last_thumb = thumb
        self._last_kept_angle = angle
        self._prev_mask = mask
        self._areas.append(q["area_frac"])
        self._reject_run = 0
        self._sheet(rgb, mask, "kept", f"{len(self._areas)}" + ("" if angle is None else f" {angle:.0f}deg"))
        if self.params.max_frames and self.writer.counts["kept"] >= self.params.max_frames:
            self._finish_reason("max_frames reached")
        return FrameResult("kept", "", mask, q, self.coverage_deg, image_id)

    def _reject(self, reason, rgb, mask, q, stamp, angle, source) -> FrameResult:
        self.writer.reject(reason, source=source, angle_deg=angle, stamp=stamp, quality=q)
        self._reject_run += 1  # the next frame is tried at once: it may show this view better
        self._sheet(rgb, mask, "rejected", reason)
        return FrameResult("rejected", reason, mask, q, self.coverage_deg)

    def _negative(self, rgb, thumb, stamp, angle, source, when) -> FrameResult:
        """Store an empty-turntable frame (and use the first as the background reference)."""
        if when == "before" and not self.segmenter.has_reference:
            self.segmenter.set_reference(rgb, self._depth)
        limit = self.params.negatives_before if when == "before" else self.params.negatives_after
        if self._negatives[when] >= limit:
            return FrameResult("skipped", "empty turntable (enough negatives)", coverage_deg=self.coverage_deg)
        image_id = self.writer.add_frame(rgb, None, angle_deg=None, stamp=stamp, source=source,
                                         quality={"negative": when}, depth=self._depth)
        self._negatives[when] += 1
        self._sheet(rgb, None, "negative", f"empty ({when})")
        return FrameResult("negative", f"empty turntable ({when})", None, {}, self.coverage_deg, image_id)

    def _finish_reason(self, why: str) -> None:
        self.revolution_done = True
        self.message = why
        if self.params.negatives_after > 0 and self.phase == "object":
            self._start_after(why)
        else:
            self.done = True

    def _start_after(self, why: str) -> None:
        self.phase = "after"
        self.revolution_done = True
        self.message = f"{why}; remove the object to record {self.params.negatives_after} empty frames"
        self._t_after = None

    def _feed_after(self, rgb, now, angle_deg, source, stamp) -> FrameResult:
        if self._t_after is None:
            self._t_after = now
        if now - self._t_after > self.params.after_timeout_s:
            self.done = True
            return FrameResult("done", "after-negatives timed out", coverage_deg=self.coverage_deg)
        prob = self.segmenter(rgb, self._depth)
        mask, q = cleanup(prob, self.cleanup_params, rgb=rgb)
        if q["area_frac"] >= self.params.min_area_frac:
            return FrameResult("skipped", "waiting for the object to be removed", mask, q, self.coverage_deg)
        result = self._negative(rgb, thumbnail(rgb), stamp, None, source, "after")
        if self._negatives["after"] >= self.params.negatives_after:
            self.done = True
        return result

    def _sheet(self, rgb, mask, status, caption) -> None:
        if len(self.sheet_items) >= 400:
            return
        h, w = rgb.shape[:2]
        s = 96.0 / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        item = {"rgb": cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), "status": status, "caption": caption,
                "mask": None if mask is None else cv2.resize(mask.astype(np.uint8), size,
                                                             interpolation=cv2.INTER_NEAREST) > 0}
        self.sheet_items.append(item)

    def _summary(self) -> str:
        c = self.writer.counts
        return (f"{c['kept']} kept, {c['rejected']} rejected, {c['negatives']} negatives, "
                f"{self.coverage_deg:.0f} deg")
