"""Capture node: record a turntable sweep from a camera into a COCO mask dataset.

    ros2 launch automask capture.launch.py image_topic:=/camera/color/image_raw rviz:=true
    ros2 service call /capture_node/start_sweep automask/srv/StartSweep "{label: red_mug}"
    # an RGB-D camera (RealSense): depth aligned to colour, and the colour camera_info
    ros2 launch automask capture.launch.py image_topic:=/camera/color/image_raw \
        depth_topic:=/camera/aligned_depth_to_color/image_raw camera_info_topic:=/camera/color/camera_info

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
        DeclareLaunchArgument("depth_topic", default_value="/camera/depth_registered/image_raw",
                              description="optional depth aligned to the colour image (16UC1 mm or 32FC1 m); "
                                          "nothing published there = colour-only"),
        DeclareLaunchArgument("camera_info_topic", default_value="/camera/camera_info",
                              description="CameraInfo of the colour camera (intrinsics for the depth)"),
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
                                  ("depth", LaunchConfiguration("depth_topic")),
                                  ("camera_info", LaunchConfiguration("camera_info_topic")),
                                  ("turntable_angle", LaunchConfiguration("angle_topic")),
                                  ("turntable_joint_states", LaunchConfiguration("joint_states_topic"))]),
    ])
