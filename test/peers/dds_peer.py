"""A separate process that talks to the test over real DDS (Fast DDS), so tests cross processes.

    python dds_peer.py sub-images N TIMEOUT     print JSON {received, checksum_ok, stamps}
    python dds_peer.py pub-images N RATE_HZ     wait for a subscriber, publish N 640x480 rgb8 frames
    python dds_peer.py sub-instances TIMEOUT    print JSON of the first InstanceArray received
    python dds_peer.py pub-instances            publish one InstanceArray with two masks
"""

import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy, DurabilityPolicy
from sensor_msgs.msg import Image

from automask.msg import Instance, InstanceArray
from automask_ros.ros.image_conversion import imgmsg_to_rgb, numpy_to_imgmsg, rgb_to_imgmsg

IMAGE_TOPIC = "/automask_test/image"
INSTANCE_TOPIC = "/automask_test/instances"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def frame(i: int) -> np.ndarray:
    """A 640x480 frame whose content encodes its index, so the receiver can check every pixel."""
    rng = np.random.default_rng(i)
    return rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)


def sub_images(n: int, timeout: float) -> dict:
    node = rclpy.create_node("dds_peer_sub_images")
    got, ok = [], []

    def on_image(msg):
        index = msg.header.frame_id
        got.append(int(index))
        ok.append(bool(np.array_equal(imgmsg_to_rgb(msg), frame(int(index)))))

    node.create_subscription(Image, IMAGE_TOPIC, on_image, qos_profile_sensor_data)
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    return {"received": len(got), "unique": len(set(got)), "pixels_ok": all(ok) and bool(ok)}


def pub_images(n: int, rate: float) -> dict:
    node = rclpy.create_node("dds_peer_pub_images")
    pub = node.create_publisher(Image, IMAGE_TOPIC, qos_profile_sensor_data)
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(0.5)  # let discovery settle on both sides
    for i in range(n):
        msg = rgb_to_imgmsg(frame(i))
        msg.header.frame_id = str(i)
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        time.sleep(1.0 / rate)
    time.sleep(1.0)
    return {"published": n}


def instance_array() -> InstanceArray:
    out = InstanceArray(model_id="test-model")
    out.header.frame_id = "camera"
    for k, (label, x, y, w, h) in enumerate([("mug", 10, 20, 30, 40), ("bottle", 100, 50, 5, 7)]):
        crop = np.zeros((h, w), np.uint8)
        crop[h // 4:, : w // 2 + 1] = 255
        inst = Instance(label=label, class_id=k + 1, score=0.9 - 0.1 * k)
        inst.box.x_offset, inst.box.y_offset, inst.box.width, inst.box.height = x, y, w, h
        inst.mask = numpy_to_imgmsg(crop, "mono8")
        out.instances.append(inst)
    return out


def pub_instances() -> dict:
    node = rclpy.create_node("dds_peer_pub_instances")
    pub = node.create_publisher(InstanceArray, INSTANCE_TOPIC, LATCHED)
    pub.publish(instance_array())
    end = time.monotonic() + 10
    while time.monotonic() < end:  # stay alive so a late subscriber still gets the latched sample
        rclpy.spin_once(node, timeout_sec=0.1)
    return {"published": 1}


def sub_instances(timeout: float) -> dict:
    node = rclpy.create_node("dds_peer_sub_instances")
    got = []
    node.create_subscription(InstanceArray, INSTANCE_TOPIC, got.append, LATCHED)
    print("ready", flush=True)
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    if not got:
        return {"received": 0}
    msg = got[0]
    expected = instance_array()
    masks_ok = all(
        np.array_equal(np.frombuffer(bytes(a.mask.data), np.uint8), np.frombuffer(bytes(b.mask.data), np.uint8))
        for a, b in zip(msg.instances, expected.instances))
    return {"received": 1, "model_id": msg.model_id, "labels": [i.label for i in msg.instances],
            "boxes": [[i.box.x_offset, i.box.y_offset, i.box.width, i.box.height] for i in msg.instances],
            "masks_ok": masks_ok and len(msg.instances) == 2}


def main() -> int:
    rclpy.init()
    try:
        cmd, args = sys.argv[1], sys.argv[2:]
        if cmd == "sub-images":
            result = sub_images(int(args[0]), float(args[1]))
        elif cmd == "pub-images":
            result = pub_images(int(args[0]), float(args[1]))
        elif cmd == "sub-instances":
            result = sub_instances(float(args[0]))
        elif cmd == "pub-instances":
            result = pub_instances()
        else:
            raise SystemExit(f"unknown command {cmd}")
        print(json.dumps(result), flush=True)
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
