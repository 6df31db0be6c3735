"""Trainer node: a Train action server that fine-tunes Mask R-CNN and publishes the new model.

    ros2 launch automask train.launch.py output_root:=/data/automask_models
    ros2 action send_goal -f /trainer_node/train automask/action/Train \
        "{datasets: [/data/automask_data/red_mug]}"
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("automask")
    return LaunchDescription([
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "train.yaml"]),
                              description="trainer node parameters (YAML)"),
        DeclareLaunchArgument("output_root", default_value="automask_models",
                              description="folder that new model bundles are written to"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="default base model for goals that name none"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]),
                              description="Fast DDS profile with a large shared-memory segment"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        Node(package="automask", executable="trainer_node", name="trainer_node", output="screen",
             parameters=[LaunchConfiguration("params_file"),
                         {"output_root": LaunchConfiguration("output_root"),
                          "base_model": LaunchConfiguration("model_path")}]),
    ])
