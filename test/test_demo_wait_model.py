"""The demo waits for the detector to serve the *new* model: keyed on the bundle's model_id, as
a retrained model may reuse the folder (and so the path) of the one being served."""

import pytest
import rclpy

from automask.msg import ModelInfo
from automask_ros.ros.demo_driver import DemoDriver, DemoError
from _util import untrained_bundle  # benchmarks/, on the path from conftest

pytestmark = pytest.mark.ros
ARCH = "maskrcnn_mobilenet_v3_fpn"


def bundle(path, model_id):
    return untrained_bundle(path, ARCH, ["mug"], model_id=model_id, score=0.5)


def test_same_folder_new_model_is_waited_for(tmp_path):
    path = bundle(tmp_path / "model", "first")
    rclpy.init()
    try:
        driver = DemoDriver(detector="wait_model_test_detector")
        driver.model_info = ModelInfo(model_path=str(path), model_id="first")
        assert driver.wait_model(str(path), timeout=1).model_id == "first"
        bundle(tmp_path / "model", "retrained")  # the trainer writes into the same folder
        with pytest.raises(DemoError, match="retrained"):
            driver.wait_model(str(path), timeout=0.5)  # the detector still serves "first"
        driver.model_info = ModelInfo(model_path=str(path), model_id="retrained")
        assert driver.wait_model(str(path), timeout=1).model_id == "retrained"
        driver.destroy_node()
    finally:
        rclpy.shutdown()
