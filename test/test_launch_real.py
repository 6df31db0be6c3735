"""Every launch file run through the real launch.LaunchService (upstream launch and launch_ros,
built from ../shared/vendor into .vendor/), with its documented arguments, as a ROS user runs
it. Each test checks the nodes, topics, services, actions and parameters it makes, stops it
with Ctrl-C, and checks that no process is left behind and that nothing died or printed a
traceback. test_launch_files.py keeps a static check for machines without the vendor packages.
"""

import pytest
import rclpy

pytest.importorskip("launch_ros", reason="upstream launch_ros is absent: scripts/setup_vendor.sh "
                                          "builds it from ../shared/vendor")
from ament_index_python.packages import PackageNotFoundError, get_package_prefix  # noqa: E402

from launch_run import Graph, Launch  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def graph():
    rclpy.init()
    node = rclpy.create_node("launch_test_probe")
    try:
        yield Graph(node)
    finally:
        node.destroy_node()
        rclpy.shutdown()


@pytest.fixture
def start(tmp_path):
    launches = []

    def run(launch_file: str, *args: str, **kwargs) -> Launch:
        launches.append(Launch(launch_file, list(args), tmp_path, **kwargs))
        return launches[-1]

    yield run
    for launch in launches:
        launch.kill_all()


def stop_cleanly(launch: Launch) -> None:
    launch.ctrl_c()
    out = launch.output()
    assert launch.leftovers() == [], f"processes left behind:\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    assert "process has died" not in out, out[-3000:]


def yaml_params(path, node: str, **values) -> str:
    lines = [f"{node}:", "  ros__parameters:"] + [f"    {k}: {v!r}" if isinstance(v, str) else
                                                   f"    {k}: {v}" for k, v in values.items()]
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return str(path)


def test_capture_launch_arguments_reach_the_node(start, graph):
    """A numeric-looking dataset_root stays a string; topics follow the documented arguments;
    the DDS profile reaches our node, not the launch process (so not other processes)."""
    launch = start("capture.launch.py", "dataset_root:=2025", "image_topic:=/cam/rgb",
                   "angle_topic:=/tt/deg", "joint_states_topic:=/tt/joints", "image_transport:=compressed",
                   unset=("FASTDDS_DEFAULT_PROFILES_FILE",))
    graph.wait_node("capture_node", launch=launch)
    assert graph.params("capture_node", ["dataset_root", "step_deg", "image_transport"]) == {
        "dataset_root": "2025", "step_deg": 5.0, "image_transport": "compressed"}
    want = {"/capture_node/start_sweep", "/capture_node/stop_sweep"}
    assert want <= graph.services("capture_node", want)
    want = {"/capture_node/status", "/capture_node/mask_preview"}
    assert want <= graph.publishers("capture_node", want)
    want = {"/cam/rgb/compressed", "/tt/deg", "/tt/joints"}
    assert want <= graph.subscriptions("capture_node", want)
    assert "FASTDDS_DEFAULT_PROFILES_FILE" not in launch.environ(launch.proc.pid)
    profile = launch.environ(launch.pid_of("capture_node"))["FASTDDS_DEFAULT_PROFILES_FILE"]
    assert profile.endswith("config/fastdds.xml")
    stop_cleanly(launch)


def test_capture_params_file_wins_over_launch_defaults(start, graph, tmp_path):
    params = yaml_params(tmp_path / "mine.yaml", "capture_node", dataset_root="/data/sweeps", step_deg=7.5)
    launch = start("capture.launch.py", f"params_file:={params}")
    graph.wait_node("capture_node", launch=launch)
    assert graph.params("capture_node", ["dataset_root", "step_deg"]) == {
        "dataset_root": "/data/sweeps", "step_deg": 7.5}
    want = {"/camera/image_raw", "/turntable/angle", "/turntable/joint_states"}
    assert want <= graph.subscriptions("capture_node", want)
    stop_cleanly(launch)


def test_detect_launch(start, graph, tmp_path):
    """model_path from the command line (numeric-looking), device from the user's file."""
    params = yaml_params(tmp_path / "mine.yaml", "detector_node", model_path="/models/from_file",
                         device="cpu", max_instances=7)
    launch = start("detect.launch.py", f"params_file:={params}", "model_path:=2025",
                   "image_topic:=/cam/rgb")
    graph.wait_node("detector_node", launch=launch)
    assert graph.params("detector_node", ["model_path", "device", "max_instances"]) == {
        "model_path": "2025", "device": "cpu", "max_instances": 7}
    want = {"/detector_node/instances", "/detector_node/overlay", "/detector_node/model_info"}
    assert want <= graph.publishers("detector_node", want)
    want = {"/cam/rgb", "/automask/model"}
    assert want <= graph.subscriptions("detector_node", want)
    stop_cleanly(launch)


def test_train_launch(start, graph, tmp_path):
    """output_root:=2025 used to kill the node (an INTEGER); base_model and device set in the
    user's file used to be replaced by the launch defaults."""
    params = yaml_params(tmp_path / "mine.yaml", "trainer_node", base_model="/models/base",
                         device="cpu", epochs=3)
    launch = start("train.launch.py", f"params_file:={params}", "output_root:=2025")
    graph.wait_node("trainer_node", launch=launch)
    assert graph.params("trainer_node", ["output_root", "base_model", "device", "epochs"]) == {
        "output_root": "2025", "base_model": "/models/base", "device": "cpu", "epochs": 3}
    assert "/trainer_node/train" in graph.actions("trainer_node", {"/trainer_node/train"})
    assert "/automask/model" in graph.publishers("trainer_node", {"/automask/model"})
    stop_cleanly(launch)


def test_demo_launch_nodes_alone(start, graph):
    launch = start("demo.launch.py", "run_demo:=false")
    for name in ("player_node", "capture_node", "trainer_node", "detector_node"):
        graph.wait_node(name, launch=launch)
    assert graph.params("player_node", ["autostart"]) == {"autostart": False}
    assert "/trainer_node/train" in graph.actions("trainer_node", {"/trainer_node/train"})
    assert "/image" in graph.publishers("player_node", {"/image"})
    stop_cleanly(launch)


def test_demo_ctrl_c_during_start_up_is_a_clean_stop(start, tmp_path):
    """Ctrl-C while every process is still importing: no traceback, nothing reported as died
    (the demo used to exit 130), nothing left behind."""
    import time

    launch = start("demo.launch.py", f"out:={tmp_path / 'demo'}")
    deadline = time.monotonic() + 60
    while launch.output().count("process started") < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert launch.output().count("process started") == 5, launch.output()[-3000:]
    time.sleep(1.0)
    stop_cleanly(launch)


@pytest.mark.parametrize("launch_file", ["capture.launch.py", "detect.launch.py", "demo.launch.py"])
def test_rviz_without_rviz2_stops_before_anything_starts(start, launch_file):
    try:
        get_package_prefix("rviz2")
        pytest.skip("rviz2 is installed here: the missing-rviz2 path cannot be exercised")
    except PackageNotFoundError:
        pass
    launch = start(launch_file, "rviz:=true", "run_demo:=false")
    assert launch.wait(60) != 0
    out = launch.output()
    assert "rviz2 is not installed" in out, out[-3000:]
    assert "process started" not in out, out[-3000:]
    assert launch.leftovers() == []
