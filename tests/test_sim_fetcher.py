"""cocotb tests of the fetcher (sim/fetcher.py) on Icarus and Verilator.

Each run builds one fetcher configuration and runs every cocotb test of
sim/fetcher.py on it: edge cases, random requests under memory latency,
AR/R stalls and output backpressure, AXI errors, reset with bursts in
flight, re-fetch decisions. The AXI model's access log is checked against
golden's bursts in every test.
"""

import pytest

from gen.config import preset
from golden.fetch import refetch_threshold_code
from sim import runner
from sim.fetcher import CHECKED_FILE

_TINY = preset("tiny")
_ULX3S = preset("ulx3s")


def _params(config, **overrides):
    params = {"head_dim": config.head_dim, "msb_bits": config.msb_bits, "lsb_bits": config.lsb_bits,
              "max_context": config.max_context, "data_bits": config.axi_data_bits,
              # A 1 MB address space: its top is reachable in the model.
              "addr_bits": 20, "id_bits": config.axi_id_bits, "outstanding": config.axi_outstanding,
              "threshold_code": refetch_threshold_code(0.1)}
    params.update(overrides)
    return params


CONFIGS = {
    # The tiny preset's fetcher: D = 8, 8+4 bits, a 32-bit port (8-byte MSB rows = 2 beats).
    "tiny": _params(_TINY),
    # Rows that do not fill whole words: 6-byte MSB and 4-byte LSB rows on an 8-byte port.
    "6+4-d8-w64": _params(_TINY, msb_bits=6, data_bits=64, outstanding=3, max_run=5),
    "4+4-d8-w64": _params(_TINY, msb_bits=4, data_bits=64, outstanding=2),
    # 24-byte MSB rows on a 256-bit port: two rows per three words.
    "12+4-d16-w256": _params(_TINY, head_dim=16, msb_bits=12, data_bits=256, outstanding=8),
    # The ulx3s preset's fetcher (D = 64, 8+4, 64-bit port, 16 bursts in flight).
    "ulx3s": _params(_ULX3S),
}
# Every MSB setting (4/6/8/12 bits) runs; a Verilator build costs more than these runs, so two
# settings run on Icarus only.
RUNS = [
    ("verilator", "tiny", 300),
    ("verilator", "6+4-d8-w64", 300),
    ("verilator", "ulx3s", 60),
    ("icarus", "4+4-d8-w64", 60),
    ("icarus", "12+4-d16-w256", 45),
]

# cocotb tests in sim/fetcher.py (random_streams counts three), the bench-only `measure` included.
COCOTB_TESTS = 8


@pytest.mark.parametrize("sim, config, requests", RUNS, ids=[f"{sim}-{config}" for sim, config, _ in RUNS])
def test_fetcher(sim, config, requests):
    from hw.fetcher import Fetcher

    params = CONFIGS[config]
    result = runner.run(Fetcher(**params), test_module="sim.fetcher", sim=sim,
                        parameters={"fetcher": params, "requests": requests})
    assert result["tests"] == COCOTB_TESTS
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    checked = sum(int(line.split()[-1]) for line in lines)
    print(f"{sim} {config}: {checked} requests and decisions checked")
    # Every test but the skipped `measure` wrote its line (random_streams three).
    assert len(lines) == COCOTB_TESTS - 1 and checked >= requests
