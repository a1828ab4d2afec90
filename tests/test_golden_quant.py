"""Quantization, MSB/LSB planes, DRAM byte layout."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.quant import (
    dequantize,
    join_planes,
    max_code,
    msb_only,
    pack_kv,
    pack_plane,
    quant_scale,
    quantize,
    row_bytes,
    split_planes,
    unpack_kv,
    unpack_plane,
)

SEED = 3


def test_quantize_error_bound():
    rng = np.random.default_rng(SEED)
    print("seed", SEED)
    x = rng.normal(size=(4, 50, 64))
    for per_head in (False, True):
        s = quant_scale(x, 12, per_head=per_head)
        q = quantize(x, s, 12)
        assert np.abs(q).max() == max_code(12)
        err = np.abs(dequantize(q, s) - x)
        bound = (np.asarray(s).reshape(-1, 1, 1) if per_head else s) / 2
        assert np.all(err <= bound * (1 + 1e-12))


def test_quantize_saturates_and_zero():
    assert quantize([10.0, -10.0, 0.5, -0.5], 1.0, 4).tolist() == [7, -7, 1, 0]
    assert quant_scale(np.zeros((2, 3)), 8) == 1.0


@pytest.mark.parametrize("msb", list(range(1, 13)))
def test_planes_roundtrip_bytes(msb):
    lsb = 4
    bits = msb + lsb
    rng = np.random.default_rng(SEED + msb)
    q = rng.integers(-max_code(bits), max_code(bits) + 1, size=(3, 17, 64))
    hi, lo = split_planes(q, msb, lsb)
    assert hi.min() >= -(1 << (msb - 1)) and hi.max() < 1 << (msb - 1)
    assert np.array_equal(join_planes(hi, lo, lsb), q)
    mb, lb = pack_kv(q, msb, lsb)
    assert mb.shape == (3, 17, row_bytes(64, msb)) and lb.shape == (3, 17, 32)
    assert mb.dtype == np.uint8
    assert np.array_equal(unpack_kv(mb, lb, msb, lsb, 64), q)
    assert np.array_equal(unpack_kv(mb, lb, msb, lsb, 64, with_lsb=False), msb_only(hi, lsb))


def test_pack_layout_little_endian():
    # 4-bit elements: element 0 in the low nibble of byte 0
    assert pack_plane(np.array([[1, 2, 3, -1]]), 4, signed=True).tolist() == [[0x21, 0xF3]]
    # 6-bit elements, row of 3 padded to 3 bytes
    packed = pack_plane(np.array([[63, 0, 1]]), 6, signed=False)
    assert packed.tolist() == [[0x3F, 0x10, 0x00]]     # element 2 starts at bit 12
    assert np.array_equal(unpack_plane(packed, 6, 3, signed=False), [[63, 0, 1]])


def test_msb_only_half_lsb_bias_beats_zero_fill():
    rng = np.random.default_rng(SEED)
    q = rng.integers(-2047, 2048, size=100000)
    hi, lo = split_planes(q, 8, 4)
    err_bias = msb_only(hi, 4) - q
    err_zero = (hi << 4) - q
    assert err_bias.min() >= -7 and err_bias.max() <= 8
    assert err_zero.min() >= -15 and err_zero.max() <= 0
    assert abs(err_bias.mean()) < 0.1 * abs(err_zero.mean())
    assert np.abs(msb_only(hi, 4)).max() <= 2047       # stays in the 12-bit symmetric range
    assert np.array_equal(msb_only(q, 0), q)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(0, 4), st.integers(1, 9), st.integers(0, 2**31))
def test_pack_roundtrip_property(msb, lsb, d, seed):
    if msb + lsb < 2:
        lsb = 1
    bits = msb + lsb
    q = np.random.default_rng(seed).integers(-max_code(bits), max_code(bits) + 1, size=(5, d))
    mb, lb = pack_kv(q, msb, lsb)
    assert np.array_equal(unpack_kv(mb, lb, msb, lsb, d), q)


def test_quant_wrong():
    with pytest.raises(ValueError, match="bits must be in 2..16, not 1"):
        quantize([1.0], 1.0, 1)
    with pytest.raises(ValueError, match="msb must be in 1..15, not 0"):
        split_planes([1], 0, 4)
    with pytest.raises(ValueError, match="q must fit 8 bits"):
        split_planes([300], 4, 4)
    with pytest.raises(ValueError, match="scale must be positive"):
        quantize([1.0], 0.0, 8)
    with pytest.raises(ValueError, match="scale must have one entry per head"):
        quantize(np.zeros((3, 2)), np.ones(2), 8)
    with pytest.raises(ValueError, match="plane must fit 4 signed bits"):
        pack_plane(np.array([[8]]), 4, signed=True)
    with pytest.raises(ValueError, match="packed rows must be 2 bytes"):
        unpack_plane(np.zeros((1, 3), np.uint8), 4, 4, signed=True)
    with pytest.raises(ValueError, match="lsb_plane must be in 0..15"):
        join_planes([0], [16], 4)
    with pytest.raises(ValueError, match="x must be finite"):
        quant_scale([np.inf], 8)
