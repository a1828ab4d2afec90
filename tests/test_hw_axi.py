# amaranth: UnusedElaboratable=no
"""Constructor checks of the AXI pieces and the control plane (each message pinned)."""

import pytest

from gen.config import preset
from hw.axi.lite import AxiLiteRegisters, AxiLiteSignature, Register
from hw.axi.read_arbiter import AxiReadArbiter
from hw.axi.write import AxiWriteMaster
from hw.core.command_check import CommandCheck
from hw.core.command_reader import RecordFetch
from hw.core.counters import CounterBank

WRITE = dict(addr_bits=32, data_bits=32, id_bits=4, row_bytes=16, outstanding=4)
ARBITER = dict(masters=2, addr_bits=32, data_bits=32, id_bits=4)


def test_axil_registers_wrong():
    with pytest.raises(TypeError, match=r"registers must be Register descriptions, not 3"):
        AxiLiteRegisters(registers=[3], addr_bits=12)
    with pytest.raises(ValueError, match=r"register B overlaps A at 0x0"):
        AxiLiteRegisters(registers=[Register("A", 0, "rw"), Register("B", 0, "ro")], addr_bits=12)
    with pytest.raises(ValueError, match=r"register A at 0x1000 must be below 2\*\*addr_bits"):
        AxiLiteRegisters(registers=[Register("A", 0x1000, "rw")], addr_bits=12)
    with pytest.raises(ValueError, match=r"addr_bits must be in 4..32, not 40"):
        AxiLiteRegisters(registers=[], addr_bits=40)
    with pytest.raises(ValueError, match=r"data_bits must be 32, not 64"):
        AxiLiteSignature(addr_bits=12, data_bits=64)


@pytest.mark.parametrize("name, value, message", [
    ("row_bytes", 0, r"row_bytes must be in 1..4096, not 0"),
    ("outstanding", 257, r"outstanding must be in 1..256, not 257"),
    ("data_bits", 16, r"data_bits must be a power of two in 32..1024, not 16"),
    ("data_bits", 48, r"data_bits must be a power of two in 8..1024, not 48"),
    ("addr_bits", 8, r"addr_bits must be in 12..64, not 8"),
])
def test_axi_write_wrong(name, value, message):
    with pytest.raises(ValueError, match=message):
        AxiWriteMaster(**{**WRITE, name: value})


def test_axi_read_arbiter_wrong():
    with pytest.raises(ValueError, match=r"masters must be in 2..16, not 1"):
        AxiReadArbiter(**{**ARBITER, "masters": 1})
    with pytest.raises(ValueError, match=r"id_bits must be in 1..12 for 9 masters, not 13"):
        AxiReadArbiter(**{**ARBITER, "masters": 9, "id_bits": 13})
    with pytest.raises(TypeError, match=r"masters must be an integer, not 2.0"):
        AxiReadArbiter(**{**ARBITER, "masters": 2.0})
    assert AxiReadArbiter(**{**ARBITER, "masters": 3}).index_bits == 2


def test_command_blocks_wrong():
    with pytest.raises(ValueError, match=r"data_bytes must be a power of two in 1..128, not 3"):
        CommandCheck(max_context=64, head_dim=8, data_bytes=3, addr_bits=32, survivor_bytes=16)
    with pytest.raises(ValueError, match=r"max_context must be in 1..65536, not 0"):
        CommandCheck(max_context=0, head_dim=8, data_bytes=4, addr_bits=32, survivor_bytes=16)
    with pytest.raises(ValueError, match=r"survivor_bytes must be in 1..4294967296, not 0"):
        CommandCheck(max_context=64, head_dim=8, data_bytes=4, addr_bits=32, survivor_bytes=0)
    with pytest.raises(ValueError, match=r"data_bits must be a power of two in 32..1024, not 16"):
        RecordFetch(data_bits=16, addr_bits=32, id_bits=4)
    with pytest.raises(ValueError, match=r"width must be in 1..32, not 33"):
        CounterBank(counters=[("a", 33)])


def test_control_plane_wrong():
    from dataclasses import replace

    from hw.core.control import ControlPlane
    with pytest.raises(ValueError, match=r"cfg.axi_id_bits must be at least 2 \(one names the read master\), "
                                         r"not 1"):
        ControlPlane(replace(preset("tiny"), axi_id_bits=1))


def test_record_fetch_beats():
    assert RecordFetch(data_bits=32, addr_bits=32, id_bits=1).beats == 128
    assert RecordFetch(data_bits=1024, addr_bits=32, id_bits=1).beats == 4
