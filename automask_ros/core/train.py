"""Fine-tune Mask R-CNN on sweep datasets and export a model bundle.

One function, train(config, progress, should_stop), drives everything: data, model, optimiser,
schedule, evaluation each epoch with pycocotools, checkpoints that resume exactly, early stopping,
a wall-clock budget, and DistributedDataParallel when started by torchrun. The bundle in the
output folder always holds the best model so far (by validation mask AP), so a run that is
stopped at any time leaves a usable model; out/checkpoint/last.pt holds the state to resume.

Exact resume: the sample order of an epoch is a permutation seeded by (seed, epoch), every
augmentation is seeded by (seed, epoch, index), and the checkpoint stores the model, optimiser,
scaler, position (epoch, batch) and the torch/numpy/python RNG states.
"""

from __future__ import annotations

import dataclasses
import hashlib
import datetime as _dt
import io
import math
import os
import random
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from .atomic import atomic_write_bytes, atomic_write_json
from .augment import AugmentConfig, Augmenter, list_backgrounds
from .bundle import BundleError, load_bundle_state, read_bundle_meta, save_bundle
from .data import (DetectionDataset, check_trainable, collate, fingerprint, load_sweeps, prefetched,
                   replayed_sweeps, split_by_view, union_labels)
from .dataset import DatasetError
from .evaluate import evaluate_model, gt_from_samples
from .model import build_model, extend_state_dict
from .workspace import workspace_images

# Training defaults per preset. "cpu": the light MobileNetV3-FPN model from scratch, which reached
# mask AP 0.91 on COIL test views in 150 steps where R50-FPN from scratch was at 0.12 after 15 min.
# "gpu": ResNet-50 FPN v2 fine-tuned from COCO weights with SGD, the torchvision recipe.
PRESETS = {
    "cpu": dict(arch="maskrcnn_mobilenet_v3_fpn", min_size=320, max_size=512, batch_size=2,
                optimizer="adamw", lr=1e-3, weight_decay=1e-4, weights="none", epochs=12),
    "gpu": dict(arch="maskrcnn_resnet50_fpn_v2", min_size=800, max_size=1333, batch_size=4,
                optimizer="sgd", lr=0.01, weight_decay=1e-4, weights="coco", epochs=12),
}


# Sampled RoIs per image for the CPU model's box head in training (torchvision: 512; the model's own
# default: 64). A few objects per image still fill 32 RoIs' positive quarter, and the box head's
# cost halves. The GPU preset keeps torchvision's recipe.
CPU_TRAIN_ROIS = {"box_batch_size_per_image": 32}

# Evaluations (and checkpoints) in a time-budgeted run: about one per 5 % of the budget.
EVALS_PER_BUDGET = 20

# With --max-minutes and no --epochs the budget ends the run and the LR schedule follows the clock.
BUDGET_EPOCHS = 1000


class TrainError(ValueError):
    """Training that cannot start or continue; the message says what to do."""


@dataclass
class TrainConfig:
    """Everything a run needs; None means "the preset's value" (see PRESETS)."""

    data: list[str]
    out: str
    preset: str = "cpu"
    arch: str | None = None
    weights: str | None = None        # none | coco | a .pt state_dict | an earlier bundle folder
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None      # sgd | adamw
    lr: float | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    schedule: str = "cosine"          # cosine | step (x0.1 at 70% and 90% of the run)
    warmup_iters: int = 50
    clip_grad: float = 10.0           # max gradient norm, 0 = off
    amp: bool = True                  # mixed precision, CUDA only
    trainable_layers: int | None = None
    min_size: int | None = None
    max_size: int | None = None
    holdout_every: int = 6            # every k-th kept view of each sweep validates; 0 = none
    val_data: list[str] = field(default_factory=list)   # extra validation sweeps (used whole)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    backgrounds: str | None = None    # folder of photos for copy-paste
    distractors: list[str] = field(default_factory=list)  # sweeps pasted as unlabelled clutter
    patience: int = 0                 # early stopping: evaluations without improvement, 0 = off
    seed: int = 0
    max_minutes: float | None = None  # wall-clock budget for the whole run, resumes included
    resume: bool = False
    force: bool = False
    device: str = "auto"
    workers: int = 0
    score_threshold: float = 0.5
    mask_threshold: float = 0.5
    threads: int | None = None
    speedups: bool = True             # prefetch thread, fused optimiser, fewer RoIs; off only to measure them

    def resolved(self) -> "TrainConfig":
        """A copy with the preset's values filled in where this config says None."""
        if self.preset not in PRESETS:
            raise TrainError(f"unknown preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        values = {k: (PRESETS[self.preset][k] if getattr(self, k) is None and k in PRESETS[self.preset]
                      else getattr(self, k)) for k in (f.name for f in dataclasses.fields(self))}
        if isinstance(values["augment"], dict):
            values["augment"] = AugmentConfig(**values["augment"])
        if self.epochs is None and self.max_minutes:  # a time budget: the clock ends the run, not epochs
            values["epochs"] = BUDGET_EPOCHS
        if not values["augment"].canvas:  # composites at the model's input size
            values["augment"] = dataclasses.replace(values["augment"], canvas=values["min_size"])
        return TrainConfig(**values)


@dataclass
class TrainResult:
    bundle: Path | None               # None on ranks other than 0 and when cancelled before any export
    metrics: dict                     # best validation metrics (empty without validation data)
    reason: str                       # completed | early_stop | budget | cancelled
    epochs: float
    iterations: int
    wall_s: float
    history: list = field(default_factory=list)
    digest: str = ""                  # hash of the final parameters: equal on every DDP rank


def lr_factor(iteration: int, total: int, warmup: int, schedule: str, time_frac: float = 0.0) -> float:
    """Warm-up then cosine or step decay; progress is the larger of iterations and budget used."""
    warm = min(1.0, (iteration + 1) / warmup) if warmup > 0 else 1.0
    p = min(1.0, max(iteration / max(total, 1), time_frac))
    if schedule == "cosine":
        decay = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p))
    elif schedule == "step":
        decay = 0.01 if p >= 0.9 else 0.1 if p >= 0.7 else 1.0
    else:
        raise TrainError(f"unknown schedule {schedule!r}: choose cosine or step")
    return warm * decay


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This rank's batches for an epoch: a (seed, epoch) permutation, padded so all ranks step together."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    per_rank = math.ceil(n / world)
    order += order[:per_rank * world - n]
    mine = order[rank::world]
    return [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]


def _rng_state() -> dict:
    """All RNG states as plain types and tensors, so the checkpoint loads with weights_only=True."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached": float(cached)}
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class _Dist:
    """torchrun's environment: rank, world size, device; a no-op for a single process."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        cuda = torch.cuda.is_available() and device in ("auto", "cuda")
        if device not in ("auto", "cuda", "cpu") and not device.startswith("cuda:"):
            raise TrainError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise TrainError(f"device {device} asked for but CUDA is not available: use --device cpu")
        self.device = torch.device(device if device.startswith("cuda:") else
                                   f"cuda:{local}" if cuda else "cpu")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.owns_group = False
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
            self.owns_group = True

    @property
    def main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        """True on every rank when any rank says True (stop requests, budgets)."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group:
            dist.destroy_process_group()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def curves_png(losses: list[tuple[int, float]], history: list[dict]) -> bytes:
    """Training loss against iteration and validation AP against epoch, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    if losses:
        it, loss = np.array(losses).T
        k = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        ax1.plot(it, loss, alpha=0.3, label="loss")
        ax1.plot(it[k - 1:], smooth, label=f"mean of {k}")
        ax1.set_yscale("log")
    ax1.set_xlabel("iteration")
    ax1.set_title("training loss")
    ax1.legend()
    evals = [h for h in history if "segm_AP" in h]
    if evals:
        ep = [h["epoch"] for h in evals]
        for key in ("segm_AP", "segm_AP50", "bbox_AP"):
            ax2.plot(ep, [h[key] for h in evals], marker="o", label=key)
        ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("epoch")
    ax2.set_title("validation")
    ax2.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _headline(metrics: dict) -> dict:
    keys = ("segm_AP", "segm_AP50", "segm_AP75", "bbox_AP", "bbox_AP50", "bbox_AP75")
    out = {k: metrics[k] for k in keys if k in metrics}
    if "per_label" in metrics:
        out["per_label"] = metrics["per_label"]
    if "epoch" in metrics:
        out["epoch"] = metrics["epoch"]
    return out


def train(config: TrainConfig, progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train as configured; see the module docstring. Raises TrainError/DatasetError/BundleError."""
    cfg = config.resolved()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    explicit = {"arch": config.arch is not None, "size": config.min_size is not None}
    ctx = _Dist(cfg.device)
    try:
        return _Run(cfg, ctx, progress, should_stop, explicit).run()
    finally:
        ctx.close()


class _Run:
    """One training run; split into steps so that each reads on its own."""

    def __init__(self, cfg: TrainConfig, ctx: _Dist, progress, should_stop, explicit: dict):
        self.cfg, self.ctx, self.explicit = cfg, ctx, explicit
        self.progress = progress if ctx.main else None
        self.should_stop = should_stop or (lambda: False)
        self.out = Path(cfg.out)
        self.ckpt_path = self.out / "checkpoint" / "last.pt"
        self.start = time.monotonic()
        self.t0 = self.start  # for the ETA: this process's own pace

    # ---- set-up -------------------------------------------------------------------------
    def _prepare_data(self) -> None:
        cfg = self.cfg
        self.sweeps = load_sweeps(cfg.data)
        self.base = None
        weights = str(cfg.weights)
        if weights not in ("none", "coco") and Path(weights).is_dir():
            self.base = read_bundle_meta(weights)
            self.sweeps += replayed_sweeps(self.base, self.sweeps)  # the old objects are trained on too
            have = {s.label for s in self.sweeps}
            lost = [label for label in self.base["labels"] if label not in have]
            if lost:
                raise BundleError(f"base model {weights} knows {self.base['labels']} but the sweeps it was "
                                  f"trained on are gone and --data has none of {lost}: add them with --data "
                                  "(training without them would make the model forget them) or start from "
                                  "--weights none")
            if self.explicit["arch"] and self.cfg.arch != self.base["arch"]:
                raise BundleError(f"base model {weights} is a {self.base['arch']}, not a {self.cfg.arch}: "
                                  "pick the preset/arch of the base model")
        elif weights not in ("none", "coco") and not Path(weights).is_file():
            raise TrainError(f"--weights {weights} is neither 'coco', 'none', a .pt file nor a bundle folder")
        self.labels = union_labels(self.sweeps, self.base["labels"] if self.base else None)
        self.train_samples, self.val_samples = split_by_view(self.sweeps, self.labels, cfg.holdout_every)
        check_trainable(self.train_samples)
        if cfg.val_data:
            extra = load_sweeps(cfg.val_data)
            unknown = sorted({s.label for s in extra} - set(self.labels))
            if unknown:
                raise DatasetError(f"validation sweeps of {unknown} have no training data")
            self.val_samples += split_by_view(extra, self.labels, 0)[0]
        if self.val_samples and all(s.negative for s in self.val_samples):
            self.val_samples = []  # nothing to score; keep the last model instead of the best

    def _check_out(self) -> None:
        cfg = self.cfg
        if self.out.exists() and not self.out.is_dir():
            raise TrainError(f"--out {self.out} is a file: give a folder for the model bundle")
        has_bundle = (self.out / "model.json").exists()
        if cfg.resume:
            if not self.ckpt_path.exists():
                raise TrainError(f"nothing to resume in {self.out} (no checkpoint/last.pt): "
                                 "start without --resume")
        elif not cfg.force and (has_bundle or self.ckpt_path.exists()):
            what = "a model bundle" if has_bundle else "an unfinished run"
            raise TrainError(f"{self.out} already holds {what}: pass --resume to continue it, --force "
                             "to overwrite it, or choose another --out")
        elif cfg.force and self.ctx.main and self.ckpt_path.exists():
            self.ckpt_path.unlink()  # a later --resume must never pick up the overwritten run

    def _build(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        arch = self.base["arch"] if self.base and not self.explicit["arch"] else cfg.arch
        if self.base and not self.explicit["size"]:
            cfg.min_size = self.base["input"]["min_size"]
            cfg.max_size = self.base["input"]["max_size"]
        self.arch = arch
        weights = "none" if self.base else str(cfg.weights)
        torch.manual_seed(cfg.seed)
        model = build_model(arch, len(self.labels) + 1, min_size=cfg.min_size, max_size=cfg.max_size,
                            weights=weights, trainable_layers=cfg.trainable_layers,
                            **(CPU_TRAIN_ROIS if cfg.speedups and arch == PRESETS["cpu"]["arch"] else {}))
        if self.base:
            state = extend_state_dict(load_bundle_state(cfg.weights), self.base["labels"], self.labels, model)
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise BundleError(f"base bundle {cfg.weights} does not fit a {arch}: "
                                  f"{str(exc).splitlines()[0]}") from None
        self.model = model.to(ctx.device)
        params = [p for p in model.parameters() if p.requires_grad]
        fused = {"fused": True} if cfg.speedups else {}  # one kernel for all parameters, CPU and CUDA
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                             **fused)
        elif cfg.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
        else:
            raise TrainError(f"unknown optimizer {cfg.optimizer!r}: choose sgd or adamw")
        self.use_amp = bool(cfg.amp and ctx.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        backgrounds = list_backgrounds(cfg.backgrounds) + workspace_images(cfg.data)  # the robot's own scenes
        self.dataset = DetectionDataset(self.train_samples, seed=cfg.seed)
        negatives = [(lambda i=i: self.dataset.raw(i)[0]) for i, s in enumerate(self.train_samples) if s.negative]
        self.dataset.augmenter = Augmenter(cfg.augment, backgrounds, negatives, self._distractor_pool())
        self.iters_per_epoch = len(epoch_batches(len(self.dataset), cfg.batch_size, 0, cfg.seed,
                                                 ctx.rank, ctx.world))
        self.total_iters = self.iters_per_epoch * cfg.epochs
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.state = {"epoch": 0, "batch": 0, "iteration": 0, "elapsed_s": 0.0, "history": [],
                      "losses": [], "best": None, "bundle": False,
                      "model_id": f"{'+'.join(self.labels)[:48]}-{arch.split('_')[1]}-{stamp}"}

    def _distractor_pool(self):
        """rng -> (rgb, mask) of a random object from the distractor sweeps (None without any)."""
        if not self.cfg.distractors:
            return None
        sweeps = load_sweeps(self.cfg.distractors)
        clash = sorted({s.label for s in sweeps} & set(self.labels))
        if clash:
            raise DatasetError(f"distractor sweeps of {clash} are also training labels: a distractor must be "
                               "an object the model should NOT detect")
        pool = [s for s in split_by_view(sweeps, sorted({s.label for s in sweeps}), 0)[0] if not s.negative]
        if not pool:
            raise DatasetError("the distractor sweeps hold no object masks")
        data = DetectionDataset(pool)

        def sample(rng):
            rgb, masks, _ = data.raw(int(rng.integers(len(pool))))
            return rgb, masks[int(rng.integers(len(masks)))]
        return sample

    # ---- checkpoints ----------------------------------------------------------------------
    def _save_checkpoint(self) -> None:
        if not self.ctx.main:
            return
        self.state["elapsed_s"] = self._elapsed()
        self.start = time.monotonic()  # elapsed_s now holds the time up to here
        payload = {"model": self._module().state_dict(), "optimizer": self.optimizer.state_dict(),
                   "scaler": self.scaler.state_dict(), "state": self.state, "rng": _rng_state(),
                   "labels": self.labels, "arch": self.arch,
                   "scheduler": {"kind": self.cfg.schedule, "iteration": self.state["iteration"]}}
        buf = io.BytesIO()
        torch.save(payload, buf)
        self.ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.ckpt_path, buf.getvalue())

    def _load_checkpoint(self) -> None:
        try:
            ckpt = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
        except Exception as exc:
            why = (str(exc).splitlines() or [type(exc).__name__])[0]  # EOFError() has no text
            raise TrainError(f"cannot read checkpoint {self.ckpt_path} ({why}): "
                             "start again with --force") from None
        if ckpt["labels"] != self.labels or ckpt["arch"] != self.arch:
            raise TrainError(f"checkpoint {self.ckpt_path} trains {ckpt['arch']} on {ckpt['labels']}, but "
                             f"this run has {self.arch} on {self.labels}: give the same --data and preset, "
                             "or start again with --force")
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.state = ckpt["state"]
        _set_rng_state(ckpt["rng"])

    def _elapsed(self) -> float:
        return self.state["elapsed_s"] + (time.monotonic() - self.start)

    def _module(self) -> torch.nn.Module:
        return getattr(self.model, "module", self.model)

    # ---- evaluation and export -------------------------------------------------------------
    def _evaluate(self, epoch: float) -> dict | None:
        """Rank 0 scores the validation split; returns the metrics (None without validation data)."""
        if not self.val_samples or not self.ctx.main:
            return None
        gt, loaders = gt_from_samples(self.val_samples, self.labels)

        def report(done, total):
            self._report("eval", loss=None, extra=done / total)

        metrics = evaluate_model(self._module(), gt, loaders, self.ctx.device, batch_size=4,
                                 mask_threshold=self.cfg.mask_threshold, progress=report)
        metrics["epoch"] = round(epoch, 3)
        metrics["iteration"] = self.state["iteration"]
        metrics["minutes"] = round(self._elapsed() / 60, 2)
        return metrics

    def _export(self, metrics: dict | None) -> None:
        """Write the bundle (rank 0): the current model, described by these metrics."""
        if not self.ctx.main:
            return
        self._report("export", loss=None)
        cfg = self.cfg
        meta = {"model_id": self.state["model_id"], "arch": self.arch, "labels": self.labels,
                "input": {"min_size": cfg.min_size, "max_size": cfg.max_size},
                "thresholds": {"score": cfg.score_threshold, "mask": cfg.mask_threshold},
                "metrics": _headline(metrics or {}),
                "datasets": [{"path": str(s.path.resolve()), "fingerprint": fingerprint(s)} for s in self.sweeps],
                "training": {"preset": cfg.preset, "weights": str(cfg.weights), "epochs": cfg.epochs,
                             "iteration": self.state["iteration"], "seed": cfg.seed,
                             "images": len(self.train_samples), "val_images": len(self.val_samples)}}
        save_bundle(self.out, self.model, meta, force=True, metrics=self._full_metrics("running"),
                    curves_png=curves_png(self.state["losses"], self.state["history"]))
        self.state["bundle"] = True

    def _full_metrics(self, reason: str) -> dict:
        return {"best": _headline(self.state["best"] or {}), "history": self.state["history"],
                "losses": self.state["losses"], "reason": reason,
                "train": {"wall_s": round(self._elapsed(), 1), "iterations": self.state["iteration"],
                          "step_s": round(self.state.get("step_s", 0.0), 1),
                          "it_per_s": round(self.state["iteration"] / max(self.state.get("step_s", 0.0), 1e-9), 3),
                          "epochs": self.state["epoch"] + self.state["batch"] / max(self.iters_per_epoch, 1),
                          "images": len(self.train_samples), "batch_size": self.cfg.batch_size,
                          "world_size": self.ctx.world, "peak_rss_mb": round(_peak_rss_mb(), 1)}}

    def _after_eval(self, metrics: dict | None) -> bool:
        """Record an evaluation, export when it is the best so far; True when it improved."""
        if not self.ctx.main:
            return False
        if metrics is None:  # no validation data: the latest model is the one to keep
            self._export(None)
            return True
        self.state["history"].append({k: v for k, v in metrics.items() if k != "per_label"})
        best = self.state["best"]
        improved = best is None or metrics["segm_AP"] > best["segm_AP"] + 1e-4
        self.state["stale"] = 0 if improved else self.state.get("stale", 0) + 1
        if improved:
            self.state["best"] = metrics
            self._export(metrics)
        return improved

    # ---- the loop -----------------------------------------------------------------------------
    def _report(self, phase: str, loss: float | None, extra: float | None = None) -> None:
        if self.progress is None:
            return
        total = max(self.total_iters, 1)
        frac = min(1.0, self.state["iteration"] / total)
        if self.cfg.max_minutes:
            frac = max(frac, min(1.0, self._elapsed() / (60 * self.cfg.max_minutes)))
        if phase == "done":
            frac = 1.0
        run_s = time.monotonic() - self.t0
        done_here = self.state["iteration"] - self._start_iteration
        eta = (total - self.state["iteration"]) * run_s / done_here if done_here > 0 else None
        if eta is not None and self.cfg.max_minutes:
            eta = min(eta, max(0.0, 60 * self.cfg.max_minutes - self._elapsed()))
        if phase == "done":
            eta = 0.0
        self.progress({"phase": phase, "epoch": self.state["epoch"], "epochs": self.cfg.epochs,
                       "iteration": self.state["iteration"], "iterations": self.total_iters,
                       "loss": loss, "progress": frac, "eta_s": eta,
                       "eval_progress": extra})

    def _evaluation_due(self, reason: str) -> bool:
        """Evaluate and checkpoint after every epoch, except in a time-budgeted run with short epochs:
        there at most EVALS_PER_BUDGET times, so that the minutes go to training steps."""
        if reason != "completed" or not self.cfg.max_minutes or self.state["epoch"] >= self.cfg.epochs:
            return True
        since = self._elapsed() - self.state.get("eval_at_s", 0.0)
        return since >= 60 * self.cfg.max_minutes / EVALS_PER_BUDGET

    def _budget_spent(self) -> bool:
        return bool(self.cfg.max_minutes) and self._elapsed() >= 60 * self.cfg.max_minutes

    def _step(self, images, targets) -> float:
        cfg = self.cfg
        time_frac = self._elapsed() / (60 * cfg.max_minutes) if cfg.max_minutes else 0.0
        factor = lr_factor(self.state["iteration"], self.total_iters, cfg.warmup_iters, cfg.schedule, time_frac)
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr * factor
        device = self.ctx.device
        images = [im.to(device, non_blocking=True) for im in images]
        targets = [{k: (v.to(device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
        with torch.autocast(device_type=device.type, enabled=self.use_amp):
            losses = self.model(images, targets)
            loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise TrainError(f"the loss became {loss.item()} at iteration {self.state['iteration']}: "
                             "lower the learning rate (--lr) or check the masks")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.clip_grad > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.item())

    def _batches(self, epoch: int, skip: int):
        cfg, ctx = self.cfg, self.ctx
        batches = epoch_batches(len(self.dataset), cfg.batch_size, epoch, cfg.seed, ctx.rank, ctx.world)[skip:]
        self.dataset.set_epoch(epoch)
        if cfg.workers <= 0:
            made = (collate([self.dataset[i] for i in batch]) for batch in batches)
            yield from (prefetched(made, depth=2) if cfg.speedups else made)
        else:
            loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=batches, collate_fn=collate,
                                                 num_workers=cfg.workers, persistent_workers=False,
                                                 generator=torch.Generator().manual_seed(cfg.seed))
            yield from loader

    def run(self) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        self._prepare_data()
        self._check_out()
        self._build()
        if cfg.resume:
            self._load_checkpoint()
        self._start_iteration = self.state["iteration"]
        if ctx.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None,
                find_unused_parameters=True)  # a batch of negatives leaves the mask head unused
        self.model.train()
        reason = "completed"
        last_report = 0.0
        steps_since_eval = 1
        while self.state["epoch"] < cfg.epochs and reason == "completed":
            epoch = self.state["epoch"]
            for images, targets in self._batches(epoch, self.state["batch"]):
                if ctx.any(self.should_stop()):
                    reason = "cancelled"
                    break
                if ctx.any(self._budget_spent()):
                    reason = "budget"
                    break
                t_step = time.monotonic()
                loss = self._step(images, targets)
                self.state["step_s"] = self.state.get("step_s", 0.0) + time.monotonic() - t_step
                steps_since_eval += 1
                self.state["iteration"] += 1
                self.state["batch"] += 1
                self.state["losses"].append((self.state["iteration"], round(loss, 5)))
                if time.monotonic() - last_report > 0.5 or self.state["batch"] == self.iters_per_epoch:
                    self._report("train", loss)
                    last_report = time.monotonic()
            if reason == "completed":
                self.state["epoch"] += 1
                self.state["batch"] = 0
            elif reason == "cancelled":
                break
            if not ctx.any(self._evaluation_due(reason)):  # every rank decides alike
                continue
            if steps_since_eval:  # a budget that ends right after an evaluation needs no second one
                partial = self.state["epoch"] + self.state["batch"] / max(self.iters_per_epoch, 1)
                self._after_eval(self._evaluate(partial))
                steps_since_eval = 0
            self._save_checkpoint()
            self.state["eval_at_s"] = self._elapsed()
            stop = ctx.main and cfg.patience > 0 and self.state.get("stale", 0) >= cfg.patience
            if ctx.any(stop) and reason == "completed":
                reason = "early_stop"
            ctx.barrier()
        if reason == "cancelled":
            self._save_checkpoint()  # keep the position; the bundle keeps the best model so far
        wall = self._elapsed()
        if ctx.main and self.state["bundle"]:  # metrics.json and curves cover the whole run
            atomic_write_json(self.out / "metrics.json", self._full_metrics(reason))
            atomic_write_bytes(self.out / "curves.png", curves_png(self.state["losses"], self.state["history"]))
        self._report("done", loss=None)
        ctx.barrier()
        epochs_done = self.state["epoch"] + self.state["batch"] / max(self.iters_per_epoch, 1)
        return TrainResult(bundle=self.out if ctx.main and self.state["bundle"] else None,
                           metrics=_headline(self.state["best"] or {}), reason=reason,
                           epochs=round(epochs_done, 3), iterations=self.state["iteration"],
                           wall_s=round(wall, 1), history=self.state["history"], digest=self._digest())

    def _digest(self) -> str:
        h = hashlib.sha256()
        for key, value in self._module().named_parameters():  # BN buffers are per rank until broadcast
            h.update(key.encode())
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

