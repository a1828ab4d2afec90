# amaranth: UnusedElaboratable=no
"""AxiRam (hw/axi/ram.py): parameter checks, and cocotb on its Verilog (sim/axi_ram.py)."""

import pytest

from hw.axi.ram import AxiRam
from sim import runner


def _ram(**overrides):
    kwargs = {"size_bytes": 4096, "addr_bits": 32, "data_bits": 64, "read_id_bits": 4, "write_id_bits": 4}
    return AxiRam(**{**kwargs, **overrides})


def test_properties():
    ram = _ram(size_bytes=3 * 1024)
    assert (ram.size_bytes, ram.rows, ram.lite_addr_bits, ram.data_bits) == (3072, 384, 12, 64)
    assert _ram(size_bytes=64, data_bits=32).lite_addr_bits == 6


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"size_bytes": 100}, r"size_bytes must be a multiple of 8 \(data_bits // 8\), not 100"),
    ({"size_bytes": 4}, r"size_bytes must be in 8\.\.16777216, not 4"),
    ({"size_bytes": 1 << 25}, r"size_bytes must be in 8\.\.16777216"),
    ({"data_bits": 16}, r"data_bits must be a power of two in 32\.\.1024, not 16"),
    ({"data_bits": 48}, r"data_bits must be a power of two in 32\.\.1024, not 48"),
    ({"addr_bits": 8}, r"addr_bits must be in 12\.\.64, not 8"),
    ({"read_id_bits": 0}, r"id_bits must be in 1\.\.16, not 0"),
])
def test_ram_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _ram(**kwargs)


# (simulator, size_bytes, data_bits, operations): a power-of-two size and one that is not.
RUNS = [("verilator", 4096, 64, 60), ("icarus", 3 * 256, 32, 20)]


@pytest.mark.parametrize(("sim", "size", "bits", "operations"), RUNS,
                         ids=[f"{s}-{n}-{b}" for s, n, b, _ in RUNS])
def test_axi_ram(sim, size, bits, operations):
    ram = _ram(size_bytes=size, data_bits=bits, read_id_bits=3, write_id_bits=2)
    result = runner.run(ram, test_module="sim.axi_ram", sim=sim,
                        parameters={"size_bytes": size, "data_bits": bits, "operations": operations})
    assert result["tests"] == 3
