"""Capture node: record a turntable sweep from a camera into a COCO mask dataset.

    ros2 launch automask capture.launch.py image_topic:=/camera/color/image_raw rviz:=true
    ros2 service call /capture_node/start_sweep automask/srv/StartSweep "{label: red_mug}"
    # an RGB-D camera (RealSense): depth aligned to colour, and the colour camera_info
    ros2 launch automask capture.launch.py image_topic:=/camera/color/image_raw \
        depth_topic:=/camera/aligned_depth_to_color/image_raw camera_info_topic:=/camera/color/camera_info
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
        DeclareLaunchArgument("depth_topic", default_value="/camera/depth_registered/image_raw",
                              description="optional depth aligned to the colour image (16UC1 mm or 32FC1 m); "
                                          "nothing published there = colour-only"),
        DeclareLaunchArgument("camera_info_topic", default_value="/camera/camera_info",
                              description="CameraInfo of the colour camera (intrinsics for the depth)"),
        DeclareLaunchArgument("angle_topic", default_value="/turntable/angle",
                              description="optional turntable angle in degrees (std_msgs/Float64)"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "capture.yaml"]),
                              description="capture node parameters (YAML)"),
        DeclareLaunchArgument("dataset_root", default_value="automask_data",
                              description="folder that sweeps are written to"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]),
                              description="Fast DDS profile with a large shared-memory segment"),
        DeclareLaunchArgument("rviz", default_value="false", description="open RViz"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        Node(package="automask", executable="capture_node", name="capture_node", output="screen",
             parameters=[LaunchConfiguration("params_file"),
                         {"dataset_root": LaunchConfiguration("dataset_root")}],
             remappings=[("image", LaunchConfiguration("image_topic")),
                         ("depth", LaunchConfiguration("depth_topic")),
                         ("camera_info", LaunchConfiguration("camera_info_topic")),
                         ("turntable_angle", LaunchConfiguration("angle_topic"))]),
        Node(package="rviz2", executable="rviz2", name="rviz2",
             arguments=["-d", PathJoinSubstitution([share, "config", "automask.rviz"])],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
