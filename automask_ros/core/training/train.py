"""Fine-tune Mask R-CNN on sweep datasets and export a model bundle.

train(config, progress, should_stop) wires a run together, as torchvision's references/detection
train.py does: data (train_data.py), model, optimiser and LR scheduler (train_schedule.py),
then the loop of train_loop.py (train_one_epoch, evaluate, record_evaluation, save) with
checkpoints (train_checkpoint.py), early stopping, a wall-clock budget, and
DistributedDataParallel when started by torchrun (distributed.py). The bundle in the output
folder always holds the best model so far by validation mask AP (or a later one within
train_loop.KEEP_WITHIN of it), so a run that is stopped at any time leaves a usable model;
out/checkpoint/last.pt holds the state to resume.

Exact resume: the sample order of an epoch is a permutation seeded by (seed, epoch), every
augmentation is seeded by (seed, epoch, index), and the checkpoint stores the model, optimiser,
LR scheduler, scaler, position (epoch, batch) and the torch/numpy/python RNG states.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..shared.atomic import atomic_write_bytes, atomic_write_json
from .augment import Augmenter, list_backgrounds
from .bundle import BundleError, load_bundle_state
from .data import DetectionDataset, collate, prefetched
from .ema import make_ema
from .distributed import Distributed
from .model import MOBILENET_ARCHS, build_model, extend_state_dict
from .train_checkpoint import RunState, check_out, load_checkpoint
from .train_config import PRESETS, TrainConfig, TrainError
from .train_data import TrainData, distractor_pool, load_training_data
from .train_loop import (Run, evaluate, evaluation_due, full_metrics, record_evaluation, report, save,
                         train_one_epoch)
from .train_report import curves_png, headline
from .train_schedule import make_scheduler
from ..capture.workspace import workspace_images

# The CPU model's training settings with the speed-ups on and off. On: 32 sampled RoIs per image for
# the box head (torchvision: 512; the model's own default: 64), since a few objects per image still
# fill 32 RoIs' positive quarter and the box head's cost halves, and one RoIAlign sample per mask bin
# (the model's default, see model.py). Off: the model as it was before, only to measure them. The
# GPU preset keeps torchvision's recipe.
CPU_TRAIN_FAST = {"box_batch_size_per_image": 32}
CPU_TRAIN_PLAIN = {"mask_sampling_ratio": 2}

# Extending a bundle (--weights <bundle>) starts from weights that already know their objects. The
# preset's learning rate is set for a model from scratch and moves them about as far as a fresh
# start would; this share of it learns the new object while the old ones stay near where the base
# had them (benchmarks/add_object.py). An explicit --lr is used as given.
EXTEND_LR_SCALE = 0.3

__all__ = ["PRESETS", "TrainConfig", "TrainError", "TrainResult", "epoch_batches", "train"]


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


def epoch_batches(n: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This rank's batches for an epoch: a (seed, epoch) permutation, padded so all ranks step together."""
    g = torch.Generator().manual_seed(seed * 100003 + epoch)
    order = torch.randperm(n, generator=g).tolist()
    per_rank = math.ceil(n / world)
    order += order[:per_rank * world - n]
    mine = order[rank::world]
    return [mine[i:i + batch_size] for i in range(0, len(mine), batch_size)]


def _batches(dataset: DetectionDataset, cfg: TrainConfig, dist: Distributed, epoch: int, skip: int):
    """(images, targets) of this rank's batches of an epoch, from batch `skip` on."""
    batches = epoch_batches(len(dataset), cfg.batch_size, epoch, cfg.seed, dist.rank, dist.world)[skip:]
    dataset.set_epoch(epoch)
    if cfg.workers <= 0:
        made = (collate([dataset[i] for i in batch]) for batch in batches)
        yield from (prefetched(made, depth=2) if cfg.speedups else made)
    else:
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=batches, collate_fn=collate,
                                             num_workers=cfg.workers, persistent_workers=False,
                                             generator=torch.Generator().manual_seed(cfg.seed))
        yield from loader


def _build_model(cfg: TrainConfig, data: TrainData, explicit: dict) -> tuple[torch.nn.Module, str]:
    """The model to train and its arch: a base bundle's (extended by the new labels) or a fresh one."""
    base = data.base
    arch = base["arch"] if base and not explicit["arch"] else cfg.arch
    if base and not explicit["size"]:
        cfg.min_size = base["input"]["min_size"]
        cfg.max_size = base["input"]["max_size"]
    torch.manual_seed(cfg.seed)
    model = build_model(arch, len(data.labels) + 1, min_size=cfg.min_size, max_size=cfg.max_size,
                        weights="none" if base else str(cfg.weights), trainable_layers=cfg.trainable_layers,
                        **(_cpu_settings(cfg) if arch in MOBILENET_ARCHS else {}))
    if base:
        state = extend_state_dict(load_bundle_state(cfg.weights), base["labels"], data.labels, model)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise BundleError(f"base bundle {cfg.weights} does not fit a {arch}: "
                              f"{str(exc).splitlines()[0]}") from None
    return model, arch


def _cpu_settings(cfg: TrainConfig) -> dict:
    return CPU_TRAIN_FAST if cfg.speedups else CPU_TRAIN_PLAIN


def _build_optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if cfg.speedups else {}  # one kernel for all parameters, CPU and CUDA
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fused)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)
    raise TrainError(f"unknown optimizer {cfg.optimizer!r}: choose sgd or adamw")


def _build_dataset(cfg: TrainConfig, data: TrainData) -> DetectionDataset:
    """The augmented training set: copy-paste onto procedural scenes, the robot's recorded workspace,
    the user's photos and the sweeps' negatives, among distractors."""
    dataset = DetectionDataset(data.train_samples, seed=cfg.seed)
    negatives = [(lambda i=i: dataset.raw(i)[0]) for i, s in enumerate(data.train_samples) if s.negative]
    photos = list_backgrounds(cfg.backgrounds) + workspace_images(cfg.data)
    dataset.augmenter = Augmenter(cfg.augment, photos, negatives,
                                  distractor_pool(cfg.distractors, data.labels))
    return dataset


def _build_run(cfg: TrainConfig, dist: Distributed, data: TrainData, explicit: dict, progress) -> Run:
    model, arch = _build_model(cfg, data, explicit)
    model = model.to(dist.device)
    if cfg.speedups and dist.device.type == "cpu":  # mkldnn's convolutions, backward above all, run
        model = model.to(memory_format=torch.channels_last)  # faster on NHWC (measured: 1.13x a step)
    optimizer = _build_optimizer(cfg, model)
    dataset = _build_dataset(cfg, data)
    iters_per_epoch = len(epoch_batches(len(dataset), cfg.batch_size, 0, cfg.seed, dist.rank, dist.world))
    scheduler = make_scheduler(optimizer, iters_per_epoch * cfg.epochs, cfg.warmup_iters, cfg.schedule)
    scaler = torch.amp.GradScaler("cuda", enabled=bool(cfg.amp and dist.device.type == "cuda"))
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    state = RunState(model_id=f"{'+'.join(data.labels)[:48]}-{arch.split('_')[1]}-{stamp}")
    return Run(cfg=cfg, dist=dist, data=data, arch=arch, model=model, optimizer=optimizer, scheduler=scheduler,
               scaler=scaler, dataset=dataset, state=state, iters_per_epoch=iters_per_epoch,
               ema=make_ema(model, cfg.ema_decay), progress=progress if dist.main else None)


def _digest(model: torch.nn.Module) -> str:
    """A hash of the parameters (BN buffers are per rank until broadcast): equal ranks, equal digests."""
    h = hashlib.sha256()
    for key, value in model.named_parameters():
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def train(config: TrainConfig, progress: Callable[[dict], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train as configured; see the module docstring. Raises TrainError/DatasetError/BundleError."""
    started = time.monotonic()
    cfg = config.resolved()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    explicit = {"arch": config.arch is not None, "size": config.min_size is not None}
    dist = Distributed(cfg.device)
    try:
        data = load_training_data(cfg, explicit["arch"])
        if data.base and config.lr is None:
            cfg.lr *= EXTEND_LR_SCALE
        ckpt_path = check_out(cfg, dist.main)
        run = _build_run(cfg, dist, data, explicit, progress)
        run.started = run.since = started
        if cfg.resume:
            run.state = load_checkpoint(ckpt_path, model=run.model, optimizer=run.optimizer,
                                        scheduler=run.scheduler, scaler=run.scaler, labels=data.labels,
                                        arch=run.arch, ema=run.ema)
        return _loop(run, ckpt_path, should_stop or (lambda: False))
    finally:
        dist.close()


def _loop(run: Run, ckpt_path: Path, should_stop: Callable[[], bool]) -> TrainResult:
    """Epochs of training, each followed by evaluation, export of the best model and a checkpoint."""
    cfg, dist, st = run.cfg, run.dist, run.state
    run.start_iteration = st.iteration
    if dist.world > 1:
        run.model = torch.nn.parallel.DistributedDataParallel(
            run.model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
            find_unused_parameters=True)  # a batch of negatives leaves the mask head unused
    run.model.train()
    reason, steps_since_eval = "completed", 1
    while st.epoch < cfg.epochs and reason == "completed":
        reason, steps = train_one_epoch(run, _batches(run.dataset, cfg, dist, st.epoch, st.batch), should_stop)
        steps_since_eval += steps
        if reason == "completed":
            st.epoch, st.batch = st.epoch + 1, 0
        elif reason == "cancelled":
            break
        if not dist.any(evaluation_due(run, reason)):  # every rank decides alike
            continue
        if steps_since_eval:  # a budget that ends right after an evaluation needs no second one
            record_evaluation(run, evaluate(run))
            steps_since_eval = 0
        save(run, ckpt_path)
        st.eval_at_s = run.elapsed()
        if dist.any(dist.main and cfg.patience > 0 and st.stale >= cfg.patience) and reason == "completed":
            reason = "early_stop"
        dist.barrier()
    if reason == "cancelled":
        save(run, ckpt_path)  # keep the position; the bundle keeps the best model so far
    wall = run.elapsed()
    if dist.main and st.bundle:  # metrics.json and curves cover the whole run
        atomic_write_json(Path(cfg.out) / "metrics.json", full_metrics(run, reason))
        atomic_write_bytes(Path(cfg.out) / "curves.png", curves_png(st.losses, st.history))
    report(run, "done")
    dist.barrier()
    return TrainResult(bundle=Path(cfg.out) if dist.main and st.bundle else None,
                       metrics=headline(st.best or {}), reason=reason, epochs=round(run.epochs_done(), 3),
                       iterations=st.iteration, wall_s=round(wall, 1), history=st.history,
                       digest=_digest(run.module()))
