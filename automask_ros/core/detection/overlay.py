"""Overlay image of detections: translucent masks, contours, boxes, labels and scores (for RViz/CLI).

Works on each instance's box crop only, so a 640x480 frame with ten instances costs a few ms.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..shared.coco import mask_box

# distinct, colour-blind friendly colours (Okabe-Ito + extras), RGB
PALETTE = np.array([(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178),
                    (213, 94, 0), (204, 121, 167), (120, 200, 80), (255, 80, 80), (160, 120, 255)],
                   np.uint8)


def colour_for(index: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in PALETTE[index % len(PALETTE)])


def _bounds(mask: np.ndarray, box, h: int, w: int) -> tuple[int, int, int, int]:
    """Integer crop covering the box (and the mask, which can spill a pixel past it)."""
    x0, y0, x1, y1 = box
    x0, y0 = max(0, int(np.floor(x0)) - 2), max(0, int(np.floor(y0)) - 2)
    x1, y1 = min(w, int(np.ceil(x1)) + 2), min(h, int(np.ceil(y1)) + 2)
    if x1 <= x0 or y1 <= y0:
        return 0, 0, w, h
    return x0, y0, x1, y1


def draw_overlay(rgb: np.ndarray, instances: Sequence, alpha: float = 0.45, scores: bool = True,
                 boxes: bool = True, colour_by: str = "instance") -> np.ndarray:
    """A copy of the RGB frame with the instances drawn on it.

    instances: objects with label, class_id, score, box (x0, y0, x1, y1) and mask (HxW bool),
    such as infer.Instance. colour_by "instance" (each one its own colour) or "class".
    """
    out = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 320))
    font_scale = max(0.35, min(h, w) / 900)
    labels = []
    for k, inst in enumerate(instances):
        colour = colour_for(inst.class_id - 1 if colour_by == "class" else k)
        mask = np.asarray(inst.mask, bool)
        if mask.shape != (h, w):
            raise ValueError(f"instance mask shape {mask.shape} does not match the frame {(h, w)}")
        x0, y0, x1, y1 = _bounds(mask, inst.box, h, w)
        crop, sel = out[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        if sel.any():
            blend = crop[sel].astype(np.float32) * (1 - alpha) + np.float32(alpha) * np.array(colour, np.float32)
            crop[sel] = blend.astype(np.uint8)
            contours, _ = cv2.findContours(sel.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(crop, contours, -1, colour, thick, cv2.LINE_AA)
        bx0, by0, bx1, by1 = (int(round(v)) for v in inst.box)
        if boxes:
            cv2.rectangle(out, (bx0, by0), (bx1, by1), colour, 1, cv2.LINE_AA)
        text = f"{inst.label} {inst.score:.2f}" if scores else str(inst.label)
        labels.append((text, bx0, by0, colour))
    for text, bx0, by0, colour in labels:  # text last, so masks never cover it
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
        tx = min(max(0, bx0), max(0, w - tw - 2))
        ty = by0 - 2 if by0 - th - base - 2 >= 0 else min(h - base - 1, by0 + th + 2)
        cv2.rectangle(out, (tx, ty - th - base), (tx + tw + 2, ty + base), colour, -1)
        dark = sum(colour) > 380
        cv2.putText(out, text, (tx + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0) if dark else (255, 255, 255), thick, cv2.LINE_AA)
    return out


def draw_mask_preview(rgb: np.ndarray, mask: np.ndarray, caption: str = "") -> np.ndarray:
    """The capture preview: one cleaned mask drawn like a detection, captioned with its fate."""
    from types import SimpleNamespace

    mask = np.asarray(mask, bool)
    box = mask_box(mask) or (0, 0, 1, 1)
    inst = SimpleNamespace(label=caption or "mask", class_id=1, score=1.0, box=box, mask=mask)
    return draw_overlay(rgb, [inst], scores=False)
