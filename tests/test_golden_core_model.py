"""golden.core_model: the analytical cycle and traffic model of the core."""

import numpy as np
import pytest

from golden.core_model import (
    CoreRates,
    HeadWork,
    generation_work,
    head_cycles,
    run_cycles,
    summary_work,
    topk_row_cycles,
)
from golden.quant import row_bytes


def _rates(**extra):
    base = {"qk_lanes": 1, "softmax_lanes": 2, "pv_rows": 1, "topk_parallelism": 4, "topk_engines": 1,
            "topk_n_max": 64, "bytes_per_cycle": 8.0, "fill": 100, "qk_multipliers": 64,
            "pv_multipliers": 64}
    return CoreRates(**{**base, **extra})


def test_rates_wrong():
    with pytest.raises(ValueError, match="qk_lanes must be >= 1"):
        _rates(qk_lanes=0)
    with pytest.raises(ValueError, match="bytes_per_cycle must be > 0"):
        _rates(bytes_per_cycle=0)
    with pytest.raises(ValueError, match="fill must be >= 0"):
        _rates(fill=-1)


def test_generation_head_is_memory_bound_on_a_narrow_port():
    work = generation_work(length=64, keys=40, values=10, d=64, msb_bits=8, lsb_bits=4, q_bits=12,
                           refetch=False)
    res = head_cycles(work, _rates())
    nbytes = 40 * row_bytes(64, 8) + 10 * row_bytes(64, 8) + row_bytes(64, 12) + row_bytes(64, 16)
    assert work.dram_bytes()["k_lsb"] == 0
    assert res["busy"]["memory"] == nbytes / 8
    assert res["cycles"] == res["bound"] == nbytes / 8
    assert res["busy"]["qk"] == 40 and res["busy"]["pv"] == 10 and res["busy"]["softmax"] == 20


def test_recomputed_row_runs_qk_twice_and_fetches_lsb():
    work = generation_work(length=64, keys=40, values=10, d=64, msb_bits=8, lsb_bits=4, q_bits=12,
                           refetch=True)
    res = head_cycles(work, _rates(bytes_per_cycle=1e9))
    assert res["busy"]["qk"] == 80 and work.macs()["qk"] == 80 * 64
    assert work.dram_bytes()["k_lsb"] == 40 * row_bytes(64, 4)
    assert res["cycles"] == max(80, topk_row_cycles(40, 10, 4, 1, 64))


def test_summary_rows_are_causal_prefixes():
    work = summary_work(length=8, keys=4, values=2, d=8, msb_bits=8, lsb_bits=4, q_bits=12,
                        lsb_fetched=True, recompute_fraction=0.25)
    assert list(work.visible) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert list(work.kept) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert work.recompute.sum() == 2 and work.dense_visible == 36
    assert work.macs()["dense"] == 2 * 36 * 8


def test_topk_row_cycles_shared_by_engines():
    one = topk_row_cycles(64, 16, 4, 1, 64)
    two = topk_row_cycles(64, 16, 4, 2, 64)
    assert two == max(16, one / 2) and one > 16


def test_run_sums_heads_and_fills_once_per_call():
    work = generation_work(length=64, keys=40, values=10, d=64, msb_bits=8, lsb_bits=4, q_bits=12,
                           refetch=False)
    rates = _rates()
    one = head_cycles(work, rates)["cycles"]
    total = run_cycles([([work, work], 0), ([work], 0)], rates)
    assert total["calls"] == 2 and total["cycles"] == 3 * one + 2 * rates.fill
    assert total["macs"]["pv"] == 3 * 10 * 64
    cascade = run_cycles([([work], 32)], rates)
    assert cascade["cycles"] > one + rates.fill


def test_empty_head_costs_its_memory():
    work = HeadWork(d=8, visible=np.zeros(0, dtype=int), kept=np.zeros(0, dtype=int),
                    recompute=np.zeros(0, dtype=bool), keys_msb=0, keys_lsb=0, values_msb=0,
                    values_lsb=0, msb_bits=8, lsb_bits=4, q_bits=12, out_bits=16, dense_visible=0)
    assert head_cycles(work, _rates())["cycles"] == 0
