"""gen.driver on a MemoryTransport: DRAM layout, records, outputs and registers by name."""

import asyncio

import numpy as np
import pytest

from gen.config import preset
from gen.driver import Allocator, CommandError, MemoryTransport, SpattenDriver, Transport
from golden.command import RECORD_BYTES, Error, check_command, unpack_command
from golden.formats import OUT_FRAC
from golden.quant import pack_plane, unpack_kv, unpack_plane

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


def test_prepare_layer_lays_out_golden_planes():
    drv = driver()
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(2, 5, 8)), rng.normal(size=(2, 7, 8)), rng.normal(size=(2, 7, 8))
    layer = drv.prepare_layer(q, k, v, token_keep=4, value_keep=0.5)
    cmd = layer.command
    assert check_command(cmd, TINY) is Error.NONE
    assert (cmd.keys, cmd.rows, cmd.heads, cmd.token_keep, cmd.head_keep) == (7, 5, 2, 4, 2)
    run(drv.write_layer(layer))
    mem = drv.transport.mem
    (qc, kc, _), _ = drv.quantize(q, k, v)
    msb_bytes = 7 * 8 * TINY.msb_bits // 8
    for h in range(2):
        msb = mem[cmd.k_msb_base + h * cmd.k_msb_stride:][:msb_bytes]
        k_msb = np.frombuffer(msb, np.uint8).reshape(7, -1)
        lsb = mem[cmd.k_lsb_base + h * cmd.k_lsb_stride:][:7 * 4]
        k_lsb = np.frombuffer(lsb, np.uint8).reshape(7, -1)
        assert np.array_equal(unpack_kv(k_msb, k_lsb, TINY.msb_bits, TINY.lsb_bits, 8), kc[h])
        q_bytes = pack_plane(qc[h], TINY.value_bits, signed=True).tobytes()
        assert mem[cmd.q_base + h * cmd.q_stride:][:len(q_bytes)] == q_bytes


def test_records_and_outputs():
    drv = driver()
    rng = np.random.default_rng(2)
    layers = [drv.prepare_layer(*(rng.normal(size=(1, 4, 8)) for _ in range(3))) for _ in range(2)]
    ptr = run(drv.write_commands([x.command for x in layers]))
    assert ptr % RECORD_BYTES == 0
    back = [unpack_command(bytes(drv.transport.mem[ptr + i * RECORD_BYTES:][:RECORD_BYTES]))
            for i in range(2)]
    assert [c.last for c in back] == [False, True] and back[0].q_base == layers[0].command.q_base
    cmd = layers[1].command
    out = rng.integers(-2000, 2000, size=(1, 4, 8))
    rows = pack_plane(out[0], TINY.value_bits + OUT_FRAC, signed=True)
    for i in range(4):
        at = cmd.out_base + i * cmd.out_row_stride
        drv.transport.mem[at:at + rows.shape[1]] = rows[i].tobytes()
    got = run(drv.read_outputs(layers[1]))
    assert np.array_equal(got, out)
    assert np.array_equal(unpack_plane(rows, TINY.value_bits + OUT_FRAC, 8, signed=True), out[0])


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
