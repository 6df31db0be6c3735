"""diagnostic_msgs for a node's figures: one DiagnosticStatus with a KeyValue per figure."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


def diagnostic_array(name: str, hardware_id: str, ok: bool, message: str, figures: dict, stamp) -> DiagnosticArray:
    """OK or WARN status `name` with the figures as strings (floats with 3 decimals)."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id, message=message,
                              level=DiagnosticStatus.OK if ok else DiagnosticStatus.WARN)
    status.values = [KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
                     for k, v in figures.items()]
    diag = DiagnosticArray(status=[status])
    diag.header.stamp = stamp
    return diag
