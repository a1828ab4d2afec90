"""cocotb on the emitted Verilog of the board's UART bridge (sim/uart_bridge.py)."""

import pytest

from hw.board.bridge import UartBridge
from sim import runner


# Serial bits are slow to simulate: a few short requests on Icarus, bursts up to 256 words on Verilator.
@pytest.mark.parametrize(("sim", "requests", "max_words"), [("icarus", 6, 4), ("verilator", 24, 256)])
def test_uart_bridge(sim, requests, max_words):
    result = runner.run(UartBridge(clocks_per_bit=8, addr_bits=16), test_module="sim.uart_bridge", sim=sim,
                        parameters={"clocks_per_bit": 8, "requests": requests, "max_words": max_words})
    assert result["tests"] == 1
