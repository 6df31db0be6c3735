"""Parameters declared once: a dataclass field carries its default, its description and its range.

The capture node declares ROS parameters from these fields (rclpy then refuses an out-of-range
`ros2 param set`), `automask capture` builds its flags from them, config/capture.yaml and
docs/parameters.md are generated from them, and `check_ranges` refuses the same values from YAML
or the CLI with one line.
"""

from __future__ import annotations

from dataclasses import field, fields


def param(default, doc: str, lo: float | None = None, hi: float | None = None):
    """A dataclass field with its description and its allowed range [lo, hi]."""
    meta = {"doc": doc, "min": lo, "max": hi}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def coerce(name: str, value, default, what: str = "parameter"):
    """`value` as the type of `default` (bool, int, float, str or list); a clear error otherwise."""
    kind = type(default)
    try:
        if kind is bool:
            if not isinstance(value, (bool, int)) or value not in (0, 1, True, False):
                raise TypeError
            return bool(value)
        if kind is list:
            return [] if value in (None, "") else list(value)
        if kind is str:
            return str(value)
        if isinstance(value, bool):
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} {name}={value!r} must be a {kind.__name__}") from None


def check_ranges(obj, what: str = "parameter") -> None:
    """Refuse a field outside its declared range, naming the range to use."""
    for f in fields(obj):
        lo, hi, value = f.metadata.get("min"), f.metadata.get("max"), getattr(obj, f.name)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ValueError(f"{what} {f.name}={value} is out of range: use {lo} .. {hi}")
