"""Trainer node: a Train action server that fine-tunes Mask R-CNN and publishes the new model.

    ros2 launch automask train.launch.py output_root:=/data/automask_models
    ros2 action send_goal -f /trainer_node/train automask/action/Train \
        "{datasets: [/data/automask_data/red_mug]}"

An argument left empty keeps the value in params_file (see automask_ros/ros/launch_nodes.py).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument

from automask_ros.ros.launch_nodes import automask_node, config_file, fastdds_profile_argument


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=config_file("train.yaml"),
                              description="trainer node parameters (YAML)"),
        DeclareLaunchArgument("output_root", default_value="",
                              description="folder that new model bundles are written to "
                                          "(empty = params_file's output_root)"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="default base model for goals that name none "
                                          "(empty = params_file's base_model)"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto, cpu or cuda[:N] (empty = params_file's)"),
        fastdds_profile_argument(),
        automask_node("trainer_node", overrides={"output_root": "output_root",
                                                 "base_model": "model_path", "device": "device"}),
    ])
