"""cocotb testbench of :class:`hw.board.bridge.UartBridge` on its emitted Verilog.

The host end is cocotbext-uart's ``UartSource`` / ``UartSink`` on the
``rx`` / ``tx`` pins, speaking :mod:`hw.board.protocol`; the far end is
cocotbext-axi's ``AxiLiteRam`` with random stalls on every channel. Random
word reads and writes and bursts (up to 256 words), misaligned requests and
unknown ops, checked against a Python copy of the memory. Run through
:func:`sim.runner.run` with ``{"clocks_per_bit": N, "requests": N, "max_words": N}`` (random requests of up to
32 words, the first a burst of ``max_words``).
"""

import random

import cocotb
from cocotbext.axi import AxiLiteBus, AxiLiteRam
from cocotbext.uart import UartSink, UartSource

from hw.board import protocol
from sim import runner
from sim.clock import ClockDomain
from sim.streams import random_pause

runner.allow_cocotbext_deprecations()

PERIOD_NS = 10
# "<cocotb test> <requests checked>", in the run's folder (read by gen.smoke).
CHECKED_FILE = "requests_checked.txt"
MEMORY_BYTES = 1 << 14


async def _answer(sink, count):
    # UartSink.read(n) raises when fewer than n bytes are queued: one byte at a time.
    data = bytearray()
    while len(data) < count:
        data += await sink.read(1)
    return bytes(data)


@cocotb.test()
async def random_requests(dut):
    params = runner.params()
    rng = random.Random(runner.seed())
    cpb = params["clocks_per_bit"]
    domain = ClockDomain(dut, period_ns=PERIOD_NS)
    domain.start()
    dut.rx.value = 1
    baud = 10**9 // (cpb * PERIOD_NS)
    source, sink = UartSource(dut.rx, baud=baud), UartSink(dut.tx, baud=baud)
    ram = AxiLiteRam(AxiLiteBus.from_prefix(dut, "m_axil"), dut.clk, dut.rst, size=MEMORY_BYTES)
    for channel in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                    ram.read_if.ar_channel, ram.read_if.r_channel):
        channel.set_pause_generator(random_pause(rng, 0.4))
    await domain.reset()
    copy = {}
    for number in range(params["requests"]):
        kind = 0.0 if number == 0 else rng.random()
        count = rng.choice([1, 1, 2, 7, rng.randrange(1, min(32, params["max_words"]) + 1)])
        count = params["max_words"] if number == 0 else count
        address = 4 * rng.randrange(0, MEMORY_BYTES // 4 - count + 1)
        if kind < 0.45:
            words = [rng.randrange(1 << 32) for _ in range(count)]
            await source.write(protocol.write_request(address, words))
            statuses = protocol.parse_write_answer(await _answer(sink, protocol.write_answer_bytes(count)))
            assert statuses == [protocol.OK] * count, statuses
            copy.update({address + 4 * i: w for i, w in enumerate(words)})
        elif kind < 0.9:
            await source.write(protocol.read_request(address, count))
            got = protocol.parse_read_answer(await _answer(sink, protocol.read_answer_bytes(count)))
            want = [(protocol.OK, copy.get(address + 4 * i, 0)) for i in range(count)]
            assert got == want, f"read {count} words at {address:#x}"
        elif kind < 0.95:
            await source.write(protocol.read_request(address + 2, count))
            got = protocol.parse_read_answer(await _answer(sink, protocol.read_answer_bytes(count)))
            assert got == [(protocol.MISALIGNED, 0)] * count
        else:
            await source.write(bytes([0x55]))
            assert await _answer(sink, 1) == bytes([protocol.BAD_OP])
    for address, word in copy.items():
        assert int.from_bytes(ram.read(address, 4), "little") == word, f"memory at {address:#x}"
    assert dut.framing_errors.value == 0 and dut.overruns.value == 0
    with open(CHECKED_FILE, "w") as f:
        f.write(f"random_requests {params['requests']}\n")
