"""Workspace backgrounds (core/capture/workspace.py, `automask capture --workspace`) on real files: numbered
atomic PNGs under <root>/workspace/, found from any training data path, thinned evenly."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from automask_ros.cli import main
from automask_ros.core.shared.atomic import read_rgb
from automask_ros.core.demo.render import render_sweep, write_image_folder
from automask_ros.core.capture.workspace import (WORKSPACE_DIR, save_workspace_frame, thin_evenly,
                                         workspace_images)


def _rgb(seed, size=(48, 32)):
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)


def test_frames_are_numbered_pngs_that_read_back(tmp_path):
    a, b = _rgb(1), _rgb(2)
    first, second = save_workspace_frame(tmp_path, a), save_workspace_frame(tmp_path, b)
    assert (first.name, second.name) == ("000000.png", "000001.png")
    assert first.parent == tmp_path / WORKSPACE_DIR
    assert np.array_equal(read_rgb(first), a) and np.array_equal(read_rgb(second), b)
    (tmp_path / WORKSPACE_DIR / "000007.png").write_bytes(first.read_bytes())  # a gap: continue after it
    assert save_workspace_frame(tmp_path, a).name == "000008.png"
    assert not list((tmp_path / WORKSPACE_DIR).glob(".*.tmp"))  # no temporary left behind


def test_a_taken_name_is_never_overwritten(tmp_path, monkeypatch):
    from automask_ros.core.capture import workspace

    first = save_workspace_frame(tmp_path, _rgb(1))
    before = first.read_bytes()
    # another writer took 000000 after this one listed the folder: it must move on to 000001
    monkeypatch.setattr(workspace, "max", lambda *a, **k: -1, raising=False)
    path = save_workspace_frame(tmp_path, _rgb(2))
    assert path.name == "000001.png" and first.read_bytes() == before


def test_bad_frames_and_unwritable_roots_get_one_clear_line(tmp_path):
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        save_workspace_frame(tmp_path, np.zeros((4, 4), np.uint8))
    with pytest.raises(OSError, match="writable dataset root"):
        save_workspace_frame("/proc/automask_cannot_write", _rgb(0))


def test_images_are_found_from_root_label_or_sweep_folders(tmp_path):
    root = tmp_path / "data"
    sweep = root / "mug" / "20260101_000000"
    (sweep / "images").mkdir(parents=True)
    mine = [save_workspace_frame(root, _rgb(i)) for i in range(3)]
    other = save_workspace_frame(tmp_path / "elsewhere", _rgb(9))
    (root / WORKSPACE_DIR / "notes.txt").write_text("not a frame")
    for data in (root, root / "mug", sweep):
        assert workspace_images([data]) == sorted(p.resolve() for p in mine), data
    assert workspace_images([sweep / "images"]) == []  # three levels down: not this dataset's workspace
    both = workspace_images([sweep, root / "mug", tmp_path / "elsewhere"])
    assert both == sorted([*(p.resolve() for p in mine), other.resolve()])  # each file once


def test_thinning_keeps_at_most_the_limit_spread_over_the_stream():
    assert thin_evenly(range(10), 50) == list(range(10))
    kept = thin_evenly(range(1000), 50)
    assert len(kept) <= 50 and kept[0] == 0 and kept[-1] >= 900
    gaps = np.diff(kept)
    assert gaps.min() == gaps.max()  # evenly spaced
    with pytest.raises(ValueError):
        thin_evenly(range(3), 0)


def test_cli_stores_a_folder_and_a_video_as_workspace(tmp_path, capsys):
    frames = list(render_sweep("mug", n_frames=4, size=(64, 48), seed=1, empty_frames=0))
    write_image_folder(tmp_path / "src", frames, label="mug")
    out = tmp_path / "data"
    assert main(["capture", "--workspace", "--out", str(out), "--images", str(tmp_path / "src" / "images")]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert Path(printed[-1]) == out / WORKSPACE_DIR and "4 frames stored" in printed[-2]
    stored = sorted((out / WORKSPACE_DIR).glob("*.png"))
    assert [p.name for p in stored] == [f"{i:06d}.png" for i in range(4)]
    assert np.array_equal(read_rgb(stored[2]), frames[2].rgb)

    video = tmp_path / "ws.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(120):
        writer.write(cv2.cvtColor(frames[i % 4].rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    assert main(["capture", "--workspace", "--out", str(out), "--video", str(video)]) == 0
    capsys.readouterr()
    assert 30 <= len(list((out / WORKSPACE_DIR).glob("*.png"))) - 4 <= 50  # thinned, not all 120
    assert workspace_images([out]) == sorted(p.resolve() for p in (out / WORKSPACE_DIR).glob("*.png"))


def test_cli_without_label_or_source_says_what_to_give(tmp_path, capsys):
    assert main(["capture", "--out", str(tmp_path), "--images", str(tmp_path)]) != 0
    assert "--label is required" in capsys.readouterr().err
    assert main(["capture", "--workspace", "--out", str(tmp_path)]) != 0
    assert "exactly one source" in capsys.readouterr().err
