"""cocotb tests of the top-k engine (sim/topk.py) on Icarus and Verilator.

Each test builds one engine configuration once and runs every cocotb test of
sim/topk.py on it: edge cases and random requests, timed against
golden/topk_cycles.py without pauses, and back to back with random bubbles and
backpressure. Most requests run on Verilator, which is several times faster.
"""

import pytest

from gen.blocks import TOPK_HEADS
from gen.config import preset
from golden.formats import HEAD_IMPORTANCE, TOKEN_IMPORTANCE
from hw.topk import TopKEngine, TopKInterleave
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
    # Engines interleaved behind one interface (hw.topk.TopKInterleave): two of the tiny
    # preset's, and three with many ties and bad requests.
    "tiny-x2": {"engines": 2, "n_max": _TINY.max_context, "parallelism": _TINY.topk_parallelism,
                "score_bits": _TINY.topk_score_bits, "signed": False},
    "p8-odd-signed-x3": {"engines": 3, "n_max": 100, "parallelism": 8, "score_bits": 6, "signed": True},
    # The importances of cascade pruning (gen/blocks.py topk_token, topk_head): 32-bit token
    # importances (over fewer tokens than max_context), 40-bit head importances.
    "token32": {"n_max": 96, "parallelism": _TINY.topk_parallelism, "score_bits": TOKEN_IMPORTANCE.bits,
                "signed": TOKEN_IMPORTANCE.signed},
    "head40": {"n_max": TOPK_HEADS, "parallelism": 4, "score_bits": HEAD_IMPORTANCE.bits,
               "signed": HEAD_IMPORTANCE.signed},
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
    ("verilator", "tiny-x2", 500),
    ("verilator", "p8-odd-signed-x3", 500),
    ("verilator", "token32", 400),
    ("verilator", "head40", 400),
    ("icarus", "head40", 120),
]

# cocotb tests in sim/topk.py, the bench-only `measure` (skipped here) included.
COCOTB_TESTS = 9


@pytest.mark.parametrize("sim, config, requests", RUNS, ids=[f"{sim}-{config}" for sim, config, _ in RUNS])
def test_topk(sim, config, requests):
    engine = CONFIGS[config]
    interleaved = "engines" in engine
    dut = TopKInterleave(**engine) if interleaved else TopKEngine(**engine)
    assert dut.block_ram == (config == "ulx3s")
    parameters = {"engine": engine, "requests": requests}
    if interleaved:
        parameters["engine_class"] = "hw.topk:TopKInterleave"
    result = runner.run(dut, test_module="sim.topk", sim=sim, parameters=parameters)
    assert result["tests"] == COCOTB_TESTS
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{sim} {config}: {checked} requests checked")
    assert checked >= requests
