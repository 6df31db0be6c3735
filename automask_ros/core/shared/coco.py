"""Masks and COCO in one place: RLE, boxes, IoU, ground truth, results and annotation lookups.

Every part of automask that writes or reads a mask in COCO form (the sweep dataset, evaluation,
inference output, the demo, synthetic clutter, benchmarks and tests) goes through here, so that
an RLE, a box or an IoU means exactly one thing. pycocotools does the encoding; this module only
fixes the conventions: compressed RLE with `counts` as str (JSON-ready), boxes from the mask with
an exclusive end (x0, y0, x1, y1), IoU of an empty pair = 1.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """A HxW mask (bool or 0/255) as COCO compressed RLE {size, counts: str}."""
    rle = mask_utils.encode(np.asfortranarray((np.asarray(mask) > 0).astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def rle_box(rle: dict) -> list[float]:
    """The COCO box [x, y, w, h] of an encoded mask."""
    return [float(v) for v in mask_utils.toBbox(rle)]


def rle_area(rle: dict) -> float:
    return float(mask_utils.area(rle))


def mask_to_annotation(mask: np.ndarray) -> dict:
    """COCO segmentation (compressed RLE, counts as str), bbox [x, y, w, h] and area of a mask."""
    rle = encode_rle(mask)
    return {"segmentation": rle, "bbox": rle_box(rle), "area": rle_area(rle), "iscrowd": 0}


def annotation_to_mask(annotation: dict, height: int, width: int) -> np.ndarray:
    """Decode an annotation's segmentation (RLE or polygons) to a HxW bool mask."""
    seg = annotation["segmentation"]
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = seg  # compressed RLE; pycocotools reads counts as str or bytes
    return mask_utils.decode(rle).astype(bool)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a HxW mask, end exclusive; None when the mask is empty."""
    ys, xs = np.nonzero(mask)
    if not xs.size:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def masks_to_boxes(masks):
    """NxHxW mask tensor -> Nx4 float boxes (x0, y0, x1, y1), end exclusive like mask_box.
    torchvision's masks_to_boxes gives the last pixel inclusive; Mask R-CNN targets use the end."""
    import torch
    from torchvision.ops import masks_to_boxes as inclusive

    return inclusive(masks) + torch.tensor([0.0, 0.0, 1.0, 1.0]) if masks.shape[0] else \
        torch.zeros((0, 4), dtype=torch.float32)


def mask_iou(a: np.ndarray, b: np.ndarray, void: np.ndarray | None = None) -> float:
    """|a & b| / |a | b| over the pixels not in `void`; 1.0 when both are empty there."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    inter, union = a & b, a | b
    if void is not None:
        care = ~np.asarray(void, bool)
        inter, union = inter & care, union & care
    n = int(union.sum())
    return float(inter.sum() / n) if n else 1.0


def reference_iou(mask: np.ndarray, reference: np.ndarray) -> float:
    """IoU against a reference mask image of the shared data (255 = object, 128 = void)."""
    return mask_iou(mask, reference == 255, reference == 128)


def gt_annotation(ann_id: int, image_id: int, category_id: int, mask: np.ndarray, crowd: int = 0) -> dict:
    """A ground-truth annotation for pycocotools from a HxW mask."""
    return {"id": ann_id, "image_id": image_id, "category_id": category_id, **mask_to_annotation(mask),
            "iscrowd": crowd}


def result_entry(image_id: int, category_id: int, score: float, mask: np.ndarray,
                 box: Sequence[float] | None = None) -> dict:
    """A COCO result (what pycocotools loadRes reads) for one detection; box (x0, y0, x1, y1)
    as the model gave it, or the mask's own box when None."""
    rle = encode_rle(mask)
    if box is None:
        xywh = rle_box(rle)
    else:
        x0, y0, x1, y1 = box
        xywh = [x0, y0, x1 - x0, y1 - y0]
    return {"image_id": image_id, "category_id": category_id, "score": score, "bbox": xywh, "segmentation": rle}


def coco_dict(images: list[dict], annotations: list[dict], labels: Sequence[str], description: str = "") -> dict:
    """A COCO instance file; category ids are 1-based in label order (0 = background)."""
    return {"info": {"description": description}, "images": images, "annotations": annotations,
            "categories": [{"id": i + 1, "name": n, "supercategory": "object"} for i, n in enumerate(labels)]}


def index_by_image(annotations: Iterable[dict]) -> dict[int, list[dict]]:
    """image id -> its annotations, built once (lookups inside loops stay O(1))."""
    out: dict[int, list[dict]] = defaultdict(list)
    for ann in annotations:
        out[ann["image_id"]].append(ann)
    return dict(out)
