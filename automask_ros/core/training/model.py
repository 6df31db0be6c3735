"""Mask R-CNN builders: light MobileNetV3-FPN models for CPUs and torchvision's ResNet-50 FPN for GPUs.

Why the CPU models look the way they do (DESIGN.md, measured pitfalls): from scratch they need real
BatchNorm (torchvision's MobileNet backbone defaults to FrozenBatchNorm, i.e. no normalisation)
with momentum 0.1, and on a CPU the RoI heads cost more than the backbone, so they sample 64 RoIs
per image, keep 200 proposals, use a 4x128 mask head and pool mask features with one sample per
bin (MASK_SAMPLING_RATIO: torchvision's 2 made RoIAlign's backward an eighth of a step).
min_size/max_size are always explicit: torchvision's default of 800 px upsamples small frames and
made a step 8x slower.

Three CPU layouts:
- maskrcnn_mobilenet_v3_fpn, torchvision's: every FPN level is at stride 32, so a 320 px input
  gives 10x10 features and a 100 px object in clutter covers about 3x3 cells. Its masks are
  blobs at IoU 0.75. 256 FPN channels feed a 12544x1024 box head, the largest single cost of a
  training step after the convolutions.
- maskrcnn_mobilenet_v3_fpn16 (the cpu preset's): the FPN starts at stride 16 (the last block of
  MobileNetV3's stride-16 stage), so objects get four times the cells, with 128 channels and a
  512-d box head. It trains faster per step than the first layout (measured: 0.62 s against
  0.82 s) and has 7.7 M parameters instead of 19.8 M.
- maskrcnn_mobilenet_v3_fpn8: fpn16 plus an FPN level at stride 8 that only the mask head pools
  from (proposals and boxes stay on stride 16 and coarser, _CoarseRPN), so that a mask can
  follow an occluding edge or a cup's handle that stride 16 smears. Its masks are better per step
  (clutter mask AP 0.67 / 0.78 against fpn16's 0.65 / 0.68 at about 1700 steps), but a step costs
  14 % more, and in equal minutes fpn16 did better (0.71 / 0.79 against 0.67 / 0.77 in 20
  minutes; docs/train.md). So it is an --arch, for runs measured in epochs, not the preset's.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection import mask_rcnn as tv_mask_rcnn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models import mobilenet_v3_large
from torchvision.models.detection.backbone_utils import BackboneWithFPN, mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RegionProposalNetwork
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import misc as misc_nn_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

ARCHS = ("maskrcnn_mobilenet_v3_fpn16", "maskrcnn_mobilenet_v3_fpn", "maskrcnn_mobilenet_v3_fpn8",
         "maskrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn_v2")
MOBILENET_ARCHS = ARCHS[:3]
# keys of the class-specific layers, resized when the label set changes
PREDICTOR_KEYS = ("roi_heads.box_predictor.cls_score.weight", "roi_heads.box_predictor.cls_score.bias",
                  "roi_heads.box_predictor.bbox_pred.weight", "roi_heads.box_predictor.bbox_pred.bias",
                  "roi_heads.mask_predictor.mask_fcn_logits.weight",
                  "roi_heads.mask_predictor.mask_fcn_logits.bias")
MASK_SAMPLING_RATIO = 1  # the CPU models' mask RoIAlign samples per bin (torchvision: 2)
# MobileNetV3-Large blocks whose outputs feed our FPNs (6: the last block at stride 8, 40 channels;
# 12: the last block at stride 16, 112 channels; 16: the last layer, stride 32, 960 channels), FPN
# width, box head width. torchvision's layout (maskrcnn_mobilenet_v3_fpn) has its own.
FPN_LAYERS = {"maskrcnn_mobilenet_v3_fpn8": (6, 12, 16), "maskrcnn_mobilenet_v3_fpn16": (12, 16)}
FINE = "fine"  # the stride-8 level's name: the mask head's only
FPN16_CHANNELS = 128
FPN16_BOX_DIM = 512


class ModelError(ValueError):
    """A model that cannot be built or initialised; the message says what to do."""


def build_model(arch: str, num_classes: int, *, min_size: int, max_size: int, weights: str = "none",
                trainable_layers: int | None = None, **kw) -> nn.Module:
    """Build a Mask R-CNN for num_classes (background included) with initial weights.

    weights: "none" (from scratch), "coco" (torchvision's COCO weights from its cache or a
    download; class-specific layers are re-initialised) or a path to a state_dict file
    (.pt/.pth, optionally {"model": state_dict}); layers whose shapes differ are skipped.
    trainable_layers: backbone stages that train (None = all from scratch, 3 with COCO weights).
    Extra keyword arguments go to torchvision's MaskRCNN (e.g. box_score_thresh); the CPU model
    also takes mask_sampling_ratio (default MASK_SAMPLING_RATIO).
    """
    if arch not in ARCHS:
        raise ModelError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHS)}")
    if num_classes < 2:
        raise ModelError("a model needs at least one label plus background (num_classes >= 2)")
    weights = str(weights)
    pretrained = weights == "coco"
    if weights not in ("none", "coco") and not Path(weights).is_file():
        raise ModelError(f"weights file {weights} does not exist: give an existing .pt file, "
                         "'coco' or 'none'")
    kw = dict(kw, min_size=min_size, max_size=max_size)
    if arch in MOBILENET_ARCHS:
        model = _mobilenet_maskrcnn(num_classes, pretrained, trainable_layers,
                                    fpn_layers=FPN_LAYERS.get(arch), **kw)
    else:
        builder = getattr(tv_mask_rcnn, arch)
        enum = (tv_mask_rcnn.MaskRCNN_ResNet50_FPN_V2_Weights if arch.endswith("_v2")
                else tv_mask_rcnn.MaskRCNN_ResNet50_FPN_Weights).COCO_V1
        if pretrained:
            model = _pretrained_resnet(builder, enum, num_classes, trainable_layers, kw)
        else:  # from scratch torchvision uses plain BatchNorm and trains every stage
            model = builder(weights=None, weights_backbone=None, num_classes=num_classes, **kw)
    if weights not in ("none", "coco"):
        load_matching(model, load_state_dict_file(weights))
    return model


def _pretrained_resnet(builder, enum, num_classes: int, trainable_layers, kw) -> nn.Module:
    _check_weights_available(enum)
    try:
        model = builder(weights=enum, trainable_backbone_layers=trainable_layers, **kw)
    except Exception as exc:  # network, hash or cache problems all end here
        raise ModelError(f"cannot load COCO weights {enum}: {exc}; put {enum.url.rsplit('/', 1)[-1]} in "
                         f"{Path(torch.hub.get_dir()) / 'checkpoints'} or use --weights none") from None
    replace_predictors(model, num_classes)
    return model


def _mobilenet_maskrcnn(num_classes: int, pretrained: bool, trainable_layers, *, fpn_layers: tuple | None,
                        mask_sampling_ratio: int = MASK_SAMPLING_RATIO, **kw) -> nn.Module:
    norm = misc_nn_ops.FrozenBatchNorm2d if pretrained else nn.BatchNorm2d
    trainable = 6 if trainable_layers is None and not pretrained else (3 if trainable_layers is None
                                                                        else trainable_layers)
    if fpn_layers:
        backbone = _mobilenet_fpn(norm, trainable, fpn_layers)
        box_dim = FPN16_BOX_DIM
    else:
        backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                      norm_layer=norm, trainable_layers=trainable)
        box_dim = 1024
    if not pretrained:
        for module in backbone.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = 0.1  # MobileNetV3's 0.01 leaves eval output useless for ~250 steps
    anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
    defaults = dict(rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=200,
                    rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=200,
                    box_batch_size_per_image=64)
    defaults.update(kw)
    mask_head = MaskRCNNHeads(backbone.out_channels, [128, 128, 128, 128], 1)
    model = MaskRCNN(backbone, num_classes=None, rpn_anchor_generator=anchors,
                     box_head=TwoMLPHead(backbone.out_channels * 7 * 7, box_dim),
                     box_predictor=FastRCNNPredictor(box_dim, num_classes),
                     mask_head=mask_head, mask_predictor=MaskRCNNPredictor(128, 128, num_classes),
                     **defaults)
    model.roi_heads.mask_roi_pool.sampling_ratio = mask_sampling_ratio
    if FINE in backbone.body.return_layers.values():  # the stride-8 level feeds the masks only
        model.rpn.__class__ = _CoarseRPN
        model.roi_heads.mask_roi_pool = MultiScaleRoIAlign([FINE, "0", "1"], 14, mask_sampling_ratio)
    if pretrained:
        from torchvision.models.detection.faster_rcnn import FasterRCNN_MobileNet_V3_Large_FPN_Weights
        enum = FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1
        _check_weights_available(enum)
        try:
            state = enum.get_state_dict(progress=False, check_hash=True)
        except Exception as exc:
            raise ModelError(f"cannot load COCO weights {enum}: {exc}; put {enum.url.rsplit('/', 1)[-1]} "
                             f"in {Path(torch.hub.get_dir()) / 'checkpoints'} or use --weights none") from None
        load_matching(model, state)  # what fits: fpn's backbone, FPN, RPN, box head; fpn16's backbone
    return model


def _mobilenet_fpn(norm, trainable_layers: int, layers: tuple) -> nn.Module:
    """MobileNetV3-Large with an FPN on the outputs of `layers` (plus a max-pooled level), the last
    two named "0" and "1" and a stride-8 one FINE; the first 6 - trainable_layers stages are
    frozen, as torchvision's mobilenet_backbone does."""
    body = mobilenet_v3_large(weights=None, norm_layer=norm).features
    stages = [0] + [i for i, b in enumerate(body) if getattr(b, "_is_cn", False)] + [len(body) - 1]
    freeze_before = len(body) if trainable_layers == 0 else stages[len(stages) - trainable_layers]
    for block in body[:freeze_before]:
        block.requires_grad_(False)
    names = [FINE] * (len(layers) - 2) + ["0", "1"]
    return BackboneWithFPN(body, {str(k): name for k, name in zip(layers, names)},
                           [body[k].out_channels for k in layers], FPN16_CHANNELS,
                           extra_blocks=LastLevelMaxPool())


class _CoarseRPN(RegionProposalNetwork):
    """Proposals from the stride-16 and coarser levels only: the stride-8 level is the masks'."""

    def forward(self, images, features, targets=None):
        return super().forward(images, OrderedDict((k, v) for k, v in features.items() if k != FINE), targets)


def _check_weights_available(enum) -> None:
    """Fail fast with a useful message when the weights are neither cached nor downloadable."""
    cached = Path(torch.hub.get_dir()) / "checkpoints" / enum.url.rsplit("/", 1)[-1]
    if cached.is_file():
        return
    import urllib.request
    try:
        urllib.request.urlopen(enum.url, timeout=5).close()
    except Exception:
        raise ModelError(f"COCO weights {enum} are not in the torch cache ({cached}) and cannot be "
                         "downloaded here: copy the file there from a machine with internet, or use "
                         "--weights none") from None


def replace_predictors(model: nn.Module, num_classes: int) -> None:
    """Fresh box and mask predictors for num_classes (background included)."""
    heads = model.roi_heads
    heads.box_predictor = FastRCNNPredictor(heads.box_predictor.cls_score.in_features, num_classes)
    logits = heads.mask_predictor.mask_fcn_logits
    heads.mask_predictor = MaskRCNNPredictor(heads.mask_predictor.conv5_mask.in_channels,
                                             logits.in_channels, num_classes)


def load_state_dict_file(path: str | Path) -> dict:
    """A state_dict from a .pt file (plain or {"model": ...}), loaded safely (weights_only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"weights file {path} does not exist") from None
    except Exception as exc:
        raise ModelError(f"cannot read weights file {path}: {str(exc).splitlines()[0]}; "
                         "it must be a torch state_dict saved with torch.save") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"weights file {path} does not hold a state_dict of tensors")
    return state


def load_matching(model: nn.Module, state: dict) -> list[str]:
    """Load the tensors whose names and shapes match; returns the names that were skipped."""
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ModelError("the weights share no layer with this architecture: pick the matching --arch")
    model.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


def extend_state_dict(state: dict, old_labels: list[str], new_labels: list[str], model: nn.Module) -> dict:
    """Map a trained state_dict onto a model with a larger label set (old labels first).

    Rows of the class-specific layers are copied for the labels the old model knew; the new
    labels keep the fresh initialisation of `model`. Everything else is copied unchanged.
    """
    if list(new_labels[:len(old_labels)]) != list(old_labels):
        raise ModelError(f"new labels {new_labels} must start with the base model's labels {old_labels}")
    own = model.state_dict()
    out = dict(state)
    rows = [0] + list(range(1, len(old_labels) + 1))  # background + known classes
    for key in PREDICTOR_KEYS:
        if key not in state or key not in own:
            continue
        fresh = own[key].clone()
        old = state[key]
        if "bbox_pred" in key:  # 4 rows per class
            idx = [4 * r + j for r in rows for j in range(4)]
        else:
            idx = rows
        fresh[idx] = old[idx]
        out[key] = fresh
    return out
