"""Declare a node's parameters in one place, with descriptions and ranges that ROS enforces.

A value outside its range is refused by rclpy itself with a reason (e.g. `ros2 param set
/detector_node score_threshold 2.0` -> "Setting parameter failed: ... not within range").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    read_only: bool = False
    string_list: bool = False  # for list defaults that may be empty
    choices: tuple = ()  # the only values allowed (strings); refused with the list otherwise


def device_choice(value: str) -> bool:
    """auto, cpu, cuda or cuda:N: what core/ accepts as a torch device."""
    head, _, index = str(value).partition(":")
    return head in ("auto", "cpu", "cuda") and (not index or (head == "cuda" and index.isdigit()))


DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N")


def refusal(p: Param, value) -> str:
    """Why `value` is not allowed for `p` ("" = allowed). Ranges are rclpy's job."""
    if not p.choices:
        return ""
    ok = device_choice(value) if p.choices == DEVICE_CHOICES else value in p.choices
    return "" if ok else f"{p.name} {value!r}: use {', '.join(p.choices)}"


def _descriptor(p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=p.read_only)
    if p.min is not None or p.max is not None:
        lo = p.min if p.min is not None else -1e308
        hi = p.max if p.max is not None else 1e308
        if isinstance(p.default, bool):
            pass
        elif isinstance(p.default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(min(hi, 2**62)), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return d


def declare(node: Node, params: list[Param]) -> None:
    """Declare every parameter (YAML files and -p overrides apply on top of the defaults).

    Values outside `choices` are refused with a reason, at run time and at start-up alike (the
    check is registered first, so a bad YAML value fails the declaration with one line)."""
    checked = {p.name: p for p in params if p.choices}

    def check(changed) -> SetParametersResult:
        for param in changed:
            reason = refusal(checked[param.name], param.value) if param.name in checked else ""
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    if checked:
        node.add_on_set_parameters_callback(check)
    for p in params:
        default = Parameter.Type.STRING_ARRAY if p.string_list and not p.default else p.default
        node.declare_parameter(p.name, default, _descriptor(p))


def values(node: Node, params: list[Param]) -> dict[str, Any]:
    """Current values as a plain dict, for passing to core/."""
    out = {}
    for p in params:
        try:
            value = node.get_parameter(p.name).value
        except ParameterUninitializedException:  # an empty list declared by type only
            value = []
        out[p.name] = [v for v in value if v] if p.string_list else value
    return out


def markdown_table(params: list[Param]) -> str:
    """A parameter reference table (docs/parameters.md is generated from the nodes' lists)."""
    rows = ["| parameter | default | range | meaning |", "|---|---|---|---|"]
    for p in params:
        span = "" if p.min is None and p.max is None else \
            f"{'' if p.min is None else p.min} .. {'' if p.max is None else p.max}"
        default = '""' if p.default == "" else p.default
        note = " (read-only)" if p.read_only else ""
        note += f" One of: {', '.join(p.choices)}." if p.choices else ""
        rows.append(f"| `{p.name}` | `{default}` | {span} | {p.description}{note} |")
    return "\n".join(rows)
