"""RANSAC support-plane fit: finds the plane under outliers, orients it to the camera, refuses junk."""

import numpy as np
import pytest

from automask_ros.core.capture.plane import PlaneError, fit_plane


def test_finds_a_tilted_table_under_clutter_and_points_to_the_camera():
    rng = np.random.default_rng(1)
    xz = rng.uniform([-0.5, 0.8], [0.5, 1.6], (2000, 2))
    y = 0.3 - 0.25 * (xz[:, 1] - 1.0) + rng.normal(0, 0.002, 2000)  # a table below the camera, seen from above
    table = np.column_stack([xz[:, 0], y, xz[:, 1]])
    clutter = rng.uniform([-0.5, -0.2, 0.8], [0.5, 0.25, 1.6], (800, 3))
    plane, inliers = fit_plane(np.vstack([table, clutter]), 0.008, rng=rng)
    assert inliers[:2000].mean() > 0.95 and inliers[2000:].mean() < 0.1
    assert plane.height(np.zeros(3)) > 0                     # the camera is on the positive side
    assert plane.height(np.array([0.0, 0.1, 1.0])) == pytest.approx(0.2 / np.sqrt(1.0625), abs=0.005)


def test_too_few_points_and_no_plane_are_clear_errors():
    with pytest.raises(PlaneError, match="too few to fit"):
        fit_plane(np.zeros((10, 3)), 0.01)
    rng = np.random.default_rng(0)
    with pytest.raises(PlaneError, match="no plane fits"):
        fit_plane(rng.uniform(-1, 1, (300, 3)), 0.001, min_inliers=200)
