"""What a training run is asked to do: presets, TrainConfig, and the one constructor of the CLI and node.

`TrainConfig.from_options` is the single place where user options (CLI flags, trainer-node
parameters and goals) become a config: it checks ranges and derives what is derived, so that
`automask train` and the Train action train the same model from the same settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .augment import AugmentConfig

# Training defaults per preset. "cpu": a light MobileNetV3-FPN model from scratch (the first layout
# reached mask AP 0.91 on COIL test views in 150 steps where R50-FPN from scratch was at 0.12 after
# 15 min; the stride-16 layout keeps small objects' masks sharp, model.py; the stride-8 mask level
# of maskrcnn_mobilenet_v3_fpn8 is better per step but costs 14 % more per step, and in equal
# minutes it did worse, so it is an --arch).
# "gpu": ResNet-50 FPN v2 fine-tuned from COCO weights with SGD, the torchvision recipe.
PRESETS = {
    "cpu": dict(arch="maskrcnn_mobilenet_v3_fpn16", min_size=320, max_size=512, batch_size=2,
                optimizer="adamw", lr=1e-3, weight_decay=1e-4, weights="none", epochs=12),
    "gpu": dict(arch="maskrcnn_resnet50_fpn_v2", min_size=800, max_size=1333, batch_size=4,
                optimizer="sgd", lr=0.01, weight_decay=1e-4, weights="coco", epochs=12),
}
MAX_SIZE_FLOOR = 512  # a min_size without max_size gets max_size = max(min_size, this)


# With --max-minutes and no --epochs the budget ends the run and the LR schedule follows the clock.
BUDGET_EPOCHS = 1000

# Recipe options that the CLI and the node give by name and that live in AugmentConfig.
AUGMENT_OPTIONS = ("paste", "procedural")


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
    ema_decay: float = 0.995          # moving average of the weights, evaluated and exported (ema.py); 0 = off
    speedups: bool = True             # prefetch thread, fused optimiser, channels-last, fewer RoIs, 1 mask sample; off only to measure them

    @classmethod
    def from_options(cls, options: dict) -> "TrainConfig":
        """A config from user options by field name (None = default; `paste` and `procedural` set
        the AugmentConfig fields of those names).

        Shared by `automask train` and the trainer node. Checks ranges (one-line TrainError) and
        derives max_size from min_size when only min_size is given.
        """
        opts = {k: v for k, v in options.items() if v is not None}
        unknown = sorted(set(opts) - {f.name for f in dataclasses.fields(cls)} - set(AUGMENT_OPTIONS))
        if unknown:
            raise TrainError(f"unknown training option(s) {', '.join(unknown)}: see `automask train --help`")
        recipe = {k: opts.pop(k) for k in AUGMENT_OPTIONS if k in opts}
        paste = recipe.get("paste")
        if paste is not None and not 0 <= paste <= 1:
            raise TrainError(f"paste (--paste) must be between 0 and 1, not {paste}")
        for name in ("epochs", "batch_size", "min_size", "max_size"):
            if name in opts and opts[name] < 1:
                raise TrainError(f"{name} (--{name.replace('_', '-')}) must be at least 1, not {opts[name]}")
        if "max_minutes" in opts and opts["max_minutes"] <= 0:
            raise TrainError(f"max_minutes (--max-minutes) must be positive, not {opts['max_minutes']}")
        if "min_size" in opts and "max_size" not in opts:
            opts["max_size"] = max(opts["min_size"], MAX_SIZE_FLOOR)
        augment = opts.get("augment", AugmentConfig())
        if isinstance(augment, dict):
            augment = AugmentConfig(**augment)
        opts["augment"] = dataclasses.replace(augment, **recipe)
        return cls(**opts)

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
