"""cocotb test of the whole board top (``hw.board.top.BoardTop``) through the host driver.

The host end is cocotbext-uart's ``UartSource`` / ``UartSink`` on the
``rx`` / ``tx`` pins; :class:`UartPort` makes them the byte port of
``gen.uart_link.LinkTransport``, the same request code the board's
``SerialTransport`` runs over pyserial. Through it ``gen.driver.SpattenDriver``
checks the hardware, writes Q/K/V and commands into the block RAM over the
bridge, starts the core (which reads and writes that RAM over its AXI4 port)
and reads the outputs and survivor records back. The results of ``run_model``
on random sequences (1-2 layers, 1-2 heads, 4-8 tokens, pruning on) are
compared bit for bit with ``golden.spatten.spatten_model``: every layer's
outputs, ``token_alive``, ``head_alive``. Also checked: a host address in no
window answers DECERR, and a byte range written and read back through the
RAM window (unaligned ends).

Parameters (``sim.runner.params``): ``preset``, ``ram_bytes``, ``clock_hz``,
``baud`` (the top's), ``sequences``.
"""

import random

import cocotb
import numpy as np
from cocotbext.uart import UartSink, UartSource

from gen.config import preset
from gen.driver import SpattenDriver
from gen.uart_link import LinkError, LinkTransport
from golden.spatten import spatten_model
from hw.board import protocol
from hw.board.top import RAM_BASE, REGS_BASE
from sim import runner
from sim.clock import ClockDomain
from sim.core_e2e import run_config

runner.allow_cocotbext_deprecations()


class UartPort:
    """cocotbext-uart on the pins as ``LinkTransport``'s byte port (a simulated line never times out)."""

    def __init__(self, source, sink):
        self.source, self.sink = source, sink

    async def write(self, data):
        await self.source.write(data)

    async def read(self, n):
        # UartSink.read(n) raises when fewer than n bytes are queued: one byte at a time.
        data = bytearray()
        while len(data) < n:
            data += await self.sink.read(1)
        return bytes(data)

    async def resync(self):
        self.sink.clear()


class BoardBench:
    def __init__(self, dut):
        self.params = runner.params()
        self.cfg = run_config(preset(self.params["preset"]))
        self.rng = random.Random(runner.seed())
        self.where = f"seed {runner.seed()}"
        period_ns = 10**9 // self.params["clock_hz"]
        self.domain = ClockDomain(dut, period_ns=period_ns)
        dut.rx.value = 1
        baud = self.params["baud"]
        self.port = UartPort(UartSource(dut.rx, baud=baud), UartSink(dut.tx, baud=baud))
        self.transport = LinkTransport(self.port, regs_base=REGS_BASE, ram_base=RAM_BASE)
        self.driver = SpattenDriver(self.transport, self.cfg, dram=(0, self.params["ram_bytes"]))

    async def start(self):
        self.domain.start()
        await self.domain.reset()
        await self.driver.check_hardware()

    def random_sequence(self):
        rng, d_max = self.rng, self.cfg.head_dim
        n_layers, heads, length = rng.randint(1, 2), rng.randint(1, 2), rng.randint(4, 8)
        d = rng.choice([d_max, rng.randint(1, d_max)])
        gen = np.random.default_rng(rng.getrandbits(32))
        return [[gen.normal(size=(heads, length, d)) * scale for _ in range(n_layers)]
                for scale in (rng.choice([1.0, 3.0]), 1.0, 1.0)]


@cocotb.test()
async def sequences_through_the_uart(dut):
    """Random sequences summarised through the driver over the serial pins, bit-exact against golden."""
    bench = BoardBench(dut)
    await bench.start()
    for n in range(bench.params["sequences"]):
        q, k, v = bench.random_sequence()
        causal = bench.rng.random() < 0.5
        label = f"sequence {n} ({len(q)} layers, shape {q[0].shape}, causal {causal}, {bench.where})"
        got = await bench.driver.run_model(q, k, v, "summarize", causal)
        want = spatten_model(q, k, v, bench.cfg, "summarize", causal=causal)
        for i, (a, b) in enumerate(zip(got["outputs"], want["outputs"], strict=True)):
            assert np.array_equal(a, b), f"{label}: layer {i} outputs differ from spatten_model"
        assert np.array_equal(got["token_alive"], want["token_alive"]), f"{label}: token survivors"
        assert np.array_equal(got["head_alive"], want["head_alive"]), f"{label}: head survivors"
        assert got["command_counters"][0][0]["CYCLES_BUSY"] > 0, f"{label}: the core was never busy"


@cocotb.test()
async def address_map(dut):
    """Bytes through the RAM window (unaligned ends kept), and DECERR outside both windows."""
    bench = BoardBench(dut)
    await bench.start()
    transport, rng = bench.transport, bench.rng
    await transport.write_mem(0x100, bytes(range(1, 33)))
    data = rng.randbytes(13)
    await transport.write_mem(0x103, data)
    want = bytes(range(1, 4)) + data + bytes(range(17, 33))
    assert await transport.read_mem(0x100, 32) == want, f"{bench.where}: the RAM window's bytes"
    for address in (RAM_BASE - 4, 0x2000_0000):
        try:
            await transport.read_words(address, 1)
        except LinkError as error:
            assert error.status == protocol.DECERR, f"{bench.where}: {address:#x}: {error}"
        else:
            raise AssertionError(f"{bench.where}: a read at {address:#x} did not fail")
