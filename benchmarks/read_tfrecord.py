"""Reader speed of the NB-101 tfrecord without TensorFlow, on a synthetic file in the official format.

    python benchmarks/read_tfrecord.py --rows 50000

Writes `--rows` records (3 repeats per hash, the only108 layout) with the project's own writer,
then times the framing/CRC pass alone and the full read (JSON rows, protobuf metrics, arrays), and
projects the time for the 423,624 x 3 rows of nasbench_only108.tfrecord. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from infonas.searchspace import nb101_records as records
from infonas.searchspace.ops import OP_NAMES

# The NB-101 README's example cell.
ADJACENCY = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
             [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
OPS = [OP_NAMES[c] for c in (0, 1, 2, 2, 2, 3, 4)]


def synthetic_rows(n_rows: int, seed: int):
    rng = np.random.default_rng(seed)
    for i in range(n_rows):
        module_hash = hashlib.md5(str(i // 3).encode()).hexdigest()
        acc = rng.random(4)
        evaluations = [
            {"current_epoch": epoch, "training_time": float(acc[3]) * epoch, "train_accuracy": float(acc[2]),
             "validation_accuracy": float(acc[0]), "test_accuracy": float(acc[1]),
             "checkpoint_path": f"gs://nasbench/{module_hash}/repeat_{i % 3 + 1}/model.ckpt-{int(epoch * 3125)}"}
            for epoch in (0.0, 54.0, 108.0)
        ]
        metrics = {"evaluation_data": evaluations, "trainable_parameters": 2694282, "total_time": 1700.5}
        yield records.encode_nb101_row(module_hash, 108, ADJACENCY, OPS, metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.tfrecord"
        records.write_tfrecord(path, synthetic_rows(args.rows, args.seed))
        tic = time.perf_counter()
        for _ in records.iter_records(path):
            pass
        framing_s = time.perf_counter() - tic
        tic = time.perf_counter()
        space = records.read_nb101_tfrecord(path, verify_sample=0)
        read_s = time.perf_counter() - tic
        size = os.path.getsize(path)
    print(json.dumps({
        "rows": args.rows, "unique_hashes": int(space["hash"].size), "bytes_per_row": round(size / args.rows),
        "framing_rows_per_s": round(args.rows / framing_s), "read_rows_per_s": round(args.rows / read_s),
        "read_s": round(read_s, 2), "projected_only108_s": round(423_624 * 3 * read_s / args.rows, 1),
    }))


if __name__ == "__main__":
    main()
