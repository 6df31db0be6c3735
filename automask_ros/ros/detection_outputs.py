"""The detector's 3D and vision_msgs outputs, built from the same instances as ~/instances.

    ~/markers        visualization_msgs/MarkerArray   box + label per instance with 3D (when subscribed)
    ~/points         sensor_msgs/PointCloud2          instance points, depth frame (when subscribed)
    ~/detections     vision_msgs/Detection2DArray     every frame        } only when vision_msgs
    ~/detections_3d  vision_msgs/Detection3DArray     frames with depth  } can be imported
    ~/detections_mask  sensor_msgs/Image mono16       detection index + 1 per pixel (when subscribed)
    ~/label_info     vision_msgs/LabelInfo            transient-local, per loaded model
"""

from __future__ import annotations

from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from automask_ros.ros.cloud import to_cloud
from automask_ros.ros.image_conversion import numpy_to_imgmsg
from automask_ros.ros.markers import to_markers

try:
    from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo

    from automask_ros.ros import vision
except ImportError:  # pragma: no cover - a ROS installation without vision_msgs
    vision = None


class DetectionOutputs:
    def __init__(self, node, latched_qos, create_publisher=None):
        """create_publisher: for the per-frame outputs (a lifecycle node passes its
        create_lifecycle_publisher, so they publish only while it is active)."""
        create = create_publisher or node.create_publisher
        self.markers = create(MarkerArray, "~/markers", 10)
        self.points = create(PointCloud2, "~/points", qos_profile_sensor_data)
        if vision is not None:
            self.det2d = create(Detection2DArray, "~/detections", 10)
            self.det3d = create(Detection3DArray, "~/detections_3d", 10)
            self.det_mask = create(Image, "~/detections_mask", qos_profile_sensor_data)
            self.label_info = node.create_publisher(LabelInfo, "~/label_info", latched_qos)

    def announce_labels(self, header, labels, threshold: float) -> None:
        if vision is not None:
            self.label_info.publish(vision.to_label_info(header, labels, threshold))

    def publish(self, instances, header, depth_header, image_size: tuple[int, int]) -> None:
        """header: the colour frame's; depth_header: the paired depth frame's (None = no 3D this frame).
        3D outputs are in the depth frame; markers are cleared on every frame, depth or not."""
        frame_3d = depth_header if depth_header is not None else header
        if self.markers.get_subscription_count() > 0:
            self.markers.publish(to_markers(frame_3d, instances))
        if depth_header is not None and self.points.get_subscription_count() > 0:
            self.points.publish(to_cloud(depth_header, instances))
        if vision is None:
            return
        self.det2d.publish(vision.to_detections_2d(header, instances))
        if depth_header is not None:
            self.det3d.publish(vision.to_detections_3d(depth_header, instances))
        if self.det_mask.get_subscription_count() > 0:
            width, height = image_size
            self.det_mask.publish(numpy_to_imgmsg(vision.instance_label_image(instances, height, width),
                                                  "mono16", header))
