"""Bad input to the trainer: one clear error each, nothing written that could be mistaken for a model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from trainutil import draw, make_sweep  # noqa: E402

from automask_ros.cli import main as cli_main  # noqa: E402
from automask_ros.core.training.augment import AugmentConfig, composite  # noqa: E402
from automask_ros.core.training.bundle import BundleError, load_bundle, read_bundle_meta, save_bundle  # noqa: E402
from automask_ros.core.training.data import load_sweeps, split_by_view  # noqa: E402
from automask_ros.core.capture.dataset import DatasetError, SweepWriter  # noqa: E402
from automask_ros.core.training.model import ModelError, build_model  # noqa: E402
from automask_ros.core.training.train import TrainConfig, train  # noqa: E402

TINY = dict(min_size=64, max_size=96, threads=1, holdout_every=4)


def cli_error(args, capsys) -> str:
    """Run the CLI, expect exit code 2 and return its one-line error."""
    assert cli_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_empty_dataset(tmp_path, capsys):
    SweepWriter(tmp_path / "data", "disc", sweep_id="s").finish()
    err = cli_error(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m")], capsys)
    assert "empty" in err
    assert not (tmp_path / "m").exists()
    (tmp_path / "nothing").mkdir()
    assert "no sweeps" in cli_error(["train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "m")],
                                    capsys)


def test_no_annotations(tmp_path):
    writer = SweepWriter(tmp_path, "disc", sweep_id="s")
    writer.add_frame(draw("disc", 0, 64)[0], None)
    writer.finish()
    with pytest.raises(DatasetError, match="no annotated objects"):
        train(TrainConfig(data=[str(tmp_path)], out=str(tmp_path / "m"), **TINY))


def test_corrupt_json(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "data", "disc", views=2, size=64)
    (sweep / "annotations.json").write_text('{"images": [')
    err = cli_error(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m")], capsys)
    assert "not valid JSON" in err and "annotations.json" in err


def test_missing_image(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "data", "disc", views=2, size=64)
    (sweep / "images" / "000002.png").unlink()
    err = cli_error(["train", "--data", str(sweep), "--out", str(tmp_path / "m")], capsys)
    assert "missing image file" in err and "000002.png" in err


def test_missing_weights_file_and_unknown_arch(tmp_path, capsys):
    make_sweep(tmp_path / "data", "disc", views=2, size=64)
    err = cli_error(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m"),
                     "--weights", str(tmp_path / "nope.pt")], capsys)
    assert "nope.pt" in err
    with pytest.raises(ModelError, match="unknown architecture"):
        build_model("yolo", 2, min_size=64, max_size=64)
    with pytest.raises(ModelError, match="does not exist"):
        build_model("maskrcnn_mobilenet_v3_fpn", 2, min_size=64, max_size=64, weights=str(tmp_path / "x.pt"))


def test_out_dir_with_a_different_bundle_needs_force(tmp_path, capsys):
    make_sweep(tmp_path / "data", "disc", views=2, size=64)
    model = build_model("maskrcnn_mobilenet_v3_fpn", 2, min_size=64, max_size=64)
    meta = {"model_id": "other", "arch": "maskrcnn_mobilenet_v3_fpn", "labels": ["disc"],
            "input": {"min_size": 64, "max_size": 64}, "thresholds": {"score": 0.5, "mask": 0.5}}
    save_bundle(tmp_path / "m", model, meta)
    before = (tmp_path / "m" / "model.pt").read_bytes()
    err = cli_error(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "m")], capsys)
    assert "already holds a model bundle" in err and "--force" in err
    with pytest.raises(BundleError, match="different model bundle"):
        save_bundle(tmp_path / "m", model, dict(meta, model_id="third"))
    assert (tmp_path / "m" / "model.pt").read_bytes() == before
    err = cli_error(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "fresh"), "--resume"], capsys)
    assert "nothing to resume" in err


def test_corrupt_bundle_files(tmp_path, capsys):
    model = build_model("maskrcnn_mobilenet_v3_fpn", 2, min_size=64, max_size=64)
    meta = {"model_id": "a", "arch": "maskrcnn_mobilenet_v3_fpn", "labels": ["disc"],
            "input": {"min_size": 64, "max_size": 64}, "thresholds": {"score": 0.5, "mask": 0.5}}
    save_bundle(tmp_path / "b", model, meta)
    (tmp_path / "b" / "model.pt").write_bytes(b"not a torch file")
    with pytest.raises(BundleError, match="cannot read"):
        load_bundle(tmp_path / "b")
    (tmp_path / "b" / "model.json").write_text("{oops")
    with pytest.raises(BundleError, match="not valid JSON"):
        read_bundle_meta(tmp_path / "b")
    make_sweep(tmp_path / "data", "disc", views=2, size=64)
    err = cli_error(["eval", "--model", str(tmp_path / "b"), "--data", str(tmp_path / "data")], capsys)
    assert "model.json" in err
    # a bundle whose weights belong to another label count is refused, not half-loaded
    save_bundle(tmp_path / "c", build_model("maskrcnn_mobilenet_v3_fpn", 3, min_size=64, max_size=64),
                dict(meta, model_id="c"))
    with pytest.raises(BundleError, match="does not fit"):
        load_bundle(tmp_path / "c")


def test_split_is_by_view_and_keeps_negatives(tmp_path):
    make_sweep(tmp_path, "disc", views=12, size=64, negatives=4)
    sweeps = load_sweeps([tmp_path])
    train_s, val_s = split_by_view(sweeps, ["disc"], holdout_every=4)
    assert [s.image["source"] for s in val_s] == [2, 6, 10, "neg2"]
    assert sum(s.negative for s in train_s) == 3 and len(train_s) == 12
    assert split_by_view(sweeps, ["disc"], 0)[1] == []
    with pytest.raises(ValueError):
        split_by_view(sweeps, ["disc"], 1)


def test_copy_paste_handles_occlusion_in_the_masks():
    rng = np.random.default_rng(0)
    image, mask = draw("disc", 0, 64)
    other, other_mask = draw("block", 1, 64)
    background = np.full((200, 300, 3), 90, np.uint8)
    clutter, clutter_mask = draw("tri", 2, 64)
    cfg = AugmentConfig(paste=1.0, paste_objects=(4, 4), canvas=128, paste_size=(0.35, 0.45), min_visible=0.0,
                        min_pixels=1, distractors=(2, 2), blend=("none",), paste_rotate_deg=0, paste_light=0)
    canvas, masks, labels = composite(image, [mask], [1], background, lambda r: (other, other_mask, 2), cfg, rng,
                                      distractors=lambda r: (clutter, clutter_mask))
    assert canvas.shape == (128, 128, 3) and sorted(labels) == [1, 2, 2, 2]  # distractors stay unlabelled
    green = (canvas[..., 1] > 150) & (canvas[..., 0] < 100)
    assert green.any() and not any((m & green).any() for m in masks)  # no mask claims a distractor pixel
    total = np.zeros(canvas.shape[:2], int)
    for m in masks:
        total += m
    assert total.max() == 1  # no pixel belongs to two instances: the later paste owns it
    visible = masks[-1]
    assert np.all(canvas[visible].mean(axis=1) < 200)  # last-pasted object is drawn where its mask is


def test_coco_weights_that_are_not_cached_give_a_clear_error(monkeypatch, tmp_path):
    import urllib.request

    import torch

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    for arch in ("maskrcnn_resnet50_fpn_v2", "maskrcnn_mobilenet_v3_fpn", "maskrcnn_mobilenet_v3_fpn16",
                 "maskrcnn_mobilenet_v3_fpn8"):
        with pytest.raises(ModelError, match="not in the torch cache.*--weights none"):
            build_model(arch, 3, min_size=64, max_size=64, weights="coco")
