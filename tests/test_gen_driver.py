"""gen.driver on a MemoryTransport: DRAM layout, records, outputs and registers by name."""

import asyncio

import numpy as np
import pytest

from gen.config import preset
from gen.driver import Allocator, CommandError, MemoryTransport, SpattenDriver, Transport
from golden.command import (
    PLANES,
    RECORD_BYTES,
    Error,
    check_command,
    out_row_bytes,
    survivor_bytes,
    unpack_command,
)
from golden.formats import OUT_FRAC
from golden.pruning import value_keep_code
from golden.quant import pack_plane, row_bytes, unpack_kv, unpack_plane

TINY = preset("tiny")


def run(coro):
    return asyncio.run(coro)


def driver():
    return SpattenDriver(MemoryTransport(1 << 21), TINY, dram=(0x1_0000, 1 << 20))


def test_allocator():
    a = Allocator(0x100, 0x1000, 16)
    assert a.alloc(3) == 0x100 and a.alloc(1) == 0x110 and a.alloc(8, align=256) == 0x200
    with pytest.raises(MemoryError, match=r"DRAM region of 4096 bytes is full"):
        a.alloc(0x1000)


@pytest.mark.parametrize("d", [8, 5])
def test_prepare_layer_lays_out_golden_planes(d):
    drv = driver()
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 5, d)), rng.normal(size=(2, 7, d)), rng.normal(size=(2, 7, d))
    layer = drv.prepare_layer(q, k, v, token_keep=4, value_keep=0.5, layer=9, causal=True, fresh=False)
    cmd = layer.command
    assert check_command(cmd, TINY) is Error.NONE
    assert (cmd.keys, cmd.rows, cmd.heads, cmd.head_dim, cmd.token_keep, cmd.head_keep) == (7, 5, 2, d, 4, 2)
    assert (cmd.layer, cmd.causal, cmd.fresh, cmd.value_keep) == (9, True, False, value_keep_code(0.5))
    run(drv.write_layer(layer))
    mem = drv.transport.mem
    codes = dict(zip("qkv", drv.quantize(q, k, v)[0], strict=True))
    width, msb_row, lsb_row = TINY.head_dim, row_bytes(TINY.head_dim, TINY.msb_bits), row_bytes(TINY.head_dim,
                                                                                                TINY.lsb_bits)
    for name, n in (("q", 5), ("k", 7), ("v", 7)):
        for h in range(2):
            base = getattr(cmd, f"{name}_msb_base") + h * getattr(cmd, f"{name}_msb_stride")
            msb = np.frombuffer(mem[base:][:n * msb_row], np.uint8).reshape(n, -1)
            base = getattr(cmd, f"{name}_lsb_base") + h * getattr(cmd, f"{name}_lsb_stride")
            lsb = np.frombuffer(mem[base:][:n * lsb_row], np.uint8).reshape(n, -1)
            back = unpack_kv(msb, lsb, TINY.msb_bits, TINY.lsb_bits, width)
            assert np.array_equal(back[:, :d], codes[name][h]), (name, h)
            assert not back[:, d:].any(), f"{name} head {h}: padding is not zero"
    port = TINY.axi_data_bits // 8
    assert cmd.out_row_stride == -(-out_row_bytes(width, TINY.value_bits) // port) * port
    assert cmd.out_stride == 5 * cmd.out_row_stride
    # The survivor record has a region of its own, after every other.
    ends = [getattr(cmd, f"{p}_base") + 2 * getattr(cmd, f"{p}_stride") for p in PLANES]
    assert cmd.survivors_base >= max(ends) and cmd.survivors_base % port == 0
    assert drv.dram.next == cmd.survivors_base + survivor_bytes(TINY)


def test_prepare_layer_defaults_and_wrong():
    drv = driver()
    x = np.ones((1, 2, 4))
    cmd = drv.prepare_layer(x, x, x).command
    assert (cmd.layer, cmd.causal, cmd.fresh, cmd.value_keep) == (0, False, True, 1 << 16)
    with pytest.raises(ValueError, match=r"D must be at most cfg.head_dim = 8, not 9"):
        drv.prepare_layer(*(np.ones((1, 2, 9)),) * 3)


@pytest.mark.parametrize("d", [8, 3])
def test_records_and_outputs(d):
    drv = driver()
    rng = np.random.default_rng(2)
    layers = [drv.prepare_layer(*(rng.normal(size=(2, 4, d)) for _ in range(3)), layer=i) for i in range(2)]
    ptr = run(drv.write_commands([x.command for x in layers]))
    assert ptr % RECORD_BYTES == 0
    back = [unpack_command(bytes(drv.transport.mem[ptr + i * RECORD_BYTES:][:RECORD_BYTES]))
            for i in range(2)]
    assert [c.last for c in back] == [False, True] and [c.layer for c in back] == [0, 1]
    assert back[0].q_msb_base == layers[0].command.q_msb_base
    assert back[1].survivors_base == layers[1].command.survivors_base
    cmd = layers[1].command
    bits = TINY.value_bits + OUT_FRAC
    # Rows hold cfg.head_dim elements; the driver returns the first D (the rest is garbage here).
    full = rng.integers(-2000, 2000, size=(2, 4, TINY.head_dim))
    rows = pack_plane(full, bits, signed=True)
    for h in range(2):
        for i in range(4):
            at = cmd.out_base + h * cmd.out_stride + i * cmd.out_row_stride
            drv.transport.mem[at:at + rows.shape[-1]] = rows[h, i].tobytes()
    got = run(drv.read_outputs(layers[1]))
    assert got.shape == (2, 4, d) and np.array_equal(got, full[..., :d])
    assert np.array_equal(unpack_plane(rows, bits, TINY.head_dim, signed=True), full)


def test_registers_by_name_and_status():
    drv = driver()
    t = drv.transport
    run(drv.start(0x1_2345_6700, 3))
    regs = drv.regs
    assert t.regs[regs.CMD_PTR_LO] == 0x2345_6700 and t.regs[regs.CMD_PTR_HI] == 1
    assert t.regs[regs.CMD_COUNT] == 3 and t.regs[regs.CTRL] == regs.CTRL_START_MASK
    t.regs[regs.STATUS] = regs.STATUS_ERROR_MASK | Error.D_RANGE << 8 | 2 << 16
    with pytest.raises(CommandError, match=r"command 2 failed: D_RANGE"):
        run(drv.wait(polls=3))
    assert t.regs[regs.CTRL] == regs.CTRL_CLEAR_MASK
    t.regs[regs.STATUS] = regs.STATUS_BUSY_MASK
    with pytest.raises(TimeoutError, match=r"still busy after 3 polls"):
        run(drv.wait(polls=3))
    with pytest.raises(RuntimeError, match=r"ID reads 0x0, expected 0x53504154"):
        run(drv.check_hardware())
    t.regs[regs.CYCLES_BUSY_LO], t.regs[regs.CYCLES_BUSY_HI] = 5, 1
    assert run(drv.counters())["CYCLES_BUSY"] == 1 << 32 | 5


def test_driver_wrong():
    with pytest.raises(TypeError, match=r"transport must be a Transport, not 3"):
        SpattenDriver(3, TINY)
    with pytest.raises(KeyError, match=r"name must be a register of the map, not 'NOPE'"):
        driver().offset("NOPE")
    with pytest.raises(NotImplementedError):
        run(Transport().read32(0))
