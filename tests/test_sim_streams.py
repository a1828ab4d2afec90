"""The shared stream source/sink (sim/streams.py) on a small stream FIFO, on both simulators.

This file is both the pytest entry point and the cocotb test module (its
cocotb tests are not named ``test_*``, so pytest does not collect them).
"""

import itertools
import random

import cocotb
import pytest
from amaranth import Module, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from sim import runner
from sim.clock import ClockDomain
from sim.streams import StreamSink, StreamSource, pack, pattern_pause, random_pause, unpack

BEATS = 400


class StreamFifo(wiring.Component):
    """A 4-deep stream FIFO of a nested payload (signed array, struct, flag), for the drivers."""

    layout = data.StructLayout({
        "lanes": data.ArrayLayout(signed(7), 3),
        "tag": data.StructLayout({"id": 5, "kind": 2}),
        "last": 1,
    })

    def __init__(self):
        super().__init__({"i": In(stream.Signature(self.layout)), "o": Out(stream.Signature(self.layout))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = buf = fifo.SyncFIFOBuffered(width=self.layout.size, depth=4)
        m.d.comb += [
            buf.w_data.eq(self.i.payload), buf.w_en.eq(self.i.valid), self.i.ready.eq(buf.w_rdy),
            self.o.payload.eq(buf.r_data), self.o.valid.eq(buf.r_rdy), buf.r_en.eq(self.o.ready),
        ]
        return m


class Fickle(wiring.Component):
    """Breaks the stream rule on purpose: offers a beat every other cycle, taken or not."""

    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        count = Signal(8)
        m.d.sync += count.eq(count + 1)
        m.d.comb += [self.o.valid.eq(count[0]), self.o.payload.eq(count)]
        return m


def _random_payload(rng):
    return {"lanes": [rng.randint(-64, 63) for _ in range(3)],
            "tag": {"id": rng.randrange(32), "kind": rng.randrange(4)},
            "last": rng.randrange(2)}


async def _transfer(dut, source_pause, sink_pause, label):
    rng = random.Random(runner.seed())
    domain = ClockDomain(dut)
    domain.start()
    await domain.reset()
    source = StreamSource(dut, "i", domain, StreamFifo.layout, pause=source_pause(rng))
    sink = StreamSink(dut, "o", domain, StreamFifo.layout, pause=sink_pause(rng))
    sent = [_random_payload(rng) for _ in range(BEATS)]
    for payload in sent:
        source.send(payload)
    received = [(await sink.recv()).payload for _ in range(BEATS)]
    await source.wait_idle()
    await domain.cycles(8)
    for i, (got, want) in enumerate(zip(received, sent, strict=True)):
        assert got == want, f"{label} SEED={runner.seed()} beat {i}: got {got}, expected {want}"
    assert len(sink.beats) == BEATS, f"{label}: {len(sink.beats)} beats, expected {BEATS}"
    return source, sink


@cocotb.test()
async def fifo_full_rate(dut):
    """Without pauses the source and sink move one beat per cycle."""
    source, sink = await _transfer(dut, lambda rng: None, lambda rng: None, "full rate")
    for beats in (source.beats, sink.beats):
        cycles = [beat.cycle for beat in beats]
        assert cycles == list(range(cycles[0], cycles[0] + BEATS)), f"bubbles at full rate: {cycles[:20]}"
    # A buffered FIFO of this kind shows an entry two cycles after it was written.
    assert sink.beats[0].cycle - source.beats[0].cycle == 2


@cocotb.test()
async def fifo_random_pauses(dut):
    """Random bubbles and backpressure keep order and content and do stall the stream."""
    source, sink = await _transfer(dut, lambda rng: random_pause(rng, 0.4),
                                   lambda rng: random_pause(rng, 0.5), "random pauses")
    span = sink.beats[-1].cycle - source.beats[0].cycle
    assert span > 1.5 * BEATS, f"pauses did not slow the stream: {span} cycles for {BEATS} beats"


@cocotb.test()
async def fifo_pattern_backpressure(dut):
    """A sink ready every third cycle gets exactly one beat per three cycles."""
    _, sink = await _transfer(dut, lambda rng: None, lambda rng: pattern_pause([True, True, False]),
                              "pattern")
    gaps = {b.cycle - a.cycle for a, b in itertools.pairwise(sink.beats)}
    assert gaps == {3}, f"gaps between beats: {sorted(gaps)}"


@cocotb.test(expect_error=AssertionError)
async def fickle_source_caught(dut):
    """The sink flags a beat withdrawn before it was accepted."""
    domain = ClockDomain(dut)
    domain.start()
    await domain.reset()
    StreamSink(dut, "o", domain, 8, pause=pattern_pause([True]))
    await domain.cycles(6)


@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_streams_on_fifo(sim):
    result = runner.run(StreamFifo(), test_module=__name__, sim=sim,
                        testcase=["fifo_full_rate", "fifo_random_pauses", "fifo_pattern_backpressure"])
    assert result["tests"] == 3


def test_sink_catches_protocol_violation():
    result = runner.run(Fickle(), test_module=__name__, sim="icarus", testcase="fickle_source_caught")
    assert result["tests"] == 1


def test_pack_unpack_roundtrip():
    rng = random.Random(1)
    for _ in range(200):
        payload = _random_payload(rng)
        bits = pack(StreamFifo.layout, payload)
        assert 0 <= bits < 1 << StreamFifo.layout.size
        assert unpack(StreamFifo.layout, bits) == payload


def test_pack_offsets_follow_layout():
    # lanes[1] = -1 occupies bits 7..13; tag.kind = 3 bits 26..27; last bit 28.
    bits = pack(StreamFifo.layout, {"lanes": [0, -1, 0], "tag": {"id": 0, "kind": 3}, "last": 1})
    assert bits == (0x7F << 7) | (3 << 26) | (1 << 28)


def test_pack_wrong():
    with pytest.raises(ValueError, match=r"value 64 does not fit signed\(7\) \(range -64..63\)"):
        pack(StreamFifo.layout, {"lanes": [64, 0, 0]})
    with pytest.raises(ValueError, match=r"fields \['bogus'\] are not in the layout"):
        pack(StreamFifo.layout, {"bogus": 1})
    with pytest.raises(ValueError, match="value has 4 elements, the layout holds 3"):
        pack(StreamFifo.layout, {"lanes": [0, 0, 0, 0]})


def test_random_pause_wrong():
    with pytest.raises(ValueError, match=r"probability must be in \[0, 1\), not 1.0"):
        next(random_pause(random.Random(0), 1.0))
    with pytest.raises(TypeError, match="rng must be a random.Random"):
        next(random_pause(0, 0.5))
