"""Detector fault (issue 7): a model bundle that is being replaced when the detector node loads it.

A trainer re-exporting into the same folder, or a copy in progress, leaves for a moment a
half-written model.pt, or a new model.json beside the old weights. Announced at that moment,
the bundle must not be served: the node keeps serving the old model without a gap, never
publishes instances of a mixed model, and loads the bundle once it is complete.
(test_detector_node.py covers a bundle whose model.json is not JSON at all.)
"""

from __future__ import annotations

import shutil
import time
import uuid

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from automask.msg import InstanceArray, ModelInfo
from automask_ros.core.demo.render import render_sweep
from automask_ros.ros.image_conversion import rgb_to_imgmsg
from ros_process import start_node, stop
from _util import untrained_bundle  # benchmarks/, on the path from conftest

pytestmark = [pytest.mark.ros, pytest.mark.slow]
ARCH = "maskrcnn_mobilenet_v3_fpn"
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
LABELS = {"model-a": {"mug", "box"}, "model-b": {"bottle", "cup", "can"}}


def make_bundle(path, model_id):
    return untrained_bundle(path, ARCH, sorted(LABELS[model_id]), model_id=model_id, score=0.5, force=False)


def test_a_bundle_replaced_while_loading_never_replaces_the_serving_model(tmp_path):
    a = make_bundle(tmp_path / "a", "model-a")
    b = make_bundle(tmp_path / "b", "model-b")
    target = tmp_path / "target"  # the folder being overwritten
    target.mkdir()
    name = f"fault_detector_{uuid.uuid4().hex[:6]}"
    log = tmp_path / "node.log"
    proc = start_node("detector_node", name, [
        "-r", f"image:=/{name}/camera", "-p", f"model_path:={a}", "-p", "score_threshold:=0.0",
        "-p", "max_instances:=3", "-p", f"model_topic:=/{name}/model"], log)
    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    got: list[tuple[float, InstanceArray]] = []
    node.create_subscription(InstanceArray, f"/{name}/instances", lambda m: got.append((time.monotonic(), m)), 10)
    camera = node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data)
    announce = node.create_publisher(ModelInfo, f"/{name}/model", LATCHED)
    frame = rgb_to_imgmsg(next(render_sweep("mug", n_frames=2, size=(160, 120), seed=1, empty_frames=0)).rgb)
    sent = [0]

    def run_for(seconds, until=lambda: False):
        """Feed frames at 5 Hz while spinning; stop early once until() holds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sent[0] += 1
            frame.header.stamp.sec = sent[0]
            camera.publish(frame)
            t = time.monotonic() + 0.2
            while time.monotonic() < t:
                rclpy.spin_once(node, timeout_sec=0.02)
            if until():
                return True
            assert proc.poll() is None, f"detector node died:\n{log.read_text()[-2000:]}"
        return False

    def served(since):
        return [m.model_id for t, m in got if t >= since]

    try:
        assert run_for(120, lambda: "model-a" in served(0)), f"model A never served:\n{log.read_text()[-2000:]}"
        pt_b = (b / "model.pt").read_bytes()

        # 1. a copy caught halfway: model.json of B, model.pt cut at half its size
        shutil.copy(b / "model.json", target / "model.json")
        (target / "model.pt").write_bytes(pt_b[: len(pt_b) // 2])
        announce.publish(ModelInfo(model_path=str(target), model_id="model-b", labels=sorted(LABELS["model-b"])))
        t1 = time.monotonic()
        assert run_for(60, lambda: "cannot load model" in log.read_text()), "the broken load was not reported"
        assert run_for(30, lambda: len(served(time.monotonic() - 1.0)) >= 2)
        assert set(served(t1)) == {"model-a"}, "a half-written bundle must not be served"

        # 2. replaced file by file: the new model.json already there, the old (A) weights not yet
        shutil.copy(a / "model.pt", target / "model.pt")
        announce.publish(ModelInfo(model_path=str(target), model_id="model-b", labels=sorted(LABELS["model-b"])))
        t2 = time.monotonic()
        run_for(6)
        assert set(served(t2)) == {"model-a"} and len(served(t2)) >= 3, served(t2)

        # 3. the write completes: the next announcement swaps the model in
        (target / "model.pt").write_bytes(pt_b)
        announce.publish(ModelInfo(model_path=str(target), model_id="model-b", labels=sorted(LABELS["model-b"])))
        assert run_for(60, lambda: "model-b" in served(t2)), f"B never loaded:\n{log.read_text()[-2000:]}"
    finally:
        node.destroy_node()
        rclpy.shutdown()
        stop(proc)

    # throughout: answers never stopped for long, and every answer came from one whole model
    times = [t for t, _ in got]
    assert max(t2 - t1 for t1, t2 in zip(times, times[1:])) < 10.0, "serving stalled during the reloads"
    for _, msg in got:
        assert msg.model_id in LABELS
        assert {inst.label for inst in msg.instances} <= LABELS[msg.model_id], (msg.model_id, msg.instances)
    assert served(0)[-1] == "model-b"
