"""Detector node: live instance masks, labels and scores, with an overlay image for RViz.

    ros2 launch automask detect.launch.py image_topic:=/camera/color/image_raw \
        model_path:=/path/to/bundle rviz:=true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("automask")
    return LaunchDescription([
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="colour camera topic (sensor_msgs/Image)"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "detect.yaml"]),
                              description="detector node parameters (YAML)"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="model bundle folder; empty = wait for /automask/model"),
        DeclareLaunchArgument("device", default_value="auto", description="auto, cpu or cuda[:N]"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]),
                              description="Fast DDS profile with a large shared-memory segment"),
        DeclareLaunchArgument("rviz", default_value="false", description="open RViz"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        Node(package="automask", executable="detector_node", name="detector_node", output="screen",
             parameters=[LaunchConfiguration("params_file"),
                         {"model_path": LaunchConfiguration("model_path"),
                          "device": LaunchConfiguration("device")}],
             remappings=[("image", LaunchConfiguration("image_topic"))]),
        Node(package="rviz2", executable="rviz2", name="rviz2",
             arguments=["-d", PathJoinSubstitution([share, "config", "automask.rviz"])],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
