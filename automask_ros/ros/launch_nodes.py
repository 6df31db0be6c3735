"""Launch-file building blocks shared by launch/*.launch.py (imported by them, so one fix serves all).

- `automask_node`: one of our nodes with its params file, plus only the launch arguments the user
  actually set (a non-empty value). A default written in the launch file would silently beat the
  same key in the user's params file, because the later parameter source wins in launch_ros.
  Values are passed as strings (`ParameterValue(value_type=str)`): launch_ros reads plain
  values as YAML, so `output_root:=2025` would otherwise arrive as an INTEGER and kill the node.
- The Fast DDS profile goes to our own processes only (`additional_env`), not to every process of
  a launch, so a camera driver or RViz keeps its own transport settings.
- `rviz`: checked and started first. A missing rviz2 then stops the launch before any of our
  nodes has started, instead of leaving them running without a parent.
"""

from __future__ import annotations

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

SHARE = FindPackageShare("automask")


def config_file(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([SHARE, "config", name])


def fastdds_profile_argument() -> DeclareLaunchArgument:
    return DeclareLaunchArgument("fastdds_profile", default_value=config_file("fastdds.xml"),
                                 description="Fast DDS profile (large shared-memory segment) for the "
                                             "automask processes; a camera driver needs the same (README)")


def our_env() -> dict:
    """Environment added to each automask process (and only to those)."""
    return {"FASTDDS_DEFAULT_PROFILES_FILE": LaunchConfiguration("fastdds_profile")}


def automask_node(executable: str, params_file: str | None = "params_file",
                  overrides: dict[str, str] | None = None, fixed: dict | None = None,
                  **kwargs) -> OpaqueFunction:
    """Node `executable` (named the same) reading the launch argument `params_file` (a YAML path),
    then `fixed` values, then each parameter in `overrides` (parameter name -> launch argument)
    whose launch argument is not empty."""
    overrides = overrides or {}

    def make(context):
        passed = {name: ParameterValue(LaunchConfiguration(arg), value_type=str)
                  for name, arg in overrides.items() if LaunchConfiguration(arg).perform(context)}
        parameters = ([LaunchConfiguration(params_file)] if params_file else []) + \
            [d for d in (fixed, passed) if d]
        return [Node(package="automask", executable=executable, name=executable, output="screen",
                     parameters=parameters, additional_env=our_env(), **kwargs)]

    return OpaqueFunction(function=make)


def rviz() -> list:
    """The `rviz` argument and RViz itself; put these first in a launch description."""

    def make(context):
        if not IfCondition(LaunchConfiguration("rviz")).evaluate(context):
            return []
        try:
            get_package_prefix("rviz2")
        except PackageNotFoundError:
            raise RuntimeError("rviz:=true but rviz2 is not installed: install it "
                               "(apt install ros-$ROS_DISTRO-rviz2) or launch without rviz:=true; "
                               "nothing was started") from None
        return [Node(package="rviz2", executable="rviz2", name="rviz2",
                     arguments=["-d", config_file("automask.rviz")])]

    return [DeclareLaunchArgument("rviz", default_value="false", description="open RViz"),
            OpaqueFunction(function=make)]
