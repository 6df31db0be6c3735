"""Segmenter backends: real U^2-Net-p and torchvision models, background difference, fusion."""

import numpy as np
import pytest
import torch

from automask_ros.core.shared.coco import mask_iou
from automask_ros.core.demo.render import render_sweep
from automask_ros.core.capture.segment import (BackgroundSegmenter, SegmenterError, TorchvisionSegmenter,
                                       make_segmenter)


@pytest.fixture(scope="module")
def frames():
    return list(render_sweep("mug", n_frames=2, size=(160, 120), empty_frames=1, seed=3))


def test_u2net_masks_a_rendered_mug(frames):
    seg = make_segmenter("u2net", threads=1)
    f = frames[1]
    prob = seg(f.rgb)
    assert prob.shape == f.rgb.shape[:2] and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    assert mask_iou(prob > 0.5, f.mask) > 0.8


def test_missing_onnx_is_one_clear_error(tmp_path):
    with pytest.raises(SegmenterError, match="not found"):
        make_segmenter("u2net", model_path=tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(SegmenterError, match="cannot load ONNX"):
        make_segmenter("u2net", model_path=bad)


def test_empty_or_wrong_images_are_refused():
    seg = BackgroundSegmenter(np.zeros((8, 8, 3), np.uint8))
    for bad in (np.zeros((0, 0, 3), np.uint8), np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32)):
        with pytest.raises(SegmenterError):
            seg(bad)
    with pytest.raises(SegmenterError, match="unknown segmenter"):
        make_segmenter("magic")


def test_background_difference_ignores_a_lighting_change(frames):
    empty, f = frames[0], frames[1]
    seg = make_segmenter("background", reference=empty.rgb)
    darker = np.clip(f.rgb.astype(np.float32) * 0.9, 0, 255).astype(np.uint8)  # 10% dimmer room
    prob = seg(darker)
    assert prob[~f.mask].mean() < 0.15
    assert prob[f.mask].mean() > 0.6
    with pytest.raises(SegmenterError, match="no reference"):
        BackgroundSegmenter()(f.rgb)


def test_fused_uses_background_only_once_a_reference_exists(frames):
    seg = make_segmenter("fused", fcn="u2net", fcn_params={"threads": 1})
    f = frames[1]
    alone = seg(f.rgb)
    assert seg.last_background is None
    seg.set_reference(frames[0].rgb)
    fused = seg(f.rgb)
    assert seg.last_background is not None and not np.allclose(alone, fused)
    assert mask_iou(fused > 0.5, f.mask) > 0.8


def test_torchvision_weights_never_fall_back_to_random(tmp_path, monkeypatch):
    with pytest.raises(SegmenterError, match="random"):
        TorchvisionSegmenter("lraspp_mobilenet_v3_large", weights="none")
    with pytest.raises(SegmenterError, match="not found"):
        TorchvisionSegmenter("lraspp_mobilenet_v3_large", weights=str(tmp_path / "missing.pth"))
    # the enum path: torchvision's cache is empty here and downloads fail -> say where the file goes
    import torchvision.models._api as api

    def offline(self, *a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr(api.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(SegmenterError, match="cache"):
        TorchvisionSegmenter("lraspp_mobilenet_v3_large", weights="DEFAULT")
    with pytest.raises(SegmenterError, match="unknown weights"):
        TorchvisionSegmenter("lraspp_mobilenet_v3_large", weights="NOT_A_WEIGHT")


def test_torchvision_loads_an_automask_trained_file(tmp_path):
    import torchvision
    model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                      num_classes=2)
    path = tmp_path / "seg.pt"
    torch.save({"state_dict": model.state_dict(), "num_classes": 2}, path)
    seg = make_segmenter("torchvision", arch="lraspp_mobilenet_v3_large", weights=str(path), size=64, threads=1)
    assert seg.num_classes == 2 and seg.fg_ids == [1]
    prob = seg(np.zeros((30, 40, 3), np.uint8))
    assert prob.shape == (30, 40) and np.isfinite(prob).all()
    with pytest.raises(SegmenterError, match="unknown class"):
        TorchvisionSegmenter._class_ids(["teapot"], 21)
    assert TorchvisionSegmenter._class_ids("bottle,cat", 21) == [5, 8]
