"""Trainer node: a ~/train action that fine-tunes Mask R-CNN in a child process.

Feedback (phase, epoch, loss, progress, ETA) is sent at least every `feedback_period_s`.
On success the new bundle is announced transient-local on /automask/model, which the detector
node hot-reloads. Cancelling stops training cleanly; its last checkpoint stays on disk.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import threading
import time

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from automask.action import Train
from automask.msg import ModelInfo
from automask_ros.core.training.augment import AugmentConfig
from automask_ros.core.training.train_job import TrainingJob
from automask_ros.ros.params import DEVICE_CHOICES, Param, declare, values
from automask_ros.ros.spin import spin_node

PARAMS = [
    Param("output_root", "automask_models", "folder for new bundles when a goal names no output_dir"),
    Param("preset", "cpu", "cpu (MobileNetV3-FPN, trains from scratch on a CPU) or gpu (R50-FPN v2)",
          choices=("cpu", "gpu")),
    Param("base_model", "", "default initial weights: none, coco, a weights file or a bundle folder"),
    Param("epochs", 0, "default epochs; 0 = the preset's", 0, 100000),
    Param("max_minutes", 0.0, "default wall-clock budget in minutes; 0 = none", 0.0, 1e6),
    Param("paste", AugmentConfig.paste, "probability that a sample becomes a copy-paste composite on another "
          "scene; 0 = train on the sweeps as they are", 0.0, 1.0),
    Param("procedural", AugmentConfig.procedural, "paste onto procedural clutter scenes among procedural "
          "distractor shapes (besides the workspace, backgrounds and the sweeps' negatives)"),
    Param("backgrounds", "", "folder of more photos for copy-paste (the dataset's workspace/ is always used)"),
    Param("distractors", "", "comma-separated sweeps of OTHER objects, pasted unlabelled as hard negatives"),
    Param("device", "auto", "auto (CUDA when present), cpu or cuda[:N]", choices=DEVICE_CHOICES),
    Param("holdout_every", 6, "every k-th kept view of each sweep is held out for evaluation", 0, 1000),
    Param("min_size", 0, "training image short side; 0 = the preset's", 0, 4096),
    Param("threads", 0, "torch CPU threads in the training process; 0 = torch's default", 0, 256),
    Param("model_topic", "/automask/model", "where new models are announced (transient-local)",
          read_only=True),
    Param("feedback_period_s", 1.0, "action feedback period", 0.05, 60.0),
]
# rclpy forgets a finished goal after result_timeout (default 10 s); a result set later is lost
# (KeyError in rclpy) and a client that asks later gets UNKNOWN. Keep results for a while.
RESULT_KEPT_S = 600
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def goal_to_config(goal, p: dict) -> dict:
    """Train goal + node parameters -> training options for TrainConfig.from_options (goal values
    win when set; 0 and "" mean unset, as None does there)."""
    out = goal.output_dir or os.path.join(p["output_root"], dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    config = {"data": list(goal.datasets), "out": out, "preset": p["preset"], "device": p["device"],
              "holdout_every": p["holdout_every"], "force": bool(goal.force)}
    weights = goal.base_model or p["base_model"]
    optional = {"weights": weights or None, "epochs": goal.epochs or p["epochs"] or None,
                "max_minutes": goal.max_minutes or p["max_minutes"] or None,
                "backgrounds": p["backgrounds"] or None, "min_size": p["min_size"] or None,
                "paste": p["paste"], "procedural": p["procedural"],
                "distractors": [d.strip() for d in p["distractors"].split(",") if d.strip()] or None,
                "threads": p["threads"] or None}
    config.update({k: v for k, v in optional.items() if v is not None})
    return config


class TrainerNode(Node):
    executor_threads = 4  # the Train action blocks its callback for the whole run (ros/spin.py)

    def __init__(self, **kwargs):
        super().__init__("trainer_node", **kwargs)
        declare(self, PARAMS)
        self.p = values(self, PARAMS)
        self.add_post_set_parameters_callback(lambda _: setattr(self, "p", values(self, PARAMS)))
        self._busy = threading.Lock()
        self._current_goal = ""
        self.pub_model = self.create_publisher(ModelInfo, self.p["model_topic"], LATCHED)
        self.server = ActionServer(self, Train, "~/train", execute_callback=self._execute,
                                   goal_callback=lambda _: GoalResponse.ACCEPT,
                                   cancel_callback=lambda _: CancelResponse.ACCEPT,
                                   callback_group=ReentrantCallbackGroup(),
                                   result_timeout=RESULT_KEPT_S)
        self.get_logger().info("ready: send a Train goal to ~/train")

    def _execute(self, goal_handle) -> Train.Result:
        goal = goal_handle.request
        if not self._busy.acquire(blocking=False):
            # accepted then aborted (not rejected) so that the client gets the reason in the result
            goal_handle.abort()
            return Train.Result(success=False, message=f"busy: goal {self._current_goal} is training; "
                                "wait for it or cancel it first")
        try:
            self._current_goal = bytes(goal_handle.goal_id.uuid).hex()[:8]
            if not goal.datasets:
                goal_handle.abort()
                return Train.Result(success=False, message="no datasets in the goal: list sweep folders "
                                    "or dataset roots in `datasets`")
            config = goal_to_config(goal, self.p)
            self.get_logger().info(f"training on {', '.join(config['data'])} -> {config['out']}")
            job = TrainingJob(config).start()
            try:
                return self._run(goal_handle, job)
            finally:
                job.kill()  # no orphaned training process if anything above failed
        finally:
            self._busy.release()

    def _run(self, goal_handle, job: TrainingJob) -> Train.Result:
        period = self.p["feedback_period_s"]
        cancelled_at = None
        while not job.done:
            job.poll(timeout=period)
            goal_handle.publish_feedback(self._feedback(job.latest))
            if goal_handle.is_cancel_requested and cancelled_at is None:
                self.get_logger().info("cancel requested: stopping after the current iteration")
                job.cancel()
                cancelled_at = time.monotonic()
            if cancelled_at is not None and time.monotonic() - cancelled_at > 120:
                job.kill()  # a child that ignores the stop request must not hold the node
        job.join(10)
        r = job.result
        metrics = r.get("metrics", {})
        result = Train.Result(success=r["success"], message=r["message"], model_path=r["bundle"],
                              mask_ap=float(metrics.get("segm_AP", math.nan)),
                              mask_ap50=float(metrics.get("segm_AP50", math.nan)))
        if cancelled_at is not None or r.get("cancelled"):
            goal_handle.canceled()
        elif r["success"]:
            self._announce(r["bundle"], result)  # first: it imports torch (10 s on a busy CPU)
            goal_handle.succeed()
        else:
            self.get_logger().error(f"training failed: {r['message']}")
            goal_handle.abort()
        return result

    def _feedback(self, p: dict) -> Train.Feedback:
        return Train.Feedback(phase=str(p.get("phase", "")), epoch=int(p.get("epoch") or 0),
                              epochs=int(p.get("epochs") or 0), loss=float(p.get("loss") or math.nan),
                              progress=float(p.get("progress") or 0.0), eta_s=float(p.get("eta_s") or math.nan))

    def _announce(self, bundle: str, result: Train.Result) -> None:
        from automask_ros.core.training.bundle import read_bundle_meta

        meta = read_bundle_meta(bundle)
        msg = ModelInfo(model_path=os.path.abspath(bundle), model_id=str(meta.get("model_id", "")),
                        labels=list(meta.get("labels", [])), arch=str(meta.get("arch", "")),
                        mask_ap=result.mask_ap, mask_ap50=result.mask_ap50)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_model.publish(msg)
        self.get_logger().info(f"new model {msg.model_id} announced on {self.p['model_topic']}")


def main(args=None) -> int:
    return spin_node(TrainerNode, args)
