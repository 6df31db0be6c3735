"""QA contact sheet: one PNG that shows at a glance whether a sweep's masks can be trusted.

Kept frames carry a green mask overlay, rejected frames a red frame and the gate's reason,
negatives (empty turntable) a grey frame.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np

from ..shared.atomic import atomic_write_image

TILE = 96
TEXT_H = 30
COLOURS = {"kept": (40, 200, 60), "rejected": (230, 40, 40), "negative": (150, 150, 150)}


def _tile(item: dict) -> np.ndarray:
    rgb = item["rgb"]
    h, w = rgb.shape[:2]
    canvas = np.full((TILE + TEXT_H, TILE, 3), 255, np.uint8)
    img = rgb.astype(np.float32)
    colour = np.array(COLOURS.get(item["status"], (0, 0, 0)), np.float32)
    mask = item.get("mask")
    if mask is not None and mask.any():
        img[mask] = 0.55 * img[mask] + 0.45 * colour
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        img = img.astype(np.uint8)
        cv2.drawContours(img, contours, -1, tuple(int(c) for c in colour), 1)
    y0, x0 = (TILE - h) // 2, (TILE - w) // 2
    canvas[y0:y0 + h, x0:x0 + w] = np.clip(img, 0, 255).astype(np.uint8)
    if item["status"] != "kept":
        cv2.rectangle(canvas, (0, 0), (TILE - 1, TILE - 1), tuple(int(c) for c in colour), 3)
    caption = str(item.get("caption", ""))
    if item["status"] == "rejected":
        caption = caption.split(" (")[0]
    for i, line in enumerate(textwrap.wrap(caption, 22)[:3]):
        cv2.putText(canvas, line, (2, TILE + 9 + 9 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.28, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return canvas


def render_contact_sheet(items: list[dict], title: str = "", columns: int = 10) -> np.ndarray:
    """items: dicts with rgb (<= 96x96 thumbnail), mask (bool or None), status, caption."""
    if not items:
        raise ValueError("no frames for a contact sheet")
    tiles = [_tile(it) for it in items]
    rows = (len(tiles) + columns - 1) // columns
    head = 24 if title else 0
    sheet = np.full((head + rows * (TILE + TEXT_H + 4), columns * (TILE + 4), 3), 255, np.uint8)
    if title:
        cv2.putText(sheet, title[:140], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = head + r * (TILE + TEXT_H + 4), c * (TILE + 4)
        sheet[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return sheet


def write_contact_sheet(path: str | Path, items: list[dict], title: str = "", columns: int = 10) -> Path:
    return atomic_write_image(path, render_contact_sheet(items, title, columns))


def sheet_item(rgb: np.ndarray, mask: np.ndarray | None, status: str, caption: str) -> dict:
    """One contact-sheet entry: the frame and its mask shrunk to a TILE-sized thumbnail."""
    h, w = rgb.shape[:2]
    s = float(TILE) / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return {"rgb": cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), "status": status, "caption": caption,
            "mask": None if mask is None else cv2.resize(mask.astype(np.uint8), size,
                                                         interpolation=cv2.INTER_NEAREST) > 0}


class SheetThumbnails:
    """The thumbnails a sweep collects for its contact sheet (at most `limit`, so memory stays bounded)."""

    def __init__(self, limit: int = 400):
        self.items: list[dict] = []
        self.limit = limit

    def add(self, rgb: np.ndarray, mask: np.ndarray | None, status: str, caption: str) -> None:
        if len(self.items) < self.limit:
            self.items.append(sheet_item(rgb, mask, status, caption))
