"""Real Fast DDS between processes: camera frames over best effort, InstanceArray with masks."""

import pytest

from ros_process import PEERS, last_json, spawn, wait_for_line

pytestmark = pytest.mark.ros


def test_640x480_frames_cross_processes_without_loss():
    """With config/fastdds.xml's 16 MiB SHM segment, best effort at 15 Hz loses nothing."""
    n = 45
    sub = spawn([PEERS / "dds_peer.py", "sub-images", n, 40])
    try:
        wait_for_line(sub, "ready")
        pub = spawn([PEERS / "dds_peer.py", "pub-images", n, 15])
        assert last_json(pub)["published"] == n
        result = last_json(sub)
    finally:
        sub.kill()
    assert result["received"] == n
    assert result["unique"] == n
    assert result["pixels_ok"]


def test_instance_array_with_masks_crosses_processes():
    pub = spawn([PEERS / "dds_peer.py", "pub-instances"])
    try:
        sub = spawn([PEERS / "dds_peer.py", "sub-instances", 20])
        result = last_json(sub)
    finally:
        pub.kill()
    assert result["received"] == 1
    assert result["model_id"] == "test-model"
    assert result["labels"] == ["mug", "bottle"]
    assert result["boxes"] == [[10, 20, 30, 40], [100, 50, 5, 7]]
    assert result["masks_ok"]
