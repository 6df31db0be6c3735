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
from launch.actions import DeclareLaunchArgument, EmitEvent, ExecuteProcess, RegisterEventHandler
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration

from automask_ros.ros.launch_nodes import automask_node, config_file, fastdds_profile_argument, our_env, \
    rviz


def generate_launch_description():
    demo = ExecuteProcess(
        cmd=["automask", "demo", "--external-nodes", "--out", LaunchConfiguration("out"),
             "--object", LaunchConfiguration("object"), "--minutes", LaunchConfiguration("minutes")],
        output="screen", additional_env=our_env(), condition=IfCondition(LaunchConfiguration("run_demo")))
    return LaunchDescription([
        *rviz(),
        DeclareLaunchArgument("out", default_value="demo_out",
                              description="demo output folder: data, dataset, model and report.html"),
        DeclareLaunchArgument("object", default_value="mug",
                              description="rendered object to teach: mug, bottle or box"),
        DeclareLaunchArgument("minutes", default_value="8", description="training budget in minutes"),
        DeclareLaunchArgument("run_demo", default_value="true",
                              description="run `automask demo --external-nodes` against the nodes"),
        DeclareLaunchArgument("params_file", default_value=config_file("capture.yaml"),
                              description="capture node parameters (YAML)"),
        DeclareLaunchArgument("train_params_file", default_value=config_file("train.yaml"),
                              description="trainer node parameters (YAML)"),
        DeclareLaunchArgument("detect_params_file", default_value=config_file("detect.yaml"),
                              description="detector node parameters (YAML)"),
        fastdds_profile_argument(),
        automask_node("player_node", None, fixed={"autostart": False}),
        automask_node("capture_node", "params_file"),
        automask_node("trainer_node", "train_params_file"),
        automask_node("detector_node", "detect_params_file"),
        demo,
        RegisterEventHandler(OnProcessExit(target_action=demo, on_exit=[EmitEvent(event=Shutdown(
            reason="automask demo finished"))])),
    ])
