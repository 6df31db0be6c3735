"""The demo's offline parts: rendered data and its references, frame lookup by pixels, scoring
(perfect detections score 1, none score 0, worse masks score lower) and the player's playlist."""

import json

import cv2
import numpy as np
import pytest

from automask_ros.core.capture.dataset import SweepWriter
from automask_ros.core.demo.demo import (PhaseTimer, automask_iou, prepare_folder, prepare_synthetic, score_positions,
                                    score_detections)
from automask_ros.core.detection.infer import Instance
from automask_ros.core.demo.playback import Playlist, find_depth_source, read_angles
from automask_ros.core.shared.sources import ImageFolder
from automask_ros.core.shared.atomic import read_rgb


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


def test_evaluation_frames_carry_sensor_depth_and_true_centres(data):
    """Held-out views and clutter scenes have depth/ + intrinsics.json for the player, and every
    reference object a true centroid; the sensor depth written there gives 3D near that truth."""
    from automask_ros.core.shared.camera import load_intrinsics
    from automask_ros.core.shared.depth import DepthFrame, read_depth
    from automask_ros.core.detection.instance3d import instance_geometry

    errors = []
    for folder in (data.heldout, data.clutter):
        intr = load_intrinsics(folder.parent / "intrinsics.json")
        for path in ImageFolder(folder).files:
            ref = data.truth.lookup(read_rgb(path))
            assert ref.centres and len(ref.centres) == len(ref.objects)
            depth = DepthFrame(read_depth(folder.parent / "depth" / path.name), intr)
            for (_, mask), centre in zip(ref.objects, ref.centres):
                assert 0.2 < centre[2] < 3.0, "true centroid in metres, in front of the camera"
                g = instance_geometry(mask, depth)
                if g.has_3d:
                    errors.append(np.linalg.norm(g.position - centre))
    # loose: at 80x60 instance_geometry is ~4 cm off even on exact depth (under 1 cm at 320x240)
    assert errors and np.median(errors) < 0.07, errors


def test_score_positions_matches_by_label_and_mask(data):
    from automask_ros.core.detection.instance3d import Geometry3D

    frames = []
    for k, path in enumerate(ImageFolder(data.heldout).files + ImageFolder(data.clutter).files):
        rgb = read_rgb(path)
        ref = data.truth.lookup(rgb)
        insts = []
        for (label, mask), centre in zip(ref.objects, ref.centres):
            g = (Geometry3D(False, 0.0) if k == 0 else
                 Geometry3D(True, 1.0, position=np.asarray(centre) + [0.02, 0.0, 0.0]))
            insts.append(Instance(label, 1, 0.9, (0, 0, 1, 1), mask, g))
            insts.append(Instance("bottle", 2, 0.9, (0, 0, 1, 1), mask,  # another label never matches
                                  Geometry3D(True, 1.0, position=np.zeros(3))))
        frames.append((rgb, insts))
    frames.append((np.zeros((60, 80, 3), np.uint8), []))  # unknown frames are left out
    s = score_positions(frames, data.truth)
    assert s["matched"] == 5 and s["with_3d"] == pytest.approx(4 / 5)
    assert s["detected"] == 10 and s["detected_with_3d"] == 9
    assert s["median_cm"] == pytest.approx(2.0) and s["p90_cm"] == pytest.approx(2.0)
    assert s["predicted"][0] is None and len(s["truth"]) == len(s["labels"]) == 5
    empty = [(rgb, [Instance(i.label, 1, 0.9, i.box, np.zeros_like(i.mask), i.geometry) for i in insts])
             for rgb, insts in frames]
    assert score_positions(empty, data.truth)["matched"] == 0, "no mask overlap, no match"


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


def test_report_shows_3d_positions_against_truth(data, tmp_path):
    """write_demo_report adds the top-down figure, the 3D rows and positions_3d.json."""
    from automask_ros.core.demo.demo import write_demo_report
    from automask_ros.core.detection.instance3d import Geometry3D
    from _util import untrained_bundle

    bundle = untrained_bundle(tmp_path / "model", model_id="m", min_size=60, max_size=80, score=0.5, force=False)
    writer = SweepWriter(tmp_path / "dataset", "mug")
    for k, path in enumerate(ImageFolder(data.sweep).files[data.empty_frames:]):
        rgb = read_rgb(path)
        writer.add_frame(rgb, data.truth.lookup(rgb).objects[0][1], angle_deg=60.0 * k)
    sweep = writer.finish()
    frames = []
    for path in ImageFolder(data.clutter).files:
        rgb = read_rgb(path)
        ref = data.truth.lookup(rgb)
        frames.append((rgb, [Instance(lab, 1, 0.9, (0, 0, 1, 1), m,
                                      Geometry3D(True, 1.0, position=np.asarray(c) + [0.0, 0.0, 0.03]))
                             for (lab, m), c in zip(ref.objects, ref.centres)]))
    page, rows = write_demo_report(tmp_path / "out", label="mug", sweep_path=sweep, bundle=bundle, iou=None,
                                   heldout=None, clutter=(frames, 0), truth=data.truth, phases={})
    text = page.read_text()
    assert "seen from above" in text and "centroid error median (cm)" in text
    row = rows["3D positions (detector node, held-out + clutter)"]
    assert row["matched instances"] == 2 and row["centroid error median (cm)"] == pytest.approx(3.0)
    saved = json.loads((tmp_path / "out" / "positions_3d.json").read_text())
    assert [p["label"] for p in saved] == ["mug", "mug"] and saved[0]["predicted"][2] > saved[0]["truth"][2]
