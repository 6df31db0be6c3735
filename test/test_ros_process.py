"""The test helpers that read child processes keep their deadlines (test/ros_process.py).

wait_for_line used to block in readline(), so a child that printed nothing held the test past
its timeout for as long as the child lived. The children here are plain Python processes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from ros_process import last_json, stop, wait_for_line


def child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_silent_process_times_out_while_it_still_runs():
    proc = child("import time; time.sleep(120)")
    try:
        with pytest.raises(TimeoutError, match="'ready'"):
            wait_for_line(proc, "ready", timeout=1.0)
        assert proc.poll() is None  # the deadline fired, not the child's exit
    finally:
        stop(proc)


def test_the_line_is_found_and_last_json_still_reads_the_rest():
    proc = child("import json, sys, time; print('starting'); print('ready now'); time.sleep(0.5); "
                 "print('x' * 70000, file=sys.stderr); print(json.dumps({'n': 3}))")
    try:
        assert wait_for_line(proc, "ready", timeout=60.0) == "ready now\n"
        assert last_json(proc, timeout=60.0) == {"n": 3}
    finally:
        stop(proc)


def test_a_process_that_exits_first_is_reported_with_its_stderr():
    proc = child("import sys; print('other'); print('boom', file=sys.stderr); sys.exit(3)")
    with pytest.raises(RuntimeError, match=r"exited \(3\).*boom"):
        wait_for_line(proc, "ready", timeout=60.0)
