"""Training data: sweeps and dataset roots -> labelled samples, a split by view, a torch Dataset.

The split holds out every k-th kept view of each sweep (in capture order), never a random
subset: neighbouring turntable views are near-duplicates, so a random split would leak the
validation set into training. Negatives (empty-turntable frames) are split the same way.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from .augment import Augmenter
from ..shared.coco import annotation_to_mask, masks_to_boxes
from ..capture.dataset import DatasetError, Sweep, find_sweeps, load_sweep


@dataclass(frozen=True)
class Sample:
    """One frame: which sweep, its COCO image entry, and its class id (1-based, global)."""

    sweep: Sweep
    image: dict
    class_id: int

    @property
    def negative(self) -> bool:
        return not self.sweep.annotations_for(self.image["id"])

    @property
    def path(self) -> Path:
        return self.sweep.image_path(self.image)

    def read(self) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
        """(RGB image, instance masks as HxW bool, class ids)."""
        rgb = self.sweep.read_image(self.image)
        h, w = rgb.shape[:2]
        if (h, w) != (self.image["height"], self.image["width"]):
            raise DatasetError(f"{self.path} is {w}x{h} but annotations.json says "
                               f"{self.image['width']}x{self.image['height']}: recapture the sweep")
        masks = [annotation_to_mask(a, h, w) for a in self.sweep.annotations_for(self.image["id"])]
        masks = [m for m in masks if m.any()]
        return rgb, masks, [self.class_id] * len(masks)


def load_sweeps(paths: list[str | Path]) -> list[Sweep]:
    """Every sweep under the given sweep folders or dataset roots, checked for missing files."""
    if not paths:
        raise DatasetError("no training data given: pass one or more sweep folders or dataset roots")
    sweeps, seen = [], set()
    for path in paths:
        for folder in find_sweeps(path):
            if folder.resolve() in seen:
                continue
            seen.add(folder.resolve())
            sweep = load_sweep(folder)
            for image in sweep.images:
                if not sweep.image_path(image).is_file():
                    raise DatasetError(f"missing image file {sweep.image_path(image)}: restore it or "
                                       f"remove its entry from {folder / 'annotations.json'}")
            sweeps.append(sweep)
    return sweeps


def replayed_sweeps(base_meta: dict, given: list[Sweep]) -> list[Sweep]:
    """The sweeps an earlier bundle was trained on (its model.json `datasets`) that still exist and
    are not given again: training a new object from that bundle replays them, so that the model
    keeps the objects it knew. A recorded sweep that is gone is skipped (its label must then
    come with --data)."""
    given_paths = {s.path.resolve() for s in given}
    paths = [Path(d["path"]) for d in base_meta.get("datasets", [])]
    keep = [p for p in paths if (p / "annotations.json").is_file() and p.resolve() not in given_paths]
    return load_sweeps(keep) if keep else []


def union_labels(sweeps: list[Sweep], base: list[str] | None = None) -> list[str]:
    """The base model's labels first (in its order), then the new ones sorted: stable across runs."""
    base = list(base or [])
    return base + sorted({s.label for s in sweeps} - set(base))


def fingerprint(sweep: Sweep) -> str:
    """A short hash of a sweep's annotations: which data a bundle was trained on."""
    text = (sweep.path / "annotations.json").read_bytes()
    return hashlib.sha256(text).hexdigest()[:16]


def _view_order(sweep: Sweep) -> list[dict]:
    return sorted(sweep.images, key=lambda im: im["id"])


def split_by_view(sweeps: list[Sweep], labels: list[str], holdout_every: int = 6
                  ) -> tuple[list[Sample], list[Sample]]:
    """(train, val): every holdout_every-th kept view (and negative) of each sweep goes to val.

    holdout_every=0 keeps everything for training (val is empty).
    """
    if holdout_every < 0 or holdout_every == 1:
        raise ValueError("holdout_every must be 0 (no validation) or at least 2")
    train, val = [], []
    for sweep in sweeps:
        class_id = labels.index(sweep.label) + 1
        positives = [im for im in _view_order(sweep) if sweep.annotations_for(im["id"])]
        negatives = [im for im in _view_order(sweep) if not sweep.annotations_for(im["id"])]
        for group in (positives, negatives):
            for i, image in enumerate(group):
                held = holdout_every and i % holdout_every == holdout_every // 2
                (val if held else train).append(Sample(sweep, image, class_id))
    return train, val


def check_trainable(samples: list[Sample]) -> None:
    """Refuse data that cannot train a detector, with what to do about it."""
    if not samples:
        raise DatasetError("the dataset is empty: capture a sweep first (automask capture)")
    if all(s.negative for s in samples):
        raise DatasetError("the dataset has no annotated objects (only negatives): capture a sweep "
                           "with the object on the turntable")


class DetectionDataset(torch.utils.data.Dataset):
    """Samples as (image float CxHxW in 0..1, target dict) for torchvision's Mask R-CNN.

    Augmentation randomness is seeded by (seed, epoch, index), so an epoch's samples are the same
    however they are sharded or resumed; call set_epoch() at the start of each epoch.
    """

    def __init__(self, samples: list[Sample], augmenter: Augmenter | None = None, seed: int = 0,
                 cache_bytes: int = 1 << 30):
        self.samples = list(samples)
        self.augmenter = augmenter
        self.seed = seed
        self.epoch = 0
        self._cache: dict[int, tuple] = {}
        self._cache_left = cache_bytes
        self._objects = [i for i, s in enumerate(self.samples) if not s.negative]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def raw(self, index: int) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
        """The stored sample, decoded once and kept in memory while the cache budget lasts."""
        if index in self._cache:
            return self._cache[index]
        item = self.samples[index].read()
        size = item[0].nbytes + sum(m.nbytes for m in item[1])
        if size <= self._cache_left:
            self._cache[index] = item
            self._cache_left -= size
        return item

    def _pool(self, rng: np.random.Generator):
        """A random object cut-out from the training set, for copy-paste."""
        rgb, masks, labels = self.raw(self._objects[int(rng.integers(len(self._objects)))])
        k = int(rng.integers(len(masks)))
        return rgb, masks[k], labels[k]

    def __getitem__(self, index: int):
        rgb, masks, labels = self.raw(index)
        masks = [m.copy() for m in masks]
        if self.augmenter is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            rgb, masks, labels = self.augmenter(rgb, masks, list(labels), rng,
                                                pool=self._pool if self._objects else None)
        return to_tensors(rgb, masks, labels, index)


def to_tensors(rgb: np.ndarray, masks: list[np.ndarray], labels: list[int], image_id: int = 0):
    """numpy sample -> (image tensor, torchvision detection target)."""
    h, w = rgb.shape[:2]
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255)
    mask_tensor = torch.from_numpy(np.stack(masks)).to(torch.uint8) if masks \
        else torch.zeros((0, h, w), dtype=torch.uint8)
    target = {
        "boxes": masks_to_boxes(mask_tensor),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "masks": mask_tensor,
        "image_id": image_id,
    }
    return image, target


def collate(batch):
    return tuple(zip(*batch))


def prefetched(items: Iterable, depth: int = 2) -> Iterator:
    """The same items in the same order, made `depth` ahead by a thread, so that decoding and
    augmentation (OpenCV and numpy, which release the GIL) overlap the training step. An
    exception in the maker is raised here, at the item where it happened."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def make():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # handed to the consumer
            q.put((done, exc))

    thread = threading.Thread(target=make, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
