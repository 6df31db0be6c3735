"""What a deactivated detector costs: the node's CPU while a 30 Hz camera keeps publishing, per state.

    python benchmarks/detector_lifecycle.py [--seconds 15] [--rate 30]

Starts a real detector_node (autostart:=false, untrained MobileNetV3-FPN Mask R-CNN on the CPU,
640x480 rgb8 frames over DDS), drives it through ~/change_state and, in each of active, inactive
(after deactivate) and unconfigured (after cleanup), feeds it for --seconds while reading the
node's CPU time from /proc. The figures are ratios to the active state measured in the same run,
plus each transition's wall time (configure includes loading the model). Writes
benchmarks/results/detector_lifecycle.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feed import Feeder, proc_status, write_result  # noqa: E402
from _util import ROOT, machine, print_machine, start_node, untrained_bundle  # noqa: E402
from detector_forward import scene  # noqa: E402

from automask.msg import InstanceArray  # noqa: E402
from automask_ros.ros.image_conversion import rgb_to_imgmsg  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=15.0, help="feeding time per state")
    ap.add_argument("--rate", type=float, default=30.0, help="camera rate (Hz)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "detector_lifecycle.json")
    args = ap.parse_args(argv)
    print_machine()
    work = Path(tempfile.mkdtemp(prefix="bench_lifecycle_"))
    bundle = untrained_bundle(work / "bundle", min_size=480, max_size=640)
    name = f"bench_lifecycle_{uuid.uuid4().hex[:6]}"
    proc = start_node("detector_node", name, [
        "-r", f"image:=/{name}/camera", "-p", "autostart:=false", "-p", f"model_path:={bundle}",
        "-p", "device:=cpu", "-p", "score_threshold:=0.0", "-p", "max_instances:=1"], work / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"client_{name}")
    answers = []
    node.create_subscription(InstanceArray, f"/{name}/instances", answers.append, 50)
    camera = node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data)
    change = node.create_client(ChangeState, f"/{name}/change_state")
    msg = rgb_to_imgmsg(scene(1))
    feeder = Feeder(node, camera, lambda i: msg, proc.pid)
    result = {"machine": machine(), "seconds_per_state": args.seconds, "rate_hz": args.rate,
              "transition_s": {}, "states": {}}

    def transition(label: str, tid: int) -> None:
        start = time.perf_counter()
        future = change.call_async(ChangeState.Request(transition=Transition(id=tid)))
        rclpy.spin_until_future_complete(node, future, timeout_sec=180)
        assert future.done() and future.result().success, f"{label} failed; see {work / 'node.log'}"
        result["transition_s"][label] = time.perf_counter() - start

    def measure(state: str) -> None:
        n, cpu0, t0 = len(answers), cpu_seconds(proc.pid), time.monotonic()
        feeder.run(args.rate, args.seconds)
        cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        result["states"][state] = {"cpu_cores": cpu, "instance_arrays_per_s": (len(answers) - n) / args.seconds,
                                   "rss_mb": proc_status(proc.pid)[0]}

    try:
        assert change.wait_for_service(timeout_sec=60), "the detector node did not come up"
        measure("unconfigured (start)")
        transition("configure", Transition.TRANSITION_CONFIGURE)
        transition("activate", Transition.TRANSITION_ACTIVATE)
        feeder.run(args.rate, 3.0)  # warm-up: first frames are slow
        measure("active")
        transition("deactivate", Transition.TRANSITION_DEACTIVATE)
        measure("inactive")
        transition("cleanup", Transition.TRANSITION_CLEANUP)
        measure("unconfigured (after cleanup)")
    finally:
        node.destroy_node()
        rclpy.shutdown()
        proc.terminate()
        proc.wait(30)
    active = result["states"]["active"]["cpu_cores"]
    print(f"| state | node CPU (cores) | / active | InstanceArrays/s | RSS MB |\n|---|---|---|---|---|")
    for state, s in result["states"].items():
        print(f"| {state} | {s['cpu_cores']:.3f} | {s['cpu_cores'] / active:.3f} | "
              f"{s['instance_arrays_per_s']:.1f} | {s['rss_mb']:.0f} |")
    print("transitions (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result["transition_s"].items()))
    write_result(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
