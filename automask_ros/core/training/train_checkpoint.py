"""The resumable state of a training run: RunState, and checkpoint/last.pt written and read back exactly.

A checkpoint holds the model, optimiser, LR scheduler (position and budget used), AMP scaler,
the RunState and every RNG state, as plain types and tensors so that it loads with
torch.load(weights_only=True): a checkpoint is never unpickled.
"""

from __future__ import annotations

import dataclasses
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..shared.atomic import atomic_write_bytes
from .train_config import TrainConfig, TrainError
from .train_schedule import restore_scheduler


@dataclass
class RunState:
    """Where a run is and what it has seen so far; everything here survives a resume."""

    model_id: str
    epoch: int = 0                    # epochs completed
    batch: int = 0                    # batches done in the current epoch
    iteration: int = 0                # optimiser steps over the whole run
    elapsed_s: float = 0.0            # wall time up to the last checkpoint, earlier processes included
    step_s: float = 0.0               # of which in training steps
    history: list = field(default_factory=list)   # one dict of validation metrics per evaluation
    losses: list = field(default_factory=list)    # (iteration, loss averaged over ranks)
    best: dict | None = None          # metrics of the exported model (train_loop.keeps_later)
    stale: int = 0                    # evaluations since the last real gain, for early stopping
    eval_at_s: float = 0.0            # elapsed_s at the last evaluation (budgeted runs space them out)
    bundle: bool = False              # a bundle has been exported

    def epochs_done(self, iters_per_epoch: int) -> float:
        return self.epoch + self.batch / max(iters_per_epoch, 1)


def checkpoint_path(out: str | Path) -> Path:
    return Path(out) / "checkpoint" / "last.pt"


def check_out(cfg: TrainConfig, main: bool) -> Path:
    """Refuse an --out that would be overwritten or resumed by mistake; the checkpoint path."""
    out, ckpt = Path(cfg.out), checkpoint_path(cfg.out)
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out {out} is a file: give a folder for the model bundle")
    has_bundle = (out / "model.json").exists()
    if cfg.resume:
        if not ckpt.exists():
            raise TrainError(f"nothing to resume in {out} (no checkpoint/last.pt): start without --resume")
    elif not cfg.force and (has_bundle or ckpt.exists()):
        what = "a model bundle" if has_bundle else "an unfinished run"
        raise TrainError(f"{out} already holds {what}: pass --resume to continue it, --force "
                         "to overwrite it, or choose another --out")
    elif cfg.force and main and ckpt.exists():
        ckpt.unlink()  # a later --resume must never pick up the overwritten run
    return ckpt


def rng_state() -> dict:
    """All RNG states as plain types and tensors, so the checkpoint loads with weights_only=True."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                   "has_gauss": int(has_gauss), "cached": float(cached)}
    return {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, *, model, optimizer, scheduler, scaler, state: RunState,
                    labels: list[str], arch: str, ema=None) -> None:
    """Write the checkpoint atomically (a killed writer leaves the previous one)."""
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
               "ema": ema.state_dict() if ema is not None else None,
               "state": dataclasses.asdict(state), "rng": rng_state(), "labels": labels, "arch": arch}
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, *, model, optimizer, scheduler, scaler, labels: list[str], arch: str,
                    ema=None) -> RunState:
    """Restore everything save_checkpoint wrote into these objects; the RunState to continue from.
    A checkpoint without the moving average (written with it off, or by an older automask) starts
    the average afresh from the restored model."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0]  # EOFError() has no text
        raise TrainError(f"cannot read checkpoint {path} ({why}): start again with --force") from None
    if ckpt["labels"] != labels or ckpt["arch"] != arch:
        raise TrainError(f"checkpoint {path} trains {ckpt['arch']} on {ckpt['labels']}, but "
                         f"this run has {arch} on {labels}: give the same --data and preset, "
                         "or start again with --force")
    if "last_epoch" not in ckpt["scheduler"]:
        raise TrainError(f"checkpoint {path} was written by an older automask without the scheduler's "
                         "state: start again with --force")
    model.load_state_dict(ckpt["model"])
    if ema is not None:
        if ckpt.get("ema") is not None:
            ema.load_state_dict(ckpt["ema"])
        else:
            ema.module.load_state_dict(ckpt["model"])
            ema.n_averaged.fill_(1)
    optimizer.load_state_dict(ckpt["optimizer"])
    restore_scheduler(scheduler, ckpt["scheduler"])
    scaler.load_state_dict(ckpt["scaler"])
    set_rng_state(ckpt["rng"])
    return RunState(**ckpt["state"])
