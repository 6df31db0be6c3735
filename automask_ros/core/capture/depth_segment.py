"""The `depth` segmenter: the object is what stands on the turntable, refined at its edges by colour.

Geometry decides what is object: a point is object when it stands above the turntable's plane by
more than the sensor's noise (3 sigma at its range, at least `min_height_m`), below
`max_height_m`, and inside the turntable's cylinder (core/capture/turntable.py finds plane, axis and
radius; on the empty-turntable depth when the sweep has one, else on the first frame, then only
re-fitted per frame). The board, the room, the turntable itself and the table are never object,
however salient they look.

Real depth is not enough at the edges: holes where the surface is dark or shiny, dropouts and
flying pixels at depth edges, and a registration offset of a few pixels between the depth and
colour cameras. Colour fixes that: OpenCV GrabCut runs on a crop around the object, seeded
"surely object" by the eroded geometric mask, "surely background" by everything that geometry
puts far from it, and "probably" in the ragged band between; holes enclosed by the object are
object. The output is a probability map like every other backend's, so it fuses with the FCN and
the background difference (core/capture/segment.py) and goes through the same clean-up.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..shared.camera import backproject
from ..shared.coco import mask_box
from ..shared.depth import DepthFrame, check_depth
from ..shared.depth_noise import axial_sigma
from .segment import Segmenter, SegmenterError
from .turntable import Turntable, find_turntable, refine_plane

P_OBJECT, P_BACKGROUND, P_UNKNOWN = 0.95, 0.03, 0.5
# colour's verdict in the ragged band, by what geometry said there: others (the FCN) may overrule it
P_BAND = {(True, True): 0.95, (True, False): 0.45, (False, True): 0.7, (False, False): 0.1}


@dataclass
class DepthParams:
    min_height_m: float = 0.006     # object points stand at least this far above the turntable top
    max_height_m: float = 0.6       # ... and at most this far (a hand reaching in from above is not)
    radius_m: float = 0.0           # turntable top radius; 0 = estimate it from the depth
    radius_margin: float = 1.05     # the cylinder is this x the radius (objects may overhang a bit)
    band_frac: float = 0.03         # ragged-edge band for colour refinement, fraction of the short side
    edge_frac: float = 0.006         # colour may move the outline inwards by this much (depth-colour offset)
    grabcut_iters: int = 3          # colour refinement at the edges; 0 = geometry only


def _disk(px: int) -> np.ndarray:
    px = max(1, int(px)) | 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (px, px))


def fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """Mask with every hole that does not reach the frame border filled."""
    h, w = mask.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = mask.astype(np.uint8)
    cv2.floodFill(flood, None, (0, 0), 2)
    return mask | (flood[1:-1, 1:-1] == 0)


class DepthSegmenter(Segmenter):
    """Object = above the turntable top, inside its cylinder; edges refined by colour."""

    name = "depth"

    def __init__(self, params: DepthParams | None = None, **kw):
        self.p = params or DepthParams(**kw)
        self.turntable: Turntable | None = None
        self.reference_fitted = False
        self.last_geometry: np.ndarray | None = None  # the geometric mask of the last frame, for QA
        self.last_near: np.ndarray | None = None      # where the last frame's object may be (the
                                                      # object and its ragged band): fusion works here

    @property
    def has_reference(self) -> bool:
        return self.reference_fitted

    def set_reference(self, rgb, depth: DepthFrame | None = None) -> None:
        """The empty turntable: the cleanest view of its top, so the support is fitted here."""
        if rgb is None:
            self.turntable, self.reference_fitted = None, False
        elif depth is not None:
            self.turntable = self._find(depth)
            self.reference_fitted = True

    def describe(self) -> dict:
        return {"name": self.name, **asdict(self.p),
                "turntable": None if self.turntable is None else self.turntable.to_dict(),
                "fitted_on": "empty turntable" if self.reference_fitted else "first frame"}

    def _find(self, depth: DepthFrame) -> Turntable:
        d = check_depth(depth.depth_m, depth.depth_m.shape)
        depth.intrinsics.check_size(*d.shape)
        return find_turntable(d, depth.intrinsics, radius_m=self.p.radius_m)

    def geometry(self, depth: DepthFrame) -> tuple[np.ndarray, np.ndarray]:
        """(object, no reading) masks from depth alone."""
        d = depth.depth_m
        if self.turntable is None:
            self.turntable = self._find(depth)
        else:
            self.turntable = refine_plane(self.turntable, d, depth.intrinsics)
        table = self.turntable
        pts = backproject(d, depth.intrinsics)
        valid = d > 0
        height = table.plane.height(pts)
        margin = np.maximum(self.p.min_height_m, 3.0 * axial_sigma(d))
        obj = valid & (height > margin) & (height < self.p.max_height_m)
        if math.isfinite(table.radius):
            obj &= table.axis_distance(pts) <= table.radius * self.p.radius_margin
        return obj, ~valid

    def _predict(self, rgb: np.ndarray, depth: DepthFrame | None) -> np.ndarray:
        if depth is None:
            raise SegmenterError("the depth segmenter needs a depth frame with every colour frame: "
                                 "subscribe `depth` and `camera_info` (CLI: --depth, --intrinsics) or use "
                                 "segmenter 'auto'")
        check_depth(depth.depth_m, rgb.shape[:2])
        obj, hole = self.geometry(depth)
        h, w = obj.shape
        short = min(h, w)
        # specks of flying pixels are not an object: keep components of a plausible size
        n, labels, stats, _ = cv2.connectedComponentsWithStats(obj.astype(np.uint8), connectivity=8)
        keep = np.zeros(n, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(4, (0.004 * short) ** 2)
        obj = keep[labels]
        self.last_geometry = obj
        prob = np.full((h, w), P_BACKGROUND, np.float32)
        self.last_near = np.zeros((h, w), bool)
        if not obj.any():
            return prob
        near = cv2.dilate(obj.astype(np.uint8), _disk(self.p.band_frac * short)) > 0
        obj = fill_enclosed(obj | (hole & near & ~cv2.dilate((~obj & ~hole).astype(np.uint8), _disk(3)).astype(bool)))
        # colour may add pixels only where depth cannot say no: holes near the object, and the
        # rim just outside its depth outline (the depth-colour offset). A pixel whose depth lies
        # on the turntable is background, however object-like its colour (a shadow).
        edge = _disk(2 * self.p.edge_frac * short + 1)
        self.last_near = near & ((cv2.dilate(obj.astype(np.uint8), edge) > 0) | hole)
        prob[self.last_near] = P_UNKNOWN
        prob[obj] = P_OBJECT
        if self.p.grabcut_iters > 0:
            prob = self._refine(rgb, obj, self.last_near, edge, prob)
        return prob

    def _refine(self, rgb, obj, open_, edge, prob) -> np.ndarray:
        """GrabCut on a crop around the object: geometry seeds, colour decides the open rim."""
        h, w = obj.shape
        x0, y0, x1, y1 = mask_box(open_)
        pad = max(8, int(0.05 * min(h, w)))
        y0, y1 = max(0, y0 - pad), min(h, y1 + pad)
        x0, x1 = max(0, x0 - pad), min(w, x1 + pad)
        crop = np.s_[y0:y1, x0:x1]
        o, nr = obj[crop], open_[crop]
        # the object is object whatever its colour, except within edge_frac of its outline, where
        # depth is ragged and offset from colour: colour may only shave that rim off (a white ball
        # on a white turntable must not lose its white half to a colour model)
        sure_fg = cv2.erode(o.astype(np.uint8), edge) > 0
        if sure_fg.sum() < 20:
            return prob
        gc = np.full(o.shape, cv2.GC_BGD, np.uint8)
        gc[nr & ~o] = cv2.GC_PR_BGD
        gc[o] = cv2.GC_PR_FGD
        gc[sure_fg] = cv2.GC_FGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: the same frame, the same mask
        bgr = np.ascontiguousarray(rgb[crop][..., ::-1])
        try:
            cv2.grabCut(bgr, gc, None, bgd, fgd, self.p.grabcut_iters, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            return prob  # degenerate colour model (e.g. a flat crop): geometry alone
        fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
        out = prob.copy()
        region = out[crop]
        for (geo, col), p in P_BAND.items():
            region[nr & (o == geo) & (fg == col)] = p
        region[sure_fg] = P_OBJECT
        return out
