"""Read (and, for tests, write) the official NAS-Bench-101 tfrecord files without TensorFlow.

A TFRecord file is a sequence of framed records:
``uint64 length | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)``.
Each NB-101 record is JSON ``[module_hash, epochs, adjacency_bits, "op,op,...", base64(ModelMetrics)]``
where ModelMetrics is a small protobuf, decoded here by a hand-written wire-format parser so the
project needs neither TensorFlow nor protobuf. ``read_nb101_tfrecord`` streams the 0.5-2 GB files
and aggregates them into the searchspace.h5 array layout (`searchspace.store`, docs/layout.md).
"""

from __future__ import annotations

import array
import binascii
import json
import logging
import math
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from tqdm import tqdm

from infonas.errors import InfonasError
from infonas.files import atomic_path
from infonas.searchspace import ops as O
from infonas.searchspace.cells import module_hash, pad_cell
from infonas.searchspace.metrics import PARAMS, metric_key, out_of_range, value_range

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), as TFRecord framing uses it
# --------------------------------------------------------------------------------------------

_CRC32C_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CRC32C_POLY if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc32c_python(data: bytes) -> int:
    """Table-driven CRC32C in pure Python: the fallback when the `crc32c` package is missing."""
    crc = _U32
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ _U32


try:  # the C implementation is ~1000x faster; reading 2 GB in pure Python would take hours
    from crc32c import crc32c as crc32c
except ImportError:  # pragma: no cover - exercised only where the package is absent
    crc32c = crc32c_python


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 and add a constant (so CRCs of CRCs differ)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


# --------------------------------------------------------------------------------------------
# TFRecord framing
# --------------------------------------------------------------------------------------------

_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")


def _scan(path: str | os.PathLike, progress: bool = False) -> Iterator[tuple[int, int, bytes]]:
    """Yield (record number, byte offset, data) for each record, verifying both CRCs.

    Reads through a buffered stream, so memory stays at one record whatever the file size.
    """
    path = Path(path)
    try:
        handle = open(path, "rb", buffering=1 << 20)
    except OSError as exc:
        raise InfonasError(f"{path}: cannot open tfrecord file ({exc.strerror})") from exc
    size = os.fstat(handle.fileno()).st_size
    with handle, tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not progress) as bar:
        offset, number, pending = 0, 0, 0
        while True:
            header = handle.read(_HEADER.size)
            if not header:
                break
            where = f"record {number} at byte offset {offset}"
            if len(header) < _HEADER.size:
                raise InfonasError(f"{path}: truncated record header in {where}")
            length, length_crc = _HEADER.unpack(header)
            if masked_crc32c(header[:8]) != length_crc:
                raise InfonasError(f"{path}: length CRC mismatch in {where}")
            end = offset + _HEADER.size + length + _FOOTER.size
            if end > size:
                raise InfonasError(
                    f"{path}: truncated record data in {where} "
                    f"(record needs {end - offset} bytes, file has {size - offset} left)"
                )
            body = handle.read(length + _FOOTER.size)
            data = body[:length]
            if masked_crc32c(data) != _FOOTER.unpack_from(body, length)[0]:
                raise InfonasError(f"{path}: data CRC mismatch in {where}")
            yield number, offset, data
            pending += end - offset
            if pending >= 1 << 22:
                bar.update(pending)
                pending = 0
            offset, number = end, number + 1
        bar.update(pending)


def iter_records(path: str | os.PathLike) -> Iterator[bytes]:
    """Stream the data bytes of every record in a TFRecord file; InfonasError on corruption.

    The error names the file, the 0-based record number and the byte offset where it starts.
    """
    for _, _, data in _scan(path):
        yield data


def write_tfrecord(path: str | os.PathLike, records: Iterable[bytes]) -> None:
    """Write records in TFRecord framing (atomically); used to build test fixtures."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        for data in records:
            length = struct.pack("<Q", len(data))
            out.write(length)
            out.write(_FOOTER.pack(masked_crc32c(length)))
            out.write(data)
            out.write(_FOOTER.pack(masked_crc32c(data)))


# --------------------------------------------------------------------------------------------
# Protobuf wire format (only what ModelMetrics needs)
# --------------------------------------------------------------------------------------------

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
_DOUBLE = struct.Struct("<d")


@dataclass(frozen=True)
class Field:
    """One protobuf field: its name, scalar kind or nested schema, and whether it repeats."""

    name: str
    kind: str | dict  # "double" | "int32" | "string" | "bytes" | nested {number: Field}
    repeated: bool = False


EVALUATION_DATA: dict[int, Field] = {
    1: Field("current_epoch", "double"),
    2: Field("training_time", "double"),
    3: Field("train_accuracy", "double"),
    4: Field("validation_accuracy", "double"),
    5: Field("test_accuracy", "double"),
    6: Field("checkpoint_path", "string"),
}
MODEL_METRICS: dict[int, Field] = {
    1: Field("evaluation_data", EVALUATION_DATA, repeated=True),
    2: Field("trainable_parameters", "int32"),
    3: Field("total_time", "double"),
}
#: ModelMetrics with evaluation_data left as bytes: the reader decodes only the final evaluation.
_MODEL_METRICS_LAZY: dict[int, Field] = {**MODEL_METRICS, 1: Field("evaluation_data", "bytes", repeated=True)}
_WIRE_OF_KIND = {"double": WIRE_I64, "int32": WIRE_VARINT, "string": WIRE_LEN, "bytes": WIRE_LEN}


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at `pos`; returns (value, next position)."""
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint longer than 10 bytes")


def encode_varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as 64-bit two's complement (protobuf int32/int64)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield (field number, wire type, value): an int for varints, raw bytes for the others."""
    pos, end = 0, len(buf)
    while pos < end:
        # one-byte tags and lengths are the norm: skip the read_varint call for them (2x faster)
        if buf[pos] < 0x80:
            tag, pos = buf[pos], pos + 1
        else:
            tag, pos = read_varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == WIRE_VARINT:
            value, pos = read_varint(buf, pos)
        elif wire in (WIRE_I64, WIRE_I32):
            width = 8 if wire == WIRE_I64 else 4
            if pos + width > end:
                raise ValueError(f"truncated {width * 8}-bit field {number}")
            value, pos = buf[pos:pos + width], pos + width
        elif wire == WIRE_LEN:
            if pos < end and buf[pos] < 0x80:
                length, pos = buf[pos], pos + 1
            else:
                length, pos = read_varint(buf, pos)
            if pos + length > end:
                raise ValueError(f"length-delimited field {number} runs past the end")
            value, pos = buf[pos:pos + length], pos + length
        else:
            raise ValueError(f"unsupported wire type {wire} (field {number})")
        yield number, wire, value


def decode_message(buf: bytes, schema: dict[int, Field]) -> dict:
    """Decode a message into a dict by `schema`; unknown fields are skipped, absent ones omitted."""
    out: dict = {}
    for number, wire, value in iter_fields(buf):
        field = schema.get(number)
        if field is None:
            continue
        nested = isinstance(field.kind, dict)
        expected = WIRE_LEN if nested else _WIRE_OF_KIND[field.kind]
        if wire != expected:
            raise ValueError(f"field {field.name} has wire type {wire}, expected {expected}")
        if nested:
            decoded = decode_message(value, field.kind)
        elif field.kind == "double":
            decoded = _DOUBLE.unpack(value)[0]
        elif field.kind == "int32":
            decoded = value - (1 << 64) if value >= 1 << 63 else value
        elif field.kind == "string":
            decoded = value.decode("utf-8")
        else:
            decoded = value
        if field.repeated:
            out.setdefault(field.name, []).append(decoded)
        else:
            out[field.name] = decoded
    return out


def encode_message(message: dict, schema: dict[int, Field]) -> bytes:
    """Inverse of `decode_message` (fields in number order, as protobuf serialisers write them)."""
    out = bytearray()
    for number, field in sorted(schema.items()):
        if field.name not in message:
            continue
        values = message[field.name] if field.repeated else [message[field.name]]
        for value in values:
            if isinstance(field.kind, dict):
                payload = encode_message(value, field.kind)
                out += encode_varint(number << 3 | WIRE_LEN) + encode_varint(len(payload)) + payload
            elif field.kind == "double":
                out += encode_varint(number << 3 | WIRE_I64) + _DOUBLE.pack(value)
            elif field.kind == "int32":
                out += encode_varint(number << 3 | WIRE_VARINT) + encode_varint(int(value))
            else:
                payload = value.encode("utf-8") if field.kind == "string" else value
                out += encode_varint(number << 3 | WIRE_LEN) + encode_varint(len(payload)) + payload
    return bytes(out)


def decode_model_metrics(buf: bytes) -> dict:
    """ModelMetrics protobuf bytes -> {"evaluation_data": [{...}, ...], "trainable_parameters", "total_time"}."""
    return decode_message(buf, MODEL_METRICS)


def encode_model_metrics(metrics: dict) -> bytes:
    """The dict layout of `decode_model_metrics` -> ModelMetrics protobuf bytes."""
    return encode_message(metrics, MODEL_METRICS)


# --------------------------------------------------------------------------------------------
# NB-101 rows
# --------------------------------------------------------------------------------------------

_HASH_RE = re.compile(r"[0-9a-f]{32}")
#: (array name stem, EvaluationData field) of the final evaluation, in the order rows are stored.
FINAL_METRICS: tuple[tuple[str, str], ...] = (
    ("val_acc", "validation_accuracy"),
    ("test_acc", "test_accuracy"),
    ("train_acc", "train_accuracy"),
    ("train_time", "training_time"),
)


def encode_nb101_row(hash_: str, epochs: int, adjacency, op_names: list[str], metrics: dict) -> bytes:
    """One NB-101 record in the official JSON layout (adjacency flattened row-major to 0/1 digits)."""
    bits = "".join(str(int(v)) for v in np.asarray(adjacency).reshape(-1))
    raw_metrics = binascii.b2a_base64(encode_model_metrics(metrics), newline=False).decode("ascii")
    return json.dumps([hash_, int(epochs), bits, ",".join(op_names), raw_metrics]).encode("utf-8")


def _parse_cell(raw_adjacency: str, raw_ops: str) -> tuple[np.ndarray, np.ndarray]:
    """Official row strings -> padded (7,7) uint8 adjacency and (7,) int8 ops."""
    bits = np.frombuffer(raw_adjacency.encode("ascii"), dtype=np.uint8) - ord("0")
    n = math.isqrt(bits.size)
    names = raw_ops.split(",")
    if n * n != bits.size or (bits > 1).any():
        raise ValueError(f"adjacency {raw_adjacency!r} is not a square 0/1 matrix")
    if len(names) != n:
        raise ValueError(f"{len(names)} ops for a {n}x{n} adjacency")
    unknown = [name for name in names if name not in O.CODES]
    if unknown:
        raise ValueError(f"unknown op {unknown[0]!r}")
    if n > O.MAX_VERTICES:
        raise ValueError(f"{n} vertices, more than {O.MAX_VERTICES}")
    return pad_cell(bits.reshape(n, n), [O.CODES[name] for name in names])


def _final_evaluation(data: bytes) -> tuple[str, int, str, str, tuple[float, ...], float]:
    """Decode one record: (hash, epochs, adjacency bits, ops, final metrics, trainable params)."""
    hash_, epochs, raw_adjacency, raw_ops, raw_metrics = json.loads(data)
    if not isinstance(hash_, str) or not isinstance(epochs, int) or epochs <= 0:
        raise ValueError("expected a string module hash and a positive integer epoch budget")
    metrics = decode_message(binascii.a2b_base64(raw_metrics), _MODEL_METRICS_LAZY)
    evaluations = metrics.get("evaluation_data")
    if not evaluations:
        raise ValueError("ModelMetrics has no evaluation_data")
    final = decode_message(evaluations[-1], EVALUATION_DATA)
    values = tuple(final.get(field, math.nan) for _, field in FINAL_METRICS)
    params = float(metrics.get("trainable_parameters", math.nan))
    return hash_, epochs, raw_adjacency, raw_ops, values, params


def read_nb101_tfrecord(path: str | os.PathLike, progress: bool = False, verify_sample: int = 32) -> dict:
    """Aggregate an official NB-101 tfrecord (full or only108) into searchspace arrays.

    Returns, for N unique module hashes sorted by hash: ``hash`` (N,) S32, ``adjacency`` (N,7,7)
    uint8, ``ops`` (N,7) int8, ``n_nodes`` (N,) int8, ``params`` (N,) float64 and, for every epoch
    budget E in the file, ``val_acc_E``, ``test_acc_E``, ``train_acc_E``, ``train_time_E`` of shape
    (N, R) float32 holding every repeat in file order (R = most repeats of any hash, NaN-padded).
    Values are from the final evaluation (``evaluation_data[-1]``). ``verify_sample`` evenly spaced
    rows get their module hash recomputed from the stored cell, catching a file in another format.
    """
    index: dict[str, int] = {}
    first_seen: list[tuple[int, int, str, str]] = []  # per hash: record, offset, adjacency, ops
    params: list[float] = []
    # compact typed buffers: the 1.27M rows of nasbench_only108 take ~50 MB, not ~400 MB of tuples
    row_hash = array.array("q")
    row_epochs = array.array("q")
    row_values = array.array("d")
    for number, offset, data in _scan(path, progress):
        try:
            hash_, epochs, raw_adjacency, raw_ops, values, n_params = _final_evaluation(data)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InfonasError(f"{path}: bad NB-101 row in record {number} at byte offset {offset}: {exc}") from exc
        k = index.get(hash_)
        if k is None:
            k = index[hash_] = len(first_seen)
            first_seen.append((number, offset, raw_adjacency, raw_ops))
            params.append(n_params)
        row_hash.append(k)
        row_epochs.append(epochs)
        row_values.extend(values)
    if not first_seen:
        raise InfonasError(f"{path}: tfrecord holds no records")
    log.info("%s: %d records, %d unique cells", path, len(row_hash), len(first_seen))
    values = np.frombuffer(row_values, dtype=np.float64).reshape(-1, len(FINAL_METRICS))
    _check_ranges(path, values, np.asarray(params, dtype=np.float64), first_seen)

    hashes = list(index)
    order = sorted(range(len(hashes)), key=hashes.__getitem__)
    rank = np.empty(len(hashes), dtype=np.int64)
    rank[order] = np.arange(len(hashes))
    space = _cells(path, [hashes[k] for k in order], [first_seen[k] for k in order])
    space["params"] = np.asarray(params, dtype=np.float64)[order]
    space.update(_metric_arrays(rank[np.frombuffer(row_hash, dtype=np.int64)],
                                np.frombuffer(row_epochs, dtype=np.int64), values, len(hashes)))
    _verify_hashes(path, space, verify_sample)
    return space


def _check_ranges(path, values: np.ndarray, params: np.ndarray, first_seen: list) -> None:
    """Reject accuracies outside [0, 1] and negative times or parameter counts, naming the record.

    `values` holds one row per record in file order, `params` one per hash in first-seen order;
    vectorised, so the check costs nothing next to reading the file.
    """
    for column, (stem, field) in enumerate(FINAL_METRICS):
        bad = out_of_range(stem, values[:, column])
        if bad.any():
            number = int(np.argmax(bad))
            raise InfonasError(f"{path}: record {number}: {field} {values[number, column]:g} is out of range "
                               f"({value_range(stem)[2]})")
    bad = out_of_range(PARAMS, params)
    if bad.any():
        k = int(np.argmax(bad))
        number, offset = first_seen[k][:2]
        raise InfonasError(f"{path}: record {number} at byte offset {offset}: trainable_parameters "
                           f"{params[k]:g} is out of range ({value_range(PARAMS)[2]})")


def _cells(path, hashes: list[str], first_seen: list[tuple[int, int, str, str]]) -> dict:
    """Validate hashes and parse each unique cell once (from its first record)."""
    n = len(hashes)
    adjacency = np.zeros((n, O.MAX_VERTICES, O.MAX_VERTICES), dtype=np.uint8)
    ops = np.empty((n, O.MAX_VERTICES), dtype=np.int8)
    for i, (hash_, (number, offset, raw_adjacency, raw_ops)) in enumerate(zip(hashes, first_seen)):
        try:
            if not _HASH_RE.fullmatch(hash_):
                raise ValueError(f"module hash {hash_!r} is not 32 lowercase hex digits")
            adjacency[i], ops[i] = _parse_cell(raw_adjacency, raw_ops)
        except (ValueError, UnicodeEncodeError) as exc:
            raise InfonasError(f"{path}: bad NB-101 row in record {number} at byte offset {offset}: {exc}") from exc
    return {
        "hash": np.asarray(hashes, dtype="S32"),
        "adjacency": adjacency,
        "ops": ops,
        "n_nodes": (ops != O.PAD_CODE).sum(axis=1).astype(np.int8),
    }


def _metric_arrays(rows: np.ndarray, epochs: np.ndarray, values: np.ndarray, n: int) -> dict:
    """Scatter per-record final metrics into (N, repeats) arrays per epoch budget, file order kept."""
    out = {}
    for budget in np.unique(epochs):
        mask = epochs == budget
        rows_e, values_e = rows[mask], values[mask]
        order = np.argsort(rows_e, kind="stable")
        sorted_rows = rows_e[order]
        new_group = np.r_[True, sorted_rows[1:] != sorted_rows[:-1]]
        group_start = np.flatnonzero(new_group)[np.cumsum(new_group) - 1]
        repeat = np.empty_like(order)
        repeat[order] = np.arange(order.size) - group_start
        for column, (stem, _) in enumerate(FINAL_METRICS):
            array = np.full((n, int(repeat.max()) + 1), np.nan, dtype=np.float32)
            array[rows_e, repeat] = values_e[:, column]
            out[metric_key(stem, int(budget))] = array
    return out


def _verify_hashes(path, space: dict, sample: int) -> None:
    """Recompute the official module hash of evenly spaced rows; a mismatch means a foreign file."""
    n = space["hash"].size
    for i in np.unique(np.linspace(0, n - 1, num=min(sample, n)).astype(np.int64)):
        stored = space["hash"][i].decode("ascii")
        computed = module_hash(space["adjacency"][i], space["ops"][i])
        if computed != stored:
            raise InfonasError(f"{path}: stored module hash {stored} does not match its cell (hash {computed})")
