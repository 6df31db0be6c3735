"""Player node: publishes an image folder as a camera topic, with turntable angles and aligned
depth when known.

Stands in for an RGB-D camera (and turntable encoder) in the demo and in tests: frames go out on
`image` (sensor-data QoS) at `rate_hz`. With an angles.json, each frame's angle goes out on
`turntable_angle` half a period before the frame, so a subscriber knows it when the frame comes.
When the folder has depth (depth/ and intrinsics.json beside images/, as `automask render` writes
them, or `depth_dir` / `intrinsics_file`), each frame's depth goes out on `depth` (16UC1, mm) just
before the colour, and the intrinsics on `camera_info` half a period earlier, all with the colour
image's header (frame_id, and the stamp of the moment the frame was taken from the folder).
~/play restarts playback with the current parameters, ~/stop halts it, and ~/playing
(transient-local Bool) says whether frames are going out. The file logic is core/demo/playback.py.
"""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Bool, Float64
from std_srvs.srv import Trigger

from automask_ros.core.shared.depth import DepthError
from automask_ros.core.demo.playback import Playlist, find_depth_source
from automask_ros.ros.camera_info import camera_info_msg
from automask_ros.ros.image_conversion import depth_to_imgmsg, rgb_to_imgmsg
from automask_ros.ros.params import Param, declare, values
from automask_ros.ros.spin import spin_node

PARAMS = [
    Param("images", "", "folder of frames to publish, in natural order (empty = wait for ~/play)"),
    Param("glob", "", "only files matching this pattern, e.g. 'obj10__*.png' (empty = every image)"),
    Param("rate_hz", 2.0, "frames per second", 0.01, 1000.0),
    Param("loop", False, "start again after the last frame"),
    Param("angles_file", "", "angles.json (`automask render` format): also publish turntable_angle"),
    Param("frame_id", "camera", "header.frame_id of the published images"),
    Param("publish_depth", True, "publish depth and camera_info when the folder has depth"),
    Param("depth_dir", "", "folder of depth files with the images' stems (empty = depth/ beside the images "
          "folder, when there is one)"),
    Param("intrinsics_file", "", "intrinsics for camera_info (empty = intrinsics.json beside the images folder)"),
    Param("wait_for_subscribers", 1, "hold the first frame until this many subscribers listen on image",
          0, 1000),
    Param("autostart", True, "start playing at start-up when images is set (else wait for ~/play)"),
]
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class PlayerNode(Node):
    def __init__(self, **kwargs):
        super().__init__("player_node", **kwargs)
        declare(self, PARAMS)
        self.p = values(self, PARAMS)
        self.playlist: Playlist | None = None
        self.index = 0
        self.published = 0
        self._pending = None  # (rgb, angle) whose angle is out and whose image goes next
        self.pub_image = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self.pub_depth = self.create_publisher(Image, "depth", qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, "camera_info", qos_profile_sensor_data)
        self.pub_angle = self.create_publisher(Float64, "turntable_angle", 10)
        self.pub_playing = self.create_publisher(Bool, "~/playing", LATCHED)
        self.create_service(Trigger, "~/play", self._play)
        self.create_service(Trigger, "~/stop", self._stop)
        self.add_post_set_parameters_callback(self._on_params_set)
        self.timer = self.create_timer(0.5 / self.p["rate_hz"], self._tick)
        self._set_playing(False)
        if self.p["images"] and self.p["autostart"]:
            self.start()  # a bad folder fails here, at start-up, with one clear line
        else:
            self.get_logger().info("ready: set `images` and call ~/play")

    def start(self) -> str:
        """(Re)load the playlist from the parameters and play it from the first frame."""
        if not self.p["images"]:
            raise ValueError("no images folder: set the `images` parameter first")
        depth_dir, intrinsics = (find_depth_source(self.p["images"], self.p["depth_dir"], self.p["intrinsics_file"])
                                 if self.p["publish_depth"] else (None, None))
        self.playlist = Playlist(self.p["images"], self.p["glob"], self.p["angles_file"] or None, depth_dir,
                                 intrinsics)
        self.index, self._pending = 0, None
        self._set_playing(True)
        message = f"playing {len(self.playlist)} frames of {self.p['images']} at {self.p['rate_hz']:g} Hz"
        if depth_dir is not None:
            message += f", depth from {depth_dir}"
        self.get_logger().info(message)
        return message

    @property
    def playing(self) -> bool:
        return self.playlist is not None

    def _set_playing(self, playing: bool) -> None:
        if not playing:
            self.playlist = None
        self.pub_playing.publish(Bool(data=playing))

    def _play(self, request, response):
        try:
            response.message, response.success = self.start(), True
        except (ValueError, FileNotFoundError, OSError) as exc:
            response.message, response.success = str(exc), False
            self.get_logger().error(f"play refused: {exc}")
        return response

    def _stop(self, request, response):
        response.success = self.playing
        response.message = f"stopped after {self.index} frames" if self.playing else "not playing"
        self._set_playing(False)
        return response

    def _on_params_set(self, params) -> None:
        self.p = values(self, PARAMS)
        if any(p.name == "rate_hz" for p in params):
            self.timer.cancel()
            self.destroy_timer(self.timer)
            self.timer = self.create_timer(0.5 / self.p["rate_hz"], self._tick)

    def _tick(self) -> None:
        playlist = self.playlist
        if playlist is None:
            return
        if self.pub_image.get_subscription_count() < self.p["wait_for_subscribers"]:
            self.get_logger().info("waiting for subscribers on image", throttle_duration_sec=5.0)
            return
        if self.index >= len(playlist):
            if not self.p["loop"]:
                self.get_logger().info(f"done: {len(playlist)} frames published")
                self._set_playing(False)
                return
            self.index = 0
        if self._pending is None:  # first half period: the frame is taken; its angle and camera_info go out
            rgb, angle = playlist.frame(self.index)
            msg = rgb_to_imgmsg(rgb)
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = self.p["frame_id"]
            self._pending = (msg, self._read_depth(playlist))
            if angle is not None:
                self.pub_angle.publish(Float64(data=angle))
            if playlist.intrinsics is not None:  # ahead, so that the intrinsics are known when depth comes
                self.pub_info.publish(camera_info_msg(playlist.intrinsics, msg.header))
            return
        (msg, depth), self._pending = self._pending, None
        if depth is not None:  # depth first, so that a subscriber can pair it when the colour comes
            self.pub_depth.publish(depth_to_imgmsg(depth, msg.header))
        self.pub_image.publish(msg)
        self.index += 1
        self.published += 1


    def _read_depth(self, playlist: Playlist):
        """The frame's depth, or None (logged) when its file is missing or unreadable."""
        try:
            depth = playlist.depth(self.index)
        except DepthError as exc:
            self.get_logger().error(f"frame {self.index} goes out without depth: {exc}")
            return None
        if depth is None and playlist.depth_dir is not None:
            self.get_logger().warning(f"no depth file for {playlist.files[self.index].name} in "
                                      f"{playlist.depth_dir}: colour only", throttle_duration_sec=10.0)
        return depth


def main(args=None) -> int:
    return spin_node(PlayerNode, args)
