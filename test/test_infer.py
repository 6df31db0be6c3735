"""Detector: masks and boxes on the source pixels of any-size frames, thresholds, filters, batching.

The bundle is a real torchvision Mask R-CNN saved with the real save_bundle, with untrained weights:
training one to convergence does not fit the test budget, and the geometry checks below do not
need it. An untrained model still proposes many boxes with soft masks, and torchvision resizes
each frame internally, so a frame and the same frame enlarged by an integer factor (nearest
neighbour) reach the network as the very same tensor: every box must then come back scaled by
exactly that factor and every mask must land on the matching source pixels.
"""

import time

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from automask_ros.core.demo import render as R
from automask_ros.core.training.bundle import BundleError
from automask_ros.core.shared.coco import annotation_to_mask, mask_iou
from automask_ros.core.detection.infer import Detector, check_image, instances_to_coco, resolve_device
from _util import untrained_bundle  # benchmarks/, on the path from conftest

ARCH = "maskrcnn_mobilenet_v3_fpn"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return untrained_bundle(tmp_path_factory.mktemp("bundle") / "model", ARCH, ["mug", "box"],
                            model_id="test-untrained", min_size=61, max_size=200, force=False)


@pytest.fixture(scope="module")
def frame():
    return next(R.render_sweep("mug", n_frames=4, size=(97, 61), seed=1, empty_frames=0)).rgb  # odd, non-square


def _upscale(rgb, k):
    return np.repeat(np.repeat(rgb, k, 0), k, 1)


def test_loads_bundle_metadata(bundle):
    det = Detector(bundle, device="cpu")
    assert det.labels == ["mug", "box"] and det.model_id == "test-untrained"
    assert det.device.type == "cpu" and det.fp16 is False
    assert det.score_threshold == 0.0 and det.mask_threshold == 0.5  # from model.json
    assert not det.model.training


@pytest.mark.parametrize("k", [2, 3])
def test_boxes_and_masks_land_on_source_pixels(bundle, frame, k):
    det = Detector(bundle, device="cpu", max_instances=20)
    small = det.detect(frame)
    big = det.detect(_upscale(frame, k))
    assert len(small) == len(big) > 0
    h, w = frame.shape[:2]
    for a, b in zip(small, big):
        assert a.mask.shape == (h, w) and b.mask.shape == (k * h, k * w)
        assert (a.label, a.class_id) == (b.label, b.class_id)
        assert b.score == pytest.approx(a.score, abs=1e-4)
        np.testing.assert_allclose(np.array(b.box), k * np.array(a.box), atol=1e-2 * k)
        x0, y0, x1, y1 = a.box
        assert 0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h
        if a.mask.sum() >= 20:
            # the mask never leaves its box (torchvision pastes into the box padded by 1/28 per side)
            ys, xs = np.nonzero(a.mask)
            pad_x, pad_y = (x1 - x0) / 28 + 1.5, (y1 - y0) / 28 + 1.5
            assert xs.min() >= x0 - pad_x and xs.max() <= x1 + pad_x
            assert ys.min() >= y0 - pad_y and ys.max() <= y1 + pad_y
            # the enlarged frame's mask, shrunk back, covers the same source pixels
            shrunk = b.mask.reshape(h, k, w, k).mean((1, 3)) > 0.5
            assert mask_iou(shrunk, a.mask) > 0.85


def test_batch_gives_the_same_instances_as_single_frames(bundle, frame):
    det = Detector(bundle, device="cpu", max_instances=10)
    other = next(R.render_sweep("box", n_frames=4, size=(97, 61), seed=2, empty_frames=0)).rgb
    start = time.perf_counter()
    batched = det.detect_batch([frame, other])
    assert 0 < det.last_model_s < time.perf_counter() - start  # model() alone, for the node's overhead ratio
    for rgb, got in zip([frame, other], batched):
        single = det.detect(rgb)
        assert len(single) == len(got)
        for a, b in zip(single, got):
            np.testing.assert_allclose(a.box, b.box, atol=1e-2)
            assert np.array_equal(a.mask, b.mask) or (a.mask ^ b.mask).sum() <= 2


def test_thresholds_top_k_and_class_filter(bundle, frame):
    det = Detector(bundle, device="cpu")
    everything = det.detect(frame)
    scores = np.array([i.score for i in everything])
    assert len(everything) > 4 and np.all(np.diff(scores) <= 0)  # best first

    det.score_threshold = float(np.median(scores))
    kept = det.detect(frame)
    assert 0 < len(kept) < len(everything) and all(i.score >= det.score_threshold for i in kept)

    det.score_threshold = 0.0
    det.max_instances = 3
    assert len(det.detect(frame)) == 3

    det.max_instances = 100
    det.classes = ["box"]
    only = det.detect(frame)
    assert only and {(i.label, i.class_id) for i in only} == {("box", 2)}
    det.classes = [1]
    assert {i.label for i in det.detect(frame)} == {"mug"}
    det.classes = (c for c in ["mug", "box"])  # any iterable, including a generator
    assert det.classes == [1, 2]
    det.classes = "box"
    assert det.classes == [2]
    det.classes = [""]  # what a ROS string-array parameter holds for "no filter"
    assert det.classes is None
    det.classes = None

    det.mask_threshold = 1.0
    assert all(not i.mask.any() for i in det.detect(frame))
    det.mask_threshold = 0.0
    assert any(i.mask.any() for i in det.detect(frame))


def test_per_class_nms(bundle, frame):
    def max_same_class_iou(instances):
        worst = 0.0
        for i, a in enumerate(instances):
            for b in instances[i + 1:]:
                if a.class_id == b.class_id:
                    worst = max(worst, float(box_iou(torch.tensor([a.box]), torch.tensor([b.box]))[0, 0]))
        return worst

    det = Detector(bundle, device="cpu", nms_iou=0.3)
    assert max_same_class_iou(det.detect(frame)) <= 0.3 + 1e-4
    det.nms_iou = 0.9
    assert len(det.detect(frame)) >= len(Detector(bundle, device="cpu", nms_iou=0.3).detect(frame))


def test_bad_settings_and_frames_are_clear_errors(bundle, tmp_path):
    det = Detector(bundle, device="cpu")
    with pytest.raises(ValueError, match="score_threshold"):
        det.score_threshold = 1.5
    with pytest.raises(ValueError, match="max_instances"):
        det.max_instances = 0
    with pytest.raises(ValueError, match="not one of the model's labels"):
        det.classes = ["teapot"]
    with pytest.raises(ValueError, match="HxWx3"):
        check_image(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        check_image(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        det.detect(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(BundleError):
        Detector(tmp_path / "missing")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu9")


def test_coco_results_round_trip(bundle, frame):
    det = Detector(bundle, device="cpu", max_instances=5)
    instances = det.detect(frame)
    results = instances_to_coco(instances, image_id=7)
    assert len(results) == len(instances)
    for res, inst in zip(results, instances):
        assert res["image_id"] == 7 and res["category_id"] == inst.class_id
        assert np.array_equal(annotation_to_mask(res, *inst.mask.shape), inst.mask)
        x, y, bw, bh = res["bbox"]
        np.testing.assert_allclose([x, y, x + bw, y + bh], inst.box, atol=0.02)


def test_depth_gives_each_instance_its_3d_and_bad_depth_is_refused_before_the_model(bundle, frame):
    from automask_ros.core.shared.camera import Intrinsics
    from automask_ros.core.shared.depth import DepthError, DepthFrame

    h, w = frame.shape[:2]
    intr = Intrinsics(80.0, 80.0, w / 2, h / 2, w, h)
    depth = np.full((h, w), 0.8, np.float32)
    det = Detector(bundle, device="cpu", max_instances=5)
    instances = det.detect(frame, DepthFrame(depth, intr))
    assert instances and all(i.geometry is not None for i in instances)
    for inst in instances:
        entry = instances_to_coco([inst], 1)[0]
        if inst.geometry.has_3d:  # a flat wall at 0.8 m: every centroid lies on it
            assert inst.geometry.position[2] == pytest.approx(0.8, abs=1e-4)
            assert entry["position"][2] == pytest.approx(0.8, abs=1e-4) and entry["has_3d"]
        else:
            assert entry["position"] is None
    assert det.detect(frame)[0].geometry is None  # no depth, no 3D
    with pytest.raises(DepthError, match="depth is 4x3 but colour is"):
        det.detect(frame, DepthFrame(np.ones((3, 4), np.float32), intr))


def test_to_host_parks_the_weights_and_frees_the_cuda_cache(bundle, frame, monkeypatch):
    """A deactivated detector node holds no GPU memory. No GPU here: the detector pretends its
    device is CUDA and torch.cuda.empty_cache is recorded instead of called (both mocked)."""
    det = Detector(bundle, device="cpu", score_threshold=0.0)
    before = det.detect(frame)
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    det.to_host()
    assert det.weights_device.type == "cpu" and emptied == []  # a CPU detector has no cache to free
    det.device = torch.device("cuda")
    det.to_host()
    assert det.weights_device.type == "cpu" and emptied == [1]
    det.device = torch.device("cpu")
    det.to_device()
    after = det.detect(frame)
    assert [(i.label, round(i.score, 5)) for i in after] == [(i.label, round(i.score, 5)) for i in before]
