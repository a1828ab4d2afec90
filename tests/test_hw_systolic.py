# amaranth: UnusedElaboratable=no
"""Systolic building blocks in the Amaranth simulator: Mesh timing and sums, the score
stage and the column accumulators against golden, and every parameter check."""

import random

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned

from golden.formats import OUT_FRAC, PROB, SCORE
from golden.pv import out_format, pv_output
from golden.qk import qk_scores
from hw.systolic.accumulate import ColumnAccumulators
from hw.systolic.mesh import Mesh
from hw.systolic.pe import ProcessingElement
from hw.systolic.pv import PvUnit
from hw.systolic.qk import QkUnit
from hw.systolic.score_scale import ScoreScale
from hw.systolic.tile import Tile
from sim.amaranth_streams import run

SEED = 16


def _run(dut, bench):
    run(dut, bench, deadline_cycles=1_000_000)


@pytest.mark.parametrize("rows, cols, tile_rows, tile_cols",
                         [(1, 1, 1, 1), (4, 6, 2, 3), (6, 4, 1, 2), (3, 5, 3, 5)])
def test_mesh_skew_and_sums(rows, cols, tile_rows, tile_cols):
    dut = Mesh(rows=rows, cols=cols, tile_rows=tile_rows, tile_cols=tile_cols,
               a_shape=unsigned(6), b_shape=signed(5), acc_bits=16)
    rng = random.Random(SEED + rows * 10 + cols)
    print(f"seed={SEED + rows * 10 + cols}")
    items = 30
    a = [[rng.randrange(64) for _ in range(rows)] for _ in range(items)]
    b = [[[rng.randint(-16, 15) for _ in range(cols)] for _ in range(rows)] for _ in range(items)]
    want = [[sum(a[x][r] * b[x][r][c] for r in range(rows)) for c in range(cols)] for x in range(items)]
    span = items + dut.fill_latency + 1

    async def bench(ctx):
        seen = 0
        for t in range(span):
            for r in range(rows):
                x = t - dut.a_skew(r)
                ctx.set(dut.a[r], a[x][r] if 0 <= x < items else rng.randrange(64))
                for c in range(cols):
                    x = t - dut.b_skew(r, c)
                    ctx.set(dut.b[r][c], b[x][r][c] if 0 <= x < items else rng.randint(-16, 15))
            for c in range(cols):
                x = t - dut.out_latency(c)
                if 0 <= x < items:
                    got = ctx.get(dut.sum[c])
                    assert got == want[x][c], f"cycle {t} column {c} item {x}: {got}, expected {want[x][c]}"
                    seen += 1
            await ctx.tick()
        assert seen == items * cols

    _run(dut, bench)
    assert dut.grid_rows == rows // tile_rows and dut.grid_cols == cols // tile_cols
    last = rows // tile_rows + ProcessingElement.LATENCY + (cols - 1) // tile_cols
    assert dut.out_latency(cols - 1) == last


def test_score_scale_matches_golden():
    dut = ScoreScale(lanes=3, dot_bits=29)
    rng = random.Random(SEED)
    lim = (1 << 28) - 1
    inputs = [([rng.choice((lim, -lim, 0, rng.randint(-lim, lim), rng.randint(-999, 999))) for _ in range(3)],
               rng.choice((1, (1 << 16) - 1, rng.randrange(1, 1 << 16))),
               rng.choice((0, 1, 62, rng.randint(0, 62))))
              for _ in range(200)]

    async def bench(ctx):
        for t in range(len(inputs) + dut.latency):
            if t < len(inputs):
                dots, m, sh = inputs[t]
                for lane, dot in enumerate(dots):
                    ctx.set(dut.dot[lane], dot)
                ctx.set(dut.mantissa, m)
                ctx.set(dut.shift, sh)
            x = t - dut.latency
            if x >= 0:
                dots, m, sh = inputs[x]
                want = [int(s) for s in qk_scores(np.array(dots), m, sh)]
                got = [ctx.get(dut.score[lane]) for lane in range(3)]
                assert got == want, f"dots {dots} m {m} sh {sh}: {got}, expected {want}"
            await ctx.tick()

    _run(dut, bench)
    assert len(dut.score[0]) == SCORE.bits


def _accumulated(dut, rows):
    """The outputs of ``dut`` (a two-column ColumnAccumulators) for ``rows`` of items back to back."""
    items = [(row[i], i == 0, i == len(row) - 1) for row in rows for i in range(len(row))]
    outputs = {}

    async def bench(ctx):
        ends = []
        for t, (sums, first, last) in enumerate(items + [([0, 0], 0, 0)] * 3):
            valid = t < len(items)
            ctx.set(dut.valid, valid)
            ctx.set(dut.first, first)
            ctx.set(dut.last, last)
            for c in range(2):
                ctx.set(dut.sum[c], sums[c])
            if valid and last:
                ends.append(t)
            for row, end in enumerate(ends):
                if t == end + dut.latency:
                    outputs[row] = [ctx.get(dut.out[c]) for c in range(2)]
            await ctx.tick()

    _run(dut, bench)
    return [outputs[row] for row in range(len(rows))]


def test_column_accumulators_match_golden():
    dut = ColumnAccumulators(cols=2, sum_bits=20, acc_bits=30, value_bits=12)
    rng = random.Random(SEED + 1)
    rows = [[[rng.randint(-(1 << 19) + 1, (1 << 19) - 1) for _ in range(2)] for _ in range(rng.randint(1, 5))]
            for _ in range(40)]
    for number, (row, got) in enumerate(zip(rows, _accumulated(dut, rows), strict=True)):
        want = [int(x) for x in pv_output(np.array(row).sum(axis=0), 12)]
        assert got == want, f"row {number}: {got}, expected {want}"


def test_column_accumulators_round_and_saturate_at_the_bounds():
    """Totals around every rounding step at and beyond the symmetric bounds, both signs."""
    dut = ColumnAccumulators(cols=2, sum_bits=30, acc_bits=31, value_bits=12)
    fmt, step = out_format(12), 1 << (PROB.frac - OUT_FRAC)
    totals = [r * step + d for r in (fmt.max_int - 1, fmt.max_int, fmt.max_int + 1, fmt.max_int + 2, 0, 1,
                                     -1, fmt.min_int + 1, fmt.min_int, fmt.min_int - 1, fmt.min_int - 2)
              for d in (-step // 2 - 1, -step // 2, -1, 0, step // 2 - 1, step // 2)]
    totals += [(1 << 29) - 1, -(1 << 29) + 1]          # the largest sums the width allows
    # Two items a row: the sums enter split, the accumulator carries them.
    rows = [[[t // 2, -t // 2], [t - t // 2, -t + t // 2]] for t in totals]
    results = _accumulated(dut, rows)
    for t, got in zip(totals, results, strict=True):
        want = [int(x) for x in pv_output(np.array([t, -t]), 12)]
        assert got == want, f"total {t}: {got}, expected {want}"
    assert {fmt.max_int, fmt.min_int} <= {got[0] for got in results}, "both bounds must be reached"


def test_tile_is_combinational_between_elements():
    tile = Tile(rows=3, cols=2, a_shape=signed(4), b_shape=signed(4), acc_bits=12)
    assert tile.latency == ProcessingElement.LATENCY


def test_unit_rates():
    assert QkUnit(head_dim=64, max_context=1024, value_bits=12, multipliers=512).lanes == 8
    assert PvUnit(head_dim=64, max_context=1024, value_bits=12, multipliers=512).rows == 8
    qk = QkUnit(head_dim=64, max_context=512, value_bits=12, multipliers=64)
    assert qk.latency == qk.IN_LATENCY + 64 // 4 + 2 + ScoreScale.LATENCY + 2
    assert qk.fifo_depth >= qk.latency + 4


@pytest.mark.parametrize("make, message", [
    (lambda: ProcessingElement(a_shape=signed(4), b_shape=signed(4), acc_bits=7),
     "acc_bits must be in 8..64, not 7"),
    (lambda: ProcessingElement(a_shape="x", b_shape=signed(4), acc_bits=8),
     "a_shape must be a shape, not 'x'"),
    (lambda: ProcessingElement(a_shape=signed(4), b_shape=signed(33), acc_bits=40),
     "b_shape must be 1..32 bits wide, not 33"),
    (lambda: Tile(rows=0, cols=1, a_shape=signed(4), b_shape=signed(4), acc_bits=8),
     "rows must be in 1..256, not 0"),
    (lambda: Mesh(rows=4, cols=2, tile_rows=3, a_shape=signed(4), b_shape=signed(4), acc_bits=8),
     "tile_rows must divide rows (4), not 3"),
    (lambda: Mesh(rows=4, cols=2, tile_cols=3, a_shape=signed(4), b_shape=signed(4), acc_bits=8),
     "tile_cols must be in 1..2, not 3"),
    (lambda: Mesh(rows=4, cols=6, tile_cols=4, a_shape=signed(4), b_shape=signed(4), acc_bits=8),
     "tile_cols must divide cols (6), not 4"),
    (lambda: ScoreScale(lanes=0, dot_bits=29), "lanes must be in 1..64, not 0"),
    (lambda: ColumnAccumulators(cols=2, sum_bits=20, acc_bits=19, value_bits=12),
     "acc_bits must be in 20..64, not 19"),
    (lambda: QkUnit(head_dim=64, max_context=512, value_bits=12, multipliers=96),
     "multipliers must be a multiple of head_dim (64), not 96"),
    (lambda: QkUnit(head_dim=64, max_context=512, value_bits=12, multipliers=32),
     "multipliers must be in 64..4096, not 32"),
    (lambda: QkUnit(head_dim=64, max_context=512, value_bits=12, multipliers=64, tile_rows=5),
     "tile_rows must divide head_dim (64), not 5"),
    (lambda: QkUnit(head_dim=64, max_context=512, value_bits=19, multipliers=64),
     "value_bits must be in 2..18, not 19"),
    (lambda: QkUnit(head_dim=64, max_context=0, value_bits=12, multipliers=64),
     "max_context must be in 1..65536, not 0"),
    (lambda: PvUnit(head_dim=64, max_context=512, value_bits=12, multipliers=256, tile_rows=3),
     "tile_rows must divide multipliers / head_dim (4), not 3"),
    (lambda: PvUnit(head_dim=64, max_context=512, value_bits=12, multipliers=64, tile_cols=48),
     "tile_cols must divide head_dim (64), not 48"),
    (lambda: PvUnit(head_dim=0, max_context=512, value_bits=12, multipliers=64),
     "head_dim must be in 1..256, not 0"),
])
def test_systolic_wrong(make, message):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert str(info.value) == message


def test_systolic_wrong_type():
    with pytest.raises(TypeError, match="head_dim must be an integer, not 1.5"):
        QkUnit(head_dim=1.5, max_context=512, value_bits=12, multipliers=64)
