"""cocotb tests of the command reader (sim/command_reader.py) on Icarus and Verilator."""

import pytest

from gen.config import preset
from hw.core.command_reader import command_reader_from_config
from sim import runner

RUNS = [("icarus", "tiny", 64), ("verilator", "ulx3s", 192)]
COCOTB_TESTS = 4


@pytest.mark.parametrize("sim, config, commands", RUNS, ids=[f"{s}-{c}" for s, c, _ in RUNS])
def test_command_reader(sim, config, commands):
    result = runner.run(command_reader_from_config(preset(config)), test_module="sim.command_reader",
                        sim=sim, parameters={"preset": config, "commands": commands})
    assert result["tests"] == COCOTB_TESTS
