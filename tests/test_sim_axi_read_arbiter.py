"""cocotb tests of the AXI4 read arbiter (sim/axi_read_arbiter.py)."""

import pytest

from hw.axi.read_arbiter import AxiReadArbiter
from sim import runner

RUNS = [
    ("icarus", "2x32", {"masters": 2, "addr_bits": 32, "data_bits": 32, "id_bits": 4}, 40),
    ("icarus", "3x64", {"masters": 3, "addr_bits": 32, "data_bits": 64, "id_bits": 2}, 30),
]
COCOTB_TESTS = 2


@pytest.mark.parametrize("sim, name, arbiter, reads", RUNS, ids=[f"{s}-{n}" for s, n, _, _ in RUNS])
def test_axi_read_arbiter(sim, name, arbiter, reads):
    result = runner.run(AxiReadArbiter(**arbiter), test_module="sim.axi_read_arbiter", sim=sim,
                        parameters={"arbiter": arbiter, "reads": reads})
    assert result["tests"] == COCOTB_TESTS
