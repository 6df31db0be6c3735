"""Detector node overhead and sustained rate over real DDS (issue 5).

1. Overhead, for a one-object and a ten-object scene at 640x480 (max_instances 1 and 10 of an
   untrained model at score 0, which fixes the number of masks pasted back). Each scene gets a
   fresh node process and frames are sent one at a time (no queueing). Two ratios:
   - in the node, the issue's definition: image receipt (the middleware's reception time) to
     InstanceArray published, over the raw `model([tensor])` forward of the same frame, median
     of the per-frame ratios, read from the node's /diagnostics;
   - round trip, stricter: publish here -> InstanceArray received here (DDS both ways), over the
     raw forward of the same bundle on the same frame run in this process right after each round
     trip (interleaved, same machine load). Two processes' forwards differ by a few percent.
2. Sustained: 640x480 at `--rate` Hz for `--seconds` into one more node: frames processed per
   second, drop rate, p50/p99 latency and the node's RSS sampled every second (slope after
   warm-up).
3. Transport: the same sustained stream for `--transport-seconds`, raw (sensor_msgs/Image) and
   compressed (JPEG CompressedImage, `image_transport: compressed`), one node each, raw first
   and again last; figures as ratios compressed / raw (mean of the two raw runs) in one run.

    python benchmarks/detector_node.py [--frames 30] [--seconds 60] [--rate 30] [--phases overhead,sustained,transport]
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
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feed import Feeder, growth, write_result  # noqa: E402
from _util import ROOT, machine, print_machine, start_node, untrained_bundle  # noqa: E402
from detector_forward import raw_forward_fn, scene  # noqa: E402

from automask.msg import InstanceArray  # noqa: E402
from automask_ros.core.shared.image_codec import encode_compressed  # noqa: E402
from automask_ros.core.detection.infer import Detector  # noqa: E402
from automask_ros.ros.image_conversion import rgb_to_imgmsg  # noqa: E402

ARCH = "maskrcnn_mobilenet_v3_fpn"
WARMUP = 2  # frames left out of the round-trip figures


class NodeUnderTest:
    """A detector node process plus a client node here that feeds it and listens to it."""

    def __init__(self, bundle: Path, work: Path, max_instances: int, transport: str = "raw"):
        self.name = f"bench_detector_{uuid.uuid4().hex[:6]}"
        self.transport = transport
        self.proc = start_node("detector_node", self.name, [
            "-r", f"image:=/{self.name}/camera", "-p", f"model_path:={bundle}", "-p", "score_threshold:=0.0",
            "-p", f"max_instances:={max_instances}", "-p", "stats_period_s:=0.5",
            "-p", f"image_transport:={transport}"], work / f"{self.name}.log")
        self.node = rclpy.create_node(f"client_{self.name}")
        self.got: dict[int, tuple[float, int]] = {}  # stamp key -> (time received here, instances)
        self.diag: dict[str, str] = {}
        self.node.create_subscription(InstanceArray, f"/{self.name}/instances", self._on_instances, 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        if transport == "compressed":
            self.pub = self.node.create_publisher(CompressedImage, f"/{self.name}/camera/compressed",
                                                  qos_profile_sensor_data)
        else:
            self.pub = self.node.create_publisher(Image, f"/{self.name}/camera", qos_profile_sensor_data)
        self.stamp = 0

    def frame_msg(self, rgb, stamp_sec: int):
        """The frame as this node's transport carries it (JPEG is encoded once per image)."""
        if self.transport == "compressed":
            key = id(rgb)
            if getattr(self, "_jpeg", (None,))[0] != key:
                self._jpeg = (key, encode_compressed(rgb, "jpeg", quality=90))
            msg = CompressedImage(format=self._jpeg[1][0])
            msg.data = self._jpeg[1][1]
        else:
            msg = rgb_to_imgmsg(rgb)
        msg.header.stamp.sec = stamp_sec
        return msg

    def _on_instances(self, msg: InstanceArray) -> None:
        key = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        self.got[key] = (time.perf_counter(), len(msg.instances))

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id.endswith(self.name):
                self.diag = {kv.key: kv.value for kv in status.values}

    def send(self, rgb) -> int:
        self.stamp += 1
        self.pub.publish(self.frame_msg(rgb, self.stamp))
        return self.stamp * 1_000_000_000

    def wait(self, done, timeout: float) -> bool:
        """Spin (blocking, as a real subscriber does: no busy polling stealing a core) until done()."""
        end = time.monotonic() + timeout
        while not done() and time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.5)
        return done()

    def wait_for_model(self, rgb) -> None:
        end = time.monotonic() + 120
        while not self.got and time.monotonic() < end:
            self.send(rgb)
            self.wait(lambda: bool(self.got), 2)
        assert self.got, f"detector node gave no answer; see {self.name}.log"

    def close(self) -> None:
        self.node.destroy_node()
        self.proc.terminate()
        self.proc.wait(10)


def overhead(bundle: Path, work: Path, objects: int, frames: int) -> dict:
    under = NodeUnderTest(bundle, work, objects)
    try:
        images = [scene(objects, seed=s) for s in range(3)]
        under.wait_for_model(images[0])
        detector = Detector(bundle, device="cpu", score_threshold=0.0, max_instances=objects)
        trips, raw, n_inst = [], [], []
        for i in range(frames + WARMUP):  # node and raw forward interleaved: same machine load
            rgb = images[i % len(images)]
            t0 = time.perf_counter()
            key = under.send(rgb)
            if not under.wait(lambda: key in under.got, 30):
                continue
            trip = under.got[key][0] - t0
            fn = raw_forward_fn(detector, rgb)
            t0 = time.perf_counter()
            fn()
            if i >= WARMUP:
                trips.append(trip)
                raw.append(time.perf_counter() - t0)
                n_inst.append(under.got[key][1])
        sent = under.stamp
        under.wait(lambda: int(under.diag.get("frames_timed", 0)) >= sent, 10)
        d = under.diag
        return {"in_node_ratio_p50": float(d["overhead_ratio_p50"]),
                "in_node_latency_ms_p50": float(d["latency_p50_ms"]),
                "in_node_model_forward_ms_p50": float(d["model_forward_p50_ms"]),
                "in_node_frames": int(d["frames_timed"]),
                "round_trip_ms_p50": 1e3 * statistics.median(trips),
                "raw_forward_here_ms_p50": 1e3 * statistics.median(raw),
                "round_trip_ratio_p50": statistics.median(trips) / statistics.median(raw),
                "instances_per_frame": statistics.median(n_inst), "frames": len(trips)}
    finally:
        under.close()


def sustained(bundle: Path, work: Path, rate: float, seconds: float, transport: str = "raw") -> dict:
    under = NodeUnderTest(bundle, work, 1, transport)
    try:
        frame = scene(1)
        under.wait_for_model(frame)
        under.got.clear()
        sent: dict[int, float] = {}

        def make_msg(i):
            msg = under.frame_msg(frame, 10_000 + i)
            sent[msg.header.stamp.sec * 1_000_000_000] = time.perf_counter()
            return msg

        feeder = Feeder(under.node, under.pub, make_msg, under.proc.pid)
        feeder.run(rate, seconds)
        under.wait(lambda: any(k in under.got for k in list(sent)[-3:]), 10)
        lat = sorted(under.got[k][0] - sent[k] for k in under.got if k in sent)
        rss = growth([(t, m) for t, m, _ in feeder.samples], min(10.0, seconds / 3))
        pick = lambda q: 1e3 * lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")  # noqa: E731
        return {"rate_hz_sent": len(sent) / seconds, "processed_per_s": len(lat) / seconds,
                "drop_rate": 1 - len(lat) / max(1, len(sent)), "latency_ms_p50": pick(0.5),
                "latency_ms_p99": pick(0.99), "rss_mb_start": rss["start"], "rss_mb_end": rss["end"],
                "rss_growth_mb": rss["growth"], "rss_peak_mb": rss["peak"],
                "rss_slope_mb_per_min": rss["slope_per_min"],
                "seconds": seconds, "node_diagnostics": under.diag,
                "rss_mb_over_time": [(round(t, 1), round(m, 1)) for t, m, _ in feeder.samples]}
    finally:
        under.close()


def transports(bundle: Path, work: Path, rate: float, seconds: float) -> dict:
    """Raw, compressed, raw: the compressed figures over the mean of the two raw runs."""
    runs = [sustained(bundle, work, rate, seconds, t) for t in ("raw", "compressed", "raw")]
    keep = ("rate_hz_sent", "processed_per_s", "drop_rate", "latency_ms_p50", "latency_ms_p99")
    raw = {k: (runs[0][k] + runs[2][k]) / 2 for k in keep}
    comp = {k: runs[1][k] for k in keep}
    return {"raw_runs": [{k: r[k] for k in keep} for r in (runs[0], runs[2])], "raw_mean": raw,
            "compressed": comp, "seconds_each": seconds,
            "ratio_compressed_over_raw": {k: comp[k] / raw[k] for k in
                                          ("processed_per_s", "latency_ms_p50", "latency_ms_p99")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=30, help="frames per overhead measurement")
    ap.add_argument("--seconds", type=float, default=60.0, help="sustained phase duration")
    ap.add_argument("--rate", type=float, default=30.0, help="sustained publish rate (Hz)")
    ap.add_argument("--transport-seconds", type=float, default=30.0, help="each transport run's duration")
    ap.add_argument("--phases", default="overhead,sustained,transport", help="which phases to run")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "detector_node.json")
    args = ap.parse_args(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    info = machine()
    print_machine(info)
    work = Path(tempfile.mkdtemp(prefix="automask_bench_"))
    bundle = untrained_bundle(work / "bundle", ARCH, min_size=480, max_size=640)
    results = {"machine": info, "overhead": {}, "sustained": {}}
    rclpy.init()
    try:
        phases = set(args.phases.split(","))
        for objects in (1, 10) if "overhead" in phases else ():
            r = overhead(bundle, work, objects, args.frames)
            results["overhead"][f"{objects}_object"] = r
            print(f"overhead {objects:>2} object(s), {r['instances_per_frame']:.0f} instances/frame: in the node "
                  f"(receipt -> publish) {r['in_node_latency_ms_p50']:.0f} ms over model() "
                  f"{r['in_node_model_forward_ms_p50']:.0f} ms, ratio {r['in_node_ratio_p50']:.3f}; round trip "
                  f"over DDS {r['round_trip_ms_p50']:.0f} ms over model() here {r['raw_forward_here_ms_p50']:.0f} ms, "
                  f"ratio {r['round_trip_ratio_p50']:.3f} ({r['frames']} frames)", flush=True)
        if "transport" in phases:
            t = results["transport"] = transports(bundle, work, args.rate, args.transport_seconds)
            r, c, q = t["raw_mean"], t["compressed"], t["ratio_compressed_over_raw"]
            print(f"transport {args.rate:.0f} Hz, {args.transport_seconds:.0f} s each: raw {r['processed_per_s']:.2f} "
                  f"frames/s, p50 {r['latency_ms_p50']:.0f} ms; compressed {c['processed_per_s']:.2f} frames/s, "
                  f"p50 {c['latency_ms_p50']:.0f} ms; compressed/raw: rate {q['processed_per_s']:.3f}, latency "
                  f"p50 {q['latency_ms_p50']:.3f}, p99 {q['latency_ms_p99']:.3f}", flush=True)
        if "sustained" not in phases:
            return write_result(args.json, results) or 0
        s = results["sustained"] = sustained(bundle, work, args.rate, args.seconds)
        print(f"sustained {args.rate:.0f} Hz for {args.seconds:.0f} s: {s['processed_per_s']:.1f} frames/s "
              f"processed, drop rate {s['drop_rate']:.1%} (newest-frame policy), latency p50 "
              f"{s['latency_ms_p50']:.0f} ms p99 {s['latency_ms_p99']:.0f} ms, RSS {s['rss_mb_start']:.0f} -> "
              f"{s['rss_mb_end']:.0f} MB ({s['rss_slope_mb_per_min']:+.2f} MB/min after warm-up)")
    finally:
        rclpy.try_shutdown()
    write_result(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
