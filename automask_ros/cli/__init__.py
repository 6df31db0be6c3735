"""The `automask` command: every step of the loop without ROS (folders, videos, rosbag2 files).

Each subcommand lives in its own module here with two functions:
    add_parser(subparsers) -> argparse.ArgumentParser   (declares its arguments)
    run(args) -> int                                    (does the work, returns the exit code)
"""

from __future__ import annotations

import argparse
import importlib
import signal
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
    argv = sys.argv[1:] if argv is None else list(argv)
    args = None
    try:
        args = build_parser().parse_args(argv)
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the exit
        if argv[:1] == ["demo"] and "--external-nodes" in argv:
            # under demo.launch.py Ctrl-C is how a user stops the launch: a clean stop, not a
            # death (launch reports any other exit code as "process has died")
            print("automask demo: stopped by Ctrl-C", flush=True)
            return 0
        print("automask: interrupted", file=sys.stderr)
        return 130
    except (CliError, ValueError, FileNotFoundError, PermissionError) as exc:
        print(f"automask {getattr(args, 'command', '')}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
