"""Instance points -> sensor_msgs/PointCloud2 with x, y, z (float32) and instance, class_id (uint32).

`instance` is the index into the InstanceArray of the same frame, so RViz can colour the cloud by
instance and a consumer can find each point's mask and label. The cloud is built with the real
`sensor_msgs_py.point_cloud2` when it can be imported (every ROS 2 installation), otherwise the
same bytes are written with numpy (test_cloud_msgs.py checks that both agree).
"""

from __future__ import annotations

import sys

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField

try:
    from sensor_msgs_py import point_cloud2 as _pc2
except ImportError:  # pragma: no cover - PyPI wheels without the vendored package
    _pc2 = None

FIELDS = [PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
          PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
          PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
          PointField(name="instance", offset=12, datatype=PointField.UINT32, count=1),
          PointField(name="class_id", offset=16, datatype=PointField.UINT32, count=1)]
DTYPE = np.dtype({"names": ["x", "y", "z", "instance", "class_id"],
                  "formats": ["<f4", "<f4", "<f4", "<u4", "<u4"], "offsets": [0, 4, 8, 12, 16], "itemsize": 20})


def instance_points(instances) -> np.ndarray:
    """The structured array of every instance's subsampled points (instances without 3D add none)."""
    parts = []
    for index, inst in enumerate(instances):
        geometry = getattr(inst, "geometry", None)
        if geometry is None or not geometry.has_3d or not len(geometry.points):
            continue
        part = np.zeros(len(geometry.points), DTYPE)
        part["x"], part["y"], part["z"] = geometry.points.T
        part["instance"], part["class_id"] = index, inst.class_id
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, DTYPE)


def cloud_numpy(header, points: np.ndarray) -> PointCloud2:
    """The message sensor_msgs_py.point_cloud2.create_cloud builds, written with numpy alone."""
    msg = PointCloud2(header=header, height=1, width=len(points), fields=FIELDS, is_dense=False,
                      is_bigendian=sys.byteorder != "little", point_step=DTYPE.itemsize,
                      row_step=DTYPE.itemsize * len(points))
    msg.data = np.ascontiguousarray(points, DTYPE).tobytes()
    return msg


def to_cloud(header, instances) -> PointCloud2:
    """One PointCloud2 of all instances' points, in the frame of `header` (the depth image's)."""
    points = instance_points(instances)
    if _pc2 is None:
        return cloud_numpy(header, points)
    return _pc2.create_cloud(header, FIELDS, points)
