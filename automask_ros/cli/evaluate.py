"""`automask eval`: COCO bbox and mask AP of a model bundle on sweeps or any COCO instance set."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="score a model bundle with pycocotools (bbox and mask AP)",
                              description=__doc__)
    p.add_argument("--model", required=True, help="model bundle folder")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", nargs="+", metavar="PATH", help="sweep folders or dataset roots (all views)")
    src.add_argument("--coco", metavar="ANNOTATIONS.json",
                     help="a plain COCO instance-segmentation file (with --images); categories match labels by name")
    p.add_argument("--images", help="image folder for --coco")
    p.add_argument("--json", metavar="OUT", help="write segm_AP, segm_AP50, bbox_AP, bbox_AP50 (+ per_label) here")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--batch-size", type=int, default=4)
    return p


def run(args) -> int:
    from pathlib import Path

    import torch

    from ..core.shared.atomic import atomic_write_json
    from ..core.training.bundle import load_bundle
    from ..core.training.data import load_sweeps, split_by_view
    from ..core.capture.dataset import DatasetError
    from ..core.training.evaluate import evaluate_model, format_table, gt_from_coco_file, gt_from_samples
    if args.coco and not args.images:
        raise ValueError("--coco needs --images DIR (the folder its file_name entries are relative to)")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    model, meta = load_bundle(args.model, device)
    labels = meta["labels"]
    if args.coco:
        gt, loaders = gt_from_coco_file(args.coco, args.images, labels)
    else:
        sweeps = load_sweeps(args.data)
        unknown = sorted({s.label for s in sweeps} - set(labels))
        if unknown:
            raise DatasetError(f"the model {args.model} does not know {unknown} (it knows {labels}): "
                               "leave those sweeps out or train a model with them")
        gt, loaders = gt_from_samples(split_by_view(sweeps, labels, 0)[0], labels)
    metrics = evaluate_model(model, gt, loaders, device, batch_size=args.batch_size,
                             mask_threshold=float(meta["thresholds"].get("mask", 0.5)))
    metrics["model_id"] = meta["model_id"]
    print(format_table(metrics))
    if args.json:
        atomic_write_json(Path(args.json), metrics)
    return 0
