"""gen.uart_link's driver transports (LinkTransport, SerialTransport) against a model of the bridge."""

import asyncio

import numpy as np
import pytest

from gen.uart_link import LinkError, SerialTransport, UartLink, read_plan, write_plan
from hw.board import protocol
from hw.board.top import RAM_BASE, REGS_BASE


class ModelBridge:
    """The bridge and the board's address map as a Python model behind a blocking byte port."""

    def __init__(self, ram_bytes=0x1000, drop_after=None):
        self.ram_bytes, self.drop_after = ram_bytes, drop_after
        self.words, self.answer, self.requests, self.resets = {}, b"", [], 0

    def status(self, at):
        in_regs = REGS_BASE <= at < REGS_BASE + 0x1000
        return protocol.OK if in_regs or RAM_BASE <= at < RAM_BASE + self.ram_bytes else protocol.DECERR

    def write(self, data):
        data = bytes(data)
        op, address, count = data[0], int.from_bytes(data[1:5], "little"), data[5] + 1
        self.requests.append((op, address, count))
        out = []
        for i in range(count):
            at, status = address + 4 * i, self.status(address + 4 * i)
            if op == protocol.WRITE:
                if status == protocol.OK:
                    self.words[at] = int.from_bytes(data[6 + 4 * i:10 + 4 * i], "little")
                out.append(bytes([status]))
            else:
                word = self.words.get(at, 0) if status == protocol.OK else 0
                out.append(bytes([status]) + word.to_bytes(4, "little"))
        self.answer = b"".join(out)
        if self.drop_after is not None and len(self.requests) > self.drop_after:
            self.answer = self.answer[:1]

    def read(self, count):
        data, self.answer = self.answer[:count], self.answer[count:]
        return data

    def reset_input_buffer(self):
        self.resets += 1
        self.answer = b""


def _transport(**kwargs):
    bridge = ModelBridge(**kwargs)
    return SerialTransport(UartLink(bridge, baud=10**9), poll_s=0), bridge


def test_plans_split_at_max_words():
    writes = list(write_plan(0x100, range(300)))
    assert [(at, n) for at, _, n in writes] == [(0x100, 256), (0x500, 44)]
    assert [(at, n) for at, _, n in read_plan(0x100, 257)] == [(0x100, 5 * 256), (0x500, 5)]


def test_serial_transport_map_and_bursts():
    transport, bridge = _transport()

    async def run():
        await transport.write32(np.int64(0x10), 0x1234_5678)
        assert bridge.words[REGS_BASE + 0x10] == 0x1234_5678
        assert await transport.read32(0x10) == 0x1234_5678
        data = bytes(range(256)) * 5
        bridge.requests.clear()
        await transport.write_mem(np.int64(0x40), data)
        assert [(op, a) for op, a, _ in bridge.requests] == [(protocol.WRITE, RAM_BASE + 0x40),
                                                            (protocol.WRITE, RAM_BASE + 0x440)]
        assert await transport.read_mem(0x40, len(data)) == data
        # Unaligned ends: the neighbouring bytes stay.
        await transport.write_mem(0x41, b"\xAA\xBB\xCC\xDD\xEE")
        assert await transport.read_mem(0x40, 8) == bytes([0, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 6, 7])
        assert await transport.read_mem(0x43, 3) == bytes([0xCC, 0xDD, 0xEE])
        with pytest.raises(LinkError, match=f"at {RAM_BASE + 0x1000:#x} failed: DECERR") as error:
            await transport.write_mem(0xFFC, bytes(8))
        assert error.value.status == protocol.DECERR

    asyncio.run(run())


def test_serial_transport_short_answer():
    transport, bridge = _transport(drop_after=0)
    with pytest.raises(LinkError, match=r"bridge answered 1 of 5 bytes at 0x8"):
        asyncio.run(transport.read32(0x8))
    assert bridge.resets == 1
