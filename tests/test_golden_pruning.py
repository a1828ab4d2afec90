"""Schedules, saturating importance accumulators, survivor selection."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.formats import HEAD_IMPORTANCE, TOKEN_IMPORTANCE, Fmt
from golden.pruning import (
    head_importance,
    keep_count,
    keep_ratio,
    keep_start,
    prune,
    sat_add,
    token_importance,
    topk_rows,
    value_keep_code,
    value_keep_count,
    value_keep_count_code,
)
from golden.topk import topk

SEED = 23


def test_schedule_paper_defaults():
    ratios = [keep_ratio(l, 12, 0.15, 0.5) for l in range(12)]
    assert keep_start(12, 0.15) == 2
    assert ratios[:2] == [1.0, 1.0]
    assert ratios[-1] == pytest.approx(0.5)
    steps = np.diff(ratios[1:])
    assert np.allclose(steps, -0.05)               # linear: 10 steps of 0.05
    heads = [keep_count(keep_ratio(l, 12, 0.3, 0.9), 12) for l in range(12)]
    assert heads[:4] == [12] * 4 and heads[-1] == 11 and heads == sorted(heads, reverse=True)
    assert keep_ratio(0, 12, 0.0, 0.5) < 1.0       # start 0: the first layer already prunes


def test_keep_count():
    assert keep_count(0.7, 10) == 7                # no float drift to 8
    assert keep_count(0.01, 10) == 1 and keep_count(1.0, 0) == 0
    assert value_keep_count(0.5, np.array([0, 1, 3, 993])).tolist() == [0, 1, 2, 497]


def test_value_keep_code_counts_equal_ceil():
    assert value_keep_code(1.0) == 65536 and value_keep_code(0.5) == 32768
    assert value_keep_code(0.3) == 19660
    n = np.arange(0, 8193)
    for frac in (1.0, 0.9, 0.8, 0.75, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.1):
        ceil = np.where(n > 0, np.clip(np.ceil(np.round(frac * n, 9)).astype(np.int64), 1, None), 0)
        assert np.array_equal(value_keep_count(frac, n), ceil), frac
    assert value_keep_count_code(0, np.array([0, 5])).tolist() == [0, 1]


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=30), st.integers(4, 16))
def test_property_saturation_sequential_equals_min(adds, bits):
    fmt = Fmt(signed=False, bits=bits, frac=0)
    acc = np.zeros(1, dtype=np.int64)
    for a in adds:
        acc = sat_add(acc, [a], fmt)
        assert 0 <= acc[0] <= fmt.max_int
    assert acc[0] == min(sum(adds), fmt.max_int)


def test_token_and_head_importance_saturate():
    prob = np.full((12, 1024, 3), 1 << 15)        # every row all on every token (beyond a softmax)
    acc = np.zeros(3, dtype=np.int64)
    for _ in range(12):
        acc = token_importance(acc, prob)
    assert np.all(acc == TOKEN_IMPORTANCE.max_int)
    out = np.full((2, 1024, 64), 32767)
    hacc = np.zeros(2, dtype=np.int64)
    for _ in range(3):
        hacc = head_importance(hacc, out)
    assert np.all(hacc == 3 * 1024 * 64 * 32767)
    hacc = head_importance(hacc + (HEAD_IMPORTANCE.max_int - hacc - 5), out)
    assert np.all(hacc == HEAD_IMPORTANCE.max_int)
    assert head_importance(np.zeros(2, np.int64), -out[:, :1, :2])[0] == 2 * 32767


def test_prune_never_revives_and_exact_k():
    rng = np.random.default_rng(SEED)
    print("seed", SEED)
    alive = np.ones(50, dtype=bool)
    for k in (40, 30, 30, 10, 1):
        scores = rng.integers(0, 5, 50)            # many ties
        new = prune(scores, alive, k)
        assert new.sum() == k and not np.any(new & ~alive)
        idx = np.flatnonzero(alive)
        assert np.array_equal(np.flatnonzero(new), idx[topk(scores[idx], k)])
        alive = new


@settings(derandomize=True, max_examples=80, deadline=None)
@given(st.integers(1, 12), st.integers(1, 20), st.integers(0, 2**31))
def test_property_topk_rows_matches_golden(rows, n, seed):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, (rows, n))
    mask = rng.random((rows, n)) < 0.7
    k = np.array([rng.integers(0, m.sum() + 1) for m in mask])
    keep = topk_rows(scores, k, mask)
    for i in range(rows):
        idx = np.flatnonzero(mask[i])
        assert np.array_equal(np.flatnonzero(keep[i]), idx[topk(scores[i, idx], int(k[i]))])
        assert keep[i].sum() == k[i]


def test_value_keep_code_wrong():
    with pytest.raises(ValueError, match="code must be in 0..65536, not 65537"):
        value_keep_count_code(65537, [3])
    with pytest.raises(TypeError, match="code must be an integer"):
        value_keep_count_code(0.5, [3])


def test_pruning_wrong():
    with pytest.raises(ValueError, match="k must be in 0..3 \\(alive elements\\), not 4"):
        prune(np.zeros(5), np.array([1, 1, 1, 0, 0], bool), 4)
    with pytest.raises(ValueError, match="k must be in 0..n visible per row; row 0: k=3, n=2"):
        topk_rows(np.zeros((1, 4)), [3], np.array([[1, 1, 0, 0]], bool))
    with pytest.raises(ValueError, match="layer must be in 0..11, not 12"):
        keep_ratio(12, 12, 0.15, 0.5)
    with pytest.raises(ValueError, match="final must be in \\(0, 1\\], not 0.0"):
        keep_ratio(5, 12, 0.15, 0.0)
    with pytest.raises(ValueError, match="add must be non-negative"):
        sat_add([0], [-1], TOKEN_IMPORTANCE)
    with pytest.raises(ValueError, match="prob must have shape \\(H, rows, n=3\\)"):
        token_importance(np.zeros(3, np.int64), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="scores and alive must be 1-D of one shape"):
        prune(np.zeros(3), np.ones(4, bool), 1)
    with pytest.raises(ValueError, match="value_keep must be in \\(0, 1\\]"):
        value_keep_count(1.5, [3])


def test_protect_mask():
    from golden.pruning import protect_mask

    assert protect_mask(6, 2, 1).tolist() == [True, True, False, False, False, True]
    assert protect_mask(3, 5, 5).all()
    assert not protect_mask(4, 0, 0).any()
    with pytest.raises(ValueError, match="n, sinks and recent must be >= 0"):
        protect_mask(4, -1, 0)


def test_prune_step_protected():
    """The protected alive elements stay; the rest of the quota goes by score (ties: earliest)."""
    from golden.pruning import prune_step

    scores = np.array([9, 1, 5, 5, 7, 0, 5])
    alive = np.array([1, 1, 1, 1, 0, 1, 1], dtype=bool)
    protect = np.array([0, 1, 0, 0, 1, 0, 0], dtype=bool)   # 4 is protected but dead: stays dead
    assert prune_step(scores, alive, 3, protect).tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert prune_step(scores, alive, 6, protect).tolist() == alive.tolist()   # nothing to prune
    everything = np.ones(7, dtype=bool)
    assert prune_step(scores, alive, 1, everything).tolist() == alive.tolist()  # protected > k
    with pytest.raises(ValueError, match="protect must have the shape of alive"):
        prune_step(scores, alive, 1, protect[:3])
