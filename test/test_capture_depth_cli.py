"""`automask capture` with depth: real Kinect (UW RGB-D) and Primesense (Dex-Net) folders, rosbag2
depth + camera_info topics, the bad-input lines, folders that keep every frame, and RGB-D sweeps
through `automask dataset validate / stats / merge`. The rendered frames stand in for a camera;
their depth is made from the renderer's exact mask (no RGB-D camera exists here)."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from automask_ros.cli import main
from automask_ros.core.capture.dataset import load_sweep, validate_sweep
from automask_ros.core.shared.depth import find_depth_file, read_depth
from automask_ros.core.demo.render import render_sweep, write_image_folder
from automask_ros.core.shared.sources import companion_stems

INTR = {"fx": 100.0, "fy": 100.0, "cx": 64.0, "cy": 48.0, "width": 128, "height": 96}


def depth_mm(frame, i):
    """Object 0.8 m, background 1.2 m, plus i mm so that each frame's depth is its own."""
    return (np.where(frame.mask, 800, 1200) + i).astype(np.uint16)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render_rgbd")
    frames = list(render_sweep("bottle", n_frames=5, size=(128, 96), empty_frames=1, seed=4))
    write_image_folder(out, frames, label="bottle")
    names = sorted(p.stem for p in (out / "images").glob("*.png"))
    (out / "depth").mkdir(exist_ok=True)  # write_image_folder writes exact depth; these are the test's own
    for i, (name, f) in enumerate(zip(names, frames)):
        cv2.imwrite(str(out / "depth" / f"{name}.png"), depth_mm(f, i))
    (out / "intr.json").write_text(json.dumps(INTR))
    return out, frames


def capture(capsys, *args, quiet=True):
    rc = main(["capture", *(["--quiet"] if quiet else []), *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_companion_files_and_depth_names():
    assert companion_stems("apple_1_1_1_depth") == {"apple_1_1_1"} and companion_stems("f_mask") == {"f"}
    assert "color_3" in companion_stems("segmask_3") and companion_stems("apple_1_1_1") == set()


def test_uw_kinect_folder_keeps_frames_not_masks_and_stores_depth(tmp_path, capsys, shared_data):
    folder = shared_data / "uw_rgbd" / "turntable" / "apple_1"
    rc, out, err = main(["capture", "--label", "apple", "--out", str(tmp_path), "--images", str(folder),
                         "--depth", str(folder), "--intrinsics", str(shared_data / "uw_rgbd" / "intrinsics.json"),
                         "--segmenter", "u2net"]), *capsys.readouterr()
    assert rc == 0, err
    assert "4 depth/mask companion files are not frames" in err
    path = Path(out.strip().splitlines()[-1])
    assert validate_sweep(path) == []
    sweep = load_sweep(path)
    assert [Path(i["source"]).name for i in sweep.images] == ["apple_1_1_1.png", "apple_1_1_2.png"]
    assert sweep.meta["intrinsics"]["fx"] == 570.3 and "depth: stored for 2 of 2 frames" in out
    for image in sweep.images:
        original = cv2.imread(str(folder / Path(image["source"]).name.replace(".png", "_depth.png")), -1)
        d = sweep.depth(image)
        assert d.intrinsics.cx == 320.0 and image["intrinsics"]["width"] == 640
        np.testing.assert_array_equal(np.round(d.depth_m * 1000).astype(np.uint16), original)


def test_dexnet_folder_pairs_color_n_with_depth_n(tmp_path, capsys, shared_data):
    folder = shared_data / "gqcnn" / "single_object"
    assert find_depth_file(folder, "color_2", exclude=folder / "color_2.png") == folder / "depth_2.npy"
    rc, out, err = capture(capsys, "--label", "objects", "--out", tmp_path, "--images", folder, "--glob", "*_[0-2].png",
                           "--depth", folder, "--intrinsics", shared_data / "gqcnn" / "primesense.intr",
                           "--segmenter", "u2net")
    assert rc == 0, err
    sweep = load_sweep(out.strip().splitlines()[-1])
    assert [Path(i["source"]).name for i in sweep.images] == ["color_0.png", "color_1.png", "color_2.png"]
    assert sweep.meta["intrinsics"] == {"fx": 525.0, "fy": 525.0, "cx": 319.5, "cy": 239.5, "width": 640, "height": 480}
    for image in sweep.images:
        original = read_depth(folder / Path(image["source"]).name.replace("color", "depth").replace(".png", ".npy"))
        np.testing.assert_allclose(sweep.depth(image).depth_m, original, atol=0.0006)  # stored in whole mm


def test_folder_keeps_every_frame_unless_thin(tmp_path, capsys, rendered):
    folder, frames = rendered
    stills = tmp_path / "stills"
    stills.mkdir()
    for i in range(6):  # the same view six times: a video would thin these, a folder of stills must not
        cv2.imwrite(str(stills / f"s_{i}.png"), cv2.cvtColor(frames[3 if i else 0].rgb, cv2.COLOR_RGB2BGR))
    runs = {}
    for thin in ([], ["--thin"]):
        rc, out, err = capture(capsys, "--label", "b", "--out", tmp_path / "o", "--images", stills,
                               "--segmenter", "background", "--empty-frames", "1", *thin)
        assert rc == 0, err
        meta = load_sweep(out.strip().splitlines()[-1]).meta
        runs[bool(thin)] = meta
    c = runs[False]["counts"]
    assert c["kept"] + c["rejected"] == 5 and runs[False]["params"]["min_change"] == 0.0
    c = runs[True]["counts"]
    assert c["kept"] + c["rejected"] == 1 and runs[True]["params"]["min_change"] == 0.001


def test_depth_folder_sweep_validates_merges_and_reports(tmp_path, capsys, rendered):
    folder, frames = rendered
    paths = []
    for _ in range(2):
        rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path, "--images", folder / "images",
                               "--depth", folder / "depth", "--intrinsics", folder / "intr.json",
                               "--segmenter", "background", "--empty-frames", "1")
        assert rc == 0, err
        paths.append(Path(out.strip().splitlines()[-1]))
    sweep = load_sweep(paths[0])
    assert sweep.images[0]["negative"] and sweep.images[0]["depth_file"] == "depth/000001.png"
    for image in sweep.images:
        i = [Path(f).name for f in sorted((folder / "images").glob("*.png"))].index(Path(image["source"]).name)
        np.testing.assert_array_equal(np.round(sweep.depth(image).depth_m * 1000), depth_mm(frames[i], i))
    assert main(["dataset", "merge", *map(str, paths), "--out", str(tmp_path), "--sweep-id", "both"]) == 0
    merged = load_sweep(tmp_path / "bottle" / "both")
    assert len(merged.images) == 2 * len(sweep.images) and validate_sweep(merged.path) == []
    np.testing.assert_array_equal(merged.depth(merged.images[-1]).depth_m, sweep.depth(sweep.images[-1]).depth_m)
    capsys.readouterr()
    assert main(["dataset", "stats", "--json", str(merged.path)]) == 0
    stats = json.loads(capsys.readouterr().out)[0]
    assert stats["depth_frames"] == len(merged.images) and stats["intrinsics"] == INTR
    # a depth file that went missing, or one of another size, makes the sweep invalid
    (paths[0] / "depth" / "000002.png").unlink()
    cv2.imwrite(str(paths[0] / "depth" / "000003.png"), np.ones((10, 10), np.uint16))
    problems = validate_sweep(paths[0])
    assert any("000002.png does not exist" in p for p in problems) and any("10x10" in p for p in problems)


@pytest.mark.parametrize("make, message", [
    (lambda d: d[::2, ::2], "depth is 64x48 but colour is 128x96"),
    (lambda d: np.zeros_like(d), "no valid reading"),
    (lambda d: (d // 256).astype(np.uint8), "is 8-bit"),
])
def test_bad_depth_files_are_one_line_each_and_frames_stay_colour_only(tmp_path, capsys, rendered, make, message):
    folder, _ = rendered
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in (folder / "depth").glob("*.png"):
        cv2.imwrite(str(bad / p.name), make(cv2.imread(str(p), -1)))
    rc, out, err = main(["capture", "--label", "b", "--out", str(tmp_path), "--images", str(folder / "images"),
                         "--depth", str(bad), "--intrinsics", str(folder / "intr.json"),
                         "--segmenter", "background", "--empty-frames", "1"]), *capsys.readouterr()
    assert rc == 0, err
    lines = [ln for ln in err.splitlines() if "no depth for" in ln]
    assert len(lines) == 6 and all(message in ln for ln in lines), err
    sweep = load_sweep(out.strip().splitlines()[-1])
    assert validate_sweep(sweep.path) == [] and not any("depth_file" in i for i in sweep.images)
    assert "depth: stored for 0 of" in out


def test_depth_without_intrinsics_is_refused_at_start(tmp_path, capsys, rendered):
    folder, _ = rendered
    rc, out, err = capture(capsys, "--label", "b", "--out", tmp_path, "--images", folder / "images",
                           "--depth", folder / "depth")
    assert rc == 2 and "depth needs the camera's intrinsics: give --intrinsics" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "b").exists()


def write_rgbd_bag(path, frames, depth_offset_ns=3_000_000, encoding="16UC1"):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.LATEST)
    Image, Info = ts.types["sensor_msgs/msg/Image"], ts.types["sensor_msgs/msg/CameraInfo"]
    Header, Time = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    RoI = ts.types["sensor_msgs/msg/RegionOfInterest"]

    def header(t):
        return Header(stamp=Time(sec=t // 10**9, nanosec=t % 10**9), frame_id="cam")

    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        color = writer.add_connection("/cam/color", Image.__msgtype__, typestore=ts)
        depth = writer.add_connection("/cam/depth", Image.__msgtype__, typestore=ts)
        info = writer.add_connection("/cam/info", Info.__msgtype__, typestore=ts)
        for i, f in enumerate(frames):
            t = 1_000_000_000 + i * 100_000_000
            k = np.array([100.0, 0, 64.0, 0, 100.0, 48.0, 0, 0, 1])
            writer.write(info, t, ts.serialize_cdr(Info(
                header=header(t), height=96, width=128, distortion_model="plumb_bob", d=np.zeros(5), k=k,
                r=np.eye(3).ravel(), p=np.zeros(12), binning_x=0, binning_y=0,
                roi=RoI(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)), Info.__msgtype__))
            msg = Image(header=header(t), height=96, width=128, encoding="rgb8", is_bigendian=0, step=128 * 3,
                        data=np.ascontiguousarray(f.rgb).ravel())
            writer.write(color, t, ts.serialize_cdr(msg, Image.__msgtype__))
            d = depth_mm(f, i)  # the depth of frame i is stamped 3 ms after it, and logged after it
            msg = Image(header=header(t + depth_offset_ns), height=96, width=128, encoding=encoding, is_bigendian=0,
                        step=128 * 2, data=d.view(np.uint8).ravel())
            writer.write(depth, t + depth_offset_ns, ts.serialize_cdr(msg, Image.__msgtype__))


def test_rosbag2_depth_and_camera_info_topics(tmp_path, capsys, rendered):
    _, frames = rendered
    write_rgbd_bag(tmp_path / "run", frames)
    rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path / "ds", "--bag", tmp_path / "run",
                           "--topic", "/cam/color", "--depth-topic", "/cam/depth", "--camera-info-topic", "/cam/info",
                           "--segmenter", "background", "--empty-frames", "1")
    assert rc == 0, err
    sweep = load_sweep(out.strip().splitlines()[-1])
    assert sweep.meta["intrinsics"] == INTR and len(sweep.images) >= 4
    for image in sweep.images:   # each colour frame got the depth frame nearest in stamp: its own
        i = round((image["stamp"] - 1.0) / 0.1)
        np.testing.assert_array_equal(np.round(sweep.depth(image).depth_m * 1000), depth_mm(frames[i], i))
    # stamps further apart than the tolerance never pair: one line per frame, colour-only sweep
    rc, out, err = capture(capsys, "--label", "bottle", "--out", tmp_path / "ds", "--bag", tmp_path / "run",
                           "--topic", "/cam/color", "--depth-topic", "/cam/depth", "--camera-info-topic", "/cam/info",
                           "--segmenter", "background", "--empty-frames", "1", "--sync-tolerance", "0.001", quiet=False)
    assert rc == 0 and err.count("no depth frame on /cam/depth within 0.001 s") == len(frames), err
    assert "depth: stored for 0 of" in out
    # a topic that is no CameraInfo, or an unknown depth encoding
    rc, out, err = capture(capsys, "--label", "b", "--out", tmp_path / "ds", "--bag", tmp_path / "run",
                           "--topic", "/cam/color", "--depth-topic", "/cam/depth", "--camera-info-topic", "/cam/depth")
    assert rc == 2 and "not a sensor_msgs/CameraInfo topic" in err and "/cam/info" in err
    write_rgbd_bag(tmp_path / "bad", frames, encoding="mono16be")
    rc, out, err = capture(capsys, "--label", "b", "--out", tmp_path / "ds", "--bag", tmp_path / "bad",
                           "--topic", "/cam/color", "--depth-topic", "/cam/depth", "--camera-info-topic", "/cam/info",
                           "--segmenter", "background", "--empty-frames", "1", quiet=False)
    assert rc == 0 and err.count("unsupported depth encoding 'mono16be'") == len(frames), err
