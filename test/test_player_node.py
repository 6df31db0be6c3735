"""The player node over real DDS: every frame of a folder in natural order, each one's angle
before it, ~/playing up then down, ~/play again after new parameters, and a bad folder refused
with a reason."""

import threading
import time

import numpy as np
import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float64
from std_srvs.srv import Trigger

from automask_ros.core.demo import render
from automask_ros.core.shared.atomic import read_rgb
from automask_ros.core.shared.sources import ImageFolder
from automask_ros.ros.image_conversion import imgmsg_to_rgb
from automask_ros.ros.player_node import LATCHED, PlayerNode

pytestmark = [pytest.mark.ros]


def wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_player_publishes_frames_and_angles_in_order(tmp_path):
    folder = render.write_image_folder(tmp_path / "sweep", render.render_sweep("box", 5, (48, 32), seed=1,
                                                                             empty_frames=1))
    files = ImageFolder(folder / "images").files
    rclpy.init()
    try:
        player = PlayerNode(parameter_overrides=[
            Parameter("images", value=str(folder / "images")), Parameter("rate_hz", value=20.0),
            Parameter("angles_file", value=str(folder / "angles.json")), Parameter("frame_id", value="cam")])
        listener = rclpy.create_node("player_listener")
        events, playing = [], []
        listener.create_subscription(Image, "image", lambda m: events.append(("image", m)), qos_profile_sensor_data)
        listener.create_subscription(Float64, "turntable_angle", lambda m: events.append(("angle", m.data)), 10)
        listener.create_subscription(Bool, "player_node/playing", lambda m: playing.append(m.data), LATCHED)
        play = listener.create_client(Trigger, "player_node/play")
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(player)
        executor.add_node(listener)
        threading.Thread(target=executor.spin, daemon=True).start()

        assert wait(lambda: playing[-2:] == [True, False]), playing
        images = [m for kind, m in events if kind == "image"]
        assert len(images) == len(files)
        for msg, path in zip(images, files):
            assert np.array_equal(imgmsg_to_rgb(msg), read_rgb(path)) and msg.header.frame_id == "cam"
        angles = [a for kind, a in events if kind == "angle"]
        assert angles == pytest.approx([0, 72, 144, 216, 288])  # the empty first frame has none
        for k, (kind, _) in enumerate(events):
            if kind == "angle":
                assert events[k + 1][0] == "image", "each angle goes out just before its frame"

        player.set_parameters([Parameter("glob", value="000002.png"), Parameter("angles_file", value="")])
        events.clear()
        future = play.call_async(Trigger.Request())
        assert wait(future.done) and future.result().success
        assert wait(lambda: playing[-1] is False and len(events) == 1)
        assert np.array_equal(imgmsg_to_rgb(events[0][1]), read_rgb(files[2]))

        player.set_parameters([Parameter("images", value=str(tmp_path / "nowhere"))])
        future = play.call_async(Trigger.Request())
        assert wait(future.done)
        assert not future.result().success and "does not exist" in future.result().message
        executor.shutdown(timeout_sec=5)
        player.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown()


def test_player_publishes_aligned_depth_and_camera_info(tmp_path):
    """A render folder with depth/ and intrinsics.json: every colour frame comes with a 16UC1 depth
    image and a CameraInfo with the same stamp and frame_id; without intrinsics, play is refused."""
    from sensor_msgs.msg import CameraInfo

    from automask_ros.core.shared.camera import load_intrinsics
    from automask_ros.core.shared.depth import read_depth, to_millimetres
    from automask_ros.core.demo.rig import render_rig
    from automask_ros.ros.image_conversion import imgmsg_to_depth_m, imgmsg_to_numpy

    folder = render.write_image_folder(tmp_path / "rig", render_rig("mug", 3, (64, 48), seed=2, empty_frames=1))
    files = ImageFolder(folder / "images").files
    intr = load_intrinsics(folder / "intrinsics.json")
    rclpy.init()
    try:
        player = PlayerNode(parameter_overrides=[
            Parameter("images", value=str(folder / "images")), Parameter("rate_hz", value=20.0),
            Parameter("frame_id", value="rgbd"), Parameter("autostart", value=False)])
        listener = rclpy.create_node("rgbd_listener")
        got = {"image": [], "depth": [], "info": []}
        playing = []
        listener.create_subscription(Image, "image", lambda m: got["image"].append(m), qos_profile_sensor_data)
        listener.create_subscription(Image, "depth", lambda m: got["depth"].append(m), qos_profile_sensor_data)
        listener.create_subscription(CameraInfo, "camera_info", lambda m: got["info"].append(m),
                                     qos_profile_sensor_data)
        listener.create_subscription(Bool, "player_node/playing", lambda m: playing.append(m.data), LATCHED)
        play = listener.create_client(Trigger, "player_node/play")
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(player)
        executor.add_node(listener)
        threading.Thread(target=executor.spin, daemon=True).start()

        assert wait(lambda: listener.count_publishers("camera_info") == 1)
        future = play.call_async(Trigger.Request())
        assert wait(future.done) and future.result().success, future.result()
        assert "depth from" in future.result().message
        assert wait(lambda: playing[-2:] == [True, False]) and wait(lambda: len(got["image"]) == len(files))
        assert len(got["depth"]) == len(got["info"]) == len(files)
        for image, depth, info, path in zip(got["image"], got["depth"], got["info"], files):
            assert depth.header == image.header == info.header and image.header.frame_id == "rgbd"
            assert depth.encoding == "16UC1" and (depth.width, depth.height) == (image.width, image.height)
            on_disk = read_depth(folder / "depth" / path.name)
            assert np.array_equal(imgmsg_to_numpy(depth), to_millimetres(on_disk))
            assert np.allclose(imgmsg_to_depth_m(depth), on_disk, atol=1e-6)
            assert (info.width, info.height, info.distortion_model) == (64, 48, "plumb_bob")
            assert list(info.d) == [0.0] * 5
            assert list(info.k) == pytest.approx([intr.fx, 0, intr.cx, 0, intr.fy, intr.cy, 0, 0, 1])
            assert list(info.p) == pytest.approx([intr.fx, 0, intr.cx, 0, 0, intr.fy, intr.cy, 0, 0, 0, 1, 0])

        # colour only when asked
        for key in got:
            got[key].clear()
        player.set_parameters([Parameter("publish_depth", value=False)])
        future = play.call_async(Trigger.Request())
        assert wait(future.done) and future.result().success
        assert wait(lambda: playing[-1] is False and len(got["image"]) == len(files))
        assert got["depth"] == [] and got["info"] == []

        # depth without intrinsics cannot become camera_info: refused with the fix
        (folder / "intrinsics.json").unlink()
        player.set_parameters([Parameter("publish_depth", value=True)])
        future = play.call_async(Trigger.Request())
        assert wait(future.done)
        assert not future.result().success and "intrinsics_file" in future.result().message
        executor.shutdown(timeout_sec=5)
        player.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown()
