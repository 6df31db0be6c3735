"""`automask train`: fine-tune Mask R-CNN on sweeps and write a model bundle (also under torchrun)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("train", help="train a Mask R-CNN model bundle on sweep datasets",
                              description=__doc__)
    p.add_argument("--data", nargs="+", required=True, metavar="PATH",
                   help="sweep folders or dataset roots (<root>/<label>/<sweep>/); labels are their union")
    p.add_argument("--out", required=True, help="output folder: the model bundle (+ checkpoint/)")
    p.add_argument("--preset", choices=("cpu", "gpu"), default="cpu",
                   help="cpu: MobileNetV3-FPN from scratch; gpu: ResNet-50 FPN v2 from COCO (default cpu)")
    p.add_argument("--arch", choices=("maskrcnn_mobilenet_v3_fpn16", "maskrcnn_mobilenet_v3_fpn",
                                      "maskrcnn_mobilenet_v3_fpn8", "maskrcnn_resnet50_fpn",
                                      "maskrcnn_resnet50_fpn_v2"),
                   help="override the preset's architecture (model.ARCHS; kept literal so --help needs no torch)")
    p.add_argument("--weights", help="coco | none | a .pt state_dict | an earlier bundle folder to extend "
                                     "(default: the preset's)")
    p.add_argument("--epochs", type=int, help="epochs (default: the preset's, 12)")
    p.add_argument("--max-minutes", type=float, help="wall-clock budget; stops cleanly and keeps the best model")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--force", action="store_true", help="overwrite a different bundle or run in --out")
    p.add_argument("--batch-size", type=int, help="images per step and process")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--optimizer", choices=("sgd", "adamw"))
    p.add_argument("--schedule", choices=("cosine", "step"), default="cosine")
    p.add_argument("--min-size", type=int, help="shorter image side fed to the model")
    p.add_argument("--max-size", type=int, help="longer image side limit")
    p.add_argument("--trainable-layers", type=int, help="backbone stages that train (pretrained weights)")
    p.add_argument("--holdout-every", type=int, default=6,
                   help="every k-th view of each sweep validates (0 = none; default 6)")
    p.add_argument("--val-data", nargs="+", default=[], metavar="PATH", help="extra validation sweeps")
    p.add_argument("--backgrounds", help="folder of photos for copy-paste compositing")
    p.add_argument("--distractors", nargs="+", default=[], metavar="PATH",
                   help="sweeps of OTHER objects, pasted unlabelled into composites as hard negatives")
    p.add_argument("--paste", type=float, help="probability that a sample becomes a copy-paste composite on "
                                               "another scene (default 0.7; 0 = train on the sweeps as they are)")
    p.add_argument("--no-procedural", action="store_true",
                   help="no procedural clutter scenes or distractor shapes (only --backgrounds, the workspace "
                        "and the sweeps' negatives)")
    p.add_argument("--patience", type=int, default=0, help="early stopping after N evaluations without gain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", type=int, default=0, help="data-loading processes")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-amp", action="store_true", help="disable mixed precision on CUDA")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


CLI_ONLY = ("command", "quiet", "no_amp", "no_procedural")  # argparse destinations that are not training options


def config_from_args(args):
    """The TrainConfig of these flags, through the constructor the trainer node also uses."""
    from ..core.training.train import TrainConfig
    options = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in CLI_ONLY}
    return TrainConfig.from_options({**options, "amp": not args.no_amp,
                                     "procedural": False if args.no_procedural else None})


def run(args) -> int:
    from tqdm import tqdm

    from ..core.training.train import train
    config = config_from_args(args)
    bar = None

    def progress(d: dict) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = tqdm(total=d["iterations"], initial=d["iteration"], unit="it", dynamic_ncols=True)
        bar.total = d["iterations"]
        bar.update(d["iteration"] - bar.n)
        post = {"epoch": f"{d['epoch']}/{d['epochs']}", "phase": d["phase"]}
        if d["loss"] is not None:
            post["loss"] = f"{d['loss']:.3f}"
        if d["eta_s"] is not None:
            post["eta"] = f"{d['eta_s'] / 60:.1f}min"
        bar.set_postfix(post, refresh=True)

    try:
        result = train(config, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if result.bundle is None:
        if result.reason == "cancelled":
            print("training stopped before any model was exported; resume with --resume")
        return 0 if result.reason != "cancelled" else 1
    m = result.metrics
    figures = (f"validation mask AP {m['segm_AP']:.3f}, AP50 {m['segm_AP50']:.3f}, box AP {m['bbox_AP']:.3f}"
               if "segm_AP" in m else "no validation views (holdout 0)")
    print(f"{result.reason}: {result.iterations} iterations, {result.epochs} epochs in {result.wall_s / 60:.1f} min; "
          f"{figures}; model bundle {result.bundle}")
    return 0
