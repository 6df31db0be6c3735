"""Inference: a model bundle turned into instances (label, score, box, mask) on any-size RGB frames.

torchvision's Mask R-CNN resizes each frame to the bundle's min_size/max_size itself and maps
boxes and masks back to the frame's own pixels, so frames go in at their native size (any
width/height, non-square, odd) and masks come back at that size. The Detector adds what a robot
needs around it: device choice (CUDA when present, fp16 autocast there), torch.inference_mode,
score and mask thresholds, per-class NMS, a top-k limit, a class filter and batching. Given an
aligned DepthFrame, each instance also gets its 3D geometry (core/detection/instance3d.py), so the node and
the CLI share one path from pixels to metres.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ..training.bundle import load_bundle
from ..shared.coco import result_entry
from ..shared.depth import DepthFrame, check_depth
from .instance3d import Geometry3D, instance_geometry


@dataclass
class Instance:
    """One detected object; box is (x0, y0, x1, y1) in source pixels, mask is HxW bool at source size;
    geometry is its 3D (metres, depth frame) when the frame came with depth, else None."""

    label: str
    class_id: int
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray
    geometry: Geometry3D | None = None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when present, else CPU; an explicit 'cuda' without a GPU is a clear error."""
    text = str(device).strip().lower()
    if text in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a torch device: use auto, cpu or cuda[:N]") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but no CUDA GPU is available: use auto or cpu")
    return dev


def check_image(rgb) -> np.ndarray:
    """An HxWx3 uint8 RGB frame, or one clear error saying what is wrong with it."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame must be HxWx3 RGB, got shape {rgb.shape}: convert it to RGB first")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"frame is empty (shape {rgb.shape})")
    if rgb.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {rgb.dtype}: scale it to 0..255 first")
    return rgb


def _unit(name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


class Detector:
    """Runs a model bundle on frames; thresholds and filters may be changed between calls."""

    def __init__(self, bundle_path: str | Path, device: str = "auto", score_threshold: float | None = None,
                 mask_threshold: float | None = None, max_instances: int = 100,
                 classes: Sequence[str | int] | None = None, nms_iou: float = 0.5, fp16: bool | None = None):
        self.device = resolve_device(device)
        self.bundle_path = Path(bundle_path)
        model, meta = load_bundle(self.bundle_path, device="cpu")
        self.model = model.to(self.device).eval()
        self.meta = meta
        self.labels: list[str] = list(meta["labels"])
        self.model_id: str = str(meta["model_id"])
        thresholds = meta.get("thresholds", {})
        # fp16 autocast only where it pays and is safe: on the GPU
        self.fp16 = (self.device.type == "cuda") if fp16 is None else bool(fp16 and self.device.type == "cuda")
        self._lock = threading.Lock()  # settings change from a parameter callback while a frame runs
        self.score_threshold = thresholds.get("score", 0.5) if score_threshold is None else score_threshold
        self.mask_threshold = thresholds.get("mask", 0.5) if mask_threshold is None else mask_threshold
        self.nms_iou = nms_iou
        self.max_instances = max_instances
        self.classes = classes
        self.last_model_s = float("nan")  # time inside model() on the last call: the node's overhead baseline

    # ------------------------------------------------------------------ residency
    def to_host(self) -> None:
        """Park the weights in host memory and hand CUDA's cached blocks back to the driver, so an
        idle (deactivated) detector holds no GPU memory; `to_device` brings it back."""
        with self._lock:
            self.model.to("cpu")
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def to_device(self) -> None:
        with self._lock:
            self.model.to(self.device)

    @property
    def weights_device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ settings
    @property
    def score_threshold(self) -> float:
        return self._score

    @score_threshold.setter
    def score_threshold(self, value) -> None:
        self._score = _unit("score_threshold", value)
        self.model.roi_heads.score_thresh = self._score  # filter before the costly mask paste-back

    @property
    def mask_threshold(self) -> float:
        return self._mask

    @mask_threshold.setter
    def mask_threshold(self, value) -> None:
        self._mask = _unit("mask_threshold", value)

    @property
    def nms_iou(self) -> float:
        return self._nms

    @nms_iou.setter
    def nms_iou(self, value) -> None:
        self._nms = _unit("nms_iou", value)
        self.model.roi_heads.nms_thresh = self._nms  # torchvision's NMS is per class (batched_nms)

    @property
    def max_instances(self) -> int:
        return self._top_k

    @max_instances.setter
    def max_instances(self, value) -> None:
        value = int(value)
        if value < 1:
            raise ValueError(f"max_instances must be at least 1, got {value}")
        self._top_k = value
        self._sync_top_k()

    @property
    def classes(self) -> list[int] | None:
        """Class ids kept (None = all)."""
        return None if self._classes is None else sorted(self._classes)

    @classes.setter
    def classes(self, value: Iterable[str | int] | None) -> None:
        self._classes = self.class_ids(value)
        self._sync_top_k()

    def class_ids(self, value: Iterable[str | int] | str | None) -> set[int] | None:
        """Class ids for labels or ids (None = all); ValueError naming an unknown one. Lets a
        node refuse a `classes` parameter before it is set."""
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        # empty entries mean nothing (a ROS string-array parameter cannot be empty, [''] stands for it)
        value = [] if value is None else [v for v in value if not (isinstance(v, str) and not v.strip())]
        if not value:
            return None
        ids = set()
        for item in value:
            if isinstance(item, (int, np.integer)) and 1 <= int(item) <= len(self.labels):
                ids.add(int(item))
            elif isinstance(item, str) and item in self.labels:
                ids.add(self.labels.index(item) + 1)
            else:
                raise ValueError(f"class {item!r} is not one of the model's labels {self.labels} "
                                 f"(or ids 1..{len(self.labels)})")
        return ids

    def _sync_top_k(self) -> None:
        if not hasattr(self, "_classes") or not hasattr(self, "_top_k"):
            return
        # with a class filter, keep more candidates so that filtering does not starve the top-k
        self.model.roi_heads.detections_per_img = self._top_k if self._classes is None else max(self._top_k, 100)

    # ------------------------------------------------------------------ inference
    def forward(self, images: Sequence[np.ndarray]) -> list[dict]:
        """Raw torchvision outputs (boxes, labels, scores, soft masks at source size) on the device."""
        tensors = []
        for rgb in images:
            rgb = check_image(rgb)
            t = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device, non_blocking=True)
            tensors.append(t.permute(2, 0, 1).float().div_(255))  # upload uint8: 4x less to copy
        if not tensors:
            return []
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=self.fp16):
            start = time.perf_counter()
            outputs = self.model(tensors)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)  # the results are copied to the host right after anyway
            self.last_model_s = time.perf_counter() - start
            return outputs

    def detect(self, rgb: np.ndarray, depth: DepthFrame | None = None) -> list[Instance]:
        return self.detect_batch([rgb], None if depth is None else [depth])[0]

    def detect_batch(self, images: Sequence[np.ndarray],
                     depths: Sequence[DepthFrame | None] | None = None) -> list[list[Instance]]:
        """Instances for each frame, best score first; with a depth frame (aligned, same size) per
        image, each instance carries its 3D geometry. Bad depth is refused before the model runs."""
        depths = [None] * len(images) if depths is None else list(depths)
        if len(depths) != len(images):
            raise ValueError(f"{len(depths)} depth frames for {len(images)} images: give one per image (or None)")
        for rgb, depth in zip(images, depths):
            if depth is not None:
                check_depth(depth.depth_m, check_image(rgb).shape[:2])
                depth.intrinsics.check_size(*depth.depth_m.shape)
        with self._lock:
            outputs = self.forward(images)
            per_frame = [self._instances(out) for out in outputs]
        for instances, depth in zip(per_frame, depths):
            if depth is not None:
                add_geometry(instances, depth)
        return per_frame

    def _instances(self, out: dict) -> list[Instance]:
        scores = out["scores"].float()
        keep = scores >= self._score
        if self._classes is not None:
            allowed = torch.tensor(sorted(self._classes), device=out["labels"].device)
            keep &= torch.isin(out["labels"], allowed)
        idx = torch.nonzero(keep).flatten()[: self._top_k]  # outputs are sorted by score
        masks = (out["masks"][idx, 0] > self._mask).cpu().numpy()
        boxes = out["boxes"][idx].float().cpu().tolist()
        labels = out["labels"][idx].cpu().tolist()
        result = []
        for box, cid, score, mask in zip(boxes, labels, scores[idx].cpu().tolist(), masks):
            result.append(Instance(label=self.labels[cid - 1], class_id=int(cid), score=float(score),
                                   box=tuple(float(v) for v in box), mask=mask))
        return result


def add_geometry(instances: Sequence[Instance], depth: DepthFrame) -> None:
    """Fill each instance's 3D geometry from the aligned depth frame."""
    for inst in instances:
        inst.geometry = instance_geometry(inst.mask, depth)


def instances_to_coco(instances: Sequence[Instance], image_id: int) -> list[dict]:
    """COCO result entries (RLE masks, xywh boxes) for one image, ready for pycocotools loadRes;
    instances with geometry also carry its fields (has_3d, position, size, ...; metres)."""
    out = []
    for inst in instances:
        entry = result_entry(int(image_id), int(inst.class_id), round(inst.score, 5), inst.mask, inst.box)
        entry["bbox"] = [round(v, 2) for v in entry["bbox"]]
        out.append({**entry, "label": inst.label})
        if inst.geometry is not None:
            out[-1].update(inst.geometry.to_dict())
    return out
