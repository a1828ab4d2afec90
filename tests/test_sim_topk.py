"""cocotb tests of the top-k engine (sim/topk.py) on Icarus and Verilator.

Each test builds one engine configuration once and runs every cocotb test of
sim/topk.py on it: edge cases and random requests, timed against
golden/topk_cycles.py without pauses, and back to back with random bubbles and
backpressure. Most requests run on Verilator, which is several times faster.
"""

import pytest

from gen.config import preset
from hw.topk import TopKEngine
from sim import runner
from sim.topk import CHECKED_FILE

_TINY = preset("tiny")
_ULX3S = preset("ulx3s")

CONFIGS = {
    # The tiny preset's engine, as the registry builds it (unsigned scores).
    "tiny": {"n_max": _TINY.max_context, "parallelism": _TINY.topk_parallelism,
             "score_bits": _TINY.topk_score_bits, "signed": False},
    # n_max not a power of two (requests can carry n up to 127 > n_max), narrow signed scores: many ties.
    "p8-odd-signed": {"n_max": 100, "parallelism": 8, "score_bits": 6, "signed": True},
    # The ulx3s preset's engine: 128-row buffers in block RAM (hw.lane_ram).
    "ulx3s": {"n_max": _ULX3S.max_context, "parallelism": _ULX3S.topk_parallelism,
              "score_bits": _ULX3S.topk_score_bits, "signed": False},
    # The paper's P = 16 (Verilator only: its build is the slow one).
    "p16": {"n_max": 256, "parallelism": 16, "score_bits": 16, "signed": False},
}

# Random requests per run (the edge cases come on top, about 100 per run); per run,
# a quarter are timed one at a time, a quarter back to back, half with random pauses.
RUNS = [
    ("verilator", "p16", 2000),
    ("verilator", "tiny", 4000),
    ("verilator", "p8-odd-signed", 3000),
    ("verilator", "ulx3s", 800),
    ("icarus", "tiny", 400),
    ("icarus", "p8-odd-signed", 400),
]

# cocotb tests in sim/topk.py, the bench-only `measure` (skipped here) included.
COCOTB_TESTS = 8


@pytest.mark.parametrize("sim, config, requests", RUNS, ids=[f"{sim}-{config}" for sim, config, _ in RUNS])
def test_topk(sim, config, requests):
    engine = CONFIGS[config]
    dut = TopKEngine(**engine)
    assert dut.block_ram == (config == "ulx3s")
    result = runner.run(dut, test_module="sim.topk", sim=sim,
                        parameters={"engine": engine, "requests": requests})
    assert result["tests"] == COCOTB_TESTS
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{sim} {config}: {checked} requests checked")
    assert checked >= requests
