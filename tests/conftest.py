"""Shared fixtures: repo paths, the shared real-data folder (tests skip when it is absent)."""
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def subset_csv() -> Path:
    path = SHARED_DATA / "nb101-subset-20k.csv"
    if not path.is_file():
        pytest.skip("shared NB-101 subset CSV not present")
    return path
