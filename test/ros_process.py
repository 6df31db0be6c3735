"""Start real ROS 2 processes from tests and read what they print."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from _util import start_node  # noqa: F401  (benchmarks/, on the path from conftest: one copy for both)

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "test" / "peers"


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """A child python process with the test's environment (venv, install/, DDS profile)."""
    return subprocess.Popen([sys.executable, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ), **kwargs)


class _Output:
    """Reader threads that drain a child's stdout (line by line, into a queue) and stderr.

    A deadline on a pipe needs them: readline() blocks until the child prints or exits, so a
    silent child used to hang wait_for_line past its timeout. Draining stderr too keeps a chatty
    child from blocking on a full pipe while the test waits on stdout.
    """

    def __init__(self, proc: subprocess.Popen):
        self.lines: queue.Queue = queue.Queue()  # stdout lines not yet consumed; None = end of output
        self.stdout: list[str] = []              # every stdout line, for last_json
        self.stderr: list[str] = []
        self.threads = [threading.Thread(target=self._pump, args=(proc.stdout, True), daemon=True),
                        threading.Thread(target=self._pump, args=(proc.stderr, False), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, stream, is_stdout: bool) -> None:
        for line in stream:
            (self.stdout if is_stdout else self.stderr).append(line)
            if is_stdout:
                self.lines.put(line)
        if is_stdout:
            self.lines.put(None)

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(timeout)


def _output(proc: subprocess.Popen) -> _Output:
    """The process's reader threads, started on first use."""
    if getattr(proc, "automask_output", None) is None:
        proc.automask_output = _Output(proc)
    return proc.automask_output


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 30.0) -> str:
    """Block until the process prints a line containing `text` (stdout); TimeoutError after
    `timeout` seconds even when the process prints nothing at all."""
    out = _output(proc)
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = out.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"no line containing {text!r} within {timeout} s") from None
        if line is None:  # stdout closed: the process is exiting
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            out.join(5)
            raise RuntimeError(f"process exited ({proc.returncode}) before printing {text!r}: "
                               f"{''.join(out.stderr)[-2000:]}")
        if text in line:
            return line


def last_json(proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    """Wait for the process to exit and parse the last JSON line it printed."""
    if getattr(proc, "automask_output", None) is None:
        out, err = proc.communicate(timeout=timeout)
    else:  # wait_for_line's threads own the pipes
        proc.wait(timeout)
        proc.automask_output.join(10)
        out, err = "".join(proc.automask_output.stdout), "".join(proc.automask_output.stderr)
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
