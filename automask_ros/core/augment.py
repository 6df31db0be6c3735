"""Training augmentations: copy-paste compositing, flips, scale jitter, small rotations, colour.

Copy-paste is what makes a model trained on a turntable work in clutter: objects are cut out
with their masks and pasted, one or several per image, onto background photos (or the sweep's
empty-turntable negatives). Later pastes occlude earlier ones and the earlier masks lose the
hidden pixels, so every target mask is exactly what is visible. All randomness comes from the
numpy Generator passed in, so a sample is a pure function of (seed, epoch, index): runs resume
exactly and DDP ranks need no shared state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .atomic import read_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass
class AugmentConfig:
    """Probabilities and ranges; the defaults suit turntable sweeps."""

    hflip: float = 0.5
    vflip: float = 0.0            # objects on a turntable stand upright; enable for top-down views
    scale: tuple[float, float] = (0.75, 1.25)
    rotate_deg: float = 10.0
    translate: float = 0.1        # fraction of the image size
    geometric: float = 0.8        # probability of the affine (scale/rotate/translate) step
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.3
    hue_deg: float = 8.0
    photometric: float = 0.8
    paste: float | None = None    # probability of a copy-paste composite; None: 0.5 with backgrounds, else 0
    paste_objects: tuple[int, int] = (1, 3)   # objects per composite (the sample's own + others)
    paste_scale: tuple[float, float] = (0.5, 1.1)
    canvas_scale: float = 1.0     # composite size relative to the source frame
    distractors: tuple[int, int] = (0, 2)  # unlabelled clutter objects per composite (if a pool is given)
    min_visible: float = 0.3      # drop instances with less than this fraction left visible
    min_pixels: int = 16


def list_backgrounds(folder: str | Path | None) -> list[Path]:
    """Image files in a background folder (sorted), with a clear error for a wrong path."""
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"background folder {folder} does not exist: give a folder of photos")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"background folder {folder} holds no .jpg/.png images")
    return files


def random_crop_resize(image: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of the background with the target aspect ratio, resized to height x width."""
    h, w = image.shape[:2]
    aspect = width / height
    frac = rng.uniform(0.4, 1.0)
    ch = int(min(h, w / aspect) * frac)
    cw = int(ch * aspect)
    ch, cw = max(ch, 1), max(cw, 1)
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return cv2.resize(image[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_AREA)


def cutout(rgb: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object's bounding-box crop and its mask."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    return rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]


def paste(canvas: np.ndarray, masks: list[np.ndarray], obj: np.ndarray, obj_mask: np.ndarray,
          scale: float, rng: np.random.Generator) -> np.ndarray | None:
    """Paste a cut-out at a random place; earlier masks lose what it hides. Returns its mask."""
    H, W = canvas.shape[:2]
    h, w = obj_mask.shape
    s = min(scale, 0.95 * H / h, 0.95 * W / w)
    nh, nw = max(int(round(h * s)), 2), max(int(round(w * s)), 2)
    obj = cv2.resize(obj, (nw, nh), interpolation=cv2.INTER_LINEAR)
    m = cv2.resize(obj_mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    if not m.any():
        return None
    y = int(rng.integers(0, H - nh + 1))
    x = int(rng.integers(0, W - nw + 1))
    # a slightly soft edge so that a hard seam is no cue for the detector
    alpha = cv2.GaussianBlur(m.astype(np.float32), (3, 3), 0)[..., None]
    region = canvas[y:y + nh, x:x + nw].astype(np.float32)
    canvas[y:y + nh, x:x + nw] = (alpha * obj + (1 - alpha) * region).round().astype(np.uint8)
    full = np.zeros((H, W), bool)
    full[y:y + nh, x:x + nw] = m
    for earlier in masks:
        earlier &= ~full
    return full


def composite(rgb: np.ndarray, masks: list[np.ndarray], labels: list[int], background: np.ndarray | None,
              pool: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, int]] | None,
              cfg: AugmentConfig, rng: np.random.Generator,
              distractors: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None
              ) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """Paste the sample's objects, a few from the pool and unlabelled distractors (hard negatives:
    other objects that must not be detected) onto a background (or the sample itself), in random
    order; whatever is pasted later hides what lies under it."""
    H = int(round(rgb.shape[0] * cfg.canvas_scale))
    W = int(round(rgb.shape[1] * cfg.canvas_scale))
    if background is not None:
        canvas = random_crop_resize(background, H, W, rng)
        out_masks, out_labels, areas = [], [], []
        own = list(zip(masks, labels))
    else:  # no background: keep the frame and add objects to it
        canvas = cv2.resize(rgb, (W, H)) if (H, W) != rgb.shape[:2] else rgb.copy()
        out_masks = [cv2.resize(m.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST).astype(bool)
                     for m in masks]
        out_labels, areas = list(labels), [int(m.sum()) for m in out_masks]
        own = []
    items = [(rgb, m, c) for m, c in own if m.any()]
    extra = int(rng.integers(cfg.paste_objects[0], cfg.paste_objects[1] + 1)) - len(items)
    for _ in range(max(extra, 0) if pool is not None else 0):
        items.append(pool(rng))
    for _ in range(int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1)) if distractors else 0):
        items.append((*distractors(rng), None))
    for k in rng.permutation(len(items)):
        src, m, c = items[k]
        crop, crop_mask = cutout(src, m)
        scale = rng.uniform(*cfg.paste_scale) * cfg.canvas_scale
        full = paste(canvas, out_masks, crop, crop_mask, scale, rng)
        if full is not None and c is not None:
            out_masks.append(full)
            out_labels.append(c)
            areas.append(int(full.sum()))
    keep = [i for i, m in enumerate(out_masks)
            if m.sum() >= max(cfg.min_pixels, cfg.min_visible * areas[i])]
    return canvas, [out_masks[i] for i in keep], [out_labels[i] for i in keep]


def geometric(rgb: np.ndarray, masks: list[np.ndarray], cfg: AugmentConfig,
              rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray]]:
    """Flips, then one affine warp for scale jitter, rotation and shift (masks: nearest)."""
    if rng.random() < cfg.hflip:
        rgb, masks = rgb[:, ::-1], [m[:, ::-1] for m in masks]
    if rng.random() < cfg.vflip:
        rgb, masks = rgb[::-1], [m[::-1] for m in masks]
    rgb, masks = np.ascontiguousarray(rgb), [np.ascontiguousarray(m) for m in masks]
    if rng.random() < cfg.geometric:
        h, w = rgb.shape[:2]
        angle = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
        scale = rng.uniform(*cfg.scale)
        mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
        mat[:, 2] += rng.uniform(-cfg.translate, cfg.translate, 2) * (w, h)
        rgb = cv2.warpAffine(rgb, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        masks = [cv2.warpAffine(m.astype(np.uint8), mat, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool) for m in masks]
    return rgb, masks


def photometric(rgb: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter in HSV."""
    if rng.random() >= cfg.photometric:
        return rgb
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-cfg.hue_deg, cfg.hue_deg) / 2) % 180  # OpenCV hue = deg/2
    hsv[..., 1] *= rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    brightness = rng.uniform(-cfg.brightness, cfg.brightness) * 255
    out = (out - out.mean()) * contrast + out.mean() + brightness
    return np.clip(out, 0, 255).astype(np.uint8)


class Augmenter:
    """Applies the configured augmentations to one sample (image, instance masks, class ids)."""

    def __init__(self, cfg: AugmentConfig | None = None, backgrounds: list[Path] | None = None,
                 negatives: list[Callable[[], np.ndarray]] | None = None,
                 distractors: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None):
        self.cfg = cfg or AugmentConfig()
        self.backgrounds = list(backgrounds or [])
        self.negatives = list(negatives or [])   # loaders of the sweeps' empty-turntable frames
        self.distractors = distractors           # rng -> (rgb, mask) of an object to paste unlabelled
        self._cache: dict[Path, np.ndarray] = {}

    def _background(self, rng: np.random.Generator) -> np.ndarray | None:
        choices = len(self.backgrounds) + len(self.negatives)
        if not choices:
            return None
        i = int(rng.integers(choices))
        if i < len(self.negatives):
            return self.negatives[i]()
        path = self.backgrounds[i - len(self.negatives)]
        if path not in self._cache:
            image = read_rgb(path)
            scale = 640 / max(image.shape[:2])  # keep memory small; crops are resized anyway
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self._cache[path] = image
        return self._cache[path]

    def __call__(self, rgb: np.ndarray, masks: list[np.ndarray], labels: list[int], rng: np.random.Generator,
                 pool=None) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
        cfg = self.cfg
        if cfg.paste and rng.random() < cfg.paste:
            rgb, masks, labels = composite(rgb, masks, labels, self._background(rng), pool, cfg, rng,
                                           self.distractors)
        rgb, masks = geometric(rgb, masks, cfg, rng)
        rgb = photometric(rgb, cfg, rng)
        keep = [i for i, m in enumerate(masks) if m.sum() >= cfg.min_pixels]
        return rgb, [masks[i] for i in keep], [labels[i] for i in keep]
