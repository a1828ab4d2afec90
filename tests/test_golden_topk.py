"""golden.topk (the tie rule) and golden.topk_cycles (cycle models)."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden import topk_cycles
from golden.topk import topk, topk_threshold


def test_topk_examples():
    assert topk([5, 1, 5, 3, 5], 2).tolist() == [0, 2]
    assert topk([1, 9, 3, 9, 2], 3).tolist() == [1, 2, 3]
    assert topk([4, 4, 4], 0).tolist() == []
    assert topk([-3, -1, -2], 1).tolist() == [1]
    assert topk_threshold([7, 3, 7, 1], 2) == (7, 0, 2)
    assert topk_threshold([7, 3, 7, 1], 3) == (3, 2, 1)
    assert topk(np.array([2.5, 0.5, 2.5]), 1).dtype == np.int64


@st.composite
def _request(draw):
    values = draw(st.lists(st.integers(-4, 4), min_size=1, max_size=40))
    return values, draw(st.integers(0, len(values)))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_request())
def test_topk_properties(request):
    values, k = request
    x = np.array(values)
    kept = topk(x, k)
    assert kept.shape == (k,)
    assert np.all(np.diff(kept) > 0)                      # input order, no repeats
    if k == 0:
        return
    kth = np.sort(x)[::-1][k - 1]
    assert set(np.flatnonzero(x > kth)) <= set(kept.tolist())   # every greater one kept
    assert np.all(x[kept] >= kth)
    equal = np.flatnonzero(x == kth)
    kept_equal = [i for i in kept.tolist() if x[i] == kth]
    assert kept_equal == equal[:len(kept_equal)].tolist()       # the earliest equals
    assert topk_threshold(x, k) == (kth, int(np.count_nonzero(x > kth)), len(kept_equal))


@pytest.mark.parametrize("scores, k, error, message", [
    ([[1, 2]], 1, ValueError, "scores must be one-dimensional, not of shape (1, 2)"),
    (["a", "b"], 1, TypeError, "scores must be integers or floats, not <U1"),
    ([1, 2], 1.0, TypeError, "k must be an integer, not 1.0"),
    ([1, 2], True, TypeError, "k must be an integer, not True"),
    ([1, 2], 3, ValueError, "k must be in 0..n (n=2), not 3"),
    ([1, 2], -1, ValueError, "k must be in 0..n (n=2), not -1"),
])
def test_topk_wrong(scores, k, error, message):
    with pytest.raises(error, match=re.escape(message)):
        topk(scores, k)


def test_topk_threshold_wrong():
    with pytest.raises(ValueError, match=r"k must be in 1\.\.n for a threshold, not 0"):
        topk_threshold([1, 2], 0)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(_request(), st.sampled_from([2, 4, 16, 64]))
def test_select_rounds_find_the_kth_value(request, p):
    values, k = request
    if k == 0:
        return
    rounds = topk_cycles.select_rounds(values, k, p)
    last = rounds[-1]
    assert last.threshold == topk_threshold(values, k)[0]
    assert all(r.threshold is None for r in rounds[:-1])
    assert rounds[0][:2] == (len(values), k)
    for r in rounds:
        assert r.hi >= r.lo and r.n_gt_hi <= min(r.n_ge_hi, r.n_gt_lo) <= r.n_ge_lo <= r.n
        assert r.n_ge_hi <= r.n_gt_lo or r.hi == r.lo
    # Each round strictly shrinks the candidates; a set within the sample ends it.
    assert all(b[0] < a[0] for a, b in zip(rounds, rounds[1:], strict=False))
    assert all(r[0] > topk_cycles.sample_size(p) for r in rounds[:-1])


def test_engine_cycles_formula():
    # n <= S: one round; decision at beats - 1 + ROUND_LATENCY (cycle 16 today), result row 0
    # FINAL_LATENCY cycles after the next.
    select = 1 - 1 + topk_cycles.ROUND_LATENCY + 1
    total = select + topk_cycles.FINAL_LATENCY + 1
    assert (select, total) == (17, 32)
    # Buffers deeper than LUT_RAM_ROWS are block RAM: one register more after each read.
    assert [topk_cycles.block_ram(n, 4) for n in (256, 257)] == [False, True]
    assert (topk_cycles.round_latency(512, 4), topk_cycles.final_latency(512, 4)) == (17, 15)
    assert topk_cycles.request_cycles([3, 1, 2], 2, n_max=512, parallelism=4) == total + 2
    c = topk_cycles.engine_cycles([3, 1, 2], 2, n_max=8, parallelism=4)
    assert c == {"select": select, "total": total, "rounds": 1, "rows": [0]}
    assert topk_cycles.request_cycles([3, 1, 2], 2, n_max=8, parallelism=4) == total
    assert topk_cycles.select_cycles([3, 1, 2], 2, n_max=8, parallelism=4) == select
    # Bad requests and k == 0 consume the beats and emit one beat.
    assert topk_cycles.engine_cycles([1] * 9, 0, n_max=16, parallelism=4)["total"] == 4
    assert topk_cycles.engine_cycles([1] * 9, 2, n_max=8, parallelism=4) == \
        {"select": None, "total": 4, "rounds": 0, "rows": []}
    assert topk_cycles.engine_cycles([1, 2], 5, n_max=8, parallelism=2) == \
        topk_cycles.engine_cycles([1, 2], 2, n_max=8, parallelism=2)


def test_stream_cycles_rules():
    """Back to back: the rules of stream_cycles on hand-checked cases (P = 4, n_max = 16)."""
    one = {"n_max": 16, "parallelism": 4}
    alone = topk_cycles.engine_cycles([3, 1, 2, 9, 5], 2, **one)
    # Request 0: accepted at 0, scores from START_DELAY; its beats at the engine's rows.
    first, second = topk_cycles.stream_cycles([([3, 1, 2, 9, 5], 2), ([], 1)], **one)
    assert first["request"] == 0 and first["scores"] == [3, 4]
    assert first["results"] == [3 + alone["select"] + row + topk_cycles.final_latency(16, 4)
                                for row in alone["rows"]]
    assert first["results"][-1] == 3 + alone["total"] - 1
    # n = 0 on the same engine: once it is idle, answered EMPTY_DELAY cycles later.
    assert second["request"] == first["results"][-1] + topk_cycles.FINAL_IDLE_GAP
    assert second["scores"] == [] and second["results"] == [second["request"] + topk_cycles.EMPTY_DELAY]
    # k = 0 drops its beats from DISCARD_DELAY; on a second engine it is offered the cycle
    # after the last score beat of the request before, and its answer waits for that one's.
    a, b = topk_cycles.stream_cycles([([3, 1, 2, 9, 5], 2), ([1] * 9, 0)], engines=2, **one)
    assert b["request"] == a["scores"][-1] + 1
    assert b["scores"] == [b["request"] + topk_cycles.DISCARD_DELAY + i for i in range(3)]
    assert b["results"] == [a["results"][-1] + 1]
    # Steady state: a quarter left out by default.
    timeline = [{"results": [10 * i]} for i in range(8)]
    assert topk_cycles.row_cycles(timeline) == 10.0
    with pytest.raises(ValueError, match="warmup must be in 1..7"):
        topk_cycles.row_cycles(timeline, 8)
    with pytest.raises(ValueError, match="engines must be in 1..16, not 0"):
        topk_cycles.stream_cycles([], engines=0, **one)


def test_engine_cycles_wide_scores():
    # 64-bit scores of both signs as Python ints: compared exactly, not as float64.
    big = [2**64 - 1, 2**64 - 2, 5, 2**63, -2**63]
    assert topk_cycles.select_rounds(big, 2, 2)[-1].threshold == 2**64 - 2
    assert topk_cycles.engine_cycles(big, 2, n_max=8, parallelism=2)["rounds"] >= 1


def test_release_cycles():
    x = np.random.default_rng(5).integers(0, 1 << 16, size=1024)
    a = topk_cycles.release_cycles(x, 100, 16, seed=3)
    assert a == topk_cycles.release_cycles(x, 100, 16, seed=3)
    assert a >= math.ceil(1024 / 16) + 3
    assert topk_cycles.release_cycles(x, 0, 16) == 0
    assert topk_cycles.release_cycles([4, 4, 4], 2, 2) == 2 + 3          # one round, pivot = k-th


def test_engine_beats_release_target():
    """Mean select cycles <= 0.8x the release model at P = 16, n = 1024 (seeded, 200 requests per k)."""
    rng = np.random.default_rng(1)
    for k in (128, 256, 512):
        ours, release = [], []
        for seed in range(200):
            x = rng.integers(0, 1 << 16, size=1024)
            ours.append(topk_cycles.select_cycles(x, k, n_max=1024, parallelism=16))
            release.append(topk_cycles.release_cycles(x, k, 16, seed=seed))
        assert np.mean(ours) <= 0.8 * np.mean(release), (k, np.mean(ours), np.mean(release))


def test_engine_sorted_input_is_not_quadratic():
    """The LFSR-spread sample keeps sorted inputs (position-correlated scores) near random cost."""
    x = np.arange(1024)
    for k in (128, 512, 1000):
        for scores in (x, x[::-1].copy()):
            assert topk_cycles.select_cycles(scores, k, n_max=1024, parallelism=16) < 2 * 260


def test_round_outcomes():
    # Pivots 7 >= 3 over [9, 7, 7, 5, 3, 1]: counts > 7, >= 7, > 3, >= 3.
    r = topk_cycles.Round(6, 1, 7, 3, 1, 3, 4, 5)
    assert [r._replace(k=k).outcome for k in range(1, 7)] == ["U", "hi", "hi", "M", "lo", "D"]
    assert [r._replace(k=k).threshold for k in range(1, 7)] == [None, 7, 7, None, 3, None]


def test_pivot_targets():
    assert topk_cycles.pivot_targets(16, 5, 16) == (4, 4)         # the whole round is sampled
    assert topk_cycles.pivot_targets(1024, 512, 16) == (7, 9)     # t = 8
    assert topk_cycles.pivot_targets(1024, 1, 16) == (0, 1)       # t = 0
    assert topk_cycles.pivot_targets(1024, 1024, 16) == (14, 15)  # t = S - 1


def test_sample_rows():
    # 37 candidates over 16 banks: banks 0..4 have 3 rows, the others 2.
    rows = topk_cycles.sample_rows(list(range(16)), 37, 16)
    assert all(0 <= r < (3 if j < 5 else 2) for j, r in enumerate(rows))
    assert topk_cycles.sample_rows([0xFFFF] * 4, 3, 4) == [0, 0, 0, 0]
    assert topk_cycles.sample_rows([0xFFFF] * 4, 4, 4) == [0, 0, 0, 0]


@pytest.mark.parametrize("call, error, message", [
    (lambda: topk_cycles.release_cycles([1], 1, 3), ValueError,
     "parallelism must be a power of two in 2..64, not 3"),
    (lambda: topk_cycles.release_cycles([1], 1, 2.0), TypeError, "parallelism must be an integer, not 2.0"),
    (lambda: topk_cycles.request_cycles([1], -1, n_max=4, parallelism=2), ValueError,
     "k must be a non-negative integer, not -1"),
    (lambda: topk_cycles.request_cycles([0.5], 1, n_max=4, parallelism=2), ValueError,
     "scores must be a one-dimensional integer array, not float64 of shape (1,)"),
    (lambda: topk_cycles.request_cycles([], 0, n_max=4, parallelism=2), ValueError,
     "scores must hold at least one element"),
    (lambda: topk_cycles.request_cycles([1], 1, n_max=0, parallelism=2), ValueError,
     "n_max must be in 1..65536, not 0"),
    (lambda: topk_cycles.sample_size(128), ValueError,
     "parallelism must be a power of two in 2..64, not 128"),
])
def test_topk_cycles_wrong(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
