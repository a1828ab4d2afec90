# amaranth: UnusedElaboratable=no
"""hw.board: the UART and the UART-to-AXI4-Lite bridge, in Amaranth's simulator, driven by the
host link (gen.uart_link) over a simulated serial line and against an AXI4-Lite memory model."""

import random

import pytest

from gen.uart_link import LinkError, UartLink
from hw.board import protocol
from hw.board.bridge import UartAxiLiteBridge, UartBridge
from hw.board.uart import UartRx, UartTx
from sim.amaranth_streams import run, stream_get, stream_put

CPB = 4   # clocks per bit


async def send_serial(ctx, pin, data, cpb=CPB, stop=1):
    for byte in data:
        for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
            ctx.set(pin, bit)
            await ctx.tick().repeat(cpb)
        ctx.set(pin, 1)


async def receive_serial(ctx, pin, count, cpb=CPB):
    out = []
    for _ in range(count):
        await ctx.tick().until(~pin)
        await ctx.tick().repeat(cpb + cpb // 2)
        byte = 0
        for i in range(8):
            byte |= ctx.get(pin) << i
            await ctx.tick().repeat(cpb)
        assert ctx.get(pin) == 1, "stop bit"
        out.append(byte)
    return bytes(out)


def test_uart_loopback_and_framing_error():
    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(24))
    tx, rx = UartTx(clocks_per_bit=CPB), UartRx(clocks_per_bit=CPB)

    from amaranth.hdl import Module
    from amaranth.lib import stream, wiring

    class Loop(wiring.Component):
        def __init__(self):
            super().__init__({"send": wiring.In(stream.Signature(8)), "got": wiring.Out(stream.Signature(8)),
                              "framing_errors": wiring.Out(16)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.tx, m.submodules.rx = tx, rx
            wiring.connect(m, wiring.flipped(self.send), tx.data)
            wiring.connect(m, rx.data, wiring.flipped(self.got))
            m.d.comb += [rx.rx.eq(tx.tx), self.framing_errors.eq(rx.framing_errors)]
            return m

    dut = Loop()
    got = []

    async def sender(ctx):
        for byte in data:
            await stream_put(ctx, dut.send, byte)

    async def receiver(ctx):
        for _ in data:
            got.append(await stream_get(ctx, dut.got))
        assert ctx.get(dut.framing_errors) == 0

    run(dut, sender, receiver, deadline_cycles=20_000)
    assert bytes(got) == data

    rx = UartRx(clocks_per_bit=CPB)

    async def bad_stop(ctx):
        await send_serial(ctx, rx.rx, b"\x5a", stop=0)
        await ctx.tick().repeat(4 * CPB)
        assert ctx.get(rx.framing_errors) == 1 and not ctx.get(rx.data.valid)
        await send_serial(ctx, rx.rx, b"\xa5")
        assert await stream_get(ctx, rx.data) == 0xA5

    run(rx, bad_stop, deadline_cycles=2_000)


def test_parameters_wrong():
    with pytest.raises(ValueError, match=r"clocks_per_bit must be an integer in 4\.\.1048576, not 2"):
        UartRx(clocks_per_bit=2)
    with pytest.raises(ValueError, match="clocks_per_bit must be an integer"):
        UartTx(clocks_per_bit=4.5)
    with pytest.raises(ValueError, match=r"addr_bits must be an integer in 12\.\.32, not 40"):
        UartAxiLiteBridge(addr_bits=40, timeout_cycles=100)
    with pytest.raises(ValueError, match="timeout_cycles must be an integer >= 16"):
        UartAxiLiteBridge(timeout_cycles=3)


class AxiLiteMemory:
    """An AXI4-Lite slave model: words of a dict, SLVERR at and above ``error_from``, random stalls."""

    def __init__(self, dut, rng, error_from=0x8000):
        self.dut, self.rng, self.error_from = dut, rng, error_from
        self.words = {}
        self.done = False

    async def serve(self, ctx):
        d = self.dut
        while not self.done:
            await ctx.tick()
            if ctx.get(d.m_axil_awvalid) and ctx.get(d.m_axil_wvalid) and self.rng.random() < 0.6:
                addr, data = ctx.get(d.m_axil_awaddr), ctx.get(d.m_axil_wdata)
                ctx.set(d.m_axil_awready, 1)
                ctx.set(d.m_axil_wready, 1)
                await ctx.tick()
                ctx.set(d.m_axil_awready, 0)
                ctx.set(d.m_axil_wready, 0)
                error = addr >= self.error_from
                if not error:
                    self.words[addr] = data
                await ctx.tick().repeat(self.rng.randrange(1, 4))
                ctx.set(d.m_axil_bresp, protocol.SLVERR if error else 0)
                ctx.set(d.m_axil_bvalid, 1)
                await ctx.tick().until(d.m_axil_bready)
                ctx.set(d.m_axil_bvalid, 0)
            elif ctx.get(d.m_axil_arvalid) and self.rng.random() < 0.6:
                addr = ctx.get(d.m_axil_araddr)
                ctx.set(d.m_axil_arready, 1)
                await ctx.tick()
                ctx.set(d.m_axil_arready, 0)
                await ctx.tick().repeat(self.rng.randrange(1, 4))
                error = addr >= self.error_from
                ctx.set(d.m_axil_rresp, protocol.DECERR if error else 0)
                ctx.set(d.m_axil_rdata, 0xDEADBEEF if error else self.words.get(addr, 0))
                ctx.set(d.m_axil_rvalid, 1)
                await ctx.tick().until(d.m_axil_rready)
                ctx.set(d.m_axil_rvalid, 0)


async def exchange(ctx, dut, request, count, *, quiet_cycles=30 * CPB):
    """Send ``request`` on the bridge's ``rx`` pin while collecting ``count`` answer bytes from
    its ``tx`` pin (answers start while later words are still being sent); with ``count == 0``,
    check that nothing comes for ``quiet_cycles`` after the request."""
    bits = [bit for byte in request for bit in (0, *((byte >> i) & 1 for i in range(8)), 1)]
    got, sample_at, current, index, cycle, idle = [], None, 0, 0, 0, 0
    while len(got) < count or bits or (count == 0 and idle < quiet_cycles):
        if cycle % CPB == 0:
            ctx.set(dut.rx, bits.pop(0) if bits else 1)
        line = ctx.get(dut.tx)
        if sample_at is None and not line:
            sample_at, index, current = cycle + CPB + CPB // 2, 0, 0
        elif sample_at is not None and cycle == sample_at:
            if index < 8:
                current |= line << index
                index += 1
                sample_at += CPB
            else:
                assert line == 1, "stop bit"
                got.append(current)
                sample_at = None
        idle = idle + 1 if not bits else 0
        await ctx.tick()
        cycle += 1
        assert cycle < 100_000, f"the bridge gave {len(got)} of {count} answer bytes"
    assert sample_at is None or count, "an answer byte where none was due"
    return bytes(got)


def test_bridge_reads_writes_errors_and_timeout():
    rng = random.Random(11)
    dut = UartBridge(clocks_per_bit=CPB, addr_bits=16)
    memory = AxiLiteMemory(dut, rng)

    async def host(ctx):
        async def write(address, words):
            answer = await exchange(ctx, dut, protocol.write_request(address, words), len(words))
            return protocol.parse_write_answer(answer)

        async def read(address, count):
            answer = await exchange(ctx, dut, protocol.read_request(address, count), 5 * count)
            return protocol.parse_read_answer(answer)

        words = [rng.randrange(1 << 32) for _ in range(6)]
        assert await write(0x100, words) == [protocol.OK] * 6
        assert await read(0x100, 6) == [(protocol.OK, w) for w in words]
        assert await write(0x7FFC, [1, 2]) == [protocol.OK, protocol.SLVERR]
        assert await read(0x7FFC, 2) == [(protocol.OK, 1), (protocol.DECERR, 0)]
        # Misaligned: no bus access, every word answered MISALIGNED.
        assert await read(0x102, 2) == [(protocol.MISALIGNED, 0)] * 2
        assert await write(0x41, [9]) == [protocol.MISALIGNED]
        # An unknown op byte; then a request cut short, dropped after the timeout, unanswered.
        assert await exchange(ctx, dut, b"\x77", 1) == bytes([protocol.BAD_OP])
        assert await exchange(ctx, dut, protocol.write_request(0x40, [7])[:7], 0,
                              quiet_cycles=protocol.TIMEOUT_BYTES * 10 * CPB + 100) == b""
        assert await read(0x100, 1) == [(protocol.OK, words[0])]
        assert 0x40 not in memory.words and memory.words[0x7FFC] == 1
        assert ctx.get(dut.framing_errors) == 0 and ctx.get(dut.overruns) == 0
        memory.done = True

    run(dut, host, memory.serve, deadline_cycles=60_000)


class FakeBridge:
    """The bridge as a Python model behind a byte port, for the host link's own tests."""

    def __init__(self, size=0x1000, drop_after=None):
        self.words, self.size, self.answer, self.drop_after = {}, size, b"", drop_after
        self.requests = 0

    def write(self, data):
        data = bytes(data)
        op, address, count = data[0], int.from_bytes(data[1:5], "little"), data[5] + 1
        self.requests += 1
        out = []
        for i in range(count):
            at = address + 4 * i
            status = protocol.OK if at < self.size else protocol.SLVERR
            if op == protocol.WRITE:
                if status == protocol.OK:
                    self.words[at] = int.from_bytes(data[6 + 4 * i:10 + 4 * i], "little")
                out.append(bytes([status]))
            else:
                out.append(bytes([status]) + self.words.get(at, 0).to_bytes(4, "little"))
        self.answer = b"".join(out)
        if self.drop_after is not None and self.requests > self.drop_after:
            self.answer = self.answer[:1]

    def read(self, count):
        data, self.answer = self.answer[:count], self.answer[count:]
        return data


def test_link_chunks_and_errors(monkeypatch):
    port = FakeBridge()
    link = UartLink(port, baud=10**9)
    data = bytes(range(256)) * 5        # 320 words: two requests
    link.write_mem(0x40, data)
    assert port.requests == 2 and link.read_mem(0x40, len(data)) == data
    link.write32(0x8, 0xCAFEF00D)
    assert link.read32(0x8) == 0xCAFEF00D
    with pytest.raises(LinkError, match="at 0x1000 failed: SLVERR") as error:
        link.write_words(0xFFC, [1, 2])
    assert error.value.address == 0x1000 and error.value.status == protocol.SLVERR
    with pytest.raises(ValueError, match="multiples of 4"):
        link.read_mem(0x2, 8)
    short = UartLink(FakeBridge(drop_after=0), baud=10**9)
    with pytest.raises(LinkError, match="bridge answered 1 of 5 bytes at 0x10"):
        short.read32(0x10)
    with pytest.raises(ValueError, match="count must be an integer in 1..256"):
        protocol.read_request(0, 0)
