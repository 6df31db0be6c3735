"""Detector node: live instance masks, labels and scores, with an overlay image for RViz.

    ros2 launch automask detect.launch.py image_topic:=/camera/color/image_raw \
        model_path:=/path/to/bundle rviz:=true

An argument left empty keeps the value in params_file (see automask_ros/ros/launch_nodes.py).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration

from automask_ros.ros.launch_nodes import automask_node, config_file, fastdds_profile_argument, rviz


def generate_launch_description():
    return LaunchDescription([
        *rviz(),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="colour camera topic (sensor_msgs/Image; with "
                                          "image_transport:=compressed, <image_topic>/compressed)"),
        DeclareLaunchArgument("params_file", default_value=config_file("detect.yaml"),
                              description="detector node parameters (YAML)"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="model bundle folder (empty = params_file's; there, empty "
                                          "= wait for /automask/model)"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto, cpu or cuda[:N] (empty = params_file's)"),
        DeclareLaunchArgument("image_transport", default_value="",
                              description="raw or compressed (empty = params_file's)"),
        fastdds_profile_argument(),
        automask_node("detector_node", overrides={"model_path": "model_path", "device": "device",
                                                  "image_transport": "image_transport"},
                      remappings=[("image", LaunchConfiguration("image_topic"))]),
    ])
