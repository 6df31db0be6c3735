"""Blob clean-up of a foreground probability map (OpenCV): one object mask plus quality figures.

Steps, each there for a failure seen on real sweeps:
  1. threshold: a fixed value (0.5) or Otsu on the probability (clamped). Otsu was the first
     default; it gained nothing on COIL once the temporal repair existed, and on fused maps it
     picked 0.15-0.2 and let background clutter in.
  2. temporal repair: when that mask disagrees with the previous frame's (IoU < consistent_iou),
     first hysteresis (pixels above the threshold seed the object, connected pixels above
     `low_ratio` x threshold join it: U^2-Net often gives a whole side of an object a grey 0.2-0.4
     while its rim is sure), then colour refinement (OpenCV GrabCut) seeded by the FCN and the
     previous frame's mask: where the FCN is sure the pixels teach an object colour model, the
     rest of the frame a background model, and a graph cut recovers object parts the FCN left at 0 (a cup's white lower half)
     and drops background it claimed. The previous mask is only a "probably object" prior, so
     a past mistake is re-judged by colour in every frame instead of being copied forward. A
     repair is kept only when it agrees better with the previous mask. The first frame (no
     previous mask) gets the plain threshold: a collapsed first mask heals at the next frame,
     since a good plain mask is never replaced by a repair that agrees better with a bad one.
  3. morphological open (specks) and close (cracks).
  4. connected components: keep the object's component, the one inside the turntable ROI and
     overlapping the previous frame's mask, not blindly the largest; keep big nearby pieces too.
  5. fill enclosed holes unless the hole looks like background seen through the object (a cup
     handle): low probability and the colour of the background around the object, or background
     evidence from a reference frame.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from ..shared.coco import mask_iou
from ..shared.param_spec import check_ranges, coerce, param


@dataclass
class CleanupParams:
    """Clean-up settings; each field's default, range and description live here once (the capture
    node declares them as ROS parameters, config/capture.yaml lists them)."""

    threshold: str = param("0.5", "probability threshold: a fixed value, or otsu")
    otsu_min: float = param(0.15, "Otsu threshold lower clamp", 0.0, 1.0)
    otsu_max: float = param(0.6, "Otsu threshold upper clamp", 0.0, 1.0)
    low_ratio: float = param(0.5, "hysteresis: grow into pixels above low_ratio x threshold (1 = off)", 0.0, 1.0)
    consistent_iou: float = param(0.9, "FCN masks this close (IoU) to the previous mask are trusted; others are "
                                  "repaired by GrabCut seeded with the previous mask", 0.0, 1.0)
    grabcut_iters: int = param(3, "GrabCut colour refinement iterations (0 = off)", 0, 50)
    grabcut_sure: float = param(0.8, "probability above which a pixel seeds GrabCut as surely object", 0.0, 1.0)
    grabcut_max_side: int = param(320, "GrabCut works at most at this size (long side)", 16, 8192)
    prior_erode: float = param(0.03, "previous mask shrunk by this fraction of the short side is the prior "
                               "(shrinking stops drift)", 0.0, 1.0)
    max_growth: float = param(1.3, "GrabCut may not grow the mask beyond this x max(FCN mask, prior)", 1.0, 100.0)
    open_px: int = param(-1, "opening kernel (px); -1 = 1% of the short side", -1, 1000)
    close_px: int = param(-1, "closing kernel (px); -1 = 2% of the short side", -1, 1000)
    min_component_frac: float = param(0.0005, "blobs below this fraction of the frame are noise", 0.0, 1.0)
    keep_ratio: float = param(0.15, "also keep blobs at least this x the main blob that lie near it", 0.0, 1.0)
    near_frac: float = param(0.03, "'near' = within this fraction of the short side", 0.0, 1.0)
    fill_holes: bool = param(True, "fill enclosed holes unless they look like background seen through")
    hole_keep_min_frac: float = param(0.002, "holes smaller than this fraction of the object are always filled",
                                      0.0, 1.0)
    hole_colour_tol: float = param(18.0, "Lab distance under which a hole matches the outside background",
                                   0.0, 500.0)
    roi: list = param([0.0, 0.0, 1.0, 1.0], "turntable region [x0, y0, x1, y1] as fractions of the frame: "
                      "without depth the FCN looks only here, and clean-up keeps the blob inside it")

    @classmethod
    def from_dict(cls, d: dict | None) -> "CleanupParams":
        """Build from a plain dict; unknown keys, bad types and out-of-range values are errors."""
        d = dict(d or {})
        defaults = cls()
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown clean-up parameter(s) {', '.join(unknown)}: known are "
                             f"{', '.join(f.name for f in fields(cls))}")
        p = cls(**{k: coerce(k, v, getattr(defaults, k), "clean-up parameter") for k, v in d.items()})
        p.validate()
        return p

    def validate(self) -> None:
        check_ranges(self, "clean-up parameter")
        if str(self.threshold).lower() != "otsu":
            try:
                float(self.threshold)
            except ValueError:
                raise ValueError(f"threshold={self.threshold!r} must be 'otsu' or a number in 0..1") from None
        if self.roi:
            if len(self.roi) != 4:
                raise ValueError(f"roi={list(self.roi)} must be [x0, y0, x1, y1] fractions")
            _roi_box((10, 10), self.roi)

    def roi_or_none(self) -> list | None:
        """The ROI, or None when it is the whole frame (nothing to crop)."""
        if not self.roi or [float(v) for v in self.roi] == [0.0, 0.0, 1.0, 1.0]:
            return None
        return [float(v) for v in self.roi]

    def to_dict(self) -> dict:
        return asdict(self)


def _odd(n: int) -> int:
    return max(1, int(n) | 1)


def threshold_value(prob: np.ndarray, p: CleanupParams) -> float:
    if str(p.threshold).lower() != "otsu":
        try:
            return float(p.threshold)
        except ValueError:
            raise ValueError(f"threshold {p.threshold!r} must be 'otsu' or a number in 0..1") from None
    u8 = (np.clip(prob, 0, 1) * 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(np.clip(t / 255.0, p.otsu_min, p.otsu_max))


def binarize(prob: np.ndarray, p: CleanupParams, hysteresis: bool = True) -> tuple[np.ndarray, float]:
    """Threshold; with hysteresis, strong pixels seed and connected weak pixels join."""
    t = threshold_value(prob, p)
    strong = prob >= t
    if not hysteresis or p.low_ratio >= 1.0 or not strong.any():
        return strong, t
    weak = (prob >= t * p.low_ratio).astype(np.uint8)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    return keep[labels], t


def grabcut_refine(rgb: np.ndarray, prob: np.ndarray, binary: np.ndarray, p: CleanupParams,
                   prev: np.ndarray | None = None) -> np.ndarray:
    """Graph-cut colour refinement seeded by the FCN (sure/probable) and the previous mask."""
    h, w = binary.shape
    sure = binary & (prob >= p.grabcut_sure)
    if p.grabcut_iters <= 0 or rgb is None or rgb.shape[:2] != (h, w) or not sure.any() \
            or binary.all():
        return binary
    scale = min(1.0, p.grabcut_max_side / max(h, w))
    size = (max(8, round(w * scale)), max(8, round(h * scale)))

    def small(m):
        return cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0

    gc = np.full(size[::-1], cv2.GC_PR_BGD, np.uint8)
    gc[small(binary)] = cv2.GC_PR_FGD
    prior = None
    if prev is not None and prev.shape == (h, w) and prev.any():
        k = _odd(p.prior_erode * min(size))
        prior = cv2.erode(small(prev).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
        gc[prior] = cv2.GC_PR_FGD
    gc[cv2.erode(small(sure).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0] = cv2.GC_FGD
    if not (gc == cv2.GC_FGD).any() or not (gc == cv2.GC_PR_BGD).any():
        return binary
    bgr = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), size, interpolation=cv2.INTER_AREA)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means start uses OpenCV's global RNG: make frames reproducible
    try:
        cv2.grabCut(bgr, gc, None, bgd, fgd, int(p.grabcut_iters), cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # degenerate colour statistics (e.g. a flat frame): keep the FCN's mask
        return binary
    fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    limit = p.max_growth * max(small(binary).sum(), 0 if prior is None else prior.sum())
    if fg.sum() > limit:  # the colour model bled into the background: trust the FCN this frame
        return binary
    fg = fg.astype(np.float32)
    if scale < 1.0:
        fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    return fg >= 0.5


def _roi_box(shape, roi) -> tuple[int, int, int, int]:
    h, w = shape
    if not roi:  # None or empty: the whole frame
        return 0, 0, w, h
    x0, y0, x1, y1 = (float(v) for v in roi)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError(f"roi {roi} must be (x0, y0, x1, y1) fractions with 0 <= x0 < x1 <= 1")
    return int(x0 * w), int(y0 * h), max(int(x0 * w) + 1, int(x1 * w)), max(int(y0 * h) + 1, int(y1 * h))


def select_components(binary: np.ndarray, p: CleanupParams, prev: np.ndarray | None):
    """The object's connected components; returns (mask, number of significant components)."""
    h, w = binary.shape
    n, labels, stats, cents = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    min_area = max(4, p.min_component_frac * h * w)
    comps = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not comps:
        return np.zeros_like(binary, bool), 0
    x0, y0, x1, y1 = _roi_box((h, w), p.roi)
    roi = np.zeros((h, w), bool)
    roi[y0:y1, x0:x1] = True
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    half_diag = max(1.0, np.hypot(x1 - x0, y1 - y0) / 2)
    prev_ok = prev is not None and prev.shape == binary.shape and prev.any()
    scores = []
    for i in comps:
        comp = labels == i
        inside = float((comp & roi).sum())
        d = np.linalg.norm(cents[i] - centre) / half_diag
        s = inside / (1.0 + 4.0 * d * d)
        if prev_ok:
            s *= 0.1 + (comp & prev).sum() / max(1, prev.sum())
        scores.append(s)
    main = comps[int(np.argmax(scores))]
    mask = labels == main
    main_area = stats[main, cv2.CC_STAT_AREA]
    near = _odd(2 * p.near_frac * min(h, w) + 1)
    zone = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (near, near))) > 0
    for i in comps:
        if i == main:
            continue
        comp = labels == i
        big_near = stats[i, cv2.CC_STAT_AREA] >= p.keep_ratio * main_area and (comp & zone).any()
        was_object = prev_ok and (comp & prev).sum() > 0.5 * comp.sum()  # e.g. cut off by a dark band
        if big_near or was_object:
            mask |= comp
    return mask, len(comps)


def fill_holes(mask: np.ndarray, prob: np.ndarray, rgb: np.ndarray | None, p: CleanupParams,
               threshold: float, bg_prob: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Fill enclosed holes except those that look like background seen through the object."""
    h, w = mask.shape
    inv = (~mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    holes = [i for i in range(1, n) if i not in border]
    if not holes:
        return mask, 0
    area = max(1, mask.sum())
    big = [i for i in holes if stats[i, cv2.CC_STAT_AREA] >= p.hole_keep_min_frac * area]
    fill = np.zeros(n, bool)
    fill[holes] = True                      # small holes are always filled, in one pass
    outside_lab = None
    if big and rgb is not None and bg_prob is None:
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
        k = _odd(0.04 * min(h, w) + 3)
        ring = (cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)) > 0) & ~mask
        ring &= np.isin(labels, list(border))
        if ring.sum() >= 10:
            outside_lab = np.median(lab[ring], 0)
    kept = 0
    for i in big:
        hole = labels == i
        see_through = False
        if bg_prob is not None:
            see_through = float(bg_prob[hole].mean()) < 0.5
        elif outside_lab is not None:
            colour = np.median(lab[hole], 0)
            see_through = (float(np.linalg.norm(colour - outside_lab)) < p.hole_colour_tol
                           and float(prob[hole].mean()) < 0.5 * threshold)
        if see_through:
            kept += 1
            fill[i] = False
    return mask | fill[labels], kept


def quality(mask: np.ndarray, n_components: int, prev: np.ndarray | None, prob: np.ndarray,
            threshold: float, holes_kept: int) -> dict:
    """Per-frame figures the sweep recorder gates on and records in the COCO image entry."""
    h, w = mask.shape
    area = int(mask.sum())
    border = int(mask[0].sum() + mask[-1].sum() + mask[:, 0].sum() + mask[:, -1].sum())
    solidity = 0.0
    if area:
        pts = cv2.findNonZero(mask.astype(np.uint8))
        hull = cv2.contourArea(cv2.convexHull(pts))
        solidity = float(min(1.0, area / hull)) if hull > 0 else 1.0
    iou_prev = mask_iou(mask, prev) if prev is not None and prev.shape == mask.shape else None
    return {
        "area_frac": round(area / (h * w), 5),
        "n_components": int(n_components),
        "border_contact": round(border / (2 * (h + w)), 5),
        "solidity": round(solidity, 4),
        "iou_prev": None if iou_prev is None else round(iou_prev, 4),
        "threshold": round(float(threshold), 4),
        "confidence": round(float(prob[mask].mean()), 4) if area else 0.0,
        "holes_kept": int(holes_kept),
    }


def cleanup(prob: np.ndarray, params: CleanupParams | dict | None = None, *,
            prev_mask: np.ndarray | None = None, rgb: np.ndarray | None = None,
            bg_prob: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Probability map -> (HxW bool object mask, quality dict). prev_mask: the last kept mask."""
    p = params if isinstance(params, CleanupParams) else CleanupParams.from_dict(params)
    prob = np.asarray(prob, np.float32)
    if prob.ndim != 2 or prob.size == 0:
        raise ValueError(f"probability map must be a non-empty HxW array, got shape {prob.shape}")
    short = min(prob.shape)
    if prev_mask is not None and prev_mask.shape == prob.shape and prev_mask.any():
        # temporal consistency: a plain threshold that agrees with the previous mask is trusted;
        # otherwise hysteresis, then GrabCut, each kept only if it agrees better
        binary, t = binarize(prob, p, hysteresis=False)
        agree = mask_iou(binary, prev_mask)
        for repair in ("hysteresis", "grabcut"):
            if agree >= p.consistent_iou:
                break
            if repair == "hysteresis":
                candidate = binarize(prob, p)[0]
            else:
                candidate = grabcut_refine(rgb, prob, binary, p, prev_mask)
            score = mask_iou(candidate, prev_mask)
            if score > agree:
                binary, agree = candidate, score
    else:  # no context: the plain threshold (hysteresis would let weak clutter in unchecked)
        binary, t = binarize(prob, p, hysteresis=False)
    open_k = _odd(p.open_px if p.open_px >= 0 else 0.01 * short)
    close_k = _odd(p.close_px if p.close_px >= 0 else 0.02 * short)
    u8 = binary.astype(np.uint8)
    if open_k > 1:
        u8 = cv2.morphologyEx(u8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (open_k, open_k)))
    if close_k > 1:
        u8 = cv2.morphologyEx(u8, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_k, close_k)))
    mask, n_comp = select_components(u8 > 0, p, prev_mask)
    kept = 0
    if p.fill_holes and mask.any():
        mask, kept = fill_holes(mask, prob, rgb, p, t, bg_prob)
    return mask, quality(mask, n_comp, prev_mask, prob, t, kept)
