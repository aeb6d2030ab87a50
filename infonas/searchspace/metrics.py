"""NB-101 training metrics joined onto search-space rows by module hash.

Metric arrays are named ``{stem}_{epochs}`` (e.g. ``val_acc_108``) with shape (N, repeats) float32,
plus ``params`` (N,) float64; rows without a value hold NaN (docs/layout.md). Sources are the
official tfrecord (`nb101_records.read_nb101_tfrecord`), a user CSV keyed by ``hash``, and the
compact copy of real NB-101 metrics that ships with the package (``metrics_csv: builtin``, see
``infonas/searchspace/data/README.md``). Values outside their range (an accuracy in percent, a negative time) are
rejected with the file, line and column, since they would silently skew search and prediction.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from infonas.errors import InfonasError
from infonas.files import atomic_path

log = logging.getLogger(__name__)

METRIC_STEMS: tuple[str, ...] = ("val_acc", "test_acc", "train_acc", "train_time")
PARAMS = "params"
_METRIC_KEY = re.compile(rf"(?:{'|'.join(METRIC_STEMS)})_[1-9][0-9]*")
_HASH = re.compile(r"[0-9a-f]{32}")
_MISSING = {"", "nan", "na", "n/a", "null", "none"}
_ACCURACY_STEMS = ("val_acc", "test_acc", "train_acc")

#: `searchspace.metrics_csv` value that selects the metrics shipped inside the package.
BUILTIN = "builtin"
BUILTIN_CSV = Path(__file__).resolve().parent / "data" / "nb101_metrics.csv.gz"


def metric_key(stem: str, epochs: int) -> str:
    """Array name of a metric at an epoch budget, e.g. ('val_acc', 108) -> 'val_acc_108'."""
    if stem not in METRIC_STEMS:
        raise ValueError(f"unknown metric {stem!r}; known: {', '.join(METRIC_STEMS)}")
    return f"{stem}_{int(epochs)}"


def is_metric_key(name: str) -> bool:
    """True for array names this module joins: ``params`` and ``{stem}_{epochs}``."""
    return name == PARAMS or _METRIC_KEY.fullmatch(name) is not None


def value_range(name: str) -> tuple[float, float, str]:
    """(low, high, why) of a metric's values (array name or stem): accuracies are fractions, times and counts >= 0."""
    if name == PARAMS:
        return 0.0, np.inf, "parameter counts are finite and >= 0"
    stem = name if name in METRIC_STEMS else name.rsplit("_", 1)[0]
    if stem in _ACCURACY_STEMS:
        return 0.0, 1.0, "accuracies are fractions in [0, 1], not percent"
    if stem == "train_time":
        return 0.0, np.inf, "training times are finite seconds >= 0"
    raise ValueError(f"{name!r} is not a metric array name")


def out_of_range(name: str, values: np.ndarray) -> np.ndarray:
    """Mask of values outside `value_range(name)`; NaN (unknown) is in range, +-inf is not."""
    low, high, _ = value_range(name)
    values = np.asarray(values, dtype=np.float64)
    return ~np.isnan(values) & ~((values >= low) & (values <= high) & np.isfinite(values))


def resolve_metrics_csv(location: str | os.PathLike) -> Path:
    """The file a `searchspace.metrics_csv` value names: `builtin` is the packaged NB-101 copy."""
    return BUILTIN_CSV if str(location) == BUILTIN else Path(location)


def benchmark_budget(space: dict) -> int | None:
    """Largest epoch budget with any known validation accuracy: the one search and prediction use."""
    budgets = sorted(int(k.rsplit("_", 1)[1]) for k in space if k.startswith("val_acc_") and is_metric_key(k))
    known = [e for e in budgets if np.isfinite(space[metric_key("val_acc", e)]).any()]
    return known[-1] if known else None


def rows_with_metrics(space: dict) -> np.ndarray:
    """Mask of rows with a validation accuracy and a training time at `benchmark_budget`.

    These are the rows the evaluations can score; all False when the space carries no metrics.
    """
    n = len(space["hash"])
    epochs = benchmark_budget(space)
    if epochs is None or metric_key("train_time", epochs) not in space:
        return np.zeros(n, dtype=bool)
    known = np.ones(n, dtype=bool)
    for stem in ("val_acc", "train_time"):
        values = np.asarray(space[metric_key(stem, epochs)]).reshape(n, -1)
        known &= np.isfinite(values).any(axis=1)
    return known


def join_metrics_csv(space: dict, csv_path: str | os.PathLike) -> dict:
    """Join a CSV keyed by ``hash`` onto the space: each metric column becomes an (N,1) float32 array.

    ``params`` stays (N,) float64; space rows absent from the CSV get NaN; CSV hashes absent from
    the space are counted in a warning, and an InfonasError is raised when none match. Columns
    that are not metric names are ignored with a warning.
    """
    path = resolve_metrics_csv(csv_path)
    table = _read_csv(path)
    columns = {name: values if name == PARAMS else values.astype(np.float32)[:, None]
               for name, values in _metric_columns(path, table).items()}
    return _join(space, table["hash"].to_numpy(dtype="S32"), columns, str(path))


def write_compact_metrics_csv(csv_path: str | os.PathLike, out_path: str | os.PathLike) -> int:
    """Validate a metrics CSV and write it as a small, reproducible gzip CSV; returns the row count.

    Rows are sorted by hash; each accuracy and time is written as the shortest decimal that reads
    back to the same float32 (the precision the joined arrays keep), so the copy is lossless for
    infonas and about a third of the text. gzip's header carries no time or name, so the same
    input always gives the same bytes. This is how ``data/nb101_metrics.csv.gz`` was made.
    """
    path = Path(csv_path)
    table = _read_csv(path)
    columns = _metric_columns(path, table)
    order = np.argsort(table["hash"].to_numpy(), kind="stable")
    out = pd.DataFrame({"hash": table["hash"].to_numpy()[order]})
    for name, values in columns.items():
        out[name] = [_shortest(v, name) for v in values[order]]
    text = out.to_csv(index=False, lineterminator="\n").encode("ascii")
    with atomic_path(out_path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as packed:
            packed.write(text)
    return len(out)


def _shortest(value: float, name: str) -> str:
    """Shortest text of a value that reads back identically: float32 metrics, integral params."""
    if np.isnan(value):
        return ""
    if name == PARAMS:
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def _metric_columns(path: Path, table: pd.DataFrame) -> dict[str, np.ndarray]:
    """The metric columns of a read CSV as float64, range-checked; others are ignored with a warning."""
    columns = {}
    for name in table.columns.drop("hash"):
        if not is_metric_key(name):
            log.warning("%s: ignoring column %r (not params or %s_<epochs>)", path, name, "|".join(METRIC_STEMS))
            continue
        columns[name] = _numeric(path, name, table[name])
    if not columns:
        raise InfonasError(f"{path}: no metric columns besides 'hash' (expected params or val_acc_108 etc.)")
    return columns


def _join(space: dict, hashes: np.ndarray, columns: dict[str, np.ndarray], source: str) -> dict:
    """Copy `space` and scatter each (M, ...) column onto the rows whose hash matches."""
    space_hash = np.asarray(space["hash"], dtype="S32")
    by_hash = np.argsort(space_hash, kind="stable")
    sorted_hash = space_hash[by_hash]
    slot = np.minimum(np.searchsorted(sorted_hash, hashes), max(sorted_hash.size - 1, 0))
    found = sorted_hash[slot] == hashes if sorted_hash.size else np.zeros(hashes.size, dtype=bool)
    if not found.any():
        raise InfonasError(
            f"{source}: none of its {hashes.size} hashes are in the search space "
            f"({space_hash.size} rows; e.g. {hashes[0].decode() if hashes.size else 'no rows'})"
        )
    if not found.all():
        log.warning("%s: %d of %d hashes are not in the search space; ignored",
                    source, int((~found).sum()), hashes.size)
    rows = by_hash[slot[found]]
    joined = dict(space)
    for name, values in columns.items():
        if name in space:
            log.warning("%s: replaces the existing %r arrays", source, name)
        array = np.full((space_hash.size,) + values.shape[1:], np.nan, dtype=values.dtype)
        array[rows] = values[found]
        joined[name] = array
    log.info("%s: joined %s onto %d of %d rows", source, ", ".join(columns), rows.size, space_hash.size)
    return joined


def _read_csv(path: Path) -> pd.DataFrame:
    """Read every cell as text (so a bad value can be reported by line) and validate the hashes."""
    if not path.is_file():
        raise InfonasError(f"{path}: metrics CSV not found")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise InfonasError(f"{path}: cannot parse metrics CSV ({str(exc).strip().splitlines()[0]})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    if "hash" not in table.columns:
        raise InfonasError(f"{path}: no 'hash' column (columns: {', '.join(table.columns)})")
    if table.empty:
        raise InfonasError(f"{path}: metrics CSV has no rows")
    hashes = table["hash"].str.strip().str.lower()
    bad = ~hashes.str.fullmatch(_HASH.pattern)
    if bad.any():
        line = _line(bad.idxmax())
        raise InfonasError(f"{path}: line {line}, column hash: {table['hash'][bad.idxmax()]!r} is not a 32-digit hex module hash")
    repeated = hashes.duplicated(keep=False)
    if repeated.any():
        lines = [_line(i) for i in hashes.index[hashes == hashes[repeated.idxmax()]]]
        raise InfonasError(f"{path}: hash {hashes[repeated.idxmax()]} appears on lines {', '.join(map(str, lines))}")
    table["hash"] = hashes
    return table


def _numeric(path: Path, column: str, text: pd.Series) -> np.ndarray:
    """Text column -> float64; empty/NaN-like cells become NaN, anything else non-numeric is an error."""
    values = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = values.isna() & ~text.str.strip().str.lower().isin(_MISSING)
    if bad.any():
        i = bad.idxmax()
        raise InfonasError(f"{path}: line {_line(i)}, column {column}: {text[i]!r} is not a number")
    values = values.to_numpy(dtype=np.float64)
    outside = out_of_range(column, values)
    if outside.any():
        i = int(np.argmax(outside))
        raise InfonasError(
            f"{path}: line {_line(i)}, column {column}: {text.iloc[i].strip()!r} is out of range ({value_range(column)[2]})"
        )
    return values


def _line(row: int) -> int:
    """1-based file line of a data row (line 1 is the header)."""
    return int(row) + 2
