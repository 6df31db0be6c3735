"""Model bundle: a folder with model.pt (state_dict only), model.json, metrics.json and curves.png.

model.json is written last, so a reader that sees it also sees the weights it describes. A
bundle only ever loads with torch.load(weights_only=True): no pickled code runs.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
from pathlib import Path

import torch
import torchvision

from ... import __version__
from ..shared.atomic import atomic_write_bytes, atomic_write_json
from .model import ARCHS, ModelError, build_model

FORMAT = "automask-bundle"
VERSION = 1
REQUIRED = ("model_id", "arch", "labels", "input", "thresholds")
MAX_SIDE = 8192  # model input side: larger is a corrupt model.json, not a camera


class BundleError(ValueError):
    """A bundle that cannot be read, written or used as asked; the message says what to do."""


def read_bundle_meta(path: str | Path) -> dict:
    """model.json of a bundle folder, checked for format, version and required keys."""
    path = Path(path)
    meta_path = path / "model.json"
    if not path.is_dir():
        raise BundleError(f"model bundle {path} is not a folder: give the folder written by automask train")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{meta_path} is missing: {path} is not an automask model bundle") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{meta_path} is not valid JSON ({exc}); re-export the bundle") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{meta_path} is not an automask bundle description (format != {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise BundleError(f"{meta_path} has bundle version {meta.get('version')}, this automask reads "
                          f"version {VERSION}: upgrade automask or re-train")
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise BundleError(f"{meta_path} lacks {', '.join(missing)}")
    if meta["arch"] not in ARCHS:
        raise BundleError(f"{meta_path} names unknown architecture {meta['arch']!r}")
    if not isinstance(meta["labels"], list) or not meta["labels"]:
        raise BundleError(f"{meta_path} has no labels")
    _check_fields(meta_path, meta)
    return meta


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fields(meta_path: Path, meta: dict) -> None:
    """Types and ranges of what the loader and the detector use, so a hand-edited or corrupt
    model.json fails here with one BundleError, not later deep in torchvision (or by allocating
    for an absurd input size)."""
    labels, size, thr = meta["labels"], meta["input"], meta["thresholds"]
    if not isinstance(meta["model_id"], str) or not meta["model_id"]:
        raise BundleError(f"{meta_path}: model_id must be a non-empty string")
    if not all(isinstance(x, str) and x for x in labels) or len(set(labels)) != len(labels):
        raise BundleError(f"{meta_path}: labels must be distinct non-empty names, got {labels!r}")
    if not isinstance(size, dict) or not all(
            isinstance(size.get(k), int) and not isinstance(size.get(k), bool) and 8 <= size[k] <= MAX_SIDE
            for k in ("min_size", "max_size")):
        raise BundleError(f"{meta_path}: input needs integer min_size and max_size in 8..{MAX_SIDE}, "
                          f"got {size!r}")
    if not isinstance(thr, dict) or not all(_number(thr.get(k, 0.5)) and 0.0 <= thr.get(k, 0.5) <= 1.0
                                            for k in ("score", "mask")):
        raise BundleError(f"{meta_path}: thresholds needs score and mask in 0..1, got {thr!r}")
    if not isinstance(meta.get("model_kwargs", {}), dict) or not isinstance(meta.get("metrics", {}), dict):
        raise BundleError(f"{meta_path}: model_kwargs and metrics must be JSON objects")


def save_bundle(out_dir: str | Path, model: torch.nn.Module, meta: dict, *, force: bool = False,
                metrics: dict | None = None, curves_png: bytes | None = None) -> Path:
    """Write a bundle; refuses a folder that holds a different bundle (other model_id) unless force.

    meta needs model_id, arch, labels, input {min_size, max_size} and thresholds {score, mask};
    format, version, versions and created are filled in here.
    """
    out = Path(out_dir)
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise BundleError(f"bundle description lacks {', '.join(missing)}")
    if out.exists() and not out.is_dir():
        raise BundleError(f"output {out} is a file, not a folder: choose a folder for the model")
    if (out / "model.json").exists() and not force:
        try:
            old_id = json.loads((out / "model.json").read_text(encoding="utf-8")).get("model_id")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            old_id = None
        if old_id != meta["model_id"]:
            raise BundleError(f"{out} already holds a different model bundle ({old_id}): "
                              "choose another --out or pass --force to overwrite it")
    out.mkdir(parents=True, exist_ok=True)
    full = {"format": FORMAT, "version": VERSION, **meta,
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                         "automask": __version__},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    full.setdefault("metrics", {})
    full.setdefault("datasets", [])
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    atomic_write_bytes(out / "model.pt", buf.getvalue())
    atomic_write_json(out / "metrics.json", metrics if metrics is not None else full["metrics"])
    if curves_png is not None:
        atomic_write_bytes(out / "curves.png", curves_png)
    atomic_write_json(out / "model.json", full)
    return out


def load_bundle(path: str | Path, device: str | torch.device = "cpu", *, labels: list[str] | None = None,
                arch: str | None = None, **model_kw) -> tuple[torch.nn.Module, dict]:
    """(model in eval mode on device, model.json). labels/arch, when given, must match the bundle."""
    path = Path(path)
    meta = read_bundle_meta(path)
    if arch is not None and arch != meta["arch"]:
        raise BundleError(f"bundle {path} is a {meta['arch']}, not the requested {arch}: "
                          f"use --preset/--arch {meta['arch']} or another base model")
    if labels is not None and list(labels) != list(meta["labels"]):
        raise BundleError(f"bundle {path} knows labels {meta['labels']}, expected {list(labels)}")
    kw = dict(meta.get("model_kwargs", {}))
    kw.update(model_kw)
    try:
        model = build_model(meta["arch"], len(meta["labels"]) + 1, min_size=int(meta["input"]["min_size"]),
                            max_size=int(meta["input"]["max_size"]), weights="none", **kw)
    except (KeyError, TypeError, ModelError) as exc:
        raise BundleError(f"cannot build the model that {path / 'model.json'} describes: {exc}") from None
    state = load_bundle_state(path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BundleError(f"{path / 'model.pt'} does not fit the {meta['arch']} with "
                          f"{len(meta['labels'])} labels described in model.json "
                          f"({_first_line(exc)}); re-export the bundle") from None
    return model.to(device).eval(), meta


def _first_line(exc: BaseException) -> str:
    """The first line of an error's text, or its type when the text is empty (EOFError())."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def load_bundle_state(path: str | Path) -> dict:
    """The raw state_dict of a bundle's model.pt (weights_only=True)."""
    weights = Path(path) / "model.pt"
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise BundleError(f"{weights} is missing: the bundle is incomplete, re-export it") from None
    except Exception as exc:
        raise BundleError(f"cannot read {weights} ({_first_line(exc)}); re-export the bundle") from None
    if not isinstance(state, dict):
        raise BundleError(f"{weights} does not hold a state_dict")
    return state
