"""Real data: the paper's training views of the COIL espresso cup, captured from a folder of stills
with the default pipeline (U^2-Net-p + clean-up), scored against the reference masks."""

import numpy as np
import pytest

from automask_ros.cli import main
from automask_ros.core.shared.coco import reference_iou
from automask_ros.core.capture.dataset import load_sweep

pytestmark = pytest.mark.shared_data


def test_coil_cup_training_views(tmp_path, capsys, shared_data):
    import cv2
    src = tmp_path / "views"
    src.mkdir()
    for a in range(0, 360, 10):    # the paper's 36 training views; the CLI sees a plain folder
        (src / f"cup_{a}.png").symlink_to(shared_data / "coil100" / "images" / f"obj10__{a}.png")
    assert main(["capture", "--quiet", "--label", "cup", "--out", str(tmp_path / "ds"), "--images", str(src)]) == 0
    sweep = load_sweep(capsys.readouterr().out.strip().splitlines()[-1])
    kept = [i for i in sweep.images if not i["negative"]]
    assert len(kept) + sweep.meta["counts"]["rejected"] == 36      # distinct views: none thinned away
    assert len(kept) >= 33
    ious = []
    for image in kept:
        name = image["source"].rsplit("/", 1)[-1].replace("cup_", "obj10__")
        ref = cv2.imread(str(shared_data / "coil100" / "masks" / name), cv2.IMREAD_GRAYSCALE)
        ious.append(reference_iou(sweep.mask(image), ref))
    assert np.median(ious) >= 0.95 and np.percentile(ious, 10) >= 0.9, np.round(ious, 3)
