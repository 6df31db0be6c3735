"""Every capture setting, declared once: default, range and description (core/shared/param_spec.py).

`CaptureParams` holds the sweep's own settings and the clean-up's as a `cleanup: CleanupParams`
field (core/capture/cleanup.py), never a copy of them. Outside Python the parameters are one flat set of
names (ROS parameters, config/capture.yaml, `--params` files, sweep.json): `from_dict`,
`to_dict` and `flat_fields` translate. The capture node declares them, `automask capture` builds
its flags from them, `capture_yaml()` writes config/capture.yaml.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from .cleanup import CleanupParams
from ..shared.param_spec import check_ranges, coerce, param
from .segment import SEGMENTERS


@dataclass
class CaptureParams:
    """The sweep's settings (segmenter, frame selection, stop, gates, negatives, QA) + clean-up."""

    dataset_root: str = param("automask_data", "folder sweeps are written to (CLI: --out)")
    segmenter: str = param("auto", "auto (geometry from depth when the camera gives it, fused with the "
                           "u2net FCN and the difference from the empty frame once one is seen), u2net, "
                           "torchvision, background, depth, fused or fused-torchvision")
    model_path: str = param("", "u2net: ONNX file (empty = the bundled U^2-Net-p); torchvision: weights "
                            "(DEFAULT/enum name, .pth file or automask bundle)")
    torchvision_arch: str = param("lraspp_mobilenet_v3_large", "torchvision backend architecture")
    torchvision_classes: list = param([], "VOC class names that count as object (empty = every non-background class)")
    seg_threads: int = param(2, "CPU threads for the segmenter (onnxruntime intra-op / torch)", 1, 64)
    fcn_weight: float = param(0.2, "fused: weight of the FCN against background evidence (0..1)", 0.0, 1.0)
    bg_threshold: float = param(25.0, "background: colour distance (grey levels) that is 50% object", 0.0, 255.0)
    # depth (core/capture/depth_segment.py): the object is what stands on the turntable top
    min_height_m: float = param(0.006, "depth: object points stand at least this far above the turntable top "
                                "(and at least 3 sigma of the sensor noise at their range)", 0.0, 1.0)
    max_height_m: float = param(0.6, "depth: ... and at most this far (taller things are not the object)", 0.01, 10.0)
    turntable_radius_m: float = param(0.0, "depth: radius of the turntable top in metres; 0 = estimate it", 0.0, 5.0)
    # frame selection and revolution
    step_deg: float = param(5.0, "keep a frame each time the turntable has turned this far", 0.1, 180.0)
    turntable_period_s: float = param(0.0, "seconds per revolution, to infer the angle from time (0 = unknown)",
                                      0.0, 3600.0)
    min_change: float = param(0.001, "no angle known: fraction of thumbnail pixels changed by > 8 grey levels "
                              "that makes a new view (thins only near-duplicates; raise it to thin a video)", 0.0, 1.0)
    revolutions: float = param(1.0, "stop after this many turns when the angle is known", 0.1, 10.0)
    loop_closure: bool = param(True, "no angle known: stop when the view returns to the first kept one")
    loop_min_frames: int = param(12, "loop closure needs at least this many kept frames", 1, 10000)
    loop_depart: float = param(0.03, "loop closure needs the view to have changed this much from the first", 0.0, 1.0)
    loop_close: float = param(0.005, "loop closed when the change from the first kept view drops to this, "
                              "or to half the typical change between consecutive kept views", 0.0, 1.0)
    max_frames: int = param(0, "stop after this many kept frames (0 = no limit)", 0, 1000000)
    max_duration_s: float = param(0.0, "stop after this many seconds of stream time (0 = no limit)", 0.0, 1000000.0)
    # quality gates
    min_area_frac: float = param(0.002, "mask smaller than this fraction of the frame = no object", 0.0, 1.0)
    max_area_frac: float = param(0.9, "reject masks larger than this fraction of the frame", 0.0, 1.0)
    max_area_jump: float = param(0.35, "reject when the area changes by more than this fraction of the previous "
                                 "kept frame's", 0.0, 100.0)
    max_border_contact: float = param(0.5, "reject when this fraction of the frame border is object (a mask "
                                      "leaking into the background)", 0.0, 1.0)
    max_components: int = param(6, "reject when the FCN mask breaks into more significant blobs than this", 1, 1000)
    min_iou_prev: float = param(0.5, "reject when IoU with the previous kept mask is below this", 0.0, 1.0)
    reanchor_after: int = param(4, "after this many rejections in a row, accept the new look (no temporal gates)",
                                0, 1000)
    # negatives
    empty_frames: int = param(1, "the first N frames of a sweep show the empty turntable (negatives and background "
                              "reference): start each sweep before putting the object on. Recorded files "
                              "(automask capture) assume 0 unless given", 0, 1000)
    negatives_before: int = param(3, "empty-turntable frames to store before the object appears", 0, 1000)
    negatives_after: int = param(0, "empty-turntable frames to store after the revolution (object removed)", 0, 1000)
    after_timeout_s: float = param(10.0, "stop waiting for the after-negatives after this long", 0.0, 3600.0)
    # clean-up (core/capture/cleanup.py): its fields appear here, flat, in config/capture.yaml and as ROS parameters
    cleanup: CleanupParams = field(default_factory=CleanupParams)
    # QA
    contact_sheet: bool = param(True, "write contact_sheet.png (kept frames with masks, rejections) at the end")

    @staticmethod
    def flat_fields() -> list:
        """Every parameter as a dataclass Field, in config/capture.yaml order (clean-up's in place)."""
        out = []
        for f in fields(CaptureParams):
            out += fields(CleanupParams) if f.name == "cleanup" else [f]
        return out

    @classmethod
    def from_dict(cls, d: dict | None) -> "CaptureParams":
        """Build from a flat dict (ROS parameters or YAML); unknown keys and bad types are errors."""
        d = dict(d or {})
        defaults = cls().to_dict()
        unknown = sorted(set(d) - set(defaults))
        if unknown:
            raise ValueError(f"unknown capture parameter(s) {', '.join(unknown)}: see config/capture.yaml "
                             "for the known ones")
        values = {k: coerce(k, v, defaults[k], "capture parameter") for k, v in d.items()}
        cleanup_names = {f.name for f in fields(CleanupParams)}
        params = cls(cleanup=CleanupParams(**{k: v for k, v in values.items() if k in cleanup_names}),
                     **{k: v for k, v in values.items() if k not in cleanup_names})
        params.validate()
        return params

    def validate(self) -> None:
        check_ranges(self, "capture parameter")
        if self.segmenter.lower() not in SEGMENTERS:
            raise ValueError(f"unknown segmenter {self.segmenter!r}: choose {', '.join(SEGMENTERS)}")
        self.cleanup.validate()

    def to_dict(self) -> dict:
        """The flat parameter set (sweep.json records it)."""
        out = {}
        for name, value in asdict(self).items():
            out.update(value if name == "cleanup" else {name: value})
        return {f.name: out[f.name] for f in self.flat_fields()}

    def segmenter_kwargs(self) -> dict:
        """The keywords core/segment.make_segmenter takes for this `segmenter` name."""
        name = self.segmenter.lower()
        u2net = {"threads": self.seg_threads, **({"model_path": self.model_path} if self.model_path else {})}
        tv = {"arch": self.torchvision_arch, "weights": self.model_path or "DEFAULT",
              "classes": list(self.torchvision_classes) or None, "threads": self.seg_threads}
        bg = {"threshold": self.bg_threshold}
        depth = {"min_height_m": self.min_height_m, "max_height_m": self.max_height_m,
                 "radius_m": self.turntable_radius_m}
        roi = self.cleanup.roi_or_none()
        single = {"u2net": {**u2net, "roi": roi}, "torchvision": {**tv, "roi": roi}, "background": bg, "depth": depth}
        if name in single:
            return single[name]
        return {"fcn_params": tv if name == "fused-torchvision" else u2net, "background_params": bg,
                "fcn_weight": self.fcn_weight, "depth_params": depth, "roi": roi}


def source_defaults(kind: str, thin: bool = False) -> dict:
    """Capture parameters a recorded source implies unless the user sets them. No file is known to
    start with the empty turntable (empty_frames 0; the live node's default is 1). A folder of
    stills is a set of chosen views: keep every frame (no appearance thinning, no loop closure; the
    quality gates still apply). Videos and bags are streams: thin near-duplicates. thin=True
    treats a folder like a stream."""
    out = {"empty_frames": 0}
    if kind == "images" and not thin:
        out.update(min_change=0.0, loop_closure=False)
    return out


def capture_yaml(params: CaptureParams | None = None) -> str:
    """config/capture.yaml text: every parameter with its value and a comment."""
    values = (params or CaptureParams()).to_dict()
    lines = ["# Capture node parameters (automask_ros/core/capture/capture_params.py CaptureParams, with the clean-up's",
             "# from core/capture/cleanup.py CleanupParams). `automask capture --params FILE` reads the same keys",
             "# (flat, or under capture_node.ros__parameters).",
             "capture_node:", "  ros__parameters:"]
    for f in CaptureParams.flat_fields():
        value = values[f.name]
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = f'"{value}"'
        elif isinstance(value, list):
            text = "[" + ", ".join(repr(v) if not isinstance(v, str) else f'"{v}"' for v in value) + "]"
        else:
            text = repr(value)
        lines.append(f"    {f.name}: {text}".ljust(40) + f"  # {f.metadata.get('doc', '')}")
    return "\n".join(lines) + "\n"
