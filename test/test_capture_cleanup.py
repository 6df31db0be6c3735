"""Blob clean-up: the object's component, hole logic, GrabCut recovery and quality figures."""

import cv2
import numpy as np
import pytest

from automask_ros.core.capture.cleanup import CleanupParams, cleanup
from automask_ros.core.shared.coco import mask_iou


def disc(shape, centre, r):
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, centre, r, 1, -1)
    return m > 0


def test_keeps_the_object_in_the_roi_not_the_largest_blob():
    prob = np.zeros((120, 160), np.float32)
    big = disc(prob.shape, (25, 60), 22)       # clutter on the left, larger
    obj = disc(prob.shape, (100, 60), 15)      # the object on the turntable
    prob[big] = 0.9
    prob[obj] = 0.9
    mask, q = cleanup(prob, CleanupParams(roi=(0.45, 0.2, 0.95, 0.9), grabcut_iters=0))
    assert (mask & obj).sum() > 0.95 * obj.sum() and not (mask & big).any()
    assert q["n_components"] == 2
    # with no ROI, the previous frame's mask decides
    mask, _ = cleanup(prob, CleanupParams(grabcut_iters=0), prev_mask=obj)
    assert not (mask & big).any() and (mask & obj).sum() > 0.95 * obj.sum()


def _ring_scene(hole_colour):
    rgb = np.full((120, 120, 3), (40, 120, 40), np.uint8)   # green turntable
    outer, inner = disc((120, 120), (60, 60), 40), disc((120, 120), (60, 60), 14)
    rgb[outer] = (220, 220, 220)
    rgb[inner] = hole_colour
    prob = np.where(outer & ~inner, 0.95, 0.02).astype(np.float32)
    return rgb, prob, outer, inner


def test_hole_showing_the_background_stays_open():
    rgb, prob, outer, inner = _ring_scene((40, 120, 40))     # turntable seen through a handle
    mask, q = cleanup(prob, CleanupParams(grabcut_iters=0), rgb=rgb)
    assert not mask[inner].any() and q["holes_kept"] == 1


def test_hole_unlike_the_background_is_filled():
    rgb, prob, outer, inner = _ring_scene((20, 20, 90))      # dark print the FCN missed
    mask, q = cleanup(prob, CleanupParams(grabcut_iters=0), rgb=rgb)
    assert mask[inner].all() and q["holes_kept"] == 0
    # background evidence from a reference frame overrides colour: it says "background" here
    bg = np.where(outer & ~inner, 0.99, 0.01).astype(np.float32)
    mask, q = cleanup(prob, CleanupParams(grabcut_iters=0), rgb=rgb, bg_prob=bg)
    assert not mask[inner].any()


def test_grabcut_recovers_what_the_fcn_missed_given_the_previous_mask():
    rgb = np.full((96, 96, 3), 15, np.uint8)
    obj = np.zeros((96, 96), bool)
    obj[20:76, 24:72] = True
    rgb[obj] = (230, 225, 210)
    prob = np.zeros((96, 96), np.float32)
    prob[20:44, 24:72] = 0.95            # the FCN saw only the top third
    raw = prob > 0.5
    mask, q = cleanup(prob, CleanupParams(), prev_mask=obj, rgb=rgb)
    iou_raw, iou = mask_iou(raw, obj), mask_iou(mask, obj)
    assert iou_raw < 0.5 and iou > 0.95
    assert q["iou_prev"] == pytest.approx(iou, abs=1e-3)


def test_quality_figures():
    prob = np.zeros((100, 100), np.float32)
    prob[0:50, 0:50] = 0.9                 # an L-free square in the corner: touches the border
    mask, q = cleanup(prob, CleanupParams(grabcut_iters=0, open_px=0, close_px=0))
    assert q["area_frac"] == pytest.approx(0.25, abs=0.01)
    assert q["border_contact"] == pytest.approx(100 / 400, abs=0.02)
    assert q["solidity"] > 0.98 and q["n_components"] == 1 and q["iou_prev"] is None
    empty, q = cleanup(np.zeros((50, 50), np.float32))
    assert not empty.any() and q["area_frac"] == 0


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="unknown clean-up parameter"):
        cleanup(np.zeros((8, 8), np.float32), {"tresh": 1})
    with pytest.raises(ValueError, match="threshold"):
        cleanup(np.zeros((8, 8), np.float32), {"threshold": "high"})
    with pytest.raises(ValueError, match="non-empty"):
        cleanup(np.zeros((0, 0), np.float32))
