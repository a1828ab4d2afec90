"""cocotb tests of the Q x K and prob x V units (sim/qk.py, sim/pv.py) on Icarus and Verilator.

Each test builds one unit configuration once and runs every cocotb test of
its testbench on it: edge cases timed against the unit's latency, random
requests back to back, with random bubbles and backpressure, and resets in
the middle of requests. Most requests run on Verilator.
"""

import pytest

from gen.config import preset
from hw.systolic.qk import QkUnit
from sim import runner
from sim.qk import CHECKED_FILE

_TINY = preset("tiny")
_ULX3S = preset("ulx3s")


def _qk(cfg, **extra):
    return {"head_dim": cfg.head_dim, "max_context": cfg.max_context, "value_bits": cfg.value_bits,
            "multipliers": cfg.qk_multipliers, **extra}


QK_CONFIGS = {
    # Two lanes of D = 8, tiles of 4 rows.
    "tiny": _qk(_TINY),
    # Three lanes, D = 4 in tiles of 1 (a register after every element), odd n_max, narrow codes.
    "odd": {"head_dim": 4, "max_context": 37, "value_bits": 5, "multipliers": 12, "tile_rows": 1},
    # The ulx3s unit (one lane of D = 64) with a short context.
    "ulx3s": _qk(_ULX3S, max_context=128),
}

# cocotb tests in sim/qk.py (random_pauses counts three), the bench-only `measure` included.
QK_COCOTB_TESTS = 8

QK_RUNS = [
    ("verilator", "tiny", 600),
    ("verilator", "odd", 600),
    ("verilator", "ulx3s", 120),
    ("icarus", "tiny", 90),
]


@pytest.mark.parametrize("sim, config, requests", QK_RUNS, ids=[f"{s}-{c}" for s, c, _ in QK_RUNS])
def test_qk(sim, config, requests):
    unit = QK_CONFIGS[config]
    result = runner.run(QkUnit(**unit), test_module="sim.qk", sim=sim,
                        parameters={"unit": unit, "requests": requests})
    assert result["tests"] == QK_COCOTB_TESTS
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{sim} {config}: {checked} requests checked")
    assert checked >= requests


def _pv(cfg, **extra):
    return {"head_dim": cfg.head_dim, "max_context": cfg.max_context, "value_bits": cfg.value_bits,
            "multipliers": cfg.pv_multipliers, **extra}


PV_CONFIGS = {
    # Two V rows per cycle of D = 8 in one tile (the tiny preset's).
    "tiny": _pv(_TINY),
    # Four rows, D = 8 in tiles of 2 x 2: skew across both directions, odd n_max, narrow codes.
    "grid": {"head_dim": 8, "max_context": 37, "value_bits": 5, "multipliers": 32, "tile_rows": 2,
             "tile_cols": 2},
    # The ulx3s unit (one V row of D = 64 per cycle, four tile columns) with a short context.
    "ulx3s": _pv(_ULX3S, max_context=128),
}

# cocotb tests in sim/pv.py (random_pauses counts three), the bench-only `measure` included.
PV_COCOTB_TESTS = 7

PV_RUNS = [
    ("verilator", "tiny", 600),
    ("verilator", "grid", 600),
    ("verilator", "ulx3s", 120),
    ("icarus", "tiny", 90),
]


@pytest.mark.parametrize("sim, config, requests", PV_RUNS, ids=[f"{s}-{c}" for s, c, _ in PV_RUNS])
def test_pv(sim, config, requests):
    from hw.systolic.pv import PvUnit

    unit = PV_CONFIGS[config]
    result = runner.run(PvUnit(**unit), test_module="sim.pv", sim=sim,
                        parameters={"unit": unit, "requests": requests})
    assert result["tests"] == PV_COCOTB_TESTS
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{sim} {config}: {checked} requests checked")
    assert checked >= requests
