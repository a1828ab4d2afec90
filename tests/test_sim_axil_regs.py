"""cocotb tests of the register block (sim/axil_regs.py) on Icarus and Verilator."""

import pytest

from gen.config import preset
from hw.axi.lite import AxiLiteRegisters
from hw.core.regmap import ADDR_BITS, register_map
from sim import runner

# Icarus for both maps: a Verilator build of the block costs more than the run.
RUNS = [("icarus", "tiny", 150), ("icarus", "ulx3s", 300)]
COCOTB_TESTS = 4


@pytest.mark.parametrize("sim, config, rounds", RUNS, ids=[f"{s}-{c}" for s, c, _ in RUNS])
def test_axil_regs(sim, config, rounds):
    dut = AxiLiteRegisters(registers=register_map(preset(config)), addr_bits=ADDR_BITS)
    result = runner.run(dut, test_module="sim.axil_regs", sim=sim,
                        parameters={"preset": config, "rounds": rounds})
    assert result["tests"] == COCOTB_TESTS
