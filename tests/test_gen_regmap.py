# amaranth: UnusedElaboratable=no
"""gen.regmap: the C header, the Python module and the README table agree with hw.core.regmap."""

import re

import pytest

from gen import regmap
from gen.config import preset
from gen.verilog import emit
from golden.command import Error
from hw.axi.lite import Field, Register
from hw.core.regmap import ADDR_BITS, COUNTERS, VERSION, register_map

TINY = preset("tiny")


def test_words_do_not_overlap_and_fit():
    offsets = [offset for reg in register_map(TINY) for _, offset in reg.words]
    assert len(offsets) == len(set(offsets)) and max(offsets) < 1 << ADDR_BITS
    assert all(o % 4 == 0 for o in offsets)


def test_header_and_module_have_the_same_names(tmp_path):
    header, module = regmap.emit(TINY, tmp_path)
    c = dict(re.findall(r"#define SPATTEN_(\w+) 0x([0-9A-F]+)u", header.read_text()))
    py = regmap.load_module(module)
    names = {name for name, _, _ in regmap.symbols(TINY)}
    assert set(c) == names
    for name in names:
        assert int(c[name], 16) == getattr(py, name), name
    assert py.STATUS == 0x44 and py.CYCLES_BUSY_HI == py.CYCLES_BUSY_LO + 4
    assert py.ERR_L_RANGE == Error.L_RANGE and py.ERRORS[py.ERR_ALIGN_Q_MSB] == "ALIGN_Q_MSB"
    assert py.ERR_RANGE_SURVIVORS == Error.RANGE_SURVIVORS and py.ERR_KEYS_SHRINK == Error.KEYS_SHRINK
    assert py.RECORD_BYTES == 512 and py.CFG_LIMITS_VALUE >> 16 == 512
    assert py.REGISTERS["CTRL"] == (0x40, "pulse")
    assert py.CFG_MAX_CONTEXT_VALUE == TINY.max_context
    assert py.STATUS_ERROR_CODE_MASK == 0xFF00 and py.STATUS_ERROR_CODE_SHIFT == 8


def test_decoded_command_registers():
    py = regmap.module_for(TINY)
    assert py.VERSION_VALUE == VERSION == 0x0001_0001
    assert [(f, getattr(py, f"DECODED_CONTROL_{f}_SHIFT"), getattr(py, f"DECODED_CONTROL_{f}_MASK"))
            for f in ("MODE", "LAST", "FRESH", "CAUSAL")] == [("MODE", 0, 0xFF), ("LAST", 8, 0x100),
                                                            ("FRESH", 9, 0x200), ("CAUSAL", 10, 0x400)]
    assert py.REGISTERS["DECODED_LAYER"] == (0x098, "ro")


def test_command_table_covers_the_record():
    table = regmap.command_table()
    assert "| 5 | `layer` |" in table and "| 32-33 | `survivors_base` |" in table
    assert "| 34-63 | (reserved, zero) |" in table and "| 96-127 | (reserved, zero) |" in table
    assert "33 `KEYS_SHRINK`" in table


def test_module_for_matches_the_file(tmp_path):
    _, module = regmap.emit(TINY, tmp_path)
    assert regmap.module_for(TINY).REGISTERS == regmap.load_module(module).REGISTERS


def test_every_counter_has_a_total_and_a_layer_copy():
    names = {reg.name for reg in register_map(TINY) if reg.access == "counter"}
    assert names == {n for n, _ in COUNTERS} | {f"LAYER_{n}" for n, _ in COUNTERS}


def test_markdown_table_rows():
    table = regmap.markdown_table(TINY)
    assert table.count("\n") == len(register_map(TINY)) + 2
    assert "| 0x044 | `STATUS` | ro | busy [0], done [1], error [2], error_code [15:8]" in table


def test_verilog_emits_the_regmap(tmp_path):
    paths = emit(TINY, tmp_path, blocks=["axil_regs"])
    assert tmp_path / "tiny" / "spatten_regs.h" in paths and tmp_path / "tiny" / "spatten_regs.py" in paths


def test_register_wrong():
    with pytest.raises(ValueError, match=r"access must be one of const, ro, rw, pulse, counter, not 'x'"):
        Register("A", 0, "x")
    with pytest.raises(ValueError, match=r"offset must be a multiple of 4, not 0x2"):
        Register("A", 2, "rw")
    with pytest.raises(ValueError, match=r"bits must be in 1..32, not 33"):
        Register("A", 0, "rw", bits=33)
    with pytest.raises(ValueError, match=r"field F must lie within the 8 bits of A"):
        Register("A", 0, "rw", bits=8, fields=(Field("F", 4, 8),))
