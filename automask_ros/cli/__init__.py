"""The `automask` command: every step of the loop without ROS (folders, videos, rosbag2 files).

Each subcommand lives in its own module here with two functions:
    add_parser(subparsers) -> argparse.ArgumentParser   (declares its arguments)
    run(args) -> int                                    (does the work, returns the exit code)
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module under automask_ros.cli
SUBCOMMANDS = {
    "capture": "capture",
    "dataset": "dataset",
    "train": "train",
    "eval": "evaluate",
    "detect": "detect",
    "render": "render",
    "demo": "demo",
}


class CliError(Exception):
    """An error for the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automask", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        try:
            mod = importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
            continue  # subcommand not built yet
        mod.add_parser(sub).set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("automask: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"automask {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
