# amaranth: UnusedElaboratable=no
"""AxiLiteDecoder (hw/axi/lite_decoder.py): parameter checks, and cocotb on its Verilog."""

import pytest

from hw.axi.lite_decoder import AxiLiteDecoder
from sim import runner


@pytest.mark.parametrize(("windows", "addr_bits", "message"), [
    ([], 16, r"len\(windows\) must be in 1\.\.16, not 0"),
    ([(0x100, 8)], 16, None),
    ([(0x80, 8)], 16, r"windows\[0\] base must be a multiple of 2\*\*8, not 0x80"),
    ([(0, 12), (0x800, 8)], 16, r"windows\[1\] at 0x800 must not overlap windows\[0\] at 0x0"),
    ([(0, 20)], 16, r"windows\[0\] bits must be in 4\.\.16, not 20"),
    ([(0xFF00, 12)], 16, r"windows\[0\] base must be in 0\.\.61440, not 65280"),
    ([(0, 12)], 40, r"addr_bits must be in 4\.\.32, not 40"),
])
def test_decoder_wrong(windows, addr_bits, message):
    if message is None:
        assert AxiLiteDecoder(windows=windows, addr_bits=addr_bits).windows == windows
        return
    with pytest.raises(ValueError, match=message):
        AxiLiteDecoder(windows=windows, addr_bits=addr_bits)


def test_axi_lite_decoder():
    windows = [[0x0000, 8], [0x1000, 10], [0x4000, 6]]
    result = runner.run(AxiLiteDecoder(windows=windows, addr_bits=16), test_module="sim.axi_lite_decoder",
                        sim="icarus", parameters={"windows": windows, "operations": 160})
    assert result["tests"] == 1
