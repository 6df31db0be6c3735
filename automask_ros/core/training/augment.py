"""Training augmentations: copy-paste compositing, flips, scale jitter, small rotations, colour.

Copy-paste is what makes a model trained on a turntable work in clutter: objects are cut out
with their masks and pasted, one or several per image, onto other scenes (procedural clutter,
the robot's workspace, photos, the sweeps' empty-turntable frames) among distractors. Later pastes occlude earlier ones and the earlier masks lose the
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

from . import procedural
from ..shared.atomic import read_rgb
from ..shared.coco import mask_box

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


BLENDS = ("none", "gaussian", "poisson", "motion")


@dataclass
class AugmentConfig:
    """Probabilities and ranges. The defaults make a model that finds its objects anywhere, not
    only on the turntable: most samples are composites on other scenes."""

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
    paste: float = 0.7            # probability that a sample becomes a copy-paste composite
    paste_objects: tuple[int, int] = (1, 3)   # objects per composite (the sample's own + others)
    paste_size: tuple[float, float] = (0.15, 0.7)  # object's longer side / composite's shorter side
    max_upscale: float = 2.5      # never enlarge a cut-out more than this (it would only be blur)
    paste_rotate_deg: float = 15.0
    paste_light: float = 0.3      # per-object gain jitter: each object is lit differently
    blend: tuple[str, ...] = BLENDS  # edge treatments, one drawn per paste (Dwibedi et al. 2017)
    canvas: int = 0               # composite's shorter side in pixels; 0 = the source frame's size
    procedural: bool = True       # procedural clutter scenes and distractor shapes (core/training/procedural.py)
    distractors: tuple[int, int] = (1, 3)  # unlabelled clutter objects per composite
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
    x0, y0, x1, y1 = mask_box(mask)
    return rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1]


def _transform(obj: np.ndarray, mask: np.ndarray, scale: float, angle: float, gain: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Resize, rotate (canvas grown to fit) and relight a cut-out."""
    h, w = mask.shape
    nh, nw = max(int(round(h * scale)), 2), max(int(round(w * scale)), 2)
    obj = cv2.resize(obj, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    m = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST)
    if abs(angle) > 0.5:
        mat = cv2.getRotationMatrix2D((nw / 2, nh / 2), angle, 1.0)
        c, s = abs(mat[0, 0]), abs(mat[0, 1])
        bw, bh = int(nh * s + nw * c) + 1, int(nh * c + nw * s) + 1
        mat[:, 2] += (bw - nw) / 2, (bh - nh) / 2
        obj = cv2.warpAffine(obj, mat, (bw, bh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        m = cv2.warpAffine(m, mat, (bw, bh), flags=cv2.INTER_NEAREST)
    if gain != 1.0:
        obj = np.clip(obj.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return obj, m.astype(bool)


def _blend(region: np.ndarray, obj: np.ndarray, m: np.ndarray, how: str, rng: np.random.Generator
           ) -> np.ndarray:
    """The region with the object laid in: a hard edge, a soft one, Poisson or motion-blurred.
    A detector trained on one kind of seam learns to look for the seam; mixing them stops that."""
    if how == "poisson":
        try:
            src = cv2.copyMakeBorder(obj, 2, 2, 2, 2, cv2.BORDER_REPLICATE)
            dst = cv2.copyMakeBorder(region, 2, 2, 2, 2, cv2.BORDER_REPLICATE)
            mm = cv2.copyMakeBorder(m.astype(np.uint8) * 255, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=0)
            cloned = cv2.seamlessClone(src, dst, mm, (dst.shape[1] // 2, dst.shape[0] // 2),
                                       cv2.NORMAL_CLONE)[2:-2, 2:-2].astype(np.float32)
            # Poisson keeps gradients, not colours: a plain object would take the background's colour.
            # Use it on a band along the edge only, and the object's own pixels further in.
            inside = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
            w = np.clip(1 - inside / 4.0, 0, 1)[..., None]
            out = np.where(m[..., None], w * cloned + (1 - w) * obj.astype(np.float32), region.astype(np.float32))
            return out.round().clip(0, 255).astype(np.uint8)
        except cv2.error:  # degenerate shapes: fall back to a soft edge
            how = "gaussian"
    alpha = m.astype(np.float32)
    fg = obj.astype(np.float32)
    if how == "gaussian":
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 2.0))
    elif how == "motion":
        k = int(rng.integers(3, 10))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        kernel = cv2.warpAffine(kernel, cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1),
                                (k, k))
        kernel /= max(kernel.sum(), 1e-6)
        premult = cv2.filter2D(fg * alpha[..., None], -1, kernel)
        alpha = cv2.filter2D(alpha, -1, kernel)
        fg = premult / np.maximum(alpha, 1e-3)[..., None]
    a = alpha[..., None]
    return (a * fg + (1 - a) * region.astype(np.float32)).round().clip(0, 255).astype(np.uint8)


def paste(canvas: np.ndarray, masks: list[np.ndarray], obj: np.ndarray, obj_mask: np.ndarray,
          scale: float, rng: np.random.Generator, *, blend: str = "gaussian", angle: float = 0.0,
          gain: float = 1.0) -> np.ndarray | None:
    """Paste a cut-out at a random place (kept whole inside the canvas); earlier masks lose what
    it hides. Returns its mask on the canvas (None when nothing is left of it)."""
    H, W = canvas.shape[:2]
    h, w = obj_mask.shape
    scale = min(scale, 0.95 * H / h, 0.95 * W / w)
    obj, m = _transform(obj, obj_mask, scale, angle, gain)
    nh, nw = m.shape
    if nh >= H or nw >= W:  # rotation grew it past the canvas: shrink to fit
        f = 0.95 * min(H / nh, W / nw)
        obj, m = _transform(obj, m, f, 0.0, 1.0)
        nh, nw = m.shape
    if not m.any():
        return None
    y = int(rng.integers(0, H - nh + 1))
    x = int(rng.integers(0, W - nw + 1))
    canvas[y:y + nh, x:x + nw] = _blend(canvas[y:y + nh, x:x + nw], obj, m, blend, rng)
    full = np.zeros((H, W), bool)
    full[y:y + nh, x:x + nw] = m
    for earlier in masks:
        earlier &= ~full
    return full


def _canvas_shape(rgb: np.ndarray, cfg: AugmentConfig) -> tuple[int, int]:
    h, w = rgb.shape[:2]
    if not cfg.canvas:
        return h, w
    f = cfg.canvas / min(h, w)
    return int(round(h * f)), int(round(w * f))


def composite(rgb: np.ndarray, masks: list[np.ndarray], labels: list[int], background: np.ndarray | None,
              pool: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, int]] | None,
              cfg: AugmentConfig, rng: np.random.Generator,
              distractors: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None
              ) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """Paste the sample's objects, a few from the pool and unlabelled distractors (hard negatives:
    other objects that must not be detected) onto a background (or the sample itself), in random
    order, each at its own size, angle, light and edge blend; whatever is pasted later hides what
    lies under it."""
    H, W = _canvas_shape(rgb, cfg)
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
    lo, hi = np.log(cfg.paste_size[0]), np.log(cfg.paste_size[1])
    for k in rng.permutation(len(items)):
        src, m, c = items[k]
        crop, crop_mask = cutout(src, m)
        size = np.exp(rng.uniform(lo, hi)) * min(H, W)
        scale = min(size / max(crop_mask.shape), cfg.max_upscale)
        full = paste(canvas, out_masks, crop, crop_mask, scale, rng,
                     blend=str(rng.choice(cfg.blend)) if cfg.blend else "none",
                     angle=rng.uniform(-cfg.paste_rotate_deg, cfg.paste_rotate_deg),
                     gain=rng.uniform(1 - cfg.paste_light, 1 + cfg.paste_light))
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
    """Applies the configured augmentations to one sample (image, instance masks, class ids).

    Backgrounds come from up to three kinds of source, each drawn equally often when present: the
    sweeps' empty-turntable frames, photos (the robot's recorded workspace, any folder the user
    gives) and procedural clutter scenes. Distractors are the user's distractor sweeps and
    procedural shapes, half and half.
    """

    PROCEDURAL_POOL = 96          # procedural scenes, made on first use and kept (a pure function of the index)

    def __init__(self, cfg: AugmentConfig | None = None, backgrounds: list[Path] | None = None,
                 negatives: list[Callable[[], np.ndarray]] | None = None,
                 distractors: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]] | None = None):
        self.cfg = cfg or AugmentConfig()
        self.backgrounds = list(backgrounds or [])
        self.negatives = list(negatives or [])   # loaders of the sweeps' empty-turntable frames
        self.user_distractors = distractors      # rng -> (rgb, mask) of an object to paste unlabelled
        self._cache: dict[Path, np.ndarray] = {}
        self._procedural: dict[int, np.ndarray] = {}

    def _photo(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            image = read_rgb(path)
            scale = 640 / max(image.shape[:2])  # keep memory small; crops are resized anyway
            if scale < 1:
                image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            self._cache[path] = image
        return self._cache[path]

    def _procedural_scene(self, rng: np.random.Generator) -> np.ndarray:
        i = int(rng.integers(self.PROCEDURAL_POOL))
        if i not in self._procedural:
            side = self.cfg.canvas or 320  # a little larger than the composites: crops are resized down
            self._procedural[i] = procedural.background(int(side * 1.2), int(side * 1.6),
                                                        np.random.default_rng([7, i]))
        return self._procedural[i]

    def _background(self, rng: np.random.Generator) -> np.ndarray | None:
        kinds = [k for k, present in (("negative", self.negatives), ("photo", self.backgrounds),
                                      ("procedural", self.cfg.procedural)) if present]
        if not kinds:
            return None
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == "negative":
            return self.negatives[int(rng.integers(len(self.negatives)))]()
        if kind == "photo":
            return self._photo(self.backgrounds[int(rng.integers(len(self.backgrounds)))])
        return self._procedural_scene(rng)

    def _distractor_source(self):
        sources = [s for s in (self.user_distractors, self._procedural_distractor if self.cfg.procedural else None)
                   if s is not None]
        if not sources:
            return None
        return lambda rng: sources[int(rng.integers(len(sources)))](rng)

    @staticmethod
    def _procedural_distractor(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return procedural.distractor(int(rng.integers(48, 160)), rng)

    def __call__(self, rgb: np.ndarray, masks: list[np.ndarray], labels: list[int], rng: np.random.Generator,
                 pool=None) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
        cfg = self.cfg
        if cfg.paste and rng.random() < cfg.paste:
            rgb, masks, labels = composite(rgb, masks, labels, self._background(rng), pool, cfg, rng,
                                           self._distractor_source())
        rgb, masks = geometric(rgb, masks, cfg, rng)
        rgb = photometric(rgb, cfg, rng)
        keep = [i for i, m in enumerate(masks) if m.sum() >= cfg.min_pixels]
        return rgb, [masks[i] for i in keep], [labels[i] for i in keep]
