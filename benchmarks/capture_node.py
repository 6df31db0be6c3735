"""Capture node throughput over real DDS (issue 3): fed 640x480 at 30 Hz while recording.

A rendered 72-view turntable sweep (the camera is mocked by the renderer) is published in a loop,
so every frame is a new view that the node must segment, clean and store. Reports the frames per
second the node sustains (SweepStatus.frames_seen), the drop rate of the newest-frame policy,
and the node's RSS and thread count sampled every second (they must stay flat).

    python benchmarks/capture_node.py [--seconds 60] [--rate 30] [--segmenter u2net]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feed import Feeder, growth, start_node, write_result  # noqa: E402
from _util import ROOT, machine, print_machine  # noqa: E402

from automask.msg import SweepStatus  # noqa: E402
from automask.srv import StartSweep  # noqa: E402
from automask_ros.core.render import render_sweep  # noqa: E402
from automask_ros.ros.image_conversion import rgb_to_imgmsg  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--segmenter", default="u2net")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "capture_node.json")
    args = ap.parse_args(argv)
    info = machine()
    print_machine(info)
    work = Path(tempfile.mkdtemp(prefix="automask_bench_"))
    frames = [f.rgb for f in render_sweep("mug", n_frames=72, size=(640, 480), seed=0, empty_frames=0)]
    msgs = [rgb_to_imgmsg(f) for f in frames]
    name = f"bench_capture_{uuid.uuid4().hex[:6]}"
    proc = start_node("capture_node", name, [
        "-r", f"image:=/{name}/camera", "-p", f"dataset_root:={work / 'data'}",
        "-p", f"segmenter:={args.segmenter}", "-p", "loop_closure:=false", "-p", "negatives_before:=0",
        "-p", "min_change:=0.0", "-p", "camera_timeout_s:=60.0", "-p", "contact_sheet:=false",
        "-p", "status_rate_hz:=5.0"], work / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"bench_client_{name}")
    statuses: list[tuple[float, SweepStatus]] = []
    node.create_subscription(SweepStatus, f"/{name}/status",
                             lambda m: statuses.append((time.monotonic(), m)), 10)
    pub = node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data)
    start = node.create_client(StartSweep, f"/{name}/start_sweep")
    try:
        assert start.wait_for_service(timeout_sec=60), "capture node did not start"
        future = start.call_async(StartSweep.Request(label="mug"))
        rclpy.spin_until_future_complete(node, future, timeout_sec=60)
        assert future.result().success, future.result().message

        def make_msg(i):
            msg = msgs[i % len(msgs)]
            msg.header.stamp.sec = 1000 + i
            return msg

        feeder = Feeder(node, pub, make_msg, proc.pid)
        t0 = time.monotonic()
        feeder.run(args.rate, args.seconds)
        t1 = time.monotonic()
        window = [(t, m) for t, m in statuses if t0 + min(5.0, args.seconds / 4) <= t <= t1]
        (ta, a), (tb, b) = window[0], window[-1]
        fps = (b.frames_seen - a.frames_seen) / (tb - ta)
        warm = min(10.0, args.seconds / 3)
        rss = growth([(t, m) for t, m, _ in feeder.samples], warm)
        threads = growth([(t, n) for t, _, n in feeder.samples], warm)
        r = {"machine": info, "segmenter": args.segmenter, "rate_hz_sent": feeder.sent / args.seconds,
             "frames_per_s": fps, "drop_rate": 1 - fps / (feeder.sent / args.seconds),
             "frames_seen": b.frames_seen, "frames_kept": b.frames_kept, "frames_rejected": b.frames_rejected,
             "state": b.state, "rss_mb": rss, "threads": threads, "seconds": args.seconds}
        print(f"capture node, {args.segmenter}, 640x480 at {r['rate_hz_sent']:.1f} Hz for {args.seconds:.0f} s: "
              f"{fps:.2f} frames/s segmented+stored, drop rate {r['drop_rate']:.1%} (newest-frame policy); "
              f"kept {b.frames_kept}, rejected {b.frames_rejected}; RSS {rss['start']:.0f} -> {rss['end']:.0f} MB "
              f"(growth {rss['growth']:.1f} MB, peak {rss['peak']:.1f} MB, {rss['slope_per_min']:+.2f} MB/min), threads "
              f"{threads['start']:.0f} -> {threads['end']:.0f}")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.terminate()
        proc.wait(10)
    write_result(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
