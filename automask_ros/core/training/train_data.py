"""What a run trains and validates on: sweeps, the base bundle it extends, labels and the split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .bundle import BundleError, read_bundle_meta
from .data import (DetectionDataset, Sample, check_trainable, load_sweeps, replayed_sweeps, split_by_view,
                   union_labels)
from ..capture.dataset import DatasetError, Sweep
from .train_config import TrainConfig, TrainError


@dataclass
class TrainData:
    sweeps: list[Sweep]
    base: dict | None                 # model.json of the bundle this run extends, if any
    labels: list[str]                 # class id = index + 1; a base bundle's labels come first
    train_samples: list[Sample]
    val_samples: list[Sample]


def load_training_data(cfg: TrainConfig, explicit_arch: bool) -> TrainData:
    """Load and check the sweeps and the base bundle; raises DatasetError/BundleError/TrainError."""
    sweeps = load_sweeps(cfg.data)
    base = None
    weights = str(cfg.weights)
    if weights not in ("none", "coco") and Path(weights).is_dir():
        base = read_bundle_meta(weights)
        sweeps += replayed_sweeps(base, sweeps)  # the old objects are trained on too
        have = {s.label for s in sweeps}
        lost = [label for label in base["labels"] if label not in have]
        if lost:
            raise BundleError(f"base model {weights} knows {base['labels']} but the sweeps it was trained "
                              f"on are gone and --data has none of {lost}: add them with --data (training "
                              "without them would make the model forget them) or start from --weights none")
        if explicit_arch and cfg.arch != base["arch"]:
            raise BundleError(f"base model {weights} is a {base['arch']}, not a {cfg.arch}: "
                              "pick the preset/arch of the base model")
    elif weights not in ("none", "coco") and not Path(weights).is_file():
        raise TrainError(f"--weights {weights} is neither 'coco', 'none', a .pt file nor a bundle folder")
    labels = union_labels(sweeps, base["labels"] if base else None)
    train_samples, val_samples = split_by_view(sweeps, labels, cfg.holdout_every)
    check_trainable(train_samples)
    if cfg.val_data:
        extra = load_sweeps(cfg.val_data)
        unknown = sorted({s.label for s in extra} - set(labels))
        if unknown:
            raise DatasetError(f"validation sweeps of {unknown} have no training data")
        val_samples += split_by_view(extra, labels, 0)[0]
    if val_samples and all(s.negative for s in val_samples):
        val_samples = []  # nothing to score; keep the last model instead of the best
    return TrainData(sweeps, base, labels, train_samples, val_samples)


def distractor_pool(paths: list[str], labels: list[str]):
    """rng -> (rgb, mask) of a random object from the distractor sweeps (None without any)."""
    if not paths:
        return None
    sweeps = load_sweeps(paths)
    clash = sorted({s.label for s in sweeps} & set(labels))
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
