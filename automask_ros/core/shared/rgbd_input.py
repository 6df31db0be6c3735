"""Depth for a colour frame: the paired depth image plus the camera's intrinsics as a DepthFrame,
or one line that says why the frame goes on colour-only.

One policy for every node and the CLI (docs/capture.md, docs/detect.md): the capture node and the
detector fill an RgbdInput from their depth and camera_info callbacks and ask it in their worker
threads; `automask capture` uses attach_depth() for depth read from files or bags. A frame
without usable depth goes on colour-only (recorded, or detected in 2D) and the reason is
reported, throttled by reason_kind in the nodes, because a sweep or a detector that keeps going
is worth more than one that stops on a depth glitch. A camera that never sends depth is not a
problem.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from .camera import Intrinsics, IntrinsicsError
from .depth import DepthFrame, check_depth
from .pairing import StampPairer


def no_intrinsics(info_source: str = "camera_info") -> str:
    return (f"depth arrives but there are no intrinsics yet: publish the depth camera's CameraInfo on "
            f"'{info_source}' (or give an intrinsics file where the tool takes one); frames go on "
            "colour-only until then")


def attach_depth(depth_m: np.ndarray | None, shape: tuple[int, int],
                 intrinsics: Intrinsics | None) -> tuple[DepthFrame | None, str]:
    """(DepthFrame, "") for depth in metres that fits a colour frame of shape (H, W), else
    (None, reason). None depth_m = no depth for this frame (reason "")."""
    if depth_m is None:
        return None, ""
    if intrinsics is None:
        return None, no_intrinsics()
    try:
        check_depth(depth_m, tuple(shape))
        intrinsics.check_size(*shape)
    except ValueError as exc:  # DepthError, IntrinsicsError
        return None, str(exc)
    return DepthFrame(depth_m, intrinsics), ""


class Paired(NamedTuple):
    """What RgbdInput.pair found: the DepthFrame or the reason why not, and the depth item it
    paired (the node's Image message, for its header), None when there is none."""

    frame: DepthFrame | None
    reason: str
    item: object = None


class RgbdInput:
    """Depth frames by stamp (any opaque item, turned into metres by `decode`) and the latest
    intrinsics; thread-safe (callbacks add, a worker asks). `sources` name the depth and
    camera_info inputs in the reasons (a node passes its resolved topic names)."""

    def __init__(self, tolerance_s: float = 0.05, decode: Callable[[object], np.ndarray] | None = None,
                 intrinsics: Intrinsics | None = None, keep: int = 8,
                 sources: tuple[str, str] = ("depth", "camera_info")):
        self.pairer = StampPairer(tolerance_s, keep)
        self.decode = decode or np.asarray
        self.fixed_intrinsics = intrinsics  # from a file: wins over camera_info
        self.camera_info: Intrinsics | None = None
        self.camera_info_problem = ""
        self.depth_seen = False
        self.sources = sources

    def configure(self, tolerance_s: float, intrinsics: Intrinsics | None) -> None:
        """New settings for the next sweep (the buffered depth and camera_info stay)."""
        self.pairer.tolerance_s = float(tolerance_s)
        self.fixed_intrinsics = intrinsics

    @property
    def intrinsics(self) -> Intrinsics | None:
        return self.fixed_intrinsics or self.camera_info

    def add_depth(self, stamp: float, item) -> None:
        self.depth_seen = True
        self.pairer.add(stamp, item)

    def set_camera_info(self, k, width: int, height: int) -> None:
        """From a CameraInfo's k, width and height; an uncalibrated one (k all zero) is kept as
        the reason why depth cannot be used."""
        try:
            self.camera_info, self.camera_info_problem = Intrinsics.from_k(k, width, height), ""
        except IntrinsicsError as exc:
            self.camera_info_problem = str(exc)

    def depth_for(self, shape: tuple[int, int], stamp: float | None,
                  wait_s: float = 0.0) -> tuple[DepthFrame | None, str]:
        """The depth of the colour frame at `stamp`, or (None, reason); reason is "" when the
        camera has sent no depth at all (a colour-only camera)."""
        return self.pair(shape, stamp, wait_s)[:2]

    def pair(self, shape: tuple[int, int], stamp: float | None, wait_s: float = 0.0) -> Paired:
        """depth_for, plus the depth item that was paired."""
        if not self.depth_seen:
            return Paired(None, "")
        if stamp is None:
            return Paired(None, "the colour frame has no stamp, so no depth can be paired with it")
        item = self.pairer.match(stamp, wait_s)
        if item is None:
            gap = self.pairer.nearest_gap(stamp)
            return Paired(None, f"no depth frame on '{self.sources[0]}' within sync_tolerance_s="
                                f"{self.pairer.tolerance_s:g} s of the colour frame (nearest {gap:.3f} s "
                                "away): check that colour and depth are stamped by one clock, or raise "
                                "sync_tolerance_s")
        if self.intrinsics is None:
            return Paired(None, self.camera_info_problem or no_intrinsics(self.sources[1]), item)
        try:
            depth_m = self.decode(item)
        except ValueError as exc:  # DepthError, ImageCodecError
            return Paired(None, str(exc), item)
        return Paired(*attach_depth(depth_m, shape, self.intrinsics), item)
