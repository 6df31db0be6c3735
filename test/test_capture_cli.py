"""`automask capture` and `automask dataset` end to end: image folder, video, rosbag2 mcap, bad input."""

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from automask_ros.cli import main
from automask_ros.core.shared.coco import mask_iou
from automask_ros.core.capture.dataset import load_sweep, validate_sweep
from automask_ros.core.demo.render import render_sweep, write_image_folder


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    frames = list(render_sweep("bottle", n_frames=8, size=(128, 96), empty_frames=2, seed=2))
    write_image_folder(out, frames, label="bottle")
    return out, frames


def capture(capsys, *args):
    rc = main(["capture", "--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_images_folder_with_u2net(tmp_path, capsys, rendered):
    folder, frames = rendered
    rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path, "--images", folder / "images",
                           "--empty-frames", "2")
    assert rc == 0, err
    path = Path(out.strip().splitlines()[-1])              # the sweep path is the last line
    assert path.parent == tmp_path / "bottle" and validate_sweep(path) == []
    sweep = load_sweep(path)
    assert [Path(i["source"]).name for i in sweep.images] == sorted(os.listdir(folder / "images"))
    assert sum(i["negative"] for i in sweep.images) == 2 and len(sweep.coco["annotations"]) == 8
    assert sweep.meta["segmenter"]["name"] == "fused" and sweep.meta["segmenter"]["background"]["has_reference"]
    for image, f in zip(sweep.images[2:], frames[2:]):
        m = sweep.mask(image)
        assert mask_iou(m, f.mask) > 0.85
    assert (path / "contact_sheet.png").is_file() and "contact sheet" in out


def test_natural_sort_and_glob(tmp_path, capsys, rendered):
    folder, frames = rendered
    src = tmp_path / "src"
    src.mkdir()
    for i in (0, 1, 2, 10):   # natural order puts view_10 last
        cv2.imwrite(str(src / f"view_{i}.png"), cv2.cvtColor(frames[[0, 2, 3, 4][(0, 1, 2, 10).index(i)]].rgb,
                                                              cv2.COLOR_RGB2BGR))
    (src / "notes.txt").write_text("not an image")
    rc, out, err = capture(capsys, "--label", "b", "--out", tmp_path / "o", "--images", src, "--glob", "view_*.png",
                           "--segmenter", "background")
    assert rc == 0, err
    sweep = load_sweep(out.strip().splitlines()[-1])
    assert [Path(i["source"]).name for i in sweep.images] == ["view_0.png", "view_1.png", "view_2.png",
                                                              "view_10.png"]


def test_video_source_records_frame_indices(tmp_path, capsys, rendered):
    _, frames = rendered
    video = tmp_path / "sweep.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for f in frames:
        w.write(cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR))
    w.release()
    rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path, "--video", video,
                           "--segmenter", "background", "--empty-frames", "2")
    assert rc == 0, err
    sweep = load_sweep(out.strip().splitlines()[-1])
    assert [i["source"] for i in sweep.images] == list(range(len(frames)))
    assert sweep.images[3]["stamp"] == pytest.approx(0.3)


def write_bag(path, frames, compressed_topic=True):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.LATEST)
    Image, Compressed = ts.types["sensor_msgs/msg/Image"], ts.types["sensor_msgs/msg/CompressedImage"]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        raw = writer.add_connection("/cam/image_raw", Image.__msgtype__, typestore=ts)
        comp = writer.add_connection("/cam/image_raw/compressed", Compressed.__msgtype__, typestore=ts)
        for i, f in enumerate(frames):
            t = 1_000_000_000 + i * 100_000_000
            header = Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="cam")
            bgr = np.ascontiguousarray(f.rgb[..., ::-1])
            msg = Image(header=header, height=96, width=128, encoding="bgr8", is_bigendian=0, step=128 * 3,
                        data=bgr.ravel())
            writer.write(raw, t, ts.serialize_cdr(msg, Image.__msgtype__))
            jpg = cv2.imencode(".jpg", bgr)[1].ravel()
            writer.write(comp, t, ts.serialize_cdr(Compressed(header=header, format="jpeg", data=jpg),
                                                   Compressed.__msgtype__))


def test_rosbag2_mcap_image_and_compressed(tmp_path, capsys, rendered):
    _, frames = rendered
    bag = tmp_path / "run"
    write_bag(bag, frames)
    for topic in ("/cam/image_raw", "/cam/image_raw/compressed"):
        rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path / "ds", "--bag", bag, "--topic", topic,
                               "--segmenter", "background", "--empty-frames", "2")
        assert rc == 0, err
        sweep = load_sweep(out.strip().splitlines()[-1])
        assert [i["source"] for i in sweep.images] == [1_000_000_000 + i * 100_000_000 for i in range(len(frames))]
        assert sweep.images[1]["stamp"] == pytest.approx(1.1)
        assert len(sweep.coco["annotations"]) == 8
    rc, out, err = capture(capsys, "--label", "b", "--out", tmp_path, "--bag", bag, "--topic", "/nope")
    assert rc == 2 and "/cam/image_raw" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--label", "../up", "--images", "{src}"], "label"),
    (["--label", "a/b", "--images", "{src}"], "label"),
    (["--label", "x", "--images", "{tmp}/missing"], "does not exist"),
    (["--label", "x", "--images", "{empty}"], "no images"),
    (["--label", "x", "--images", "{src}", "--video", "{src}/a.png"], "exactly one source"),
    (["--label", "x", "--bag", "{tmp}"], "--topic"),
    (["--label", "x", "--video", "{tmp}/bad.yaml"], "cannot open video"),
    (["--label", "x", "--images", "{src}", "--params", "{tmp}/bad.yaml"], "unknown capture parameter"),
    (["--label", "x", "--images", "{src}", "--params", "{tmp}/onnx.yaml"], "not found"),
    (["--label", "x", "--images", "{broken}"], "cannot read image"),
    (["--label", "x", "--images", "{src}", "--set", "max_groth=2"], "unknown capture parameter(s) max_groth"),
    (["--label", "x", "--images", "{src}", "--set", "max_growth"], "must be NAME=VALUE"),
    (["--label", "x", "--images", "{src}", "--empty-frames", "-1"], "empty_frames=-1 is out of range"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, rendered, args, message):
    folder, _ = rendered
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "zero.png").write_bytes(b"")     # an empty image file
    (tmp_path / "bad.yaml").write_text("step_degs: 10\n")
    (tmp_path / "onnx.yaml").write_text("model_path: /nonexistent/u2net.onnx\nsegmenter: u2net\n")
    where = {"src": folder / "images", "tmp": tmp_path, "empty": tmp_path / "empty", "broken": tmp_path / "broken"}
    args = [a.format(**where) for a in args]
    rc, out, err = capture(capsys, "--out", tmp_path / "ds", *args)
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_unwritable_output_directory(tmp_path, capsys, rendered):
    folder, _ = rendered
    blocker = tmp_path / "a_file"
    blocker.write_text("x")                                   # root ignores chmod; a file cannot be a folder
    rc, out, err = capture(capsys, "--label", "x", "--out", blocker, "--images", folder / "images",
                           "--segmenter", "background")
    assert rc == 2 and "cannot create sweep folder" in err


def test_dataset_validate_stats_merge(tmp_path, capsys, rendered):
    folder, _ = rendered
    paths = []
    for _ in range(2):
        rc, out, _ = capture(capsys, "--label", "bottle", "--out", tmp_path, "--images", folder / "images",
                             "--segmenter", "background", "--empty-frames", "2")
        paths.append(out.strip().splitlines()[-1])
    assert main(["dataset", "merge", *paths, "--out", str(tmp_path), "--sweep-id", "both"]) == 0
    merged = load_sweep(tmp_path / "bottle" / "both")
    assert len(merged.images) == 20 and len({i["id"] for i in merged.images}) == 20
    assert len({a["id"] for a in merged.coco["annotations"]}) == 16
    assert {i["merged_from"]["sweep"] for i in merged.images} == set(paths)
    capsys.readouterr()
    assert main(["dataset", "validate", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("OK ") == 3
    assert main(["dataset", "stats", "--json", str(tmp_path / "bottle" / "both")]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats[0]["positives"] == 16 and stats[0]["negatives"] == 4
    # another label cannot be merged in, and a broken sweep fails validation
    rc, out, _ = capture(capsys, "--label", "cup", "--out", tmp_path, "--images", folder / "images",
                         "--segmenter", "background", "--empty-frames", "2")
    assert main(["dataset", "merge", paths[0], out.strip().splitlines()[-1], "--out", str(tmp_path)]) == 2
    assert "different labels" in capsys.readouterr().err
    os.remove(Path(paths[0]) / "images" / "000003.png")
    assert main(["dataset", "validate", paths[0]]) == 1


def test_flags_set_and_params_file_reach_the_sweep_in_that_order(tmp_path, capsys, rendered):
    """Every capture parameter can be given: a flag wins over --set, --set over --params, --params
    over the source's defaults; sweep.json records the values the sweep ran with."""
    folder, _ = rendered
    (tmp_path / "p.yaml").write_text("max_growth: 1.8\nstep_deg: 20\nempty_frames: 1\n")
    rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path / "d", "--images", folder / "images",
                           "--segmenter", "background", "--params", tmp_path / "p.yaml", "--set", "step_deg=40",
                           "--set", "roi=[0.0, 0.0, 1.0, 1.0]", "--set", "threshold=otsu", "--empty-frames", "2")
    assert rc == 0, err
    params = load_sweep(out.strip().splitlines()[-1]).meta["params"]
    assert params["max_growth"] == 1.8 and params["step_deg"] == 40.0 and params["threshold"] == "otsu"
    assert params["empty_frames"] == 2 and params["min_change"] == 0.0  # a flag; a folder's default
