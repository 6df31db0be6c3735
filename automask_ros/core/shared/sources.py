"""Frame sources for `automask capture`: an image folder, a video file or a rosbag2 (mcap) topic.

Each yields Frame(rgb, stamp, source): `source` is what the COCO image entry records so that a
mask can be matched to the frame it came from (file path, video frame index, bag timestamp in ns).
Folders and bags can also give aligned depth (Frame.depth in metres, or Frame.depth_problem saying
why a frame has none): a folder by file stem (core/depth.find_depth_file), a bag by pairing the
depth topic's stamps with the colour stamps (core/pairing.StampPairer).
Message decoding uses core/shared/image_codec.py, shared with the ROS nodes (no rclpy needed here).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import read_rgb
from .camera import Intrinsics
from .depth import COLOUR_PREFIXES, DepthError, decode_depth, check_encoding, find_depth_file, read_depth
from .image_codec import decode, to_rgb8
from .pairing import StampPairer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
COMPANION_WORDS = ("depth", "mask", "segmask", "loc", "label")  # files that describe another frame


@dataclass
class Frame:
    rgb: np.ndarray
    stamp: float | None
    source: str | int | float
    depth: np.ndarray | None = None   # aligned depth in metres (0 = no reading), when given
    depth_problem: str = ""           # why a source with depth has none for this frame


def companion_stems(stem: str) -> set[str]:
    """Stems of the frame that a file named `stem` would belong to (`f_depth` -> `f`, `segmask_3`
    -> `color_3`); empty for a name that is no companion."""
    low = stem.lower()
    out = {stem[: -len(w) - 1] for w in COMPANION_WORDS if low.endswith(f"_{w}") and len(low) > len(w) + 1}
    for w in COMPANION_WORDS:
        if low.startswith(f"{w}_"):
            out |= {p + stem[len(w) + 1:] for p in COLOUR_PREFIXES}
    return out


def natural_key(text: str):
    """Sort key that puts image_2 before image_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


class ImageFolder:
    """Every image in a folder (optionally matching a glob), in natural sort order. Files that
    are another frame's companion (its depth, mask or crop file, as UW RGB-D and Dex-Net store
    them beside the frame) are not frames. depth_dir: read each frame's depth by stem."""

    def __init__(self, folder: str | Path, glob: str | None = None, depth_dir: str | Path | None = None,
                 depth_scale: float | None = None):
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} does not exist: give --images an existing folder")
        if depth_dir is not None and not Path(depth_dir).is_dir():
            raise FileNotFoundError(f"depth folder {depth_dir} does not exist: give --depth an existing folder")
        self.depth_dir, self.depth_scale = (Path(depth_dir) if depth_dir else None), depth_scale
        files = [p for p in folder.glob(glob or "*") if p.is_file()]
        if not glob:
            files = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        stems = {p.stem for p in files}
        self.companions = [p for p in files if companion_stems(p.stem) & stems]
        files = [p for p in files if p not in self.companions]
        self.files = sorted(files, key=lambda p: natural_key(p.name))
        if not self.files:
            raise FileNotFoundError(f"no images in {folder}" + (f" matching {glob!r}" if glob else "")
                                    + ": check the folder and --glob")

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        for path in self.files:
            frame = Frame(read_rgb(path), None, str(path))
            if self.depth_dir is not None:
                depth_file = find_depth_file(self.depth_dir, path.stem, exclude=path)
                if depth_file is None:
                    frame.depth_problem = f"no depth file for {path.name} in {self.depth_dir} (same stem, or <stem>_depth)"
                else:
                    try:
                        frame.depth = read_depth(depth_file, self.depth_scale)
                    except DepthError as exc:
                        frame.depth_problem = str(exc)
            yield frame


class VideoFile:
    """Frames of a video file (OpenCV); stamp = frame index / fps, source = frame index."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video {self.path} does not exist")
        cap = cv2.VideoCapture(str(self.path))
        ok = cap.isOpened()
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        cap.release()
        if not ok:
            raise ValueError(f"cannot open video {self.path}: not a video OpenCV can decode")

    def __len__(self):
        return max(0, self.count)

    def __iter__(self):
        cap = cv2.VideoCapture(str(self.path))
        index = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                stamp = index / self.fps if self.fps > 0 else None
                yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), stamp, index)
                index += 1
        finally:
            cap.release()
        if index == 0:
            raise ValueError(f"video {self.path} has no decodable frames")


def image_msg_to_rgb(msg, msgtype: str) -> np.ndarray:
    """sensor_msgs Image or CompressedImage (deserialised by rosbags or rclpy) -> HxWx3 RGB."""
    if msgtype.endswith("CompressedImage"):
        buf = np.frombuffer(bytes(msg.data), np.uint8)
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
        if bgr is None:
            raise ValueError(f"CompressedImage with format {msg.format!r} could not be decoded "
                             "(empty or not jpeg/png)")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    pixels = decode(msg.encoding, int(msg.height), int(msg.width), int(msg.step), bool(msg.is_bigendian),
                    np.asarray(msg.data, np.uint8) if not isinstance(msg.data, (bytes, bytearray)) else msg.data)
    return to_rgb8(pixels, msg.encoding)


def _stamp(msg, timestamp_ns: int) -> float:
    """A message's header stamp in seconds (the camera's time); the bag time when it has none."""
    header = getattr(msg, "header", None)
    stamp = (header.stamp.sec + header.stamp.nanosec * 1e-9) if header is not None else 0.0
    return stamp or timestamp_ns * 1e-9


def _depth_msg_to_metres(msg, scale: float | None) -> np.ndarray:
    """A depth Image message (rosbags) -> metres; DepthError / ImageCodecError when it is not one."""
    check_encoding(msg.encoding)
    pixels = decode(msg.encoding, int(msg.height), int(msg.width), int(msg.step), bool(msg.is_bigendian),
                    np.asarray(msg.data, np.uint8) if not isinstance(msg.data, (bytes, bytearray)) else msg.data)
    return decode_depth(pixels, msg.encoding, scale)


class BagTopic:
    """Image or CompressedImage messages of one topic in a rosbag2 file/folder (rosbags).

    stamp = the message header stamp (the camera's time), source = the bag timestamp in ns.
    depth_topic: each colour frame gets the depth frame nearest in stamp within tolerance_s;
    camera_info_topic: the intrinsics (the first CameraInfo in the bag) as self.intrinsics.
    """

    def __init__(self, path: str | Path, topic: str, depth_topic: str | None = None,
                 camera_info_topic: str | None = None, tolerance_s: float = 0.05, depth_scale: float | None = None):
        from rosbags.highlevel import AnyReader

        self.path, self.topic, self.depth_topic = Path(path), topic, depth_topic
        self.tolerance_s, self.depth_scale = tolerance_s, depth_scale
        self.intrinsics: Intrinsics | None = None
        if not self.path.exists():
            raise FileNotFoundError(f"bag {self.path} does not exist")
        self._reader_cls = AnyReader
        try:
            with AnyReader([self._bag_path()]) as reader:
                images = sorted({c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES})
                self.count = sum(c.msgcount for c in self._connections(reader, topic, IMAGE_TYPES, images))
                if depth_topic:
                    self._connections(reader, depth_topic, IMAGE_TYPES[:1], images)
                if camera_info_topic:
                    self.intrinsics = self._first_camera_info(reader, camera_info_topic)
        except ValueError:
            raise
        except Exception as exc:  # rosbags raises its own reader errors
            raise ValueError(f"cannot read bag {self.path}: {exc}".splitlines()[0]) from None

    def _connections(self, reader, topic: str, types: tuple, images: list) -> list:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            raise ValueError(f"topic {topic!r} is not in {self.path}: image topics there are "
                             f"{', '.join(images) or 'none'}")
        if conns[0].msgtype not in types:
            raise ValueError(f"topic {topic!r} carries {conns[0].msgtype}, not {' or '.join(types)}: image "
                             f"topics are {', '.join(images) or 'none'}")
        return conns

    def _first_camera_info(self, reader, topic: str) -> Intrinsics:
        infos = sorted({c.topic for c in reader.connections if c.msgtype == "sensor_msgs/msg/CameraInfo"})
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns or conns[0].msgtype != "sensor_msgs/msg/CameraInfo":
            raise ValueError(f"topic {topic!r} is not a sensor_msgs/CameraInfo topic in {self.path}: "
                             f"CameraInfo topics there are {', '.join(infos) or 'none'}")
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            return Intrinsics.from_k(list(msg.k), int(msg.width), int(msg.height))
        raise ValueError(f"topic {topic!r} in {self.path} has no messages: no intrinsics to read")

    def _bag_path(self) -> Path:
        return self.path  # rosbags opens a rosbag2 folder or a single .mcap file

    def __len__(self):
        return self.count

    def __iter__(self):
        with self._reader_cls([self._bag_path()]) as reader:
            conns = [c for c in reader.connections if c.topic in (self.topic, self.depth_topic)]
            pairer = StampPairer(self.tolerance_s, keep=32)
            pending: deque = deque()  # colour frames that a later depth frame may still match better
            newest_depth = float("-inf")
            for conn, timestamp, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                stamp = _stamp(msg, timestamp)
                if conn.topic == self.depth_topic:
                    pairer.add(stamp, msg)
                    newest_depth = max(newest_depth, stamp)
                elif self.depth_topic is None:
                    yield Frame(image_msg_to_rgb(msg, conn.msgtype), stamp, int(timestamp))
                    continue
                else:
                    pending.append((stamp, timestamp, msg, conn.msgtype))
                while pending and (pending[0][0] + self.tolerance_s < newest_depth or len(pending) > 16):
                    yield self._paired(pairer, *pending.popleft())
            while pending:
                yield self._paired(pairer, *pending.popleft())

    def _paired(self, pairer: StampPairer, stamp: float, timestamp: int, msg, msgtype: str) -> Frame:
        frame = Frame(image_msg_to_rgb(msg, msgtype), stamp, int(timestamp))
        depth_msg = pairer.match(stamp)
        if depth_msg is None:
            gap = pairer.nearest_gap(stamp)
            frame.depth_problem = (f"no depth frame on {self.depth_topic} within {self.tolerance_s:g} s of the "
                                   f"colour frame" + ("" if gap is None else f" (nearest {gap:.3f} s away)")
                                   + ": check the stamps or raise --sync-tolerance")
            return frame
        try:
            frame.depth = _depth_msg_to_metres(depth_msg, self.depth_scale)
        except ValueError as exc:  # DepthError, ImageCodecError
            frame.depth_problem = str(exc)
        return frame


def open_source(images=None, glob=None, video=None, bag=None, topic=None, depth=None, depth_topic=None,
                camera_info_topic=None, sync_tolerance_s=0.05, depth_scale=None):
    """Exactly one of images / video / bag (bag needs topic). depth (a folder) goes with images,
    depth_topic and camera_info_topic with bag."""
    given = [x for x in (images, video, bag) if x]
    if len(given) != 1:
        raise ValueError("give exactly one source: --images DIR, --video FILE or --bag FILE --topic T")
    if depth and not images:
        raise ValueError("--depth DIR goes with --images; for a bag give --depth-topic")
    if (depth_topic or camera_info_topic) and not bag:
        raise ValueError("--depth-topic and --camera-info-topic go with --bag")
    if images:
        return ImageFolder(images, glob, depth, depth_scale)
    if video:
        return VideoFile(video)
    if not topic:
        raise ValueError("--bag needs --topic: the image topic to read")
    return BagTopic(bag, topic, depth_topic, camera_info_topic, sync_tolerance_s, depth_scale)
