"""The managed detector as a ROS user runs it: detect.launch.py through the real
launch.LaunchService with `autostart: false` in the user's params file, then configure and
activate through the node's real ~/change_state service. (autostart: true, the default, is
test_launch_real.py's test_detect_launch, unchanged.)"""

import pytest
import rclpy

pytest.importorskip("launch_ros", reason="upstream launch_ros is absent: scripts/setup_vendor.sh "
                                          "builds it from ../shared/vendor")
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402

from launch_run import Graph, Launch  # noqa: E402
from test_launch_real import stop_cleanly, yaml_params  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def call(node, client, request):
    assert client.wait_for_service(timeout_sec=30), f"no {client.srv_name}"
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=60)
    assert future.done(), f"{client.srv_name} did not answer"
    return future.result()


def test_detect_launch_with_autostart_false_waits_until_configured_and_activated(tmp_path):
    params = yaml_params(tmp_path / "mine.yaml", "detector_node", autostart=False, device="cpu")
    launch = Launch("detect.launch.py", [f"params_file:={params}", "image_topic:=/cam/rgb"], tmp_path)
    rclpy.init()
    node = rclpy.create_node("lifecycle_launch_probe")
    try:
        graph = Graph(node)
        graph.wait_node("detector_node", launch=launch)
        get = node.create_client(GetState, "/detector_node/get_state")
        change = node.create_client(ChangeState, "/detector_node/change_state")
        assert call(node, get, GetState.Request()).current_state.label == "unconfigured"
        assert graph.params("detector_node", ["autostart"]) == {"autostart": False}
        assert "/cam/rgb" not in graph.subscriptions("detector_node", {"/cam/rgb"}, timeout=3)
        for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
            assert call(node, change, ChangeState.Request(transition=Transition(id=tid))).success
        assert call(node, get, GetState.Request()).current_state.label == "active"
        assert "/cam/rgb" in graph.subscriptions("detector_node", {"/cam/rgb"})
        stop_cleanly(launch)
    finally:
        launch.kill_all()
        node.destroy_node()
        rclpy.shutdown()
