"""arch2vec's published mean-regret curves (its Fig. 6 and Table 2), as a reference beside our searches.

The curves ship with infonas (`data/arch2vec_search_curves/`, with a README on their source and
license). They are means over 500 runs on the full NAS-Bench-101 space, with regret against that
space's best mean accuracy, so they are comparable to a run only when the run searches the same
space: every one of its 423,624 cells scored by the benchmark. `searches_full_space` decides that from
the benchmark table itself (not from the config), and `reference_note` is the sentence figures and
tables carry either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from infonas.errors import InfonasError
from infonas.searchspace.enumerate import NB101_UNIQUE_CELLS

REFERENCE_DIR = Path(__file__).resolve().parent / "data" / "arch2vec_search_curves"

#: file stem -> legend name of every published curve
REFERENCE_CURVES: dict[str, str] = {
    "RL-arch2vec-model-nasbench-101": "REINFORCE, arch2vec",
    "BO-arch2vec-model-nasbench-101": "BO (DNGO), arch2vec",
    "RL-supervised-nasbench-101": "REINFORCE, supervised encoder",
    "BO-supervised-nasbench-101": "BO (DNGO), supervised encoder",
    "Random-Search-Encoding-A": "random search",
    "Regularized-Evolution-Encoding-A": "regularized evolution",
    "Reinforce-Search-Encoding-A": "REINFORCE, discrete encoding",
    "BOHB-Search-Encoding-A": "BOHB",
}
#: the published curves drawn beside a run: the searches infonas runs itself (REINFORCE and BO on
#: arch2vec features, random search, regularized evolution); the others stay loadable by name
DRAWN_REFERENCES: tuple[str, ...] = (
    "RL-arch2vec-model-nasbench-101", "BO-arch2vec-model-nasbench-101",
    "Random-Search-Encoding-A", "Regularized-Evolution-Encoding-A",
)
#: runs each published curve is the mean of
REFERENCE_RUNS = 500


@dataclass(frozen=True)
class ReferenceCurve:
    """One published curve: mean validation and test regret after each simulated training time."""

    name: str
    label: str
    time_s: np.ndarray
    valid_regret: np.ndarray
    test_regret: np.ndarray

    def regret(self, kind: str) -> np.ndarray:
        """The validation or test curve ("validation" | "test")."""
        if kind not in ("validation", "test"):
            raise InfonasError(f"reference curve {self.name}: kind must be 'validation' or 'test', got '{kind}'")
        return self.valid_regret if kind == "validation" else self.test_regret

    def at(self, time_s: float, kind: str = "validation") -> float:
        """Mean regret reached by `time_s` (the last point at or before it; NaN before the first)."""
        k = int(np.searchsorted(self.time_s, time_s, side="right")) - 1
        return float(self.regret(kind)[k]) if k >= 0 else float("nan")


def _read_curve(path: Path, name: str) -> ReferenceCurve:
    """One JSON file of three equal-length lists; anything else is an error naming the file."""
    try:
        data = json.loads(path.read_text())
        columns = [np.asarray(data[key], dtype=np.float64) for key in ("time_plot", "valid_plot", "test_plot")]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InfonasError(f"{path}: unreadable reference curve ({type(error).__name__}: {error})") from error
    time, valid, test = columns
    if not (time.ndim == 1 and time.size and valid.shape == time.shape and test.shape == time.shape):
        raise InfonasError(f"{path}: time_plot, valid_plot and test_plot must be non-empty lists of one length")
    if not (np.isfinite(np.stack(columns)).all() and (np.diff(time) > 0).all() and (valid >= 0).all()
            and (test >= 0).all()):
        raise InfonasError(f"{path}: times must increase and regrets be finite and >= 0")
    return ReferenceCurve(name, REFERENCE_CURVES[name], time, valid, test)


def load_reference_curves(names: Sequence[str] = DRAWN_REFERENCES, folder: Path | None = None) -> dict[str, ReferenceCurve]:
    """name -> ReferenceCurve of the published curves `names` (default: those drawn beside a run)."""
    folder = REFERENCE_DIR if folder is None else Path(folder)
    unknown = [n for n in names if n not in REFERENCE_CURVES]
    if unknown:
        raise InfonasError(f"reference curves: unknown curve '{unknown[0]}' ({', '.join(REFERENCE_CURVES)})")
    return {name: _read_curve(folder / f"{name}.json", name) for name in names}


def searches_full_space(val_acc: np.ndarray, train_time: np.ndarray) -> bool:
    """Whether a benchmark scores the whole NB-101 space (every one of its 423,624 cells searchable):
    only then is a run's regret comparable to the published curves."""
    searchable = np.isfinite(np.asarray(val_acc, np.float64)) & np.isfinite(np.asarray(train_time, np.float64))
    return len(searchable) == NB101_UNIQUE_CELLS and bool(searchable.all())


def reference_note(full_space: bool, n_searchable: int) -> str:
    """The sentence a search figure and table carry on the published curves, drawn or left out."""
    if full_space:
        return (f"Thin dashed: arch2vec's published mean regret ({REFERENCE_RUNS} runs each, full NB-101 "
                "space), drawn beside ours on the same space.")
    return (f"arch2vec's published curves are left out: this run searches {n_searchable:,} of the "
            f"{NB101_UNIQUE_CELLS:,} NB-101 cells, so its regret is not comparable to theirs.")
