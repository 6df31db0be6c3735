"""SweepRecorder: selection, revolution, gates, negatives, crash safety, params (real background
segmenter on rendered turntable sweeps with exact masks)."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from automask_ros.core.shared.coco import mask_iou
from automask_ros.core.capture.dataset import DatasetError, SweepWriter, load_sweep, validate_sweep
from automask_ros.core.demo.render import render_sweep
from automask_ros.core.capture.segment import make_segmenter
from automask_ros.core.capture.capture_params import CaptureParams, capture_yaml
from automask_ros.core.capture.sweep import SweepRecorder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sweep_frames():
    return list(render_sweep("mug", n_frames=24, size=(128, 96), empty_frames=2, seed=1))


def recorder(tmp_path, **params):
    params.setdefault("negatives_before", 2)
    params.setdefault("empty_frames", 0)  # a recording: nothing known to be empty, the recorder sees it
    return SweepRecorder(SweepWriter(tmp_path, "mug"), make_segmenter("background"), CaptureParams(**params))


def test_angle_sweep_keeps_one_revolution_with_good_masks(tmp_path, sweep_frames):
    rec = recorder(tmp_path, step_deg=30)
    statuses, ious = [], []
    for f in sweep_frames:
        r = rec.feed(f.rgb, f.stamp, angle_deg=f.angle_deg, source=f"frame{f.stamp}")
        statuses.append(r.status)
        if r.status == "kept":
            ious.append(mask_iou(r.mask, f.mask))
        if rec.done:
            break
    assert statuses[:2] == ["negative", "negative"]          # empty turntable first
    assert statuses.count("kept") == 12 and rec.done          # 360 / 30, then the loop is done
    assert min(ious) > 0.85 and np.median(ious) > 0.9  # background difference: shadows cost a little
    status = rec.finish()
    assert status["state"] == "finished" and status["negatives"] == 2 and status["coverage_deg"] == 360
    sweep = load_sweep(status["path"])
    assert validate_sweep(sweep.path) == []
    kept = [i for i in sweep.images if not i["negative"]]
    assert [i["angle_deg"] for i in kept] == [30.0 * k for k in range(12)]
    assert all(i["source"].startswith("frame") for i in sweep.images)
    assert (sweep.path / "contact_sheet.png").is_file()
    assert sweep.meta["segmenter"]["name"] == "background"
    with pytest.raises(RuntimeError, match="finished"):
        rec.feed(sweep_frames[3].rgb)


def test_an_angle_that_arrives_after_the_object_does_not_break_the_sweep(tmp_path, sweep_frames):
    """A turntable encoder that starts late: the first two object frames have no angle. They are
    kept as views by appearance; from the first angle on, views are kept every step_deg of it."""
    rec = recorder(tmp_path, step_deg=30)
    statuses, objects = [], 0
    for f in sweep_frames:
        late = not f.is_empty and objects < 2
        objects += not f.is_empty
        statuses.append(rec.feed(f.rgb, f.stamp, angle_deg=None if f.is_empty or late else f.angle_deg,
                                 source=f"frame{f.stamp}").status)
    # empty turntable, the two frames before the encoder, then the 22 frames 15 deg apart from 30 deg
    assert statuses == ["negative", "negative", "kept", "kept"] + ["kept", "skipped"] * 11
    status = rec.finish()
    assert status["state"] == "finished" and status["kept"] == 13 and status["rejected"] == 0
    assert validate_sweep(status["path"]) == []
    kept = [i["angle_deg"] for i in load_sweep(status["path"]).images if not i["negative"]]
    assert kept == [None, None] + [30.0 * k for k in range(11)]  # measured from the first angle seen


def test_time_based_angle_and_max_frames(tmp_path, sweep_frames):
    # 24 views, 0.5 s apart, from t=1.0: one turn = 12 s; step 45 deg = every 3rd view
    rec = recorder(tmp_path, step_deg=45, turntable_period_s=12.0, max_frames=5)
    kept = [rec.feed(f.rgb, f.stamp).status for f in sweep_frames if not rec.done].count("kept")
    assert kept == 5 and rec.done and rec.status()["message"] == "max_frames reached"


def test_stills_keep_distinct_views_and_thin_duplicates(tmp_path, sweep_frames):
    rec = recorder(tmp_path, loop_closure=False)
    assert rec.feed(sweep_frames[0].rgb).status == "negative"  # the background reference
    out = []
    for f in sweep_frames[2:8]:
        out.append(rec.feed(f.rgb).status)
        out.append(rec.feed(f.rgb.copy()).status)            # the same view again
    assert out[0::2] == ["kept"] * 6 and out[1::2] == ["skipped"] * 6


def test_loop_closure_ends_the_sweep_when_the_view_returns(tmp_path, sweep_frames):
    rec = recorder(tmp_path, loop_min_frames=6)
    views = sweep_frames[:1] + sweep_frames[2:] + sweep_frames[2:5]   # it keeps turning
    n = 0
    for f in views:
        rec.feed(f.rgb, f.stamp)
        n += 1
        if rec.done:
            break
    assert rec.done and "loop closed" in rec.status()["message"] and n == 26
    assert rec.status()["kept"] == 24 and rec.coverage_deg == 360.0


def test_quality_gate_rejects_an_area_jump_and_records_the_reason(tmp_path, sweep_frames):
    rec = recorder(tmp_path, loop_closure=False)
    for f in sweep_frames[:6]:
        rec.feed(f.rgb)
    bad = sweep_frames[6].rgb.copy()
    bad[10:90, 5:120] = (250, 30, 200)                         # a hand sweeps through the view
    r = rec.feed(bad, source="hand")
    assert r.status == "rejected" and r.reason and r.mask is not None
    assert rec.feed(sweep_frames[7].rgb).status == "kept"
    meta = load_sweep(rec.writer.path).meta
    assert meta["counts"]["rejected"] == 1 and meta["rejected"][0]["source"] == "hand"
    assert meta["rejected"][0]["reason"] == r.reason


def test_killed_capture_leaves_a_loadable_dataset(tmp_path, sweep_frames):
    rec = recorder(tmp_path, loop_closure=False)
    for f in sweep_frames[:7]:
        rec.feed(f.rgb)
    del rec                                                   # no finish(): as if killed
    path = next((tmp_path / "mug").iterdir())
    sweep = load_sweep(path)
    assert validate_sweep(path) == [] and sweep.meta["state"] == "recording"
    assert len(sweep.coco["annotations"]) == 5 and len(sweep.images) == 7


def test_params_from_dict_and_capture_yaml():
    p = CaptureParams.from_dict({"step_deg": 10, "loop_closure": False, "roi": [0.1, 0.1, 0.9, 0.9]})
    assert p.step_deg == 10.0 and p.cleanup.roi == [0.1, 0.1, 0.9, 0.9] and p.to_dict()["roi"] == p.cleanup.roi
    with pytest.raises(ValueError, match="unknown capture parameter.*step_degs"):
        CaptureParams.from_dict({"step_degs": 10})
    with pytest.raises(ValueError, match="must be a float"):
        CaptureParams.from_dict({"step_deg": "ten"})
    with pytest.raises(ValueError, match="step_deg"):
        CaptureParams.from_dict({"step_deg": 0})
    with pytest.raises(ValueError, match="roi"):
        CaptureParams.from_dict({"roi": [0.5, 0.5, 0.2, 0.9]})
    shipped = yaml.safe_load((ROOT / "config" / "capture.yaml").read_text())
    assert CaptureParams.from_dict(shipped["capture_node"]["ros__parameters"]) == CaptureParams()
    assert yaml.safe_load(capture_yaml()) == shipped


def test_bad_labels_and_unwritable_roots(tmp_path):
    for label in ("../evil", "a/b", "", "  "):
        with pytest.raises(DatasetError, match="label"):
            SweepWriter(tmp_path, label)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match="cannot create sweep folder"):
        SweepWriter(blocker, "mug")


def test_empty_frames_are_negatives_without_being_segmented(tmp_path, sweep_frames):
    """empty_frames (one default, in core): the first N frames are taken as the empty turntable,
    whatever they show; the first is the background reference. Recorded files default to 0."""
    from automask_ros.core.capture.capture_params import source_defaults

    assert CaptureParams().empty_frames == 1 and source_defaults("video")["empty_frames"] == 0
    assert source_defaults("images") == {"empty_frames": 0, "min_change": 0.0, "loop_closure": False}
    views = [f for f in sweep_frames if not f.is_empty]
    rec = recorder(tmp_path, empty_frames=2, loop_closure=False)
    statuses = [rec.feed(f.rgb).status for f in [sweep_frames[0], sweep_frames[1], *views[:3]]]
    assert statuses == ["negative", "negative", "kept", "kept", "kept"]
    rec = recorder(tmp_path / "object_first", empty_frames=1, loop_closure=False, negatives_before=2)
    assert rec.feed(views[0].rgb).status == "negative"  # told it is empty: not segmented, not kept
    assert rec.segmenter.has_reference                   # ... and it became the reference


def test_one_segmenter_factory_builds_what_the_parameters_name(tmp_path):
    from automask_ros.core.capture.segment import CroppedSegmenter, FusedSegmenter, U2NetSegmenter, make_segmenter

    def build(**kw):
        p = CaptureParams.from_dict({"seg_threads": 1, **kw})
        return make_segmenter(p.segmenter, **p.segmenter_kwargs())

    auto = build()
    assert isinstance(auto, FusedSegmenter) and isinstance(auto.fcn, U2NetSegmenter) and auto.depth is not None
    cropped = build(segmenter="u2net", roi=[0.1, 0.2, 0.9, 1.0])
    assert isinstance(cropped, CroppedSegmenter) and cropped.roi == [0.1, 0.2, 0.9, 1.0]
    assert isinstance(build(segmenter="u2net"), U2NetSegmenter)  # the whole frame: nothing to crop
    assert build(segmenter="background", bg_threshold=40.0).threshold == 40.0
    assert build(segmenter="depth", min_height_m=0.01).describe()["name"] == "depth"
    with pytest.raises(ValueError, match="unknown segmenter 'magic'"):
        CaptureParams.from_dict({"segmenter": "magic"})


def test_clean_up_fields_are_referenced_not_copied():
    """CaptureParams holds CleanupParams: its clean-up values are the clean-up's own defaults,
    ranges and descriptions, set through the same flat names as every other parameter."""
    from dataclasses import fields

    from automask_ros.core.capture.cleanup import CleanupParams

    p = CaptureParams.from_dict({"max_growth": 1.5, "grabcut_iters": 0})
    assert isinstance(p.cleanup, CleanupParams) and p.cleanup.max_growth == 1.5 and p.cleanup.grabcut_iters == 0
    assert CaptureParams().cleanup == CleanupParams() and CleanupParams().max_growth == 1.3
    own = {f.name for f in fields(CaptureParams)}
    assert not own & {f.name for f in fields(CleanupParams)}  # no field declared twice
    assert [f.name for f in CaptureParams.flat_fields()] == list(CaptureParams().to_dict())
    with pytest.raises(ValueError, match="max_growth=0.5 is out of range: use 1.0 .. 100.0"):
        CaptureParams.from_dict({"max_growth": 0.5})
    with pytest.raises(ValueError, match="threshold='high'"):
        CaptureParams.from_dict({"threshold": "high"})
