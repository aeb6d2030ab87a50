"""Raw cell features: 21 upper-triangle adjacency entries and 7x5 one-hot ops per padded cell."""

import numpy as np
import pytest

from infonas.errors import InfonasError
from infonas.searchspace import ops as O
from infonas.searchspace.cells import pad_cell
from infonas.searchspace.features import N_RAW_FEATURES, raw_cell_features


def _cell():
    """input -> conv3x3 -> output and input -> output: 3 nodes, padded to 7."""
    adj = np.array([[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    return pad_cell(adj, [O.INPUT_CODE, O.CONV3X3_CODE, O.OUTPUT_CODE])


def test_shape_is_56_and_float32():
    adj, ops = _cell()
    features = raw_cell_features(adj[None], ops[None])
    assert N_RAW_FEATURES == 56
    assert features.shape == (1, 56) and features.dtype == np.float32


def test_values_follow_the_upper_triangle_row_by_row_then_one_hot_ops():
    adj, ops = _cell()
    features = raw_cell_features(adj[None], ops[None])[0]
    upper = features[:21]
    # row 0 holds (0,1)..(0,6) at 0..5, row 1 holds (1,2)..(1,6) at 6..10
    assert np.flatnonzero(upper).tolist() == [0, 1, 6]
    onehot = features[21:].reshape(7, 5)
    assert onehot[0].tolist() == [1, 0, 0, 0, 0]
    assert onehot[1].tolist() == [0, 0, 1, 0, 0]
    assert onehot[2].tolist() == [0, 0, 0, 0, 1]


def test_padding_rows_and_columns_are_zero():
    adj, ops = _cell()
    features = raw_cell_features(adj[None], ops[None])[0]
    assert not features[21:].reshape(7, 5)[3:].any()
    assert features.sum() == 3 + 3  # three edges, three real nodes


def test_full_cell_uses_every_slot():
    adj = np.triu(np.ones((7, 7), dtype=np.uint8), k=1)
    ops = np.array([O.INPUT_CODE, O.CONV1X1_CODE, O.CONV3X3_CODE, O.MAXPOOL_CODE, O.CONV1X1_CODE,
                    O.CONV3X3_CODE, O.OUTPUT_CODE])
    features = raw_cell_features(adj[None], ops[None])[0]
    assert features[:21].all()
    assert features[21:].reshape(7, 5).sum(axis=1).tolist() == [1] * 7


def test_rows_are_independent_and_batched():
    adj, ops = _cell()
    other = np.zeros_like(adj)
    other[0, 1] = other[1, 6] = 1
    batch = raw_cell_features(np.stack([adj, other]), np.stack([ops, ops]))
    assert np.array_equal(batch[0], raw_cell_features(adj[None], ops[None])[0])
    assert np.flatnonzero(batch[1, :21]).tolist() == [0, 10]


@pytest.mark.parametrize("adj_shape, ops_shape", [((2, 6, 6), (2, 6)), ((2, 7, 7), (3, 7)), ((7, 7), (7,))])
def test_bad_shapes_name_the_input(adj_shape, ops_shape):
    with pytest.raises(InfonasError, match="raw features"):
        raw_cell_features(np.zeros(adj_shape), np.zeros(ops_shape, dtype=np.int8))


def test_bad_op_code_is_an_error():
    adj, ops = _cell()
    ops = ops.copy()
    ops[1] = 7
    with pytest.raises(InfonasError, match="op codes"):
        raw_cell_features(adj[None], ops[None])


def test_raw_feature_sets_are_one_set_per_search_space():
    from infonas.models.variants import label_raw_feature_sets

    shared = label_raw_feature_sets([("a", ["r.h5"]), ("b", ["r.h5"])])
    assert shared == [("raw cells", "raw", "raw", ["r.h5"])]
    apart = label_raw_feature_sets([("a", ["r1.h5"]), ("b", ["r2.h5"])])
    assert [label for label, *_ in apart] == ["a: raw cells", "b: raw cells"]


def test_raw_cells_have_a_style_of_their_own():
    from infonas.reporting.comparisons import RAW_STYLE, comparison_styles

    styles = comparison_styles([("v/infonas/6", "infonas"), ("raw", "raw"), ("", "random")])
    assert styles[("raw", "raw")] == RAW_STYLE
    assert styles[("v/infonas/6", "infonas")]["color"] != RAW_STYLE["color"]
