# amaranth: UnusedElaboratable=no
"""BoardTop (hw/board/top.py): parameters, and the address map its decoder decodes."""

import pytest
from amaranth.hdl import Fragment

from gen.config import preset
from hw.board.top import RAM_BASE, REGS_BASE, BoardTop
from hw.core.regmap import ADDR_BITS


def test_board_top_parameters():
    top = BoardTop(preset("tiny"), 3 * 4096, clock_hz=25_000_000, baud=115_200)
    assert (top.ram_bytes, top.clock_hz, top.baud) == (12288, 25_000_000, 115_200)
    assert top._bridge.clocks_per_bit == 217
    assert top._decoder.windows == [(REGS_BASE, ADDR_BITS), (RAM_BASE, 14)]
    assert set(top.signature.members) == {"rx", "tx", "irq"}
    # Elaborated: the decoder's ports, the core's and the RAM's join (wiring.connect checks them).
    Fragment.get(top, None)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"baud": 0}, r"baud must be in 1\.\.100000000, not 0"),
    ({"clock_hz": 1000, "baud": 1000}, r"clock_hz must be in 4000\.\.1000000000, not 1000"),
])
def test_board_top_wrong(kwargs, message):
    # (ram_bytes is AxiRam's size_bytes, pinned by tests/test_sim_axi_ram.py.)
    args = {"ram_bytes": 4096, "clock_hz": 25_000_000, "baud": 115_200, **kwargs}
    with pytest.raises(ValueError, match=message):
        BoardTop(preset("tiny"), args.pop("ram_bytes"), **args)
