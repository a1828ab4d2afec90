"""cocotb tests of the Q x K and prob x V units (sim/qk.py, sim/pv.py) on Icarus and Verilator.

Each test builds one unit configuration once and runs every cocotb test of
its testbench on it: edge cases timed against the unit's latency, random
requests back to back, with random bubbles and backpressure, and resets in
the middle of requests. Most requests run on Verilator.
"""

import pytest

from gen.config import preset
from hw.systolic.pv import PvUnit
from hw.systolic.qk import QkUnit
from sim import runner
from sim.array_bench import CHECKED_FILE

_TINY = preset("tiny")
_ULX3S = preset("ulx3s")


def _unit(cfg, multipliers, **extra):
    return {"head_dim": cfg.head_dim, "max_context": cfg.max_context, "value_bits": cfg.value_bits,
            "multipliers": multipliers, **extra}


UNITS = {"qk": QkUnit, "pv": PvUnit}

CONFIGS = {
    # Two lanes of D = 8 in tiles of 4 rows (the tiny preset's).
    ("qk", "tiny"): _unit(_TINY, _TINY.qk_multipliers),
    # Three lanes, D = 4 in tiles of 1 (a register after every element), odd n_max, narrow codes.
    ("qk", "odd"): {"head_dim": 4, "max_context": 37, "value_bits": 5, "multipliers": 12, "tile_rows": 1},
    # The ulx3s unit (one lane of D = 64) with a short context.
    ("qk", "ulx3s"): _unit(_ULX3S, _ULX3S.qk_multipliers, max_context=128),
    # Two V rows per cycle of D = 8 in one tile (the tiny preset's).
    ("pv", "tiny"): _unit(_TINY, _TINY.pv_multipliers),
    # Four rows, D = 8 in tiles of 2 x 2: skew across both directions, odd n_max, narrow codes.
    ("pv", "grid"): {"head_dim": 8, "max_context": 37, "value_bits": 5, "multipliers": 32, "tile_rows": 2,
                     "tile_cols": 2},
    # The ulx3s unit (one V row of D = 64 per cycle, four tile columns) with a short context.
    ("pv", "ulx3s"): _unit(_ULX3S, _ULX3S.pv_multipliers, max_context=128),
}

# cocotb tests per testbench (random_pauses counts three), the bench-only `measure` included.
COCOTB_TESTS = {"qk": 8, "pv": 7}

RUNS = [
    ("qk", "verilator", "tiny", 600),
    ("qk", "verilator", "odd", 600),
    ("qk", "verilator", "ulx3s", 120),
    ("qk", "icarus", "tiny", 90),
    ("pv", "verilator", "tiny", 600),
    ("pv", "verilator", "grid", 600),
    ("pv", "verilator", "ulx3s", 120),
    ("pv", "icarus", "tiny", 90),
]


@pytest.mark.parametrize("unit, sim, config, requests", RUNS, ids=[f"{u}-{s}-{c}" for u, s, c, _ in RUNS])
def test_array_unit(unit, sim, config, requests):
    params = CONFIGS[unit, config]
    result = runner.run(UNITS[unit](**params), test_module=f"sim.{unit}", sim=sim,
                        parameters={"unit": params, "requests": requests})
    assert result["tests"] == COCOTB_TESTS[unit]
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{unit} {sim} {config}: {checked} requests checked")
    assert checked >= requests
