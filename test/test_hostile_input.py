"""Hostile input (issue 7): Image messages, sweep files and model bundles from a stranger.

Every reader must fail with the project's own error (ImageCodecError, DatasetError, BundleError),
never hang, never allocate for an absurd size, never run pickled code, and never let a label or
a file name reach outside the dataset root. Fuzzed with hypothesis; real files on disk.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from trainutil import draw  # noqa: E402
from _util import untrained_bundle  # noqa: E402  (benchmarks/, on the path from conftest)

from automask_ros.core.shared import image_codec  # noqa: E402
from automask_ros.core.training.bundle import BundleError, load_bundle, read_bundle_meta  # noqa: E402
from automask_ros.core.shared.camera import Intrinsics  # noqa: E402
from automask_ros.core.shared.depth import DepthFrame  # noqa: E402
from automask_ros.core.capture.dataset import (DatasetError, SweepWriter, load_sweep, sanitize_label,  # noqa: E402
                                       sweep_stats, validate_sweep)
from automask_ros.core.shared.image_codec import ENCODINGS, MAX_PIXELS, ImageCodecError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))

# JSON values of every kind, nested: what a corrupted or hand-edited file may hold.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def mutate(data, draw_path, value):
    """A deep copy of data with the element at draw_path (a list of keys/indices) set to value,
    or removed when value is the sentinel `mutate.DELETE`."""
    data = copy.deepcopy(data)
    node = data
    for key in draw_path[:-1]:
        node = node[key]
    if value is mutate.DELETE:
        del node[draw_path[-1]]
    else:
        node[draw_path[-1]] = value
    return data


mutate.DELETE = object()


def paths_of(data, prefix=()):
    """Every (path) to a nested element of a JSON document."""
    out = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out.extend(paths_of(value, prefix + (key,)))
    return out


@st.composite
def mutations(draw, doc):
    """doc with 1-3 random elements replaced by random JSON values or deleted."""
    for _ in range(draw(st.integers(1, 3))):
        where = paths_of(doc)
        if not where:
            break
        path = draw(st.sampled_from(where))
        value = draw(st.just(mutate.DELETE) | json_values)
        doc = mutate(doc, list(path), value)
    return doc


# ---------------------------------------------------------------- Image messages
@settings(max_examples=400, deadline=None)
@given(encoding=st.sampled_from(sorted(ENCODINGS)) | st.text(max_size=8),
       height=st.integers(0, 2**32 - 1), width=st.integers(0, 2**32 - 1), step=st.integers(0, 2**32 - 1),
       bigendian=st.booleans(), data=st.binary(max_size=256))
def test_image_decode_refuses_garbage_with_its_own_error(encoding, height, width, step, bigendian, data):
    """Any header/data combination (uint32 fields as in sensor_msgs/Image): pixels or ImageCodecError."""
    start = time.perf_counter()
    try:
        pixels = image_codec.decode(encoding, height, width, step, bigendian, data)
    except ImageCodecError:
        pass
    else:
        assert pixels.shape[:2] == (height, width) and pixels.nbytes <= len(data)
        try:
            rgb = image_codec.to_rgb8(pixels, encoding)
            assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
        except ImageCodecError:
            pass
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("height,width", [(2**31, 2**31), (200_000, 200_000), (1, MAX_PIXELS + 1)])
def test_absurd_image_sizes_are_refused_before_allocating(height, width):
    """A corrupt header naming terabytes fails at once (a tracemalloc peak shows no big buffer)."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(ImageCodecError, match="exceeds|truncated"):
            image_codec.decode("rgb8", height, width, width * 3, False, b"\0" * 64)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


# ---------------------------------------------------------------- sweep files
@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile_sweeps")
    writer = SweepWriter(root, "disc", sweep_id="s1")
    depth = DepthFrame(np.full((48, 48), 0.9, np.float32), Intrinsics(50.0, 50.0, 24.0, 24.0, 48, 48))
    for view in range(3):  # with depth, so that depth_file and intrinsics are mutated too
        image, mask = draw("disc", view, 48)
        writer.add_frame(image, mask, angle_deg=view * 120.0, source=view, depth=depth)
    writer.add_frame(draw("disc", 9, 48)[0], None, source="neg")
    writer.reject("mask too small", source=7)
    return writer.finish()


def write_sweep(base: Path, coco, meta) -> Path:
    """A sweep folder holding the real images of sweep_dir and the given JSON documents."""
    for sub in ("images", "masks", "depth"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "annotations.json").write_text(coco if isinstance(coco, str) else json.dumps(coco))
    (base / "sweep.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    return base


def check_dataset_readers(path: Path) -> None:
    """load_sweep raises only DatasetError; validate_sweep returns a list of strings; a sweep
    that loads never names a file outside its folder."""
    try:
        sweep = load_sweep(path)
    except DatasetError:
        pass
    else:
        for image in sweep.images:
            for key in ("file_name", "depth_file"):
                target = (sweep.path / (image.get(key) or ".")).resolve()
                assert target.is_relative_to(sweep.path.resolve()), image[key]
            try:
                sweep.depth(image)
            except DatasetError:
                pass
    problems = validate_sweep(path)
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    try:  # `automask dataset stats`
        json.dumps(sweep_stats(path))
    except DatasetError:
        pass


@FUZZ
@given(data=st.data())
def test_mutated_coco_json_gives_only_dataset_errors(sweep_dir, tmp_path_factory, data):
    coco = json.loads((sweep_dir / "annotations.json").read_text())
    meta = json.loads((sweep_dir / "sweep.json").read_text())
    bad = data.draw(mutations(coco))
    base = tmp_path_factory.mktemp("coco")
    for sub in ("images", "masks", "depth"):
        (base / sub).mkdir()
        for f in (sweep_dir / sub).iterdir():
            os.link(f, base / sub / f.name)
    check_dataset_readers(write_sweep(base, bad, meta))


@FUZZ
@given(data=st.data())
def test_mutated_sweep_json_gives_only_dataset_errors(sweep_dir, tmp_path_factory, data):
    coco = json.loads((sweep_dir / "annotations.json").read_text())
    meta = json.loads((sweep_dir / "sweep.json").read_text())
    bad = data.draw(mutations(meta) | json_values)
    check_dataset_readers(write_sweep(tmp_path_factory.mktemp("meta"), coco, bad))


@FUZZ
@given(text=st.text(max_size=64) | st.binary(max_size=64).map(lambda b: b.decode("latin-1")))
def test_random_json_text_gives_only_dataset_errors(tmp_path_factory, text):
    base = tmp_path_factory.mktemp("text")
    check_dataset_readers(write_sweep(base, text, text))


@FUZZ
@given(name=st.text(max_size=40) | st.sampled_from(
    ["../../etc/passwd", "/etc/passwd", "images/../../x.png", "images/./../../x", "\x00", "~/x", "C:\\x",
     "images/" + "../" * 8 + "etc", "//server/share"]))
def test_coco_file_names_never_leave_the_sweep_folder(sweep_dir, tmp_path_factory, name):
    coco = json.loads((sweep_dir / "annotations.json").read_text())
    coco["images"][0]["file_name"] = name
    coco["images"][1]["depth_file"] = name
    check_dataset_readers(write_sweep(tmp_path_factory.mktemp("names"), coco, {}))


@FUZZ
@given(label=st.text(max_size=80) | st.sampled_from(["..", ".", "../x", "a/../..", "/abs", "~", "a\x00b",
                                                    "..\\..\\x", "\u2025", "a" * 65, " .. "]))
def test_labels_never_escape_the_dataset_root(tmp_path_factory, label):
    """Any StartSweep label is refused with DatasetError or becomes one plain folder under the root."""
    root = tmp_path_factory.mktemp("root")
    try:
        name = sanitize_label(label)
    except DatasetError:
        return
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}", name) and ".." not in name
    writer = SweepWriter(root, label, sweep_id="s")
    assert writer.path.resolve().parent.parent == root.resolve()


# ---------------------------------------------------------------- model bundles
ARCH = "maskrcnn_mobilenet_v3_fpn"


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    return untrained_bundle(tmp_path_factory.mktemp("bundle") / "b", ARCH, ["disc"], model_id="m1",
                            min_size=64, max_size=96, score=0.5, force=False)


def copy_bundle(src: Path, dst: Path, model_json=None, model_pt: bytes | None = None) -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    if model_pt is None:
        os.link(src / "model.pt", dst / "model.pt")
    else:
        (dst / "model.pt").write_bytes(model_pt)
    text = (src / "model.json").read_text() if model_json is None else \
        model_json if isinstance(model_json, str) else json.dumps(model_json)
    (dst / "model.json").write_text(text)
    return dst


@FUZZ
@given(data=st.data())
def test_mutated_model_json_gives_only_bundle_errors(bundle_dir, tmp_path_factory, data):
    meta = json.loads((bundle_dir / "model.json").read_text())
    bad = data.draw(mutations(meta) | json_values | st.text(max_size=30))
    path = copy_bundle(bundle_dir, tmp_path_factory.mktemp("meta"), model_json=bad)
    try:
        read_bundle_meta(path)
    except BundleError:
        pass


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_loading_a_mutated_bundle_gives_only_bundle_errors(bundle_dir, tmp_path_factory, data):
    """The full load (model built from model.json, weights from model.pt): mutated description."""
    meta = json.loads((bundle_dir / "model.json").read_text())
    targeted = st.fixed_dictionaries({}).flatmap(lambda _: st.sampled_from(
        [("input",), ("input", "min_size"), ("input", "max_size"), ("labels",), ("labels", 0), ("arch",),
         ("model_kwargs",), ("thresholds",)]))
    path_key = data.draw(targeted)
    value = data.draw(json_values | st.just(mutate.DELETE))
    if path_key == ("model_kwargs",):
        meta["model_kwargs"] = {}
    try:
        bad = mutate(meta, list(path_key), value)
    except (KeyError, IndexError, TypeError):
        return
    path = copy_bundle(bundle_dir, tmp_path_factory.mktemp("load"), model_json=bad)
    try:
        load_bundle(path)
    except BundleError:
        pass


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_or_corrupted_model_pt_gives_only_bundle_errors(bundle_dir, tmp_path_factory, data):
    real = (bundle_dir / "model.pt").read_bytes()
    if data.draw(st.booleans()):
        blob = data.draw(st.binary(max_size=2048))
    else:  # the real file with a few bytes flipped or cut short
        blob = bytearray(real)
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
        blob = bytes(blob[: data.draw(st.integers(len(blob) // 2, len(blob)))])
    path = copy_bundle(bundle_dir, tmp_path_factory.mktemp("pt"), model_pt=blob)
    try:
        load_bundle(path)
    except BundleError:
        pass


class _Payload:
    """Unpickling this creates the marker file: proof that pickled code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("how", ["torch.save", "plain pickle"])
def test_a_pickle_payload_in_model_pt_never_runs(bundle_dir, tmp_path, how):
    marker = tmp_path / "PWNED"
    evil = {"backbone.body.0.0.weight": _Payload(marker)}
    target = copy_bundle(bundle_dir, tmp_path / "evil")
    (target / "model.pt").unlink()
    if how == "torch.save":
        torch.save(evil, target / "model.pt")
    else:
        (target / "model.pt").write_bytes(pickle.dumps(evil))
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(target)
    assert not marker.exists(), "unpickling ran code from the bundle"


def test_a_pickle_payload_in_a_training_checkpoint_never_runs(tmp_path):
    """`automask train --resume` reads checkpoint/last.pt: same rule (weights_only=True)."""
    from automask_ros.core.training.train import TrainConfig, TrainError, train
    from trainutil import make_sweep

    data = make_sweep(tmp_path / "data", "disc", views=4, size=48, negatives=0)
    marker = tmp_path / "PWNED"
    ckpt = tmp_path / "out" / "checkpoint" / "last.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"model": _Payload(marker)}, ckpt)
    with pytest.raises(TrainError, match="cannot read checkpoint"):
        train(TrainConfig(data=[str(data)], out=str(tmp_path / "out"), resume=True, epochs=1,
                          min_size=48, max_size=64, threads=1, holdout_every=0))
    assert not marker.exists()


# ---------------------------------------------------------------- no shell
SHELL_PATTERNS = re.compile(r"shell\s*=\s*True|os\.system\s*\(|os\.popen\s*\(|subprocess\.getoutput|"
                            r"subprocess\.getstatusoutput|os\.exec[lv]p?e?\s*\(|pickle\.loads?\s*\(|"
                            r"yaml\.load\s*\((?![^)]*SafeLoader)|(?<![.\w])eval\s*\(|(?<![.\w])exec\s*\(")


def test_nothing_runs_a_shell_or_unpickles_user_text():
    """The package never hands text to a shell, eval/exec, pickle or an unsafe YAML loader."""
    hits = []
    for path in sorted((ROOT / "automask_ros").rglob("*.py")) + sorted((ROOT / "launch").glob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if SHELL_PATTERNS.search(code):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)
    assert len(list((ROOT / "automask_ros").rglob("*.py"))) > 20  # the scan really saw the package
