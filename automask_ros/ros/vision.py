"""Instances -> vision_msgs (Detection2DArray, Detection3DArray, LabelInfo), for consumers that
speak vision_msgs instead of automask/InstanceArray.

vision_msgs' conventions: ObjectHypothesis.class_id is a string, here the decimal 1-based class id
that LabelInfo maps to the label name (published transient-local, once per model). Detection ids
are the instance's index in the InstanceArray of the same frame; vision_msgs has no mask field, so
the masks travel beside the detections as a label Image (`instance_label_image`: mono16, pixel =
index + 1, 0 = none) with the same header. Only imported when vision_msgs can be imported.
"""

from __future__ import annotations

import numpy as np
from vision_msgs.msg import (BoundingBox2D, BoundingBox3D, Detection2D, Detection2DArray, Detection3D,
                             Detection3DArray, LabelInfo, ObjectHypothesisWithPose, VisionClass)


def _hypothesis(inst) -> ObjectHypothesisWithPose:
    h = ObjectHypothesisWithPose()
    h.hypothesis.class_id, h.hypothesis.score = str(int(inst.class_id)), float(inst.score)
    return h


def to_detections_2d(header, instances) -> Detection2DArray:
    """Boxes (centre + size, pixels) and hypotheses of every instance."""
    out = Detection2DArray(header=header)
    for index, inst in enumerate(instances):
        x0, y0, x1, y1 = (float(v) for v in inst.box)
        bbox = BoundingBox2D(size_x=x1 - x0, size_y=y1 - y0)
        bbox.center.position.x, bbox.center.position.y = (x0 + x1) / 2, (y0 + y1) / 2
        out.detections.append(Detection2D(header=header, results=[_hypothesis(inst)], bbox=bbox, id=str(index)))
    return out


def to_detections_3d(header, instances) -> Detection3DArray:
    """Instances with valid 3D only: the box in the depth frame, the centroid as the hypothesis pose."""
    out = Detection3DArray(header=header)
    for index, inst in enumerate(instances):
        g = getattr(inst, "geometry", None)
        if g is None or not g.has_3d:
            continue
        h = _hypothesis(inst)
        p = h.pose.pose.position
        p.x, p.y, p.z = (float(v) for v in g.position)
        h.pose.pose.orientation.w = 1.0
        bbox = BoundingBox3D()
        c = bbox.center.position
        c.x, c.y, c.z = (float(v) for v in g.box_center)
        bbox.center.orientation.w = 1.0
        bbox.size.x, bbox.size.y, bbox.size.z = (float(v) for v in g.size)
        out.detections.append(Detection3D(header=header, results=[h], bbox=bbox, id=str(index)))
    return out


def to_label_info(header, labels, threshold: float) -> LabelInfo:
    """The class map: 1-based class id -> label, and the score threshold in use."""
    return LabelInfo(header=header, threshold=float(threshold),
                     class_map=[VisionClass(class_id=i + 1, class_name=str(name)) for i, name in enumerate(labels)])


def instance_label_image(instances, height: int, width: int) -> np.ndarray:
    """HxW uint16: detection index + 1 where its mask is, 0 elsewhere (later instances on top)."""
    out = np.zeros((height, width), np.uint16)
    for index, inst in enumerate(instances):
        out[inst.mask] = index + 1
    return out
