"""The training loop, in the shape of torchvision's references/detection engine.

train_one_epoch steps through an epoch's batches; evaluate scores the validation split with
pycocotools; record_evaluation keeps the best model (or a later one as good) as the bundle; save
writes the checkpoint.
They share one Run: the objects of a run and its RunState (train.py builds it and drives them).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR
from torch.optim.swa_utils import AveragedModel

from .bundle import save_bundle
from .data import DetectionDataset, fingerprint
from .distributed import Distributed
from .evaluate import evaluate_model, gt_from_samples
from .train_checkpoint import RunState, save_checkpoint
from .train_config import TrainConfig, TrainError
from .train_data import TrainData
from .train_report import curves_png, headline, peak_rss_mb
from .train_schedule import step_scheduler


@dataclass
class Run:
    """The objects one run's functions share; `state` is what a checkpoint keeps of them."""

    cfg: TrainConfig
    dist: Distributed
    data: TrainData
    arch: str
    model: torch.nn.Module            # wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: LambdaLR
    scaler: torch.amp.GradScaler
    dataset: DetectionDataset
    state: RunState
    iters_per_epoch: int
    ema: AveragedModel | None = None  # the weights' moving average (ema.py); None when off
    progress: Callable[[dict], None] | None = None   # rank 0 only
    started: float = field(default_factory=time.monotonic)  # this process's start, for the ETA
    since: float = field(default_factory=time.monotonic)    # when state.elapsed_s was last brought up to date
    start_iteration: int = 0

    @property
    def total_iters(self) -> int:
        return self.iters_per_epoch * self.cfg.epochs

    @property
    def use_amp(self) -> bool:
        return bool(self.cfg.amp and self.dist.device.type == "cuda")

    def module(self) -> torch.nn.Module:
        return getattr(self.model, "module", self.model)

    def kept(self) -> torch.nn.Module:
        """The model that is evaluated and exported: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.module()

    def elapsed(self) -> float:
        """Wall time of the whole run, earlier processes (before a resume) included."""
        return self.state.elapsed_s + (time.monotonic() - self.since)

    def budget_used(self) -> float:
        return self.elapsed() / (60 * self.cfg.max_minutes) if self.cfg.max_minutes else 0.0

    def epochs_done(self) -> float:
        return self.state.epochs_done(self.iters_per_epoch)


def report(run: Run, phase: str, loss: float | None = None, eval_progress: float | None = None) -> None:
    """Send a progress dict (rank 0): phase, position, loss, overall progress and ETA."""
    if run.progress is None:
        return
    st, total = run.state, max(run.total_iters, 1)
    frac = min(1.0, st.iteration / total)
    if run.cfg.max_minutes:
        frac = max(frac, min(1.0, run.budget_used()))
    done_here = st.iteration - run.start_iteration
    eta = (total - st.iteration) * (time.monotonic() - run.started) / done_here if done_here > 0 else None
    if eta is not None and run.cfg.max_minutes:
        eta = min(eta, max(0.0, 60 * run.cfg.max_minutes - run.elapsed()))
    if phase == "done":
        frac, eta = 1.0, 0.0
    run.progress({"phase": phase, "epoch": st.epoch, "epochs": run.cfg.epochs, "iteration": st.iteration,
                  "iterations": run.total_iters, "loss": loss, "progress": frac, "eta_s": eta,
                  "eval_progress": eval_progress})


def train_step(run: Run, images, targets) -> float:
    """One optimiser step and one scheduler step; the loss averaged over all ranks."""
    device = run.dist.device
    images = [im.to(device, non_blocking=True) for im in images]
    targets = [{k: (v.to(device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
    with torch.autocast(device_type=device.type, enabled=run.use_amp):
        loss = sum(run.model(images, targets).values())
    logged = run.dist.mean(loss.item())
    if not math.isfinite(logged):
        raise TrainError(f"the loss became {logged} at iteration {run.state.iteration}: "
                         "lower the learning rate (--lr) or check the masks")
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    if run.cfg.clip_grad > 0:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.cfg.clip_grad)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    if run.ema is not None:
        run.ema.update_parameters(run.module())
    step_scheduler(run.scheduler, run.budget_used())
    return logged


def train_one_epoch(run: Run, batches: Iterable, should_stop: Callable[[], bool]) -> tuple[str, int]:
    """Train on this epoch's remaining batches: ('completed' | 'cancelled' | 'budget', steps taken)."""
    st, steps, last_report = run.state, 0, 0.0
    for images, targets in batches:
        if run.dist.any(should_stop()):
            return "cancelled", steps
        if run.dist.any(bool(run.cfg.max_minutes) and run.budget_used() >= 1.0):
            return "budget", steps
        t_step = time.monotonic()
        loss = train_step(run, images, targets)
        st.step_s += time.monotonic() - t_step
        steps += 1
        st.iteration += 1
        st.batch += 1
        st.losses.append((st.iteration, round(loss, 5)))
        if time.monotonic() - last_report > 0.5 or st.batch == run.iters_per_epoch:
            report(run, "train", loss)
            last_report = time.monotonic()
    return "completed", steps


def evaluate(run: Run) -> dict | None:
    """Rank 0 scores the validation split; the metrics (None without validation data or off rank 0)."""
    if not run.data.val_samples or not run.dist.main:
        return None
    gt, loaders = gt_from_samples(run.data.val_samples, run.data.labels)
    metrics = evaluate_model(run.kept(), gt, loaders, run.dist.device, batch_size=4,
                             mask_threshold=run.cfg.mask_threshold,
                             progress=lambda done, total: report(run, "eval", eval_progress=done / total))
    metrics["epoch"] = round(run.epochs_done(), 3)
    metrics["iteration"] = run.state.iteration
    metrics["minutes"] = round(run.elapsed() / 60, 2)
    return metrics


# A later model within this much validation mask AP of the best so far is kept: it has trained
# longer, and a small validation split cannot tell the two apart. With 12 held-out views one mask
# crossing one IoU step moves the AP by about 0.004, so a 20-minute run's late evaluations wandered
# between 0.900 and 0.904; keeping the 0.904 of minute 15 instead of the 0.901 of minute 20 threw
# away a quarter of the run (the cup's clutter mask AP: 0.622 against 0.659 for the last model).
KEEP_WITHIN = 0.01


def keeps_later(history: list[float], score: float) -> tuple[bool, bool]:
    """(export this model, it is a real gain) for a validation score after the earlier ones:
    exported when within KEEP_WITHIN of the best so far; only a real gain resets early stopping."""
    if not history:
        return True, True
    peak = max(history)
    return score >= peak - KEEP_WITHIN, score > peak + 1e-4


def record_evaluation(run: Run, metrics: dict | None) -> None:
    """Rank 0: log an evaluation and export the model unless an earlier one was clearly better."""
    if not run.dist.main:
        return
    st = run.state
    if metrics is None:  # no validation data: the latest model is the one to keep
        export(run, None)
        return
    keep, gain = keeps_later([h["segm_AP"] for h in st.history], metrics["segm_AP"])
    st.history.append({k: v for k, v in metrics.items() if k != "per_label"})
    st.stale = 0 if gain else st.stale + 1  # early stopping counts real gains only
    if keep:
        st.best = metrics
        export(run, metrics)


def full_metrics(run: Run, reason: str) -> dict:
    """metrics.json: best and per-evaluation figures, losses, and how the run went."""
    st = run.state
    return {"best": headline(st.best or {}), "history": st.history, "losses": st.losses, "reason": reason,
            "train": {"wall_s": round(run.elapsed(), 1), "iterations": st.iteration,
                      "step_s": round(st.step_s, 1), "it_per_s": round(st.iteration / max(st.step_s, 1e-9), 3),
                      "epochs": run.epochs_done(), "images": len(run.data.train_samples),
                      "batch_size": run.cfg.batch_size, "world_size": run.dist.world,
                      "peak_rss_mb": round(peak_rss_mb(), 1)}}


def export(run: Run, metrics: dict | None) -> None:
    """Write the bundle (rank 0): the current model, described by these metrics."""
    report(run, "export")
    cfg, data, st = run.cfg, run.data, run.state
    meta = {"model_id": st.model_id, "arch": run.arch, "labels": data.labels,
            "input": {"min_size": cfg.min_size, "max_size": cfg.max_size},
            "thresholds": {"score": cfg.score_threshold, "mask": cfg.mask_threshold},
            "metrics": headline(metrics or {}),
            "datasets": [{"path": str(s.path.resolve()), "fingerprint": fingerprint(s)} for s in data.sweeps],
            "training": {"preset": cfg.preset, "weights": str(cfg.weights), "epochs": cfg.epochs,
                         "iteration": st.iteration, "seed": cfg.seed, "lr": cfg.lr, "ema_decay": cfg.ema_decay,
                         "images": len(data.train_samples), "val_images": len(data.val_samples)}}
    save_bundle(Path(cfg.out), run.kept(), meta, force=True, metrics=full_metrics(run, "running"),
                curves_png=curves_png(st.losses, st.history))
    st.bundle = True


# Evaluations (and checkpoints) in a time-budgeted run: about one per 5 % of the budget.
EVALS_PER_BUDGET = 20


def evaluation_due(run: Run, reason: str) -> bool:
    """Evaluate and checkpoint after every epoch, except in a time-budgeted run with short epochs:
    there at most EVALS_PER_BUDGET times, so that the minutes go to training steps."""
    cfg, st = run.cfg, run.state
    if reason != "completed" or not cfg.max_minutes or st.epoch >= cfg.epochs:
        return True
    return run.elapsed() - st.eval_at_s >= 60 * cfg.max_minutes / EVALS_PER_BUDGET


def save(run: Run, path: Path) -> None:
    """Rank 0 writes the checkpoint, with the wall time up to now."""
    if not run.dist.main:
        return
    run.state.elapsed_s = run.elapsed()
    run.since = time.monotonic()
    save_checkpoint(path, model=run.module(), optimizer=run.optimizer, scheduler=run.scheduler,
                    scaler=run.scaler, ema=run.ema, state=run.state, labels=run.data.labels, arch=run.arch)
