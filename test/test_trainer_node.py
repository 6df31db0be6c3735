"""The trainer node over real DDS: a Train goal really trains (tiny images, few iterations),
streams feedback, announces the model transient-local, refuses a second goal with a reason,
and cancels cleanly."""

import time
import uuid
from pathlib import Path

import pytest
import rclpy
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from automask.action import Train
from automask.msg import ModelInfo
from automask_ros.core.training.bundle import read_bundle_meta
from ros_process import start_node, stop
from trainutil import make_sweep

pytestmark = [pytest.mark.ros, pytest.mark.slow]
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trainer")
    data = make_sweep(tmp / "data", "disc", views=8, size=64)
    name = f"trainer_{uuid.uuid4().hex[:6]}"
    topic = f"/{name}/model"
    proc = start_node("trainer_node", name, [
        "-p", f"output_root:={tmp / 'models'}", "-p", "min_size:=64", "-p", "threads:=1",
        "-p", "holdout_every:=4", "-p", f"model_topic:={topic}", "-p", "feedback_period_s:=0.2"],
        tmp / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    client = ActionClient(node, Train, f"/{name}/train")
    assert client.wait_for_server(timeout_sec=30), "trainer node did not come up"
    yield {"node": node, "client": client, "data": data, "tmp": tmp, "topic": topic, "proc": proc}
    node.destroy_node()
    rclpy.shutdown()
    stop(proc)


def spin_until(node, future, timeout):
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), f"no answer within {timeout} s"
    return future.result()


def test_goal_trains_streams_feedback_and_announces_the_model(trainer):
    node, client = trainer["node"], trainer["client"]
    announced = []
    node.create_subscription(ModelInfo, trainer["topic"], announced.append, LATCHED)
    feedback = []
    out = trainer["tmp"] / "bundle_a"
    goal = Train.Goal(datasets=[str(trainer["data"])], output_dir=str(out), epochs=2)
    handle = spin_until(node, client.send_goal_async(goal, feedback_callback=lambda f: feedback.append(
        (time.monotonic(), f.feedback))), 60)
    assert handle.accepted

    second = spin_until(node, client.send_goal_async(goal), 60)  # while the first one runs
    second_result = spin_until(node, second.get_result_async(), 60)
    assert second_result.status == GoalStatus.STATUS_ABORTED
    assert "busy" in second_result.result.message

    result = spin_until(node, handle.get_result_async(), 600)
    assert result.status == GoalStatus.STATUS_SUCCEEDED, (trainer["tmp"] / "node.log").read_text()[-3000:]
    assert result.result.success and Path(result.result.model_path) == out
    assert (out / "model.pt").is_file() and (out / "model.json").is_file()
    metrics = read_bundle_meta(out)["metrics"]  # the result carries the bundle's own held-out figures
    assert result.result.mask_ap == pytest.approx(metrics["segm_AP"], abs=1e-6)  # float32 in the message
    assert result.result.mask_ap50 == pytest.approx(metrics["segm_AP50"], abs=1e-6)

    phases = {f.phase for _, f in feedback}
    assert "train" in " ".join(phases), phases
    assert max(f.progress for _, f in feedback) > 0.5
    gaps = [b[0] - a[0] for a, b in zip(feedback, feedback[1:])]
    assert max(gaps) < 5.0, "feedback must arrive at least every few seconds"

    deadline = time.monotonic() + 10
    while not announced and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    assert announced and announced[0].model_path == str(out.resolve())
    assert list(announced[0].labels) == ["disc"]


def test_cancel_stops_cleanly_and_keeps_the_checkpoint(trainer):
    node, client = trainer["node"], trainer["client"]
    out = trainer["tmp"] / "bundle_cancel"
    goal = Train.Goal(datasets=[str(trainer["data"])], output_dir=str(out), epochs=500)
    started = []
    handle = spin_until(node, client.send_goal_async(goal, feedback_callback=lambda f: started.append(
        f.feedback) if f.feedback.epoch >= 2 else None), 60)
    deadline = time.monotonic() + 400
    while not started and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    assert started, "training never reached its second epoch"
    spin_until(node, handle.cancel_goal_async(), 60)
    result = spin_until(node, handle.get_result_async(), 300)
    assert result.status == GoalStatus.STATUS_CANCELED
    assert any(out.rglob("*.pt")), "the last checkpoint must stay on disk"
