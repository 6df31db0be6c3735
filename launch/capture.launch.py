"""Capture node: record a turntable sweep from a camera into a COCO mask dataset.

    ros2 launch automask capture.launch.py image_topic:=/camera/color/image_raw rviz:=true
    ros2 service call /capture_node/start_sweep automask/srv/StartSweep "{label: red_mug}"

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
        DeclareLaunchArgument("angle_topic", default_value="/turntable/angle",
                              description="optional turntable angle in degrees (std_msgs/Float64)"),
        DeclareLaunchArgument("joint_states_topic", default_value="/turntable/joint_states",
                              description="optional turntable angle as stamped sensor_msgs/JointState "
                                          "(joint named by the turntable_joint parameter)"),
        DeclareLaunchArgument("params_file", default_value=config_file("capture.yaml"),
                              description="capture node parameters (YAML)"),
        DeclareLaunchArgument("dataset_root", default_value="",
                              description="folder that sweeps are written to (empty = params_file's)"),
        DeclareLaunchArgument("image_transport", default_value="",
                              description="raw or compressed (empty = params_file's)"),
        fastdds_profile_argument(),
        automask_node("capture_node", overrides={"dataset_root": "dataset_root",
                                                 "image_transport": "image_transport"},
                      remappings=[("image", LaunchConfiguration("image_topic")),
                                  ("turntable_angle", LaunchConfiguration("angle_topic")),
                                  ("turntable_joint_states", LaunchConfiguration("joint_states_topic"))]),
    ])
