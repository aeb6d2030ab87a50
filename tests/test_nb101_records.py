"""The tfrecord reader: CRC32C, protobuf wire format, framing errors, and aggregation into arrays."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.searchspace import cells, nb101_records as R
from infonas.searchspace import ops as O

# Hand-made pruned cells (adjacency, op names); hashes come from cells.module_hash.
CELLS = [
    (
        [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        [O.INPUT, O.CONV1X1, O.CONV3X3, O.CONV3X3, O.CONV3X3, O.MAXPOOL3X3, O.OUTPUT],
    ),
    ([[0, 1], [0, 0]], [O.INPUT, O.OUTPUT]),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [O.INPUT, O.CONV3X3, O.OUTPUT]),
    (
        [[0, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        [O.INPUT, O.MAXPOOL3X3, O.CONV1X1, O.CONV3X3, O.OUTPUT],
    ),
]


def _hash(adjacency, names):
    return cells.module_hash(adjacency, [O.CODES[n] for n in names])


def _metrics(final: tuple[float, float, float, float], params: int, epochs: int) -> dict:
    """Three evaluations (start, half, end) like the official rows; only the last one is `final`."""
    val, test, train, seconds = final
    start = {"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1,
             "validation_accuracy": 0.1, "test_accuracy": 0.1, "checkpoint_path": "ckpt-0"}
    half = dict(start, current_epoch=epochs / 2, training_time=seconds / 2, validation_accuracy=0.5)
    end = {"current_epoch": float(epochs), "training_time": seconds, "train_accuracy": train,
           "validation_accuracy": val, "test_accuracy": test, "checkpoint_path": f"ckpt-{epochs}"}
    return {"evaluation_data": [start, half, end], "trainable_parameters": params, "total_time": seconds + 7}


def _value(cell: int, epochs: int, repeat: int) -> tuple[float, float, float, float]:
    """Distinct, float32-exact values so every (cell, budget, repeat) slot is identifiable."""
    base = cell * 1000 + epochs * 10 + repeat
    return (base / 2**20, base / 2**19, base / 2**18, float(base))


def _rows(budgets=(4, 12, 36, 108), repeats=3, skip=()):
    """Official-format rows, cells interleaved as in the real files; `skip` drops (cell, E, r)."""
    rows = []
    for epochs in budgets:
        for repeat in range(repeats):
            for c, (adj, names) in enumerate(CELLS):
                if (c, epochs, repeat) in skip:
                    continue
                metrics = _metrics(_value(c, epochs, repeat), 1000 + c, epochs)
                rows.append(R.encode_nb101_row(_hash(adj, names), epochs, adj, names, metrics))
    return rows


@pytest.fixture
def nb_file(tmp_path):
    path = tmp_path / "nasbench.tfrecord"
    R.write_tfrecord(path, _rows())
    return path


# ---------------------------------------------------------------------------- CRC32C


def test_crc32c_known_vectors():
    # RFC 3720 (iSCSI) B.4 vectors and the standard check value.
    vectors = {
        b"123456789": 0xE3069283,
        b"": 0,
        bytes(32): 0x8A9136AA,
        b"\xff" * 32: 0x62A8AB43,
        bytes(range(32)): 0x46DD794E,
    }
    for data, expected in vectors.items():
        assert R.crc32c_python(data) == expected
        assert R.crc32c(data) == expected


def test_crc32c_python_matches_package():
    crc32c = pytest.importorskip("crc32c")
    rng = np.random.default_rng(0)
    for size in (1, 7, 8, 255, 1000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        assert R.crc32c_python(data) == crc32c.crc32c(data)


def test_pure_python_fallback_reads_files(tmp_path, monkeypatch):
    """Files written with the C package read back with the fallback, and vice versa."""
    path = tmp_path / "c.tfrecord"
    R.write_tfrecord(path, [b"abc", bytes(range(200))])
    monkeypatch.setattr(R, "crc32c", R.crc32c_python)
    assert list(R.iter_records(path)) == [b"abc", bytes(range(200))]
    R.write_tfrecord(tmp_path / "py.tfrecord", [b"xyz"])
    monkeypatch.undo()
    assert list(R.iter_records(tmp_path / "py.tfrecord")) == [b"xyz"]


def test_masked_crc_formula():
    data = b"nasbench"
    crc = R.crc32c_python(data)
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert R.masked_crc32c(data) == (rotated + 0xA282EAD8) % 2**32
    assert R.masked_crc32c(b"") == 0xA282EAD8  # crc of nothing is 0


# ---------------------------------------------------------------------------- protobuf


def test_varint_known_bytes_and_round_trip():
    assert R.encode_varint(150) == b"\x96\x01"  # the protobuf documentation's example
    assert R.encode_varint(0) == b"\x00"
    assert R.encode_varint(-1) == b"\xff" * 9 + b"\x01"
    for value in (0, 1, 127, 128, 300, 2**31 - 1, 2**63 + 5):
        assert R.read_varint(b"\x00" + R.encode_varint(value), 1) == (value, 1 + len(R.encode_varint(value)))


def test_decode_hand_written_bytes_skips_unknown_fields():
    inner = b"\x21" + struct.pack("<d", 0.75) + b"\x32\x02hi"  # field 4 double 0.75, field 6 "hi"
    buf = (
        b"\x0a" + bytes([len(inner)]) + inner  # field 1: evaluation_data
        + b"\x10\x96\x01"  # field 2 varint 150
        + b"\x19" + struct.pack("<d", 1.5)  # field 3 double
        + b"\x38\x05"  # unknown field 7 varint
        + b"\x41" + bytes(8)  # unknown field 8 fixed64
        + b"\x4a\x03abc"  # unknown field 9 bytes
        + b"\x55" + bytes(4)  # unknown field 10 fixed32
    )
    assert R.decode_model_metrics(buf) == {
        "evaluation_data": [{"validation_accuracy": 0.75, "checkpoint_path": "hi"}],
        "trainable_parameters": 150,
        "total_time": 1.5,
    }


def test_model_metrics_round_trip_and_negative_int32():
    metrics = _metrics((0.9, 0.8, 1.0, 1234.5), params=-7, epochs=108)
    encoded = R.encode_model_metrics(metrics)
    assert R.decode_model_metrics(encoded) == metrics


@pytest.mark.parametrize(
    "buf, message",
    [
        (b"\x10\x96", "truncated varint"),
        (b"\x0a\x05ab", "runs past the end"),
        (b"\x19\x00\x00", "truncated 64-bit"),
        (b"\x0b", "unsupported wire type 3"),
        (b"\x10" + b"\xff" * 11, "longer than 10 bytes"),
        (b"\x18\x01", "wire type 0, expected 1"),  # total_time sent as a varint
    ],
)
def test_decode_rejects_malformed(buf, message):
    with pytest.raises(ValueError, match=message):
        R.decode_model_metrics(buf)


# ---------------------------------------------------------------------------- framing


def test_iter_records_round_trip(tmp_path):
    payloads = [b"", b"x", bytes(range(256)) * 40]
    path = tmp_path / "plain.tfrecord"
    R.write_tfrecord(path, payloads)
    assert list(R.iter_records(path)) == payloads
    assert path.stat().st_size == sum(16 + len(p) for p in payloads)


def test_iter_records_streams(tmp_path):
    """The first record is yielded before a later corruption is read."""
    path = tmp_path / "s.tfrecord"
    R.write_tfrecord(path, [b"first", b"second"])
    path.write_bytes(path.read_bytes()[:-3])
    records = R.iter_records(path)
    assert next(records) == b"first"
    with pytest.raises(InfonasError, match="record 1 at byte offset 21"):
        next(records)


def _corrupt(path, position, new=None, truncate=False):
    data = bytearray(path.read_bytes())
    if truncate:
        del data[position:]
    else:
        data[position] ^= 0xFF if new is None else new
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "where, kind, message",
    [
        ("data", "flip", "data CRC mismatch"),
        ("data_crc", "flip", "data CRC mismatch"),
        ("length", "flip", "length CRC mismatch"),
        ("length_crc", "flip", "length CRC mismatch"),
        ("header", "truncate", "truncated record header"),
        ("data", "truncate", "truncated record data"),
    ],
)
def test_corruption_names_file_record_and_offset(tmp_path, where, kind, message):
    payloads = [b"a" * 10, b"b" * 20, b"c" * 30, b"d" * 5]
    path = tmp_path / "nasbench.tfrecord"
    R.write_tfrecord(path, payloads)
    start = 16 * 3 + 60  # record 3 begins after records of 10, 20, 30 bytes
    position = {"length": start + 2, "length_crc": start + 9, "header": start + 5,
                "data": start + 14, "data_crc": start + 12 + 5 + 1}[where]
    _corrupt(path, position, truncate=kind == "truncate")
    with pytest.raises(InfonasError) as err:
        list(R.iter_records(path))
    text = str(err.value)
    assert str(path) in text and message in text
    assert f"record 3 at byte offset {start}" in text


def test_missing_file(tmp_path):
    with pytest.raises(InfonasError, match="cannot open"):
        list(R.iter_records(tmp_path / "absent.tfrecord"))


# ---------------------------------------------------------------------------- NB-101 rows


def test_read_round_trip_keeps_budgets_and_repeats(nb_file):
    space = R.read_nb101_tfrecord(nb_file)
    hashes = [_hash(adj, names) for adj, names in CELLS]
    order = np.argsort(hashes)
    assert space["hash"].dtype == np.dtype("S32")
    assert [h.decode() for h in space["hash"]] == sorted(hashes)
    for row, c in enumerate(order):
        adj, names = CELLS[c]
        n = len(names)
        assert space["n_nodes"][row] == n
        np.testing.assert_array_equal(space["adjacency"][row, :n, :n], adj)
        assert not space["adjacency"][row, n:].any() and not space["adjacency"][row, :, n:].any()
        assert list(space["ops"][row]) == [O.CODES[x] for x in names] + [O.PAD_CODE] * (7 - n)
        assert space["params"][row] == 1000 + c
        for epochs in (4, 12, 36, 108):
            for repeat in range(3):
                val, test, train, seconds = _value(c, epochs, repeat)
                assert space[f"val_acc_{epochs}"][row, repeat] == np.float32(val)
                assert space[f"test_acc_{epochs}"][row, repeat] == np.float32(test)
                assert space[f"train_acc_{epochs}"][row, repeat] == np.float32(train)
                assert space[f"train_time_{epochs}"][row, repeat] == np.float32(seconds)
    assert space["val_acc_108"].shape == (len(CELLS), 3) and space["val_acc_108"].dtype == np.float32
    assert space["params"].dtype == np.float64 and space["adjacency"].dtype == np.uint8
    assert space["ops"].dtype == np.int8


def test_stored_hash_matches_recomputed_hash(nb_file):
    space = R.read_nb101_tfrecord(nb_file)
    for row in range(space["hash"].size):
        assert cells.module_hash(space["adjacency"][row], space["ops"][row]) == space["hash"][row].decode()
        assert cells.is_valid_cell(space["adjacency"][row], space["ops"][row])


def test_missing_repeats_are_nan_and_only108_layout(tmp_path):
    path = tmp_path / "nasbench_only108.tfrecord"
    R.write_tfrecord(path, _rows(budgets=(108,), skip={(1, 108, 0), (2, 108, 1), (2, 108, 2)}))
    space = R.read_nb101_tfrecord(path)
    assert sorted(k for k in space if k.endswith("_108")) == ["test_acc_108", "train_acc_108",
                                                              "train_time_108", "val_acc_108"]
    assert not any(k.endswith("_4") for k in space)
    row = {h.decode(): i for i, h in enumerate(space["hash"])}
    r1, r2 = row[_hash(*CELLS[1])], row[_hash(*CELLS[2])]
    # repeats are packed in file order, NaN-padded at the end
    np.testing.assert_array_equal(space["val_acc_108"][r1],
                                  np.float32([_value(1, 108, 1)[0], _value(1, 108, 2)[0], np.nan]))
    assert space["val_acc_108"][r2, 0] == np.float32(_value(2, 108, 0)[0])
    assert np.isnan(space["val_acc_108"][r2, 1:]).all()


def test_foreign_hash_is_rejected(tmp_path):
    adj, names = CELLS[2]
    metrics = _metrics((0.5, 0.5, 0.5, 1.0), 10, 108)
    path = tmp_path / "wrong.tfrecord"
    R.write_tfrecord(path, [R.encode_nb101_row("0" * 32, 108, adj, names, metrics)])
    with pytest.raises(InfonasError, match="does not match its cell"):
        R.read_nb101_tfrecord(path)


@pytest.mark.parametrize(
    "row, message",
    [
        (b"not json", "Expecting value"),
        (b'["%s", 108, "0100", "input,output", "!!"]' % (b"a" * 32), "ModelMetrics|base64|evaluation_data"),
        (json.dumps(["A" * 32, 108, "0100", "input,output", ""]).encode(), "ModelMetrics has no evaluation_data"),
        (json.dumps(["a" * 32, "108", "0100", "input,output", ""]).encode(), "positive integer epoch"),
        (json.dumps(["a" * 32, 108, "0100"]).encode(), "not enough values"),
    ],
)
def test_bad_row_names_record(tmp_path, row, message):
    good = _rows(budgets=(108,), repeats=1)[:2]
    path = tmp_path / "bad.tfrecord"
    R.write_tfrecord(path, good + [row])
    offset = sum(16 + len(g) for g in good)
    with pytest.raises(InfonasError, match=f"record 2 at byte offset {offset}: .*({message})"):
        R.read_nb101_tfrecord(path)


@pytest.mark.parametrize(
    "hash_, adjacency, names, message",
    [
        ("B" * 32, [[0, 1], [0, 0]], ["input", "output"], "not 32 lowercase hex"),
        ("b" * 32, [[0, 1, 0], [0, 0, 2], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"], "square 0/1"),
        ("b" * 32, [[0, 1], [0, 0]], ["input", "conv3x3-bn-relu", "output"], "3 ops for a 2x2"),
        ("b" * 32, [[0, 1], [0, 0]], ["input", "conv5x5"], "unknown op 'conv5x5'"),
        ("b" * 32, np.triu(np.ones((8, 8), int), 1), ["input"] + ["conv3x3-bn-relu"] * 6 + ["output"], "8 vertices"),
    ],
)
def test_bad_cell_names_record(tmp_path, hash_, adjacency, names, message):
    metrics = _metrics((0.5, 0.5, 0.5, 1.0), 10, 108)
    good = _rows(budgets=(108,), repeats=1)[:1]
    path = tmp_path / "bad.tfrecord"
    R.write_tfrecord(path, good + [R.encode_nb101_row(hash_, 108, adjacency, names, metrics)])
    with pytest.raises(InfonasError, match=f"record 1 at byte offset {16 + len(good[0])}: .*{message}"):
        R.read_nb101_tfrecord(path)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    with pytest.raises(InfonasError, match="no records"):
        R.read_nb101_tfrecord(path)
