"""Trainer core: a real (tiny) training run, bundle round trip, eval CLI, exact resume, budget, extension."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

sys.path.insert(0, str(Path(__file__).parent))
from trainutil import make_sweep  # noqa: E402

from automask_ros.cli import main as cli_main  # noqa: E402
from automask_ros.core.training.bundle import BundleError, load_bundle, load_bundle_state, read_bundle_meta  # noqa: E402
from automask_ros.core.training.model import build_model, extend_state_dict  # noqa: E402
from automask_ros.core.training.train import EXTEND_LR_SCALE, PRESETS, TrainConfig, train  # noqa: E402

# device="cpu": the exact-resume figures hold bit for bit on one device; on CUDA (the default
# "auto" where a GPU exists) non-deterministic kernels would make them differ
TINY = dict(min_size=64, max_size=96, threads=1, holdout_every=4, warmup_iters=3, device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweeps")
    make_sweep(root, "disc", views=8, size=64)
    make_sweep(root, "block", views=8, size=64)
    return root


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "model"
    seen = []
    result = train(TrainConfig(data=[str(data)], out=str(out), epochs=2, **TINY), progress=seen.append)
    return out, result, seen


def test_training_exports_a_complete_bundle(trained):
    out, result, seen = trained
    assert result.reason == "completed" and result.bundle == out
    # per sweep 8 views (2 held out: every 4th) + 1 negative = 7 training frames; 14 / batch 2 = 7 steps
    assert result.iterations == 2 * 7
    meta = read_bundle_meta(out)
    assert meta["labels"] == ["block", "disc"] and meta["arch"] == "maskrcnn_mobilenet_v3_fpn16"
    assert meta["input"] == {"min_size": 64, "max_size": 96}
    assert len(meta["datasets"]) == 2 and all(len(d["fingerprint"]) == 16 for d in meta["datasets"])
    assert {"segm_AP", "segm_AP50", "bbox_AP", "per_label"} <= meta["metrics"].keys()
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["reason"] == "completed"
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    # the contract's progress dicts, with a falling loss over real training steps
    phases = {d["phase"] for d in seen}
    assert {"train", "eval", "export", "done"} <= phases
    losses = [loss for _, loss in metrics["losses"]]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    assert seen[-1]["progress"] == 1.0
    model, meta2 = load_bundle(out)
    assert not model.training and meta2["model_id"] == meta["model_id"]


def test_eval_cli_on_sweeps_and_plain_coco(trained, data, tmp_path, capsys):
    out = trained[0]
    report = tmp_path / "eval.json"
    assert cli_main(["eval", "--model", str(out), "--data", str(data), "--json", str(report)]) == 0
    table = capsys.readouterr().out
    assert "segm_AP50" in table and "disc" in table
    metrics = json.loads(report.read_text())
    assert set(metrics["per_label"]) == {"block", "disc"}
    for key in ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50"):
        # COCO's overall figure is the mean over the labels that have objects (both here)
        per_label = [metrics["per_label"][name][key] for name in ("block", "disc")]
        assert metrics[key] == pytest.approx(sum(per_label) / 2), key
    assert metrics["images"] == 18 and metrics["instances"] == 16  # all views + negatives
    assert metrics["detections"] > 0
    # a plain COCO file with another category id and an unknown category: matched by name
    sweep = next((data / "disc").iterdir())
    coco = json.loads((sweep / "annotations.json").read_text())
    for ann in coco["annotations"]:
        ann["category_id"] = 7
    coco["categories"] = [{"id": 7, "name": "disc"}, {"id": 9, "name": "unknown_thing"}]
    (tmp_path / "plain.json").write_text(json.dumps(coco))
    report2 = tmp_path / "eval2.json"
    assert cli_main(["eval", "--model", str(out), "--coco", str(tmp_path / "plain.json"),
                     "--images", str(sweep), "--json", str(report2)]) == 0
    m2 = json.loads(report2.read_text())
    assert m2["instances"] == 8 and m2["per_label"]["block"]["segm_AP"] is None
    # the same frames as a sweep score the same: the category was matched by name, not by id
    report3 = tmp_path / "eval3.json"
    assert cli_main(["eval", "--model", str(out), "--data", str(sweep), "--json", str(report3)]) == 0
    m3 = json.loads(report3.read_text())
    assert m2["per_label"]["disc"] == pytest.approx(m3["per_label"]["disc"])
    assert m2["images"] == m3["images"] and m2["detections"] == m3["detections"]


def test_resume_after_an_interruption_is_exact(data, tmp_path):
    cfg = dict(data=[str(data)], epochs=2, **TINY)  # TINY pins the CPU: CUDA kernels are not bit-exact
    straight = train(TrainConfig(out=str(tmp_path / "a"), **cfg))
    calls = {"n": 0}

    def stop_mid_epoch():
        calls["n"] += 1
        return calls["n"] > 10  # 10 steps done: in the middle of epoch 2

    first = train(TrainConfig(out=str(tmp_path / "b"), **cfg), should_stop=stop_mid_epoch)
    assert first.reason == "cancelled" and first.iterations == 10
    resumed = train(TrainConfig(out=str(tmp_path / "b"), resume=True, **cfg))
    assert resumed.iterations == straight.iterations
    a, b = load_bundle_state(tmp_path / "a"), load_bundle_state(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    history = [json.loads((tmp_path / run / "metrics.json").read_text())["history"] for run in "ab"]
    for h in history:
        for entry in h:
            entry.pop("minutes")  # wall time differs; every figure must not
    assert history[0] == history[1]


def test_learning_rate_after_a_resume_is_the_uninterrupted_runs(data, tmp_path):
    """Every optimiser step's real learning rate, read by a torch hook: cancelled + resumed == straight."""
    cfg = dict(data=[str(data)], epochs=2, **TINY)
    lrs = []
    hook = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: lrs.append(optimizer.param_groups[0]["lr"]))
    try:
        train(TrainConfig(out=str(tmp_path / "a"), **cfg))
        straight, lrs[:] = list(lrs), []
        calls = {"n": 0}

        def stop_mid_epoch():
            calls["n"] += 1
            return calls["n"] > 10
        train(TrainConfig(out=str(tmp_path / "b"), **cfg), should_stop=stop_mid_epoch)
        assert len(lrs) == 10
        train(TrainConfig(out=str(tmp_path / "b"), resume=True, **cfg))
    finally:
        hook.remove()
    assert len(straight) == 14 and len(set(straight)) == 14  # warm-up then cosine: a new rate every step
    assert lrs == straight


def test_budget_stops_cleanly_and_keeps_a_model(data, tmp_path):
    result = train(TrainConfig(data=[str(data)], out=str(tmp_path / "m"), epochs=50, max_minutes=0.08, **TINY))
    assert result.reason == "budget" and result.iterations < 50 * 7
    assert result.bundle is not None and (tmp_path / "m" / "model.pt").exists()
    assert (tmp_path / "m" / "checkpoint" / "last.pt").exists()


def test_extending_a_bundle_keeps_known_classes(trained, data, tmp_path):
    base = trained[0]
    meta = read_bundle_meta(base)
    bigger = build_model(meta["arch"], 4, min_size=64, max_size=96)
    state = extend_state_dict(load_bundle_state(base), meta["labels"], meta["labels"] + ["tri"], bigger)
    old = load_bundle_state(base)
    key = "roi_heads.box_predictor.cls_score.weight"
    assert torch.equal(state[key][:3], old[key]) and state[key].shape[0] == 4
    key = "roi_heads.box_predictor.bbox_pred.weight"
    assert torch.equal(state[key][:12], old[key])
    bigger.load_state_dict(state)
    # training on the old data plus a new object starts from the base and adds the label
    make_sweep(tmp_path / "new", "tri", views=4, size=64)
    result = train(TrainConfig(data=[str(data), str(tmp_path / "new")], out=str(tmp_path / "ext"),
                               weights=str(base), epochs=1, **TINY))
    assert read_bundle_meta(result.bundle)["labels"] == ["block", "disc", "tri"]
    # given only the new sweep, the base's own sweeps (recorded in its model.json) are replayed
    result = train(TrainConfig(data=[str(tmp_path / "new")], out=str(tmp_path / "replay"), weights=str(base),
                               epochs=1, **TINY))
    replay = read_bundle_meta(result.bundle)
    assert replay["labels"] == ["block", "disc", "tri"]
    # from a base that knows its objects, at a share of the preset's learning rate (train.py)
    assert replay["training"]["lr"] == pytest.approx(PRESETS["cpu"]["lr"] * EXTEND_LR_SCALE)
    assert read_bundle_meta(base)["training"]["lr"] == PRESETS["cpu"]["lr"]
    assert {d["path"] for d in replay["datasets"]} == {d["path"] for d in meta["datasets"]} | {
        str((tmp_path / "new" / "tri").resolve() / p.name) for p in (tmp_path / "new" / "tri").iterdir()}
    # when those sweeps are gone and the data does not cover the base's labels, it is refused
    gone = tmp_path / "gone"
    shutil.copytree(base, gone, ignore=shutil.ignore_patterns("checkpoint"))
    meta_gone = json.loads((gone / "model.json").read_text())
    for d in meta_gone["datasets"]:
        d["path"] = str(tmp_path / "deleted" / Path(d["path"]).name)
    (gone / "model.json").write_text(json.dumps(meta_gone))
    with pytest.raises(BundleError, match="forget"):
        train(TrainConfig(data=[str(tmp_path / "new")], out=str(tmp_path / "x"), weights=str(gone), **TINY))
    with pytest.raises(BundleError, match="labels"):
        load_bundle(base, labels=["disc"])
    with pytest.raises(BundleError, match="maskrcnn_resnet50_fpn"):
        load_bundle(base, arch="maskrcnn_resnet50_fpn")


def test_cpu_layouts_and_bundles_of_the_first_layout(data, tmp_path):
    """The cpu preset's fpn16 layout pools from stride 16; fpn8 (an --arch) takes proposals and boxes
    from stride 16 and coarser and masks also from a stride-8 level; bundles of torchvision's layout
    (every level at stride 32, trained before fpn16 became the default) still load and still extend."""
    from automask_ros.core.training.bundle import save_bundle
    from automask_ros.core.training.model import FINE
    finest = build_model("maskrcnn_mobilenet_v3_fpn8", 3, min_size=64, max_size=96).eval()
    fine = build_model("maskrcnn_mobilenet_v3_fpn16", 3, min_size=64, max_size=96).eval()
    first = build_model("maskrcnn_mobilenet_v3_fpn", 3, min_size=64, max_size=96).eval()
    with torch.no_grad():
        image = torch.rand(1, 3, 64, 64)
        features = finest.backbone(image)
        assert features[FINE].shape[-2:] == (8, 8) and features["0"].shape[-2:] == (4, 4)  # strides 8, 16
        assert fine.backbone(image)["0"].shape[-2:] == (4, 4)    # stride 16
        assert first.backbone(image)["0"].shape[-2:] == (2, 2)   # stride 32
        # the stride-8 level changes the masks' features and nothing the proposals see
        images, _ = finest.transform([image[0]])
        other = dict(features, **{FINE: torch.rand_like(features[FINE])})
        assert torch.equal(finest.rpn(images, features)[0][0], finest.rpn(images, other)[0][0])
        box = [torch.tensor([[8.0, 8.0, 40.0, 40.0]])]
        pool = finest.roi_heads.mask_roi_pool
        assert not torch.equal(pool(features, box, images.image_sizes), pool(other, box, images.image_sizes))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(fine) < 0.5 * count(first)
    old = tmp_path / "old"
    save_bundle(old, first, {"model_id": "old", "arch": "maskrcnn_mobilenet_v3_fpn", "labels": ["block", "disc"],
                             "input": {"min_size": 64, "max_size": 96}, "thresholds": {"score": 0.5, "mask": 0.5}})
    model, meta = load_bundle(old)
    assert meta["arch"] == "maskrcnn_mobilenet_v3_fpn" and count(model) == count(first)
    result = train(TrainConfig(data=[str(data)], out=str(tmp_path / "ext"), weights=str(old), epochs=1, **TINY))
    assert read_bundle_meta(result.bundle)["arch"] == "maskrcnn_mobilenet_v3_fpn"


def test_the_bundle_holds_the_moving_average_of_the_weights(data, tmp_path):
    """ema.py: the model evaluated and exported is the weights' moving average, which the checkpoint
    keeps beside the live weights (so a resume continues it); ema_decay=0 exports the live weights."""
    tiny = {**TINY, "holdout_every": 0}  # no validation: every export is the latest model
    result = train(TrainConfig(data=[str(data)], out=str(tmp_path / "ema"), epochs=1, **tiny))
    ckpt = torch.load(tmp_path / "ema" / "checkpoint" / "last.pt", weights_only=True)
    bundle = load_bundle_state(tmp_path / "ema")
    assert int(ckpt["ema"]["n_averaged"]) == result.iterations  # one update per optimiser step
    averaged = {k.removeprefix("module."): v for k, v in ckpt["ema"].items() if k.startswith("module.")}
    assert all(torch.equal(bundle[k], averaged[k]) for k in bundle)
    assert any(not torch.equal(bundle[k], ckpt["model"][k]) for k in bundle if bundle[k].is_floating_point())

    train(TrainConfig(data=[str(data)], out=str(tmp_path / "live"), epochs=1, ema_decay=0, **tiny))
    ckpt = torch.load(tmp_path / "live" / "checkpoint" / "last.pt", weights_only=True)
    bundle = load_bundle_state(tmp_path / "live")
    assert ckpt["ema"] is None and all(torch.equal(bundle[k], ckpt["model"][k]) for k in bundle)


def test_the_moving_average_ramps_up():
    """A run of a few dozen steps must not export an average dominated by its random start."""
    from automask_ros.core.training.ema import ema_decay
    assert ema_decay(0.995, 0) == pytest.approx(0.1)
    assert ema_decay(0.995, 20) == pytest.approx(0.7)
    assert ema_decay(0.995, 10_000) == 0.995


def test_a_later_model_about_as_good_as_the_best_is_the_one_kept(trained):
    """train_loop.keeps_later: a small validation split cannot tell 0.904 from 0.901, and the later
    model has trained longer; a clearly better earlier model stays; only real gains reset early
    stopping. The real run's bundle holds the metrics of the evaluation the rule picks."""
    from automask_ros.core.training.train_loop import KEEP_WITHIN, keeps_later
    assert keeps_later([], 0.0) == (True, True)
    assert keeps_later([0.5, 0.904], 0.901) == (True, False)
    assert keeps_later([0.5, 0.904], 0.904) == (True, False)
    assert keeps_later([0.5, 0.904], 0.904 - 2 * KEEP_WITHIN) == (False, False)
    assert keeps_later([0.5, 0.904], 0.91) == (True, True)
    # measured from the best ever seen, so a slow decline cannot walk the bundle downhill
    assert keeps_later([0.904, 0.898, 0.896], 0.892) == (False, False)

    out, _, _ = trained
    history = [h["segm_AP"] for h in json.loads((out / "metrics.json").read_text())["history"]]
    picked = [i for i in range(len(history)) if keeps_later(history[:i], history[i])[0]][-1]
    assert read_bundle_meta(out)["metrics"]["segm_AP"] == pytest.approx(history[picked])
