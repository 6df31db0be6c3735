"""Turntable angle for a frame: stamped JointState readings matched by stamp, Float64 by age."""

import math

import pytest

from automask_ros.core.capture.turntable_angle import TurntableAngle


def test_stamped_joint_readings_match_frames_by_stamp_not_arrival():
    angles = TurntableAngle(joint="turntable", tolerance_s=0.02)
    for i in range(10):  # 100 Hz driver, radians, other joints in the same message
        angles.add_joint_state(10.0 + i * 0.01, ["arm", "turntable"], [0.3, math.radians(i)])
    assert angles.for_frame(10.052, now=99.0) == pytest.approx(5.0)
    assert angles.for_frame(10.0, now=99.0) == pytest.approx(0.0)
    assert angles.for_frame(11.0, now=99.0) is None  # no reading within the tolerance


def test_missing_joint_is_reported_and_unnamed_joint_is_the_first():
    named = TurntableAngle(joint="turntable")
    assert not named.add_joint_state(1.0, ["wheel"], [1.0])
    assert not named.add_joint_state(1.0, ["turntable"], [])
    first = TurntableAngle()
    assert first.add_joint_state(1.0, ["any"], [math.pi])
    assert first.for_frame(1.0, now=0.0) == pytest.approx(180.0)


def test_unstamped_degrees_expire_and_stamped_readings_win():
    angles = TurntableAngle(tolerance_s=0.05, max_age_s=1.0)
    angles.add_degrees(42.0, now=100.0)
    assert angles.for_frame(None, now=100.5) == 42.0
    assert angles.for_frame(5.0, now=101.5) is None  # too old, nothing stamped
    angles.add_joint_state(5.0, ["t"], [math.radians(90)])
    angles.add_degrees(42.0, now=101.5)
    assert angles.for_frame(5.01, now=101.6) == pytest.approx(90.0)
