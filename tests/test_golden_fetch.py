"""golden.fetch: runs, bursts, request plans, unpacked rows, the re-fetch rule."""

import numpy as np
import pytest

from golden.fetch import (
    AXI_BOUNDARY,
    AXI_MAX_BEATS,
    Plane,
    Status,
    bursts,
    fetch,
    max_run_rows,
    merge_lsb,
    plan,
    refetch_rows,
    refetch_threshold_code,
    runs,
)
from golden.quant import join_planes, msb_only, pack_kv, row_bytes, split_planes


def test_threshold_code():
    assert refetch_threshold_code(0) == 0
    assert refetch_threshold_code(0.1) == 3277       # 3276.8 rounds up
    assert refetch_threshold_code(1.0) == 32768
    assert refetch_threshold_code(0.5 / 32768) == 1  # a tie rounds half up


@pytest.mark.parametrize("value", [-0.1, 1.5, True, "0.1"])
def test_threshold_code_wrong(value):
    with pytest.raises(ValueError, match=r"threshold must be a number in 0..1, not "):
        refetch_threshold_code(value)


def test_refetch_rows():
    got = refetch_rows([100, 3276, 3277, 0], [True, True, True, False], 3277)
    assert got.tolist() == [True, True, False, False]


def test_merge_lsb_is_join_planes():
    rng = np.random.default_rng(1)
    for msb, lsb in [(4, 4), (6, 4), (8, 4), (12, 4), (8, 1)]:
        q = rng.integers(-(1 << (msb + lsb - 1)) + 1, 1 << (msb + lsb - 1), 500)
        hi, lo = split_planes(q, msb, lsb)
        assert np.array_equal(merge_lsb(msb_only(hi, lsb), lo, lsb), join_planes(hi, lo, lsb))


def test_runs():
    assert runs([], 4) == []
    assert runs([3, 4, 5, 9, 10, 2], 4) == [(3, 3), (9, 2), (2, 1)]
    assert runs(list(range(10)), 4) == [(0, 4), (4, 4), (8, 2)]
    assert runs([5, 5], 4) == [(5, 1), (5, 1)]


def test_max_run_rows():
    assert max_run_rows(8, 64) == 32
    assert max_run_rows(4, 2000) == 1


def test_bursts_rules():
    rng = np.random.default_rng(2)
    for _ in range(2000):
        data_bytes = int(rng.choice([4, 8, 16, 32]))
        start = int(rng.integers(0, 1 << 16))
        nbytes = int(rng.integers(1, 5000))
        out = bursts(start, nbytes, data_bytes)
        words = [a + i * data_bytes for a, beats in out for i in range(beats)]
        assert words == list(range(start // data_bytes * data_bytes, start + nbytes, data_bytes))
        for address, beats in out:
            assert 1 <= beats <= AXI_MAX_BEATS
            assert address // AXI_BOUNDARY == (address + beats * data_bytes - 1) // AXI_BOUNDARY


def test_plan_errors():
    kw = {"row_bytes": 48, "data_bytes": 8, "addr_bits": 16, "max_run": 8}
    assert plan(4, 10, [1], **kw) == ([], [], Status.MISALIGNED)
    assert plan(65536 - 48 * 10 + 8, 10, [1], **kw) == ([], [], Status.REGION_RANGE)
    assert plan(65536 - 48 * 10, 10, [9], **kw)[2] == Status.OK
    runs_, bursts_, status = plan(0, 10, [1, 2, 10, 3], **kw)
    assert (runs_, status) == ([(1, 2)], Status.INDEX_RANGE)
    assert bursts_ == [(48, 12)]


@pytest.mark.parametrize("msb, lsb, d", [(4, 4, 8), (6, 4, 8), (8, 4, 64), (12, 4, 8), (6, 4, 64)])
def test_fetch_rows(msb, lsb, d):
    rng = np.random.default_rng(msb * 100 + d)
    rows = 40
    q = rng.integers(-(1 << (msb + lsb - 1)) + 1, 1 << (msb + lsb - 1), (rows, d))
    hi_bytes, lo_bytes = pack_kv(q, msb, lsb)
    hi, lo = split_planes(q, msb, lsb)
    memory = np.zeros(1 << 16, np.uint8)
    base_msb, base_lsb = 4096 - 64, 8192
    memory[base_msb:base_msb + hi_bytes.size] = hi_bytes.reshape(-1)
    memory[base_lsb:base_lsb + lo_bytes.size] = lo_bytes.reshape(-1)
    indices = [0, 1, 2, 7, 20, 21, 39]
    kw = {"msb": msb, "lsb": lsb, "d": d, "data_bytes": 8, "addr_bits": 16, "max_run": 4}
    out, status, _ = fetch(memory, base_msb, rows, indices, Plane.MSB, **kw)
    assert status == Status.OK and [i for i, _ in out] == indices
    assert np.array_equal(np.array([c for _, c in out]), msb_only(hi[indices], lsb))
    out_lsb, _, _ = fetch(memory, base_lsb, rows, indices, Plane.LSB, **kw)
    merged = merge_lsb(np.array([c for _, c in out]), np.array([c for _, c in out_lsb]), lsb)
    assert np.array_equal(merged, q[indices])
    # An AXI error on the word holding row 20's first byte drops rows 20, 21 and 39.
    bad = base_msb + 20 * row_bytes(d, msb)
    out, status, _ = fetch(memory, base_msb, rows, indices, Plane.MSB, bad_words={bad // 8 * 8: 5}, **kw)
    assert status == Status.DECERR and [i for i, _ in out] == [0, 1, 2, 7]
