"""Instances with 3D -> visualization_msgs/MarkerArray: a box and a label per instance for RViz.

Every array starts with a DELETEALL marker, so boxes of objects that left the view disappear at
the next frame instead of lingering. The frame is the depth image's, so RViz places the boxes
with the camera's TF like the point cloud.
"""

from __future__ import annotations

from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from automask_ros.core.detection.overlay import colour_for


def _colour(class_id: int, alpha: float) -> ColorRGBA:
    r, g, b = colour_for(class_id - 1)  # as the overlay colours by class
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=alpha)


def to_markers(header, instances) -> MarkerArray:
    """DELETEALL, then per instance with 3D a translucent CUBE (ns 'boxes') and a TEXT label
    (ns 'labels') above it; marker ids are the instance's index in the InstanceArray."""
    out = MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])
    for index, inst in enumerate(instances):
        g = getattr(inst, "geometry", None)
        if g is None or not g.has_3d:
            continue
        box = Marker(header=header, ns="boxes", id=index, type=Marker.CUBE, action=Marker.ADD,
                     color=_colour(inst.class_id, 0.35))
        box.pose.position = Point(x=float(g.box_center[0]), y=float(g.box_center[1]), z=float(g.box_center[2]))
        box.pose.orientation.w = 1.0
        box.scale.x, box.scale.y, box.scale.z = (max(float(v), 0.005) for v in g.size)
        label = Marker(header=header, ns="labels", id=index, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD,
                       color=_colour(inst.class_id, 1.0), text=f"{inst.label} {inst.score:.2f} "
                                                              f"z={g.position[2]:.2f} m")
        # above the box: -y is up in an optical frame
        label.pose.position = Point(x=float(g.position[0]), y=float(g.box_center[1] - g.size[1] / 2 - 0.03),
                                    z=float(g.position[2]))
        label.pose.orientation.w = 1.0
        label.scale.z = 0.04
        out.markers += [box, label]
    return out
