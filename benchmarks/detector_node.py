"""Detector node overhead and sustained rate over real DDS (issue 5).

1. Overhead: frames are sent one at a time (no queueing) to a detector node process; the
   round trip (publish -> InstanceArray received, so DDS both ways is included) is compared with
   the raw `model([tensor])` forward of the same bundle on the same frame, run in this process
   right after each round trip (interleaved, so both see the same machine load). Ratio = median round trip / median raw forward.
   One-object and ten-object scenes (max_instances 1 and 10 of an untrained model at score 0,
   which fixes the number of masks pasted back) at 640x480.
2. Sustained: 640x480 at `--rate` Hz for `--seconds`: frames processed per second, drop rate,
   p50/p99 latency and the node's RSS sampled every second (slope after warm-up).

    python benchmarks/detector_node.py [--frames 15] [--seconds 60] [--rate 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import rclpy
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feed import Feeder, growth, start_node, write_result  # noqa: E402
from _util import ROOT, machine, print_machine  # noqa: E402
from detector_forward import raw_forward_fn, scene, untrained_bundle  # noqa: E402

from automask.msg import InstanceArray  # noqa: E402
from automask_ros.core.infer import Detector  # noqa: E402
from automask_ros.ros.image_conversion import rgb_to_imgmsg  # noqa: E402

ARCH = "maskrcnn_mobilenet_v3_fpn"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=15, help="frames per overhead measurement")
    ap.add_argument("--seconds", type=float, default=60.0, help="sustained phase duration")
    ap.add_argument("--rate", type=float, default=30.0, help="sustained publish rate (Hz)")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "detector_node.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    info = machine()
    print_machine(info)
    work = Path(tempfile.mkdtemp(prefix="automask_bench_"))
    bundle = untrained_bundle(ARCH, work / "bundle", 480, 640)
    name = f"bench_detector_{uuid.uuid4().hex[:6]}"
    proc = start_node("detector_node", name, ["-r", f"image:=/{name}/camera", "-p", f"model_path:={bundle}",
                                               "-p", "score_threshold:=0.0"], work / "node.log")
    rclpy.init()
    node = rclpy.create_node(f"bench_client_{name}")
    got: dict[int, float] = {}
    counts: dict[int, int] = {}

    def on_instances(msg: InstanceArray) -> None:
        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        got[key] = time.perf_counter()
        counts[key] = len(msg.instances)

    node.create_subscription(InstanceArray, f"/{name}/instances", on_instances, 50)
    pub = node.create_publisher(Image, f"/{name}/camera", qos_profile_sensor_data)
    params = AsyncParameterClient(node, name)
    assert params.wait_for_services(timeout_sec=60), "detector node did not start"
    results = {"machine": info, "overhead": {}, "sustained": {}}
    stamp = [0]

    def send(rgb) -> int:
        stamp[0] += 1
        msg = rgb_to_imgmsg(rgb)
        msg.header.stamp.sec = stamp[0]
        pub.publish(msg)
        return stamp[0] * 1_000_000_000

    try:
        deadline = time.monotonic() + 120  # wait for the model to load: first answer
        while not got and time.monotonic() < deadline:
            send(scene(1))
            end = time.monotonic() + 2
            while not got and time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
        for objects in (1, 10):
            future = params.set_parameters([Parameter("max_instances", value=objects)])
            rclpy.spin_until_future_complete(node, future, timeout_sec=10)
            frames = [scene(objects, seed=s) for s in range(3)]
            detector = Detector(bundle, device="cpu", score_threshold=0.0, max_instances=objects)
            trips, raw, n_inst = [], [], []
            for i in range(args.frames + 2):  # node and raw forward interleaved: same machine load
                rgb = frames[i % len(frames)]
                t0 = time.perf_counter()
                key = send(rgb)
                end = time.monotonic() + 30
                while key not in got and time.monotonic() < end:
                    rclpy.spin_once(node, timeout_sec=0.001)
                trip = got[key] - t0 if key in got else None
                fn = raw_forward_fn(detector, rgb)
                t0 = time.perf_counter()
                fn()
                if i >= 2 and trip is not None:  # two warm-up frames
                    trips.append(trip)
                    raw.append(time.perf_counter() - t0)
                    n_inst.append(counts[key])
            r = {"node_round_trip_ms_p50": 1e3 * statistics.median(trips),
                 "raw_forward_ms_p50": 1e3 * statistics.median(raw),
                 "ratio_p50": statistics.median(trips) / statistics.median(raw),
                 "instances_per_frame": statistics.median(n_inst), "frames": len(trips)}
            results["overhead"][f"{objects}_object"] = r
            print(f"overhead {objects:>2} object(s): node round trip {r['node_round_trip_ms_p50']:.0f} ms, "
                  f"raw forward {r['raw_forward_ms_p50']:.0f} ms, ratio {r['ratio_p50']:.3f} "
                  f"({r['instances_per_frame']:.0f} instances/frame, {r['frames']} frames)", flush=True)

        future = params.set_parameters([Parameter("max_instances", value=1)])
        rclpy.spin_until_future_complete(node, future, timeout_sec=10)
        frame = scene(1)
        sent: dict[int, float] = {}
        got.clear()

        def make_msg(i):
            msg = rgb_to_imgmsg(frame)
            msg.header.stamp.sec = 10_000 + i
            sent[msg.header.stamp.sec * 1_000_000_000] = time.perf_counter()
            return msg

        feeder = Feeder(node, pub, make_msg, proc.pid)
        feeder.run(args.rate, args.seconds)
        end = time.monotonic() + 10
        while time.monotonic() < end and not any(k in got for k in list(sent)[-3:]):
            rclpy.spin_once(node, timeout_sec=0.01)
        lat = sorted(got[k] - sent[k] for k in got if k in sent)
        rss = growth([(t, m) for t, m, _ in feeder.samples], min(10.0, args.seconds / 3))
        s = {"rate_hz_sent": len(sent) / args.seconds, "processed_per_s": len(lat) / args.seconds,
             "drop_rate": 1 - len(lat) / max(1, len(sent)),
             "latency_ms_p50": 1e3 * lat[len(lat) // 2] if lat else float("nan"),
             "latency_ms_p99": 1e3 * lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else float("nan"),
             "rss_mb_start": rss["start"], "rss_mb_end": rss["end"], "rss_growth_mb": rss["growth"],
             "rss_slope_mb_per_min": rss["slope_per_min"], "seconds": args.seconds}
        results["sustained"] = s
        print(f"sustained {args.rate:.0f} Hz for {args.seconds:.0f} s: {s['processed_per_s']:.1f} frames/s "
              f"processed, drop rate {s['drop_rate']:.1%} (newest-frame policy), latency p50 "
              f"{s['latency_ms_p50']:.0f} ms p99 {s['latency_ms_p99']:.0f} ms, RSS {s['rss_mb_start']:.0f} -> "
              f"{s['rss_mb_end']:.0f} MB ({s['rss_slope_mb_per_min']:+.2f} MB/min after warm-up)")
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.terminate()
        proc.wait(10)
    write_result(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
