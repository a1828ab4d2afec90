# amaranth: UnusedElaboratable=no
"""cocotb tests of the softmax unit (sim/softmax.py) on Icarus and Verilator.

Each test builds one unit configuration once and runs every cocotb test of
sim/softmax.py on it: edge rows timed against ``Softmax.latency``, random
rows back to back (checked for no input stall), with random bubbles and
backpressure, rows of real-model attention scores, and resets mid-row.
"""

from pathlib import Path

import pytest
from amaranth.hdl import Fragment

from gen.config import preset
from hw.softmax.softmax import Softmax, softmax_from_config
from sim import runner
from sim.softmax import CHECKED_FILE

_TINY = preset("tiny")
_ULX3S = preset("ulx3s")
# Rows of real attention scores (gen/record_softmax_rows.py), on the two fastest runs.
MODEL_ROWS = Path(__file__).resolve().parent / "data" / "softmax_rows.npz"

CONFIGS = {
    "tiny": {"lanes": _TINY.softmax_lanes, "n_max": _TINY.max_context, "index_bits": _TINY.index_bits},
    # n_max not a multiple of the lanes, 8 lanes as the paper's.
    "p8-odd": {"lanes": 8, "n_max": 100, "index_bits": 7},
    "one-lane": {"lanes": 1, "n_max": 40, "index_bits": 6},
    "ulx3s": {"lanes": _ULX3S.softmax_lanes, "n_max": _ULX3S.max_context, "index_bits": _ULX3S.index_bits},
}

RUNS = [
    ("verilator", "tiny", 6500),
    ("verilator", "p8-odd", 2500),
    ("verilator", "one-lane", 500),
    ("verilator", "ulx3s", 150),
    ("icarus", "tiny", 250),
    ("icarus", "p8-odd", 120),
]


@pytest.mark.parametrize("sim, config, rows", RUNS, ids=[f"{sim}-{config}" for sim, config, _ in RUNS])
def test_softmax(sim, config, rows):
    unit = CONFIGS[config]
    parameters = {"unit": unit, "rows": rows}
    if sim == "verilator" and config in ("tiny", "p8-odd"):
        parameters["model_rows"] = str(MODEL_ROWS)
    result = runner.run(Softmax(**unit), test_module="sim.softmax", sim=sim, parameters=parameters)
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{sim} {config}: {checked} rows checked")
    assert checked >= rows


def test_softmax_from_config():
    unit = softmax_from_config(_ULX3S)
    assert (unit.lanes, unit.n_max, unit.index_bits) == (2, 512, 9)
    Fragment.get(unit, None)
