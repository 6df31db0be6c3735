"""The demo spins its in-process nodes as their executables do (ros/spin.make_executor): each on
its own executor and thread, single-threaded unless the node asks for more (the trainer). One
shared multi-threaded executor starved the capture and detector inference threads."""

import pytest
import rclpy
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

from automask_ros.ros.demo_driver import DemoDriver, Spinner
from automask_ros.ros.player_node import PlayerNode
from automask_ros.ros.trainer_node import TrainerNode

pytestmark = pytest.mark.ros


def test_each_node_gets_the_executor_its_executable_uses():
    rclpy.init()
    spinner = None
    try:
        nodes = [PlayerNode(), TrainerNode(), DemoDriver()]
        spinner = Spinner.start(nodes)
        assert [type(e) for e in spinner.executors] == [SingleThreadedExecutor, MultiThreadedExecutor,
                                                        SingleThreadedExecutor]
        assert len({id(n.executor) for n in nodes}) == 3  # one executor per node
        assert all(n.executor is e for n, e in zip(nodes, spinner.executors))
        assert all(t.is_alive() for t in spinner.threads)
    finally:
        if spinner is not None:
            spinner.stop()
        rclpy.shutdown()
