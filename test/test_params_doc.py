"""docs/parameters.md matches the nodes' parameter lists (regenerate: scripts/gen_params_doc.py)."""

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def test_parameter_reference_is_current():
    import gen_params_doc

    assert gen_params_doc.DOC.read_text() == gen_params_doc.render(), \
        "docs/parameters.md is stale: run python scripts/gen_params_doc.py"
