"""Launch files, checked statically for machines without the upstream `launch` packages
(test_launch_real.py runs them for real): every executable and config file they name is
installed by CMakeLists.txt, and every argument is declared."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
CMAKE = (ROOT / "CMakeLists.txt").read_text()


def calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def kwarg(call, key):
    for kw in call.keywords:
        if kw.arg == key and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return None


def test_the_four_launch_files_exist():
    assert {p.name for p in LAUNCH_FILES} >= {"capture.launch.py", "detect.launch.py",
                                               "train.launch.py", "demo.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_installed_things(path):
    tree = ast.parse(path.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)
    installed = set(re.findall(r"bin/(\w+)", CMAKE))
    nodes = calls(tree, "automask_node")
    assert nodes, f"{path.name} starts no automask node"
    for node in nodes:
        exe = node.args[0].value
        assert exe in installed, f"{path.name}: executable {exe} is not installed by CMakeLists.txt"
        assert (ROOT / "bin" / exe).is_file()
    assert "install(DIRECTORY launch config DESTINATION share/${PROJECT_NAME})" in CMAKE
    for call in calls(tree, "config_file"):
        name = call.args[0].value
        assert (ROOT / "config" / name).is_file(), f"{path.name}: config/{name} missing"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_launch_argument_used_is_declared(path):
    tree = ast.parse(path.read_text())
    declared = {c.args[0].value for c in calls(tree, "DeclareLaunchArgument")}
    declared |= {"rviz"} if calls(tree, "rviz") else set()
    declared |= {"fastdds_profile"} if calls(tree, "fastdds_profile_argument") else set()
    used = {c.args[0].value for c in calls(tree, "LaunchConfiguration")}
    for node in calls(tree, "automask_node"):  # params file and overrides name launch arguments
        if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value:
            used.add(node.args[1].value)
        overrides = next((kw.value for kw in node.keywords if kw.arg == "overrides"), None)
        used |= {v.value for v in getattr(overrides, "values", [])}
    assert used <= declared, f"{path.name}: undeclared arguments {used - declared}"
    assert {"rviz", "params_file"} & declared or path.name == "train.launch.py"
    for call in calls(tree, "DeclareLaunchArgument"):
        assert kwarg(call, "description"), f"{path.name}: {call.args[0].value} has no description"


def test_node_executables_import_their_main():
    for exe in sorted((ROOT / "bin").glob("*_node")):
        module = re.search(r"from (automask_ros\.ros\.\w+) import main", exe.read_text()).group(1)
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{exe.name}: {module} missing"
