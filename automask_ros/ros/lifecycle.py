"""Lifecycle plumbing for a managed node that is not specific to one node.

A managed node waits in `unconfigured` for `ros2 lifecycle set <node> configure|activate|...`
(the `~/change_state` service). With `autostart` (the default) it configures and activates
itself in its constructor, as nav2's lifecycle manager does, so `ros2 run` and launch files
need no lifecycle manager.
"""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from automask_ros.ros.params import Param

OK = TransitionCallbackReturn.SUCCESS
FAILED = TransitionCallbackReturn.FAILURE
AUTOSTART = Param("autostart", True, "configure and activate at start-up; false = wait in unconfigured for "
                  "~/change_state (ros2 lifecycle set)", read_only=True)


def bring_up(node: LifecycleNode) -> bool:
    """configure, then activate; False (the node logged why) if either fails."""
    return node.trigger_configure() == OK and node.trigger_activate() == OK


def state_label(node: LifecycleNode) -> str:
    """'unconfigured', 'inactive', 'active', 'finalized' (rclpy has no public getter for it)."""
    return node._state_machine.current_state[1]
