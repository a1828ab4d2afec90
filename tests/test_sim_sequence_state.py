"""cocotb tests of the sequence state (sim/sequence_state.py) on Verilator and Icarus."""

import pytest

from gen.config import preset
from hw.core.sequence import sequence_state_from_config
from sim import runner

# tiny on both simulators; ulx3s (512 tokens) on Verilator with fewer, longer commands.
RUNS = [("verilator", "tiny", 150), ("icarus", "tiny", 100), ("verilator", "ulx3s", 40)]
COCOTB_TESTS = 2


@pytest.mark.parametrize("sim, config, commands", RUNS, ids=[f"{s}-{c}" for s, c, _ in RUNS])
def test_sequence_state(sim, config, commands):
    dut = sequence_state_from_config(preset(config))
    result = runner.run(dut, test_module="sim.sequence_state", sim=sim, toplevel="sequence_state",
                        parameters={"preset": config, "commands": commands})
    assert result["tests"] == COCOTB_TESTS
    checked = (result["build_dir"] / "requests_checked.txt").read_text().split()
    assert sum(int(word) for word in checked[1::2]) == 2 * commands
