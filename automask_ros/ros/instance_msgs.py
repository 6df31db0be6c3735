"""core Instance lists <-> automask/InstanceArray, with box-sized mono8 mask crops and 3D fields."""

from __future__ import annotations

import math

import numpy as np

from automask.msg import Instance as InstanceMsg, InstanceArray
from automask_ros.core.detection.instance3d import Geometry3D
from automask_ros.ros.image_conversion import numpy_to_imgmsg


def box_to_roi(box, width: int, height: int) -> tuple[int, int, int, int]:
    """Float (x0, y0, x1, y1) -> integer (x, y, w, h) covering it, clamped to the image."""
    x0 = max(0, min(width - 1, int(math.floor(box[0]))))
    y0 = max(0, min(height - 1, int(math.floor(box[1]))))
    x1 = max(x0 + 1, min(width, int(math.ceil(box[2]))))
    y1 = max(y0 + 1, min(height, int(math.ceil(box[3]))))
    return x0, y0, x1 - x0, y1 - y0


def to_instance_array(instances, header, model_id: str, image_size: tuple[int, int]) -> InstanceArray:
    """Build the message; `image_size` is (width, height) of the source frame."""
    width, height = image_size
    out = InstanceArray(header=header, model_id=model_id)
    for inst in instances:
        x, y, w, h = box_to_roi(inst.box, width, height)
        msg = InstanceMsg(label=inst.label, class_id=int(inst.class_id), score=float(inst.score))
        msg.box.x_offset, msg.box.y_offset, msg.box.width, msg.box.height = x, y, w, h
        crop = np.ascontiguousarray(inst.mask[y:y + h, x:x + w], dtype=np.uint8) * 255
        msg.mask = numpy_to_imgmsg(crop, "mono8", header)
        g = getattr(inst, "geometry", None)
        if g is not None:
            msg.depth_valid_fraction = float(g.valid_fraction)
            if g.has_3d:  # otherwise position and size stay zero: never a made-up position
                msg.has_3d = True
                msg.position.x, msg.position.y, msg.position.z = (float(v) for v in g.position)
                msg.size.x, msg.size.y, msg.size.z = (float(v) for v in g.size)
        out.instances.append(msg)
    return out


def mask_from_instance(msg: InstanceMsg, width: int, height: int) -> np.ndarray:
    """Paste an Instance's box-sized mask back into a full-frame HxW bool mask."""
    full = np.zeros((height, width), bool)
    b = msg.box
    crop = np.frombuffer(bytes(msg.mask.data), np.uint8).reshape(msg.mask.height, msg.mask.width)
    full[b.y_offset:b.y_offset + b.height, b.x_offset:b.x_offset + b.width] = crop > 127
    return full


def geometry_from_instance(msg: InstanceMsg) -> Geometry3D:
    """The 3D fields of an automask/Instance back as Geometry3D; position and size only when has_3d."""
    if not msg.has_3d:
        return Geometry3D(False, float(msg.depth_valid_fraction))
    return Geometry3D(True, float(msg.depth_valid_fraction),
                      position=np.array([msg.position.x, msg.position.y, msg.position.z]),
                      size=np.array([msg.size.x, msg.size.y, msg.size.z]))
