"""Shared test set-up: quiet torch threading on a small shared machine, and data locations."""

import os
import sys
from pathlib import Path

import pytest

# DESIGN.md: OpenMP spinning under CPU contention makes torch 5-10x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))  # _util: start_node and untrained_bundle, one copy for both


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or skip the test when this machine does not have it."""
    if not (SHARED_DATA / "coil100").is_dir():
        pytest.skip("../shared/data is absent on this machine")
    return SHARED_DATA

# Real DDS in tests, kept on this machine and apart from other test runs on it.
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds.xml"))
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(10 + os.getpid() % 90))
