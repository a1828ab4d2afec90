"""cocotb tests of the AXI4 write master (sim/axi_write.py)."""

import pytest

from hw.axi.write import AxiWriteMaster
from sim import runner


def _master(data_bits, row_bytes, outstanding):
    return {"addr_bits": 16, "data_bits": data_bits, "id_bits": 4, "row_bytes": row_bytes,
            "outstanding": outstanding}


RUNS = [
    # tiny output rows: D = 8 codes of 16 bits on a 32-bit port.
    ("icarus", "tiny", _master(32, 16, 4), 120),
    # A row that ends inside a word, and one smaller than a word.
    ("icarus", "20B-w64", _master(64, 20, 2), 120),
    ("icarus", "8B-w128", _master(128, 8, 1), 40),
    # 275 beats: bursts split at 256 beats and at 4 KB.
    ("icarus", "1100B-w32", _master(32, 1100, 2), 12),
    # ulx3s output rows: D = 64 codes of 16 bits on a 64-bit port (a Verilator build costs more).
    ("icarus", "ulx3s", _master(64, 128, 16), 100),
]
COCOTB_TESTS = 3


@pytest.mark.parametrize("sim, name, master, rows", RUNS, ids=[f"{s}-{n}" for s, n, _, _ in RUNS])
def test_axi_write(sim, name, master, rows):
    result = runner.run(AxiWriteMaster(**master), test_module="sim.axi_write", sim=sim,
                        parameters={"master": master, "rows": rows})
    assert result["tests"] == COCOTB_TESTS
