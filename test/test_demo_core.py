"""The demo's offline parts: rendered data and its references, frame lookup by pixels, scoring
(perfect detections score 1, none score 0, worse masks score lower) and the player's playlist."""

import json

import cv2
import numpy as np
import pytest

from automask_ros.core.dataset import SweepWriter
from automask_ros.core.demo import (PhaseTimer, automask_iou, prepare_folder, prepare_synthetic,
                                    score_detections)
from automask_ros.core.infer import Instance
from automask_ros.core.playback import Playlist, find_depth_source, read_angles
from automask_ros.core.sources import ImageFolder
from automask_ros.core.atomic import read_rgb


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return prepare_synthetic(tmp_path_factory.mktemp("demo"), "mug", (80, 60), views=6, heldout=3,
                             clutter=2, backgrounds=2, seed=3)


def _perfect(rgb, truth):
    ref = truth.lookup(rgb)
    return [Instance(label, 1, 0.9, (0, 0, rgb.shape[1], rgb.shape[0]), m) for label, m in ref.objects]


def test_rendered_folders_and_references(data):
    assert len(ImageFolder(data.sweep)) == 3 + 6 and len(ImageFolder(data.heldout)) == 3
    assert len(ImageFolder(data.clutter)) == 2 and len(ImageFolder(data.backgrounds)) == 2
    assert len(data.truth) == 3 + 6 + 3 + 2
    # the rig as a robot's camera sees it: the empty turntable first, depth and intrinsics beside
    sweep_angles = list(read_angles(data.angles).values())
    assert sweep_angles[:3] == [None] * 3 and None not in sweep_angles[3:] and data.empty_frames == 3
    first = ImageFolder(data.sweep).files
    assert data.truth.lookup(read_rgb(first[0])).objects == []
    for folder in (data.sweep, data.heldout):
        assert (folder.parent / "intrinsics.json").is_file()
        assert len(list((folder.parent / "depth").glob("*.png"))) == len(ImageFolder(folder))
    sweep_angles = [a for a in sweep_angles if a is not None]
    held_angles = [a for a in read_angles(data.heldout.parent / "angles.json").values()]
    assert not set(sweep_angles) & set(held_angles), "held-out views must be unseen angles"
    ref = data.truth.lookup(read_rgb(ImageFolder(data.heldout).files[0]))
    assert ref.objects[0][0] == "mug" and ref.objects[0][1].any()
    assert data.truth.lookup(np.zeros((60, 80, 3), np.uint8)) is None


def test_scores_perfect_none_and_worse_detections(data):
    frames = [(read_rgb(p), None) for p in ImageFolder(data.heldout).files + ImageFolder(data.clutter).files]
    perfect = score_detections([(rgb, _perfect(rgb, data.truth)) for rgb, _ in frames], data.truth, ["mug"])
    assert perfect["mask_AP"] == pytest.approx(1.0) and perfect["found"] == perfect["frames"] == 5
    none = score_detections([(rgb, []) for rgb, _ in frames], data.truth, ["mug"])
    assert none["mask_AP"] == 0.0 and none["found"] == 0
    kernel = np.ones((5, 5), np.uint8)
    eroded = [(rgb, [Instance(i.label, 1, i.score, i.box, cv2.erode(i.mask.astype(np.uint8), kernel) > 0)
                     for i in _perfect(rgb, data.truth)]) for rgb, _ in frames]
    assert score_detections(eroded, data.truth, ["mug"])["mask_AP"] < 0.9
    stranger = score_detections([(np.zeros((60, 80, 3), np.uint8), [])], data.truth, ["mug"])
    assert stranger["unknown_frames"] == 1 and "mask_AP" not in stranger


def test_automask_iou_against_references(data, tmp_path):
    writer = SweepWriter(tmp_path, "mug")
    files = ImageFolder(data.sweep).files[data.empty_frames:]
    for k, path in enumerate(files):
        rgb = read_rgb(path)
        mask = data.truth.lookup(rgb).objects[0][1]
        writer.add_frame(rgb, mask if k else np.roll(mask, 6, axis=1), angle_deg=60.0 * k)
    iou = automask_iou(writer.finish(), data.truth)
    assert iou["frames"] == len(files)
    assert iou["min"] < 0.95 and iou["mean"] > iou["min"]
    assert sorted(v for _, v in iou["per_frame"])[1:] == [1.0] * (len(files) - 1)


def test_real_folder_references_ignore_void(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    ref = np.zeros((40, 40), np.uint8)
    ref[10:30, 10:30] = 255
    ref[10:30, 28:30] = 128   # a void band on the edge
    cv2.imwrite(str(tmp_path / "images" / "obj_0.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "masks" / "obj_0.png"), ref)
    data = prepare_folder(tmp_path / "images", "obj_*.png", "cup", masks=tmp_path / "masks")
    truth = data.truth.lookup(read_rgb(tmp_path / "images" / "obj_0.png"))
    assert truth.void.sum() == 40 and truth.objects[0][1].sum() == 20 * 18
    writer = SweepWriter(tmp_path / "ds", "cup")
    pred = np.zeros((40, 40), bool)
    pred[10:30, 10:29] = True  # disagrees with the reference only on void pixels
    writer.add_frame(read_rgb(tmp_path / "images" / "obj_0.png"), pred)
    assert automask_iou(writer.finish(), data.truth)["mean"] == 1.0
    with pytest.raises(FileNotFoundError, match="no images"):
        prepare_folder(tmp_path / "images", "nothing_*.png", "cup")


def test_playlist_angles_and_errors(data, tmp_path):
    playlist = Playlist(data.sweep, None, data.angles)
    assert len(playlist) == 3 + 6 and playlist.depth(0) is None  # no depth folder given
    rgb, angle = playlist.frame(3 + 1)
    assert rgb.shape == (60, 80, 3) and angle == pytest.approx(60.0)
    depth_dir, intrinsics = find_depth_source(data.sweep)
    with_depth = Playlist(data.sweep, None, data.angles, depth_dir, intrinsics)
    assert depth_dir == data.sweep.parent / "depth" and intrinsics.width == 80
    assert with_depth.depth(4).shape == (60, 80) and (with_depth.depth(4) > 0).mean() > 0.5
    with pytest.raises(FileNotFoundError, match="depth folder"):
        find_depth_source(data.sweep, tmp_path / "nowhere")
    assert Playlist(data.sweep).frame(0)[1] is None
    with pytest.raises(FileNotFoundError, match="angles file"):
        Playlist(data.sweep, None, tmp_path / "missing.json")
    other = tmp_path / "angles.json"
    other.write_text(json.dumps({"frames": [{"image": "images/x.png", "angle_deg": 3}]}))
    with pytest.raises(ValueError, match="names none of the images"):
        Playlist(data.sweep, None, other)
    other.write_text("{}")
    with pytest.raises(ValueError, match="no 'frames' list"):
        read_angles(other)


def test_phase_timer_adds_up():
    timer = PhaseTimer()
    for _ in range(2):
        with timer.phase("a"):
            pass
    with pytest.raises(RuntimeError):
        with timer.phase("b"):
            raise RuntimeError
    assert list(timer.seconds) == ["a", "b"] and all(v >= 0 for v in timer.seconds.values())
