"""The whole core end to end over cocotb (sim/core_e2e.py on hw.core.core.SpattenCore)."""

import pytest

from gen.config import preset
from hw.core.core import SpattenCore
from sim import runner

# (simulator, preset, random sequences per test, captured models)
RUNS = [("verilator", "ulx3s", 2, ["minilm", "smollm2"]), ("verilator", "tiny", 3, ["minilm", "smollm2"]),
        ("icarus", "tiny", 2, [])]
COCOTB_TESTS = 4


@pytest.mark.parametrize("sim, config, sequences, real", RUNS, ids=[f"{s}-{c}" for s, c, _, _ in RUNS])
def test_core_end_to_end(sim, config, sequences, real):
    result = runner.run(SpattenCore(preset(config)), test_module="sim.core_e2e", sim=sim,
                        parameters={"preset": config, "sequences": sequences, "real": real})
    assert result["tests"] == COCOTB_TESTS
