"""The architecture's two rules, checked on the source: core/ imports no ROS, and no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "automask_ros" / "core"
ROS_MODULES = ("rclpy", "rosidl", "automask.", "sensor_msgs", "std_msgs", "std_srvs", "vision_msgs",
               "geometry_msgs", "builtin_interfaces", "launch", "cv_bridge")


def _module_name(path: Path) -> str:
    rel = path.relative_to(CORE.parent.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _statements(tree: ast.AST, top_level: bool):
    """Every node, or (top_level) every node outside function bodies: what runs at import time."""
    for node in ast.iter_child_nodes(tree):
        if top_level and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        yield from _statements(node, top_level)


def _imports(path: Path, top_level: bool = False) -> set[str]:
    """Absolute names of what a file imports (relative imports resolved); top_level: only at import
    time, not the deferred imports inside functions."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rsplit(".", 1)[0]
    found = set()
    for node in _statements(ast.parse(path.read_text(encoding="utf-8")), top_level):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def test_core_is_arranged_by_stage_and_imports_no_ros():
    files = sorted(CORE.rglob("*.py"))
    assert {p.name for p in CORE.iterdir() if p.is_dir() and not p.name.startswith("__")} == {
        "capture", "training", "detection", "demo", "shared"}
    assert not [p for p in CORE.glob("*.py") if p.name != "__init__.py"], "core/ modules live in a stage folder"
    offenders = {str(p.relative_to(CORE)): sorted(n for n in _imports(p) if n.startswith(ROS_MODULES))
                 for p in files}
    assert not {k: v for k, v in offenders.items() if v}, "core/ must not import ROS"


def test_core_has_no_import_cycles():
    """Module-level imports only: a deferred import inside a function (segment.make_segmenter
    loads depth_segment on demand) runs after both modules exist."""
    modules = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph = {name: {m for m in _imports(path, top_level=True) if m in modules and m != name and not modules[m].name == "__init__.py"}
             for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [node, nxt]))
            if not state.get(nxt):
                visit(nxt, stack + [node])
        state[node] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name, [])
    assert len(graph) > 40  # the scan really saw core/
