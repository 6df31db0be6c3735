"""Capture faults (issue 7), on a real capture node process over DDS with real files:

- SIGKILL mid-sweep: the dataset on disk validates and holds every frame the node reported as
  committed before the kill.
- Writes fail mid-sweep (the node's file-size limit is lowered under it with prlimit, which
  stops root too; chmod does not): a clear error, state failed, earlier frames intact, and the
  node keeps serving.
- The disk fills mid-sweep (a small tmpfs, where mounting is allowed): the same.

The silent camera (timeout and a clear status) is test_capture_node.py::
test_silent_camera_fails_the_sweep_with_a_clear_status; it is not repeated here.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
import uuid

import pytest
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from automask.msg import SweepStatus
from automask.srv import StartSweep
from automask_ros.core.capture.dataset import load_sweep, validate_sweep
from automask_ros.core.demo.render import render_sweep
from automask_ros.ros.image_conversion import rgb_to_imgmsg
from capture_client import call, wait_status
from ros_process import start_node, stop

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FRAMES = list(render_sweep("mug", n_frames=12, size=(320, 240), seed=5, empty_frames=1))


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.shutdown()


@pytest.fixture
def capture(ros, tmp_path):
    """A fresh capture node process (each test kills or cripples its own)."""
    name = f"fault_capture_{uuid.uuid4().hex[:6]}"
    proc = start_node("capture_node", name, [
        "-r", f"image:=/{name}/camera", "-r", f"turntable_angle:=/{name}/angle",
        "-p", f"dataset_root:={tmp_path / 'data'}", "-p", "step_deg:=30.0", "-p", "status_rate_hz:=10.0",
        "-p", "camera_timeout_s:=120.0", "-p", "seg_threads:=1", "-p", "negatives_before:=1"],
        tmp_path / "node.log")
    node = rclpy.create_node(f"client_{name}")
    statuses: list[SweepStatus] = []
    node.create_subscription(SweepStatus, f"/{name}/status", statuses.append, 10)
    ctx = {"node": node, "proc": proc, "tmp": tmp_path, "statuses": statuses,
           "start": node.create_client(StartSweep, f"/{name}/start_sweep"),
           "stop": node.create_client(Trigger, f"/{name}/stop_sweep"),
           "camera": node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data),
           "angle": node.create_publisher(Float64, f"/{name}/angle", 10)}
    assert ctx["start"].wait_for_service(timeout_sec=60), "capture node did not come up"
    yield ctx
    node.destroy_node()
    if proc.poll() is None:
        stop(proc)


def publish(ctx, i):
    frame = FRAMES[i]
    msg = rgb_to_imgmsg(frame.rgb)
    msg.header.stamp.sec = 1000 + i
    ctx["angle"].publish(Float64(data=float(frame.angle_deg or 0.0)))
    rclpy.spin_once(ctx["node"], timeout_sec=0.05)
    ctx["camera"].publish(msg)


def feed(ctx, frames):
    """Publish frames one at a time, each once the node has taken the previous one."""
    for i in frames:
        publish(ctx, i)
        wait_status(ctx, lambda s, n=i + 1: s.frames_seen >= n or s.state != "recording", 60)
    return wait_status(ctx, lambda s: s.frames_seen >= frames[-1] + 1 or s.state != "recording", 5)


def committed(path) -> int:
    """Frames on disk according to annotations.json (COCO image entries)."""
    return len(json.loads((path / "annotations.json").read_text())["images"])


def test_sigkill_mid_sweep_leaves_a_valid_dataset_with_every_committed_frame(capture):
    r = call(capture, "start", StartSweep.Request(label="mug"))
    assert r.success, r.message
    status = feed(capture, list(range(6)))
    assert status.state == "recording" and status.frames_kept >= 2, status
    reported = status.frames_kept + status.frames_negative
    for i in range(6, 9):  # more frames in flight: the kill lands while one is being processed
        publish(capture, i)
        time.sleep(0.15)
    capture["proc"].send_signal(signal.SIGKILL)
    assert capture["proc"].wait(10) == -signal.SIGKILL

    from pathlib import Path
    path = Path(r.sweep_path)
    assert validate_sweep(path) == []
    sweep = load_sweep(path)
    assert len(sweep.images) >= reported > 0
    counts = sweep.meta["counts"]
    assert counts["kept"] + counts["negatives"] == len(sweep.images)  # sweep.json and COCO agree
    assert sweep.meta["state"] == "recording"  # killed: nobody could close it, and that is visible
    for image in sweep.images:
        assert sweep.read_image(image).shape == (240, 320, 3)
        assert (image.get("negative") or sweep.mask(image).any())


def test_failing_writes_fail_the_sweep_clearly_and_keep_earlier_frames(capture):
    r = call(capture, "start", StartSweep.Request(label="mug"))
    assert r.success, r.message
    from pathlib import Path
    path = Path(r.sweep_path)
    status = feed(capture, list(range(4)))
    before = committed(path)
    assert status.state == "recording" and before >= 2 and before == status.frames_kept + status.frames_negative
    json_size = max((path / n).stat().st_size for n in ("annotations.json", "sweep.json"))
    png_size = min(p.stat().st_size for p in (path / "images").glob("*.png"))
    limit = 4 * json_size + 8192  # the JSON files still fit; no camera frame does
    assert limit < png_size, f"test premise: frames ({png_size} B) must be larger than the limit ({limit} B)"
    pid = capture["proc"].pid
    hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)[1]
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))  # the soft limit is the one enforced
    try:
        for i in range(4, len(FRAMES)):
            publish(capture, i)
            last = wait_status(capture, lambda s, n=i + 1: s.frames_seen >= n or s.state != "recording", 60)
            if last.state != "recording":
                break
        failed = wait_status(capture, lambda s: s.state == "failed", 10)
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (hard, hard))  # raising up to hard needs no privilege
    assert "cannot write frame" in failed.message and "earlier frames are intact" in failed.message, failed.message
    assert capture["proc"].poll() is None, "the node must survive a failing disk"
    assert validate_sweep(path) == []
    sweep = load_sweep(path)
    assert len(sweep.images) == before  # nothing half-written was committed
    assert sweep.meta["state"] == "failed" and "cannot write frame" in sweep.meta["message"]
    assert not [p for p in (path / "images").iterdir() if not p.name.startswith(".") and
                p.name not in {i["file_name"].split("/")[-1] for i in sweep.images}]
    # the node keeps serving: a new sweep records again once the disk is writable
    again = call(capture, "start", StartSweep.Request(label="mug"))
    assert again.success, again.message
    capture["statuses"].clear()
    status = feed(capture, [0, 1, 2])
    assert status.state == "recording" and status.sweep_path == again.sweep_path and status.frames_seen >= 3
    assert call(capture, "stop", Trigger.Request()).success


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root with CAP_SYS_ADMIN, as on this project's machines and containers)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs CAP_SYS_ADMIN); the prlimit test covers failing writes")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_fails_the_sweep_clearly_and_the_node_records_again_elsewhere(capture, small_disk):
    r = call(capture, "start", StartSweep.Request(label="mug", dataset_root=str(small_disk)))
    assert r.success, r.message
    from pathlib import Path
    path = Path(r.sweep_path)
    status = feed(capture, list(range(3)))
    before = committed(path)
    assert status.state == "recording" and before >= 2
    free = os.statvfs(small_disk)
    json_size = sum((path / n).stat().st_size for n in ("annotations.json", "sweep.json"))
    ballast = free.f_bavail * free.f_frsize - 2 * json_size - 16384  # leave room for the JSON only
    (small_disk / "ballast").write_bytes(b"\0" * max(0, ballast))
    for i in range(3, len(FRAMES)):
        publish(capture, i)
        last = wait_status(capture, lambda s, n=i + 1: s.frames_seen >= n or s.state != "recording", 60)
        if last.state != "recording":
            break
    failed = wait_status(capture, lambda s: s.state == "failed", 10)
    assert "cannot write" in failed.message and "free disk space" in failed.message, failed.message
    assert capture["proc"].poll() is None, "the node must survive a full disk"
    assert validate_sweep(path) == []  # atomic writes: the JSON on disk is a complete older version
    sweep = load_sweep(path)
    assert len(sweep.images) >= before
    for image in sweep.images:
        assert sweep.read_image(image).shape == (240, 320, 3)
    # the frame worker survived: a sweep on another disk records frames again
    again = call(capture, "start", StartSweep.Request(label="mug", dataset_root=str(small_disk.parent / "other")))
    assert again.success, again.message
    capture["statuses"].clear()
    status = feed(capture, [0, 1, 2])
    assert status.sweep_path == again.sweep_path and status.frames_seen >= 3 and status.frames_kept >= 1
    assert call(capture, "stop", Trigger.Request()).success
