"""Run one launch file through the real launch.LaunchService, as `ros2 launch` does.

    python launch_file.py FILE [name:=value ...]

Exits with LaunchService.run()'s return code. SIGINT shuts the launch down like Ctrl-C.
"""

import sys

from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import AnyLaunchDescriptionSource


def main(argv: list[str]) -> int:
    path, args = argv[0], argv[1:]
    service = LaunchService(argv=args)
    service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
        AnyLaunchDescriptionSource(path),
        launch_arguments=[tuple(a.split(":=", 1)) for a in args])]))
    return service.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
