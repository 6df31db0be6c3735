"""The demo for ROS users: player, capture, trainer and detector nodes, driven by `automask demo`.

    ros2 launch automask demo.launch.py rviz:=true
    ros2 launch automask demo.launch.py out:=/tmp/demo_out minutes:=8

`automask demo --external-nodes` renders the data, then only calls these nodes' services and
actions (and sets their parameters) exactly as `make demo` does in one process; the launch ends
when it has written OUT/report.html. Set run_demo:=false to start the nodes alone and drive them
yourself (see docs/demo.md). The nodes keep their default topic names (`image`,
`turntable_angle`), because `automask demo --external-nodes` listens there too.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, ExecuteProcess, RegisterEventHandler, \
    SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("automask")
    demo = ExecuteProcess(
        cmd=["automask", "demo", "--external-nodes", "--out", LaunchConfiguration("out"),
             "--object", LaunchConfiguration("object"), "--minutes", LaunchConfiguration("minutes")],
        output="screen", condition=IfCondition(LaunchConfiguration("run_demo")))
    return LaunchDescription([
        DeclareLaunchArgument("out", default_value="demo_out",
                              description="demo output folder: data, dataset, model and report.html"),
        DeclareLaunchArgument("object", default_value="mug",
                              description="rendered object to teach: mug, bottle or box"),
        DeclareLaunchArgument("minutes", default_value="8", description="training budget in minutes"),
        DeclareLaunchArgument("run_demo", default_value="true",
                              description="run `automask demo --external-nodes` against the nodes"),
        DeclareLaunchArgument("params_file",
                              default_value=PathJoinSubstitution([share, "config", "capture.yaml"]),
                              description="capture node parameters (YAML)"),
        DeclareLaunchArgument("train_params_file",
                              default_value=PathJoinSubstitution([share, "config", "train.yaml"]),
                              description="trainer node parameters (YAML)"),
        DeclareLaunchArgument("detect_params_file",
                              default_value=PathJoinSubstitution([share, "config", "detect.yaml"]),
                              description="detector node parameters (YAML)"),
        DeclareLaunchArgument("fastdds_profile",
                              default_value=PathJoinSubstitution([share, "config", "fastdds.xml"]),
                              description="Fast DDS profile with a large shared-memory segment"),
        DeclareLaunchArgument("rviz", default_value="false", description="open RViz"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        Node(package="automask", executable="player_node", name="player_node", output="screen",
             parameters=[{"autostart": False}]),
        Node(package="automask", executable="capture_node", name="capture_node", output="screen",
             parameters=[LaunchConfiguration("params_file")]),
        Node(package="automask", executable="trainer_node", name="trainer_node", output="screen",
             parameters=[LaunchConfiguration("train_params_file")]),
        Node(package="automask", executable="detector_node", name="detector_node", output="screen",
             parameters=[LaunchConfiguration("detect_params_file")]),
        Node(package="rviz2", executable="rviz2", name="rviz2",
             arguments=["-d", PathJoinSubstitution([share, "config", "automask.rviz"])],
             condition=IfCondition(LaunchConfiguration("rviz"))),
        demo,
        RegisterEventHandler(OnProcessExit(target_action=demo, on_exit=[EmitEvent(event=Shutdown(
            reason="automask demo finished"))])),
    ])
