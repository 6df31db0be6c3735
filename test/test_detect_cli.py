"""`automask detect` on an image folder: overlays per frame, COCO results that pycocotools scores."""

import json

import cv2
import numpy as np
import pytest

from automask_ros.cli import main
from automask_ros.core.demo import render as R
from automask_ros.core.shared.atomic import atomic_write_image
from _util import untrained_bundle  # benchmarks/, on the path from conftest

ARCH = "maskrcnn_mobilenet_v3_fpn"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return untrained_bundle(tmp_path_factory.mktemp("bundle") / "model", ARCH, ["mug"], model_id="cli-untrained",
                            min_size=64, max_size=128, force=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three frames of different, odd sizes with exact reference masks, plus a non-image file."""
    root = tmp_path_factory.mktemp("frames")
    refs = {}
    for name, size, seed in (("view_a", (97, 61), 0), ("view_b", (64, 80), 1), ("view_c", (121, 91), 2)):
        frame = next(R.render_sweep("mug", n_frames=3, size=size, seed=seed, empty_frames=0))
        atomic_write_image(root / f"{name}.png", frame.rgb)
        refs[name] = frame.mask
    (root / "notes.txt").write_text("not an image")
    return root, refs


def test_detect_folder_writes_overlays_and_coco_results(bundle, folder, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from automask_ros.core.shared.coco import mask_to_annotation
    images, refs = folder
    out = tmp_path / "out"
    assert main(["detect", "--model", str(bundle), "--images", str(images), "--out", str(out),
                 "--max-instances", "5", "--device", "cpu"]) == 0
    ids = json.loads((out / "images.json").read_text())
    assert sorted(ids.values()) == sorted(str((images / f"{n}.png").resolve()) for n in refs)
    for name, mask in refs.items():
        overlay = cv2.imread(str(out / f"{name}.png"))
        original = cv2.imread(str(images / f"{name}.png"))
        assert overlay.shape == original.shape and not np.array_equal(overlay, original)
    results = json.loads((out / "results.json").read_text())
    assert results and all(r["category_id"] == 1 for r in results)
    per_image = {int(k): sum(r["image_id"] == int(k) for r in results) for k in ids}
    assert all(0 < n <= 5 for n in per_image.values())
    # a user scores them with pycocotools against their own labels (here: the exact masks)
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "mug"}]}
    for k, path in ids.items():
        mask = refs[path.rsplit("/", 1)[-1][:-4]]
        gt["images"].append({"id": int(k), "height": mask.shape[0], "width": mask.shape[1]})
        ann = mask_to_annotation(mask)
        ann.update(id=int(k), image_id=int(k), category_id=1)
        gt["annotations"].append(ann)
    for r in results:  # every RLE has its own frame's size
        im = next(i for i in gt["images"] if i["id"] == r["image_id"])
        assert r["segmentation"]["size"] == [im["height"], im["width"]]
    coco = COCO()
    coco.dataset = gt
    coco.createIndex()
    ev = COCOeval(coco, coco.loadRes(results), "segm")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert 0.0 <= ev.stats[0] <= 1.0


def test_detect_user_errors(bundle, folder, tmp_path, capsys):
    images, _ = folder
    assert main(["detect", "--model", str(tmp_path / "nope"), "--images", str(images),
                 "--out", str(tmp_path / "o")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["detect", "--model", str(bundle), "--images", str(tmp_path),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["detect", "--model", str(bundle), "--images", str(images), "--classes", "cup",
                 "--out", str(tmp_path / "o")]) == 2
    assert "labels" in capsys.readouterr().err
    assert main(["detect", "--model", str(bundle), "--bag", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "--topic" in capsys.readouterr().err
    assert main(["detect", "--model", str(bundle), "--images", str(images), "--out", str(images)]) == 2
    assert "overwrite" in capsys.readouterr().err


def test_detect_video_and_rosbag2(bundle, tmp_path):
    from test_capture_cli import write_bag  # the capture tests' rosbag2 mcap writer (Image + CompressedImage)
    frames = list(R.render_sweep("mug", n_frames=3, size=(128, 96), seed=4, empty_frames=0))
    video = tmp_path / "turn.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for f in frames:
        writer.write(cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "video_out"
    assert main(["detect", "--model", str(bundle), "--video", str(video), "--out", str(out),
                 "--max-instances", "2", "--every", "2"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["turn_000000.png", "turn_000002.png"]
    assert list(json.loads((out / "images.json").read_text()).values()) == [f"{video}#frame=0", f"{video}#frame=2"]

    bag = tmp_path / "run"
    write_bag(bag, frames)
    out = tmp_path / "bag_out"
    assert main(["detect", "--model", str(bundle), "--bag", str(bag), "--topic", "/cam/image_raw/compressed",
                 "--out", str(out), "--max-instances", "2", "--batch", "2"]) == 0
    stamps = [1_000_000_000 + i * 100_000_000 for i in range(3)]
    assert sorted(p.name for p in out.glob("*.png")) == [f"run_{t}.png" for t in stamps]
    sources = json.loads((out / "images.json").read_text())
    assert sources == {str(i + 1): f"{bag}#/cam/image_raw/compressed@{t}" for i, t in enumerate(stamps)}
    results = json.loads((out / "results.json").read_text())
    assert {r["image_id"] for r in results} == {1, 2, 3}


def test_detect_with_depth_writes_3d_fields(bundle, tmp_path, capsys):
    """Rendered frames with their exact depth (.npy by stem) and intrinsics (JSON)."""
    images, depths = tmp_path / "images", tmp_path / "depth"
    images.mkdir()
    depths.mkdir()
    for i, frame in enumerate(R.render_sweep("mug", n_frames=2, size=(96, 72), seed=3, empty_frames=0)):
        atomic_write_image(images / f"f{i}.png", frame.rgb)
        np.save(depths / f"f{i}.npy", frame.depth)
        intrinsics = frame.intrinsics
    (tmp_path / "intr.json").write_text(json.dumps(intrinsics.to_dict()))
    out = tmp_path / "out"
    args = ["detect", "--model", str(bundle), "--images", str(images), "--out", str(out), "--device", "cpu",
            "--max-instances", "3", "--mask-threshold", "0", "--no-overlays"]
    assert main(args + ["--depth", str(depths), "--intrinsics", str(tmp_path / "intr.json")]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results and all({"has_3d", "position", "size", "depth_valid_fraction"} <= set(r) for r in results)
    placed = [r for r in results if r["has_3d"]]
    assert placed, "masks over rendered depth give 3D"
    z = frame.depth[frame.depth > 0]
    assert all(z.min() - 0.01 <= r["position"][2] <= z.max() + 0.01 for r in placed)
    (depths / "f1.npy").unlink()
    assert main(args + ["--depth", str(depths), "--intrinsics", str(tmp_path / "intr.json")]) == 2
    assert "no depth file for image f1" in capsys.readouterr().err
    assert main(args + ["--depth", str(depths)]) == 2
    assert "--depth and --intrinsics go together" in capsys.readouterr().err
