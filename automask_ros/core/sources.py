"""Frame sources for `automask capture`: an image folder, a video file or a rosbag2 (mcap) topic.

Each yields Frame(rgb, stamp, source): `source` is what the COCO image entry records so that a
mask can be matched to the frame it came from (file path, video frame index, bag timestamp in ns).
Message decoding uses core/image_codec.py, shared with the ROS nodes (no rclpy needed here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .atomic import read_rgb
from .image_codec import decode, to_rgb8

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


@dataclass
class Frame:
    rgb: np.ndarray
    stamp: float | None
    source: str | int | float


def natural_key(text: str):
    """Sort key that puts image_2 before image_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(text))]


class ImageFolder:
    """Every image in a folder (optionally matching a glob), in natural sort order."""

    def __init__(self, folder: str | Path, glob: str | None = None):
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"image folder {folder} does not exist: give --images an existing folder")
        files = [p for p in folder.glob(glob or "*") if p.is_file()]
        if not glob:
            files = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
        self.files = sorted(files, key=lambda p: natural_key(p.name))
        if not self.files:
            raise FileNotFoundError(f"no images in {folder}" + (f" matching {glob!r}" if glob else "")
                                    + ": check the folder and --glob")

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        for path in self.files:
            yield Frame(read_rgb(path), None, str(path))


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


class BagTopic:
    """Image or CompressedImage messages of one topic in a rosbag2 file/folder (rosbags).

    stamp = the message header stamp (the camera's time), source = the bag timestamp in ns.
    """

    def __init__(self, path: str | Path, topic: str):
        from rosbags.highlevel import AnyReader

        self.path, self.topic = Path(path), topic
        if not self.path.exists():
            raise FileNotFoundError(f"bag {self.path} does not exist")
        self._reader_cls = AnyReader
        try:
            with AnyReader([self._bag_path()]) as reader:
                conns = [c for c in reader.connections if c.topic == topic]
                images = sorted({c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES})
                if not conns:
                    raise ValueError(f"topic {topic!r} is not in {self.path}: image topics there are "
                                     f"{', '.join(images) or 'none'}")
                if conns[0].msgtype not in IMAGE_TYPES:
                    raise ValueError(f"topic {topic!r} carries {conns[0].msgtype}, not sensor_msgs Image or "
                                     f"CompressedImage: image topics are {', '.join(images) or 'none'}")
                self.count = sum(c.msgcount for c in conns)
        except ValueError:
            raise
        except Exception as exc:  # rosbags raises its own reader errors
            raise ValueError(f"cannot read bag {self.path}: {exc}".splitlines()[0]) from None

    def _bag_path(self) -> Path:
        return self.path  # rosbags opens a rosbag2 folder or a single .mcap file

    def __len__(self):
        return self.count

    def __iter__(self):
        with self._reader_cls([self._bag_path()]) as reader:
            conns = [c for c in reader.connections if c.topic == self.topic]
            for conn, timestamp, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                header = getattr(msg, "header", None)
                stamp = (header.stamp.sec + header.stamp.nanosec * 1e-9) if header is not None else timestamp * 1e-9
                if header is not None and stamp == 0:
                    stamp = timestamp * 1e-9
                yield Frame(image_msg_to_rgb(msg, conn.msgtype), stamp, int(timestamp))


def open_source(images=None, glob=None, video=None, bag=None, topic=None):
    """Exactly one of images / video / bag (bag needs topic)."""
    given = [x for x in (images, video, bag) if x]
    if len(given) != 1:
        raise ValueError("give exactly one source: --images DIR, --video FILE or --bag FILE --topic T")
    if images:
        return ImageFolder(images, glob)
    if video:
        return VideoFile(video)
    if not topic:
        raise ValueError("--bag needs --topic: the image topic to read")
    return BagTopic(bag, topic)
