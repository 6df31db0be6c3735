"""A real node process reads its parameters from a YAML file and -p overrides, and rejects
out-of-range values with a reason (over the real parameter services)."""

import os
import subprocess
import sys

import pytest
import rclpy
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient

from ros_process import ROOT, stop

pytestmark = pytest.mark.ros


@pytest.fixture
def detector_process(tmp_path):
    params = tmp_path / "detect.yaml"
    params.write_text((ROOT / "config" / "detect.yaml").read_text().replace(
        "max_instances: 20", "max_instances: 7").replace("detector_node:", "param_test_detector:"))
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bin" / "detector_node"), "--ros-args",
         "-r", "__node:=param_test_detector", "--params-file", str(params),
         "-p", "score_threshold:=0.25"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    yield proc
    stop(proc)


def _call(node, future, timeout=20.0):
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), "parameter service did not answer"
    return future.result()


def test_yaml_file_and_overrides_apply_and_ranges_are_enforced(detector_process):
    rclpy.init()
    node = rclpy.create_node("param_test_client")
    try:
        client = AsyncParameterClient(node, "param_test_detector")
        assert client.wait_for_services(timeout_sec=30), "detector node did not come up"
        result = _call(node, client.get_parameters(["score_threshold", "max_instances", "device"]))
        values = [parameter_value_to_python(v) for v in result.values]
        assert values == [0.25, 7, "auto"]  # -p override, YAML file, YAML file

        refused = _call(node, client.set_parameters([Parameter("score_threshold", value=1.5)]))
        assert not refused.results[0].successful
        assert "range" in refused.results[0].reason

        bad_device = _call(node, client.set_parameters([Parameter("device", value="tpu")]))
        assert not bad_device.results[0].successful
        assert "use auto, cpu, cuda" in bad_device.results[0].reason

        accepted = _call(node, client.set_parameters([Parameter("score_threshold", value=0.6)]))
        assert accepted.results[0].successful
    finally:
        node.destroy_node()
        rclpy.shutdown()


@pytest.mark.parametrize("override, expected", [
    ("preset:=tpu", "preset 'tpu': use cpu, gpu"),
    ("device:=cuda:x", "device 'cuda:x': use auto, cpu, cuda, cuda:N"),
    ("output_root:=2025", "output_root"),  # -p reads YAML: an INTEGER where a STRING is expected
])
def test_a_bad_start_up_parameter_is_one_line_not_a_traceback(override, expected):
    proc = subprocess.run([sys.executable, str(ROOT / "bin" / "trainer_node"), "--ros-args",
                           "-r", "__node:=param_test_trainer", "-p", override],
                          capture_output=True, text=True, env=dict(os.environ), timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Traceback" not in out and expected in out, out
