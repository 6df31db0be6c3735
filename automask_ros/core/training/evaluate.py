"""COCO evaluation with pycocotools: bbox and segm AP, AP50, AP75, overall and per label.

pycocotools, not torchmetrics: torchmetrics keeps every full-size mask (6 GB on 200 frames here),
pycocotools scores the same RLEs in under a second. Ground truth comes from sweeps or from any
plain COCO instance-segmentation file, whose categories are matched to the model's labels by name.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..shared.atomic import read_rgb
from ..shared.coco import annotation_to_mask, coco_dict, gt_annotation, result_entry
from ..capture.dataset import DatasetError

KEYS = ("AP", "AP50", "AP75")


def gt_from_samples(samples, labels: list[str]) -> tuple[dict, list[Callable[[], np.ndarray]]]:
    """COCO ground truth (category id = class id) and image loaders for data.Sample objects."""
    images, annotations, loaders = [], [], []
    for i, sample in enumerate(samples, start=1):
        im = sample.image
        images.append({"id": i, "width": im["width"], "height": im["height"], "file_name": str(sample.path)})
        for ann in sample.sweep.annotations_for(im["id"]):
            annotations.append(gt_annotation(len(annotations) + 1, i, sample.class_id,
                                             annotation_to_mask(ann, im["height"], im["width"])))
        loaders.append(lambda s=sample: s.sweep.read_image(s.image))
    return coco_dict(images, annotations, labels, "automask evaluation"), loaders


def gt_from_coco_file(annotations_json: str | Path, images_dir: str | Path, labels: list[str]
                      ) -> tuple[dict, list[Callable[[], np.ndarray]]]:
    """Ground truth from a plain COCO file; its categories are matched to labels by name."""
    path = Path(annotations_json)
    images_dir = Path(images_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"COCO file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list)
                                             for k in ("images", "annotations", "categories")):
        raise DatasetError(f"{path} is not a COCO instance file (needs images, annotations, categories)")
    if not images_dir.is_dir():
        raise FileNotFoundError(f"image folder {images_dir} does not exist")
    by_name = {c.get("name"): c["id"] for c in data["categories"]}
    matched = {cid: labels.index(name) + 1 for name, cid in by_name.items() if name in labels}
    if not matched:
        raise DatasetError(f"none of the categories in {path} ({sorted(map(str, by_name))}) is a label "
                           f"of the model ({labels}): categories are matched by name")
    images, annotations, loaders = [], [], []
    for im in data["images"]:
        file = images_dir / im["file_name"]
        if not file.is_file():
            raise FileNotFoundError(f"missing image file {file} (named in {path})")
        images.append({"id": im["id"], "width": im["width"], "height": im["height"], "file_name": str(file)})
        loaders.append(lambda f=file: read_rgb(f))
    by_id = {im["id"]: im for im in images}
    for ann in data["annotations"]:
        if ann.get("category_id") in matched:
            im = by_id.get(ann.get("image_id"))
            if im is None:
                raise DatasetError(f"{path}: annotation {ann.get('id')} names image {ann.get('image_id')!r}, "
                                   "which is not in its images list: fix or remove the annotation")
            annotations.append(gt_annotation(len(annotations) + 1, ann["image_id"], matched[ann["category_id"]],
                                             annotation_to_mask(ann, im["height"], im["width"]),
                                             crowd=int(ann.get("iscrowd", 0))))
    return coco_dict(images, annotations, labels, "automask evaluation"), loaders


@torch.no_grad()
def predict(model: torch.nn.Module, images: list[np.ndarray], device) -> list[dict]:
    """Raw Mask R-CNN outputs (on the CPU) for RGB uint8 images."""
    tensors = [torch.from_numpy(np.ascontiguousarray(im)).permute(2, 0, 1).float().div(255).to(device)
               for im in images]
    return [{k: v.cpu() for k, v in out.items()} for out in model(tensors)]


def detections_to_coco(output: dict, image_id: int, mask_threshold: float = 0.5) -> list[dict]:
    """One image's model output as COCO result entries (RLE masks, xywh boxes)."""
    masks = (output["masks"][:, 0] > mask_threshold).numpy()
    return [result_entry(image_id, int(label), float(score), mask, box)
            for box, label, score, mask in zip(output["boxes"].tolist(), output["labels"].tolist(),
                                               output["scores"].tolist(), masks)]


def evaluate_model(model: torch.nn.Module, gt: dict, loaders: list[Callable[[], np.ndarray]],
                   device="cpu", batch_size: int = 4, mask_threshold: float = 0.5,
                   progress: Callable[[int, int], None] | None = None) -> dict:
    """Run the model over the ground-truth images and score it; returns a metrics dict."""
    was_training = model.training
    model.eval()
    results = []
    ids = [im["id"] for im in gt["images"]]
    try:
        for start in range(0, len(ids), batch_size):
            chunk = range(start, min(start + batch_size, len(ids)))
            outputs = predict(model, [loaders[i]() for i in chunk], device)
            for i, out in zip(chunk, outputs):
                results.extend(detections_to_coco(out, ids[i], mask_threshold))
            if progress:
                progress(chunk.stop, len(ids))
    finally:
        model.train(was_training)
    return score(gt, results)


def score(gt: dict, results: list[dict]) -> dict:
    """pycocotools bbox and segm evaluation -> {segm_AP, segm_AP50, ..., per_label: {...}}."""
    labels = {c["id"]: c["name"] for c in gt["categories"]}
    out = {f"{t}_{k}": 0.0 for t in ("segm", "bbox") for k in KEYS}
    out["per_label"] = {name: {f"{t}_{k}": None for t in ("segm", "bbox") for k in KEYS}
                        for name in labels.values()}
    out["images"] = len(gt["images"])
    out["instances"] = len(gt["annotations"])
    out["detections"] = len(results)
    if not gt["annotations"]:
        raise DatasetError("the evaluation set has no annotated objects of the model's labels")
    if not results:
        for name in labels.values():
            out["per_label"][name] = {f"{t}_{k}": 0.0 for t in ("segm", "bbox") for k in KEYS}
        return out
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        for iou_type in ("segm", "bbox"):
            ev = COCOeval(coco_gt, coco_dt, iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            out[f"{iou_type}_AP"], out[f"{iou_type}_AP50"], out[f"{iou_type}_AP75"] = \
                (max(float(v), 0.0) for v in ev.stats[:3])
            precision = ev.eval["precision"]  # [T iou, R recall, K class, A area, M maxdets]
            for k, cat_id in enumerate(ev.params.catIds):
                per = out["per_label"][labels[cat_id]]
                for key, p in (("AP", precision[:, :, k, 0, -1]), ("AP50", precision[0, :, k, 0, -1]),
                               ("AP75", precision[5, :, k, 0, -1])):
                    valid = p[p > -1]
                    per[f"{iou_type}_{key}"] = float(valid.mean()) if valid.size else None
    return out


def format_table(metrics: dict) -> str:
    """The COCO figures as a small text table: overall, then one row per label."""
    cols = [f"{t}_{k}" for t in ("segm", "bbox") for k in KEYS]
    head = f"{'label':<24}" + "".join(f"{c:>11}" for c in cols)
    rows = [head, "-" * len(head), f"{'all':<24}" + "".join(f"{metrics[c]:>11.4f}" for c in cols)]
    for name, per in metrics.get("per_label", {}).items():
        rows.append(f"{name:<24}" + "".join(f"{'n/a':>11}" if per[c] is None else f"{per[c]:>11.4f}"
                                             for c in cols))
    rows.append(f"({metrics['images']} images, {metrics['instances']} objects, "
                f"{metrics['detections']} detections)")
    return "\n".join(rows)

