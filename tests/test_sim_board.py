"""The whole board top over its serial pins (sim/board_e2e.py on hw.board.top.BoardTop)."""

from gen.config import preset
from hw.board.top import BoardTop
from sim import runner

# A fast line (8 clocks a bit) keeps the serial traffic of a few layers to seconds of Verilator.
CLOCK_HZ, BAUD, RAM_BYTES = 100_000_000, 12_500_000, 32 * 1024


def test_board_end_to_end():
    top = BoardTop(preset("tiny"), RAM_BYTES, clock_hz=CLOCK_HZ, baud=BAUD)
    result = runner.run(top, test_module="sim.board_e2e", sim="verilator",
                        parameters={"preset": "tiny", "ram_bytes": RAM_BYTES, "clock_hz": CLOCK_HZ,
                                    "baud": BAUD, "sequences": 3})
    assert result["tests"] == 2
