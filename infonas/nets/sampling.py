"""Which networks get pretrained: train networks from the arch2vec train split, valid networks
from its test split (paper: 608 and 77), seeded, written to networks.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from infonas.errors import InfonasError
from infonas.files import atomic_path
from infonas.searchspace.store import SPLIT_TEST, SPLIT_TRAIN, row_index

ROLES = ("train", "valid")


def sample_networks(space: dict, n_train: int, n_valid: int, seed: int) -> pd.DataFrame:
    """Seeded draw without replacement; columns hash, role; train rows first."""
    rng = np.random.default_rng([seed, 608])
    frames = []
    for role, split, count, key in (
        ("train", SPLIT_TRAIN, n_train, "networks.n_train"),
        ("valid", SPLIT_TEST, n_valid, "networks.n_valid"),
    ):
        pool = np.flatnonzero(space["split"] == split)
        if count > len(pool):
            raise InfonasError(f"config key '{key}': {count} networks asked, the split has only {len(pool)} rows")
        chosen = np.sort(rng.choice(pool, size=count, replace=False))
        hashes = [h.decode() for h in space["hash"][chosen]]
        frames.append(pd.DataFrame({"hash": hashes, "role": role}))
    return pd.concat(frames, ignore_index=True)


def write_networks(path: str | Path, networks: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        networks.to_csv(tmp, index=False)


def read_networks(path: str | Path, space: dict | None = None) -> pd.DataFrame:
    """Read networks.csv; a malformed row or a hash missing from the search space names itself."""
    path = Path(path)
    if not path.is_file():
        raise InfonasError(f"{path}: network list not found")
    frame = pd.read_csv(path, dtype=str)
    if list(frame.columns) != ["hash", "role"]:
        raise InfonasError(f"{path}: expected columns hash,role, found {','.join(frame.columns)}")
    bad_role = ~frame["role"].isin(ROLES)
    if bad_role.any():
        row = int(np.flatnonzero(bad_role)[0]) + 2
        raise InfonasError(f"{path}: line {row}: role must be train or valid")
    bad_hash = ~frame["hash"].str.fullmatch(r"[0-9a-f]{32}", na=False)
    if bad_hash.any():
        row = int(np.flatnonzero(bad_hash)[0]) + 2
        raise InfonasError(f"{path}: line {row}: malformed hash {frame['hash'].iloc[row - 2]!r}")
    if space is not None:
        try:
            row_index(space, frame["hash"])
        except InfonasError as error:
            raise InfonasError(f"{path}: {error}") from error
    return frame


def network_rows(path: str | Path, hashes, roles) -> np.ndarray:
    """Sorted row indices, in a table whose sorted hash column is `hashes`, of the networks.csv
    networks with a role in `roles` (e.g. the labeled train networks a predictor must not fit on)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise InfonasError(f"network roles {unknown}: unknown (valid: {', '.join(ROLES)})")
    frame = read_networks(path)
    chosen = frame.loc[frame["role"].isin(list(roles)), "hash"]
    try:
        return np.sort(row_index({"hash": np.asarray(hashes, dtype="S32")}, chosen))
    except InfonasError as error:
        raise InfonasError(f"{path}: {error}") from error
