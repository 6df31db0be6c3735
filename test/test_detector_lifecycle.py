"""The managed detector over real DDS: transitions driven through the node's real ~/change_state
service with autostart:=false.

unconfigured and inactive publish nothing and do not even subscribe to the camera; configure
loads the model (a bad bundle fails it with the reason in the log, the node stays up); activate
publishes InstanceArrays and hot-reloads; a model announced while inactive loads at the next
activate; cleanup unloads. autostart=true (the default) is covered unchanged by
test_detector_node.py, test_detector_3d.py and test_launch_real.py.

No GPU here: the nodes run on the CPU, so "deactivate frees GPU memory" is checked through the
model's placement in test_infer.py (Detector.to_host, with CUDA's cache call recorded there).
"""

import time
import uuid

import pytest
import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from automask.msg import InstanceArray, ModelInfo
from automask_ros.ros.image_conversion import rgb_to_imgmsg
from ros_process import start_node, stop
from test_detector_node import FRAME, LATCHED, three_bundles

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    a, b, broken = three_bundles(tmp)
    name = f"managed_{uuid.uuid4().hex[:6]}"
    proc = start_node("detector_node", name, [
        "-r", f"image:=/{name}/camera", "-p", "autostart:=false", "-p", f"model_path:={a}",
        "-p", "score_threshold:=0.0", "-p", "max_instances:=3", "-p", f"model_topic:=/{name}/model",
        "-p", "device:=cpu"], tmp / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    got = {"instances": [], "info": []}
    node.create_subscription(InstanceArray, f"/{name}/instances", got["instances"].append, 10)
    node.create_subscription(ModelInfo, f"/{name}/model_info", got["info"].append, LATCHED)
    ctx = {"node": node, "got": got, "name": name, "a": a, "b": b, "broken": broken, "tmp": tmp, "proc": proc,
           "camera": node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data),
           "announce": node.create_publisher(ModelInfo, f"/{name}/model", LATCHED),
           "change": node.create_client(ChangeState, f"/{name}/change_state"),
           "get": node.create_client(GetState, f"/{name}/get_state"),
           "params": AsyncParameterClient(node, name)}
    assert ctx["change"].wait_for_service(timeout_sec=30), "detector node did not come up"
    yield ctx
    node.destroy_node()
    rclpy.shutdown()
    stop(proc)


def log(ctx) -> str:
    return (ctx["tmp"] / "node.log").read_text()


def spin_for(ctx, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(ctx["node"], timeout_sec=0.05)
        if predicate():
            return
    raise AssertionError(f"timed out; node log:\n{log(ctx)[-2000:]}")


def call(ctx, client, request, timeout=120):
    future = ctx[client].call_async(request)
    rclpy.spin_until_future_complete(ctx["node"], future, timeout_sec=timeout)
    assert future.done(), f"no answer from {client}; node log:\n{log(ctx)[-2000:]}"
    return future.result()


def transition(ctx, transition_id) -> bool:
    return call(ctx, "change", ChangeState.Request(transition=Transition(id=transition_id))).success


def state(ctx) -> str:
    return call(ctx, "get", GetState.Request()).current_state.label


def set_param(ctx, name, value):
    future = ctx["params"].set_parameters([Parameter(name, value=value)])
    rclpy.spin_until_future_complete(ctx["node"], future, timeout_sec=10)
    return future.result().results[0]


def frame(stamp_sec):
    msg = rgb_to_imgmsg(FRAME)
    msg.header.stamp.sec = stamp_sec
    return msg


def answer(ctx, stamp_sec):
    """Publish the frame until its InstanceArray comes back (best effort may drop one)."""
    answers = ctx["got"]["instances"]
    for _ in range(20):
        ctx["camera"].publish(frame(stamp_sec))
        try:
            spin_for(ctx, lambda: any(a.header.stamp.sec == stamp_sec for a in answers), 3)
            return next(a for a in answers if a.header.stamp.sec == stamp_sec)
        except AssertionError:
            pass
    raise AssertionError(f"no InstanceArray for frame {stamp_sec}; node log:\n{log(ctx)[-2000:]}")


def assert_silent(ctx, stamp_sec, seconds=2.0):
    """Not subscribed to the camera, and frames published anyway get no InstanceArray."""
    spin_for(ctx, lambda: ctx["camera"].get_subscription_count() == 0, 10)
    n = len(ctx["got"]["instances"])
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx["camera"].publish(frame(stamp_sec))
        rclpy.spin_once(ctx["node"], timeout_sec=0.1)
    assert len(ctx["got"]["instances"]) == n


def test_without_autostart_it_waits_unconfigured_and_publishes_nothing(managed):
    assert state(managed) == "unconfigured"
    assert_silent(managed, 1)
    assert managed["got"]["info"] == []  # no model loaded


def test_a_bad_model_fails_configure_with_the_reason_and_the_node_stays_up(managed):
    assert set_param(managed, "model_path", str(managed["broken"])).successful
    assert not transition(managed, Transition.TRANSITION_CONFIGURE)
    assert state(managed) == "unconfigured"
    failed = [line for line in log(managed).splitlines() if "configure failed: cannot load model" in line]
    assert failed and str(managed["broken"]) in failed[-1] and "configure again" in failed[-1]
    assert managed["proc"].poll() is None


def test_configure_loads_the_model_but_inactive_publishes_nothing(managed):
    assert set_param(managed, "model_path", str(managed["a"])).successful
    assert transition(managed, Transition.TRANSITION_CONFIGURE)  # answers once the model is loaded
    assert state(managed) == "inactive"
    spin_for(managed, lambda: managed["got"]["info"], 10)
    assert managed["got"]["info"][-1].model_id == "model-a"
    assert_silent(managed, 2)


def test_activate_publishes_instances(managed):
    assert transition(managed, Transition.TRANSITION_ACTIVATE)
    assert state(managed) == "active"
    out = answer(managed, 10)
    assert out.model_id == "model-a" and 1 <= len(out.instances) <= 3


def test_hot_reload_works_while_active(managed):
    managed["announce"].publish(ModelInfo(model_path=str(managed["b"]), model_id="model-b"))
    spin_for(managed, lambda: managed["got"]["info"][-1].model_id == "model-b", 60)
    assert answer(managed, 11).model_id == "model-b"


def test_deactivate_stops_and_a_model_announced_meanwhile_loads_at_activate(managed):
    assert transition(managed, Transition.TRANSITION_DEACTIVATE)
    assert state(managed) == "inactive"
    assert_silent(managed, 20)
    managed["announce"].publish(ModelInfo(model_path=str(managed["a"]), model_id="model-a"))
    spin_for(managed, lambda: "will load at the next configure/activate" in log(managed), 10)
    assert managed["got"]["info"][-1].model_id == "model-b"  # nothing loaded while inactive
    assert transition(managed, Transition.TRANSITION_ACTIVATE)
    spin_for(managed, lambda: managed["got"]["info"][-1].model_id == "model-a", 60)
    assert answer(managed, 21).model_id == "model-a"


def test_cleanup_unloads_and_configure_loads_the_same_model_again(managed):
    assert transition(managed, Transition.TRANSITION_DEACTIVATE)
    assert transition(managed, Transition.TRANSITION_CLEANUP)
    assert state(managed) == "unconfigured"
    assert "model model-a unloaded" in log(managed)
    assert_silent(managed, 30)
    n = len(managed["got"]["info"])
    assert transition(managed, Transition.TRANSITION_CONFIGURE)
    spin_for(managed, lambda: len(managed["got"]["info"]) > n, 10)
    assert managed["got"]["info"][-1].model_id == "model-a"
    assert transition(managed, Transition.TRANSITION_ACTIVATE)
    assert answer(managed, 31).model_id == "model-a"


def test_shutdown_finalizes_and_the_process_stays_up(managed):
    assert transition(managed, Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert state(managed) == "finalized"
    assert_silent(managed, 40, seconds=1.0)
    assert managed["proc"].poll() is None
