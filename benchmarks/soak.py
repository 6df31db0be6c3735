"""Soak (issue 7): the capture node and the detector node, each fed 640x480 at 30 Hz over DDS.

Both node processes run side by side for --minutes. Every --sample-s seconds this samples each
node's RSS and thread count, and probes that they still answer: the detector's get_parameters
service, the capture node's get_parameters and a ~/start_sweep that it must refuse (a sweep is
recording). Every --sweep-s the capture sweep is stopped and a new one started (a robot records
many sweeps; one endless sweep would grow its own frame list), and the finished sweep folder is
deleted to spare the disk. Reported: RSS and threads (start, end, growth after warm-up, slope),
drops, detector latency percentiles (publish -> InstanceArray received), probe answer times.
Exit code 1 when memory grows by more than --max-growth-mb after warm-up (the median of the
last fifth of the samples over the first fifth: a leak, not one frame in flight), a probe takes longer
than --max-answer-s (or never answers), or a node dies.

    python benchmarks/soak.py [--minutes 10] [--rate 30] [--json benchmarks/results/soak.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import rclpy
from rcl_interfaces.srv import GetParameters
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _feed import Feeder, growth, proc_status  # noqa: E402
from _util import ROOT, machine, print_machine, start_node, untrained_bundle  # noqa: E402

from automask.msg import InstanceArray, SweepStatus  # noqa: E402
from automask.srv import StartSweep  # noqa: E402
from automask_ros.core.demo.render import render_sweep  # noqa: E402
from automask_ros.ros.image_conversion import rgb_to_imgmsg  # noqa: E402

ARCH = "maskrcnn_mobilenet_v3_fpn"


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    a = np.asarray(values)
    return {"n": len(values), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


class Probes:
    """Asynchronous service calls whose answer times are recorded (inf = never answered)."""

    def __init__(self):
        self.pending: dict[str, list] = {}
        self.times: dict[str, list[float]] = {}

    def call(self, name: str, client, request, check=lambda r: True):
        """The call's future, or None when the service is not there."""
        if not client.service_is_ready():
            return None
        sent = time.monotonic()
        future = client.call_async(request)
        self.pending.setdefault(name, []).append(future)

        def done(f, name=name, sent=sent):
            ok = f.result() is not None and check(f.result())
            self.times.setdefault(name, []).append(time.monotonic() - sent if ok else float("inf"))
            self.pending[name].remove(f)

        future.add_done_callback(done)
        return future

    def unanswered(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.pending.items() if v}


def run_soak(args) -> dict:
    info = machine()
    print_machine(info)
    work = Path(tempfile.mkdtemp(prefix="automask_soak_"))

    bundle = untrained_bundle(work / "bundle", ARCH, min_size=480, max_size=640)
    frames = [f.rgb for f in render_sweep("mug", n_frames=36, size=(640, 480), seed=0, empty_frames=0)]
    msgs = [rgb_to_imgmsg(f) for f in frames]
    tag = uuid.uuid4().hex[:6]
    cap, det = f"soak_capture_{tag}", f"soak_detector_{tag}"
    procs = {
        "capture": start_node("capture_node", cap, [
            "-r", f"image:=/{cap}/camera", "-p", f"dataset_root:={work / 'data'}", "-p", "segmenter:=u2net",
            "-p", "seg_threads:=1", "-p", "loop_closure:=false", "-p", "negatives_before:=0",
            "-p", "empty_frames:=0", "-p", "min_change:=0.0", "-p", "camera_timeout_s:=30.0",
            "-p", "contact_sheet:=false", "-p", "status_rate_hz:=2.0"], work / "capture.log"),
        "detector": start_node("detector_node", det, [
            "-r", f"image:=/{det}/camera", "-p", f"model_path:={bundle}", "-p", "score_threshold:=0.0",
            "-p", "max_instances:=3"], work / "detector.log"),
    }
    rclpy.init()
    node = rclpy.create_node(f"soak_client_{tag}")
    pub = {k: node.create_publisher(Image, f"/{n}/camera", qos_profile_sensor_data)
           for k, n in (("capture", cap), ("detector", det))}
    sent: dict[int, float] = {}
    latency: list[float] = []
    answered: set[int] = set()
    sweeps: dict[str, int] = {}  # sweep path -> frames seen

    def on_instances(msg: InstanceArray) -> None:
        key = msg.header.stamp.sec
        if key in sent and key not in answered:
            answered.add(key)
            latency.append(time.perf_counter() - sent[key])

    def on_status(msg: SweepStatus) -> None:
        if msg.sweep_path:
            sweeps[msg.sweep_path] = max(sweeps.get(msg.sweep_path, 0), msg.frames_seen)

    node.create_subscription(InstanceArray, f"/{det}/instances", on_instances, 50)
    node.create_subscription(SweepStatus, f"/{cap}/status", on_status, 10)
    start = node.create_client(StartSweep, f"/{cap}/start_sweep")
    stop = node.create_client(Trigger, f"/{cap}/stop_sweep")
    params = {k: node.create_client(GetParameters, f"/{n}/get_parameters") for k, n in (("capture", cap),
                                                                                         ("detector", det))}
    probes = Probes()
    samples: dict[str, list[tuple[float, float, int]]] = {"capture": [], "detector": []}
    seconds = args.minutes * 60
    warmup = args.warmup_s if args.warmup_s is not None else min(120.0, seconds / 5)
    result: dict = {"machine": info, "minutes": args.minutes, "rate_hz": args.rate, "warmup_s": warmup}
    try:
        for k, client in params.items():
            assert client.wait_for_service(timeout_sec=120), f"{k} node did not start (see {work}/{k}.log)"
        deadline = time.monotonic() + 180  # the detector answers once its model has loaded
        while not latency and time.monotonic() < deadline:
            msg = msgs[0]
            msg.header.stamp.sec = -1 - len(sent)
            sent[msg.header.stamp.sec] = time.perf_counter()
            pub["detector"].publish(msg)
            end = time.monotonic() + 1.0
            while not latency and time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
        assert latency, "the detector never answered a frame"
        latency.clear()
        future = start.call_async(StartSweep.Request(label="mug"))
        rclpy.spin_until_future_complete(node, future, timeout_sec=30)
        assert future.result() and future.result().success, future.result()
        current = {"path": future.result().sweep_path, "since": 0.0, "rotating": False}
        done_paths: list[str] = []

        def make_msg(i: int) -> Image:
            msg = msgs[i % len(msgs)]
            msg.header.stamp.sec = i
            sent[i] = time.perf_counter()
            pub["detector"].publish(msg)  # the same frame to both nodes, at the same rate
            return msg

        def rotate(response) -> bool:
            return response.success

        def start_next() -> None:
            sent_at = time.monotonic()

            def started(f) -> None:
                r = f.result()
                probes.times.setdefault("capture/start_sweep", []).append(
                    time.monotonic() - sent_at if r and r.success else float("inf"))
                if r and r.success:
                    current["path"] = r.sweep_path
                current["rotating"] = False
            start.call_async(StartSweep.Request(label="mug")).add_done_callback(started)

        def on_tick(t: float) -> None:
            for k, p in procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{k} node died (exit {p.returncode}); see {work}/{k}.log")
                if k == "detector":  # the Feeder samples the capture node itself
                    rss, threads = proc_status(p.pid)
                    samples[k].append((t, rss, threads))
            for k, client in params.items():
                probes.call(f"{k}/get_parameters", client, GetParameters.Request(names=["use_sim_time"]),
                            lambda r: len(r.values) == 1)
            # a new sweep: stop, and start once the stop is answered, as a real client does; not in
            # the last seconds, where the soak's own shutdown would cut the answers off
            if not current["rotating"] and t - current["since"] >= args.sweep_s and seconds - t > 5.0:
                stopping = probes.call("capture/stop_sweep", stop, Trigger.Request(), rotate)
                if stopping is not None:
                    current["since"], current["rotating"] = t, True
                    done_paths.append(current["path"])
                    stopping.add_done_callback(lambda _: start_next())
            if not current["rotating"]:  # between stop and start no sweep records: nothing to refuse
                probes.call("capture/start_sweep (refused while recording)", start, StartSweep.Request(label="mug"),
                            lambda r: not r.success and "already recording" in r.message)
            for path in done_paths[:-1]:  # keep the newest finished sweep; free the disk of the rest
                shutil.rmtree(path, ignore_errors=True)
            del done_paths[:-1]

        feeder = Feeder(node, pub["capture"], make_msg, procs["capture"].pid, sample_period_s=args.sample_s)
        t0 = time.monotonic()
        feeder.run(args.rate, seconds, on_tick=on_tick)
        wall = time.monotonic() - t0
        end = time.monotonic() + 5  # last answers
        while time.monotonic() < end and probes.unanswered():
            rclpy.spin_once(node, timeout_sec=0.05)
        samples["capture"] = list(feeder.samples)
        stop_future = stop.call_async(Trigger.Request())
        rclpy.spin_until_future_complete(node, stop_future, timeout_sec=10)
        for k, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{k} node died (exit {p.returncode}); see {work}/{k}.log")

        frames_sent = feeder.sent
        result["frames_sent_per_node"] = frames_sent
        result["rate_hz_sent"] = frames_sent / wall
        seen = sum(sweeps.values())
        result["capture"] = {"frames_processed": seen, "frames_per_s": seen / wall,
                             "drop_rate": 1 - seen / max(1, frames_sent), "sweeps": len(sweeps)}
        lat_ms = [1e3 * v for v in latency]
        result["detector"] = {"frames_processed": len(latency), "frames_per_s": len(latency) / wall,
                              "drop_rate": 1 - len(latency) / max(1, frames_sent),
                              "latency_ms": percentiles(lat_ms)}
        for k in procs:
            result[k]["rss_mb"] = growth([(t, m) for t, m, _ in samples[k]], warmup)
            result[k]["threads"] = growth([(t, n) for t, _, n in samples[k]], warmup)
            result[k]["samples"] = [(round(t, 1), round(m, 1), n) for t, m, n in samples[k]]
        answers = {}
        for name, times in sorted(probes.times.items()):
            never = probes.unanswered().get(name, 0)
            answers[name] = {**percentiles([1e3 * t for t in times if np.isfinite(t)]),
                             "failed": sum(1 for t in times if not np.isfinite(t)) + never}
        result["answers_ms"] = answers
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(15)
            except Exception:  # noqa: BLE001 - a node that ignores SIGTERM is killed
                p.kill()
        shutil.rmtree(work / "data", ignore_errors=True)
    result["verdict"] = verdict(result, args)
    result["work_dir"] = str(work)
    return result


def verdict(r: dict, args) -> list[str]:
    """Failed criteria (empty = pass)."""
    bad = []
    for k in ("capture", "detector"):
        g = r[k]["rss_mb"]["growth"]
        if not g < args.max_growth_mb:
            bad.append(f"{k} RSS grew {g:.1f} MB after warm-up (limit {args.max_growth_mb} MB)")
        if r[k]["frames_processed"] == 0:
            bad.append(f"{k} processed no frames")
    for name, a in r["answers_ms"].items():
        if a["failed"]:
            bad.append(f"{name}: {a['failed']} calls unanswered or wrong")
        if a["max"] is not None and a["max"] > 1e3 * args.max_answer_s:
            bad.append(f"{name}: slowest answer {a['max']:.0f} ms (limit {1e3 * args.max_answer_s:.0f} ms)")
    if len(r["answers_ms"]) < 4:
        bad.append(f"only {len(r['answers_ms'])} kinds of probes were answered")
    return bad


def report(r: dict) -> None:
    print(f"soak: {r['minutes']:g} min, 640x480 at {r['rate_hz_sent']:.1f} Hz to each node "
          f"({r['frames_sent_per_node']} frames each), warm-up {r['warmup_s']:.0f} s")
    for k in ("capture", "detector"):
        s, m, t = r[k], r[k]["rss_mb"], r[k]["threads"]
        line = (f"  {k:8s} {s['frames_per_s']:.2f} frames/s processed, drop rate {s['drop_rate']:.1%} "
                f"(newest-frame policy); RSS {m['start']:.0f} -> {m['end']:.0f} MB, growth {m['growth']:.1f} MB "
                f"(peak {m['peak']:.1f} MB), slope {m['slope_per_min']:+.2f} MB/min; threads {t['start']:.0f} -> "
                f"{t['end']:.0f} (max +{t['peak']:.0f})")
        if k == "detector":
            lat = s["latency_ms"]
            line += f"; latency p50 {lat['p50']:.0f} ms, p90 {lat['p90']:.0f} ms, p99 {lat['p99']:.0f} ms"
        else:
            line += f"; {s['sweeps']} sweeps"
        print(line)
    for name, a in r["answers_ms"].items():
        mx = f"{a['max']:.0f}" if a["max"] is not None else "-"
        p50 = f"{a['p50']:.1f}" if a["p50"] is not None else "-"
        print(f"  answer {name:45s} n={a['n']:4d} p50 {p50} ms, max {mx} ms, failed {a['failed']}")
    print("PASS" if not r["verdict"] else "FAIL: " + "; ".join(r["verdict"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=30.0, help="frames per second to each node")
    ap.add_argument("--sample-s", type=float, default=3.0, help="RSS/threads sampling and probe period")
    ap.add_argument("--sweep-s", type=float, default=60.0, help="start a new capture sweep this often")
    ap.add_argument("--warmup-s", type=float, help="growth is measured after this (default: 20%%, at most 120 s)")
    ap.add_argument("--max-growth-mb", type=float, default=50.0)
    ap.add_argument("--max-answer-s", type=float, default=1.0)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    args = ap.parse_args(argv)
    r = run_soak(args)
    report(r)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(r, indent=1))
    print(f"wrote {args.json}")
    return 0 if not r["verdict"] else 1


if __name__ == "__main__":
    sys.exit(main())
