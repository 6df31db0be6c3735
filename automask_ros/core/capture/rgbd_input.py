"""Depth for a colour frame: the paired depth image plus the camera's intrinsics as a DepthFrame,
or one line that says why the frame goes on colour-only.

The capture node fills an RgbdInput from its depth and camera_info callbacks and asks it in the
worker; `automask capture` uses attach_depth() for depth read from files or bags. Policy (the
same everywhere, docs/capture.md): a frame without usable depth is still recorded, colour-only,
and the reason is reported (throttled in the node), because a sweep that keeps going is worth
more than one that stops on a depth glitch. A camera that never sends depth is not a problem.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..shared.camera import Intrinsics, IntrinsicsError
from ..shared.depth import DepthFrame, check_depth
from ..shared.pairing import StampPairer

NO_INTRINSICS = ("depth arrives but there are no intrinsics yet: publish camera_info for the depth "
                 "camera (or set intrinsics_file); frames are recorded colour-only until then")


def attach_depth(depth_m: np.ndarray | None, shape: tuple[int, int],
                 intrinsics: Intrinsics | None) -> tuple[DepthFrame | None, str]:
    """(DepthFrame, "") for depth in metres that fits a colour frame of shape (H, W), else
    (None, reason). None depth_m = no depth for this frame (reason "")."""
    if depth_m is None:
        return None, ""
    if intrinsics is None:
        return None, NO_INTRINSICS
    try:
        check_depth(depth_m, tuple(shape))
        intrinsics.check_size(*shape)
    except ValueError as exc:  # DepthError, IntrinsicsError
        return None, str(exc)
    return DepthFrame(depth_m, intrinsics), ""


class RgbdInput:
    """Depth frames by stamp (any opaque item, turned into metres by `decode`) and the latest
    intrinsics; thread-safe (callbacks add, a worker asks)."""

    def __init__(self, tolerance_s: float = 0.05, decode: Callable[[object], np.ndarray] | None = None,
                 intrinsics: Intrinsics | None = None, keep: int = 8):
        self.pairer = StampPairer(tolerance_s, keep)
        self.decode = decode or np.asarray
        self.fixed_intrinsics = intrinsics  # from a file: wins over camera_info
        self.camera_info: Intrinsics | None = None
        self.camera_info_problem = ""
        self.depth_seen = False

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
        if not self.depth_seen:
            return None, ""
        if stamp is None:
            return None, "the colour frame has no stamp, so no depth can be paired with it"
        item = self.pairer.match(stamp, wait_s)
        if item is None:
            gap = self.pairer.nearest_gap(stamp)
            return None, (f"no depth frame within sync_tolerance_s={self.pairer.tolerance_s:g} s of the "
                          f"colour frame (nearest {gap:.3f} s away): check that colour and depth are "
                          "stamped by one clock, or raise sync_tolerance_s")
        if self.intrinsics is None:
            return None, self.camera_info_problem or NO_INTRINSICS
        try:
            depth_m = self.decode(item)
        except ValueError as exc:  # DepthError, ImageCodecError
            return None, str(exc)
        return attach_depth(depth_m, shape, self.intrinsics)
