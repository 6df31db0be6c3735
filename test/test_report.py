"""Demo report: a self-contained folder with report.html, its PNGs and the metrics table."""

import re

import cv2
import numpy as np
import pytest

from automask_ros.core.demo import render as R
from automask_ros.core.demo.report import contact_sheet, write_report


def test_contact_sheet_draws_masks_and_captions():
    frames = list(R.render_sweep("mug", n_frames=5, size=(80, 60), seed=0, empty_frames=1))
    sheet = contact_sheet([f.rgb for f in frames], [f.mask for f in frames],
                          [f"{f.angle_deg}" for f in frames], cols=3, thumb_width=80)
    assert sheet.shape == (2 * (60 + 18 + 4) + 4, 3 * 84 + 4, 3)
    first, masked = sheet[4:64, 4:84], sheet[4:64, 88:168]
    assert np.array_equal(first, cv2.resize(frames[0].rgb, (80, 60), interpolation=cv2.INTER_AREA))
    assert not np.array_equal(masked, cv2.resize(frames[1].rgb, (80, 60), interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError):
        contact_sheet([frames[0].rgb], [])


def test_write_report(tmp_path):
    out = tmp_path / "demo_out"
    (out / "model").mkdir(parents=True)
    inside = out / "model" / "curves.png"
    cv2.imwrite(str(inside), np.full((20, 30, 3), 200, np.uint8))
    outside = tmp_path / "elsewhere.png"
    cv2.imwrite(str(outside), np.zeros((10, 10, 3), np.uint8))
    path = write_report(
        out, title="automask <demo>",
        metrics={"auto-mask IoU": {"mean": 0.9712, "min": 0.9}, "held-out views": {"mask AP": 0.93, "AP50": 1.0},
                 "clutter": {"mask AP": float("nan"), "AP50": None}},
        figures=[("Training curves", inside), ("Overlay", np.zeros((12, 16, 3), np.uint8)),
                 ("Outside", outside)],
        phases={"capture": 30.0, "train": 600.0}, facts={"model": "m1"}, notes=["a & b"])
    text = path.read_text()
    assert path == out / "report.html"
    assert "automask &lt;demo&gt;" in text and "a &amp; b" in text
    assert "0.971" in text and "0.930" in text and "n/a" in text and "630.000" in text
    sources = re.findall(r"<img src='([^']+)'", text)
    assert sources[0] == "model/curves.png" and len(sources) == 3
    for src in sources:
        assert (out / src).is_file()  # everything the page shows lives in the folder
    assert "http" not in text  # no external assets
    with pytest.raises(FileNotFoundError):
        write_report(out, figures=[("missing", tmp_path / "missing.png")])


def test_topdown_positions_plots_predictions_against_truth(tmp_path):
    from automask_ros.core.demo.report import topdown_positions, write_report

    truth = [(0.0, 0.0, 0.8), (0.1, 0.02, 1.1), (-0.1, 0.0, 1.3)]
    predicted = [(0.004, 0.0, 0.81), None, (-0.1, 0.0, 1.29)]
    image = topdown_positions(predicted, truth, ["mug", "box", "bottle"])
    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    assert image.shape[0] > 200 and image.std() > 10  # something drawn on the white canvas
    report = write_report(tmp_path / "r", figures=[("3D positions", image)])
    assert (tmp_path / "r" / "figures" / "figure_00.png").is_file() and report
    with pytest.raises(ValueError, match="one prediction"):
        topdown_positions(predicted[:2], truth)
