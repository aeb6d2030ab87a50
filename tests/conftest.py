"""Shared fixtures: repo paths, the shared real-data folder (tests skip when it is absent)."""
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: shared/data beside the checkout; INFONAS_SHARED_DATA points elsewhere (for a checkout in a deeper folder)
SHARED_DATA = Path(os.environ.get("INFONAS_SHARED_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def subset_csv() -> Path:
    path = SHARED_DATA / "nb101-subset-20k.csv"
    if not path.is_file():
        pytest.skip("shared NB-101 subset CSV not present")
    return path


def pytest_collection_modifyitems(config, items):
    """Leave the live-cluster tests out unless `-m` names them (make test-slurm): `make test` and
    `-m "not slow"` must not need a SLURM cluster, and CI runs them on purpose, failing without one."""
    if "slurm" in (config.getoption("-m") or ""):
        return
    kept = [item for item in items if "slurm" not in item.keywords]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if "slurm" in item.keywords])
        items[:] = kept
