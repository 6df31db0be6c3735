"""Start real ROS 2 processes from tests and read what they print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _util import start_node  # noqa: F401  (benchmarks/, on the path from conftest: one copy for both)

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "test" / "peers"


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """A child python process with the test's environment (venv, install/, DDS profile)."""
    return subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ), **kwargs)


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 30.0) -> str:
    """Block until the process prints a line containing `text` (stdout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        if text in line:
            return line
    raise TimeoutError(f"no line containing {text!r} within {timeout} s")


def last_json(proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    """Wait for the process to exit and parse the last JSON line it printed."""
    out, err = proc.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"exit {proc.returncode}; stderr: {err[-2000:]}")
    return json.loads(lines[-1])


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` (a loaded machine
    can take several seconds to tear down torch and DDS)."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
